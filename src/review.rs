//! Human calibration of LLM judges: sample judged results for review (both verdicts seen),
//! then measure how often the judge agrees with people: raw agreement, Cohen's kappa with a
//! 95% bootstrap interval, the confusion matrix, the trend by ISO week and the disagreements.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::score::stats::{self, Confusion, Delta};
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
        .filter(|v| v.vote == 0 && (v.outcome == "pass" || v.outcome == "fail"))
        .collect();
    let mut groups: BTreeMap<String, Vec<&VerdictRow>> = BTreeMap::new();
    for v in usable {
        let key = match stratify {
            Stratify::Verdict => v.outcome.clone(),
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
            JudgeCalibration {
                judge,
                judge_version,
                reviewed: pairs.len() as u64,
                skipped: (rows.len() - labelled.len()) as u64,
                agreement: agree as f64 / pairs.len().max(1) as f64,
                kappa,
                confusion: Confusion::from_pairs(&labels, pairs.iter().copied()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(case: &str, outcome: &str) -> VerdictRow {
        VerdictRow {
            case_id: case.into(),
            scorer: "faithful".into(),
            judge: "j".into(),
            judge_version: "v1".into(),
            judge_model: "m".into(),
            outcome: outcome.into(),
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
        assert_eq!(s.iter().filter(|v| v.outcome == "fail").count(), 10);
        assert!(s.iter().all(|v| v.outcome != "error"));
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
}
