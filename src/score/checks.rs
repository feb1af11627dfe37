//! The deterministic checks: equals, contains, starts_with, contains_any, contains_all, regex,
//! is_json, contains_json, levenshtein, json_field, contract, numeric; and `negate`, which
//! inverts any of them (and `similar`, scored by the runner).

use serde_json::Value;

use super::{
    Expectation, ListExpectation, Outcome, Output, PatternSource, Score, Scorer, ScorerKind,
};
use crate::golden::Case;

pub fn score(scorer: &Scorer, case: &Case, output: &Output<'_>) -> Score {
    if let Some(k) = &scorer.only_with
        && case.expected.get(k).is_none_or(Value::is_null)
    {
        return Score {
            scorer: scorer.name.clone(),
            outcome: Outcome::Skip,
            detail: Some(format!("case has no expected `{k}`")),
        };
    }
    let (outcome, detail) = check(&scorer.kind, case, output);
    let (outcome, detail) = if scorer.negate {
        negate(outcome, detail, || claim(&scorer.kind, case))
    } else {
        (outcome, detail)
    };
    Score {
        scorer: scorer.name.clone(),
        outcome,
        detail,
    }
}

/// The verdict of a scorer with `negate: true`: a pass fails (saying what held) and a failure
/// passes; a skip or an error stays what it is.
pub fn negate(
    outcome: Outcome,
    detail: Option<String>,
    held: impl FnOnce() -> String,
) -> (Outcome, Option<String>) {
    match outcome {
        Outcome::Pass => (Outcome::Fail, Some(format!("negated: {}", held()))),
        Outcome::Fail => (Outcome::Pass, None),
        other => (other, detail),
    }
}

