//! The per-case values a comparison keeps for its bootstraps, and the bootstraps of all its
//! metrics on the same resamples.
//!
//! A bootstrap resamples the paired cases by index, so each case's values must be at hand
//! until the end; and a resample's mean must add its values in the order they were drawn to
//! give the numbers it gave (another order rounds differently). So a column keeps each
//! distinct value (or pair of values) once, and for each case its number among them, in as
//! few bits as their count needs (`codes::Codes`): no bit at all for a metric equal in every case,
//! one for a pass/fail metric whose cases pass or fail alike in both runs, nine for a run's
//! latencies when it has at most 511 distinct ones (they are kept to a tenth of a
//! millisecond). Bits still grow with the cases, a few bytes a case for all the metrics
//! together, but nothing else does.
//!
//! The metrics with the same number of cases are resampled together, one block of drawn
//! indices at a time (`stats::bootstrap_draws`): the indices their separate bootstraps drew,
//! so every number is theirs bit for bit, drawn once instead of once a metric. Before that,
//! their numbers are repacked case by case into rows (`Rows`: all of a case's numbers in one
//! 64-bit row while they fit), so that a drawn case is one read, not one a metric.

use std::collections::HashMap;

use super::codes::Codes;
use crate::stats::{self, Confusion};

/// A statistic on resamples of one column's cases, updated case by case as they are drawn.
pub(super) enum Stat {
    Mean(MeanDraws),
    Percentile(PercentileDraws),
    Kappa(KappaDraws),
}

impl Stat {
    /// Whether every case of the column is the same: then every resample is too.
    fn is_constant(&self) -> bool {
        match self {
            Stat::Mean(m) => m.terms.len() <= 1,
            Stat::Percentile(p) => p.base.kinds() <= 1 && p.candidate.kinds() <= 1,
            Stat::Kappa(k) => k.kinds.len() <= 1,
        }
    }

    /// The numbers each case has in this column, taken out: one list, or two for a
    /// percentile (one a run). `add` is then given a drawn case's numbers in the same order.
    fn take_codes(&mut self) -> Vec<Codes> {
        let take = std::mem::take;
        match self {
            Stat::Mean(m) => vec![take(&mut m.codes)],
            Stat::Percentile(p) => vec![take(&mut p.base.codes), take(&mut p.candidate.codes)],
            Stat::Kappa(k) => vec![take(&mut k.codes)],
        }
    }

    /// Adds a drawn case by its numbers (see `take_codes`).
    #[inline(always)]
    fn add(&mut self, codes: [u64; 2]) {
        match self {
            Stat::Mean(m) => m.sum += m.terms[codes[0] as usize],
            Stat::Percentile(p) => {
                p.base.counts[codes[0] as usize] += 1;
                p.candidate.counts[codes[1] as usize] += 1;
            }
            Stat::Kappa(k) => {
                let (b, c) = &k.kinds[codes[0] as usize];
                count(&mut k.base, b, 1);
                count(&mut k.candidate, c, 1);
            }
        }
    }

    /// The statistic of the resample drawn since the last call; starts the next.
    fn end(&mut self) -> Option<f64> {
        match self {
            Stat::Mean(m) => m.end(),
            Stat::Percentile(p) => p.end(),
            Stat::Kappa(k) => k.end(),
        }
    }
}

/// Every column's numbers of a case side by side in one row of at most 64 bits (in as many
/// rows as it takes), so that a drawn case is read from one place rather than from a column
/// each: at a million cases the columns are megabytes, and a draw read from each was a
/// cache miss each.
struct Rows {
    /// Each row's numbers, one list a group of columns.
    groups: Vec<Codes>,
    /// Where each statistic's numbers are: (group, shift, mask) for each of its (at most 2;
    /// a mask of 0 for a number that is always 0).
    lanes: Vec<[(usize, u32, u64); 2]>,
}

