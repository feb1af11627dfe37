//! Comparison of two runs, case by case: every metric with its delta, a 95% paired-bootstrap
//! interval and a p-value (McNemar's exact test for pass/fail metrics), the flipped cases with
//! their output diffs, and the prompt diff.

use crate::status::{CaseStatus, Outcome};
use serde_json::Value;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::analysis::RunHeader;
use crate::analysis::RunReport;
use crate::runfile::{CaseEntry, RunFile};
use crate::stats::Proportion;
use crate::stats::{self, Confusion};
use crate::store::RunRow;

mod codes;
mod columns;

use columns::{LabelCases, Means, Percentiles, Stat};

/// At most this many flipped cases carry their diff (the counts cover all of them).
pub const MAX_FLIPPED_SHOWN: usize = 50;

/// The repeats of one case in one run.
type Repeats<'a> = Vec<&'a CaseEntry>;

fn by_case(run: &RunFile) -> BTreeMap<&str, Repeats<'_>> {
    let mut out: BTreeMap<&str, Repeats<'_>> = BTreeMap::new();
    for c in &run.cases {
        out.entry(c.id.as_str()).or_default().push(c);
    }
    out
}

/// The case ids both runs have, in id order, with each run's repeats of them.
fn paired<'m, 'r>(
    b: &'m BTreeMap<&'r str, Repeats<'r>>,
    c: &'m BTreeMap<&'r str, Repeats<'r>>,
) -> (Vec<&'r str>, Vec<(&'m Repeats<'r>, &'m Repeats<'r>)>) {
    b.iter()
        .filter_map(|(id, r)| Some((*id, (r, c.get(id)?))))
        .unzip()
}

/// The cases of a stream in case id order, each with its repeats (consecutive entries of one
/// id); an error of the stream is passed on.
struct Grouped<I: Iterator> {
    inner: std::iter::Peekable<I>,
}

impl<I: Iterator> Grouped<I> {
    fn new(inner: I) -> Self {
        Grouped {
            inner: inner.peekable(),
        }
    }
}

