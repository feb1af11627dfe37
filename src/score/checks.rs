//! The deterministic checks: equals, contains, regex, is_json, json_field, contract, numeric.

use serde_json::Value;

use super::{Expectation, Outcome, Output, Score, Scorer, ScorerKind};
use crate::golden::Case;

pub fn score(scorer: &Scorer, case: &Case, output: &Output<'_>) -> Score {
    let (outcome, detail) = check(&scorer.kind, case, output);
    Score {
        scorer: scorer.name.clone(),
        outcome,
        detail,
    }
}

fn pass() -> (Outcome, Option<String>) {
    (Outcome::Pass, None)
}

fn fail(detail: impl Into<String>) -> (Outcome, Option<String>) {
    (Outcome::Fail, Some(detail.into()))
}

fn skip(detail: impl Into<String>) -> (Outcome, Option<String>) {
    (Outcome::Skip, Some(detail.into()))
}

/// A JSON value as the text a comparison uses: strings without quotes.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn expected_text(expected: &Expectation, case: &Case) -> Option<String> {
    match expected {
        Expectation::Literal(s) => Some(s.clone()),
        Expectation::Key(k) => case.expected.get(k).filter(|v| !v.is_null()).map(as_text),
    }
}

fn missing(expected: &Expectation) -> String {
    match expected {
        Expectation::Key(k) => format!("case has no expected `{k}`"),
        Expectation::Literal(_) => "no expected value".into(),
    }
}

fn fold(s: &str, trim: bool, ignore_case: bool) -> String {
    let s = if trim { s.trim() } else { s };
    if ignore_case {
        s.to_lowercase()
    } else {
        s.to_string()
    }
}