impl Rows {
    /// Packs the columns of `stats` (`n` cases each), freeing them as it goes.
    fn pack(n: usize, stats: &mut [&mut Stat]) -> Rows {
        let mut columns = Vec::new();
        let mut lanes = Vec::with_capacity(stats.len());
        let mut groups: Vec<u32> = Vec::new();
        for s in stats.iter_mut() {
            let mut lane = [(0, 0, 0); 2];
            for (k, codes) in s.take_codes().into_iter().enumerate() {
                let width = codes.width();
                // A new group when this column's bits do not fit in the last one's row.
                let g = match groups.last() {
                    Some(&used) if used + width <= 64 => groups.len() - 1,
                    _ => {
                        groups.push(0);
                        groups.len() - 1
                    }
                };
                lane[k] = match width {
                    0 => (g, 0, 0),
                    w => (g, groups[g], super::codes::mask(w)),
                };
                groups[g] += width;
                columns.push((lane[k], codes.into_values()));
            }
            lanes.push(lane);
        }
        let mut rows: Vec<Codes> = groups.iter().map(|&w| Codes::with_width(w)).collect();
        let mut row = vec![0u64; groups.len()];
        for _ in 0..n {
            row.fill(0);
            for ((group, shift, _), values) in columns.iter_mut() {
                // Every column has a number a case.
                let v = values.next().unwrap_or(0);
                // A number always 0 has shift 0 (its group may be full).
                row[*group] |= v << *shift;
            }
            for (codes, &r) in rows.iter_mut().zip(&row) {
                codes.push(r);
            }
        }
        Rows {
            groups: rows,
            lanes,
        }
    }

    /// The numbers of statistic `k` in a case's rows, as `Stat::add` takes them.
    #[inline]
    fn of(&self, row: &[u64], k: usize) -> [u64; 2] {
        self.lanes[k].map(|(group, shift, mask)| (row[group] >> shift) & mask)
    }
}

/// Resamples `n` cases `resamples` times for every statistic at once, on the indices
/// `stats::paired_bootstrap_with(n, resamples, …)` draws: each statistic's values on the
/// resamples it is defined on. A column whose cases are all the same has the same value on
/// every resample, computed once. The others are updated case by case as drawn, each in the
/// order drawn (a mean's sum is a chain of additions, which run side by side this way), from
/// the drawn case's row (`Rows`).
pub(super) fn resample(n: usize, resamples: usize, mut stats: Vec<Stat>) -> Vec<Vec<f64>> {
    let resamples = resamples.max(1);
    let mut values = vec![Vec::new(); stats.len()];
    let mut drawn = Vec::new();
    for (k, s) in stats.iter_mut().enumerate() {
        if s.is_constant() {
            // Any case stands for every case.
            if n > 0 {
                let mut first = [0; 2];
                for (f, codes) in first.iter_mut().zip(s.take_codes()) {
                    *f = codes.into_values().next().unwrap_or(0);
                }
                for _ in 0..n {
                    s.add(first);
                }
            }
            if let Some(v) = s.end() {
                values[k] = vec![v; resamples];
            }
            continue;
        }
        values[k].reserve_exact(resamples);
        drawn.push((k, s));
    }
    if drawn.is_empty() {
        return values;
    }
    let rows = {
        let mut stats: Vec<&mut Stat> = drawn.iter_mut().map(|(_, s)| &mut **s).collect();
        Rows::pack(n, &mut stats)
    };
    // A block's rows are read first, then added in the order drawn: the reads do not wait on
    // each other (nor on the sums), so the processor has many of them under way at once,
    // where reading each row as its case is added waits out each cache miss in turn.
    let width = rows.groups.len();
    let mut block_rows: Vec<u64> = Vec::with_capacity(n.min(stats::DRAWS_BLOCK) * width);
    stats::bootstrap_draws(n, resamples, |block, last| {
        block_rows.clear();
        match rows.groups.as_slice() {
            [one] => block_rows.extend(block.iter().map(|&i| one.get(i))),
            _ => {
                for &i in block {
                    block_rows.extend(rows.groups.iter().map(|g| g.get(i)));
                }
            }
        }
        for row in block_rows.chunks_exact(width) {
            for (j, (_, s)) in drawn.iter_mut().enumerate() {
                s.add(rows.of(row, j));
            }
        }
        if last {
            for (k, s) in drawn.iter_mut() {
                values[*k].extend(s.end());
            }
        }
    });
    values
}

