//! Statistics: pure functions, each tested against values worked out by hand.

/// The z value of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Proportion {
    pub successes: u64,
    pub total: u64,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval for `successes` out of `total` (95%). It behaves well near 0
/// and 1 and for small samples, where the normal approximation does not.
pub fn wilson(successes: u64, total: u64) -> Proportion {
    if total == 0 {
        return Proportion {
            successes,
            total,
            rate: 0.0,
            low: 0.0,
            high: 0.0,
        };
    }
    let n = total as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Proportion {
        successes,
        total,
        rate: p,
        low: (center - half).max(0.0),
        high: (center + half).min(1.0),
    }
}

/// The difference of two paired proportions, second − first, with its 95% interval by
/// Newcombe's hybrid score method (Statistics in Medicine 17:2635, 1998, method 10): each
/// rate's Wilson interval, combined with the correlation of the pairs. `both` cases succeed
/// in both, `first_only` in the first only, `second_only` in the second only, `neither` in
/// none. Unlike a percentile bootstrap, it does not shrink to a point when the two never
/// disagree: three cases both pass leave the difference anywhere from −0.56 to +0.56.
pub fn paired_difference(
    both: u64,
    first_only: u64,
    second_only: u64,
    neither: u64,
) -> Option<(f64, f64, f64)> {
    let (a, b, c, d) = (
        both as f64,
        first_only as f64,
        second_only as f64,
        neither as f64,
    );
    let n = a + b + c + d;
    if n == 0.0 {
        return None;
    }
    // p1: the second's rate, p2: the first's, so that θ = p1 − p2 is second − first.
    let w1 = wilson(both + second_only, n as u64);
    let w2 = wilson(both + first_only, n as u64);
    let (p1, l1, u1) = (w1.rate, w1.low, w1.high);
    let (p2, l2, u2) = (w2.rate, w2.low, w2.high);
    // The correlation of the pairs, continuity-corrected when positive; 0 when a margin is 0.
    let (e, f, g, h) = (a + c, b + d, a + b, c + d);
    let product = e * f * g * h;
    let cross = a * d - b * c;
    let phi = if product == 0.0 {
        0.0
    } else if cross > 0.0 {
        (cross - n / 2.0).max(0.0) / product.sqrt()
    } else {
        cross / product.sqrt()
    };
    let theta = p1 - p2;
    let delta = ((p1 - l1).powi(2) - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2).powi(2))
        .max(0.0)
        .sqrt();
    let epsilon = ((u1 - p1).powi(2) - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2).powi(2))
        .max(0.0)
        .sqrt();
    Some((theta, (theta - delta).max(-1.0), (theta + epsilon).min(1.0)))
}

/// Percentile by linear interpolation between closest ranks (the common "type 7").
/// `q` is in 0..=1. `values` need not be sorted.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi, frac) = type7_ranks(sorted.len(), q);
    Some(sorted[lo] + frac * (sorted[hi] - sorted[lo]))
}

