//! Gates: a suite's thresholds evaluated on a candidate run and its comparison with the
//! baseline. Each gate says pass, fail or skipped, with the numbers behind it.

use crate::config::{Gates, Suite};
use crate::features::lift::LiftReport;
use crate::features::stability::StabilityReport;
use serde::{Deserialize, Serialize};

use crate::analysis::RunReport;
use crate::compare::{Comparison, MetricDelta};
use crate::runfile::RunFile;

use crate::metric::{format_change, format_signed, format_value};
pub use crate::status::{GateStatus, SuiteStatus};

fn pct(x: f64) -> String {
    format_value("pass_rate", x)
}

fn result(gate: String, ok: bool, detail: String) -> GateResult {
    GateResult {
        gate,
        status: if ok {
            GateStatus::Pass
        } else {
            GateStatus::Fail
        },
        detail,
    }
}

fn skipped(gate: String, detail: impl Into<String>) -> GateResult {
    GateResult {
        gate,
        status: GateStatus::Skipped,
        detail: detail.into(),
    }
}

/// The feature analyses some gates need, computed by the caller (they read the golden data).
#[derive(Debug, Default)]
pub struct Analyses {
    /// The candidate's downstream lift.
    pub lift: Option<LiftReport>,
    /// The baseline's, or why there is none.
    pub baseline_lift: Option<Result<LiftReport, String>>,
    /// The features' stability from the baseline to the candidate, or why there is none.
    pub stability: Option<Result<StabilityReport, String>>,
    /// For each judge of the suite at its current version: the humans' agreement with it
    /// (None when nobody has reviewed that version yet).
    pub judge_kappa: Vec<(String, String, Option<crate::review::JudgeCalibration>)>,
    /// The suite's cascade replayed on the current prompt and models, or why it could not be.
    pub cascade: Option<Result<crate::cascade::CascadeReport, String>>,
}

/// Evaluates a suite's gates. Without a comparison (no baseline yet) only the absolute gates
/// are evaluated; the relative ones are skipped and say why.
pub fn evaluate(
    suite: &Suite,
    candidate: &RunFile,
    cmp: Option<&Comparison>,
    analyses: &Analyses,
) -> Vec<GateResult> {
    let g: &Gates = &suite.gates;
    let mut out = Vec::new();
    metric_gates(g, candidate, cmp, &mut out);
    if let Some(max) = g.max_cost_increase {
        out.push(cost_gate(max, cmp));
    }
    if let Some(max) = g.max_latency_p95_ms {
        out.push(latency_gate(max, candidate));
    }
    error_rate_gates(suite, candidate, &mut out);
    if let Some(min) = g.min_judge_kappa {
        judge_kappa_gates(min, analyses, &mut out);
    }
    lift_gates(g, analyses, &mut out);
    if let Some(max) = g.max_flip_rate {
        out.push(flip_gate(max, analyses.stability.as_ref()));
    }
    cascade_gates(g, analyses.cascade.as_ref(), &mut out);
    out
}

/// Each metric's floor on the candidate and its largest drop against the baseline.
fn metric_gates(
    g: &Gates,
    candidate: &RunFile,
    cmp: Option<&Comparison>,
    out: &mut Vec<GateResult>,
) {
    for (metric, m) in &g.metrics {
        if let Some(min) = m.min {
            let name = format!("{metric} min");
            match crate::compare::run_value(candidate, metric) {
                Some(v) => out.push(result(
                    name,
                    v >= min,
                    format!(
                        "{} against a floor of {}",
                        format_value(metric, v),
                        format_value(metric, min)
                    ),
                )),
                None => out.push(skipped(name, "the run has no value for this metric")),
            }
        }
        if let Some(max) = m.max {
            let name = format!("{metric} max");
            match crate::compare::run_value(candidate, metric) {
                Some(v) => out.push(result(
                    name,
                    v <= max,
                    format!(
                        "{} against a ceiling of {}",
                        format_value(metric, v),
                        format_value(metric, max)
                    ),
                )),
                None => out.push(skipped(name, "the run has no value for this metric")),
            }
        }
        if let Some(max_drop) = m.max_drop {
            let name = format!("{metric} max_drop");
            let Some(cmp) = cmp else {
                out.push(skipped(name, "no baseline to compare with"));
                continue;
            };
            let Some(d) = cmp.metrics.iter().find(|d| &d.name == metric) else {
                out.push(skipped(name, "neither run has a value for this metric"));
                continue;
            };
            out.push(drop_gate(name, metric, max_drop, m.significant, m.alpha, d));
        }
    }
}

