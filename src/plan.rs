//! Plans: which suite, prompt, dataset and model a run uses, and how each case becomes a
//! request. Pure: no I/O happens here.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

use crate::config::{Model, Project, Provider, Suite};
use crate::diag::Usage;
use crate::golden::{Case, Dataset};
use crate::prompt::ChatRequest;
use crate::prompt::{Prompt, RenderError};

/// Options that shape a run, from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Run these models instead of the suite's.
    pub models: Vec<String>,
    pub concurrency: Option<usize>,
    /// Run only the first N cases.
    pub limit: Option<usize>,
    pub selection: Selection,
    /// Changes to the prompt's params for this run (a cascade tier asks for
    /// log-probabilities, or samples at a temperature).
    pub params: ParamsPatch,
    /// Run this dataset instead of the suite's (a cascade's unlabelled pool).
    pub dataset: Option<String>,
}

/// Changes to a prompt's params. They are part of every request (so of the cache key), not
/// of the prompt source stored with the run (the prompt as written, which its version names).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ParamsPatch {
    pub logprobs: Option<u32>,
    pub temperature: Option<f64>,
}

impl ParamsPatch {
    pub fn apply(&self, params: &crate::prompt::Params) -> crate::prompt::Params {
        let mut p = params.clone();
        if let Some(n) = self.logprobs {
            p.logprobs = Some(n);
        }
        if let Some(t) = self.temperature {
            p.temperature = t;
        }
        p
    }
}

/// Which cases of the dataset a run covers (before `--limit`, which takes the first N of
/// them). Stored with the run, so that a resume covers the same cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// `--only-failing RUN`: the cases that failed or errored in that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_failing: Option<String>,
    /// `--shard K/N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The case ids `only_failing` resolved to (read from the store before the run).
    #[serde(skip)]
    pub only: Option<Arc<HashSet<String>>>,
}

impl Selection {
    pub fn is_all(&self) -> bool {
        self.only_failing.is_none() && self.shard.is_none()
    }

    /// Whether a case is part of the run.
    pub fn contains(&self, case_id: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(case_id))
            && self.shard.is_none_or(|s| s.contains(case_id))
    }
}

