//! The report model: plain serializable structs filled by the analyses and read by the
//! renderers. Renderers are pure functions of this model; they compute nothing.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod terminal;

use serde::{Deserialize, Serialize};

use crate::score::stats::{Confusion, LabelMetrics, Proportion};

/// Everything the report of one run shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run: RunHeader,
    pub counts: Counts,
    /// Cases that passed every scorer, out of all cases run (errors count as not passed).
    pub pass_rate: Proportion,
    pub scorers: Vec<ScorerSummary>,
    /// Each judge's verdicts, errors and cost (apart from the target's).
    #[serde(default)]
    pub judges: Vec<JudgeSummary>,
    /// For scorers with several votes a case: how often the readable votes were unanimous.
    #[serde(default)]
    pub agreement: Vec<Agreement>,
    pub enum_fields: Vec<EnumFieldReport>,
    pub integer_fields: Vec<IntegerFieldReport>,
    pub usage: UsageReport,
    pub latency: LatencyReport,
    /// Failure and error kinds with their counts, most frequent first.
    pub kinds: Vec<KindCount>,
    /// The first failing cases, in case id order.
    pub failures: Vec<FailureRow>,
    /// How many failing cases there are in all.
    pub failures_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub id: String,
    pub suite: String,
    pub model: String,
    pub model_api_name: String,
    pub provider: String,
    pub provider_kind: String,
    pub prompt: String,
    pub prompt_version: String,
    pub dataset: String,
    pub dataset_version: String,
    pub status: String,
    /// Why a stopped run stopped (`interrupted`, `budget`).
    pub stop_reason: Option<String>,
    pub repeats: u64,
    pub planned_cases: u64,
    pub started_at: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub cases: u64,
    pub pass: u64,
    pub fail: u64,
    pub error: u64,
    /// Failures whose output broke the prompt's contract.
    pub contract_violations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorerSummary {
    pub name: String,
    pub pass: u64,
    pub fail: u64,
    pub skip: u64,
    /// The scorer itself failed (a judge error): never a pass, shown apart.
    #[serde(default)]
    pub error: u64,
    /// Passes out of scored cases (skips and cases without output are not counted).
    pub rate: Proportion,
}