/// What a passing check found, as a negated scorer's failure says it.
fn claim(kind: &ScorerKind, case: &Case) -> String {
    let want = |e: &Expectation| shown(&expected_text(e, case).unwrap_or_default());
    let list = |e: &ListExpectation| expected_list(e, case).unwrap_or_default().join("`, `");
    match kind {
        ScorerKind::Equals { expected, .. } => format!("the output equals `{}`", want(expected)),
        ScorerKind::Contains { expected, .. } => {
            format!("the output contains `{}`", want(expected))
        }
        ScorerKind::StartsWith { expected, .. } => {
            format!("the output starts with `{}`", want(expected))
        }
        ScorerKind::ContainsAny { expected, .. } => {
            format!("the output contains one of `{}`", list(expected))
        }
        ScorerKind::ContainsAll { expected, .. } => {
            format!("the output contains all of `{}`", list(expected))
        }
        ScorerKind::Regex { pattern } => match pattern {
            PatternSource::Literal(re) => format!("the output matches /{}/", re.as_str()),
            PatternSource::Key(k) => format!(
                "the output matches /{}/",
                case.expected.get(k).map(as_text).unwrap_or_default()
            ),
        },
        ScorerKind::IsJson => "the output is JSON".into(),
        ScorerKind::ContainsJson => "the output contains a JSON object".into(),
        ScorerKind::Levenshtein {
            expected,
            max_distance,
        } => format!(
            "the output is within {max_distance} edits of `{}`",
            want(expected)
        ),
        ScorerKind::Similar { expected, .. } => {
            format!("the output is similar to `{}`", want(expected))
        }
        ScorerKind::JsonField { field, .. } => format!("`{field}` equals the expected value"),
        ScorerKind::Numeric { .. } => "the number is within tolerance".into(),
        ScorerKind::Contract => "the output obeys the contract".into(),
        ScorerKind::Judge { .. } => "the judge passed it".into(),
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

/// The strings of a list scorer: its literal values, or the case's expected array (a lone
/// string is a list of one). None when the case has no such key.
fn expected_list(expected: &ListExpectation, case: &Case) -> Option<Vec<String>> {
    match expected {
        ListExpectation::Literal(v) => Some(v.clone()),
        ListExpectation::Key(k) => match case.expected.get(k)? {
            Value::Null => None,
            Value::Array(items) => Some(items.iter().map(as_text).collect()),
            other => Some(vec![as_text(other)]),
        },
    }
}

fn missing_list(expected: &ListExpectation) -> String {
    match expected {
        ListExpectation::Key(k) => format!("case has no expected `{k}`"),
        ListExpectation::Literal(_) => "no expected values".into(),
    }
}

/// Whether the text holds a JSON object: from some `{`, a whole object parses (the first
/// one found is enough).
pub fn contains_json_object(text: &str) -> bool {
    text.match_indices('{').any(|(i, _)| {
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        matches!(stream.next(), Some(Ok(Value::Object(_))))
    })
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
        ScorerKind::StartsWith { .. }
        | ScorerKind::ContainsAny { .. }
        | ScorerKind::ContainsAll { .. } => check_prefix_and_lists(kind, case, output),
        ScorerKind::Regex { .. } | ScorerKind::ContainsJson | ScorerKind::Levenshtein { .. } => {
            check_patterns(kind, case, output)
        }
        ScorerKind::IsJson => match crate::contract::parse_json_output(output.text) {
            Ok(_) => pass(),
            Err(e) => fail(e),
        },
        ScorerKind::Similar { .. } => skip("scored with embeddings by the runner, not here"),
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

/// `starts_with`, `contains_any` and `contains_all`.
fn check_prefix_and_lists(
    kind: &ScorerKind,
    case: &Case,
    output: &Output<'_>,
) -> (Outcome, Option<String>) {
    match kind {
        ScorerKind::StartsWith {
            expected,
            ignore_case,
        } => {
            let Some(want) = expected_text(expected, case) else {
                return skip(missing(expected));
            };
            if fold(output.text, false, *ignore_case).starts_with(&fold(&want, false, *ignore_case))
            {
                pass()
            } else {
                fail(format!("does not start with `{}`", shown(&want)))
            }
        }
        ScorerKind::ContainsAny {
            expected,
            ignore_case,
        } => {
            let Some(want) = expected_list(expected, case) else {
                return skip(missing_list(expected));
            };
            let text = fold(output.text, false, *ignore_case);
            if want
                .iter()
                .any(|w| text.contains(&fold(w, false, *ignore_case)))
            {
                pass()
            } else {
                fail(format!("contains none of `{}`", shown(&want.join("`, `"))))
            }
        }
        ScorerKind::ContainsAll {
            expected,
            ignore_case,
        } => {
            let Some(want) = expected_list(expected, case) else {
                return skip(missing_list(expected));
            };
            let text = fold(output.text, false, *ignore_case);
            let absent: Vec<&str> = want
                .iter()
                .filter(|w| !text.contains(&fold(w, false, *ignore_case)))
                .map(String::as_str)
                .collect();
            if absent.is_empty() {
                pass()
            } else {
                fail(format!(
                    "does not contain `{}`",
                    shown(&absent.join("`, `"))
                ))
            }
        }
        _ => skip("not a prefix or list check"),
    }
}

/// `regex`, `contains_json` and `levenshtein`.
fn check_patterns(
    kind: &ScorerKind,
    case: &Case,
    output: &Output<'_>,
) -> (Outcome, Option<String>) {
    match kind {
        ScorerKind::Regex { pattern } => {
            let compiled;
            let re = match pattern {
                PatternSource::Literal(re) => re,
                PatternSource::Key(k) => {
                    let Some(p) = case.expected.get(k).filter(|v| !v.is_null()) else {
                        return skip(format!("case has no expected `{k}`"));
                    };
                    compiled = match regex::Regex::new(&as_text(p)) {
                        Ok(re) => re,
                        Err(_) => {
                            return fail(format!(
                                "the case's expected `{k}` is not a valid regular expression"
                            ));
                        }
                    };
                    &compiled
                }
            };
            if re.is_match(output.text) {
                pass()
            } else {
                fail(format!("does not match /{}/", re.as_str()))
            }
        }
        ScorerKind::ContainsJson => {
            if contains_json_object(output.text) {
                pass()
            } else {
                fail("holds no JSON object")
            }
        }
        ScorerKind::Levenshtein {
            expected,
            max_distance,
        } => {
            let Some(want) = expected_text(expected, case) else {
                return skip(missing(expected));
            };
            let distance = strsim::levenshtein(output.text, &want);
            if distance <= *max_distance {
                pass()
            } else {
                fail(format!(
                    "{distance} edits from `{}` (at most {max_distance})",
                    shown(&want)
                ))
            }
        }
        _ => skip("not a pattern check"),
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
            pattern: PatternSource::Literal(regex::Regex::new(r"^\d{3}$").unwrap()),
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

    #[test]
    fn starts_with_and_lists() {
        let c = case(json!({"words": ["refund", "Friday"], "one": "refund"}));
        let sw = |ic| ScorerKind::StartsWith {
            expected: Expectation::Literal("Dear".into()),
            ignore_case: ic,
        };
        assert_eq!(run(sw(false), &c, "Dear Ann"), Outcome::Pass);
        // No trimming: promptfoo's `starts-with` is exact too.
        assert_eq!(run(sw(false), &c, " Dear Ann"), Outcome::Fail);
        assert_eq!(run(sw(true), &c, "DEAR Ann"), Outcome::Pass);
        let any = |k: &str, ic| ScorerKind::ContainsAny {
            expected: ListExpectation::Key(k.into()),
            ignore_case: ic,
        };
        let all = |k: &str, ic| ScorerKind::ContainsAll {
            expected: ListExpectation::Key(k.into()),
            ignore_case: ic,
        };
        assert_eq!(run(any("words", false), &c, "a refund"), Outcome::Pass);
        assert_eq!(run(any("words", false), &c, "a Refund"), Outcome::Fail);
        assert_eq!(run(any("words", true), &c, "a Refund"), Outcome::Pass);
        assert_eq!(
            run(all("words", false), &c, "refund by Friday"),
            Outcome::Pass
        );
        assert_eq!(
            run(all("words", false), &c, "refund by friday"),
            Outcome::Fail
        );
        assert_eq!(
            run(all("words", true), &c, "refund by friday"),
            Outcome::Pass
        );
        // A lone string is a list of one; a missing key skips.
        assert_eq!(run(all("one", false), &c, "refund"), Outcome::Pass);
        assert_eq!(run(all("none", false), &c, "refund"), Outcome::Skip);
        let lit = ScorerKind::ContainsAll {
            expected: ListExpectation::Literal(vec!["a".into(), "b".into()]),
            ignore_case: false,
        };
        assert_eq!(run(lit, &c, "b a"), Outcome::Pass);
    }

    #[test]
    fn levenshtein_counts_edits_of_characters() {
        let c = case(json!({"answer": "kitten"}));
        let lev = |max| ScorerKind::Levenshtein {
            expected: Expectation::Key("answer".into()),
            max_distance: max,
        };
        // kitten → sitting: substitute k→s, e→i, insert g: 3 edits.
        assert_eq!(run(lev(3), &c, "sitting"), Outcome::Pass);
        assert_eq!(run(lev(2), &c, "sitting"), Outcome::Fail);
        // Characters, not bytes: one substitution of a two-byte letter.
        assert_eq!(run(lev(1), &c, "kittén"), Outcome::Pass);
    }

    #[test]
    fn regex_from_each_case_and_json_anywhere() {
        let c = case(json!({"re": "^(yes|no)$", "bad": "(unclosed"}));
        let re = |k: &str| ScorerKind::Regex {
            pattern: PatternSource::Key(k.into()),
        };
        assert_eq!(run(re("re"), &c, "yes"), Outcome::Pass);
        assert_eq!(run(re("re"), &c, "maybe"), Outcome::Fail);
        assert_eq!(run(re("bad"), &c, "yes"), Outcome::Fail);
        assert_eq!(run(re("none"), &c, "yes"), Outcome::Skip);
        let cj = ScorerKind::ContainsJson;
        assert_eq!(
            run(cj.clone(), &c, r#"Here: {"a": {"b": 1}} done"#),
            Outcome::Pass
        );
        assert_eq!(run(cj.clone(), &c, "a { b } c"), Outcome::Fail);
        assert_eq!(run(cj.clone(), &c, "[1, 2]"), Outcome::Fail);
        assert_eq!(run(cj, &c, "{not json} then {\"ok\": true}"), Outcome::Pass);
    }

    #[test]
    fn negate_inverts_pass_and_fail_but_not_skip() {
        let c = case(json!({"answer": "Paris"}));
        let scorer = |kind| Scorer {
            name: "n".into(),
            kind,
            negate: true,
            only_with: None,
        };
        let out = |text| Output {
            text,
            parsed: None,
            contract: None,
        };
        let contains = scorer(ScorerKind::Contains {
            expected: Expectation::Key("answer".into()),
            ignore_case: false,
        });
        let s = score(&contains, &c, &out("It is Paris."));
        assert_eq!(s.outcome, Outcome::Fail);
        assert_eq!(
            s.detail.as_deref(),
            Some("negated: the output contains `Paris`")
        );
        assert_eq!(score(&contains, &c, &out("Lyon")).outcome, Outcome::Pass);
        let absent = scorer(ScorerKind::Contains {
            expected: Expectation::Key("other".into()),
            ignore_case: false,
        });
        assert_eq!(score(&absent, &c, &out("Lyon")).outcome, Outcome::Skip);
    }
}
