//! The checked project: what every later stage works from. Built only by `config::load`.

use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::spec::Scorer;
use crate::golden::Dataset;
use crate::prompt::Prompt;

/// A validated project. Immutable; passed around as `&Project`.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub providers: IndexMap<String, Provider>,
    pub models: IndexMap<String, Model>,
    pub prompts: IndexMap<String, Arc<Prompt>>,
    pub datasets: IndexMap<String, Dataset>,
    pub suites: IndexMap<String, Suite>,
    pub judges: IndexMap<String, Arc<crate::judge::Judge>>,
    /// Problems that do not stop a run (shown by `validate` and `run`).
    pub warnings: Vec<crate::diag::Diagnostic>,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    pub settings: ProviderSettings,
}

/// How a provider is called, whatever its kind.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    pub retry: super::spec::RetryPolicy,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    /// Requests in flight at most, shared by every run and judge using the provider.
    pub max_concurrency: Option<usize>,
    /// Stream responses (measures the time to the first token).
    pub stream: bool,
}

#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// Any OpenAI-compatible chat completions API.
    OpenAi {
        base_url: String,
        /// The environment variable holding the API key (never the key itself).
        api_key_env: Option<String>,
        structured_output: StructuredOutput,
        timeout: Duration,
    },
    /// The Anthropic Messages API.
    Anthropic {
        base_url: String,
        api_key_env: Option<String>,
        structured_output: StructuredOutput,
        timeout: Duration,
    },
    /// Recorded responses, served offline.
    Replay { dir: PathBuf },
}

impl ProviderKind {
    pub fn name(&self) -> &'static str {
        match self {
            ProviderKind::OpenAi { .. } => "openai",
            ProviderKind::Anthropic { .. } => "anthropic",
            ProviderKind::Replay { .. } => "replay",
        }
    }
}

/// How a provider is asked for JSON that follows the contract's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredOutput {
    /// OpenAI structured outputs: `{type: json_schema, json_schema: {name, schema, strict}}`.
    JsonSchema,
    /// `{type: json_object, schema: …}` (llama-cpp-python and some others).
    JsonObjectSchema,
    /// `{type: json_object}` without a schema.
    JsonObject,
    /// A forced tool whose input schema is the contract (Anthropic).
    Tool,
    /// Nothing is sent; the prompt alone asks for JSON.
    None,
}

impl StructuredOutput {
    pub fn parse(s: &str) -> Option<StructuredOutput> {
        match s {
            "json_schema" => Some(StructuredOutput::JsonSchema),
            "json_object_schema" => Some(StructuredOutput::JsonObjectSchema),
            "json_object" => Some(StructuredOutput::JsonObject),
            "tool" => Some(StructuredOutput::Tool),
            "none" => Some(StructuredOutput::None),
            _ => None,
        }
    }
}

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Price {
    pub input: f64,
    pub cached_input: f64,
    pub output: f64,
    #[serde(default)]
    pub batch_input: f64,
    #[serde(default)]
    pub batch_output: f64,
}

impl Price {
    /// The cost in USD of one call through the Batch API (no prompt-cache discount).
    pub fn batch_cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.batch_input + output_tokens as f64 * self.batch_output)
            / 1_000_000.0
    }

    /// The cost in USD of one call.
    pub fn cost(&self, input_tokens: u64, cached_tokens: u64, output_tokens: u64) -> f64 {
        let uncached = input_tokens.saturating_sub(cached_tokens);
        (uncached as f64 * self.input
            + cached_tokens as f64 * self.cached_input
            + output_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    /// The key in evalgate.yaml.
    pub name: String,
    /// The model id sent to the API.
    pub api_name: String,
    pub provider: String,
    pub price: Price,
    /// The hash of what makes its answers (see `config::fingerprint`).
    pub fingerprint: String,
}

/// A judge whose verdicts are unreadable more often than this makes its run untrustworthy.
pub const DEFAULT_MAX_JUDGE_ERROR_RATE: f64 = 0.10;

#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub description: Option<String>,
    pub prompt: String,
    pub dataset: String,
    pub models: Vec<String>,
    pub scorers: Vec<Scorer>,
    pub gates: Gates,
    pub concurrency: usize,
    pub max_cost: Option<f64>,
    pub max_error_rate: Option<f64>,
    /// At most this share of any judge's verdicts may be judge errors (default
    /// `DEFAULT_MAX_JUDGE_ERROR_RATE`).
    pub max_judge_error_rate: f64,
    pub lift: Option<super::spec::LiftSpec>,
    pub cascade: Option<super::spec::CascadeSpec>,
    /// The hashes of the parts that decide its verdict (see `config::fingerprint`).
    pub fingerprint: std::collections::BTreeMap<String, String>,
}

/// Thresholds of a suite. `evalgate gate` evaluates them against a baseline.
#[derive(Debug, Clone)]
pub struct Gates {
    pub metrics: IndexMap<String, MetricGate>,
    pub max_cost_increase: Option<f64>,
    pub max_latency_p95_ms: Option<f64>,
    pub min_judge_kappa: Option<f64>,
    /// The candidate's downstream lift (AUC) must be at least this.
    pub min_lift: Option<f64>,
    /// The lift may not fall by more than this against the baseline's.
    pub max_lift_drop: Option<f64>,
    /// No feature field may change its value on more than this share of cases against the
    /// baseline.
    pub max_flip_rate: Option<f64>,
    /// The cascade (at its pinned thresholds, else at the recommended point) must keep at
    /// least this share of the top tier's accuracy.
    pub cascade_min_quality_retained: Option<f64>,
    /// The cascade may cost at most this per 1,000 cases (USD).
    pub cascade_max_cost_per_1k: Option<f64>,
    /// Resamples of each paired bootstrap (default `stats::BOOTSTRAP_RESAMPLES`): the
    /// smallest p-value it can give is 1 / resamples.
    pub bootstrap_resamples: usize,
}

impl Default for Gates {
    fn default() -> Gates {
        Gates {
            metrics: IndexMap::new(),
            max_cost_increase: None,
            max_latency_p95_ms: None,
            min_judge_kappa: None,
            min_lift: None,
            max_lift_drop: None,
            max_flip_rate: None,
            cascade_min_quality_retained: None,
            cascade_max_cost_per_1k: None,
            bootstrap_resamples: crate::stats::BOOTSTRAP_RESAMPLES,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MetricGate {
    /// A floor on the candidate's value.
    pub min: Option<f64>,
    /// A ceiling on the candidate's value (for metrics where higher is worse: a cost, a
    /// latency, an error rate).
    pub max: Option<f64>,
    pub max_drop: Option<f64>,
    pub significant: bool,
    pub alpha: f64,
}

/// Default number of requests in flight per run.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_prices_cached_tokens_at_the_cached_rate() {
        let p = Price {
            input: 2.0,
            cached_input: 0.5,
            output: 8.0,
            batch_input: 1.0,
            batch_output: 4.0,
        };
        // 1,000 input of which 400 cached, 100 output:
        // (600 × 2 + 400 × 0.5 + 100 × 8) / 1e6 = (1200 + 200 + 800) / 1e6.
        assert!((p.cost(1000, 400, 100) - 0.0022).abs() < 1e-12);
    }
}
