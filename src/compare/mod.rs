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
/// comparison of runs of a million cases holds these, not the cases).
enum Column {
    /// The cases where both runs have a value: their (base, candidate) values.
    Pairs(Pairs),
    /// Every paired case's value in each run (NaN: none), for a percentile.
    Each { base: Vec<f64>, candidate: Vec<f64> },
    /// Every paired case's (expected, predicted) label pairs in each run; `None` past
    /// `u16::MAX` labels (a confusion matrix of that many is no kappa).
    Labels(Option<LabelColumn>),
}

impl Column {
    fn new(m: &Metric) -> Column {
        match m {
            Metric::LatencyP95 => Column::Each {
                base: Vec::new(),
                candidate: Vec::new(),
            },
            Metric::FieldKappa(_, known) => Column::Labels(Some(LabelColumn {
                base_labels: known.clone(),
                base: LabelPairs::default(),
                candidate_labels: known.clone(),
                candidate: LabelPairs::default(),
            })),
            _ => Column::Pairs(Pairs::Small(Vec::new())),
        }
    }

    /// Adds a paired case: its repeats in each run.
    fn add<C: Borrow<CaseEntry>>(&mut self, m: &Metric, b: &[C], c: &[C]) {
        match self {
            Column::Pairs(p) => {
                if let (Some(x), Some(y)) = (m.case_value(b), m.case_value(c)) {
                    p.push(x, y);
                }
            }
            Column::Each { base, candidate } => {
                base.push(m.case_value(b).unwrap_or(f64::NAN));
                candidate.push(m.case_value(c).unwrap_or(f64::NAN));
            }
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
                        l.base.push(&x);
                        l.candidate.push(&y);
                    }
                }
            }
        }
    }
}

/// (base, candidate) values of a metric: one byte a case while both are whole numbers from 0
/// to 15 (pass/fail, rates of one repeat, most absolute errors of integer fields); else two
/// indices into the distinct values while there are at most 65,536 of them (costs: a few
/// prices times a few token counts); else two floats. The values read back are the ones
/// pushed, bit for bit.
enum Pairs {
    Small(Vec<u8>),
    Distinct {
        values: Vec<f64>,
        index: std::collections::HashMap<u64, u16>,
        pairs: Vec<[u16; 2]>,
    },
    Floats(Vec<(f64, f64)>),
}

impl Pairs {
    fn small(x: f64) -> Option<u8> {
        ((0.0..=15.0).contains(&x) && x.fract() == 0.0 && x.is_sign_positive()).then_some(x as u8)
    }

    /// The index of `x` among `values` (added when new); `None` past 65,536 values.
    fn intern(
        values: &mut Vec<f64>,
        index: &mut std::collections::HashMap<u64, u16>,
        x: f64,
    ) -> Option<u16> {
        if let Some(&i) = index.get(&x.to_bits()) {
            return Some(i);
        }
        let i = u16::try_from(values.len()).ok()?;
        values.push(x);
        index.insert(x.to_bits(), i);
        Some(i)
    }

    fn push(&mut self, b: f64, c: f64) {
        if let Pairs::Small(v) = self {
            if let (Some(x), Some(y)) = (Self::small(b), Self::small(c)) {
                v.push(x | y << 4);
                return;
            }
            let (mut values, mut index) = (Vec::new(), std::collections::HashMap::new());
            let mut pairs = Vec::with_capacity(v.len() + 1);
            for &p in v.iter() {
                let (x, y) = Self::unpack(p);
                // At most 16 values: always room.
                let x = Self::intern(&mut values, &mut index, x).unwrap_or_default();
                let y = Self::intern(&mut values, &mut index, y).unwrap_or_default();
                pairs.push([x, y]);
            }
            *self = Pairs::Distinct {
                values,
                index,
                pairs,
            };
        }
        if let Pairs::Distinct {
            values,
            index,
            pairs,
        } = self
        {
            let x = Self::intern(values, index, b);
            let y = Self::intern(values, index, c);
            if let (Some(x), Some(y)) = (x, y) {
                pairs.push([x, y]);
                return;
            }
            let all = (0..pairs.len()).map(|i| self.get(i)).collect();
            *self = Pairs::Floats(all);
        }
        if let Pairs::Floats(v) = self {
            v.push((b, c));
        }
    }

    fn unpack(p: u8) -> (f64, f64) {
        (f64::from(p & 15), f64::from(p >> 4))
    }

    fn len(&self) -> usize {
        match self {
            Pairs::Small(v) => v.len(),
            Pairs::Distinct { pairs, .. } => pairs.len(),
            Pairs::Floats(v) => v.len(),
        }
    }

    /// The `i`th case's (base, candidate) values.
    fn get(&self, i: usize) -> (f64, f64) {
        match self {
            Pairs::Small(v) => Self::unpack(v[i]),
            Pairs::Distinct { values, pairs, .. } => {
                let [x, y] = pairs[i];
                (values[usize::from(x)], values[usize::from(y)])
            }
            Pairs::Floats(v) => v[i],
        }
    }
}

