//! Plans: which suite, prompt, dataset and model a run uses, and how each case becomes a
//! request. Pure: no I/O happens here.

use serde_json::Value;
use std::sync::Arc;

use crate::config::{Model, Project, Provider, Suite};
use crate::error::Error;
use crate::golden::{Case, Dataset};
use crate::prompt::{Prompt, RenderError};
use crate::provider::ChatRequest;

/// Options that shape a run, from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Run these models instead of the suite's.
    pub models: Vec<String>,
    pub concurrency: Option<usize>,
    /// Run only the first N cases.
    pub limit: Option<usize>,
}

/// One suite × one model.
#[derive(Debug, Clone)]
pub struct Plan<'p> {
    pub suite: &'p Suite,
    pub model: &'p Model,
    pub provider: &'p Provider,
    pub prompt: Arc<Prompt>,
    pub dataset: &'p Dataset,
    pub concurrency: usize,
    /// The number of cases the run will attempt.
    pub planned: usize,
    pub limit: Option<usize>,
}

/// The plans of a suite: one per model.
pub fn build<'p>(
    project: &'p Project,
    suite_name: &str,
    settings: &RunSettings,
) -> Result<Vec<Plan<'p>>, Error> {
    let suite = project.suites.get(suite_name).ok_or_else(|| {
        let known: Vec<&str> = project.suites.keys().map(String::as_str).collect();
        Error::usage(
            format!("no suite named `{suite_name}`"),
            Some(crate::diag::suggestion(suite_name, &known, "suites")),
        )
    })?;
    let prompt = project.prompts[&suite.prompt].clone();
    let dataset = &project.datasets[&suite.dataset];
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
                Error::usage(
                    format!("no model named `{name}`"),
                    Some(crate::diag::suggestion(name, &known, "models")),
                )
            })?;
            let provider = &project.providers[&model.provider];
            Ok(Plan {
                suite,
                model,
                provider,
                prompt: prompt.clone(),
                dataset,
                concurrency,
                planned,
                limit: settings.limit,
            })
        })
        .collect()
}

/// Turns cases into requests; owned, so that each case can run in its own task.
#[derive(Debug, Clone)]
pub struct Requests {
    prompt: Arc<Prompt>,
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
            params: self.prompt.params.clone(),
            schema: self.schema.clone(),
        })
    }
}

impl Plan<'_> {
    /// What turns this plan's cases into requests.
    pub fn requests(&self) -> Requests {
        Requests {
            prompt: self.prompt.clone(),
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
