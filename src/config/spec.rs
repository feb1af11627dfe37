//! Specs: what the checked project says each part should do, as plain data. `config::load`
//! builds them from the raw files; scorers, the runner, providers and the analyses read them.
//! The analyses' defaults live here too, so that a default and its check sit side by side.

use regex::Regex;
use std::time::Duration;

use crate::contract::FieldKind;

// ── Scorers ──────────────────────────────────────────────────────────────────

/// Where a scorer finds the value to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// A key of the case's `expected` object.
    Key(String),
    /// A literal value written in the suite.
    Literal(String),
}

/// Where a list scorer (`contains_any`, `contains_all`) finds its strings.
#[derive(Debug, Clone, PartialEq)]
pub enum ListExpectation {
    /// A key of the case's `expected` object: an array of strings (a lone string is a list
    /// of one).
    Key(String),
    /// Strings written in the suite.
    Literal(Vec<String>),
}

/// Where a `regex` scorer finds its pattern.
#[derive(Debug, Clone)]
pub enum PatternSource {
    /// One pattern written in the suite, compiled once.
    Literal(Regex),
    /// A key of the case's `expected` object holding each case's own pattern.
    Key(String),
}

/// One configured scorer of a suite.
#[derive(Debug, Clone)]
pub struct Scorer {
    /// Unique in its suite; shown in reports and stored with each score.
    pub name: String,
    pub kind: ScorerKind,
    /// The verdict is inverted: the scorer passes when its check fails (`negate: true`). A
    /// skipped case stays skipped.
    pub negate: bool,
    /// For a scorer that compares with no value (`is_json`, `contains_json`): only the cases
    /// whose `expected` has this key are checked (`expected: KEY`); the others skip it.
    pub only_with: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ScorerKind {
    /// The whole output equals the expected value.
    Equals {
        expected: Expectation,
        trim: bool,
        ignore_case: bool,
    },
    /// The output contains the expected value.
    Contains {
        expected: Expectation,
        ignore_case: bool,
    },
    /// The output starts with the expected value.
    StartsWith {
        expected: Expectation,
        ignore_case: bool,
    },
    /// The output contains at least one of the strings.
    ContainsAny {
        expected: ListExpectation,
        ignore_case: bool,
    },
    /// The output contains every one of the strings.
    ContainsAll {
        expected: ListExpectation,
        ignore_case: bool,
    },
    /// The output matches a regular expression.
    Regex { pattern: PatternSource },
    /// The output is valid JSON.
    IsJson,
    /// The output holds a JSON object somewhere (in prose, or in a code fence).
    ContainsJson,
    /// The output is within `max_distance` edits (Levenshtein: insertions, deletions,
    /// substitutions of characters) of the expected value.
    Levenshtein {
        expected: Expectation,
        max_distance: usize,
    },
    /// The cosine similarity of the output's and the expected value's embeddings (by `model`,
    /// through its provider's `/embeddings`) is at least `threshold`. Run by the runner, which
    /// calls the model; `score::similar` holds the arithmetic.
    Similar {
        expected: Expectation,
        /// A model of evalgate.yaml whose provider serves `/embeddings`.
        model: String,
        threshold: f64,
    },
    /// A field of the JSON output equals the case's expected value.
    JsonField {
        field: String,
        expected_key: String,
        trim: bool,
        ignore_case: bool,
    },
    /// The output obeys the prompt's contract.
    Contract,
    /// LLM judges grade the output against their rubrics (run by the runner, not here): each
    /// judge is asked `repeat` times, and the majority of the readable votes decides (a tie
    /// fails; no readable vote is an error).
    /// With `expected`, only the cases whose `expected` has that key are judged (the others
    /// skip the scorer), as other scorers skip a case without their expected value.
    Judge {
        judges: Vec<String>,
        repeat: u32,
        expected: Option<String>,
    },
    /// A number (the whole output or a JSON field) is within tolerance of the expected one.
    Numeric {
        field: Option<String>,
        expected_key: String,
        tolerance: f64,
        relative: bool,
    },
}

/// The cosine similarity a `similar` scorer needs when the suite names none.
pub const DEFAULT_SIMILARITY: f64 = 0.75;
/// The edits a `levenshtein` scorer allows when the suite names no `max_distance`.
pub const DEFAULT_MAX_DISTANCE: usize = 5;

impl ScorerKind {
    /// Scorers that call a model, so that the runner (not `score`) scores them.
    pub fn calls_a_model(&self) -> bool {
        matches!(self, ScorerKind::Judge { .. } | ScorerKind::Similar { .. })
    }
}

/// The scorer kinds, for messages and suggestions.
pub const SCORER_KINDS: &[&str] = &[
    "equals",
    "contains",
    "starts_with",
    "contains_any",
    "contains_all",
    "regex",
    "is_json",
    "contains_json",
    "levenshtein",
    "similar",
    "json_field",
    "contract",
    "numeric",
    "judge",
];

// ── Lift ─────────────────────────────────────────────────────────────────────

/// A suite's `lift:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct LiftSpec {
    /// The key of the golden cases' `outcome` to predict.
    pub outcome: String,
    /// The LLM fields to add (default: every contracted field that is not free text).
    pub features: Option<Vec<String>>,
    /// The base features to use (default: every key found in `base_features`).
    pub base_features: Option<Vec<String>>,
    pub folds: usize,
    pub seed: u64,
    /// α of the L2 penalty (scikit-learn's 1/C).
    pub regularization: f64,
}