/// An enum field's label pairs in both runs, each numbered by the run's own list of labels
/// (the field's known labels, then the others as they come).
struct LabelColumn {
    base_labels: Vec<String>,
    base: LabelPairs,
    candidate_labels: Vec<String>,
    candidate: LabelPairs,
}

impl LabelColumn {
    /// One list of labels, numbered as a comparison of whole runs numbers them (the base's
    /// labels, then the candidate's others, each in the order first seen), with the
    /// candidate's pairs renumbered into it; `None` past `u16::MAX` labels.
    fn finish(self) -> Option<(Vec<String>, LabelPairs, LabelPairs)> {
        let mut labels = self.base_labels;
        let mut index: std::collections::HashMap<&str, u16> = std::collections::HashMap::new();
        let mut renumber = Vec::with_capacity(self.candidate_labels.len());
        for (i, l) in labels.iter().enumerate() {
            index.insert(l.as_str(), i as u16);
        }
        let mut added = Vec::new();
        for l in &self.candidate_labels {
            let at = match index.get(l.as_str()) {
                Some(&i) => i,
                None => {
                    let i = u16::try_from(labels.len() + added.len()).ok()?;
                    added.push(l.clone());
                    i
                }
            };
            renumber.push(at);
        }
        labels.extend(added);
        let mut candidate = self.candidate;
        for pair in &mut candidate.pairs {
            *pair = [
                renumber[usize::from(pair[0])],
                renumber[usize::from(pair[1])],
            ];
        }
        Some((labels, self.base, candidate))
    }
}

/// The label pairs of each case, in case order: one array while every case has exactly one
/// pair (one repeat with an expected label, the usual), with where each case ends otherwise.
#[derive(Default)]
struct LabelPairs {
    pairs: Vec<[u16; 2]>,
    ends: Option<Vec<u32>>,
}

impl LabelPairs {
    /// Adds a case's pairs (indices below `u16::MAX`, as `Column::add` keeps them).
    fn push(&mut self, case: &[(usize, usize)]) {
        if self.ends.is_none() && case.len() != 1 {
            self.ends = Some((1..=self.pairs.len() as u32).collect());
        }
        self.pairs
            .extend(case.iter().map(|&(e, p)| [e as u16, p as u16]));
        if let Some(ends) = &mut self.ends {
            ends.push(self.pairs.len() as u32);
        }
    }

    fn len(&self) -> usize {
        self.ends.as_ref().map_or(self.pairs.len(), Vec::len)
    }

    fn case(&self, i: usize) -> &[[u16; 2]] {
        match &self.ends {
            None => &self.pairs[i..=i],
            Some(ends) => {
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                &self.pairs[start..ends[i] as usize]
            }
        }
    }
}

/// Cohen's kappa of the label pairs of the cases `idx`.
fn kappa_of(labels: &[String], cases: &LabelPairs, idx: &[usize]) -> Option<f64> {
    let k = labels.len();
    let mut counts = vec![vec![0u64; k]; k];
    for &i in idx {
        for &[e, p] in cases.case(i) {
            counts[usize::from(e)][usize::from(p)] += 1;
        }
    }
    Confusion {
        labels: labels.to_vec(),
        counts,
    }
    .kappa()
}