/// Where the type-7 percentile `q` of `n` sorted values lies: the 0-based ranks of the two
/// values it interpolates between (equal, or `lo + 1`), and how far from the first. For
/// percentiles read from a database's order statistics instead of held values. `n` > 0.
pub fn type7_ranks(n: usize, q: f64) -> (usize, usize, f64) {
    let h = (n.max(1) - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    (lo, h.ceil() as usize, h - lo as f64)
}

/// A confusion matrix over a fixed label order: `counts[expected][predicted]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Confusion {
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// Builds the matrix from (expected, predicted) pairs. Labels not in `labels` (an
    /// invalid prediction, say) are added at the end in order of appearance.
    pub fn from_pairs<'a>(
        labels: &[String],
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Confusion {
        Self::from_counts(labels, pairs.into_iter().map(|(e, p)| (e, p, 1)))
    }

    /// Builds the matrix from (expected, predicted, count) triples.
    pub fn from_counts<'a>(
        labels: &[String],
        triples: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
    ) -> Confusion {
        let mut labels = labels.to_vec();
        let mut counts = vec![vec![0u64; labels.len()]; labels.len()];
        let index = |label: &str, labels: &mut Vec<String>, counts: &mut Vec<Vec<u64>>| -> usize {
            if let Some(i) = labels.iter().position(|l| l == label) {
                return i;
            }
            labels.push(label.to_string());
            for row in counts.iter_mut() {
                row.push(0);
            }
            counts.push(vec![0; labels.len()]);
            labels.len() - 1
        };
        for (e, p, n) in triples {
            let i = index(e, &mut labels, &mut counts);
            let j = index(p, &mut labels, &mut counts);
            counts[i][j] += n;
        }
        Confusion { labels, counts }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn agreements(&self) -> u64 {
        (0..self.labels.len()).map(|i| self.counts[i][i]).sum()
    }

    /// Cohen's kappa: agreement beyond what the two marginal distributions give by chance.
    /// `None` when there is nothing to compare or chance agreement is already 1.
    pub fn kappa(&self) -> Option<f64> {
        let n = self.total() as f64;
        if n == 0.0 {
            return None;
        }
        let k = self.labels.len();
        let po = self.agreements() as f64 / n;
        let pe: f64 = (0..k)
            .map(|i| {
                let row: u64 = self.counts[i].iter().sum();
                let col: u64 = (0..k).map(|r| self.counts[r][i]).sum();
                (row as f64 / n) * (col as f64 / n)
            })
            .sum();
        if (1.0 - pe).abs() < 1e-12 {
            return None;
        }
        Some((po - pe) / (1.0 - pe))
    }

    /// Precision, recall and F1 of one label (by index), with its support (expected count).
    pub fn label_metrics(&self, i: usize) -> LabelMetrics {
        let k = self.labels.len();
        let tp = self.counts[i][i] as f64;
        let predicted: u64 = (0..k).map(|r| self.counts[r][i]).sum();
        let support: u64 = self.counts[i].iter().sum();
        let precision = (predicted > 0).then(|| tp / predicted as f64);
        let recall = (support > 0).then(|| tp / support as f64);
        let f1 = match (precision, recall) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        LabelMetrics {
            label: self.labels[i].clone(),
            precision,
            recall,
            f1,
            support,
            predicted,
        }
    }
}