/// A mean metric's (base, candidate) values over the cases where both runs have one, with
/// what the comparison reads of them in case order: both means, the estimate of the mean
/// difference, and the flips McNemar's test counts.
pub(super) struct Means {
    pairs: Vec<(f64, f64)>,
    index: HashMap<(u64, u64), u32>,
    codes: Codes,
    base_sum: f64,
    candidate_sum: f64,
    /// Σ (candidate − base) in case order, as `Iterator::sum` adds (from −0.0).
    difference_sum: f64,
    /// Cases from at least 0.5 to below, and from below to at least 0.5.
    pub down: u64,
    pub up: u64,
}

impl Default for Means {
    fn default() -> Self {
        Means {
            pairs: Vec::new(),
            index: HashMap::new(),
            codes: Codes::default(),
            base_sum: 0.0,
            candidate_sum: 0.0,
            difference_sum: -0.0,
            down: 0,
            up: 0,
        }
    }
}

impl Means {
    pub fn push(&mut self, b: f64, c: f64) {
        let next = self.pairs.len() as u32;
        let code = *self.index.entry((b.to_bits(), c.to_bits())).or_insert(next);
        if code == next {
            self.pairs.push((b, c));
        }
        self.codes.push(u64::from(code));
        self.base_sum += b;
        self.candidate_sum += c;
        self.difference_sum += c - b;
        if b >= 0.5 && c < 0.5 {
            self.down += 1;
        }
        if b < 0.5 && c >= 0.5 {
            self.up += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// The base's mean, the candidate's, and the mean difference.
    pub fn means(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let n = self.len() as f64;
        let of = |sum: f64| (self.len() > 0).then(|| sum / n);
        (
            of(self.base_sum),
            of(self.candidate_sum),
            of(self.difference_sum),
        )
    }

    /// The mean difference on resamples.
    pub fn resampled(self) -> Stat {
        Stat::Mean(MeanDraws {
            terms: self.pairs.iter().map(|&(b, c)| c - b).collect(),
            n: self.len() as f64,
            codes: self.codes,
            sum: -0.0,
        })
    }
}

pub(super) struct MeanDraws {
    /// Candidate − base of each distinct pair.
    terms: Vec<f64>,
    codes: Codes,
    n: f64,
    sum: f64,
}

impl MeanDraws {
    fn end(&mut self) -> Option<f64> {
        let mean = self.sum / self.n;
        self.sum = -0.0;
        Some(mean)
    }
}

/// One run's value of each case (or none), for a percentile: the distinct values, and each
/// case's number among them (0: no value; then 1 + the value's place among the others).
#[derive(Default)]
pub(super) struct Values {
    values: Vec<f64>,
    index: HashMap<u64, u32>,
    codes: Codes,
}

impl Values {
    fn push(&mut self, v: Option<f64>) {
        let code = match v {
            // NaN is no value, as `stats::percentile`'s callers filter it.
            Some(v) if !v.is_nan() => {
                let next = self.values.len() as u32 + 1;
                let code = *self.index.entry(v.to_bits()).or_insert(next);
                if code == next {
                    self.values.push(v);
                }
                code
            }
            _ => 0,
        };
        self.codes.push(u64::from(code));
    }

    /// The values in `f64::total_cmp` order, the numbers renumbered to that order.
    fn sorted(mut self) -> (Vec<f64>, Codes) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_by(|&a, &b| self.values[a as usize].total_cmp(&self.values[b as usize]));
        let mut rank = vec![0u32; self.values.len() + 1];
        for (r, &k) in order.iter().enumerate() {
            rank[k as usize + 1] = r as u32 + 1;
        }
        for i in 0..self.codes.len() {
            let c = self.codes.get(i);
            self.codes.set(i, u64::from(rank[c as usize]));
        }
        let sorted = order.iter().map(|&k| self.values[k as usize]).collect();
        (sorted, self.codes)
    }
}

/// The type-7 percentile `q` of the values counted in `counts` (`counts[k + 1]` of
/// `sorted[k]`; `counts[0]`, the cases without a value, is left out): what
/// `stats::percentile` gives of the values themselves.
fn percentile_of(sorted: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let m: u64 = counts[1..].iter().sum();
    if m == 0 {
        return None;
    }
    let (lo, hi, frac) = stats::type7_ranks(m as usize, q);
    let at = |rank: usize| -> f64 {
        // Counted from the nearer end.
        let rank = rank as u64;
        if rank < m / 2 {
            let mut seen = 0;
            for (k, &c) in counts[1..].iter().enumerate() {
                seen += c;
                if seen > rank {
                    return sorted[k];
                }
            }
        } else {
            let from_top = m - 1 - rank;
            let mut seen = 0;
            for (k, &c) in counts[1..].iter().enumerate().rev() {
                seen += c;
                if seen > from_top {
                    return sorted[k];
                }
            }
        }
        unreachable!("rank below the count")
    };
    let (a, b) = (at(lo), at(hi));
    Some(a + frac * (b - a))
}

/// A percentile metric's values in each run, for every paired case.
#[derive(Default)]
pub(super) struct Percentiles {
    base: Values,
    candidate: Values,
}

impl Percentiles {
    pub fn push(&mut self, b: Option<f64>, c: Option<f64>) {
        self.base.push(b);
        self.candidate.push(c);
    }