/// One metric over the `n` paired cases, from its column: its values in both runs, the
/// paired-bootstrap delta, and the p-value with the test that gave it. The bootstrap
/// resamples plain numbers.
fn measure(m: &Metric, column: Column, n: usize, resamples: usize) -> MetricDelta {
    let (base, candidate, delta, n) = match column {
        Column::Each { base, candidate } => {
            let p95 = |v: &[f64], idx: &[usize]| {
                let x: Vec<f64> = idx.iter().map(|&i| v[i]).filter(|x| !x.is_nan()).collect();
                stats::percentile(&x, 0.95)
            };
            let all: Vec<usize> = (0..n).collect();
            let delta = stats::paired_bootstrap_with(n, resamples, |idx| {
                Some(p95(&candidate, idx)? - p95(&base, idx)?)
            });
            (p95(&base, &all), p95(&candidate, &all), delta, n)
        }
        Column::Labels(held) => match held.and_then(LabelColumn::finish) {
            Some((labels, b, c)) => {
                let all: Vec<usize> = (0..n).collect();
                let delta = stats::paired_bootstrap_with(n, resamples, |idx| {
                    Some(kappa_of(&labels, &c, idx)? - kappa_of(&labels, &b, idx)?)
                });
                (
                    kappa_of(&labels, &b, &all),
                    kappa_of(&labels, &c, &all),
                    delta,
                    n,
                )
            }
            None => (None, None, None, n),
        },
        Column::Pairs(pairs) => {
            // Cases where both runs have a value; read in place (as `mean_difference_with`
            // would read them, term for term).
            let n = pairs.len();
            let base = mean((0..n).map(|i| pairs.get(i).0));
            let cand = mean((0..n).map(|i| pairs.get(i).1));
            let delta = stats::paired_bootstrap_with(n, resamples, |idx| {
                let sum = idx
                    .iter()
                    .map(|&i| {
                        let (b, c) = pairs.get(i);
                        c - b
                    })
                    .sum::<f64>();
                Some(sum / idx.len() as f64)
            });
            let values = || (0..n).map(|i| pairs.get(i));
            if m.is_binary() {
                // McNemar on the cases that flipped (with repeats: the majority outcome).
                let down = values().filter(|v| v.0 >= 0.5 && v.1 < 0.5).count() as u64;
                let up = values().filter(|v| v.0 < 0.5 && v.1 >= 0.5).count() as u64;
                return MetricDelta {
                    name: m.name(),
                    higher_is_better: m.higher_is_better(),
                    base,
                    candidate: cand,
                    delta,
                    p_value: (n > 0).then(|| stats::mcnemar_exact(down, up)),
                    test: "mcnemar".into(),
                    n: n as u64,
                    resamples: None,
                };
            }
            (base, cand, delta, n)
        }
    };
    MetricDelta {
        name: m.name(),
        higher_is_better: m.higher_is_better(),
        base,
        candidate,
        delta,
        p_value: delta.map(|d| d.p_value),
        test: "bootstrap".into(),
        n: n as u64,
        resamples: Some(resamples as u64),
    }
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

    let deltas: Vec<MetricDelta> = metrics
        .iter()
        .zip(columns)
        .map(|(m, column)| measure(m, column, paired, resamples))
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
            let mut pairs = LabelPairs::default();
            for r in &cases {
                pairs.push(&label_pairs(field, &mut labels, r));
            }
            if labels.len() > usize::from(u16::MAX) {
                return None;
            }
            let all: Vec<usize> = (0..pairs.len()).collect();
            kappa_of(&labels, &pairs, &all)
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
    Some(measure(&m, column, pairs.len(), stats::BOOTSTRAP_RESAMPLES))
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

    #[test]
    fn pairs_give_back_the_values_pushed_bit_for_bit() {
        let mut p = Pairs::Small(Vec::new());
        for (b, c) in [(1.0, 0.0), (0.0, 1.0), (15.0, 3.0)] {
            p.push(b, c);
        }
        let values = |p: &Pairs| (0..p.len()).map(|i| p.get(i)).collect::<Vec<_>>();
        assert!(matches!(p, Pairs::Small(_)));
        assert_eq!(values(&p), [(1.0, 0.0), (0.0, 1.0), (15.0, 3.0)]);
        // A rate of repeats, a negative zero, a large number: distinct values from then on.
        let pushed = [(0.5, 1.0), (-0.0, 0.0), (16.0, 2.0)];
        for (b, c) in pushed {
            p.push(b, c);
        }
        assert!(matches!(p, Pairs::Distinct { .. }));
        let v = values(&p);
        assert_eq!(v[3..], pushed);
        assert!(v[4].0.is_sign_negative() && v[4].1.is_sign_positive());
        assert_eq!(v[..3], [(1.0, 0.0), (0.0, 1.0), (15.0, 3.0)]);
        // Past 65,536 distinct values: floats.
        for i in 0..70_000 {
            p.push(f64::from(i) + 0.25, 1.0);
        }
        assert!(matches!(p, Pairs::Floats(_)));
        let v = values(&p);
        assert_eq!(v.len(), 70_006);
        assert_eq!(
            v[..6],
            [
                (1.0, 0.0),
                (0.0, 1.0),
                (15.0, 3.0),
                (0.5, 1.0),
                (-0.0, 0.0),
                (16.0, 2.0)
            ]
        );
        assert_eq!(v[70_005], (69_999.25, 1.0));
    }

    #[test]
    fn label_pairs_keep_each_case_apart() {
        let mut l = LabelPairs::default();
        l.push(&[(0, 1)]);
        l.push(&[(1, 1)]);
        assert!(l.ends.is_none(), "one pair a case needs no ends");
        l.push(&[]);
        l.push(&[(2, 0), (0, 0)]);
        assert_eq!(l.len(), 4);
        assert_eq!(l.case(0), [[0, 1]]);
        assert_eq!(l.case(1), [[1, 1]]);
        assert!(l.case(2).is_empty());
        assert_eq!(l.case(3), [[2, 0], [0, 0]]);
    }

    #[test]
    fn labels_are_numbered_as_for_whole_runs() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut base = LabelPairs::default();
        base.push(&[(0, 2)]); // a → c
        let mut candidate = LabelPairs::default();
        candidate.push(&[(0, 2)]); // a → d (its own numbering: a, b, d, c)
        candidate.push(&[(1, 3)]); // b → c
        let column = LabelColumn {
            base_labels: s(&["a", "b", "c"]),
            base,
            candidate_labels: s(&["a", "b", "d", "c"]),
            candidate,
        };
        let (labels, b, c) = column.finish().unwrap();
        // The base's labels, then the candidate's others in the order it first gave them.
        assert_eq!(labels, s(&["a", "b", "c", "d"]));
        assert_eq!(b.case(0), [[0, 2]]);
        assert_eq!(c.case(0), [[0, 3]]);
        assert_eq!(c.case(1), [[1, 2]]);
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
