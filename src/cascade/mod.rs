//! Cascades: the cheapest tier answers first and hands a case on when its confidence is low;
//! the last tier always answers. evalgate runs every tier once on every case of a suite, then
//! simulates thresholds offline from the stored answers: the cost / quality frontier, and the
//! cheapest operating point that keeps a target share of the top tier's accuracy.
//!
//! - [`confidence`]: a tier's confidence in its answer (token log-probabilities renormalised
//!   over the contract's labels, agreement of K samples, or a field of the output);
//! - [`simulate`]: thresholds → who answers, accuracy with its interval, cost, latency; the
//!   frontier and the recommendation.

pub mod confidence;
pub mod proxy;
pub mod simulate;

pub use crate::config::spec::{
    CascadeSpec, Confidence, DEFAULT_SAMPLE_TEMPERATURE, DEFAULT_SAMPLES, DEFAULT_TARGET,
    ProxySpec, TOP_LOGPROBS, Tier,
};

impl Confidence {
    pub fn describe(&self) -> String {
        match self {
            Confidence::Logprobs => "logprobs".into(),
            Confidence::SelfConsistency {
                samples,
                temperature,
            } => format!("agreement of {samples} samples at temperature {temperature}"),
            Confidence::Field(f) => format!("output field `{f}`"),
            Confidence::Probability => "predicted probability".into(),
            Confidence::Final => "always answers".into(),
        }
    }
}

use crate::status::CaseStatus;
use serde::Serialize;
use serde_json::Value;

use crate::metric::format_change;
use crate::store::CaseRow;
use simulate::{CaseAnswers, Frontier, Point, TierAnswer};

/// One tier as measured on its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierSummary {
    pub model: String,
    pub confidence: String,
    /// The stored run of this tier (None for the proxy).
    pub run_id: Option<String>,
    /// Share of the cases with a usable answer.
    pub usable: f64,
    /// Accuracy of its answers over every case (no answer counts as wrong).
    pub accuracy: f64,
    pub accuracy_low: f64,
    pub accuracy_high: f64,
    pub cost_per_1k: f64,
    pub latency_p50_ms: f64,
    /// Mean confidence of its usable answers.
    pub mean_confidence: Option<f64>,
    /// Mean confidence of its right and of its wrong answers: a confidence worth using is
    /// higher on the right ones.
    pub confidence_right: Option<f64>,
    pub confidence_wrong: Option<f64>,
}

/// `evalgate cascade`'s result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CascadeReport {
    pub suite: String,
    pub field: String,
    pub cases: usize,
    pub tiers: Vec<TierSummary>,
    pub frontier: Frontier,
    /// The operating point the suite pins (every tier's `threshold`), when it does.
    pub pinned: Option<Point>,
    /// The recommended point against the top tier alone, case by case.
    #[serde(default)]
    pub recommended_vs_top: Option<simulate::VersusTop>,
    /// The pinned point against the top tier alone.
    #[serde(default)]
    pub pinned_vs_top: Option<simulate::VersusTop>,
    pub notes: Vec<String>,
}

impl CascadeReport {
    /// The point the gates hold the cascade to: the pinned one, else the recommended one.
    pub fn operating_point(&self) -> Option<&Point> {
        self.pinned.as_ref().or(self.frontier.recommended.as_ref())
    }
}