impl<C: Borrow<CaseEntry>, E, I: Iterator<Item = Result<C, E>>> Iterator for Grouped<I> {
    type Item = Result<Vec<C>, E>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = match self.inner.next()? {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        let mut group = vec![first];
        while let Some(Ok(next)) = self.inner.peek() {
            if next.borrow().id != group[0].borrow().id {
                break;
            }
            match self.inner.next() {
                Some(Ok(c)) => group.push(c),
                _ => break,
            }
        }
        Some(Ok(group))
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

/// A metric evaluated case by case.
#[derive(Debug, Clone, PartialEq)]
enum Metric {
    PassRate,
    ErrorRate,
    Scorer(String),
    FieldAccuracy(String),
    FieldKappa(String, Vec<String>),
    FieldMae(String),
    CostPerCase,
    LatencyP95,
}

impl Metric {
    fn name(&self) -> String {
        match self {
            Metric::PassRate => "pass_rate".into(),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Scorer(s) => format!("scorer.{s}"),
            Metric::FieldAccuracy(f) => format!("field.{f}.accuracy"),
            Metric::FieldKappa(f, _) => format!("field.{f}.kappa"),
            Metric::FieldMae(f) => format!("field.{f}.mae"),
            Metric::CostPerCase => "cost_per_case".into(),
            Metric::LatencyP95 => "latency_p95_ms".into(),
        }
    }

    fn higher_is_better(&self) -> bool {
        !matches!(
            self,
            Metric::ErrorRate | Metric::FieldMae(_) | Metric::CostPerCase | Metric::LatencyP95
        )
    }

    /// Pass/fail metrics: a case's value is a rate over its repeats, tested with McNemar.
    fn is_binary(&self) -> bool {
        matches!(
            self,
            Metric::PassRate | Metric::ErrorRate | Metric::Scorer(_) | Metric::FieldAccuracy(_)
        )
    }

    /// The value of one case (the mean over its repeats), for per-case metrics.
    fn case_value<C: Borrow<CaseEntry>>(&self, repeats: &[C]) -> Option<f64> {
        let each = |c: &CaseEntry| -> Option<f64> {
            match self {
                Metric::PassRate => Some(f64::from(u8::from(c.status == CaseStatus::Pass))),
                Metric::ErrorRate => Some(f64::from(u8::from(c.status == CaseStatus::Error))),
                Metric::Scorer(s) => c
                    .scores
                    .iter()
                    .find(|x| &x.scorer == s)
                    .and_then(|x| match x.outcome {
                        Outcome::Pass => Some(1.0),
                        Outcome::Fail | Outcome::Error => Some(0.0),
                        Outcome::Skip => None,
                    }),
                Metric::FieldAccuracy(f) => {
                    let expected = c.expected.get(f)?;
                    let predicted = c.parsed.as_ref().and_then(|p| p.get(f));
                    Some(f64::from(u8::from(predicted == Some(expected))))
                }
                Metric::FieldMae(f) => {
                    let expected = c.expected.get(f)?.as_f64()?;
                    let predicted = c.parsed.as_ref()?.get(f)?.as_f64()?;
                    Some((predicted - expected).abs())
                }
                Metric::CostPerCase => (c.status != CaseStatus::Error).then_some(c.cost_usd),
                Metric::LatencyP95 => c.latency_ms,
                Metric::FieldKappa(..) => None,
            }
        };
        mean(repeats.iter().map(Borrow::borrow).filter_map(each))
    }
}

/// The (expected, predicted) label pairs of an enum field in a case's repeats, as indices
/// into `labels` (an unusable prediction is `(invalid)`, added at the end).
fn label_pairs<C: Borrow<CaseEntry>>(
    field: &str,
    labels: &mut Vec<String>,
    repeats: &[C],
) -> Vec<(usize, usize)> {
    let mut index = |label: &str| match labels.iter().position(|l| l == label) {
        Some(i) => i,
        None => {
            labels.push(label.to_string());
            labels.len() - 1
        }
    };
    repeats
        .iter()
        .map(Borrow::borrow)
        .filter_map(|c: &CaseEntry| {
            let expected = c.expected.get(field)?.as_str()?;
            let predicted = c
                .parsed
                .as_ref()
                .and_then(|p| p.get(field))
                .and_then(Value::as_str)
                .unwrap_or("(invalid)");
            Some((index(expected), index(predicted)))
        })
        .collect()
}

/// One metric's values over the paired cases, gathered case by case and kept small (a
/// comparison of runs of a million cases holds these, not the cases; see `columns`).
enum Column {
    /// The cases where both runs have a value: their (base, candidate) values.
    Means(Means),
    /// Every paired case's value in each run (or none), for a percentile.
    Percentile(Percentiles),
    /// Every paired case's (expected, predicted) label pairs in each run; `None` past
    /// `u16::MAX` labels (a confusion matrix of that many is no kappa).
    Labels(Option<LabelCases>),
}

impl Column {
    fn new(m: &Metric) -> Column {
        match m {
            Metric::LatencyP95 => Column::Percentile(Percentiles::default()),
            Metric::FieldKappa(_, known) => Column::Labels(Some(LabelCases::new(known))),
            _ => Column::Means(Means::default()),
        }
    }

    /// Adds a paired case: its repeats in each run.
    fn add<C: Borrow<CaseEntry>>(&mut self, m: &Metric, b: &[C], c: &[C]) {
        match self {
            Column::Means(p) => {
                if let (Some(x), Some(y)) = (m.case_value(b), m.case_value(c)) {
                    p.push(x, y);
                }
            }
            Column::Percentile(p) => p.push(m.case_value(b), m.case_value(c)),
            Column::Labels(held) => {
                let Metric::FieldKappa(field, _) = m else {
                    return;
                };
                if let Some(l) = held {
                    let x = label_pairs(field, &mut l.base_labels, b);
                    let y = label_pairs(field, &mut l.candidate_labels, c);
                    let most = usize::from(u16::MAX);
                    if l.base_labels.len() > most || l.candidate_labels.len() > most {
                        *held = None;
                    } else {
                        l.push(&x, &y);
                    }
                }
            }
        }
    }
}

/// Every metric over its column (`paired` cases in all): its values in both runs, the
/// paired-bootstrap delta, and the p-value with the test that gave it. The metrics with the
/// same number of cases are resampled together, on the same draws.
fn measure(
    metrics: &[Metric],
    columns: Vec<Column>,
    paired: usize,
    resamples: usize,
) -> Vec<MetricDelta> {
    // Each metric's values, estimate and cases, and what resamples it.
    let mut measured = Vec::with_capacity(metrics.len());
    let mut resampled: Vec<(usize, Stat)> = Vec::new();
    for (k, (m, column)) in metrics.iter().zip(columns).enumerate() {
        let (base, candidate, estimate, n, mcnemar, stat) = match column {
            Column::Percentile(p) => {
                let (base, candidate, stat) = p.finish(0.95);
                let estimate = base.zip(candidate).map(|(b, c)| c - b);
                (base, candidate, estimate, paired, None, Some(stat))
            }
            Column::Labels(held) => match held.and_then(LabelCases::finish) {
                Some((base, candidate, stat)) => {
                    let estimate = base.zip(candidate).map(|(b, c)| c - b);
                    (base, candidate, estimate, paired, None, Some(stat))
                }
                None => (None, None, None, paired, None, None),
            },
            Column::Means(means) => {
                let n = means.len();
                let (base, candidate, estimate) = means.means();
                // McNemar on the cases that flipped (with repeats: the majority outcome).
                let mcnemar = m.is_binary().then_some((means.down, means.up));
                let stat = means.resampled();
                (base, candidate, estimate, n, mcnemar, Some(stat))
            }
        };
        if let (Some(_), Some(stat)) = (estimate, stat) {
            resampled.push((k, stat));
        }
        measured.push((base, candidate, estimate, n, mcnemar));
    }
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); metrics.len()];
    let mut sizes: Vec<usize> = resampled.iter().map(|(k, _)| measured[*k].3).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for n in sizes {
        let (ks, stats): (Vec<usize>, Vec<Stat>) = resampled
            .extract_if(.., |(k, _)| measured[*k].3 == n)
            .unzip();
        for (k, v) in ks.into_iter().zip(columns::resample(n, resamples, stats)) {
            values[k] = v;
        }
    }
    metrics
        .iter()
        .zip(measured)
        .zip(values)
        .map(|((m, (base, candidate, estimate, n, mcnemar)), values)| {
            let delta = estimate.and_then(|d| stats::bootstrap_delta(d, &values));
            let (p_value, test, resamples) = match mcnemar {
                Some((down, up)) => (
                    (n > 0).then(|| stats::mcnemar_exact(down, up)),
                    "mcnemar",
                    None,
                ),
                None => (
                    delta.map(|d| d.p_value),
                    "bootstrap",
                    Some(resamples as u64),
                ),
            };
            MetricDelta {
                name: m.name(),
                higher_is_better: m.higher_is_better(),
                base,
                candidate,
                delta,
                p_value,
                test: test.into(),
                n: n as u64,
                resamples,
            }
        })
        .collect()
}

