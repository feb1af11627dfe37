//! The per-case values a comparison keeps for its bootstraps, and the bootstraps of all its
//! metrics on the same resamples.
//!
//! A bootstrap resamples the paired cases by index, so each case's values must be at hand
//! until the end; and a resample's mean must add its values in the order they were drawn to
//! give the numbers it gave (another order rounds differently). So a column keeps each
//! distinct value (or pair of values) once, and for each case its number among them, in as
//! few bits as their count needs (`Codes`): no bit at all for a metric equal in every case,
//! one for a pass/fail metric whose cases pass or fail alike in both runs, nine for a run's
//! latencies when it has at most 511 distinct ones (they are kept to a tenth of a
//! millisecond). Bits still grow with the cases, a few bytes a case for all the metrics
//! together, but nothing else does.
//!
//! The metrics with the same number of cases are resampled together, one block of drawn
//! indices at a time (`stats::bootstrap_draws`): the indices their separate bootstraps drew,
//! so every number is theirs bit for bit, drawn once instead of once a metric.

use std::collections::HashMap;

use crate::stats::{self, Confusion};

/// Numbers of `width` bits each, packed in 64-bit words; the width grows when a larger number
/// comes. Grows by an eighth at a time, not twice its size.
#[derive(Default)]
pub(super) struct Codes {
    words: Vec<u64>,
    width: u32,
    len: usize,
}

impl Codes {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push(&mut self, code: u32) {
        let need = u32::BITS - code.leading_zeros();
        if need > self.width {
            self.widen(need);
        }
        self.len += 1;
        self.set(self.len - 1, code);
    }

    pub fn get(&self, i: usize) -> u32 {
        debug_assert!(i < self.len);
        if self.width == 0 {
            return 0;
        }
        let width = self.width as usize;
        let bit = i * width;
        let (w, off) = (bit / 64, bit % 64);
        let mut v = self.words[w] >> off;
        if off + width > 64 {
            v |= self.words[w + 1] << (64 - off);
        }
        (v & ((1u64 << width) - 1)) as u32
    }

    /// Replaces the `i`th number (`code` fits the width).
    pub fn set(&mut self, i: usize, code: u32) {
        if self.width == 0 {
            return;
        }
        let width = self.width as usize;
        let bit = i * width;
        let end = (bit + width).div_ceil(64);
        if self.words.len() < end {
            if self.words.capacity() < end {
                let more = (self.words.capacity() / 8).max(512);
                self.words.reserve_exact(more.max(end - self.words.len()));
            }
            self.words.resize(end, 0);
        }
        let (w, off) = (bit / 64, bit % 64);
        let mask = (1u64 << width) - 1;
        let v = u64::from(code) & mask;
        self.words[w] = (self.words[w] & !(mask << off)) | (v << off);
        if off + width > 64 {
            let high = 64 - off;
            self.words[w + 1] = (self.words[w + 1] & !(mask >> high)) | (v >> high);
        }
    }

    /// Repacks the numbers at a larger width.
    fn widen(&mut self, width: u32) {
        let old = std::mem::take(self);
        self.width = width;
        self.words = Vec::with_capacity((old.len * width as usize).div_ceil(64) + 1);
        self.len = old.len;
        for i in 0..old.len {
            self.set(i, old.get(i));
        }
    }
}

/// A statistic on resamples of one column's cases, updated block by block of drawn indices.
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

    /// Adds the cases drawn (indices among the column's cases), in the order drawn.
    fn draws(&mut self, idx: &[usize]) {
        match self {
            Stat::Mean(m) => {
                for &i in idx {
                    m.add(i);
                }
            }
            Stat::Percentile(p) => p.draws(idx),
            Stat::Kappa(k) => k.draws(idx),
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

/// Resamples `n` cases `resamples` times for every statistic at once, on the indices
/// `stats::paired_bootstrap_with(n, resamples, …)` draws: each statistic's values on the
/// resamples it is defined on. A column whose cases are all the same has the same value on
/// every resample, computed once. The means are updated case by case, all of them for each
/// drawn case (their sums are chains of additions, which run side by side this way).
pub(super) fn resample(n: usize, resamples: usize, mut stats: Vec<Stat>) -> Vec<Vec<f64>> {
    let resamples = resamples.max(1);
    let mut values = vec![Vec::new(); stats.len()];
    let (mut means, mut others) = (Vec::new(), Vec::new());
    for (k, s) in stats.iter_mut().enumerate() {
        if s.is_constant() {
            // Any index stands for any case.
            let zeros = vec![0; n.min(crate::stats::DRAWS_BLOCK)];
            let mut left = n;
            while left > 0 {
                let part = left.min(zeros.len());
                s.draws(&zeros[..part]);
                left -= part;
            }
            if let Some(v) = s.end() {
                values[k] = vec![v; resamples];
            }
            continue;
        }
        values[k].reserve_exact(resamples);
        match s {
            Stat::Mean(m) => means.push((k, m)),
            other => others.push((k, other)),
        }
    }
    if means.is_empty() && others.is_empty() {
        return values;
    }
    stats::bootstrap_draws(n, resamples, |block, last| {
        for &i in block {
            for (_, m) in means.iter_mut() {
                m.add(i);
            }
        }
        for (_, s) in others.iter_mut() {
            s.draws(block);
        }
        if last {
            for (k, m) in means.iter_mut() {
                values[*k].extend(m.end());
            }
            for (k, s) in others.iter_mut() {
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
        self.codes.push(code);
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
    fn add(&mut self, i: usize) {
        self.sum += self.terms[self.codes.get(i) as usize];
    }

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
        self.codes.push(code);
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
            self.codes.set(i, rank[c as usize]);
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
    fn draws(&mut self, idx: &[usize]) {
        for &i in idx {
            self.base.counts[self.base.codes.get(i) as usize] += 1;
            self.candidate.counts[self.candidate.codes.get(i) as usize] += 1;
        }
    }

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
        self.codes.push(code);
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
    fn draws(&mut self, idx: &[usize]) {
        for &i in idx {
            let (b, c) = &self.kinds[self.codes.get(i) as usize];
            count(&mut self.base, b, 1);
            count(&mut self.candidate, c, 1);
        }
    }

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

    #[test]
    fn codes_give_back_the_numbers_pushed_as_they_widen() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut codes = Codes::default();
        let mut pushed = Vec::new();
        // Zero bits while every number is 0, then one, then wider, up to 32 bits; words
        // crossed by a number at every width.
        for round in 0..45_000u32 {
            let top = match round {
                0..1000 => 0,
                1000..2000 => 1,
                _ => (1u64 << (round / 1300).min(32)).min(u64::from(u32::MAX)) as u32,
            };
            let code = if top == 0 { 0 } else { rng.u32(0..=top) };
            codes.push(code);
            pushed.push(code);
        }
        assert_eq!(codes.len(), pushed.len());
        for (i, &c) in pushed.iter().enumerate() {
            assert_eq!(codes.get(i), c, "{i}");
        }
        assert_eq!(codes.width, 32);
        codes.set(12_345, 7);
        pushed[12_345] = 7;
        codes.set(44_999, u32::MAX);
        pushed[44_999] = u32::MAX;
        assert!((0..pushed.len()).all(|i| codes.get(i) == pushed[i]));
    }

    #[test]
    fn a_column_equal_in_every_case_takes_no_bits() {
        let mut m = Means::default();
        for _ in 0..10_000 {
            m.push(1.0, 1.0);
        }
        assert_eq!(m.codes.width, 0);
        assert!(m.codes.words.is_empty());
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