/// A field's value as a label (strings as they are, other values as JSON).
pub fn label_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One tier's answers to the cases, from its stored case rows (several rows a case when it
/// sampled): the answer, the confidence from the tier's source, the cost and the latency
/// (the samples of a case are sent together, so its latency is the slowest sample's).
pub fn tier_answers(
    tier: &Tier,
    field: &str,
    labels: &[String],
    rows: &[CaseRow],
    notes: &mut Vec<String>,
) -> std::collections::HashMap<String, TierAnswer> {
    use std::collections::HashMap;
    let answer_of = |r: &CaseRow| -> Option<(String, Value)> {
        if r.status == CaseStatus::Error || r.kind == Some(crate::status::CaseKind::Contract) {
            return None;
        }
        let parsed: Value = serde_json::from_str(r.parsed_json.as_deref()?).ok()?;
        Some((label_of(parsed.get(field)?)?, parsed))
    };
    let mut by_case: HashMap<&str, Vec<&CaseRow>> = HashMap::new();
    for r in rows {
        by_case.entry(r.case_id.as_str()).or_default().push(r);
    }
    let mut without_logprobs = 0;
    let mut out = HashMap::new();
    for (case, rows) in by_case {
        let cost: f64 = rows.iter().map(|r| r.cost_usd).sum();
        let latency = rows.iter().filter_map(|r| r.latency_ms).fold(0.0, f64::max);
        let first = rows.iter().min_by_key(|r| r.repeat_index).copied();
        let (answer, confidence) = match &tier.confidence {
            Confidence::SelfConsistency { .. } => {
                let samples: Vec<Option<String>> =
                    rows.iter().map(|r| answer_of(r).map(|a| a.0)).collect();
                match confidence::vote(&samples) {
                    Some((a, share)) => (Some(a), share),
                    None => (None, 0.0),
                }
            }
            Confidence::Logprobs => match first.and_then(|r| Some((r, answer_of(r)?))) {
                Some((r, (a, _))) => {
                    let tokens: Option<Vec<crate::provider::TokenLogprob>> = r
                        .logprobs_json
                        .as_deref()
                        .and_then(|l| serde_json::from_str(l).ok());
                    let p = tokens
                        .as_deref()
                        .and_then(|t| confidence::label_probability(t, field, &a, labels));
                    if p.is_none() {
                        without_logprobs += 1;
                    }
                    (Some(a), p.unwrap_or(0.0))
                }
                None => (None, 0.0),
            },
            Confidence::Field(f) => match first.and_then(answer_of) {
                Some((a, parsed)) => {
                    let c = confidence::field_confidence(&parsed, f).unwrap_or(0.0);
                    (Some(a), c)
                }
                None => (None, 0.0),
            },
            Confidence::Final | Confidence::Probability => {
                (first.and_then(answer_of).map(|a| a.0), 1.0)
            }
        };
        out.insert(
            case.to_string(),
            TierAnswer {
                answer,
                confidence,
                cost_usd: cost,
                latency_ms: latency,
            },
        );
    }
    if without_logprobs > 0 {
        notes.push(format!(
            "tier {}: {without_logprobs} answers came without usable log-probabilities (the provider did not send them, or the answer is not in its tokens); their confidence is 0, so they are handed on",
            tier.model
        ));
    }
    out
}

/// Joins the tiers' answers case by case against the expected labels. Cases without an
/// expected value of the field are left out (with a note), and so are cases a tier did not
/// answer at all (a run cut short).
pub fn join(
    expected: &[(String, Option<String>)],
    tiers: &[std::collections::HashMap<String, TierAnswer>],
    notes: &mut Vec<String>,
) -> Vec<CaseAnswers> {
    let mut out = Vec::new();
    let (mut unlabelled, mut missing) = (0, 0);
    for (id, label) in expected {
        let Some(label) = label else {
            unlabelled += 1;
            continue;
        };
        let answers: Option<Vec<TierAnswer>> = tiers.iter().map(|t| t.get(id).cloned()).collect();
        match answers {
            Some(tiers) => out.push(CaseAnswers {
                case_id: id.clone(),
                expected: label.clone(),
                tiers,
            }),
            None => missing += 1,
        }
    }
    if unlabelled > 0 {
        notes.push(format!(
            "{unlabelled} cases have no expected value of the field and are left out"
        ));
    }
    if missing > 0 {
        notes.push(format!(
            "{missing} cases lack an answer of some tier and are left out"
        ));
    }
    out
}