/// The metrics two runs can be compared on: overall rates, every scorer of either run, the
/// contract's fields, cost and latency.
fn metrics(base: &RunReport, cand: &RunReport) -> Vec<Metric> {
    let mut out = vec![Metric::PassRate, Metric::ErrorRate];
    let mut scorers = BTreeSet::new();
    let mut enums: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut integers = BTreeSet::new();
    for r in [base, cand] {
        scorers.extend(r.scorers.iter().map(|s| s.name.clone()));
        for e in &r.enum_fields {
            enums
                .entry(e.field.clone())
                .or_default()
                .extend(e.confusion.labels.iter().cloned());
        }
        integers.extend(r.integer_fields.iter().map(|i| i.field.clone()));
    }
    out.extend(scorers.into_iter().map(Metric::Scorer));
    for (field, labels) in enums {
        out.push(Metric::FieldAccuracy(field.clone()));
        let labels = labels.into_iter().filter(|l| l != "(invalid)").collect();
        out.push(Metric::FieldKappa(field, labels));
    }
    out.extend(integers.into_iter().map(Metric::FieldMae));
    out.push(Metric::CostPerCase);
    out.push(Metric::LatencyP95);
    out
}

/// Compares `cand` with `base`, pairing cases by id.
pub fn compare(base: &RunFile, cand: &RunFile) -> Comparison {
    compare_with(base, cand, stats::BOOTSTRAP_RESAMPLES)
}

/// `compare` with `resamples` resamples in each bootstrap.
pub fn compare_with(base: &RunFile, cand: &RunFile, resamples: usize) -> Comparison {
    // Each run's cases in id order (as `compare_cases` reads them); a case's repeats stay in
    // the file's order.
    fn sorted(r: &RunFile) -> impl Iterator<Item = Result<&CaseEntry, std::convert::Infallible>> {
        let mut cases: Vec<&CaseEntry> = r.cases.iter().collect();
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        cases.into_iter().map(Ok)
    }
    let c = compare_cases(
        (&base.run, &base.report),
        (&cand.run, &cand.report),
        sorted(base),
        sorted(cand),
        resamples,
    );
    match c {
        Ok(c) => c,
        Err(never) => match never {},
    }
}

/// The flipped cases of a comparison as they come: the counts, and the first few of each
/// direction with their diffs.
#[derive(Default)]
struct Flips {
    down: Vec<FlippedCase>,
    up: Vec<FlippedCase>,
    pass_to_fail: u64,
    fail_to_pass: u64,
}

impl Flips {
    fn add<C: Borrow<CaseEntry>>(&mut self, id: &str, b: &[C], c: &[C]) {
        let passes = |r: &[C]| Metric::PassRate.case_value(r).unwrap_or(0.0) >= 0.5;
        let flip = |direction: &str, failing: &CaseEntry| FlippedCase {
            case_id: id.to_string(),
            direction: direction.into(),
            failed: failures(failing),
            diff: output_diff(b[0].borrow(), c[0].borrow()),
        };
        match (passes(b), passes(c)) {
            (true, false) => {
                self.pass_to_fail += 1;
                if self.down.len() < MAX_FLIPPED_SHOWN {
                    self.down.push(flip("pass_to_fail", c[0].borrow()));
                }
            }
            (false, true) => {
                self.fail_to_pass += 1;
                if self.up.len() < MAX_FLIPPED_SHOWN {
                    self.up.push(flip("fail_to_pass", b[0].borrow()));
                }
            }
            _ => {}
        }
    }

    /// The flips shown: those to failing first, then those to passing, at most
    /// `MAX_FLIPPED_SHOWN` in all.
    fn shown(self) -> Vec<FlippedCase> {
        self.down
            .into_iter()
            .chain(self.up)
            .take(MAX_FLIPPED_SHOWN)
            .collect()
    }
}

/// A candidate case with repeats that passed some and failed others.
fn flaky_case<C: Borrow<CaseEntry>>(r: &[C]) -> Option<FlakyCase> {
    let passes = r
        .iter()
        .filter(|c| (*c).borrow().status == CaseStatus::Pass)
        .count() as u64;
    let repeats = r.len() as u64;
    (repeats > 1 && passes > 0 && passes < repeats).then(|| FlakyCase {
        case_id: r[0].borrow().id.clone(),
        passes,
        repeats,
    })
}

