//! The vocabulary of results: what a scorer, a case and a run can come to, and why a case
//! failed. Each is stored as the snake_case name `as_str` gives, so databases, run files and
//! JSON reports stay readable (and the ones written before these types existed still load).

use serde::{Deserialize, Serialize};

/// A stored name that is not one of a vocabulary's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of: {expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}

/// An enum stored as text: `as_str` and `parse` are inverses, serde uses the same names,
/// and sqlx reads a column through `TryFrom<String>`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Ordered by name, as the stored text sorts.
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownName;
            fn try_from(s: String) -> Result<Self, UnknownName> {
                $name::parse(&s).ok_or_else(|| UnknownName {
                    what: $what,
                    expected: [$($text),+].join(", "),
                    value: s,
                })
            }
        }
    };
}

vocabulary! {
    /// What one scorer (or one judge's verdict) says about one output.
    Outcome, "outcome" {
        Pass => "pass",
        Fail => "fail",
        /// The case has no expected value for this scorer: not counted.
        Skip => "skip",
        /// The scorer itself failed (a judge whose verdict could not be read): never a pass.
        Error => "error",
    }
}

vocabulary! {
    /// What one case came to: every scorer passed, one failed, or no scorable answer came.
    CaseStatus, "case status" {
        Pass => "pass",
        Fail => "fail",
        /// No output to score (the provider failed, the template did not render…).
        Error => "error",
    }
}

vocabulary! {
    /// Where a run is.
    RunStatus, "run status" {
        /// Started and not ended (or killed: a later run of the same key resumes it).
        Running => "running",
        /// Every planned case has a result.
        Finished => "finished",
        /// Ended early; the run's `stop_reason` says why (`interrupted`, `budget`, `killed`).
        Stopped => "stopped",
    }
}

vocabulary! {
    /// Why a request failed; stored with the case as its error kind.
    ErrorKind, "error kind" {
        /// HTTP 429.
        RateLimited => "rate_limited",
        /// HTTP 5xx.
        ServerError => "server_error",
        /// No answer within the timeout.
        Timeout => "timeout",
        /// The connection could not be made or was dropped.
        Connection => "connection",
        /// HTTP 401 / 403.
        Auth => "auth",
        /// Another HTTP 4xx: the provider rejected the request.
        BadRequest => "bad_request",
        /// HTTP 200 with a body that is not a chat completion.
        BadResponse => "bad_response",
        /// Replay has no cassette for this request.
        NoCassette => "no_cassette",
        /// The provider's API key variable is not set.
        MissingKey => "missing_key",
        /// The provider has no Batch API (its `/files` or `/batches` endpoint is not there).
        NoBatchApi => "no_batch_api",
    }
}

vocabulary! {
    /// One gate's verdict.
    GateStatus, "gate status" {
        Pass => "pass",
        Fail => "fail",
        /// The gate could not be judged (no baseline, too few cases…); the detail says why.
        Skipped => "skipped",
    }
}

vocabulary! {
    /// `evalgate gate`'s verdict on one suite.
    SuiteStatus, "suite status" {
        Pass => "pass",
        /// A regression.
        Fail => "fail",
        /// The run could not be trusted.
        Error => "error",
        /// Nothing the suite depends on changed since its baseline, so nothing was run.
        Unchanged => "unchanged",
    }
}

/// A row not yet judged is an error, never a pass.
impl Default for CaseStatus {
    fn default() -> Self {
        CaseStatus::Error
    }
}

/// A verdict not yet read is an error, never a pass.
impl Default for Outcome {
    fn default() -> Self {
        Outcome::Error
    }
}

/// Why a case did not pass: for a failure, which check; for an error, what went wrong.
/// Stored in one text column as the check's name or the provider error's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseKind {
    /// The output broke the output contract.
    Contract,
    /// A scorer failed it.
    Score,
    /// A judge's verdict could not be read.
    JudgeError,
    /// A scorer that calls a model (`similar`: its embeddings) got no answer.
    ScorerError,
    /// The prompt template did not render with the case's variables.
    Template,
    /// The provider gave no answer.
    Provider(ErrorKind),
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Contract => "contract",
            CaseKind::Score => "score",
            CaseKind::JudgeError => "judge_error",
            CaseKind::ScorerError => "scorer_error",
            CaseKind::Template => "template",
            CaseKind::Provider(kind) => kind.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<CaseKind> {
        Some(match s {
            "contract" => CaseKind::Contract,
            "score" => CaseKind::Score,
            "judge_error" => CaseKind::JudgeError,
            "scorer_error" => CaseKind::ScorerError,
            "template" => CaseKind::Template,
            other => CaseKind::Provider(ErrorKind::parse(other)?),
        })
    }
}

impl std::fmt::Display for CaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorKind> for CaseKind {
    fn from(kind: ErrorKind) -> Self {
        CaseKind::Provider(kind)
    }
}

impl TryFrom<String> for CaseKind {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        CaseKind::parse(&s).ok_or_else(|| UnknownName {
            what: "case kind",
            expected: ["contract", "score", "judge_error", "template"]
                .into_iter()
                .chain(ErrorKind::ALL.iter().map(|k| k.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            value: s,
        })
    }
}

impl Serialize for CaseKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CaseKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CaseKind::try_from(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_itself_through_text_and_serde() {
        fn check<T>(all: &[T], as_str: fn(T) -> &'static str)
        where
            T: Copy
                + PartialEq
                + std::fmt::Debug
                + Serialize
                + TryFrom<String>
                + for<'de> Deserialize<'de>,
        {
            for &v in all {
                let name = as_str(v);
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(name));
                assert_eq!(
                    serde_json::from_value::<T>(serde_json::json!(name)).unwrap(),
                    v
                );
                assert!(T::try_from(name.to_string()).ok() == Some(v), "{name}");
            }
        }
        check(Outcome::ALL, Outcome::as_str);
        check(CaseStatus::ALL, CaseStatus::as_str);
        check(RunStatus::ALL, RunStatus::as_str);
        check(ErrorKind::ALL, ErrorKind::as_str);
        check(GateStatus::ALL, GateStatus::as_str);
        check(SuiteStatus::ALL, SuiteStatus::as_str);
        let kinds: Vec<CaseKind> = [
            CaseKind::Contract,
            CaseKind::Score,
            CaseKind::JudgeError,
            CaseKind::ScorerError,
            CaseKind::Template,
        ]
        .into_iter()
        .chain(ErrorKind::ALL.iter().map(|&k| CaseKind::Provider(k)))
        .collect();
        check(&kinds, CaseKind::as_str);
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_words_it_could_be() {
        let e = CaseStatus::try_from("passed".to_string()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown case status `passed` (expected one of: pass, fail, error)"
        );
        assert!(
            CaseKind::try_from("nope".to_string())
                .unwrap_err()
                .to_string()
                .contains("no_cassette")
        );
        assert!(serde_json::from_str::<RunStatus>("\"done\"").is_err());
    }
}