/// A tier measured alone over the joined cases.
pub fn summarize_tier(
    k: usize,
    tier_name: &str,
    confidence: String,
    run_id: Option<String>,
    cases: &[CaseAnswers],
) -> TierSummary {
    let n = cases.len().max(1) as f64;
    let answers: Vec<&TierAnswer> = cases.iter().map(|c| &c.tiers[k]).collect();
    let right: Vec<bool> = cases
        .iter()
        .map(|c| c.tiers[k].answer.as_deref() == Some(c.expected.as_str()))
        .collect();
    let usable: Vec<&TierAnswer> = answers
        .iter()
        .copied()
        .filter(|a| a.answer.is_some())
        .collect();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let conf_by = |want: bool| -> Vec<f64> {
        answers
            .iter()
            .zip(&right)
            .filter(|(a, r)| a.answer.is_some() && **r == want)
            .map(|(a, _)| a.confidence)
            .collect()
    };
    let hits = right.iter().filter(|r| **r).count();
    let interval = crate::stats::wilson(hits as u64, cases.len() as u64);
    let latencies: Vec<f64> = answers.iter().map(|a| a.latency_ms).collect();
    TierSummary {
        model: tier_name.to_string(),
        confidence,
        run_id,
        usable: usable.len() as f64 / n,
        accuracy: hits as f64 / n,
        accuracy_low: interval.low,
        accuracy_high: interval.high,
        cost_per_1k: answers.iter().map(|a| a.cost_usd).sum::<f64>() / n * 1000.0,
        latency_p50_ms: crate::stats::percentile(&latencies, 0.5).unwrap_or(0.0),
        mean_confidence: mean(&usable.iter().map(|a| a.confidence).collect::<Vec<_>>()),
        confidence_right: mean(&conf_by(true)),
        confidence_wrong: mean(&conf_by(false)),
    }
}

/// Notes for the tiers that alone beat the top tier beyond their 95% interval: the top tier is
/// then a weak reference for the quality a cascade keeps.
pub fn weak_top(tiers: &[TierSummary]) -> Vec<String> {
    let Some((top, lower)) = tiers.split_last() else {
        return Vec::new();
    };
    lower
        .iter()
        .filter(|t| t.accuracy_low > top.accuracy)
        .map(|t| {
            format!(
                "{} alone is more accurate than the top tier {} ({:.1}% against {:.1}%, beyond its 95% interval): the top tier is a weak reference, and the quality kept is measured against it",
                t.model,
                top.model,
                t.accuracy * 100.0,
                top.accuracy * 100.0
            )
        })
        .collect()
}

/// An operating point's thresholds, tier by tier: `smollm2 ≥ 0.91 · gemma off`.
pub fn cascade_thresholds(r: &CascadeReport, p: &simulate::Point) -> String {
    let parts: Vec<String> = p
        .thresholds
        .iter()
        .zip(&r.tiers)
        .map(|(t, tier)| match t {
            Some(t) => format!("{} ≥ {t:.2}", tier.model),
            None => format!("{} off", tier.model),
        })
        .collect();
    if parts.is_empty() {
        "the top tier alone".into()
    } else {
        parts.join(" · ")
    }
}

/// What an operating point keeps and costs against the top tier alone.
pub fn cascade_sentence(p: &simulate::Point) -> String {
    format!(
        "keeps {:.0}% of the top tier's accuracy{} with {:.0}% of calls reaching it, at {:.0}% of the cost",
        p.quality_retained * 100.0,
        if p.quality_retained > 1.0 + 1e-9 {
            " (more than the top tier itself, a weak reference: see the note above)"
        } else {
            ""
        },
        p.reach_top * 100.0,
        p.cost_share * 100.0
    )
}

/// Whether an operating point is shown to keep the target against the top tier, with the
/// margin the target allows: a point estimate above the target on few cases is not proof.
pub fn cascade_claim(v: &simulate::VersusTop, target: f64) -> String {
    let interval = format!(
        "{} against the top tier alone (95% CI {} to {})",
        format_change("pass_rate", v.delta),
        format_change("pass_rate", v.low),
        format_change("pass_rate", v.high)
    );
    let margin = format_change("pass_rate", v.margin);
    let margin = margin.trim_start_matches('+');
    if v.shown {
        format!(
            "{interval}: shown within the {margin} loss that {:.0}% of its accuracy allows",
            target * 100.0
        )
    } else {
        format!(
            "{interval}: not shown within the {margin} loss that {:.0}% of its accuracy allows; n = {} is too small to show it keeps the target (more cases, or a lower target)",
            target * 100.0,
            v.n
        )
    }
}