/// Compares two runs given as their run and report and their cases, each in case id order
/// (a case's repeats one after another), read once: what is held is each metric's values
/// per paired case (a few bytes each) and the first flipped cases, never the runs.
pub fn compare_cases<C: Borrow<CaseEntry>, E>(
    base: (&RunRow, &RunReport),
    cand: (&RunRow, &RunReport),
    base_cases: impl Iterator<Item = Result<C, E>>,
    cand_cases: impl Iterator<Item = Result<C, E>>,
    resamples: usize,
) -> Result<Comparison, E> {
    use std::cmp::Ordering;
    let metrics = metrics(base.1, cand.1);
    let mut columns: Vec<Column> = metrics.iter().map(Column::new).collect();
    let mut flips = Flips::default();
    let mut flaky = Vec::new();
    let (mut paired, mut only_base, mut only_candidate) = (0usize, 0u64, 0u64);
    let (mut bs, mut cs) = (Grouped::new(base_cases), Grouped::new(cand_cases));
    let (mut b, mut c) = (bs.next().transpose()?, cs.next().transpose()?);
    loop {
        let order = match (&b, &c) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x[0].borrow().id.cmp(&y[0].borrow().id),
        };
        if order != Ordering::Less
            && let Some(y) = &c
        {
            flaky.extend(flaky_case(y));
        }
        match (order, &b, &c) {
            (Ordering::Equal, Some(x), Some(y)) => {
                paired += 1;
                for (m, column) in metrics.iter().zip(&mut columns) {
                    column.add(m, x, y);
                }
                flips.add(&x[0].borrow().id, x, y);
            }
            (Ordering::Less, ..) => only_base += 1,
            _ => only_candidate += 1,
        }
        if order != Ordering::Greater {
            b = bs.next().transpose()?;
        }
        if order != Ordering::Less {
            c = cs.next().transpose()?;
        }
    }

    let deltas: Vec<MetricDelta> = measure(&metrics, columns, paired, resamples)
        .into_iter()
        // A metric neither run has a value for (no latency in two cached runs) is left out.
        .filter(|d| d.base.is_some() || d.candidate.is_some())
        .collect();

    let prompt_diff = if base.0.prompt_version != cand.0.prompt_version {
        match (&base.0.prompt_source, &cand.0.prompt_source) {
            (Some(a), Some(b)) => Some(line_diff(a, b, 3)),
            _ => None,
        }
    } else {
        None
    };
    let (pass_to_fail, fail_to_pass) = (flips.pass_to_fail, flips.fail_to_pass);
    Ok(Comparison {
        base: base.1.run.clone(),
        candidate: cand.1.run.clone(),
        paired: paired as u64,
        only_base,
        only_candidate,
        metrics: deltas,
        pass_to_fail,
        fail_to_pass,
        flip_p_value: stats::mcnemar_exact(pass_to_fail, fail_to_pass),
        flipped: flips.shown(),
        prompt_diff,
        flaky,
    })
}

/// The value of a metric (by name) over all the cases of one run, for absolute gates; `None`
/// when the run has no value for it (or no such metric).
pub fn run_value(run: &RunFile, name: &str) -> Option<f64> {
    let m = metrics(&run.report, &run.report)
        .into_iter()
        .find(|m| m.name() == name)?;
    let cases: Vec<Repeats<'_>> = by_case(run).into_values().collect();
    match &m {
        Metric::LatencyP95 => {
            let v: Vec<f64> = cases.iter().filter_map(|r| m.case_value(r)).collect();
            stats::percentile(&v, 0.95)
        }
        Metric::FieldKappa(field, known) => {
            let mut labels = known.clone();
            let mut pairs = Vec::new();
            for r in &cases {
                pairs.extend(label_pairs(field, &mut labels, r));
            }
            if labels.len() > usize::from(u16::MAX) {
                return None;
            }
            let k = labels.len();
            let mut counts = vec![vec![0u64; k]; k];
            for (e, p) in pairs {
                counts[e][p] += 1;
            }
            Confusion { labels, counts }.kappa()
        }
        _ => mean(cases.iter().filter_map(|r| m.case_value(r))),
    }
}

/// The model matrix of runs of one suite on several models (the first is the reference).
/// The recommendation is the cheapest model whose pass rate is not significantly below the
/// best model's (McNemar's exact test at `alpha` on the paired cases).
/// The model matrix of runs of one suite on several models, with the cheapest model shown as
/// good as the best: its pass rate's 95% interval against the best's stays above `-margin`
/// (non-inferiority). A model merely not significantly worse at `alpha` is noted, not picked.
pub fn matrix(runs: &[RunFile], alpha: f64, margin: f64) -> ModelMatrix {
    let rows: Vec<MatrixRow> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| MatrixRow {
            model: r.run.model.clone(),
            run_id: r.run.id.clone(),
            pass_rate: r.report.pass_rate,
            cost_per_case_usd: r.report.usage.cost_per_case_usd,
            latency_p50_ms: r.report.latency.p50_ms,
            latency_p95_ms: r.report.latency.p95_ms,
            vs_first: if i == 0 {
                None
            } else {
                pass_delta(&runs[0], r)
            },
        })
        .collect();
    let suite = runs
        .first()
        .map(|r| r.run.suite.clone())
        .unwrap_or_default();
    let Some(best) = best_row(&rows) else {
        return ModelMatrix {
            suite,
            rows,
            recommended: None,
            reason: "no runs".into(),
            margin,
            notes: Vec::new(),
        };
    };
    let contenders = Contenders::of(runs, &rows, best, alpha, margin);
    let pick = contenders
        .good
        .iter()
        .copied()
        .min_by(|&a, &b| {
            rows[a]
                .cost_per_case_usd
                .total_cmp(&rows[b].cost_per_case_usd)
        })
        .unwrap_or(best);
    let reason = recommendation_reason(&rows, best, pick, &contenders.intervals[pick], margin);
    ModelMatrix {
        suite,
        recommended: Some(rows[pick].model.clone()),
        rows,
        reason,
        margin,
        notes: contenders.notes,
    }
}