fn check(kind: &ScorerKind, case: &Case, output: &Output<'_>) -> (Outcome, Option<String>) {
    match kind {
        ScorerKind::Equals {
            expected,
            trim,
            ignore_case,
        } => {
            let Some(want) = expected_text(expected, case) else {
                return skip(missing(expected));
            };
            if fold(output.text, *trim, *ignore_case) == fold(&want, *trim, *ignore_case) {
                pass()
            } else {
                fail(format!("expected `{}`", shown(&want)))
            }
        }
        ScorerKind::Contains {
            expected,
            ignore_case,
        } => {
            let Some(want) = expected_text(expected, case) else {
                return skip(missing(expected));
            };
            if fold(output.text, false, *ignore_case).contains(&fold(&want, false, *ignore_case)) {
                pass()
            } else {
                fail(format!("does not contain `{}`", shown(&want)))
            }
        }
        ScorerKind::Regex { pattern } => {
            if pattern.is_match(output.text) {
                pass()
            } else {
                fail(format!("does not match /{}/", pattern.as_str()))
            }
        }
        ScorerKind::IsJson => match crate::contract::parse_json_output(output.text) {
            Ok(_) => pass(),
            Err(e) => fail(e),
        },
        ScorerKind::Contract => match output.contract {
            None => skip("the prompt has no contract"),
            Some(Ok(())) => pass(),
            Some(Err(v)) => fail(v.to_string()),
        },
        ScorerKind::JsonField {
            field,
            expected_key,
            trim,
            ignore_case,
        } => {
            let Some(want) = case.expected.get(expected_key).filter(|v| !v.is_null()) else {
                return skip(format!("case has no expected `{expected_key}`"));
            };
            let Some(got) = output.parsed.and_then(|p| p.get(field)) else {
                return fail(format!("output has no field `{field}`"));
            };
            let equal = match (got, want) {
                (Value::String(g), Value::String(w)) => {
                    fold(g, *trim, *ignore_case) == fold(w, *trim, *ignore_case)
                }
                (Value::Number(g), Value::Number(w)) => g.as_f64() == w.as_f64(),
                (Value::Array(g), Value::Array(w)) => {
                    // Label arrays compare as sets: order carries no meaning.
                    let norm = |a: &Vec<Value>| {
                        let mut v: Vec<String> = a
                            .iter()
                            .map(|x| fold(&as_text(x), *trim, *ignore_case))
                            .collect();
                        v.sort();
                        v
                    };
                    norm(g) == norm(w)
                }
                (g, w) => g == w,
            };
            if equal {
                pass()
            } else {
                fail(format!(
                    "`{field}` is {} but expected {}",
                    shown(&got.to_string()),
                    shown(&want.to_string())
                ))
            }
        }
        ScorerKind::Judge { .. } => skip("judged by a model, not here"),
        ScorerKind::Numeric {
            field,
            expected_key,
            tolerance,
            relative,
        } => {
            let Some(want) = case.expected.get(expected_key).and_then(number) else {
                return skip(format!("case has no numeric expected `{expected_key}`"));
            };
            let got = match field {
                Some(f) => output.parsed.and_then(|p| p.get(f)).and_then(number),
                None => output.text.trim().parse::<f64>().ok(),
            };
            let Some(got) = got else {
                return fail(match field {
                    Some(f) => format!("output has no numeric field `{f}`"),
                    None => "output is not a number".to_string(),
                });
            };
            let allowed = if *relative {
                tolerance * want.abs()
            } else {
                *tolerance
            };
            if (got - want).abs() <= allowed {
                pass()
            } else {
                fail(format!("{got} is not within {allowed} of {want}"))
            }
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A value as a failure message quotes it: at most 60 characters.
fn shown(s: &str) -> String {
    crate::text::clip(s, 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(expected: Value) -> Case {
        serde_json::from_value(json!({"id": "c", "expected": expected})).unwrap()
    }

    fn run(kind: ScorerKind, case: &Case, text: &str) -> Outcome {
        let parsed = crate::contract::parse_json_output(text).ok();
        let parsed = parsed.as_ref().and_then(|v| v.as_object());
        let out = Output {
            text,
            parsed,
            contract: None,
        };
        check(&kind, case, &out).0
    }

    #[test]
    fn equals_contains_regex() {
        let c = case(json!({"answer": "Paris"}));
        let eq = |ic| ScorerKind::Equals {
            expected: Expectation::Key("answer".into()),
            trim: true,
            ignore_case: ic,
        };
        assert_eq!(run(eq(false), &c, " Paris\n"), Outcome::Pass);
        assert_eq!(run(eq(false), &c, "paris"), Outcome::Fail);
        assert_eq!(run(eq(true), &c, "paris"), Outcome::Pass);
        assert_eq!(run(eq(false), &case(json!({})), "Paris"), Outcome::Skip);
        let contains = ScorerKind::Contains {
            expected: Expectation::Literal("refund".into()),
            ignore_case: true,
        };
        assert_eq!(
            run(contains.clone(), &c, "A REFUND was issued"),
            Outcome::Pass
        );
        assert_eq!(run(contains, &c, "no"), Outcome::Fail);
        let re = ScorerKind::Regex {
            pattern: regex::Regex::new(r"^\d{3}$").unwrap(),
        };
        assert_eq!(run(re.clone(), &c, "123"), Outcome::Pass);
        assert_eq!(run(re, &c, "1234"), Outcome::Fail);
    }

    #[test]
    fn json_field_and_numeric() {
        let c = case(json!({"intent": "bug", "risk": 3, "tags": ["a", "b"]}));
        let jf = |f: &str| ScorerKind::JsonField {
            field: f.into(),
            expected_key: f.into(),
            trim: true,
            ignore_case: false,
        };
        assert_eq!(run(jf("intent"), &c, r#"{"intent":"bug"}"#), Outcome::Pass);
        assert_eq!(
            run(jf("intent"), &c, r#"{"intent":"billing"}"#),
            Outcome::Fail
        );
        assert_eq!(run(jf("intent"), &c, "not json"), Outcome::Fail);
        assert_eq!(run(jf("risk"), &c, r#"{"risk":3.0}"#), Outcome::Pass);
        assert_eq!(run(jf("tags"), &c, r#"{"tags":["b","a"]}"#), Outcome::Pass);
        assert_eq!(run(jf("other"), &c, r#"{"other":1}"#), Outcome::Skip);
        let num = |tol, rel| ScorerKind::Numeric {
            field: Some("risk".into()),
            expected_key: "risk".into(),
            tolerance: tol,
            relative: rel,
        };
        assert_eq!(run(num(1.0, false), &c, r#"{"risk":4}"#), Outcome::Pass);
        assert_eq!(run(num(0.5, false), &c, r#"{"risk":4}"#), Outcome::Fail);
        // Relative: 40% of 3 is 1.2, so 4 is within and 5 is not.
        assert_eq!(run(num(0.4, true), &c, r#"{"risk":4}"#), Outcome::Pass);
        assert_eq!(run(num(0.4, true), &c, r#"{"risk":5}"#), Outcome::Fail);
        assert_eq!(run(ScorerKind::IsJson, &c, "[1,2]"), Outcome::Pass);
        assert_eq!(run(ScorerKind::IsJson, &c, "{"), Outcome::Fail);
    }
}
