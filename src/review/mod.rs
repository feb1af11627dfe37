//! Human calibration of LLM judges: sample judged results for review (both verdicts seen),
//! then measure how often the judge agrees with people: raw agreement, Cohen's kappa with a
//! 95% bootstrap interval, the confusion matrix, the trend by ISO week and the disagreements.
//!
//! A batch can also hold golden cases promoted from production feedback without an expected
//! value (`needs_label`): the reviewer's answer becomes the case's expected value in the
//! golden file ([`expected_from_answer`], [`label_case`]).

pub mod file;

use crate::status::Outcome;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::stats::{self, Confusion, Delta};
use crate::store::{ReviewItemRow, ReviewLabelRow, VerdictRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stratify {
    /// As many judge passes as fails (as far as the run has them).
    Verdict,
    /// Each case tag in turn.
    Tag,
}

/// Picks `n` verdicts of a run for review with a seeded shuffle. Judge errors are left out (a
/// human cannot agree with an unreadable verdict), and so are extra votes of one judge on one
/// case.
pub fn sample<'v>(
    verdicts: &'v [VerdictRow],
    tags: &BTreeMap<String, Vec<String>>,
    n: usize,
    stratify: Stratify,
    seed: u64,
) -> Vec<&'v VerdictRow> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let usable: Vec<&VerdictRow> = verdicts
        .iter()
        .filter(|v| v.vote == 0 && (v.outcome == Outcome::Pass || v.outcome == Outcome::Fail))
        .collect();
    let mut groups: BTreeMap<String, Vec<&VerdictRow>> = BTreeMap::new();
    for v in usable {
        let key = match stratify {
            Stratify::Verdict => v.outcome.to_string(),
            Stratify::Tag => tags
                .get(&v.case_id)
                .and_then(|t| t.first().cloned())
                .unwrap_or_else(|| "(no tag)".into()),
        };
        groups.entry(key).or_default().push(v);
    }
    for g in groups.values_mut() {
        rng.shuffle(g);
    }
    // Round-robin over the groups until n are taken or all are empty.
    let mut out = Vec::new();
    let mut queues: Vec<std::collections::VecDeque<&VerdictRow>> =
        groups.into_values().map(Into::into).collect();
    while out.len() < n && queues.iter().any(|q| !q.is_empty()) {
        for q in queues.iter_mut() {
            if out.len() >= n {
                break;
            }
            if let Some(v) = q.pop_front() {
                out.push(v);
            }
        }
    }
    out
}

