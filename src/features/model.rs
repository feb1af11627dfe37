//! The downstream model of a lift analysis: L2-regularized logistic regression (linfa-logistic),
//! stratified k-fold cross-validation with a fixed seed, and the metrics of out-of-fold
//! predictions (AUC, log loss, accuracy).
//!
//! The objective is `Σ log loss + α/2 ‖w‖²` with an unpenalized intercept: scikit-learn's
//! `LogisticRegression(C = 1/α)`, binary or multinomial.

use linfa::prelude::*;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2};

/// A design matrix, one row per case. Columns marked `standardize` are numeric and are scaled
/// with the training fold's mean and standard deviation; a missing value (NaN) becomes the
/// training mean. The other columns are 0/1 indicators and are used as they are.
#[derive(Debug, Clone, Default)]
pub struct Design {
    pub rows: Vec<Vec<f64>>,
    pub standardize: Vec<bool>,
}

impl Design {
    pub fn width(&self) -> usize {
        self.standardize.len()
    }
}

/// The fold (0..k) of each case: the cases of each class are shuffled with `seed` and dealt
/// round-robin, continuing from one class to the next, so that every fold holds each class in
/// proportion and the folds differ in size by at most one.
pub fn stratified_folds(y: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let classes = y.iter().copied().max().map_or(0, |m| m + 1);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut fold = vec![0; y.len()];
    let mut next = 0;
    for class in 0..classes {
        let mut members: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        rng.shuffle(&mut members);
        for i in members {
            fold[i] = next % k;
            next += 1;
        }
    }
    fold
}

/// Out-of-fold class probabilities: for each fold, a model fitted on the other folds predicts
/// the fold's cases. Returns one row of `classes` probabilities per case.
pub fn cross_validate(
    design: &Design,
    y: &[usize],
    classes: usize,
    folds: &[usize],
    k: usize,
    alpha: f64,
) -> Result<Vec<Vec<f64>>, String> {
    let mut out = vec![Vec::new(); y.len()];
    for f in 0..k {
        let train: Vec<usize> = (0..y.len()).filter(|&i| folds[i] != f).collect();
        let test: Vec<usize> = (0..y.len()).filter(|&i| folds[i] == f).collect();
        if test.is_empty() {
            continue;
        }
        let scaler = Scaler::fit(design, &train);
        let x_train = scaler.matrix(design, &train);
        let x_test = scaler.matrix(design, &test);
        let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
        let probs = fit_predict(&x_train, &y_train, classes, &x_test, alpha)?;
        for (row, &i) in probs.into_iter().zip(&test) {
            out[i] = row;
        }
    }
    Ok(out)
}

/// Fits on `(x, y)` and returns the class probabilities of each row of `test`.
pub fn fit_predict(
    x: &Array2<f64>,
    y: &[usize],
    classes: usize,
    test: &Array2<f64>,
    alpha: f64,
) -> Result<Vec<Vec<f64>>, String> {
    let mut counts = vec![0usize; classes];
    for &c in y {
        counts[c] += 1;
    }
    let present = counts.iter().filter(|&&n| n > 0).count();
    // Nothing to learn from: predict the training fold's class shares.
    if x.ncols() == 0 || present < 2 {
        let prior: Vec<f64> = counts
            .iter()
            .map(|&n| n as f64 / y.len().max(1) as f64)
            .collect();
        return Ok(vec![prior; test.nrows()]);
    }
    let targets = Array1::from(y.to_vec());
    let data = Dataset::new(x.clone(), targets);
    if classes == 2 {
        let fitted = LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(1000)
            .gradient_tolerance(1e-8)
            .fit(&data)
            .map_err(|e| format!("logistic regression failed: {e}"))?;
        let p = fitted.predict_probabilities(test);
        let positive = fitted.labels().pos.class;
        Ok(p.iter()
            .map(|&p| {
                let p1 = if positive == 1 { p } else { 1.0 - p };
                vec![1.0 - p1, p1]
            })
            .collect())
    } else {
        let fitted = MultiLogisticRegression::default()
            .alpha(alpha)
            .max_iterations(1000)
            .gradient_tolerance(1e-8)
            .fit(&data)
            .map_err(|e| format!("logistic regression failed: {e}"))?;
        let p = fitted.predict_probabilities(test);
        let seen = fitted.classes().to_vec();
        Ok(p.rows()
            .into_iter()
            .map(|row| {
                let mut full = vec![0.0; classes];
                for (j, &c) in seen.iter().enumerate() {
                    full[c] = row[j];
                }
                full
            })
            .collect())
    }
}

