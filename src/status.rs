//! The vocabulary of results: what a scorer, a case and a run can come to. Stored as the
//! snake_case names that `as_str` gives, so databases and run files stay readable.

use serde::{Deserialize, Serialize};

/// What one scorer says about one output.
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
