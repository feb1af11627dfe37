//! Serde mirrors of the project files. Nothing outside `config` sees these types.
//!
//! Every struct denies unknown fields (a misspelled threshold silently ignored would be a
//! false pass in CI). Checks that concern one value happen inside deserialization
//! (`try_from`), so serde_yaml attaches the line and column to the error.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::contract::Contract;
use crate::prompt::{Params, Role};

/// The sections of evalgate.yaml (each entry is read on its own: see `config::tolerant`).
pub const CONFIG_KEYS: &[&str] = &["providers", "models", "suites"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub kind: String,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub structured_output: Option<String>,
    pub timeout_secs: Option<f64>,
    pub cassettes: Option<String>,
    pub max_attempts: Option<u32>,
    pub retry_base_ms: Option<u64>,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub max_concurrency: Option<usize>,
    pub stream: Option<bool>,
}

pub const PROVIDER_KINDS: &[&str] = &["openai", "anthropic", "replay"];
pub const STRUCTURED_OUTPUT_MODES: &[&str] = &[
    "json_schema",
    "json_object_schema",
    "json_object",
    "tool",
    "none",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub provider: String,
    /// The model id sent to the API (default: the model's key).
    pub name: Option<String>,
    pub price: Option<RawPrice>,
}

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    /// Batch API rates (default: half the normal rates, as OpenAI and Anthropic charge).
    pub batch_input: Option<f64>,
    pub batch_output: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSuite {
    pub description: Option<String>,
    pub prompt: String,
    pub dataset: String,
    pub models: Vec<String>,
    #[serde(default)]
    pub scorers: Vec<RawScorer>,
    #[serde(default)]
    pub gates: Option<RawGates>,
    pub concurrency: Option<usize>,
    /// The spend limit of a run (USD): see `runner::budget`.
    pub max_cost: Option<f64>,
    /// Above this share of cases with a provider error, the run fails with exit code 3.
    pub max_error_rate: Option<f64>,
    /// Above this share of a judge's verdicts that could not be read (or whose call failed),
    /// the run fails with exit code 3.
    pub max_judge_error_rate: Option<f64>,
    /// The downstream lift analysis (`evalgate lift`, and the lift gates).
    pub lift: Option<RawLift>,
    /// Tiers of models to simulate as a cascade (`evalgate cascade`).
    pub cascade: Option<RawCascade>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCascade {
    pub field: String,
    pub target: Option<f64>,
    pub tiers: Vec<RawTier>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    pub model: Option<String>,
    /// A proxy tier: a classifier over embeddings, trained on an LLM's labels of a pool.
    pub proxy: Option<RawProxy>,
    /// `logprobs`, `self_consistency` or `field` (not for the last tier).
    pub confidence: Option<String>,
    pub samples: Option<u32>,
    pub temperature: Option<f64>,
    /// For `confidence: field`: the output field holding a number in 0..1.
    pub confidence_field: Option<String>,
    pub threshold: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    /// The model that embeds (its provider serves `/embeddings`).
    pub embeddings: String,
    /// The dataset of unlabelled inputs the labeller answers.
    pub pool: String,
    /// The model whose answers on the pool are the training labels.
    pub labeller: String,
    /// The variable embedded (default: the case's only variable).
    pub input: Option<String>,
    pub regularization: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLift {
    pub outcome: String,
    pub features: Option<Vec<String>>,
    pub base_features: Option<Vec<String>>,
    pub folds: Option<usize>,
    pub seed: Option<u64>,
    pub regularization: Option<f64>,
}

/// One scorer, flat so that every key is checked with its own line and column; which keys
/// apply to which kind is checked in `config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScorer {
    pub kind: String,
    pub name: Option<String>,
    pub field: Option<String>,
    pub expected: Option<String>,
    pub value: Option<String>,
    pub pattern: Option<String>,
    pub ignore_case: Option<bool>,
    pub trim: Option<bool>,
    pub tolerance: Option<f64>,
    pub relative: Option<bool>,
    /// For `judge`: the judge's name (a file `judges/NAME.yaml`).
    pub judge: Option<String>,
    /// For `judge`: several judges, whose votes are counted together.
    pub judges: Option<Vec<String>>,
    /// For `judge`: how many times each judge is asked (default 1).
    pub repeat: Option<u32>,
    /// For `contains_any` and `contains_all`: the strings, written in the suite.
    pub values: Option<Vec<String>>,
    /// For `levenshtein`: the most edits allowed.
    pub max_distance: Option<usize>,
    /// For `similar`: the model that embeds.
    pub model: Option<String>,
    /// For `similar`: the cosine similarity needed to pass.
    pub threshold: Option<f64>,
    /// Invert the verdict: pass when the check fails.
    pub negate: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJudge {
    pub description: Option<String>,
    /// A model of evalgate.yaml.
    pub model: String,
    pub verdict: crate::judge::VerdictKind,
    #[serde(default)]
    pub params: Params,
    pub rubric: Vec<RawMessage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGates {
    #[serde(default)]
    pub metrics: IndexMap<String, RawMetricGate>,
    pub max_cost_increase: Option<f64>,
    pub max_latency_p95_ms: Option<f64>,
    pub min_judge_kappa: Option<f64>,
    pub min_lift: Option<f64>,
    pub max_lift_drop: Option<f64>,
    pub max_flip_rate: Option<f64>,
    pub cascade_min_quality_retained: Option<f64>,
    pub cascade_max_cost_per_1k: Option<f64>,
    /// Resamples of each paired bootstrap behind the gates' intervals and p-values.
    pub bootstrap_resamples: Option<usize>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetricGate {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub max_drop: Option<f64>,
    #[serde(default)]
    pub significant: bool,
    pub alpha: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrompt {
    pub description: Option<String>,
    pub messages: Vec<RawMessage>,
    #[serde(default)]
    pub params: Params,
    pub output: Option<Contract>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    pub role: Role,
    pub content: String,
}
