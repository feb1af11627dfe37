//! Threshold simulation from stored answers: every tier has answered every case once, so any
//! operating point (a threshold per tier, or the tier left out) can be replayed offline.

use serde::Serialize;

use crate::stats;

/// What one tier said about one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierAnswer {
    /// None when the tier gave no usable answer (an error or a broken contract): the case
    /// goes on to the next tier.
    pub answer: Option<String>,
    pub confidence: f64,
    pub cost_usd: f64,
    pub latency_ms: f64,
}

/// One golden case: the expected label and each tier's answer, in tier order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseAnswers {
    pub case_id: String,
    pub expected: String,
    pub tiers: Vec<TierAnswer>,
}

/// An operating point: for each tier but the last, its threshold (None: the tier is left
/// out, neither called nor paid).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub thresholds: Vec<Option<f64>>,
    /// Share of the cases answered by each tier.
    pub answered: Vec<f64>,
    /// Share of the cases that reach the last tier.
    pub reach_top: f64,
    pub accuracy: f64,
    pub accuracy_low: f64,
    pub accuracy_high: f64,
    pub cost_per_1k: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Accuracy against the last tier alone.
    pub quality_retained: f64,
    /// Cost against the last tier alone.
    pub cost_share: f64,
}

/// Replays one operating point.
pub fn evaluate(cases: &[CaseAnswers], thresholds: &[Option<f64>]) -> Point {
    replay(cases, thresholds, true)
}

/// Replays one operating point; the latency percentiles (a sort each) only when asked.
fn replay(cases: &[CaseAnswers], thresholds: &[Option<f64>], latency: bool) -> Point {
    let tiers = thresholds.len() + 1;
    let mut answered = vec![0usize; tiers];
    let mut right = 0usize;
    let mut cost = 0.0;
    let mut latencies = Vec::with_capacity(cases.len());
    for c in cases {
        let r = route(c, thresholds);
        cost += r.cost_usd;
        answered[r.tier] += 1;
        right += usize::from(r.answer == Some(c.expected.as_str()));
        if latency {
            latencies.push(r.latency_ms);
        }
    }
    let n = cases.len().max(1) as f64;
    let interval = stats::wilson(right as u64, cases.len() as u64);
    Point {
        thresholds: thresholds.to_vec(),
        answered: answered.iter().map(|a| *a as f64 / n).collect(),
        reach_top: *answered.last().unwrap_or(&0) as f64 / n,
        accuracy: right as f64 / n,
        accuracy_low: interval.low,
        accuracy_high: interval.high,
        cost_per_1k: cost / n * 1000.0,
        latency_p50_ms: stats::percentile(&latencies, 0.50).unwrap_or(0.0),
        latency_p95_ms: stats::percentile(&latencies, 0.95).unwrap_or(0.0),
        quality_retained: 0.0,
        cost_share: 0.0,
    }
}

/// Where an operating point takes one case: the tier that answers (the last one always does),
/// its answer (None: not usable), and what the tiers it passed through cost and took.
struct Route<'c> {
    tier: usize,
    answer: Option<&'c str>,
    cost_usd: f64,
    latency_ms: f64,
}

fn route<'c>(c: &'c CaseAnswers, thresholds: &[Option<f64>]) -> Route<'c> {
    let tiers = thresholds.len() + 1;
    let mut out = Route {
        tier: tiers - 1,
        answer: None,
        cost_usd: 0.0,
        latency_ms: 0.0,
    };
    for (k, t) in c.tiers.iter().enumerate().take(tiers) {
        let last = k + 1 == tiers;
        let threshold = if last {
            Some(f64::NEG_INFINITY)
        } else {
            thresholds[k]
        };
        let Some(threshold) = threshold else {
            continue;
        };
        out.cost_usd += t.cost_usd;
        out.latency_ms += t.latency_ms;
        if t.answer.is_some() && t.confidence >= threshold || last {
            out.tier = k;
            out.answer = t.answer.as_deref();
            break;
        }
    }
    out
}

/// An operating point against the top tier alone, case by case: is the loss of accuracy
/// shown to be within what the target allows?
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct VersusTop {
    /// Accuracy of the point − accuracy of the top tier alone, with its 95% interval for
    /// paired proportions (Newcombe's, `stats::paired_difference`).
    pub delta: f64,
    pub low: f64,
    pub high: f64,
    /// The loss the target allows, in accuracy: (1 − target) × the top tier's accuracy.
    pub margin: f64,
    /// The whole interval is above −margin: the point is shown to keep the target.
    pub shown: bool,
    pub n: usize,
}