/// The pass rate of `cand` against `base` on their paired cases (only the pass rate: the
/// other metrics' bootstraps are not needed); `None` when no case pairs.
fn pass_delta(base: &RunFile, cand: &RunFile) -> Option<MetricDelta> {
    let (b, c) = (by_case(base), by_case(cand));
    let (_, pairs) = paired(&b, &c);
    if pairs.is_empty() {
        return None;
    }
    let m = Metric::PassRate;
    let mut column = Column::new(&m);
    for (x, y) in &pairs {
        column.add(&m, x, y);
    }
    let n = pairs.len();
    measure(&[m], vec![column], n, stats::BOOTSTRAP_RESAMPLES).pop()
}

/// The row of the best pass rate (between equals, the cheaper one); `None` without rows.
fn best_row(rows: &[MatrixRow]) -> Option<usize> {
    (0..rows.len()).max_by(|&a, &b| {
        rows[a]
            .pass_rate
            .rate
            .total_cmp(&rows[b].pass_rate.rate)
            // Between equals, the cheaper one is "best".
            .then(
                rows[b]
                    .cost_per_case_usd
                    .total_cmp(&rows[a].cost_per_case_usd),
            )
    })
}

/// A model's pass rate against the best's: (difference, 95% low, 95% high, paired cases).
type Versus = (f64, f64, f64, u64);

/// Each model against the best: the difference of pass rates with Newcombe's interval for
/// paired proportions (a bootstrap of two runs that never disagree would say [0, 0]).
fn versus_best(best: &RunFile, run: &RunFile) -> Option<Versus> {
    let (b, c) = (by_case(best), by_case(run));
    let (_, pairs) = paired(&b, &c);
    let passes = |r: &Repeats<'_>| Metric::PassRate.case_value(r).unwrap_or(0.0) >= 0.5;
    // [both pass, the best only, this one only, neither]
    let mut table = [0u64; 4];
    for (x, y) in &pairs {
        table[usize::from(!passes(x)) * 2 + usize::from(!passes(y))] += 1;
    }
    let (d, low, high) = stats::paired_difference(table[0], table[1], table[2], table[3])?;
    Some((d, low, high, pairs.len() as u64))
}

/// The models as good as the best (the best first), each model's interval against the best,
/// and notes on cheaper models not shown worse but not shown within the margin either.
struct Contenders {
    good: Vec<usize>,
    intervals: Vec<Option<Versus>>,
    notes: Vec<String>,
}

impl Contenders {
    /// Every model of `runs` against the `best` one.
    fn of(runs: &[RunFile], rows: &[MatrixRow], best: usize, alpha: f64, margin: f64) -> Self {
        // A cheaper model is as good as the best only when its 95% interval against the best
        // stays above the margin: "not significantly worse" alone may just mean too few cases.
        let mut notes = Vec::new();
        let mut good = vec![best];
        let mut intervals: Vec<Option<Versus>> = vec![None; runs.len()];
        for i in (0..runs.len()).filter(|&i| i != best) {
            let Some((x, low, high, n)) = versus_best(&runs[best], &runs[i]) else {
                continue;
            };
            intervals[i] = Some((x, low, high, n));
            let p = pass_delta(&runs[best], &runs[i])
                .and_then(|d| d.p_value)
                .unwrap_or(1.0);
            if low >= -margin {
                good.push(i);
            } else if p >= alpha && rows[i].cost_per_case_usd < rows[best].cost_per_case_usd {
                notes.push(format!(
                    "{} is not shown worse than {} ({}, McNemar {}), but not shown within the {} margin either: its 95% interval reaches {} at n = {n}, so more cases are needed to call it as good",
                    rows[i].model,
                    rows[best].model,
                    crate::metric::format_change("pass_rate", x),
                    stats::p_is(p, Some(alpha)),
                    crate::metric::format_change("pass_rate", margin).trim_start_matches('+'),
                    crate::metric::format_change("pass_rate", low),
                ));
            }
        }
        Contenders {
            good,
            intervals,
            notes,
        }
    }
}

/// Why `pick` is recommended: the best itself, or a cheaper model within the margin of it
/// (`interval` is the pick's against the best).
fn recommendation_reason(
    rows: &[MatrixRow],
    best: usize,
    pick: usize,
    interval: &Option<Versus>,
    margin: f64,
) -> String {
    let margin_text = crate::metric::format_change("pass_rate", margin);
    let margin_text = margin_text.trim_start_matches('+');
    if pick == best {
        format!(
            "{} has the best pass rate ({:.1}%) and no cheaper model is shown within {margin_text} of it (the 95% interval of the difference above −{margin_text})",
            rows[best].model,
            rows[best].pass_rate.rate * 100.0
        )
    } else {
        let change = |f: fn(&Versus) -> f64| {
            interval.as_ref().map_or_else(
                || "–".into(),
                |x| crate::metric::format_change("pass_rate", f(x)),
            )
        };
        format!(
            "{} costs ${:.6} a case against ${:.6} for {}, the best ({:.1}% against {:.1}% passing), and is within the {margin_text} margin of it (difference {}, 95% CI {} to {}, Newcombe)",
            rows[pick].model,
            rows[pick].cost_per_case_usd,
            rows[best].cost_per_case_usd,
            rows[best].model,
            rows[pick].pass_rate.rate * 100.0,
            rows[best].pass_rate.rate * 100.0,
            change(|x| x.0),
            change(|x| x.1),
            change(|x| x.2),
        )
    }
}

