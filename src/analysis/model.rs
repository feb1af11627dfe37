//! What the report of one run holds: plain serializable structs that `summarize` fills and the
//! renderers read (through `report`).

use serde::{Deserialize, Serialize};

use crate::stats::{Confusion, LabelMetrics, Proportion};

/// Everything the report of one run shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run: RunHeader,
    pub counts: Counts,
    /// Cases that passed every scorer, out of all cases run (errors count as not passed).
    pub pass_rate: Proportion,
    pub scorers: Vec<ScorerSummary>,
    /// Each judge's verdicts, errors and cost (apart from the target's).
    #[serde(default)]
    pub judges: Vec<JudgeSummary>,
    /// For scorers with several votes a case: how often the readable votes were unanimous.
    #[serde(default)]
    pub agreement: Vec<Agreement>,
    /// Each `similar` scorer's embeddings requests, tokens and cost (apart from the target's
    /// and the judges'). Left out of the JSON when the run made none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embeddings: Vec<EmbeddingSummary>,
    pub enum_fields: Vec<EnumFieldReport>,
    pub integer_fields: Vec<IntegerFieldReport>,
    pub usage: UsageReport,
    pub latency: LatencyReport,
    /// Failure and error kinds with their counts, most frequent first.
    pub kinds: Vec<KindCount>,
    /// The first failing cases, in case id order.
    pub failures: Vec<FailureRow>,
    /// How many failing cases there are in all.
    pub failures_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub id: crate::id::RunId,
    pub suite: String,
    pub model: String,
    pub model_api_name: String,
    pub provider: String,
    pub provider_kind: String,
    pub prompt: String,
    pub prompt_version: String,
    pub dataset: String,
    pub dataset_version: String,
    pub status: crate::status::RunStatus,
    /// Why a stopped run stopped (`interrupted`, `budget`).
    pub stop_reason: Option<String>,
    pub repeats: u64,
    pub planned_cases: u64,
    pub started_at: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub cases: u64,
    pub pass: u64,
    pub fail: u64,
    pub error: u64,
    /// Failures whose output broke the prompt's contract.
    pub contract_violations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorerSummary {
    pub name: String,
    pub pass: u64,
    pub fail: u64,
    pub skip: u64,
    /// The scorer itself failed (a judge error): never a pass, shown apart.
    #[serde(default)]
    pub error: u64,
    /// Passes out of scored cases (skips and cases without output are not counted).
    pub rate: Proportion,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub scorer: String,
    /// Cases with at least two readable votes, and the unanimous share of them.
    pub unanimous: Proportion,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    pub scorer: String,
    pub judge: String,
    pub judge_version: String,
    pub model: String,
    pub pass: u64,
    pub fail: u64,
    /// Verdicts that could not be read (after one retry) or calls that failed.
    pub errors: u64,
    /// Passes out of readable verdicts.
    pub rate: Proportion,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub cache_hits: u64,
}

/// One scorer's embeddings over a run (a `similar` scorer embeds each answer with its expected
/// text in one request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingSummary {
    pub scorer: String,
    /// The embedding model's id sent to the API.
    pub model: String,
    /// Requests answered (each paid for: embeddings are never taken from the cache).
    pub calls: u64,
    pub input_tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumFieldReport {
    pub field: String,
    /// Cases whose predicted label equals the expected one, out of cases with an expected label.
    pub accuracy: Proportion,
    /// Cohen's kappa between the expected and the predicted labels.
    pub kappa: Option<f64>,
    /// The mean of the labels' F1 (each label counts the same; see `stats::f1_averages`).
    #[serde(default)]
    pub macro_f1: Option<f64>,
    /// The labels' F1 weighted by their support.
    #[serde(default)]
    pub weighted_f1: Option<f64>,
    pub labels: Vec<LabelMetrics>,
    pub confusion: Confusion,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegerFieldReport {
    pub field: String,
    pub mae: Option<f64>,
    /// Exact matches.
    pub exact: Proportion,
    /// Cases with both an expected and a predicted value.
    pub n: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageReport {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Total cost over the cases that got an answer.
    pub cost_per_case_usd: f64,
    pub answered: u64,
    /// Answers served from the response cache.
    pub cache_hits: u64,
    /// What was paid in this run (cache hits cost nothing).
    pub cost_paid_usd: f64,
    /// What the cache hits would have cost.
    pub cost_saved_usd: f64,
    /// Answers whose provider reported no token usage (a stream without a usage chunk):
    /// their tokens and cost are missing from the totals.
    pub unmetered: u64,
    /// Cases that needed more than one attempt.
    pub retried: u64,
    /// HTTP requests made to the model, retries included (a case may take several; an
    /// answer from the cache takes none).
    #[serde(default)]
    pub requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencyReport {
    pub n: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Calls whose time to first token was measured (streamed).
    pub ttft_n: u64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    /// `Fail` or `Error`.
    pub status: crate::status::CaseStatus,
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRow {
    pub case_id: String,
    pub status: crate::status::CaseStatus,
    pub kind: String,
    pub message: String,
}