/// A deterministic slice of a dataset for CI matrices: shard `index` of `count` (1-based)
/// holds the cases whose id hashes to it, so a case stays in its shard when others are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn contains(&self, case_id: &str) -> bool {
        let h = crate::hash::sha256_hex(case_id.as_bytes());
        let n = u64::from_str_radix(&h[..16], 16).unwrap_or(0);
        n % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected K/N with 1 ≤ K ≤ N (such as 2/3), got `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One suite × one model.
#[derive(Debug, Clone)]
pub struct Plan<'p> {
    pub suite: &'p Suite,
    pub model: &'p Model,
    pub provider: &'p Provider,
    pub prompt: Arc<Prompt>,
    /// The params every request of the run carries: the prompt's, patched.
    pub params: crate::prompt::Params,
    pub dataset: &'p Dataset,
    pub concurrency: usize,
    /// The number of cases the run will attempt.
    pub planned: usize,
    pub limit: Option<usize>,
    pub selection: Selection,
    /// What decides the run's verdict, part by part (stored with the run; see
    /// `config::fingerprint`).
    pub fingerprint: Fingerprint,
}

/// Part → hash or version: `prompt`, `dataset`, `model`, `judge NAME`, and the suite's own
/// parts (`config::fingerprint::SUITE_PARTS`).
pub type Fingerprint = std::collections::BTreeMap<String, String>;

/// The fingerprint of a suite run with a prompt, dataset and model.
fn fingerprint(
    project: &Project,
    suite: &Suite,
    prompt: &Prompt,
    dataset: &Dataset,
    model: &Model,
) -> Fingerprint {
    let mut out = suite.fingerprint.clone();
    out.insert(
        "prompt".into(),
        format!("{}@{}", prompt.name, prompt.version),
    );
    out.insert(
        "dataset".into(),
        format!("{}@{}", dataset.name, dataset.version),
    );
    out.insert(
        "model".into(),
        format!("{}@{}", model.name, model.fingerprint),
    );
    let model_part = |name: &str| {
        project
            .models
            .get(name)
            .map_or_else(|| "(unknown)".to_string(), |m| m.fingerprint.clone())
    };
    for scorer in &suite.scorers {
        if let crate::config::spec::ScorerKind::Judge { judges, .. } = &scorer.kind {
            for name in judges {
                if let Some(j) = project.judges.get(name) {
                    out.insert(format!("judge {name}"), j.version.clone());
                    // The version names the judge's model, not its API id, prices or endpoint.
                    out.insert(format!("judge model {name}"), model_part(&j.model));
                }
            }
        }
    }
    // The cascade gates' cost and quality come from its tiers' models.
    for tier in suite.cascade.iter().flat_map(|c| &c.tiers) {
        let mut names = vec![tier.model.as_str()];
        if let Some(p) = &tier.proxy {
            names.extend([p.embeddings.as_str(), p.labeller.as_str()]);
        }
        for m in names {
            out.insert(format!("cascade model {m}"), model_part(m));
        }
    }
    out
}

/// The suite of that name, or an error that suggests the nearest.
pub fn suite<'p>(project: &'p Project, name: &str) -> Result<&'p Suite, Usage> {
    project.suites.get(name).ok_or_else(|| {
        let known: Vec<&str> = project.suites.keys().map(String::as_str).collect();
        Usage::new(
            format!("no suite named `{name}`"),
            Some(crate::diag::suggestion(name, &known, "suites")),
        )
    })
}

/// The plans of a suite: one per model.
pub fn build<'p>(
    project: &'p Project,
    suite_name: &str,
    settings: &RunSettings,
) -> Result<Vec<Plan<'p>>, Usage> {
    let suite = suite(project, suite_name)?;
    let prompt = project.prompts[&suite.prompt].clone();
    let dataset_name = settings.dataset.as_ref().unwrap_or(&suite.dataset);
    let dataset = project
        .datasets
        .get(dataset_name)
        .ok_or_else(|| Usage::new(format!("no dataset named `{dataset_name}`"), None))?;
    let model_names: Vec<&String> = if settings.models.is_empty() {
        suite.models.iter().collect()
    } else {
        settings.models.iter().collect()
    };
    let concurrency = settings.concurrency.unwrap_or(suite.concurrency).max(1);
    let planned = settings.limit.map_or(dataset.len, |l| l.min(dataset.len));
    model_names
        .into_iter()
        .map(|name| {
            let model = project.models.get(name).ok_or_else(|| {
                let known: Vec<&str> = project.models.keys().map(String::as_str).collect();
                Usage::new(
                    format!("no model named `{name}`"),
                    Some(crate::diag::suggestion(name, &known, "models")),
                )
            })?;
            let provider = &project.providers[&model.provider];
            Ok(Plan {
                fingerprint: fingerprint(project, suite, &prompt, dataset, model),
                suite,
                model,
                provider,
                params: settings.params.apply(&prompt.params),
                prompt: prompt.clone(),
                dataset,
                concurrency,
                planned,
                limit: settings.limit,
                selection: settings.selection.clone(),
            })
        })
        .collect()
}

/// Turns cases into requests; owned, so that each case can run in its own task.
#[derive(Debug, Clone)]
pub struct Requests {
    prompt: Arc<Prompt>,
    params: crate::prompt::Params,
    model: String,
    schema: Option<Value>,
}

impl Requests {
    /// The request for one case.
    pub fn request(&self, case: &Case) -> Result<ChatRequest, RenderError> {
        let messages = self.prompt.render(&case.vars)?;
        Ok(ChatRequest {
            model: self.model.clone(),
            messages,
            params: self.params.clone(),
            schema: self.schema.clone(),
        })
    }
}

impl Plan<'_> {
    /// What turns this plan's cases into requests.
    pub fn requests(&self) -> Requests {
        Requests {
            prompt: self.prompt.clone(),
            params: self.params.clone(),
            model: self.model.api_name.clone(),
            schema: self.prompt.contract.as_ref().and_then(|c| c.json_schema()),
        }
    }

    /// The request for one case.
    pub fn request(&self, case: &Case) -> Result<ChatRequest, RenderError> {
        self.requests().request(case)
    }

    /// The names of the suite's scorers, in order (stored with the run).
    pub fn scorer_names(&self) -> Vec<Value> {
        self.suite
            .scorers
            .iter()
            .map(|s| Value::String(s.name.clone()))
            .collect()
    }
}