/// Candidate cases with repeats that passed some and failed others.
pub fn flaky(run: &RunFile) -> Vec<FlakyCase> {
    by_case(run)
        .into_values()
        .filter_map(|r| flaky_case(&r))
        .collect()
}

/// What made a case fail: its failing scorers, or its error kind.
fn failures(c: &CaseEntry) -> Vec<String> {
    if c.status == CaseStatus::Error {
        return vec![format!("error: {}", c.kind.map_or("error", |k| k.as_str()))];
    }
    c.scores
        .iter()
        .filter(|s| s.outcome == Outcome::Fail || s.outcome == Outcome::Error)
        .map(|s| s.scorer.clone())
        .collect()
}

/// The text a diff shows for an answer: pretty JSON when it is JSON (one field a line, so
/// that a diff points at the field that changed), else the text; an error shows its message.
fn answer_text(c: &CaseEntry) -> String {
    match (&c.parsed, &c.output) {
        (Some(p), _) if p.is_object() => serde_json::to_string_pretty(p).unwrap_or_default(),
        (_, Some(o)) => o.clone(),
        _ => format!(
            "({}: {})",
            c.kind.map_or("no output", |k| k.as_str()),
            c.message.as_deref().unwrap_or("")
        ),
    }
}

fn output_diff(base: &CaseEntry, cand: &CaseEntry) -> Vec<DiffLine> {
    line_diff(&answer_text(base), &answer_text(cand), 3)
}

