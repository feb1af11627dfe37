//! The arithmetic of the `similar` scorer: the cosine similarity of two embeddings and the
//! verdict against a threshold. Getting the embeddings is the runner's part (it calls the
//! scorer's model through its provider); this module never calls anything.

use super::{Outcome, Score};

/// The cosine similarity of two vectors: 1 for the same direction, 0 for orthogonal, -1 for
/// opposite. None when the lengths differ or a vector is all zeros (no direction).
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    Some((dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0))
}

/// The verdict of a `similar` scorer on the output's and the expected text's embeddings:
/// pass at a similarity of at least `threshold` (inverted when negated). Vectors that cannot
/// be compared are an error, never a pass.
pub fn verdict(
    scorer: &str,
    output: &[f32],
    expected: &[f32],
    threshold: f64,
    negate: bool,
) -> Score {
    let (outcome, detail) = match cosine(output, expected) {
        None => (
            Outcome::Error,
            Some(format!(
                "the embeddings cannot be compared ({} and {} dimensions, or a zero vector)",
                output.len(),
                expected.len()
            )),
        ),
        Some(sim) => {
            let similar = sim >= threshold;
            let outcome = if similar != negate {
                Outcome::Pass
            } else {
                Outcome::Fail
            };
            let relation = if similar { "at least" } else { "below" };
            let detail = format!("cosine similarity {sim:.3}, {relation} {threshold}");
            let detail = match (outcome, negate) {
                (Outcome::Fail, true) => format!("negated: {detail}"),
                _ => detail,
            };
            (outcome, Some(detail))
        }
    };
    Score {
        scorer: scorer.to_string(),
        outcome,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_hand_worked_vectors() {
        // (1, 0) and (1, 1): 1 / (1 × √2) = 0.7071.
        let c = cosine(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
        assert!((c - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-9);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[1.0, 0.0], &[-1.0, 0.0]), Some(-1.0));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 0.0]), None);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), None);
    }

    #[test]
    fn verdict_against_the_threshold_and_negated() {
        let (a, b) = ([1.0, 0.0], [1.0, 1.0]);
        assert_eq!(verdict("s", &a, &b, 0.7, false).outcome, Outcome::Pass);
        assert_eq!(verdict("s", &a, &b, 0.75, false).outcome, Outcome::Fail);
        assert_eq!(verdict("s", &a, &b, 0.75, true).outcome, Outcome::Pass);
        let neg = verdict("s", &a, &b, 0.7, true);
        assert_eq!(neg.outcome, Outcome::Fail);
        assert_eq!(
            neg.detail.as_deref(),
            Some("negated: cosine similarity 0.707, at least 0.7")
        );
        assert_eq!(
            verdict("s", &a, &[0.0, 0.0], 0.5, false).outcome,
            Outcome::Error
        );
    }
}
