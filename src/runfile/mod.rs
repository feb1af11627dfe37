//! The portable run file: one JSON document with the run, its report and every case result.
//! CI keeps it as an artifact; a repository can commit one as its baseline.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis::RunReport;
use crate::status::{CaseKind, CaseStatus, Outcome};
use crate::store::{CaseRow, RunRow, ScoreRow};

pub mod stream;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct RunFile {
    pub format_version: u32,
    pub run: RunRow,
    pub report: RunReport,
    pub cases: Vec<CaseEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseEntry {
    pub id: String,
    pub repeat: i64,
    pub status: CaseStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<CaseKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    pub vars: Value,
    pub expected: Value,
    pub tags: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parsed: Option<Value>,
    pub scores: Vec<ScoreEntry>,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Time to first token of a streamed answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// The answer came from the response cache.
    #[serde(default)]
    pub cache_hit: bool,
    #[serde(default)]
    pub attempts: i64,
    #[serde(default)]
    pub finished_at: String,
    /// The answer tokens' log-probabilities, when the run asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<crate::provider::TokenLogprob>>,
}

impl CaseEntry {
    /// The stored rows of this case in run `run_id` (the inverse of `build`), so that a report
    /// can be computed from run files (`evalgate merge`).
    pub fn to_rows(&self, run_id: &str, seq: i64) -> (CaseRow, Vec<ScoreRow>) {
        let text = |v: &Value| v.to_string();
        let case = CaseRow {
            run_id: crate::id::RunId::new(run_id),
            case_id: self.id.clone(),
            repeat_index: self.repeat,
            seq,
            status: self.status,
            kind: self.kind,
            message: self.message.clone(),
            request_hash: self.request_hash.clone(),
            vars_json: text(&self.vars),
            expected_json: text(&self.expected),
            tags_json: text(&self.tags),
            output: self.output.clone(),
            parsed_json: self.parsed.as_ref().map(text),
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            output_tokens: self.output_tokens,
            cost_usd: self.cost_usd,
            latency_ms: self.latency_ms,
            finished_at: self.finished_at.clone(),
            cache_hit: i64::from(self.cache_hit),
            attempts: self.attempts,
            ttft_ms: self.ttft_ms,
            logprobs_json: self
                .logprobs
                .as_ref()
                .and_then(|l| serde_json::to_string(l).ok()),
        };
        let scores = self
            .scores
            .iter()
            .map(|s| ScoreRow {
                case_id: self.id.clone(),
                repeat_index: self.repeat,
                scorer: s.scorer.clone(),
                outcome: s.outcome,
                detail: s.detail.clone(),
            })
            .collect();
        (case, scores)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreEntry {
    pub scorer: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CaseEntry {
    /// The entry of a stored case result with its scores (the inverse of `to_rows`).
    pub fn from_row(c: CaseRow, scores: Vec<ScoreEntry>) -> CaseEntry {
        CaseEntry {
            scores,
            id: c.case_id,
            repeat: c.repeat_index,
            status: c.status,
            kind: c.kind,
            message: c.message,
            request_hash: c.request_hash,
            vars: json(&c.vars_json),
            expected: json(&c.expected_json),
            tags: json(&c.tags_json),
            output: c.output,
            parsed: c.parsed_json.as_deref().map(json),
            input_tokens: c.input_tokens,
            cached_input_tokens: c.cached_input_tokens,
            output_tokens: c.output_tokens,
            cost_usd: c.cost_usd,
            latency_ms: c.latency_ms,
            ttft_ms: c.ttft_ms,
            cache_hit: c.cache_hit != 0,
            attempts: c.attempts,
            finished_at: c.finished_at,
            logprobs: c
                .logprobs_json
                .as_deref()
                .and_then(|l| serde_json::from_str(l).ok()),
        }
    }
}

impl From<ScoreRow> for ScoreEntry {
    fn from(s: ScoreRow) -> ScoreEntry {
        ScoreEntry {
            scorer: s.scorer,
            outcome: s.outcome,
            detail: s.detail,
        }
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub fn build(
    run: RunRow,
    report: RunReport,
    cases: Vec<CaseRow>,
    scores: Vec<ScoreRow>,
) -> RunFile {
    let mut by_case: std::collections::HashMap<(String, i64), Vec<ScoreEntry>> = Default::default();
    for s in scores {
        by_case
            .entry((s.case_id.clone(), s.repeat_index))
            .or_default()
            .push(ScoreEntry::from(s));
    }
    let cases = cases
        .into_iter()
        .map(|c| {
            let scores = by_case
                .remove(&(c.case_id.clone(), c.repeat_index))
                .unwrap_or_default();
            CaseEntry::from_row(c, scores)
        })
        .collect();
    RunFile {
        format_version: FORMAT_VERSION,
        run,
        report,
        cases,
    }
}

/// Where a suite's committed baseline lives: `golden/baselines/SUITE.json`.
pub fn baseline_path(root: &std::path::Path, suite: &str) -> std::path::PathBuf {
    root.join(crate::config::GOLDEN_DIR)
        .join("baselines")
        .join(format!("{suite}.json"))
}

/// Reads a run file (a saved run or a committed baseline). A bad file is a usage error that
/// names the file and, for JSON errors, the line and column.
pub fn read(path: &std::path::Path) -> Result<RunFile, crate::error::Error> {
    let text = std::fs::read_to_string(path).map_err(|source| crate::error::Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| stream::not_a_run_file(path, &e))
}

/// A stored run as a run file, its report computed from the stored rows.
pub async fn from_store(
    store: &crate::store::Store,
    id: &str,
) -> Result<RunFile, crate::store::StoreError> {
    let mut run = store.find_run(id).await?;
    // A killed run shows as interrupted, not as running forever.
    crate::runner::show_dead(store, std::slice::from_mut(&mut run)).await?;
    let cases = store.cases(&run.id).await?;
    let scores = store.scores(&run.id).await?;
    let report = crate::analysis::summarize_with_judges(
        &run,
        &cases,
        &scores,
        &store.verdict_totals(&run.id).await?,
        &store.vote_agreement(&run.id).await?,
        &store.scorer_call_totals(&run.id).await?,
    );
    Ok(build(run, report, cases, scores))
}

/// Writes a run file (pretty JSON, ending with a newline), through a temporary file renamed
/// into place.
pub fn write(path: &std::path::Path, file: &RunFile) -> Result<(), crate::error::Error> {
    let mut w = stream::Writer::create(path, &file.run, &file.report)?;
    for c in &file.cases {
        w.case(c)?;
    }
    w.finish()
}

/// Run files built in memory, for the unit tests of the analyses over runs.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A finished run of suite `s`, prompt `p@v`, model `m`, with this output contract.
    pub fn run_row(id: &str, contract_json: &str) -> RunRow {
        RunRow {
            id: id.into(),
            suite: "s".into(),
            model: "m".into(),
            model_api_name: "m".into(),
            provider: "prov".into(),
            provider_kind: "openai".into(),
            prompt: "p".into(),
            prompt_version: "v".into(),
            dataset: "d".into(),
            dataset_version: "dv".into(),
            status: crate::status::RunStatus::Finished,
            planned_cases: 0,
            started_at: "2026-11-23T10:00:00Z".into(),
            finished_at: None,
            price_json: r#"{"input":1.0,"cached_input":1.0,"output":2.0,"batch_input":0.5,"batch_output":1.0}"#.into(),
            scorers_json: "[]".into(),
            contract_json: Some(contract_json.into()),
            case_limit: None,
            repeats: 1,
            stop_reason: None,
            batch_id: None,
            prompt_source: None,
            selection_json: None,
            git_commit: None,
            fingerprint_json: None,
        }
    }

    /// A run file of the given cases, each a JSON object with at least `id`, `status` and
    /// `output`; the other fields get neutral defaults.
    pub fn run_file(id: &str, contract_json: &str, cases: Vec<serde_json::Value>) -> RunFile {
        let run = run_row(id, contract_json);
        let report = crate::analysis::summarize(&run, &[], &[]);
        let cases = cases
            .into_iter()
            .map(|c| {
                let mut full = serde_json::json!({
                    "repeat": 0, "vars": {}, "expected": {}, "tags": [], "scores": [],
                    "input_tokens": 100, "cached_input_tokens": 0, "output_tokens": 20,
                    "cost_usd": 0.0001, "finished_at": "2026-11-23T10:00:01Z",
                });
                if let (Some(full), Value::Object(given)) = (full.as_object_mut(), c) {
                    full.extend(given);
                }
                serde_json::from_value(full).expect("a test case entry")
            })
            .collect();
        RunFile {
            format_version: FORMAT_VERSION,
            run,
            report,
            cases,
        }
    }
}