/// A unified line diff with `context` unchanged lines around each change.
pub fn line_diff(a: &str, b: &str, context: usize) -> Vec<DiffLine> {
    let diff = similar::TextDiff::from_lines(a, b);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(context.min(1_000_000)).iter().enumerate() {
        if i > 0 {
            out.push(DiffLine {
                op: '~',
                text: "…".into(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let op = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                out.push(DiffLine {
                    op,
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
    }
    out
}

/// A candidate run against a base run, case by case (paired by case id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub base: RunHeader,
    pub candidate: RunHeader,
    /// Cases both runs answered (or failed); only these are compared.
    pub paired: u64,
    pub only_base: u64,
    pub only_candidate: u64,
    pub metrics: Vec<MetricDelta>,
    /// Cases whose overall pass/fail changed, and McNemar's exact test on them.
    pub pass_to_fail: u64,
    pub fail_to_pass: u64,
    pub flip_p_value: f64,
    /// The flipped cases, pass → fail first, then fail → pass, each in case id order.
    pub flipped: Vec<FlippedCase>,
    /// The prompt's unified diff when its version changed (and both texts are known).
    pub prompt_diff: Option<Vec<DiffLine>>,
    /// With repeats: candidate cases that passed some repeats and failed others.
    pub flaky: Vec<FlakyCase>,
}

/// One metric in both runs, over the paired cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDelta {
    /// `pass_rate`, `scorer.NAME`, `field.NAME.accuracy`, `cost_per_case`…
    pub name: String,
    pub higher_is_better: bool,
    pub base: Option<f64>,
    pub candidate: Option<f64>,
    /// Candidate − base with its 95% paired-bootstrap interval.
    pub delta: Option<crate::stats::Delta>,
    /// The p-value of "no change": McNemar's exact test for pass/fail metrics, else the
    /// bootstrap's.
    pub p_value: Option<f64>,
    /// `mcnemar` or `bootstrap`.
    pub test: String,
    /// Paired cases the metric is defined on.
    pub n: u64,
    /// The bootstrap's resamples, when the p-value is the bootstrap's: its smallest p-value
    /// is 1 / resamples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resamples: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlippedCase {
    pub case_id: String,
    /// `pass_to_fail` or `fail_to_pass`.
    pub direction: String,
    /// Scorers that failed (or the error kind) in the run where the case fails.
    pub failed: Vec<String>,
    pub diff: Vec<DiffLine>,
}

impl FlippedCase {
    /// The flip in words: `pass → fail` or `fail → pass`.
    pub fn arrow(&self) -> &'static str {
        if self.direction == "pass_to_fail" {
            "pass → fail"
        } else {
            "fail → pass"
        }
    }
}

/// One line of a diff: `-` only in the base, `+` only in the candidate, ` ` in both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffLine {
    pub op: char,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlakyCase {
    pub case_id: String,
    pub passes: u64,
    pub repeats: u64,
}

/// One suite run on several models: quality, cost and latency side by side, each model
/// against the first, and the recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMatrix {
    pub suite: String,
    pub rows: Vec<MatrixRow>,
    /// The cheapest model shown as good as the best (by pass rate, within `margin`).
    pub recommended: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// The non-inferiority margin, in pass-rate units (0.05 is 5 points).
    #[serde(default)]
    pub margin: f64,
    /// Cheaper models not shown worse, but not shown within the margin either.
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixRow {
    pub model: String,
    pub run_id: crate::id::RunId,
    pub pass_rate: Proportion,
    pub cost_per_case_usd: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Pass rate against the first model, on the cases both answered (none for the first).
    pub vs_first: Option<MetricDelta>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfile::ScoreEntry;
    use serde_json::json;

    /// A random run's repeats of each id: statuses, a scorer that also skips or is missing,
    /// an enum field with labels outside the known ones and unusable answers, an integer
    /// field, costs from a few prices or not, latencies in tenths of a millisecond or none.
    fn random_run(rng: &mut fastrand::Rng, ids: &[String], repeats: usize) -> Vec<CaseEntry> {
        let labels = ["a", "b", "c", "d", "e"];
        let mut out = Vec::new();
        for id in ids {
            for r in 0..rng.usize(1..=repeats) {
                let status = match rng.usize(0..10) {
                    0 => CaseStatus::Error,
                    1..4 => CaseStatus::Fail,
                    _ => CaseStatus::Pass,
                };
                let parsed = (status != CaseStatus::Error && rng.usize(0..8) > 0).then(|| {
                    let intent = match rng.usize(0..10) {
                        0 => json!(5),
                        1 => json!(format!("new-{}", rng.usize(0..3))),
                        _ => json!(labels[rng.usize(0..4)]),
                    };
                    json!({"intent": intent, "risk": rng.usize(1..6)})
                });
                let expected = match rng.usize(0..12) {
                    0 => json!({}),
                    _ => json!({"intent": labels[rng.usize(0..5)], "risk": rng.usize(1..6)}),
                };
                let scores = match rng.usize(0..6) {
                    0 => Vec::new(),
                    k => vec![ScoreEntry {
                        scorer: "contract".into(),
                        outcome: [Outcome::Pass, Outcome::Fail, Outcome::Skip, Outcome::Error]
                            [k % 4],
                        detail: None,
                    }],
                };
                let cost = match rng.usize(0..3) {
                    0 => rng.f64() * 1e-3,
                    _ => [0.000_015, 0.000_031_5, 0.0][rng.usize(0..3)],
                };
                let latency = (rng.usize(0..6) > 0).then(|| rng.usize(0..400) as f64 / 10.0);
                out.push(CaseEntry {
                    id: id.clone(),
                    repeat: r as i64,
                    status,
                    kind: None,
                    message: None,
                    request_hash: None,
                    vars: Value::Null,
                    expected,
                    tags: Value::Null,
                    output: None,
                    parsed,
                    scores,
                    input_tokens: 0,
                    cached_input_tokens: 0,
                    output_tokens: 0,
                    cost_usd: cost,
                    latency_ms: latency,
                    ttft_ms: None,
                    cache_hit: false,
                    attempts: 1,
                    finished_at: String::new(),
                    logprobs: None,
                });
            }
        }
        out
    }

    /// A metric over paired cases as it was measured when each metric had a bootstrap of its
    /// own over plain vectors of values.
    fn measured_alone(
        m: &Metric,
        pairs: &[(&Repeats<'_>, &Repeats<'_>)],
        resamples: usize,
    ) -> MetricDelta {
        let n = pairs.len();
        let all: Vec<usize> = (0..n).collect();
        let (base, candidate, delta, n, mcnemar) = match m {
            Metric::LatencyP95 => {
                let v = |r: &Repeats<'_>| m.case_value(r).unwrap_or(f64::NAN);
                let b: Vec<f64> = pairs.iter().map(|(x, _)| v(x)).collect();
                let c: Vec<f64> = pairs.iter().map(|(_, y)| v(y)).collect();
                let p95 = |v: &[f64], idx: &[usize]| {
                    let x: Vec<f64> = idx.iter().map(|&i| v[i]).filter(|x| !x.is_nan()).collect();
                    stats::percentile(&x, 0.95)
                };
                let delta = stats::paired_bootstrap_with(n, resamples, |idx| {
                    Some(p95(&c, idx)? - p95(&b, idx)?)
                });
                (p95(&b, &all), p95(&c, &all), delta, n, None)
            }
            Metric::FieldKappa(field, known) => {
                let strings = |r: &Repeats<'_>| -> Vec<(String, String)> {
                    r.iter()
                        .filter_map(|c| {
                            let e = c.expected.get(field)?.as_str()?;
                            let p = c.parsed.as_ref().and_then(|p| p.get(field));
                            let p = p.and_then(Value::as_str).unwrap_or("(invalid)");
                            Some((e.to_string(), p.to_string()))
                        })
                        .collect()
                };
                let b: Vec<_> = pairs.iter().map(|(x, _)| strings(x)).collect();
                let c: Vec<_> = pairs.iter().map(|(_, y)| strings(y)).collect();
                // The base's labels in the order seen, then the candidate's others.
                let seen = |cases: &[Vec<(String, String)>]| {
                    let mut labels = known.clone();
                    for (e, p) in cases.iter().flatten() {
                        for l in [e, p] {
                            if !labels.contains(l) {
                                labels.push(l.clone());
                            }
                        }
                    }
                    labels
                };
                let mut labels = seen(&b);
                for l in seen(&c) {
                    if !labels.contains(&l) {
                        labels.push(l);
                    }
                }
                let kappa = |cases: &[Vec<(String, String)>], idx: &[usize]| {
                    let at = |l: &str| labels.iter().position(|x| x == l).unwrap();
                    let mut counts = vec![vec![0u64; labels.len()]; labels.len()];
                    for &i in idx {
                        for (e, p) in &cases[i] {
                            counts[at(e)][at(p)] += 1;
                        }
                    }
                    let labels = labels.clone();
                    Confusion { labels, counts }.kappa()
                };
                let delta = stats::paired_bootstrap_with(n, resamples, |idx| {
                    Some(kappa(&c, idx)? - kappa(&b, idx)?)
                });
                (kappa(&b, &all), kappa(&c, &all), delta, n, None)
            }
            _ => {
                let v: Vec<(f64, f64)> = pairs
                    .iter()
                    .filter_map(|(x, y)| Some((m.case_value(x)?, m.case_value(y)?)))
                    .collect();
                let delta = stats::paired_bootstrap_with(v.len(), resamples, |idx| {
                    Some(idx.iter().map(|&i| v[i].1 - v[i].0).sum::<f64>() / idx.len() as f64)
                });
                let down = v.iter().filter(|p| p.0 >= 0.5 && p.1 < 0.5).count() as u64;
                let up = v.iter().filter(|p| p.0 < 0.5 && p.1 >= 0.5).count() as u64;
                let (b, c) = (mean(v.iter().map(|p| p.0)), mean(v.iter().map(|p| p.1)));
                (b, c, delta, v.len(), m.is_binary().then_some((down, up)))
            }
        };
        let (p_value, test, resamples) = match mcnemar {
            Some((down, up)) => (
                (n > 0).then(|| stats::mcnemar_exact(down, up)),
                "mcnemar",
                None,
            ),
            None => (
                delta.map(|d| d.p_value),
                "bootstrap",
                Some(resamples as u64),
            ),
        };
        MetricDelta {
            name: m.name(),
            higher_is_better: m.higher_is_better(),
            base,
            candidate,
            delta,
            p_value,
            test: test.into(),
            n: n as u64,
            resamples,
        }
    }

    #[test]
    fn every_metric_gives_what_its_own_bootstrap_gave_bit_for_bit() {
        let known = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let metrics = [
            Metric::PassRate,
            Metric::ErrorRate,
            Metric::Scorer("contract".into()),
            Metric::FieldAccuracy("intent".into()),
            Metric::FieldKappa("intent".into(), known),
            Metric::FieldMae("risk".into()),
            Metric::CostPerCase,
            Metric::LatencyP95,
        ];
        let mut rng = fastrand::Rng::with_seed(19);
        for round in 0..60 {
            let ids = |rng: &mut fastrand::Rng| {
                let mut v: Vec<String> = (0..rng.usize(0..120))
                    .map(|_| format!("c{:03}", rng.usize(0..150)))
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            let repeats = if round % 3 == 0 { 3 } else { 1 };
            let (b_ids, c_ids) = (ids(&mut rng), ids(&mut rng));
            let mut base = random_run(&mut rng, &b_ids, repeats);
            let mut cand = random_run(&mut rng, &c_ids, repeats);
            if round % 10 == 9 {
                // Every case the same in each run: each metric's resamples are all alike.
                for (k, run) in [&mut base, &mut cand].into_iter().enumerate() {
                    run.dedup_by(|a, b| a.id == b.id);
                    for c in run.iter_mut() {
                        c.status = CaseStatus::Pass;
                        c.expected = json!({"intent": "a", "risk": 3});
                        let intent = ["a", "new-1"][k];
                        c.parsed = Some(json!({"intent": intent, "risk": 2}));
                        c.scores.clear();
                        c.cost_usd = 0.000_015 * (k + 1) as f64;
                        c.latency_ms = Some(12.3);
                    }
                }
            }
            fn group(run: &[CaseEntry]) -> BTreeMap<&str, Repeats<'_>> {
                let mut out: BTreeMap<&str, Repeats<'_>> = BTreeMap::new();
                for c in run {
                    out.entry(c.id.as_str()).or_default().push(c);
                }
                out
            }
            let (b, c) = (group(&base), group(&cand));
            let (_, pairs) = paired(&b, &c);
            let resamples = 1 + rng.usize(0..150);
            let mut columns: Vec<Column> = metrics.iter().map(Column::new).collect();
            for (x, y) in &pairs {
                for (m, column) in metrics.iter().zip(&mut columns) {
                    column.add(m, x, y);
                }
            }
            let together = measure(&metrics, columns, pairs.len(), resamples);
            for (m, got) in metrics.iter().zip(together) {
                let alone = measured_alone(m, &pairs, resamples);
                assert_eq!(format!("{got:?}"), format!("{alone:?}"), "round {round}");
            }
        }
    }

    #[test]
    fn line_diff_marks_changed_lines_with_context() {
        let d = line_diff("a\nb\nc\n", "a\nB\nc\n", 1);
        let ops: String = d.iter().map(|l| l.op).collect();
        assert_eq!(ops, " -+ ");
        assert_eq!(d[1].text, "b");
        assert_eq!(d[2].text, "B");
        assert!(line_diff("same\n", "same\n", 3).is_empty());
    }
}
