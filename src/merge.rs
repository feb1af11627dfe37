//! Merging the run files of shards (`--shard K/N` on several CI machines) into one run that
//! compares and gates like any other.

use crate::status::RunStatus;
use std::collections::BTreeMap;

use crate::analysis::RunReport;
use crate::id::RunId;
use crate::runfile::CaseEntry;
use crate::store::{RunRow, ScorerCallTotals, VerdictTotals};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("merge needs at least two runs, got {0}")]
    TooFew(usize),
    #[error("run {other} does not match run {first}: {what} differs (`{theirs}` against `{ours}`)")]
    Mismatch {
        first: crate::id::RunId,
        other: crate::id::RunId,
        what: &'static str,
        ours: String,
        theirs: String,
    },
    #[error("case `{case}` (repeat {repeat}) is in run {first} and in run {other}")]
    Overlap {
        case: String,
        repeat: i64,
        first: crate::id::RunId,
        other: crate::id::RunId,
    },
    #[error("run {0} is not finished: merge complete shards only")]
    Unfinished(crate::id::RunId),
}

/// Checks that the parts are finished runs of the same suite, model, prompt version, dataset
/// version, scorers and repeats.
pub fn check(parts: &[&RunRow]) -> Result<(), MergeError> {
    let first = parts.first().ok_or(MergeError::TooFew(0))?;
    if parts.len() < 2 {
        return Err(MergeError::TooFew(parts.len()));
    }
    for p in parts {
        if p.status != RunStatus::Finished {
            return Err(MergeError::Unfinished(p.id.clone()));
        }
        let repeats = (first.repeats.to_string(), p.repeats.to_string());
        let checks: [(&'static str, &str, &str); 6] = [
            ("suite", &first.suite, &p.suite),
            ("model", &first.model, &p.model),
            ("prompt version", &first.prompt_version, &p.prompt_version),
            (
                "dataset version",
                &first.dataset_version,
                &p.dataset_version,
            ),
            ("scorers", &first.scorers_json, &p.scorers_json),
            ("repeats", &repeats.0, &repeats.1),
        ];
        for (what, ours, theirs) in checks {
            if ours != theirs {
                return Err(MergeError::Mismatch {
                    first: first.id.clone(),
                    other: p.id.clone(),
                    what,
                    ours: ours.to_string(),
                    theirs: theirs.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The merged run's row: the first part's, with id `id`, the parts' planned cases summed and
/// their time span.
pub fn merged_run(parts: &[&RunRow], id: &str) -> RunRow {
    let mut run = parts.first().map(|r| (*r).clone()).unwrap_or_else(|| {
        unreachable!("`check` refuses fewer than two parts before a merged run is made")
    });
    run.id = crate::id::RunId::new(id);
    run.planned_cases = parts.iter().map(|p| p.planned_cases).sum();
    run.started_at = parts
        .iter()
        .map(|p| p.started_at.clone())
        .min()
        .unwrap_or_default();
    run.finished_at = parts.iter().filter_map(|p| p.finished_at.clone()).max();
    run.case_limit = None;
    run.batch_id = None;
    run.stop_reason = None;
    // The selections of the parts (their shards) together: no single one describes the
    // merged run, so it keeps none.
    run.selection_json = None;
    run
}

/// The cases of several parts, each listed in (case id, repeat) order, interleaved into one
/// list in that order without holding more than one case of each part: a case in two parts
/// is an `Overlap`.
pub struct Interleave<I, E> {
    ids: Vec<RunId>,
    /// How a merge error is told, among the parts' own errors.
    merge_error: fn(MergeError) -> E,
    sources: Vec<I>,
    heads: Vec<Option<CaseEntry>>,
    started: bool,
}

impl<I, E> Interleave<I, E>
where
    I: Iterator<Item = Result<CaseEntry, E>>,
{
    /// `parts` pairs each part's run id with its cases; `merge_error` makes an overlap one of
    /// the parts' errors.
    pub fn new(parts: Vec<(RunId, I)>, merge_error: fn(MergeError) -> E) -> Self {
        let (ids, sources): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        let heads = ids.iter().map(|_| None).collect();
        Interleave {
            ids,
            merge_error,
            sources,
            heads,
            started: false,
        }
    }

    fn refill(&mut self, i: usize) -> Result<(), E> {
        self.heads[i] = self.sources[i].next().transpose()?;
        Ok(())
    }
}

impl<I, E> Iterator for Interleave<I, E>
where
    I: Iterator<Item = Result<CaseEntry, E>>,
{
    type Item = Result<CaseEntry, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                if let Err(e) = self.refill(i) {
                    return Some(Err(e));
                }
            }
        }
        let key = |c: &CaseEntry| (c.id.as_bytes().to_vec(), c.repeat);
        let mut min: Option<usize> = None;
        for (i, head) in self.heads.iter().enumerate() {
            let Some(c) = head else { continue };
            match min {
                Some(m) => {
                    let other = self.heads[m].as_ref().map(key);
                    match Some(key(c)).cmp(&other) {
                        std::cmp::Ordering::Less => min = Some(i),
                        std::cmp::Ordering::Equal => {
                            return Some(Err((self.merge_error)(MergeError::Overlap {
                                case: c.id.clone(),
                                repeat: c.repeat,
                                first: self.ids[m].clone(),
                                other: self.ids[i].clone(),
                            })));
                        }
                        std::cmp::Ordering::Greater => {}
                    }
                }
                None => min = Some(i),
            }
        }
        let i = min?;
        let case = self.heads[i].take();
        if let Err(e) = self.refill(i) {
            return Some(Err(e));
        }
        case.map(Ok)
    }
}

/// The merged run's report, computed again from the interleaved cases, with the judges'
/// totals and agreement and the embeddings of the parts' reports summed. Also gives the number of cases.
pub fn report<E>(
    run: &RunRow,
    parts: &[&RunReport],
    cases: impl Iterator<Item = Result<CaseEntry, E>>,
) -> Result<(RunReport, u64), E> {
    let mut summary = crate::analysis::Summarizer::new(run);
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut n = 0u64;
    for case in cases {
        let case = case?;
        let (row, scores) = case.to_rows(&run.id, n as i64);
        summary.add(&row);
        for s in scores {
            *counts.entry((s.scorer, s.outcome.to_string())).or_default() += 1;
        }
        n += 1;
    }
    let counts: Vec<(String, String, i64)> =
        counts.into_iter().map(|((s, o), n)| (s, o, n)).collect();
    let report = summary.finish(
        &counts,
        &judge_totals(parts),
        &agreement(parts),
        &embedding_totals(parts),
    );
    Ok((report, n))
}

/// The judges' totals of the parts, summed by scorer, judge and version.
fn judge_totals(parts: &[&RunReport]) -> Vec<VerdictTotals> {
    let mut out: Vec<VerdictTotals> = Vec::new();
    for j in parts.iter().flat_map(|p| &p.judges) {
        let same = |t: &VerdictTotals| {
            t.scorer == j.scorer && t.judge == j.judge && t.judge_version == j.judge_version
        };
        let i = match out.iter().position(same) {
            Some(i) => i,
            None => {
                out.push(VerdictTotals {
                    scorer: j.scorer.clone(),
                    judge: j.judge.clone(),
                    judge_version: j.judge_version.clone(),
                    judge_model: j.model.clone(),
                    pass: 0,
                    fail: 0,
                    error: 0,
                    input_tokens: 0,
                    output_tokens: 0,
                    cost_usd: 0.0,
                    cache_hits: 0,
                });
                out.len() - 1
            }
        };
        let t = &mut out[i];
        t.pass += j.pass as i64;
        t.fail += j.fail as i64;
        t.error += j.errors as i64;
        t.input_tokens += j.input_tokens as i64;
        t.output_tokens += j.output_tokens as i64;
        t.cost_usd += j.cost_usd;
        t.cache_hits += j.cache_hits as i64;
    }
    out
}

/// The embeddings of the parts, summed by scorer and model.
fn embedding_totals(parts: &[&RunReport]) -> Vec<ScorerCallTotals> {
    let mut by: BTreeMap<(String, String), ScorerCallTotals> = BTreeMap::new();
    for e in parts.iter().flat_map(|p| &p.embeddings) {
        let t = by
            .entry((e.scorer.clone(), e.model.clone()))
            .or_insert_with(|| ScorerCallTotals {
                scorer: e.scorer.clone(),
                model: e.model.clone(),
                calls: 0,
                input_tokens: 0,
                cost_usd: 0.0,
            });
        t.calls += e.calls as i64;
        t.input_tokens += e.input_tokens as i64;
        t.cost_usd += e.cost_usd;
    }
    by.into_values().collect()
}

/// Vote agreement of the parts, summed by scorer.
fn agreement(parts: &[&RunReport]) -> Vec<(String, i64, i64)> {
    let mut by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for a in parts.iter().flat_map(|p| &p.agreement) {
        let e = by.entry(a.scorer.clone()).or_default();
        e.0 += a.unanimous.total as i64;
        e.1 += a.unanimous.successes as i64;
    }
    by.into_iter().map(|(s, (n, u))| (s, n, u)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfile::testing::run_file;
    use serde_json::json;

    fn part(id: &str, cases: &[&str]) -> (RunId, Vec<Result<CaseEntry, MergeError>>) {
        let cases = cases
            .iter()
            .map(|c| json!({"id": c, "status": "pass", "output": "x"}))
            .collect();
        let file = run_file(id, "{}", cases);
        (RunId::new(id), file.cases.into_iter().map(Ok).collect())
    }

    fn interleave(parts: &[(&str, &[&str])]) -> Result<Vec<String>, MergeError> {
        let parts = parts
            .iter()
            .map(|(id, cases)| {
                let (id, cases) = part(id, cases);
                (id, cases.into_iter())
            })
            .collect();
        Interleave::new(parts, |e| e)
            .map(|c| c.map(|c| c.id))
            .collect()
    }

    #[test]
    fn parts_interleave_in_case_order_and_an_overlap_is_refused() {
        let got = interleave(&[("a", &["1", "4", "7"]), ("b", &["2", "3"]), ("c", &["5"])]);
        assert_eq!(got.unwrap(), ["1", "2", "3", "4", "5", "7"]);
        let got = interleave(&[("a", &["1", "4"]), ("b", &["2", "4"])]);
        assert_eq!(
            got.unwrap_err().to_string(),
            "case `4` (repeat 0) is in run a and in run b"
        );
        assert_eq!(interleave(&[("a", &[]), ("b", &[])]).unwrap().len(), 0);
    }

    #[test]
    fn the_merged_report_adds_up_the_shards_embeddings() {
        let shard = |id: &str, case: &str, calls: u64, cost: f64| {
            let mut file = run_file(
                id,
                "{}",
                vec![json!({"id": case, "status": "pass", "output": "x"})],
            );
            file.report.embeddings = vec![crate::analysis::EmbeddingSummary {
                scorer: "close".into(),
                model: "embed-1".into(),
                calls,
                input_tokens: 4 * calls,
                cost_usd: cost,
            }];
            file
        };
        let (a, b) = (shard("a", "c1", 2, 8e-6), shard("b", "c2", 3, 12e-6));
        let cases = a
            .cases
            .iter()
            .chain(&b.cases)
            .cloned()
            .map(Ok::<_, MergeError>);
        let (merged, n) = report(&a.run, &[&a.report, &b.report], cases).unwrap();
        assert_eq!(n, 2);
        let e = &merged.embeddings;
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].calls, e[0].input_tokens), (5, 20));
        assert!((e[0].cost_usd - 20e-6).abs() < 1e-15);
        // Shards without embeddings merge into a report without them.
        let (plain, _) = report(
            &a.run,
            &[&run_file("c", "{}", Vec::new()).report],
            std::iter::empty::<Result<CaseEntry, MergeError>>(),
        )
        .unwrap();
        assert!(plain.embeddings.is_empty());
    }
}