    /// The percentile `q` of each run over every case, and the statistic on resamples.
    pub fn finish(self, q: f64) -> (Option<f64>, Option<f64>, Stat) {
        let (base, base_all) = Sorted::new(self.base, q);
        let (candidate, candidate_all) = Sorted::new(self.candidate, q);
        let draws = PercentileDraws { q, base, candidate };
        (base_all, candidate_all, Stat::Percentile(draws))
    }
}

/// One run's values in order, each case's number among them, and the counts of a resample.
struct Sorted {
    values: Vec<f64>,
    codes: Codes,
    counts: Vec<u64>,
    /// The numbers the cases have: at most `values.len() + 1` (with "no value").
    used: usize,
}

impl Sorted {
    /// A run's values sorted, and their percentile `q` over every case.
    fn new(values: Values, q: f64) -> (Self, Option<f64>) {
        let (values, codes) = values.sorted();
        let mut counts = vec![0; values.len() + 1];
        for i in 0..codes.len() {
            counts[codes.get(i) as usize] += 1;
        }
        let all = percentile_of(&values, &counts, q);
        let used = counts.iter().filter(|&&c| c > 0).count();
        counts.fill(0);
        let sorted = Sorted {
            values,
            codes,
            counts,
            used,
        };
        (sorted, all)
    }

    fn kinds(&self) -> usize {
        self.used
    }
}

pub(super) struct PercentileDraws {
    q: f64,
    base: Sorted,
    candidate: Sorted,
}

impl PercentileDraws {
    fn end(&mut self) -> Option<f64> {
        let p = |s: &Sorted| percentile_of(&s.values, &s.counts, self.q);
        let v = (|| Some(p(&self.candidate)? - p(&self.base)?))();
        self.base.counts.fill(0);
        self.candidate.counts.fill(0);
        v
    }
}

/// A case's (expected, predicted) label pairs in the base's repeats and the candidate's.
type Kind = (Vec<[u16; 2]>, Vec<[u16; 2]>);

/// An enum field's (expected, predicted) label pairs in each run's repeats of every paired
/// case, each numbered by the run's own list of labels (the field's known labels, then the
/// others as they come): each distinct pair of lists once, and each case's number among them.
pub(super) struct LabelCases {
    pub base_labels: Vec<String>,
    pub candidate_labels: Vec<String>,
    /// The distinct (base, candidate) lists, and how many cases have each.
    kinds: Vec<Kind>,
    cases: Vec<u64>,
    index: HashMap<Vec<u32>, u32>,
    key: Vec<u32>,
    codes: Codes,
}

impl LabelCases {
    pub fn new(known: &[String]) -> Self {
        LabelCases {
            base_labels: known.to_vec(),
            candidate_labels: known.to_vec(),
            kinds: Vec::new(),
            cases: Vec::new(),
            index: HashMap::new(),
            key: Vec::new(),
            codes: Codes::default(),
        }
    }