/// The cost per case may rise by at most `max` percent over the baseline's.
fn cost_gate(max: f64, cmp: Option<&Comparison>) -> GateResult {
    let name = "max_cost_increase".to_string();
    match cmp.and_then(|c| c.metrics.iter().find(|d| d.name == "cost_per_case")) {
        Some(MetricDelta {
            base: Some(b),
            candidate: Some(c),
            ..
        }) if *b > 0.0 => {
            let increase = (c - b) / b * 100.0;
            result(
                name,
                increase <= max,
                format!(
                    "cost per case ${c:.6} against ${b:.6}: {increase:+.1}% (at most {max:+.1}%)"
                ),
            )
        }
        _ if cmp.is_none() => skipped(name, "no baseline to compare with"),
        _ => skipped(name, "the baseline cost nothing per case"),
    }
}

/// The candidate's p95 latency may be at most `max` milliseconds.
fn latency_gate(max: f64, candidate: &RunFile) -> GateResult {
    let name = "max_latency_p95_ms".to_string();
    match candidate.report.latency.p95_ms {
        Some(p95) => result(
            name,
            p95 <= max,
            format!("p95 latency {p95:.0} ms (at most {max:.0} ms)"),
        ),
        None => skipped(
            name,
            "no call was timed in this run (every answer came from the cache or a cassette)",
        ),
    }
}

/// The share of cases that failed with an error, and of each judge's verdicts it could not
/// read or ask, each within the suite's limit.
fn error_rate_gates(suite: &Suite, candidate: &RunFile, out: &mut Vec<GateResult>) {
    if let Some(max) = suite.max_error_rate {
        let name = "max_error_rate".to_string();
        let r = &candidate.report.counts;
        if r.cases > 0 {
            let rate = r.error as f64 / r.cases as f64;
            out.push(result(
                name,
                rate <= max,
                format!(
                    "{} of {} cases failed with an error ({}, at most {})",
                    r.error,
                    r.cases,
                    pct(rate),
                    pct(max)
                ),
            ));
        }
    }
    for j in &candidate.report.judges {
        let asked = j.pass + j.fail + j.errors;
        if asked == 0 {
            continue;
        }
        let rate = j.errors as f64 / asked as f64;
        let max = suite.max_judge_error_rate;
        out.push(result(
            format!("max_judge_error_rate {}", j.judge),
            rate <= max,
            format!(
                "{} of {} verdicts of judge {} could not be read or asked ({}, at most {})",
                j.errors,
                asked,
                j.judge,
                pct(rate),
                pct(max)
            ),
        ));
    }
}

/// Each judge must agree with the people who reviewed it at a kappa of at least `min`.
fn judge_kappa_gates(min: f64, analyses: &Analyses, out: &mut Vec<GateResult>) {
    for (judge, version, cal) in &analyses.judge_kappa {
        let name = format!("min_judge_kappa {judge}");
        let short = crate::hash::short(version);
        match cal.as_ref().and_then(|c| Some((c, c.kappa?))) {
            Some((c, k)) => out.push(result(
                name,
                k.delta >= min,
                format!(
                    "judge {judge}@{short} agrees with people at kappa {:.3} (95% CI {:.3} to {:.3}, {} items reviewed) against a floor of {min:.2}",
                    k.delta, k.low, k.high, c.reviewed
                ),
            )),
            None => out.push(skipped(
                name,
                format!(
                    "nobody has reviewed judge {judge}@{short} yet: `evalgate review sample --run RUN`, then `evalgate review label`"
                ),
            )),
        }
    }
}

