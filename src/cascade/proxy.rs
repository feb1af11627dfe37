//! The proxy tier: a logistic regression over embeddings, trained on the labels an LLM tier
//! gave a pool of unlabelled inputs, so the LLM makes the training data for the cheaper
//! stage. Its confidence is the predicted probability of its answer.

use ndarray::Array2;
use serde_json::Value;

/// The text of a case that the proxy embeds: the variable `input`, or the case's only
/// variable.
pub fn input_text(vars: &Value, input: Option<&str>) -> Result<String, String> {
    let obj = vars
        .as_object()
        .ok_or_else(|| "the case has no variables".to_string())?;
    let value = match input {
        Some(name) => obj
            .get(name)
            .ok_or_else(|| format!("the case has no variable `{name}`"))?,
        None if obj.len() == 1 => obj.values().next().unwrap_or(&Value::Null),
        None => {
            return Err(format!(
                "the cases have {} variables: name the one to embed with `input:`",
                obj.len()
            ));
        }
    };
    Ok(match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// What the proxy was trained on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Training {
    /// Pool inputs with a usable label from the labeller.
    pub examples: usize,
    /// Pool inputs the labeller gave no usable answer (left out).
    pub unlabelled: usize,
    /// The labels seen in training (the proxy can answer only these).
    pub classes: usize,
    pub dimensions: usize,
}

/// Trains on `(vector, label)` and predicts each of `test`: the most probable label and its
/// probability. Features are standardized on the training set.
pub fn train_predict(
    train: &[(&[f32], &str)],
    test: &[&[f32]],
    regularization: f64,
) -> Result<(Vec<(String, f64)>, Training), String> {
    let dims = train.first().map_or(0, |(v, _)| v.len());
    if dims == 0 {
        return Err("the pool has no labelled input to learn from".into());
    }
    if train.iter().any(|(v, _)| v.len() != dims) || test.iter().any(|v| v.len() != dims) {
        return Err(
            "embedding vectors of different lengths (was the embedding model changed?)".into(),
        );
    }
    let mut classes: Vec<&str> = train.iter().map(|(_, l)| *l).collect();
    classes.sort_unstable();
    classes.dedup();
    let y: Vec<usize> = train
        .iter()
        .map(|(_, l)| classes.binary_search(l).unwrap_or(0))
        .collect();
    // Standardize each dimension on the training inputs.
    let n = train.len() as f64;
    let mut mean = vec![0.0f64; dims];
    for (v, _) in train {
        for (m, x) in mean.iter_mut().zip(v.iter()) {
            *m += f64::from(*x) / n;
        }
    }
    let mut sd = vec![0.0f64; dims];
    for (v, _) in train {
        for ((s, x), m) in sd.iter_mut().zip(v.iter()).zip(&mean) {
            *s += (f64::from(*x) - m).powi(2) / n;
        }
    }
    for s in &mut sd {
        *s = if *s > 0.0 { s.sqrt() } else { 1.0 };
    }
    let matrix = |rows: &[&[f32]]| {
        Array2::from_shape_fn((rows.len(), dims), |(r, j)| {
            (f64::from(rows[r][j]) - mean[j]) / sd[j]
        })
    };
    let x_train = matrix(&train.iter().map(|(v, _)| *v).collect::<Vec<_>>());
    let x_test = matrix(test);
    let probs = if classes.len() == 1 {
        vec![vec![1.0]; test.len()]
    } else {
        crate::features::model::fit_predict(&x_train, &y, classes.len(), &x_test, regularization)?
    };
    let predictions = probs
        .iter()
        .map(|row| {
            let (best, p) = row
                .iter()
                .enumerate()
                .fold((0, f64::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
            (classes[best].to_string(), p.clamp(0.0, 1.0))
        })
        .collect();
    Ok((
        predictions,
        Training {
            examples: train.len(),
            unlabelled: 0,
            classes: classes.len(),
            dimensions: dims,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points around one centre per class, in 8 dimensions, with a seeded jitter.
    fn blobs(n: usize, spread: f32, seed: u64) -> Vec<(Vec<f32>, String)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let labels = ["billing", "bug", "other"];
        (0..n)
            .map(|i| {
                let c = i % 3;
                let v: Vec<f32> = (0..8)
                    .map(|d| {
                        let centre = if d % 3 == c { 3.0 } else { 0.0 };
                        centre + spread * (rng.f32() - 0.5) * 2.0
                    })
                    .collect();
                (v, labels[c].to_string())
            })
            .collect()
    }

    fn accuracy(train: &[(Vec<f32>, String)], test: &[(Vec<f32>, String)]) -> (f64, f64) {
        let t: Vec<(&[f32], &str)> = train
            .iter()
            .map(|(v, l)| (v.as_slice(), l.as_str()))
            .collect();
        let x: Vec<&[f32]> = test.iter().map(|(v, _)| v.as_slice()).collect();
        let (pred, info) = train_predict(&t, &x, 1.0).unwrap();
        assert_eq!((info.classes, info.dimensions), (3, 8));
        let right = pred
            .iter()
            .zip(test)
            .filter(|(p, (_, l))| &p.0 == l)
            .count();
        let mean_p = pred.iter().map(|p| p.1).sum::<f64>() / pred.len() as f64;
        (right as f64 / test.len() as f64, mean_p)
    }

    #[test]
    fn embeddings_that_separate_the_classes_give_a_sure_and_right_proxy() {
        let (acc, p) = accuracy(&blobs(300, 1.0, 1), &blobs(90, 1.0, 2));
        assert!(acc > 0.95, "{acc}");
        assert!(p > 0.8, "{p}");
    }

    #[test]
    fn embeddings_that_do_not_separate_them_give_chance_and_doubt() {
        // Labels assigned at random to noise: nothing to learn.
        let mut rng = fastrand::Rng::with_seed(3);
        let noise = |n: usize, rng: &mut fastrand::Rng| -> Vec<(Vec<f32>, String)> {
            (0..n)
                .map(|_| {
                    let v = (0..8).map(|_| rng.f32()).collect();
                    (v, ["billing", "bug", "other"][rng.usize(0..3)].to_string())
                })
                .collect()
        };
        let train = noise(300, &mut rng);
        let test = noise(300, &mut rng);
        let (acc, p) = accuracy(&train, &test);
        assert!(acc < 0.45, "{acc}");
        assert!(p < 0.6, "{p}");
    }

    #[test]
    fn the_input_is_the_named_or_only_variable() {
        let vars = serde_json::json!({"text": "hi"});
        assert_eq!(input_text(&vars, None).unwrap(), "hi");
        let two = serde_json::json!({"text": "hi", "lang": "en"});
        assert!(input_text(&two, None).unwrap_err().contains("name the one"));
        assert_eq!(input_text(&two, Some("lang")).unwrap(), "en");
        assert!(
            input_text(&two, Some("x"))
                .unwrap_err()
                .contains("no variable `x`")
        );
    }
}