    /// Adds a case's pairs in each run (indices below `u16::MAX`).
    pub fn push(&mut self, base: &[(usize, usize)], candidate: &[(usize, usize)]) {
        self.key.clear();
        self.key.push(base.len() as u32);
        for &(e, p) in base.iter().chain(candidate) {
            self.key.extend([e as u32, p as u32]);
        }
        let code = match self.index.get(self.key.as_slice()) {
            Some(&code) => code,
            None => {
                let code = self.kinds.len() as u32;
                let pairs = |v: &[(usize, usize)]| -> Vec<[u16; 2]> {
                    v.iter().map(|&(e, p)| [e as u16, p as u16]).collect()
                };
                self.kinds.push((pairs(base), pairs(candidate)));
                self.cases.push(0);
                self.index.insert(self.key.clone(), code);
                code
            }
        };
        self.cases[code as usize] += 1;
        self.codes.push(u64::from(code));
    }

    /// Cohen's kappa of each run over every case, and the difference on resamples; `None`
    /// past `u16::MAX` labels in all. The labels are numbered as a comparison of whole runs
    /// numbers them: the base's labels, then the candidate's others, each in the order first
    /// seen, the candidate's pairs renumbered into that list.
    pub fn finish(mut self) -> Option<(Option<f64>, Option<f64>, Stat)> {
        let mut labels = std::mem::take(&mut self.base_labels);
        let mut index: HashMap<&str, u16> = HashMap::new();
        for (i, l) in labels.iter().enumerate() {
            index.insert(l.as_str(), i as u16);
        }
        let mut renumber = Vec::with_capacity(self.candidate_labels.len());
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
        for (_, candidate) in &mut self.kinds {
            for pair in candidate.iter_mut() {
                *pair = [
                    renumber[usize::from(pair[0])],
                    renumber[usize::from(pair[1])],
                ];
            }
        }
        let k = labels.len();
        let empty = Confusion {
            labels,
            counts: vec![vec![0; k]; k],
        };
        let (mut base, mut candidate) = (empty.clone(), empty.clone());
        for ((b, c), &n) in self.kinds.iter().zip(&self.cases) {
            count(&mut base, b, n);
            count(&mut candidate, c, n);
        }
        let all = (base.kappa(), candidate.kappa());
        let draws = KappaDraws {
            kinds: self.kinds,
            codes: self.codes,
            base: empty.clone(),
            candidate: empty,
        };
        Some((all.0, all.1, Stat::Kappa(draws)))
    }
}

fn count(confusion: &mut Confusion, pairs: &[[u16; 2]], n: u64) {
    for &[e, p] in pairs {
        confusion.counts[usize::from(e)][usize::from(p)] += n;
    }
}

pub(super) struct KappaDraws {
    kinds: Vec<Kind>,
    codes: Codes,
    base: Confusion,
    candidate: Confusion,
}

impl KappaDraws {
    fn end(&mut self) -> Option<f64> {
        let v = (|| Some(self.candidate.kappa()? - self.base.kappa()?))();
        for row in self
            .base
            .counts
            .iter_mut()
            .chain(&mut self.candidate.counts)
        {
            row.fill(0);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case's latency in each run (or none).
    type Latencies = (Option<f64>, Option<f64>);
    /// Each mean column's (base, candidate) values.
    type MeanColumns = Vec<Vec<(f64, f64)>>;

    /// Ten mean columns of up to 150 distinct pairs each (more bits than one row holds) and
    /// a percentile, built as `compare` builds them.
    fn wide_columns(n: usize) -> (MeanColumns, Vec<Latencies>, Vec<Stat>) {
        let mut rng = fastrand::Rng::with_seed(21);
        let cols: MeanColumns = (0..10)
            .map(|k| {
                (0..n)
                    .map(|_| {
                        (
                            rng.usize(0..15) as f64 * 0.5,
                            rng.usize(0..5 + 2 * k) as f64 * 0.25,
                        )
                    })
                    .collect()
            })
            .collect();
        let value = |rng: &mut fastrand::Rng| {
            (rng.usize(0..9) > 0).then(|| rng.usize(0..300) as f64 / 10.0)
        };
        let lat: Vec<Latencies> = (0..n).map(|_| (value(&mut rng), value(&mut rng))).collect();
        let mut stats = Vec::new();
        for c in &cols {
            let mut m = Means::default();
            for &(b, x) in c {
                m.push(b, x);
            }
            stats.push(m.resampled());
        }
        let mut p = Percentiles::default();
        for &(b, c) in &lat {
            p.push(b, c);
        }
        stats.push(p.finish(0.95).2);
        (cols, lat, stats)
    }

    #[test]
    fn columns_wider_than_a_row_resample_as_each_alone() {
        let (n, resamples) = (3_000, 40);
        let (_, _, mut stats) = wide_columns(n);
        let mut refs: Vec<&mut Stat> = stats.iter_mut().collect();
        let rows = Rows::pack(n, &mut refs);
        assert!(rows.groups.len() >= 2, "{} rows", rows.groups.len());

        let (cols, lat, stats) = wide_columns(n);
        let got = resample(n, resamples, stats);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (k, c) in cols.iter().enumerate() {
            let (mut want, mut sum) = (Vec::new(), -0.0);
            stats::bootstrap_draws(n, resamples, |block, last| {
                for &i in block {
                    sum += c[i].1 - c[i].0;
                }
                if last {
                    want.push(sum / n as f64);
                    sum = -0.0;
                }
            });
            assert_eq!(bits(&got[k]), bits(&want), "column {k}");
        }
        let (mut want, mut idx) = (Vec::new(), Vec::new());
        stats::bootstrap_draws(n, resamples, |block, last| {
            idx.extend_from_slice(block);
            if last {
                let p95 = |run: fn(&Latencies) -> Option<f64>| {
                    let v: Vec<f64> = idx.iter().filter_map(|&i| run(&lat[i])).collect();
                    stats::percentile(&v, 0.95)
                };
                want.extend((|| Some(p95(|p| p.1)? - p95(|p| p.0)?))());
                idx.clear();
            }
        });
        assert_eq!(bits(&got[10]), bits(&want));
    }

    #[test]
    fn a_column_equal_in_every_case_takes_no_bits() {
        let mut m = Means::default();
        for _ in 0..10_000 {
            m.push(1.0, 1.0);
        }
        assert_eq!(m.codes.width(), 0);
        assert_eq!(m.codes.bytes(), 0);
        assert_eq!(m.means(), (Some(1.0), Some(1.0), Some(0.0)));
    }

    #[test]
    fn the_mean_difference_adds_as_iterator_sum_does() {
        // −0.0 − 0.0 is −0.0: summed from −0.0 (as `Iterator::sum` is), it stays −0.0.
        let mut m = Means::default();
        m.push(0.0, -0.0);
        m.push(0.0, -0.0);
        let d = m.means().2.unwrap();
        let by_sum = [-0.0f64 - 0.0, -0.0 - 0.0].iter().sum::<f64>() / 2.0;
        assert_eq!(d.to_bits(), by_sum.to_bits());
        assert!(d.is_sign_negative());
    }

    #[test]
    fn percentiles_of_counts_are_those_of_the_values() {
        let mut rng = fastrand::Rng::with_seed(5);
        for round in 0..200 {
            let n = rng.usize(1..300);
            let distinct = rng.usize(1..40);
            let values: Vec<Option<f64>> = (0..n)
                .map(|_| match rng.usize(0..10) {
                    0 => None,
                    1 => Some(f64::NAN),
                    2 => Some(-0.0),
                    _ => Some((rng.usize(0..distinct) as f64 * 0.1 * 10.0).round() / 10.0),
                })
                .collect();
            let mut v = Values::default();
            for &x in &values {
                v.push(x);
            }
            let (sorted, codes) = v.sorted();
            let mut counts = vec![0u64; sorted.len() + 1];
            for i in 0..codes.len() {
                counts[codes.get(i) as usize] += 1;
            }
            let plain: Vec<f64> = values
                .iter()
                .flatten()
                .copied()
                .filter(|x| !x.is_nan())
                .collect();
            for q in [0.0, 0.025, 0.5, 0.95, 0.975, 1.0] {
                let got = percentile_of(&sorted, &counts, q);
                let want = stats::percentile(&plain, q);
                assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{round} {q}");
            }
        }
    }
}