/// What a reviewer's answer to a `label` item makes the case's expected value (None for a
/// skip). A pass accepts the model's output: its fields (only those the dataset's cases
/// expect, when they expect any), or `{"output": text}` for an output that is not an object.
/// A fail needs the right answer: fields that replace the output's (`field=value, …` or a
/// JSON object), or free text when the dataset expects a reference `output`.
pub fn expected_from_answer(
    verdict: &str,
    output: Option<&str>,
    parsed: Option<&Value>,
    correction: Option<&str>,
    keys: &BTreeSet<String>,
) -> Result<Option<Map<String, Value>>, String> {
    let keep = |fields: Map<String, Value>| -> Map<String, Value> {
        if keys.is_empty() {
            fields
        } else {
            fields
                .into_iter()
                .filter(|(k, _)| keys.contains(k))
                .collect()
        }
    };
    let fields_of_output = || -> Option<Map<String, Value>> {
        match parsed {
            Some(Value::Object(m)) => Some(m.clone()),
            _ => match crate::contract::parse_json_output(output?) {
                Ok(Value::Object(m)) => Some(m),
                _ => None,
            },
        }
    };
    let expects = if keys.is_empty() {
        String::new()
    } else {
        format!(
            " (the dataset expects {})",
            keys.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    match verdict {
        "skip" => Ok(None),
        "pass" => {
            if let Some(fields) = fields_of_output() {
                let fields = keep(fields);
                if fields.is_empty() {
                    return Err(format!(
                        "the output has none of the fields the dataset expects{expects}: answer fail with the right answer"
                    ));
                }
                return Ok(Some(fields));
            }
            match output {
                Some(text) if keys.is_empty() || keys.contains("output") => Ok(Some(
                    Map::from_iter([("output".to_string(), Value::String(text.to_string()))]),
                )),
                Some(_) => Err(format!(
                    "the output is not the fields the dataset expects{expects}: answer fail with the right answer"
                )),
                None => {
                    Err("there is no output to accept: answer fail with the right answer".into())
                }
            }
        }
        "fail" => {
            let text = correction.map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| {
                format!("a fail needs the right answer, as `field=value, …` or a JSON object{expects}")
            })?;
            let given = match correction_fields(text) {
                Some(f) => f,
                None if keys.is_empty() || keys.contains("output") => {
                    return Ok(Some(Map::from_iter([(
                        "output".to_string(),
                        Value::String(text.to_string()),
                    )])));
                }
                None => {
                    return Err(format!(
                        "`{text}` is not fields: write `field=value, …` or a JSON object{expects}"
                    ));
                }
            };
            if let Some(unknown) = given
                .keys()
                .find(|k| !keys.is_empty() && !keys.contains(*k))
            {
                return Err(format!(
                    "`{unknown}` is not a field the dataset expects{expects}"
                ));
            }
            let mut fields = fields_of_output().map(keep).unwrap_or_default();
            fields.extend(given);
            Ok(Some(fields))
        }
        other => Err(format!("`{other}` is not pass, fail or skip")),
    }
}

/// Reads `field=value, field=value` (values as JSON when they parse, else text; a comma
/// not followed by `field=` belongs to the value) or a JSON object; None for anything else.
fn correction_fields(text: &str) -> Option<Map<String, Value>> {
    if text.starts_with('{') {
        return match serde_json::from_str(text) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        };
    }
    let key_of = |part: &str| -> Option<String> {
        let (k, _) = part.split_once('=')?;
        let k = k.trim();
        (!k.is_empty()
            && k.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-'))
        .then(|| k.to_string())
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in text.split(',') {
        match (key_of(part), pairs.last_mut()) {
            (Some(k), _) => {
                let v = part.split_once('=').map_or("", |(_, v)| v);
                pairs.push((k, v.to_string()));
            }
            (None, Some((_, v))) => {
                v.push(',');
                v.push_str(part);
            }
            (None, None) => return None,
        }
    }
    Some(
        pairs
            .into_iter()
            .map(|(k, v)| {
                let v = v.trim();
                let value =
                    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
                (k, value)
            })
            .collect(),
    )
}

/// A reviewer's answer on a case that needs a label: the verdict (`pass`, `fail`, `skip`), the
/// model's output as shown, and the note (a correction, for `fail`).
#[derive(Debug, Clone, Copy)]
pub struct LabelAnswer<'a> {
    pub verdict: &'a str,
    pub output: Option<&'a str>,
    pub parsed: Option<&'a Value>,
    pub note: Option<&'a str>,
}

/// Why an answer did not label its case.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The answer cannot become an expected value (a fail without the right answer, say):
    /// ask again.
    #[error("{0}")]
    Answer(String),
    #[error(transparent)]
    File(#[from] crate::golden::EditError),
}

/// Turns an answer into the case's expected value (the fields the dataset's cases expect)
/// and writes it into the golden file, with who labelled it, today and the batch in the
/// case's `source`. `Ok(None)`: a skip, the case still waits. Blocking file work.
pub fn label_case(
    golden: &Path,
    case_id: &str,
    answer: &LabelAnswer<'_>,
    reviewer: &str,
    batch: &str,
) -> Result<Option<Map<String, Value>>, LabelError> {
    let keys = crate::golden::expected_keys(golden)?;
    let Some(expected) = expected_from_answer(
        answer.verdict,
        answer.output,
        answer.parsed,
        answer.note,
        &keys,
    )
    .map_err(LabelError::Answer)?
    else {
        return Ok(None);
    };
    let source = Map::from_iter([
        ("labelled_by".to_string(), Value::from(reviewer)),
        (
            "labelled_at".to_string(),
            Value::from(&crate::runner::now()[..10]),
        ),
        ("review_batch".to_string(), Value::from(batch)),
    ]);
    crate::golden::set_expected(golden, case_id, expected.clone(), source)?;
    Ok(Some(expected))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub judges: Vec<JudgeCalibration>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeCalibration {
    pub judge: String,
    pub judge_version: String,
    /// Items labelled pass or fail (skips are not counted).
    pub reviewed: u64,
    pub skipped: u64,
    pub agreement: f64,
    /// Cohen's kappa between the humans and the judge, with its 95% bootstrap interval.
    pub kappa: Option<Delta>,
    /// Rows: the humans' verdicts; columns: the judge's.
    pub confusion: Confusion,
    /// The verdict the judge gave on every reviewed item, if it gave only one: kappa is then 0
    /// however people answer, and the agreement only counts how often they said it too.
    pub constant_verdict: Option<String>,
    /// By ISO week of the labels, oldest first.
    pub weeks: Vec<WeekCalibration>,
    pub disagreements: Vec<Disagreement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekCalibration {
    /// `2026-W47`.
    pub week: String,
    pub reviewed: u64,
    pub agreement: f64,
    pub kappa: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub batch_id: String,
    pub item: i64,
    pub run_id: String,
    pub case_id: String,
    pub repeat_index: i64,
    pub scorer: String,
    pub judge_verdict: String,
    pub judge_reason: Option<String>,
    pub human_verdict: String,
    pub reviewer: String,
    pub note: Option<String>,
}

const VERDICTS: [&str; 2] = ["pass", "fail"];

fn kappa_of(pairs: &[(&str, &str)]) -> Option<f64> {
    let labels: Vec<String> = VERDICTS.iter().map(|s| s.to_string()).collect();
    Confusion::from_pairs(&labels, pairs.iter().copied()).kappa()
}

fn iso_week(ts: &str) -> String {
    use chrono::Datelike;
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => {
            let w = t.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        Err(_) => "unknown".into(),
    }
}

/// Judge–human agreement per judge version, over the reviewed items (`judge` filters one
/// judge; `since` keeps labels from that time on).
pub fn calibrate(
    reviewed: &[(ReviewItemRow, ReviewLabelRow)],
    judge: Option<&str>,
    since: Option<&str>,
) -> Calibration {
    let mut by_judge: BTreeMap<(String, String), Vec<&(ReviewItemRow, ReviewLabelRow)>> =
        BTreeMap::new();
    for r in reviewed {
        if r.0.kind != "verdict" {
            continue;
        }
        if judge.is_some_and(|j| j != r.0.judge) {
            continue;
        }
        if since.is_some_and(|s| r.1.labelled_at.as_str() < s) {
            continue;
        }
        by_judge
            .entry((r.0.judge.clone(), r.0.judge_version.clone()))
            .or_default()
            .push(r);
    }
    let judges = by_judge
        .into_iter()
        .map(|((judge, judge_version), rows)| {
            let labelled: Vec<&&(ReviewItemRow, ReviewLabelRow)> =
                rows.iter().filter(|r| r.1.verdict != "skip").collect();
            let pairs: Vec<(&str, &str)> = labelled
                .iter()
                .map(|r| (r.1.verdict.as_str(), r.0.judge_outcome.as_str()))
                .collect();
            let agree = pairs.iter().filter(|(h, j)| h == j).count();
            let labels: Vec<String> = VERDICTS.iter().map(|s| s.to_string()).collect();
            let kappa = stats::paired_bootstrap(pairs.len(), |idx| {
                let sample: Vec<(&str, &str)> = idx.iter().map(|&i| pairs[i]).collect();
                kappa_of(&sample)
            });
            let mut weeks: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
            for (r, p) in labelled.iter().zip(&pairs) {
                weeks
                    .entry(iso_week(&r.1.labelled_at))
                    .or_default()
                    .push(*p);
            }
            let disagreements = labelled
                .iter()
                .filter(|r| r.1.verdict != r.0.judge_outcome)
                .map(|r| Disagreement {
                    batch_id: r.0.batch_id.clone(),
                    item: r.0.item,
                    run_id: r.0.run_id.clone(),
                    case_id: r.0.case_id.clone(),
                    repeat_index: r.0.repeat_index,
                    scorer: r.0.scorer.clone(),
                    judge_verdict: r.0.judge_outcome.clone(),
                    judge_reason: r.0.judge_reason.clone(),
                    human_verdict: r.1.verdict.clone(),
                    reviewer: r.1.reviewer.clone(),
                    note: r.1.note.clone(),
                })
                .collect();
            let confusion = Confusion::from_pairs(&labels, pairs.iter().copied());
            JudgeCalibration {
                judge,
                judge_version,
                reviewed: pairs.len() as u64,
                skipped: (rows.len() - labelled.len()) as u64,
                agreement: agree as f64 / pairs.len().max(1) as f64,
                kappa,
                constant_verdict: constant_verdict(&confusion),
                confusion,
                weeks: weeks
                    .into_iter()
                    .map(|(week, p)| WeekCalibration {
                        week,
                        reviewed: p.len() as u64,
                        agreement: p.iter().filter(|(h, j)| h == j).count() as f64
                            / p.len().max(1) as f64,
                        kappa: kappa_of(&p),
                    })
                    .collect(),
                disagreements,
            }
        })
        .collect();
    Calibration { judges }
}

/// The judge's verdict when it gave the same one on every reviewed item.
fn constant_verdict(c: &Confusion) -> Option<String> {
    let reviewed: u64 = c.counts.iter().flatten().sum();
    (reviewed > 0)
        .then(|| {
            c.labels
                .iter()
                .enumerate()
                .find(|(col, _)| c.counts.iter().map(|row| row[*col]).sum::<u64>() == reviewed)
                .map(|(_, label)| label.clone())
        })
        .flatten()
}

/// A suite's floor on a judge's agreement with people (`min_judge_kappa`).
#[derive(Debug, Clone, PartialEq)]
pub struct Floor {
    pub judge: String,
    pub judge_version: String,
    pub suite: String,
    pub min: f64,
}

/// Drift warnings: a judge version whose kappa, overall or in its latest week, is below a
/// floor of a suite that uses it.
pub fn drift(c: &Calibration, floors: &[Floor]) -> Vec<String> {
    let mut out = Vec::new();
    for f in floors {
        let Some(j) = c
            .judges
            .iter()
            .find(|j| j.judge == f.judge && j.judge_version == f.judge_version)
        else {
            continue;
        };
        let short = crate::hash::short(&f.judge_version);
        let latest = j.weeks.last().and_then(|w| w.kappa.map(|k| (&w.week, k)));
        if let Some(k) = j.kappa.map(|k| k.delta).filter(|k| *k < f.min) {
            out.push(format!(
                "drift: judge {}@{short} agrees with people at kappa {k:.3}, below min_judge_kappa {} of suite {}: `evalgate gate` fails it",
                f.judge, f.min, f.suite
            ));
        } else if let Some((week, k)) = latest.filter(|(_, k)| *k < f.min) {
            out.push(format!(
                "drift: judge {}@{short} fell to kappa {k:.3} in {week}, below min_judge_kappa {} of suite {}",
                f.judge, f.min, f.suite
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_judge_with_one_verdict_for_everything_is_named() {
        let labels = vec!["pass".to_string(), "fail".to_string()];
        let all_pass = Confusion::from_pairs(&labels, [("pass", "pass"), ("fail", "pass")]);
        assert_eq!(constant_verdict(&all_pass).as_deref(), Some("pass"));
        let mixed = Confusion::from_pairs(&labels, [("pass", "pass"), ("fail", "fail")]);
        assert_eq!(constant_verdict(&mixed), None);
        assert_eq!(constant_verdict(&Confusion::from_pairs(&labels, [])), None);
    }

    fn verdict(case: &str, outcome: &str) -> VerdictRow {
        VerdictRow {
            case_id: case.into(),
            scorer: "faithful".into(),
            judge: "j".into(),
            judge_version: "v1".into(),
            judge_model: "m".into(),
            outcome: crate::status::Outcome::parse(outcome).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn a_sample_sees_both_verdicts_and_is_reproducible() {
        // 90 passes, 10 fails, 5 errors.
        let verdicts: Vec<VerdictRow> = (0..105)
            .map(|i| {
                let o = if i < 90 {
                    "pass"
                } else if i < 100 {
                    "fail"
                } else {
                    "error"
                };
                verdict(&format!("c{i:03}"), o)
            })
            .collect();
        let tags = BTreeMap::new();
        let s = sample(&verdicts, &tags, 20, Stratify::Verdict, 1);
        assert_eq!(s.len(), 20);
        assert_eq!(
            s.iter()
                .filter(|v| v.outcome == crate::status::Outcome::Fail)
                .count(),
            10
        );
        assert!(s.iter().all(|v| v.outcome != crate::status::Outcome::Error));
        let again: Vec<&str> = sample(&verdicts, &tags, 20, Stratify::Verdict, 1)
            .iter()
            .map(|v| v.case_id.as_str())
            .collect();
        assert_eq!(
            again,
            s.iter().map(|v| v.case_id.as_str()).collect::<Vec<_>>()
        );
        assert_eq!(
            sample(&verdicts, &tags, 500, Stratify::Verdict, 1).len(),
            100
        );
    }

    fn reviewed(human: &str, judge: &str, at: &str) -> (ReviewItemRow, ReviewLabelRow) {
        (
            ReviewItemRow {
                batch_id: "b".into(),
                item: 0,
                run_id: "r".into(),
                case_id: "c".into(),
                repeat_index: 0,
                scorer: "s".into(),
                judge: "j".into(),
                judge_version: "v1".into(),
                judge_model: "m".into(),
                judge_outcome: judge.into(),
                judge_reason: None,
                created_at: at.into(),
                kind: "verdict".into(),
            },
            ReviewLabelRow {
                batch_id: "b".into(),
                item: 0,
                reviewer: "ann".into(),
                verdict: human.into(),
                note: None,
                labelled_at: at.into(),
            },
        )
    }

    #[test]
    fn kappa_of_a_textbook_table() {
        // The classic 2×2 example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no (50 items).
        // p_o = 35/50 = 0.7; p_e = 0.5·0.6 + 0.5·0.4 = 0.5; kappa = (0.7 − 0.5)/(1 − 0.5) = 0.4.
        let mut rows = Vec::new();
        let week1 = "2026-11-16T10:00:00Z";
        let week2 = "2026-11-23T10:00:00Z";
        for (h, j, n) in [
            ("pass", "pass", 20),
            ("pass", "fail", 5),
            ("fail", "pass", 10),
            ("fail", "fail", 15),
        ] {
            for i in 0..n {
                rows.push(reviewed(h, j, if i % 2 == 0 { week1 } else { week2 }));
            }
        }
        rows.push(reviewed("skip", "pass", week2));
        let c = calibrate(&rows, None, None);
        let j = &c.judges[0];
        assert_eq!((j.reviewed, j.skipped), (50, 1));
        assert!((j.agreement - 0.7).abs() < 1e-12);
        let k = j.kappa.unwrap();
        assert!((k.delta - 0.4).abs() < 1e-12, "{k:?}");
        assert!(k.low < 0.4 && k.high > 0.4 && k.low > 0.1, "{k:?}");
        assert_eq!(j.disagreements.len(), 15);
        assert_eq!(
            j.weeks.iter().map(|w| w.week.as_str()).collect::<Vec<_>>(),
            ["2026-W47", "2026-W48"]
        );
        assert_eq!(j.weeks.iter().map(|w| w.reviewed).sum::<u64>(), 50);
        assert!(calibrate(&rows, Some("other"), None).judges.is_empty());
    }

    #[test]
    fn an_answer_becomes_the_expected_value() {
        let keys: BTreeSet<String> = ["intent", "risk"].iter().map(|s| s.to_string()).collect();
        let out = r#"{"intent": "billing", "risk": 2, "summary": "x"}"#;
        let json = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        // A pass keeps the expected fields of the output.
        assert_eq!(
            expected_from_answer("pass", Some(out), None, None, &keys).unwrap(),
            Some(
                json(r#"{"intent": "billing", "risk": 2}"#)
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        // A fail's fields replace the output's; values parse as JSON when they can.
        assert_eq!(
            expected_from_answer("fail", Some(out), None, Some("intent=bug, risk=4"), &keys)
                .unwrap(),
            Some(
                json(r#"{"intent": "bug", "risk": 4}"#)
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(
            expected_from_answer("fail", Some(out), None, Some(r#"{"risk": 5}"#), &keys).unwrap(),
            Some(
                json(r#"{"intent": "billing", "risk": 5}"#)
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(
            expected_from_answer("skip", Some(out), None, None, &keys).unwrap(),
            None
        );
        // A comma inside a value stays in it.
        let tagged: BTreeSet<String> = ["tags", "summary"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            expected_from_answer(
                "fail",
                Some("{}"),
                None,
                Some(r#"tags=["a","b"], summary=late, and rude"#),
                &tagged
            )
            .unwrap(),
            Some(
                json(r#"{"tags": ["a", "b"], "summary": "late, and rude"}"#)
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        let e = expected_from_answer("fail", Some(out), None, None, &keys).unwrap_err();
        assert!(
            e.contains("a fail needs the right answer") && e.contains("intent, risk"),
            "{e}"
        );
        let e =
            expected_from_answer("fail", Some(out), None, Some("it is a bug"), &keys).unwrap_err();
        assert!(e.contains("is not fields"), "{e}");
        let e =
            expected_from_answer("fail", Some(out), None, Some("colour=red"), &keys).unwrap_err();
        assert!(e.contains("`colour` is not a field"), "{e}");
        let e = expected_from_answer("pass", Some("plain text"), None, None, &keys).unwrap_err();
        assert!(e.contains("answer fail"), "{e}");
        // A dataset of reference answers takes text.
        let text_keys: BTreeSet<String> = ["output".to_string()].into();
        assert_eq!(
            expected_from_answer(
                "fail",
                Some("no"),
                None,
                Some("The answer is 4."),
                &text_keys
            )
            .unwrap(),
            Some(
                json(r#"{"output": "The answer is 4."}"#)
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
    }

    #[test]
    fn drift_is_a_kappa_below_the_floor_overall_or_in_the_latest_week() {
        // Week 47: perfect agreement; week 48: none (the judge flips every verdict).
        let mut rows = Vec::new();
        for (h, j, at) in [
            ("pass", "pass", "2026-11-16T10:00:00Z"),
            ("fail", "fail", "2026-11-16T10:00:00Z"),
            ("pass", "pass", "2026-11-17T10:00:00Z"),
            ("fail", "fail", "2026-11-17T10:00:00Z"),
            ("pass", "pass", "2026-11-18T10:00:00Z"),
            ("fail", "fail", "2026-11-18T10:00:00Z"),
            ("pass", "fail", "2026-11-23T10:00:00Z"),
            ("fail", "pass", "2026-11-23T10:00:00Z"),
        ] {
            rows.push(reviewed(h, j, at));
        }
        let c = calibrate(&rows, None, None);
        let floor = |min: f64, version: &str| Floor {
            judge: "j".into(),
            judge_version: version.into(),
            suite: "s".into(),
            min,
        };
        // Overall kappa 0.5 passes a floor of 0.4; the latest week's -1 does not.
        let w = drift(&c, &[floor(0.4, "v1")]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("fell to kappa -1.000 in 2026-W48"), "{w:?}");
        // A floor of 0.6 is above the overall kappa.
        let w = drift(&c, &[floor(0.6, "v1")]);
        assert!(w[0].contains("agrees with people at kappa 0.500"), "{w:?}");
        // Another version of the judge has no labels: nothing to say.
        assert!(drift(&c, &[floor(0.9, "v2")]).is_empty());
    }
}
