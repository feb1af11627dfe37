//! Cascades: the cheapest tier answers first and hands a case on when its confidence is low;
//! the last tier always answers. evalgate runs every tier once on every case of a suite, then
//! simulates thresholds offline from the stored answers: the cost / quality frontier, and the
//! cheapest operating point that keeps a target share of the top tier's accuracy.
//!
//! - [`confidence`]: a tier's confidence in its answer (token log-probabilities renormalised
//!   over the contract's labels, agreement of K samples, or a field of the output);
//! - [`simulate`]: thresholds → who answers, accuracy with its interval, cost, latency; the
//!   frontier and the recommendation.

pub mod confidence;
pub mod simulate;

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
    pub model: String,
    pub confidence: Confidence,
    /// The threshold this tier runs at in production, when pinned: the gate holds the cascade
    /// to this operating point (otherwise to the recommended one).
    pub threshold: Option<f64>,
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
    /// The last tier: it always answers.
    Final,
}

impl Confidence {
    pub fn describe(&self) -> String {
        match self {
            Confidence::Logprobs => "logprobs".into(),
            Confidence::SelfConsistency {
                samples,
                temperature,
            } => format!("agreement of {samples} samples at temperature {temperature}"),
            Confidence::Field(f) => format!("output field `{f}`"),
            Confidence::Final => "always answers".into(),
        }
    }
}