/// A pairwise comparison of two runs by a judge, from the candidate's side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseReport {
    pub base_run: String,
    pub base_model: String,
    pub candidate_run: String,
    pub candidate_model: String,
    pub judge: String,
    pub judge_version: String,
    /// Cases both runs answered.
    pub pairs: u64,
    /// Out of the pairs with a readable verdict in both orders.
    pub wins: Proportion,
    pub ties: Proportion,
    pub losses: Proportion,
    /// Pairs whose verdict flipped with the order because the judge chose the same position.
    pub position_bias: Proportion,
    pub judge_errors: u64,
    pub judge_calls: u64,
    pub judge_cache_hits: u64,
    pub judge_input_tokens: u64,
    pub judge_output_tokens: u64,
    pub judge_cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub scorer: String,
    /// Cases with at least two readable votes, and the unanimous share of them.
    pub unanimous: Proportion,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    pub scorer: String,
    pub judge: String,
    pub judge_version: String,
    pub model: String,
    pub pass: u64,
    pub fail: u64,
    /// Verdicts that could not be read (after one retry) or calls that failed.
    pub errors: u64,
    /// Passes out of readable verdicts.
    pub rate: Proportion,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub cache_hits: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumFieldReport {
    pub field: String,
    /// Cases whose predicted label equals the expected one, out of cases with an expected label.
    pub accuracy: Proportion,
    /// Cohen's kappa between the expected and the predicted labels.
    pub kappa: Option<f64>,
    /// The mean of the labels' F1 (each label counts the same; see `stats::f1_averages`).
    #[serde(default)]
    pub macro_f1: Option<f64>,
    /// The labels' F1 weighted by their support.
    #[serde(default)]
    pub weighted_f1: Option<f64>,
    pub labels: Vec<LabelMetrics>,
    pub confusion: Confusion,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegerFieldReport {
    pub field: String,
    pub mae: Option<f64>,
    /// Exact matches.
    pub exact: Proportion,
    /// Cases with both an expected and a predicted value.
    pub n: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageReport {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Total cost over the cases that got an answer.
    pub cost_per_case_usd: f64,
    pub answered: u64,
    /// Answers served from the response cache.
    pub cache_hits: u64,
    /// What was paid in this run (cache hits cost nothing).
    pub cost_paid_usd: f64,
    /// What the cache hits would have cost.
    pub cost_saved_usd: f64,
    /// Answers whose provider reported no token usage (a stream without a usage chunk):
    /// their tokens and cost are missing from the totals.
    pub unmetered: u64,
    /// Cases that needed more than one attempt.
    pub retried: u64,
    /// HTTP requests made to the model, retries included (a case may take several; an
    /// answer from the cache takes none).
    #[serde(default)]
    pub requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencyReport {
    pub n: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Calls whose time to first token was measured (streamed).
    pub ttft_n: u64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    /// `fail` or `error`.
    pub status: String,
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRow {
    pub case_id: String,
    pub status: String,
    pub kind: String,
    pub message: String,
}

/// How a metric's numbers are shown, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A share, in percent (changes in points).
    Rate,
    Usd,
    Ms,
    /// Kappa, mean absolute error.
    Number,
}

fn unit(metric: &str) -> Unit {
    if metric == "cost_per_case" {
        Unit::Usd
    } else if metric.ends_with("_ms") {
        Unit::Ms
    } else if metric.ends_with(".kappa") || metric.ends_with(".mae") {
        Unit::Number
    } else {
        Unit::Rate
    }
}

/// A metric's value: `92.5%`, `$0.000020`, `1200 ms`, `0.350`.
pub fn format_value(metric: &str, v: f64) -> String {
    match unit(metric) {
        Unit::Rate => format!("{:.1}%", v * 100.0),
        Unit::Usd => format!("${v:.6}"),
        Unit::Ms => format!("{v:.0} ms"),
        Unit::Number => format!("{v:.3}"),
    }
}

/// An operating point's thresholds, tier by tier: `smollm2 ≥ 0.91 · gemma off`.
pub fn cascade_thresholds(
    r: &crate::cascade::CascadeReport,
    p: &crate::cascade::simulate::Point,
) -> String {
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
pub fn cascade_sentence(p: &crate::cascade::simulate::Point) -> String {
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
pub fn cascade_claim(v: &crate::cascade::simulate::VersusTop, target: f64) -> String {
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

/// A signed number with three decimals: `+0.049`, `-0.010` (lifts, kappas).
pub fn format_signed(x: f64) -> String {
    format!("{}{:.3}", if x < 0.0 { '-' } else { '+' }, x.abs())
}

/// A change of a metric, signed: `-6.2 pt` (percentage points), `+$0.000001`, `+40 ms`.
pub fn format_change(metric: &str, v: f64) -> String {
    let sign = if v < 0.0 { '-' } else { '+' };
    let a = v.abs();
    match unit(metric) {
        Unit::Rate => format!("{sign}{:.1} pt", a * 100.0),
        Unit::Usd => format!("{sign}${a:.6}"),
        Unit::Ms => format!("{sign}{a:.0} ms"),
        Unit::Number => format!("{sign}{a:.3}"),
    }
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
    pub delta: Option<crate::score::stats::Delta>,
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

/// One gate's verdict with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// What is gated: `pass_rate min`, `scorer.contract max_drop`, `max_cost_increase`…
    pub gate: String,
    /// `pass`, `fail` or `skipped`.
    pub status: String,
    /// The numbers: observed value, threshold, interval and p-value, in words.
    pub detail: String,
}

/// The verdict of `evalgate gate` on one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteVerdict {
    pub suite: String,
    /// `pass`, `fail` (a regression), `error` (the run could not be trusted) or `unchanged`
    /// (nothing the suite depends on changed since the baseline, so nothing was run).
    pub status: String,
    pub candidate: Option<RunReport>,
    pub comparison: Option<Comparison>,
    pub gates: Vec<GateResult>,
    /// Why the suite ran, or why it did not (`prompt changed`, `no baseline`…).
    pub reason: String,
    /// The file name of the suite's HTML report, beside its run file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
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
    pub run_id: String,
    pub pass_rate: Proportion,
    pub cost_per_case_usd: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Pass rate against the first model, on the cases both answered (none for the first).
    pub vs_first: Option<MetricDelta>,
}