/// Per-column mean and standard deviation of a training fold.
struct Scaler {
    mean: Vec<f64>,
    sd: Vec<f64>,
}

impl Scaler {
    fn fit(design: &Design, train: &[usize]) -> Scaler {
        let w = design.width();
        let (mut mean, mut sd) = (vec![0.0; w], vec![1.0; w]);
        for j in (0..w).filter(|&j| design.standardize[j]) {
            let values: Vec<f64> = train
                .iter()
                .map(|&i| design.rows[i][j])
                .filter(|v| !v.is_nan())
                .collect();
            if values.is_empty() {
                continue;
            }
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64;
            mean[j] = m;
            sd[j] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
        Scaler { mean, sd }
    }

    fn matrix(&self, design: &Design, rows: &[usize]) -> Array2<f64> {
        let w = design.width();
        Array2::from_shape_fn((rows.len(), w), |(r, j)| {
            let v = design.rows[rows[r]][j];
            if v.is_nan() {
                0.0
            } else {
                (v - self.mean[j]) / self.sd[j]
            }
        })
    }
}

/// How well out-of-fold probabilities predict the outcome.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scores {
    /// Area under the ROC curve; one-vs-rest, macro-averaged over classes when there are more
    /// than two.
    pub auc: Option<f64>,
    /// Mean negative log-likelihood of the true class (lower is better).
    pub log_loss: f64,
    /// Share of cases whose most probable class is the true one.
    pub accuracy: f64,
}

pub fn scores(probs: &[Vec<f64>], y: &[usize], idx: &[usize]) -> Scores {
    let n = idx.len().max(1) as f64;
    let log_loss = idx
        .iter()
        .map(|&i| -probs[i][y[i]].clamp(1e-15, 1.0).ln())
        .sum::<f64>()
        / n;
    let correct = idx.iter().filter(|&&i| argmax(&probs[i]) == y[i]).count();
    Scores {
        auc: auc(probs, y, idx),
        log_loss,
        accuracy: correct as f64 / n,
    }
}

fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (j, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = j;
        }
    }
    best
}

/// AUC of the cases `idx`: binary, or the mean of one-vs-rest AUCs over the classes that have
/// both positive and negative cases. None when no class does.
pub fn auc(probs: &[Vec<f64>], y: &[usize], idx: &[usize]) -> Option<f64> {
    let classes = probs.first().map_or(0, Vec::len);
    if classes == 2 {
        let s: Vec<(f64, bool)> = idx.iter().map(|&i| (probs[i][1], y[i] == 1)).collect();
        return binary_auc(&s);
    }
    let per_class: Vec<f64> = (0..classes)
        .filter_map(|c| {
            let s: Vec<(f64, bool)> = idx.iter().map(|&i| (probs[i][c], y[i] == c)).collect();
            binary_auc(&s)
        })
        .collect();
    (!per_class.is_empty()).then(|| per_class.iter().sum::<f64>() / per_class.len() as f64)
}

