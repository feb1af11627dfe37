//! A suite's history: its runs in order with prompt version, git commit, model, pass rate,
//! cost and latency; and each prompt change that made the pass rate significantly worse,
//! with the last good version to roll back to.

use crate::status::RunStatus;
use serde::Serialize;

use crate::runfile::RunFile;
use crate::stats::Proportion;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    pub suite: String,
    /// Oldest first.
    pub rows: Vec<HistoryRow>,
    pub regressions: Vec<Regression>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    pub run_id: crate::id::RunId,
    pub started_at: String,
    pub prompt: String,
    pub prompt_version: String,
    pub git_commit: Option<String>,
    pub model: String,
    pub status: crate::status::RunStatus,
    pub cases: u64,
    pub pass_rate: Proportion,
    pub cost_per_case_usd: f64,
    pub latency_p95_ms: Option<f64>,
    /// Against the previous run of the same model with another prompt version: the pass
    /// rate's change and McNemar's p on the cases both ran.
    pub vs_previous: Option<(f64, f64)>,
}

/// A prompt version whose runs pass significantly fewer cases than the version before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    pub run_id: crate::id::RunId,
    pub prompt: String,
    pub version: String,
    pub model: String,
    pub pass_rate_change: f64,
    pub p_value: f64,
    /// The version before it, and where to find it.
    pub last_good_version: String,
    pub last_good_run: crate::id::RunId,
    pub last_good_commit: Option<String>,
}

/// Significance of a drop worth naming.
const ALPHA: f64 = 0.05;

/// The history of runs (any order) of one suite.
pub fn history(suite: &str, runs: &[RunFile]) -> History {
    let mut runs: Vec<&RunFile> = runs.iter().collect();
    runs.sort_by(|a, b| {
        a.run
            .started_at
            .cmp(&b.run.started_at)
            .then(a.run.id.cmp(&b.run.id))
    });
    let mut rows = Vec::new();
    let mut regressions = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        // The latest earlier finished run of the same model with another prompt version.
        let previous = runs[..i].iter().rev().find(|p| {
            p.run.model == r.run.model
                && p.run.status == RunStatus::Finished
                && p.run.prompt_version != r.run.prompt_version
        });
        let same_version_before = runs[..i]
            .iter()
            .rev()
            .find(|p| p.run.model == r.run.model && p.run.status == RunStatus::Finished);
        // Compare only at the change itself (not every rerun of the new version).
        let at_change =
            same_version_before.is_some_and(|p| p.run.prompt_version != r.run.prompt_version);
        let vs_previous = previous.filter(|_| at_change).and_then(|p| {
            let c = crate::compare::compare(p, r);
            let d = c.metrics.iter().find(|m| m.name == "pass_rate")?;
            Some((d.delta.as_ref()?.delta, d.p_value?))
        });
        if let (Some((delta, p)), Some(prev)) = (vs_previous, previous)
            && delta < 0.0
            && p < ALPHA
        {
            regressions.push(Regression {
                run_id: r.run.id.clone(),
                prompt: r.run.prompt.clone(),
                version: r.run.prompt_version.clone(),
                model: r.run.model.clone(),
                pass_rate_change: delta,
                p_value: p,
                last_good_version: prev.run.prompt_version.clone(),
                last_good_run: prev.run.id.clone(),
                last_good_commit: prev.run.git_commit.clone(),
            });
        }
        let rep = &r.report;
        rows.push(HistoryRow {
            run_id: r.run.id.clone(),
            started_at: r.run.started_at.clone(),
            prompt: r.run.prompt.clone(),
            prompt_version: r.run.prompt_version.clone(),
            git_commit: r.run.git_commit.clone(),
            model: r.run.model.clone(),
            status: r.run.status,
            cases: rep.counts.cases,
            pass_rate: rep.pass_rate,
            cost_per_case_usd: rep.usage.cost_per_case_usd,
            latency_p95_ms: rep.latency.p95_ms,
            vs_previous,
        });
    }
    History {
        suite: suite.to_string(),
        rows,
        regressions,
    }
}

/// One version of a prompt, as its runs saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptVersion {
    pub version: String,
    /// When a run first used it.
    pub first_run_at: Option<String>,
    /// `(run id, suite, model, git commit)` of the runs that used it.
    pub runs: Vec<(crate::id::RunId, String, String, Option<String>)>,
    /// Whether it is the version in `prompts/NAME.yaml` now.
    pub current: bool,
    /// The diff from the version before (none for the first, or when a source is missing).
    pub diff: Vec<crate::compare::DiffLine>,
}

/// The versions of a prompt in the order they first ran (the current file's last when it
/// never ran), each with its diff from the one before.
pub fn prompt_log(
    runs: &[crate::store::RunRow],
    current: Option<(String, String)>,
) -> Vec<PromptVersion> {
    let mut out: Vec<PromptVersion> = Vec::new();
    let mut sources: Vec<Option<String>> = Vec::new();
    for r in runs {
        let i = match out.iter().position(|v| v.version == r.prompt_version) {
            Some(i) => i,
            None => {
                out.push(PromptVersion {
                    version: r.prompt_version.clone(),
                    first_run_at: Some(r.started_at.clone()),
                    runs: Vec::new(),
                    current: false,
                    diff: Vec::new(),
                });
                sources.push(None);
                out.len() - 1
            }
        };
        out[i].runs.push((
            r.id.clone(),
            r.suite.clone(),
            r.model.clone(),
            r.git_commit.clone(),
        ));
        if sources[i].is_none() {
            sources[i] = r.prompt_source.clone();
        }
    }
    if let Some((version, source)) = current {
        match out.iter().position(|v| v.version == version) {
            Some(i) => {
                out[i].current = true;
                sources[i] = Some(source);
            }
            None => {
                out.push(PromptVersion {
                    version,
                    first_run_at: None,
                    runs: Vec::new(),
                    current: true,
                    diff: Vec::new(),
                });
                sources.push(Some(source));
            }
        }
    }
    for i in 1..out.len() {
        if let (Some(a), Some(b)) = (&sources[i - 1], &sources[i]) {
            out[i].diff = crate::compare::line_diff(a, b, 2);
        }
    }
    out
}