/// The paired comparison of an operating point with the top tier alone.
pub fn versus_top(
    cases: &[CaseAnswers],
    thresholds: &[Option<f64>],
    target: f64,
) -> Option<VersusTop> {
    let top = vec![None; thresholds.len()];
    let right =
        |c: &CaseAnswers, t: &[Option<f64>]| route(c, t).answer == Some(c.expected.as_str());
    // [both right, the top tier only, the point only, neither]
    let mut table = [0u64; 4];
    for c in cases {
        table[usize::from(!right(c, &top)) * 2 + usize::from(!right(c, thresholds))] += 1;
    }
    let (delta, low, high) = stats::paired_difference(table[0], table[1], table[2], table[3])?;
    let top_accuracy = (table[0] + table[1]) as f64 / cases.len().max(1) as f64;
    let margin = (1.0 - target).max(0.0) * top_accuracy;
    Some(VersusTop {
        shown: low >= -margin - 1e-12,
        delta,
        low,
        high,
        margin,
        n: cases.len(),
    })
}

/// Candidate thresholds of a tier: its distinct confidences (at most `max` quantiles of them),
/// each meaning "answer when at least this sure".
fn candidates(cases: &[CaseAnswers], tier: usize, max: usize) -> Vec<f64> {
    let mut c: Vec<f64> = cases
        .iter()
        .filter(|c| c.tiers[tier].answer.is_some())
        .map(|c| c.tiers[tier].confidence)
        .collect();
    c.sort_by(f64::total_cmp);
    // Values a rounding error apart are one threshold.
    c.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    if c.len() > max {
        c = (0..max)
            .map(|i| c[i * (c.len() - 1) / (max - 1).max(1)])
            .collect();
        c.dedup();
    }
    c
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frontier {
    /// The last tier alone: the reference.
    pub top: Point,
    /// The points no other point beats on both cost and accuracy, cheapest first.
    pub frontier: Vec<Point>,
    /// The cheapest point keeping `target` of the top tier's accuracy.
    pub recommended: Option<Point>,
    pub target: f64,
    /// How many operating points were replayed.
    pub explored: usize,
}

impl Frontier {
    /// A point's accuracy and cost against the top tier alone.
    pub fn relative(&self, p: Point) -> Point {
        relative(&self.top, p)
    }
}

/// A point's accuracy and cost against `top` (the top tier alone).
fn relative(top: &Point, mut p: Point) -> Point {
    p.quality_retained = if top.accuracy > 0.0 {
        p.accuracy / top.accuracy
    } else {
        1.0
    };
    p.cost_share = if top.cost_per_1k > 0.0 {
        p.cost_per_1k / top.cost_per_1k
    } else {
        0.0
    };
    p
}

pub use crate::config::spec::MAX_TIERS;

/// Replays every combination of candidate thresholds (each tier but the last also left out),
/// keeps the frontier and picks the recommendation.
pub fn frontier(cases: &[CaseAnswers], tiers: usize, target: f64) -> Frontier {
    let lower = tiers.saturating_sub(1);
    // Fewer candidates per tier as tiers are added, to bound the combinations.
    let per_tier = match lower {
        0 | 1 => 200,
        2 => 40,
        3 => 16,
        _ => 8,
    };
    let options: Vec<Vec<Option<f64>>> = (0..lower)
        .map(|k| {
            std::iter::once(None)
                .chain(candidates(cases, k, per_tier).into_iter().map(Some))
                .collect()
        })
        .collect();
    let top = evaluate(cases, &vec![None; lower]);
    let mut points = Vec::new();
    let mut idx = vec![0usize; lower];
    loop {
        let t: Vec<Option<f64>> = idx
            .iter()
            .enumerate()
            .map(|(k, &i)| options[k][i])
            .collect();
        points.push(relative(&top, replay(cases, &t, false)));
        // The next combination, like an odometer.
        let mut k = 0;
        while k < lower {
            idx[k] += 1;
            if idx[k] < options[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
        if k == lower {
            break;
        }
    }
    let explored = points.len();
    // Only the points shown get their latency percentiles.
    let full = |p: &Point| relative(&top, evaluate(cases, &p.thresholds));
    let recommended = points
        .iter()
        .filter(|p| p.accuracy >= target * top.accuracy - 1e-12)
        .min_by(|a, b| {
            a.cost_per_1k
                .total_cmp(&b.cost_per_1k)
                .then(b.accuracy.total_cmp(&a.accuracy))
                .then(a.reach_top.total_cmp(&b.reach_top))
        })
        .map(full);
    points.sort_by(|a, b| {
        a.cost_per_1k
            .total_cmp(&b.cost_per_1k)
            .then(b.accuracy.total_cmp(&a.accuracy))
    });
    let mut frontier: Vec<Point> = Vec::new();
    for p in points {
        if frontier
            .last()
            .is_none_or(|f| p.accuracy > f.accuracy + 1e-12)
        {
            frontier.push(p);
        }
    }
    Frontier {
        top: relative(&top, top.clone()),
        frontier: frontier.iter().map(full).collect(),
        recommended,
        target,
        explored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(answer: &str, confidence: f64, cost: f64) -> TierAnswer {
        TierAnswer {
            answer: Some(answer.into()).filter(|a: &String| !a.is_empty()),
            confidence,
            cost_usd: cost,
            latency_ms: cost * 1000.0,
        }
    }

    /// Four cases, two tiers: the cheap tier (cost 1) is right and sure on two, wrong and
    /// unsure on one, wrong and sure on one; the top tier (cost 10) is right on all but the
    /// last.
    fn fixture() -> Vec<CaseAnswers> {
        let case = |id: &str, expected: &str, cheap: TierAnswer, top: TierAnswer| CaseAnswers {
            case_id: id.into(),
            expected: expected.into(),
            tiers: vec![cheap, top],
        };
        vec![
            case("a", "x", t("x", 0.9, 1.0), t("x", 1.0, 10.0)),
            case("b", "y", t("y", 0.8, 1.0), t("y", 1.0, 10.0)),
            case("c", "x", t("y", 0.3, 1.0), t("x", 1.0, 10.0)),
            case("d", "y", t("x", 0.95, 1.0), t("x", 1.0, 10.0)),
        ]
    }

    #[test]
    fn a_threshold_replays_by_hand() {
        let cases = fixture();
        // At 0.5 the cheap tier answers a, b, d (2 right) and hands c on (right): 3 of 4.
        let p = evaluate(&cases, &[Some(0.5)]);
        assert_eq!(p.answered, vec![0.75, 0.25]);
        assert_eq!(p.reach_top, 0.25);
        assert_eq!(p.accuracy, 0.75);
        // Every case pays the cheap tier, one pays the top tier too: (4 + 10) / 4 per case.
        assert!((p.cost_per_1k - 3500.0).abs() < 1e-9);
        // Latency adds up along the way: 1000, 1000, 11000, 1000 ms.
        assert_eq!(p.latency_p50_ms, 1000.0);
        // Left out, the cheap tier costs nothing and the top tier answers all: 3 of 4.
        let top = evaluate(&cases, &[None]);
        assert_eq!((top.accuracy, top.cost_per_1k), (0.75, 10000.0));
        // At 0 the cheap tier answers everything: 2 of 4.
        assert_eq!(evaluate(&cases, &[Some(0.0)]).accuracy, 0.5);
        // A tier without a usable answer hands the case on whatever the threshold.
        let mut broken = fixture();
        broken[0].tiers[0] = t("", 0.0, 1.0);
        let p = evaluate(&broken, &[Some(0.0)]);
        assert_eq!(p.answered, vec![0.75, 0.25]);
    }

    #[test]
    fn the_recommendation_is_the_cheapest_point_that_meets_the_target() {
        let f = frontier(&fixture(), 2, 0.98);
        assert_eq!(f.top.accuracy, 0.75);
        let r = f.recommended.unwrap();
        // 0.5 keeps the top tier's accuracy at 35% of its cost; a cheaper point (0.0, or
        // 0.3: c answered wrong by the cheap tier) loses accuracy.
        assert_eq!(r.accuracy, 0.75);
        assert!(r.thresholds[0].unwrap() > 0.3 && r.thresholds[0].unwrap() <= 0.8);
        assert!((r.cost_share - 0.35).abs() < 1e-9);
        assert!((r.quality_retained - 1.0).abs() < 1e-12);
        // The frontier rises in accuracy as the cost rises.
        assert!(
            f.frontier
                .windows(2)
                .all(|w| w[1].cost_per_1k >= w[0].cost_per_1k && w[1].accuracy > w[0].accuracy)
        );
        assert_eq!(f.frontier[0].accuracy, 0.5);
        // A lower target allows the cheap tier alone.
        let cheap = frontier(&fixture(), 2, 0.6).recommended.unwrap();
        assert_eq!(cheap.accuracy, 0.5);
        assert!((cheap.cost_per_1k - 1000.0).abs() < 1e-9);
    }
}
