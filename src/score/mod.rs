//! Scoring: deterministic checks of one output against one case, and the statistics.
//!
//! Scorers are pure: they see the case, the output text, the parsed fields and the
//! contract's verdict, and return one `Score` each. They never call a model or the store.

pub mod checks;
pub mod judge;
pub mod stats;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Where a scorer finds the value to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// A key of the case's `expected` object.
    Key(String),
    /// A literal value written in the suite.
    Literal(String),
}

/// One configured scorer of a suite.
#[derive(Debug, Clone)]
pub struct Scorer {
    /// Unique in its suite; shown in reports and stored with each score.
    pub name: String,
    pub kind: ScorerKind,
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
    /// The output matches a regular expression.
    Regex { pattern: Regex },
    /// The output is valid JSON.
    IsJson,
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
    Judge { judges: Vec<String>, repeat: u32 },
    /// A number (the whole output or a JSON field) is within tolerance of the expected one.
    Numeric {
        field: Option<String>,
        expected_key: String,
        tolerance: f64,
        relative: bool,
    },
}

/// The scorer kinds, for messages and suggestions.
pub const SCORER_KINDS: &[&str] = &[
    "equals",
    "contains",
    "regex",
    "is_json",
    "json_field",
    "contract",
    "numeric",
    "judge",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The case has no expected value for this scorer: not counted.
    Skip,
    /// The scorer itself failed (a judge whose verdict could not be read): never a pass.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
            Outcome::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "pass" => Some(Outcome::Pass),
            "fail" => Some(Outcome::Fail),
            "skip" => Some(Outcome::Skip),
            "error" => Some(Outcome::Error),
            _ => None,
        }
    }
}

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
    // Judges call a model; the runner scores them (see `judge`).
    scorers
        .iter()
        .filter(|s| !matches!(s.kind, ScorerKind::Judge { .. }))
        .map(|s| checks::score(s, case, output))
        .collect()
}