/// The Mann–Whitney form of the AUC: the probability that a random positive scores above a
/// random negative, ties counting one half. None without both classes.
pub fn binary_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|s| s.1).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' ranks, tied scores sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * sorted[i..=j].iter().filter(|s| s.1).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() < tol, "{a} vs {b}");
    }

    /// Reference values from scikit-learn 1.9.1 (Python 3.11, numpy), computed on this
    /// machine from the same data:
    ///
    /// ```python
    /// LogisticRegression(C=1.0, tol=1e-12, max_iter=10000).fit(X, y).predict_proba(X)[:, 1]
    /// m3 = LogisticRegression(C=0.5, tol=1e-12, max_iter=10000).fit(X, y3)   # multinomial
    /// roc_auc_score(t, s); roc_auc_score(y3, P, multi_class="ovr", average="macro")
    /// log_loss(y3, P); (P.argmax(1) == y3).mean()
    /// ```
    ///
    /// `C = 1/α`: both minimize Σ log loss + ‖w‖² / (2C) with an unpenalized intercept.
    const X: [[f64; 2]; 10] = [
        [0.5, 1.0],
        [1.5, -0.5],
        [-1.0, 0.3],
        [2.0, 1.2],
        [-0.7, -1.1],
        [0.1, 0.4],
        [1.1, 2.0],
        [-1.5, 0.8],
        [0.9, -0.2],
        [-0.2, -0.6],
    ];

    fn x() -> Array2<f64> {
        Array2::from_shape_fn((10, 2), |(i, j)| X[i][j])
    }

    #[test]
    fn binary_logistic_regression_matches_scikit_learn() {
        let y = [1, 1, 0, 1, 0, 1, 1, 0, 0, 0];
        let sklearn = [
            0.694636, 0.667991, 0.212167, 0.928429, 0.109564, 0.482032, 0.903884, 0.19047,
            0.574767, 0.23606,
        ];
        let p = fit_predict(&x(), &y, 2, &x(), 1.0).unwrap();
        for (row, want) in p.iter().zip(sklearn) {
            close(row[1], want, 1e-4);
            close(row[0] + row[1], 1.0, 1e-12);
        }
        // The class order does not matter: flipping the labels flips the probabilities.
        let flipped: Vec<usize> = y.iter().map(|c| 1 - c).collect();
        let q = fit_predict(&x(), &flipped, 2, &x(), 1.0).unwrap();
        for (row, want) in q.iter().zip(sklearn) {
            close(row[0], want, 1e-4);
        }
    }

    #[test]
    fn multinomial_logistic_regression_and_its_scores_match_scikit_learn() {
        let y = [0, 1, 2, 1, 0, 2, 1, 0, 2, 1];
        let sklearn = [
            [0.259762, 0.442655, 0.297583],
            [0.133162, 0.619947, 0.24689],
            [0.483108, 0.167614, 0.349278],
            [0.089694, 0.7401, 0.170206],
            [0.422772, 0.193003, 0.384226],
            [0.317178, 0.349424, 0.333398],
            [0.179225, 0.589231, 0.231544],
            [0.558823, 0.116468, 0.324709],
            [0.201247, 0.503952, 0.294801],
            [0.355029, 0.277606, 0.367365],
        ];
        let p = fit_predict(&x(), &y, 3, &x(), 2.0).unwrap();
        for (row, want) in p.iter().zip(sklearn) {
            for (a, b) in row.iter().zip(want) {
                close(*a, b, 1e-4);
            }
        }
        let all: Vec<usize> = (0..10).collect();
        let s = scores(&p, &y, &all);
        close(s.auc.unwrap(), 0.7678571428571429, 1e-9);
        close(s.log_loss, 0.8752174481149788, 1e-4);
        close(s.accuracy, 0.5, 1e-12);
    }

    #[test]
    fn binary_auc_matches_scikit_learn() {
        let s = [0.9, 0.8, 0.8, 0.6, 0.55, 0.4, 0.4, 0.3, 0.2, 0.1];
        let t = [1, 1, 0, 1, 0, 1, 0, 0, 1, 0];
        let scored: Vec<(f64, bool)> = s.iter().zip(t).map(|(s, t)| (*s, t == 1)).collect();
        close(binary_auc(&scored).unwrap(), 0.68, 1e-12);
    }

    #[test]
    fn auc_counts_ties_as_half() {
        // Positives 0.9, 0.4; negatives 0.4, 0.1: pairs (0.9>0.4, 0.9>0.1, 0.4=0.4, 0.4>0.1)
        // = (1 + 1 + 0.5 + 1) / 4.
        let s = [(0.9, true), (0.4, true), (0.4, false), (0.1, false)];
        close(binary_auc(&s).unwrap(), 0.875, 1e-12);
        assert_eq!(binary_auc(&[(0.3, true)]), None);
    }

    #[test]
    fn folds_are_stratified_balanced_and_reproducible() {
        let y: Vec<usize> = (0..23).map(|i| usize::from(i % 3 == 0)).collect();
        let a = stratified_folds(&y, 4, 7);
        assert_eq!(a, stratified_folds(&y, 4, 7));
        assert_ne!(a, stratified_folds(&y, 4, 8));
        for f in 0..4 {
            let in_fold: Vec<usize> = (0..23).filter(|&i| a[i] == f).collect();
            assert!((5..=6).contains(&in_fold.len()), "{in_fold:?}");
            let positives = in_fold.iter().filter(|&&i| y[i] == 1).count();
            assert!(
                (2..=3).contains(&positives),
                "fold {f}: {positives} of 8 positives"
            );
        }
    }
}