/// The cascade at its pinned thresholds (else at the recommended point) must keep its
/// quality and stay within its budget.
fn cascade_gates(
    g: &Gates,
    cascade: Option<&Result<crate::cascade::CascadeReport, String>>,
    out: &mut Vec<GateResult>,
) {
    let wanted = [
        (
            "cascade_min_quality_retained",
            g.cascade_min_quality_retained,
        ),
        ("cascade_max_cost_per_1k", g.cascade_max_cost_per_1k),
    ];
    for (name, limit) in wanted {
        let Some(limit) = limit else {
            continue;
        };
        let report = match cascade {
            None => {
                out.push(skipped(name.into(), "the cascade was not replayed"));
                continue;
            }
            // A cascade that cannot be measured does not keep its promise.
            Some(Err(why)) => {
                out.push(result(
                    name.into(),
                    false,
                    format!("the cascade could not be measured: {why}"),
                ));
                continue;
            }
            Some(Ok(r)) => r,
        };
        let Some(p) = report.operating_point() else {
            out.push(result(
                name.into(),
                false,
                "no operating point of the cascade reaches its target".into(),
            ));
            continue;
        };
        let which = if report.pinned.is_some() {
            "at the suite's thresholds"
        } else {
            "at the recommended point"
        };
        let at = crate::cascade::cascade_thresholds(report, p);
        if name == "cascade_min_quality_retained" {
            out.push(result(
                name.into(),
                p.quality_retained >= limit - 1e-12,
                format!(
                    "{which} ({at}) the cascade keeps {} of the top tier's accuracy ({} against {}), against a floor of {}",
                    pct(p.quality_retained),
                    pct(p.accuracy),
                    pct(report.frontier.top.accuracy),
                    pct(limit)
                ),
            ));
        } else {
            out.push(result(
                name.into(),
                p.cost_per_1k <= limit + 1e-12,
                format!(
                    "{which} ({at}) the cascade costs ${:.6} per 1,000 cases, against a budget of ${limit}",
                    p.cost_per_1k
                ),
            ));
        }
    }
}

fn lift_gates(g: &Gates, a: &Analyses, out: &mut Vec<GateResult>) {
    let lift = a.lift.as_ref().and_then(|l| l.lift);
    if let Some(min) = g.min_lift {
        let name = "min_lift".to_string();
        match lift {
            Some(l) => out.push(result(
                name,
                l.delta >= min,
                format!(
                    "downstream AUC lift {} (95% CI {} to {}) against a floor of {}",
                    format_signed(l.delta),
                    format_signed(l.low),
                    format_signed(l.high),
                    format_signed(min)
                ),
            )),
            None => out.push(skipped(name, "the lift could not be computed")),
        }
    }
    if let Some(max_drop) = g.max_lift_drop {
        let name = "max_lift_drop".to_string();
        let base = match &a.baseline_lift {
            None => {
                out.push(skipped(name, "no baseline to compare with"));
                return;
            }
            Some(Err(why)) => {
                out.push(skipped(name, format!("the baseline's lift: {why}")));
                return;
            }
            Some(Ok(b)) => b.lift,
        };
        match (base, lift) {
            (Some(b), Some(c)) => {
                let drop = b.delta - c.delta;
                out.push(result(
                    name,
                    drop <= max_drop + 1e-12,
                    format!(
                        "downstream AUC lift {} → {} ({}); allowed drop {:.3}",
                        format_signed(b.delta),
                        format_signed(c.delta),
                        format_signed(c.delta - b.delta),
                        max_drop
                    ),
                ));
            }
            _ => out.push(skipped(name, "the lift could not be computed")),
        }
    }
}

fn flip_gate(max: f64, stability: Option<&Result<StabilityReport, String>>) -> GateResult {
    let name = "max_flip_rate".to_string();
    let s = match stability {
        None => return skipped(name, "no baseline to compare with"),
        Some(Err(why)) => return skipped(name, why.clone()),
        Some(Ok(s)) => s,
    };
    let over: Vec<String> = s
        .fields
        .iter()
        .filter(|f| f.flip_rate.is_some_and(|r| r > max + 1e-12))
        .map(|f| {
            format!(
                "`{}` changed on {} of {} cases ({})",
                f.field,
                f.flipped,
                f.compared,
                pct(f.flip_rate.unwrap_or(0.0))
            )
        })
        .collect();
    if over.is_empty() {
        let worst = s
            .worst()
            .map(|(f, r)| format!("most changed: `{f}` on {}", pct(r)))
            .unwrap_or_else(|| "no field compared".into());
        result(
            name,
            true,
            format!(
                "{worst} of cases against the baseline (at most {})",
                pct(max)
            ),
        )
    } else {
        result(
            name,
            false,
            format!(
                "against the baseline {} (at most {})",
                over.join(", "),
                pct(max)
            ),
        )
    }
}

