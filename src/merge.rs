//! Merging the run files of shards (`--shard K/N` on several CI machines) into one run that
//! compares and gates like any other.

use crate::status::RunStatus;
use std::collections::BTreeMap;

use crate::runfile::{self, RunFile};
use crate::store::{CaseRow, ScoreRow, VerdictTotals};

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

/// Joins runs of the same suite, model, prompt version, dataset version and repeats that
/// cover disjoint cases. The merged run gets `id`; its report is computed again from the cases,
/// with the judges' totals and agreement summed over the parts.
pub fn merge(parts: &[RunFile], id: &str) -> Result<RunFile, MergeError> {
    let first = parts.first().ok_or(MergeError::TooFew(0))?;
    if parts.len() < 2 {
        return Err(MergeError::TooFew(parts.len()));
    }
    for p in parts {
        if p.run.status != RunStatus::Finished {
            return Err(MergeError::Unfinished(p.run.id.clone()));
        }
        let checks: [(&'static str, &str, &str); 5] = [
            ("suite", &first.run.suite, &p.run.suite),
            ("model", &first.run.model, &p.run.model),
            (
                "prompt version",
                &first.run.prompt_version,
                &p.run.prompt_version,
            ),
            (
                "dataset version",
                &first.run.dataset_version,
                &p.run.dataset_version,
            ),
            ("scorers", &first.run.scorers_json, &p.run.scorers_json),
        ];
        for (what, ours, theirs) in checks {
            if ours != theirs {
                return Err(MergeError::Mismatch {
                    first: first.run.id.clone(),
                    other: p.run.id.clone(),
                    what,
                    ours: ours.to_string(),
                    theirs: theirs.to_string(),
                });
            }
        }
        if p.run.repeats != first.run.repeats {
            return Err(MergeError::Mismatch {
                first: first.run.id.clone(),
                other: p.run.id.clone(),
                what: "repeats",
                ours: first.run.repeats.to_string(),
                theirs: p.run.repeats.to_string(),
            });
        }
    }

    let mut owner: BTreeMap<(&str, i64), &str> = BTreeMap::new();
    for p in parts {
        for c in &p.cases {
            if let Some(other) = owner.insert((c.id.as_str(), c.repeat), p.run.id.as_str()) {
                return Err(MergeError::Overlap {
                    case: c.id.clone(),
                    repeat: c.repeat,
                    first: crate::id::RunId::new(other),
                    other: p.run.id.clone(),
                });
            }
        }
    }

    let mut run = first.run.clone();
    run.id = crate::id::RunId::new(id);
    run.planned_cases = parts.iter().map(|p| p.run.planned_cases).sum();
    run.started_at = parts
        .iter()
        .map(|p| p.run.started_at.clone())
        .min()
        .unwrap_or_default();
    run.finished_at = parts.iter().filter_map(|p| p.run.finished_at.clone()).max();
    run.case_limit = None;
    run.batch_id = None;
    run.stop_reason = None;
    // The selections of the parts (their shards) together: no single one describes the
    // merged run, so it keeps none.
    run.selection_json = None;

    let mut entries: Vec<&runfile::CaseEntry> = parts.iter().flat_map(|p| &p.cases).collect();
    entries.sort_by(|a, b| a.id.cmp(&b.id).then(a.repeat.cmp(&b.repeat)));
    let mut cases: Vec<CaseRow> = Vec::with_capacity(entries.len());
    let mut scores: Vec<ScoreRow> = Vec::new();
    for (seq, e) in entries.iter().enumerate() {
        let (c, s) = e.to_rows(id, seq as i64);
        cases.push(c);
        scores.extend(s);
    }

    let report = crate::analysis::summarize_with_judges(
        &run,
        &cases,
        &scores,
        &judge_totals(parts),
        &agreement(parts),
    );
    Ok(runfile::build(run, report, cases, scores))
}

/// The judges' totals of the parts, summed by scorer, judge and version.
fn judge_totals(parts: &[RunFile]) -> Vec<VerdictTotals> {
    let mut out: Vec<VerdictTotals> = Vec::new();
    for j in parts.iter().flat_map(|p| &p.report.judges) {
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

/// Vote agreement of the parts, summed by scorer.
fn agreement(parts: &[RunFile]) -> Vec<(String, i64, i64)> {
    let mut by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for a in parts.iter().flat_map(|p| &p.report.agreement) {
        let e = by.entry(a.scorer.clone()).or_default();
        e.0 += a.unanimous.total as i64;
        e.1 += a.unanimous.successes as i64;
    }
    by.into_iter().map(|(s, (n, u))| (s, n, u)).collect()
}