pub const DEFAULT_FOLDS: usize = 5;
pub const DEFAULT_SEED: u64 = 7;
pub const DEFAULT_REGULARIZATION: f64 = 1.0;

impl LiftSpec {
    pub fn new(outcome: impl Into<String>) -> Self {
        LiftSpec {
            outcome: outcome.into(),
            features: None,
            base_features: None,
            folds: DEFAULT_FOLDS,
            seed: DEFAULT_SEED,
            regularization: DEFAULT_REGULARIZATION,
        }
    }
}

// ── Features ─────────────────────────────────────────────────────────────────

/// How a feature enters a model.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureKind {
    /// A number, an ordinal integer or a boolean (1/0): standardized.
    Numeric,
    /// One of a closed set of strings: one-hot.
    Categorical(Vec<String>),
    /// A set of labels from a closed set: one indicator per label.
    Labels(Vec<String>),
}

impl FeatureKind {
    /// The kind of a contracted field; None for free text.
    pub fn of_field(kind: &FieldKind) -> Option<FeatureKind> {
        match kind {
            FieldKind::Enum { values } => Some(FeatureKind::Categorical(values.clone())),
            FieldKind::Integer { .. } | FieldKind::Number { .. } | FieldKind::Boolean => {
                Some(FeatureKind::Numeric)
            }
            FieldKind::Labels { values, .. } => Some(FeatureKind::Labels(values.clone())),
            FieldKind::String { .. } => None,
        }
    }
}

// ── Cascades ─────────────────────────────────────────────────────────────────

/// A suite's `cascade:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeSpec {
    /// The output field the tiers answer; a case is right when it equals `expected[field]`.
    pub field: String,
    /// The share of the top tier's accuracy to keep (the recommendation's target).
    pub target: f64,
    /// In order of cost; the last one always answers.
    pub tiers: Vec<Tier>,
}

pub const DEFAULT_TARGET: f64 = 0.98;
pub const DEFAULT_SAMPLES: u32 = 5;
pub const DEFAULT_SAMPLE_TEMPERATURE: f64 = 0.7;
/// Alternatives asked per token when the confidence comes from log-probabilities (OpenAI's
/// largest `top_logprobs`).
pub const TOP_LOGPROBS: u32 = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// The model (for a proxy: `proxy(EMBEDDINGS)`, a name to show).
    pub model: String,
    /// Set for a proxy tier.
    pub proxy: Option<ProxySpec>,
    pub confidence: Confidence,
    /// The threshold this tier runs at in production, when pinned: the gate holds the cascade
    /// to this operating point (otherwise to the recommended one).
    pub threshold: Option<f64>,
}

/// A proxy tier: logistic regression over embeddings, trained on the labels an LLM gave an
/// unlabelled pool (the LLM makes the training data for the cheaper stage).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySpec {
    /// The model that embeds.
    pub embeddings: String,
    /// The dataset of unlabelled inputs.
    pub pool: String,
    /// The model whose answers on the pool are the labels.
    pub labeller: String,
    /// The variable embedded (None: the case's only variable).
    pub input: Option<String>,
    /// α of the L2 penalty.
    pub regularization: f64,
}

/// Where a tier's confidence in its answer comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Confidence {
    /// The answer tokens' log-probabilities (OpenAI `logprobs`), renormalised over the labels
    /// the contract allows.
    Logprobs,
    /// K samples at a temperature: the answer is the majority, the confidence its share.
    SelfConsistency { samples: u32, temperature: f64 },
    /// A number in 0..1 that the output itself carries.
    Field(String),
    /// The proxy's predicted probability of its answer.
    Probability,
    /// The last tier: it always answers.
    Final,
}

/// The most tiers a cascade may have: the replay tries every combination of candidate
/// thresholds, 9^(tiers - 1) of them at 8 candidates a tier from four tiers up.
pub const MAX_TIERS: usize = 5;

// ── Retries ──────────────────────────────────────────────────────────────────

/// How a provider retries a failed request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; each later one doubles, with full jitter.
    pub base_delay: Duration,
    /// No single wait is longer than this (a longer `Retry-After` is capped too).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}