/// A `max_drop` gate: the metric may not get worse by more than `max_drop`; with
/// `significant`, a larger drop fails only when it is also significant at `alpha`.
fn drop_gate(
    name: String,
    metric: &str,
    max_drop: f64,
    significant: bool,
    alpha: f64,
    d: &MetricDelta,
) -> GateResult {
    let (Some(b), Some(c)) = (d.base, d.candidate) else {
        return skipped(name, "one of the runs has no value for this metric");
    };
    // How much worse the candidate is, in the metric's own direction.
    let worse = if d.higher_is_better { b - c } else { c - b };
    let interval = d
        .delta
        .map(|x| {
            format!(
                ", 95% CI {} to {}",
                format_change(metric, x.low),
                format_change(metric, x.high)
            )
        })
        .unwrap_or_default();
    let p = d.p_value.unwrap_or(1.0);
    // The test, and for the bootstrap the smallest p-value its resamples can give.
    let test = match d.resamples {
        Some(r) if significant => format!(
            "bootstrap of {} resamples, smallest possible p {}",
            crate::text::thousands(r),
            {
                let min = crate::stats::smallest_p(r as usize);
                crate::stats::format_p(min, Some(min))
            }
        ),
        _ => d.test.clone(),
    };
    let mut detail = format!(
        "{} → {} ({}{interval}; {}, {test}); allowed drop {}",
        format_value(metric, b),
        format_value(metric, c),
        format_change(metric, c - b),
        crate::stats::p_is(p, significant.then_some(alpha)),
        format_change(metric, max_drop).trim_start_matches('+'),
    );
    let too_far = worse > max_drop + 1e-12;
    let ok = if !too_far {
        true
    } else if significant && p >= alpha {
        detail.push_str(&format!(
            "; the drop is within noise (p ≥ α = {alpha}), so it does not fail the gate"
        ));
        true
    } else {
        false
    };
    result(name, ok, detail)
}

/// One gate's verdict with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// What is gated: `pass_rate min`, `scorer.contract max_drop`, `max_cost_increase`…
    pub gate: String,
    pub status: GateStatus,
    /// The numbers: observed value, threshold, interval and p-value, in words.
    pub detail: String,
}

/// The verdict of `evalgate gate` on one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteVerdict {
    pub suite: String,
    pub status: SuiteStatus,
    pub candidate: Option<RunReport>,
    pub comparison: Option<Comparison>,
    pub gates: Vec<GateResult>,
    /// Why the suite ran, or why it did not (`prompt changed`, `no baseline`…).
    pub reason: String,
    /// The file name of the suite's HTML report, beside its run file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cascade_that_cannot_be_measured_fails_its_gates() {
        let g = Gates {
            cascade_min_quality_retained: Some(0.95),
            cascade_max_cost_per_1k: Some(1.0),
            ..Gates::default()
        };
        let mut out = Vec::new();
        cascade_gates(&g, Some(&Err("tier 2 did not finish".into())), &mut out);
        assert_eq!(out.len(), 2);
        assert!(
            out.iter()
                .all(|r| r.status == crate::status::GateStatus::Fail),
            "{out:?}"
        );
        assert!(
            out[0]
                .detail
                .contains("could not be measured: tier 2 did not finish")
        );
        // Without cascade gates, nothing is said.
        let mut out = Vec::new();
        cascade_gates(&Gates::default(), None, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_bootstrap_gate_states_its_smallest_p_and_shows_p_with_alpha_digits() {
        let d = MetricDelta {
            name: "field.risk.mae".into(),
            higher_is_better: false,
            base: Some(1.0),
            candidate: Some(1.5),
            delta: Some(crate::stats::Delta {
                delta: 0.5,
                low: 0.2,
                high: 0.8,
                p_value: 0.0005,
            }),
            p_value: Some(0.0005),
            test: "bootstrap".into(),
            n: 80,
            resamples: Some(2000),
        };
        let g = drop_gate("m".into(), "field.risk.mae", 0.1, true, 0.001, &d);
        assert_eq!(g.status, crate::status::GateStatus::Fail);
        assert!(
            g.detail
                .contains("p = 0.0005, bootstrap of 2,000 resamples, smallest possible p 0.0005"),
            "{}",
            g.detail
        );
        // At α = 0.0005 it would read the same as α, so it is shown with one more digit.
        let d = MetricDelta {
            p_value: Some(0.00052),
            ..d
        };
        let g = drop_gate("m".into(), "field.risk.mae", 0.1, true, 0.0005, &d);
        assert!(g.detail.contains("p = 0.00052,"), "{}", g.detail);
        assert!(g.detail.contains("(p ≥ α = 0.0005)"), "{}", g.detail);
    }
}