/// Macro-F1 and support-weighted F1 over labels' metrics, as scikit-learn's `f1_score` with
/// `average='macro'` and `'weighted'`, `labels` = the labels that occur (expected or
/// predicted) and `zero_division=0`: a label whose F1 is undefined (never predicted, or never
/// expected) counts 0. `None` when no label occurs.
pub fn f1_averages(labels: &[LabelMetrics]) -> Option<(f64, f64)> {
    let occurring: Vec<&LabelMetrics> = labels
        .iter()
        .filter(|m| m.support > 0 || m.predicted > 0)
        .collect();
    if occurring.is_empty() {
        return None;
    }
    let f1 = |m: &LabelMetrics| m.f1.unwrap_or(0.0);
    let macro_f1 = occurring.iter().map(|m| f1(m)).sum::<f64>() / occurring.len() as f64;
    let support: u64 = occurring.iter().map(|m| m.support).sum();
    let weighted = if support == 0 {
        0.0
    } else {
        occurring
            .iter()
            .map(|m| f1(m) * m.support as f64)
            .sum::<f64>()
            / support as f64
    };
    Some((macro_f1, weighted))
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabelMetrics {
    pub label: String,
    /// `None` when the label was never predicted.
    pub precision: Option<f64>,
    /// `None` when the label never occurs in the expected values.
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub support: u64,
    pub predicted: u64,
}

/// Mean absolute error of (expected, predicted) pairs.
pub fn mean_absolute_error(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    Some(pairs.iter().map(|(e, p)| (e - p).abs()).sum::<f64>() / pairs.len() as f64)
}

/// McNemar's exact test on paired pass/fail outcomes: `b` pairs went pass → fail and `c`
/// went fail → pass. Under no change each discordant pair is a fair coin, so the two-sided
/// p-value is the binomial tail: min(1, 2 · P(X ≤ min(b, c))) for X ~ Binomial(b + c, ½).
/// No discordant pair gives 1.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Sum C(n, i) / 2^n for i ≤ k in log space (n may be in the thousands).
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0f64; // ln C(n, 0)
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose - ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// The seed of every bootstrap: the same runs always give the same intervals.
pub const BOOTSTRAP_SEED: u64 = 0x5eed_e7a1_9a7e;
/// Resamples per bootstrap, unless a suite sets `gates.bootstrap_resamples` (or `compare
/// --resamples`). Its smallest p-value is 1 / resamples (`smallest_p`).
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The smallest p-value a bootstrap of `resamples` can give: a test at an α at or below it
/// can never be significant.
pub fn smallest_p(resamples: usize) -> f64 {
    1.0 / resamples.max(1) as f64
}

/// A p-value with the digits needed to compare it with α: three decimals, more when α has
/// more (α = 0.0005 gives four) or when p and α would otherwise read the same; `< 0.001`
/// below what the digits show.
/// `p = 0.062` or `p < 0.001` (see `format_p`).
pub fn p_is(p: f64, alpha: Option<f64>) -> String {
    let shown = format_p(p, alpha);
    if shown.starts_with('<') {
        format!("p {shown}")
    } else {
        format!("p = {shown}")
    }
}

pub fn format_p(p: f64, alpha: Option<f64>) -> String {
    let shown = |x: f64, d: usize| format!("{x:.d$}");
    let mut digits: usize = 3;
    if let Some(a) = alpha.filter(|a| *a > 0.0 && *a < 1.0) {
        // The decimals that show α's first significant digit (0.0005: four).
        digits = digits.max((-a.log10() - 1e-9).ceil() as usize);
        while digits < 10 && p != a && shown(p, digits) == shown(a, digits) {
            digits += 1;
        }
    }
    let floor = 10f64.powi(-(digits as i32));
    if p > 0.0 && p < floor / 2.0 {
        return format!("< {}", shown(floor, digits));
    }
    shown(p, digits)
}

/// A difference (candidate − base) with its 95% paired-bootstrap interval and the
/// bootstrap's two-sided p-value for "no difference".
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Delta {
    pub delta: f64,
    pub low: f64,
    pub high: f64,
    pub p_value: f64,
}

/// Paired bootstrap of a statistic over `n` paired cases: `stat(indices)` is computed on the
/// whole sample and on `BOOTSTRAP_RESAMPLES` resamples of case indices drawn with
/// replacement (seeded, so reproducible). The interval is the 2.5th–97.5th percentile of the
/// resampled statistic; the p-value is twice the share of resamples on the far side of 0
/// (at least 1 / resamples when the observed difference is not 0). `None` without cases.
pub fn paired_bootstrap(n: usize, stat: impl FnMut(&[usize]) -> Option<f64>) -> Option<Delta> {
    paired_bootstrap_with(n, BOOTSTRAP_RESAMPLES, stat)
}

/// `paired_bootstrap` with `resamples` resamples.
pub fn paired_bootstrap_with(
    n: usize,
    resamples: usize,
    mut stat: impl FnMut(&[usize]) -> Option<f64>,
) -> Option<Delta> {
    if n == 0 {
        return None;
    }
    // One buffer of indices: every case first (the estimate), then each resample.
    let mut sample: Vec<usize> = (0..n).collect();
    let delta = stat(&sample)?;
    let mut values = Vec::with_capacity(resamples.max(1));
    let mut at = 0;
    bootstrap_draws(n, resamples, |block, last| {
        sample[at..at + block.len()].copy_from_slice(block);
        at += block.len();
        if last {
            at = 0;
            values.extend(stat(&sample));
        }
    });
    bootstrap_delta(delta, &values)
}

/// The case indices `paired_bootstrap_with(n, resamples, …)` resamples, without holding
/// them: `draws(block, last)` for each block of at most `DRAWS_BLOCK` indices of a resample
/// in order, `last` on its last block, resample after resample. Statistics that can be
/// updated one case at a time (a sum, counts) are computed on the same resamples this way,
/// several at once, in memory that does not grow with `n`.
pub fn bootstrap_draws(n: usize, resamples: usize, mut draws: impl FnMut(&[usize], bool)) {
    if n == 0 {
        return;
    }
    let mut rng = fastrand::Rng::with_seed(BOOTSTRAP_SEED);
    let mut block = vec![0; n.min(DRAWS_BLOCK)];
    for _ in 0..resamples.max(1) {
        let mut left = n;
        while left > 0 {
            let part = &mut block[..left.min(DRAWS_BLOCK)];
            for slot in part.iter_mut() {
                *slot = rng.usize(0..n);
            }
            left -= part.len();
            draws(part, left == 0);
        }
    }
}

/// The most indices `bootstrap_draws` hands over at once.
pub const DRAWS_BLOCK: usize = 4096;

/// The bootstrap's result from the statistic on the whole sample (`delta`) and on each
/// resample it was defined on (`values`): the 2.5th–97.5th percentile interval and the
/// two-sided p-value. `None` when no resample gave a value.
pub fn bootstrap_delta(delta: f64, values: &[f64]) -> Option<Delta> {
    if values.is_empty() {
        return None;
    }
    let low = percentile(values, 0.025)?;
    let high = percentile(values, 0.975)?;
    let m = values.len() as f64;
    let below = values.iter().filter(|v| **v <= 0.0).count() as f64 / m;
    let above = values.iter().filter(|v| **v >= 0.0).count() as f64 / m;
    let p_value = if delta == 0.0 && low <= 0.0 && high >= 0.0 {
        1.0
    } else {
        (2.0 * below.min(above)).clamp(1.0 / m, 1.0)
    };
    Some(Delta {
        delta,
        low,
        high,
        p_value,
    })
}

/// Paired bootstrap of the mean difference of (base, candidate) values.
pub fn mean_difference(pairs: &[(f64, f64)]) -> Option<Delta> {
    mean_difference_with(pairs, BOOTSTRAP_RESAMPLES)
}

/// `mean_difference` with `resamples` resamples.
pub fn mean_difference_with(pairs: &[(f64, f64)], resamples: usize) -> Option<Delta> {
    paired_bootstrap_with(pairs.len(), resamples, |idx| {
        Some(idx.iter().map(|&i| pairs[i].1 - pairs[i].0).sum::<f64>() / idx.len() as f64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_differences_keep_their_uncertainty() {
        // Three cases both pass: no disagreement, but nothing shown either.
        let (d, low, high) = paired_difference(3, 0, 0, 0).unwrap();
        assert_eq!(d, 0.0);
        assert!(
            (low + 0.5615).abs() < 1e-3 && (high - 0.5615).abs() < 1e-3,
            "{low} {high}"
        );
        // Symmetric when the disagreements are; inside [-1, 1]; around the estimate.
        let (d, low, high) = paired_difference(70, 5, 5, 0).unwrap();
        assert!(
            d == 0.0 && (low + high).abs() < 1e-9 && low > -0.2,
            "{low} {high}"
        );
        let (d, low, high) = paired_difference(74, 5, 0, 1).unwrap();
        assert!((d + 5.0 / 80.0).abs() < 1e-12);
        assert!(
            low < d && d < high && high <= 0.0 + 1e-9 && low > -0.2,
            "{low} {high}"
        );
        // Many cases: close to the large-sample interval of the difference.
        let (d, low, high) = paired_difference(8000, 300, 100, 1600).unwrap();
        let (b, c, n): (f64, f64, f64) = (300.0, 100.0, 10000.0);
        let se = ((b + c) / n - ((c - b) / n).powi(2)).sqrt() / n.sqrt();
        assert!((low - (d - Z95 * se)).abs() < 0.002, "{low}");
        assert!((high - (d + Z95 * se)).abs() < 0.002, "{high}");
    }

    #[test]
    fn p_values_show_the_digits_alpha_needs() {
        assert_eq!(format_p(0.0005, Some(0.0005)), "0.0005");
        assert_eq!(format_p(0.000499, Some(0.0005)), "0.000499");
        assert_eq!(format_p(0.00061, Some(0.0005)), "0.0006");
        assert_eq!(format_p(0.001, Some(0.05)), "0.001");
        assert_eq!(format_p(0.0002, Some(0.05)), "< 0.001");
        assert_eq!(format_p(0.0498, Some(0.05)), "0.0498");
        assert_eq!(format_p(1.0, None), "1.000");
        assert_eq!(smallest_p(2000), 0.0005);
    }

    #[test]
    fn macro_and_weighted_f1_match_scikit_learn() {
        // sklearn.metrics.f1_score(y_true, y_pred, labels=["a", "b", "c", "d"],
        //   average="macro" / "weighted", zero_division=0) on these pairs: 0.434524, 0.538095.
        // "e" occurs nowhere (left out, as sklearn's labels); "(none)" is no label.
        let labels: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let truth = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "d"];
        let pred = ["a", "b", "a", "b", "(none)", "c", "a", "c", "(none)", "a"];
        let c = Confusion::from_pairs(&labels, truth.iter().copied().zip(pred.iter().copied()));
        let metrics: Vec<LabelMetrics> = (0..labels.len()).map(|i| c.label_metrics(i)).collect();
        let (macro_f1, weighted) = f1_averages(&metrics).unwrap();
        assert!((macro_f1 - 0.43452380952380953).abs() < 1e-12, "{macro_f1}");
        assert!((weighted - 0.5380952380952382).abs() < 1e-12, "{weighted}");
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn wilson_matches_hand_computation() {
        // 8 of 10: p = 0.8, z² = 3.841459, denominator 1 + z²/n = 1.3841459,
        // centre (0.8 + 0.192073) / 1.3841459 = 0.716737,
        // half-width z·sqrt(0.016 + 0.0096036) / 1.3841459 = 0.226580 → [0.4902, 0.9433].
        let p = wilson(8, 10);
        assert!(close(p.rate, 0.8));
        assert!(close(p.low, 0.4902), "{}", p.low);
        assert!(close(p.high, 0.9433), "{}", p.high);
        // 0 of 20: the interval still has width: [0, z²/(n + z²)] = [0, 0.1611].
        let p = wilson(0, 20);
        assert_eq!(p.low, 0.0);
        assert!(close(p.high, 0.1611), "{}", p.high);
        assert_eq!(wilson(0, 0).total, 0);
    }

    #[test]
    fn draws_in_blocks_are_the_draws_of_one_buffer_per_resample() {
        // What `paired_bootstrap_with` drew before it drew in blocks: every index of a
        // resample from one generator, resample after resample.
        for n in [1, 5, DRAWS_BLOCK, DRAWS_BLOCK + 1, 3 * DRAWS_BLOCK + 17] {
            let mut rng = fastrand::Rng::with_seed(BOOTSTRAP_SEED);
            let expected: Vec<usize> = (0..3 * n).map(|_| rng.usize(0..n)).collect();
            let (mut got, mut ends) = (Vec::new(), Vec::new());
            let mut blocks = 0;
            bootstrap_draws(n, 3, |b, last| {
                assert!(!b.is_empty() && b.len() <= DRAWS_BLOCK);
                blocks += 1;
                got.extend_from_slice(b);
                if last {
                    ends.push(got.len());
                }
            });
            assert_eq!(got, expected, "{n}");
            assert_eq!(ends, [n, 2 * n, 3 * n]);
            assert_eq!(blocks, 3 * n.div_ceil(DRAWS_BLOCK));
        }
        bootstrap_draws(0, 3, |_, _| panic!("no cases"));
    }

    #[test]
    fn percentile_interpolates() {
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 0.5), Some(2.5));
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        // h = 19 × 0.95 = 18.05 → 19 + 0.05 × (20 − 19).
        assert!(close(percentile(&v, 0.95).unwrap(), 19.05));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
    }

    #[test]
    fn kappa_matches_the_textbook_example() {
        // 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
        // po = 35/50 = 0.7; pe = 0.5·0.6 + 0.5·0.4 = 0.5; κ = 0.2 / 0.5 = 0.4.
        let labels = vec!["yes".to_string(), "no".to_string()];
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n(("yes", "yes"), 20));
        pairs.extend(std::iter::repeat_n(("yes", "no"), 5));
        pairs.extend(std::iter::repeat_n(("no", "yes"), 10));
        pairs.extend(std::iter::repeat_n(("no", "no"), 15));
        let c = Confusion::from_pairs(&labels, pairs);
        assert!(close(c.kappa().unwrap(), 0.4));
        // Precision of yes: 20 / 30; recall: 20 / 25; F1 = 2·(2/3)(4/5) / (2/3 + 4/5) = 0.7273.
        let m = c.label_metrics(0);
        assert!(close(m.precision.unwrap(), 2.0 / 3.0));
        assert!(close(m.recall.unwrap(), 0.8));
        assert!(close(m.f1.unwrap(), 0.72727));
        assert_eq!(m.support, 25);
    }

    #[test]
    fn confusion_adds_unknown_predictions_and_kappa_of_one_label_is_undefined() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let c = Confusion::from_pairs(&labels, [("a", "a"), ("b", "(invalid)")]);
        assert_eq!(c.labels, ["a", "b", "(invalid)"]);
        assert_eq!(c.counts[1][2], 1);
        let same = Confusion::from_pairs(&labels, [("a", "a"), ("a", "a")]);
        assert_eq!(same.kappa(), None);
    }

    #[test]
    fn mae() {
        assert_eq!(
            mean_absolute_error(&[(1.0, 2.0), (3.0, 3.0), (5.0, 2.0)]),
            Some(4.0 / 3.0)
        );
        assert_eq!(mean_absolute_error(&[]), None);
    }

    #[test]
    fn mcnemar_exact_matches_the_binomial_tail() {
        // b = 5, c = 0: 2 · (1/2)^5 = 0.0625.
        assert!(close(mcnemar_exact(5, 0), 0.0625));
        // b = 1, c = 1: 2 · P(X ≤ 1 | n = 2) = 2 · 3/4 → capped at 1.
        assert_eq!(mcnemar_exact(1, 1), 1.0);
        // b = 10, c = 2: 2 · (1 + 12 + 66) / 4096 = 0.038574.
        assert!(
            close(mcnemar_exact(10, 2), 0.038574),
            "{}",
            mcnemar_exact(10, 2)
        );
        // Symmetric, and no discordant pair is no evidence.
        assert_eq!(mcnemar_exact(2, 10), mcnemar_exact(10, 2));
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large n stays finite: b = 600, c = 400 is far in the tail.
        let p = mcnemar_exact(600, 400);
        assert!(p > 0.0 && p < 1e-9, "{p}");
    }

    #[test]
    fn bootstrap_is_reproducible_and_brackets_the_mean_difference() {
        // 80 cases, 5 of which went from 1 to 0: the mean difference is −5/80 = −0.0625.
        let pairs: Vec<(f64, f64)> = (0..80)
            .map(|i| if i < 5 { (1.0, 0.0) } else { (1.0, 1.0) })
            .collect();
        let d = mean_difference(&pairs).unwrap();
        assert!(close(d.delta, -0.0625));
        assert!(d.low < d.delta && d.delta <= d.high, "{d:?}");
        // The resampled share of flips is Binomial(80, 1/16)/80: its 2.5% quantile is about
        // 1/80 and its 97.5% quantile about 11/80 (normal approximation: 0.0625 ± 1.96 · 0.027).
        assert!(d.low <= -0.1 && d.low >= -0.15, "{d:?}");
        assert!(d.high >= -0.025 && d.high <= 0.0, "{d:?}");
        // p: twice the chance that a resample holds no flip, 2 · (75/80)^80 = 0.0115.
        assert!((d.p_value - 0.0115).abs() < 0.005, "{d:?}");
        assert_eq!(
            mean_difference(&pairs),
            Some(d),
            "a fixed seed gives the same interval"
        );
        // No change: delta 0, p = 1.
        let same: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, i as f64)).collect();
        let d = mean_difference(&same).unwrap();
        assert_eq!((d.delta, d.low, d.high, d.p_value), (0.0, 0.0, 0.0, 1.0));
        assert_eq!(mean_difference(&[]), None);
    }
}
