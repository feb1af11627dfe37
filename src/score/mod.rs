//! Scoring: deterministic checks of one output against one case, and the statistics.
//!
//! Scorers are pure: they see the case, the output text, the parsed fields and the
//! contract's verdict, and return one `Score` each. They never call a model or the store.

pub mod checks;
pub mod similar;

use serde::{Deserialize, Serialize};

pub use crate::config::spec::{
    Expectation, ListExpectation, PatternSource, SCORER_KINDS, Scorer, ScorerKind,
};

pub use crate::status::Outcome;

/// The verdict of one scorer on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub scorer: String,
    pub outcome: Outcome,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What the scorers look at.
pub struct Output<'a> {
    pub text: &'a str,
    /// The JSON object parsed from the output, when it is one.
    pub parsed: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The contract's verdict: `None` when the prompt has no contract.
    pub contract: Option<Result<(), &'a crate::contract::Violation>>,
}

/// Scores one output with every deterministic scorer of a suite.
pub fn score_all(
    scorers: &[Scorer],
    case: &crate::golden::Case,
    output: &Output<'_>,
) -> Vec<Score> {
    // Judges and embeddings call a model; the runner scores them (see `judge`, `similar`).
    scorers
        .iter()
        .filter(|s| !s.kind.calls_a_model())
        .map(|s| checks::score(s, case, output))
        .collect()
}
