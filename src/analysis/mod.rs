//! Summaries of stored runs: from rows to the report model. Synchronous and pure.
//!
//! `Summarizer` takes the case rows one at a time (a run of 200,000 cases is streamed from the
//! store, never held whole) and the score counts, and produces the `RunReport`.

use crate::status::{CaseKind, CaseStatus};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::contract::Contract;
mod model;
use crate::stats::{self, Confusion};
use crate::store::{CaseRow, RunRow, ScoreRow};
pub use model::*;

/// How many failing cases the report lists.
pub const FAILURES_SHOWN: usize = 10;

/// The label shown for a case without a usable prediction.
pub const NO_LABEL: &str = "(none)";

fn object(text: Option<&str>) -> Map<String, Value> {
    text.and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// (expected label, predicted label) → cases.
type LabelCounts = BTreeMap<(String, String), u64>;

/// Accumulates an integer field: absolute errors, exact matches.
#[derive(Default)]
struct IntegerAcc {
    abs_error: f64,
    pairs: u64,
    exact: u64,
    with_expected: u64,
}

/// The report of a run, built one case at a time.
pub struct Summarizer {
    run: RunRow,
    contract: Option<Contract>,
    counts: Counts,
    kinds: BTreeMap<(CaseStatus, String), u64>,
    failures: Vec<FailureRow>,
    failures_total: u64,
    /// Per enum field: (expected, predicted) → count.
    labels: Vec<(String, Vec<String>, LabelCounts)>,
    integers: Vec<(String, IntegerAcc)>,
    usage: UsageReport,
    latencies: Vec<f64>,
    ttfts: Vec<f64>,
    /// The timings, when they were read elsewhere (a stored run's, from the store's order
    /// statistics): the cases' are then not kept.
    latency: Option<LatencyReport>,
}

impl Summarizer {
    pub fn new(run: &RunRow) -> Summarizer {
        let contract: Option<Contract> = run
            .contract_json
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok());
        let labels = contract
            .iter()
            .flat_map(|c| {
                c.enum_fields()
                    .map(|(f, l)| (f.to_string(), l.to_vec(), BTreeMap::new()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let integers = contract
            .iter()
            .flat_map(|c| {
                c.integer_fields()
                    .map(|f| (f.to_string(), IntegerAcc::default()))
                    .collect::<Vec<_>>()
            })
            .collect();
        Summarizer {
            run: run.clone(),
            contract,
            counts: Counts::default(),
            kinds: BTreeMap::new(),
            failures: Vec::new(),
            failures_total: 0,
            labels,
            integers,
            usage: UsageReport::default(),
            latencies: Vec::new(),
            ttfts: Vec::new(),
            latency: None,
        }
    }

    /// A summarizer whose report takes these timings instead of keeping each case's: memory
    /// stays flat whatever the number of cases.
    pub fn with_latency(run: &RunRow, latency: LatencyReport) -> Summarizer {
        Summarizer {
            latency: Some(latency),
            ..Summarizer::new(run)
        }
    }

    /// Adds one case result (rows must come in case id order for the failure list).
    pub fn add(&mut self, c: &CaseRow) {
        self.counts.cases += 1;
        match c.status {
            CaseStatus::Pass => self.counts.pass += 1,
            CaseStatus::Fail => self.counts.fail += 1,
            CaseStatus::Error => self.counts.error += 1,
        }
        if c.status != CaseStatus::Pass {
            if c.kind == Some(CaseKind::Contract) {
                self.counts.contract_violations += 1;
            }
            let kind = c.kind.map_or("unknown", CaseKind::as_str);
            *self.kinds.entry((c.status, kind.to_string())).or_default() += 1;
            self.failures_total += 1;
            if self.failures.len() < FAILURES_SHOWN {
                self.failures.push(FailureRow {
                    case_id: c.case_id.clone(),
                    status: c.status,
                    kind: kind.to_string(),
                    message: c.message.clone().unwrap_or_default(),
                });
            }
        }
        if self.contract.is_some() {
            let expected = object(Some(&c.expected_json));
            let got = object(c.parsed_json.as_deref());
            for (field, _, counts) in &mut self.labels {
                if let Some(e) = expected.get(field.as_str()).and_then(Value::as_str) {
                    let p = got
                        .get(field.as_str())
                        .and_then(Value::as_str)
                        .unwrap_or(NO_LABEL);
                    *counts.entry((e.to_string(), p.to_string())).or_default() += 1;
                }
            }
            for (field, acc) in &mut self.integers {
                if let Some(e) = expected.get(field.as_str()).and_then(Value::as_f64) {
                    acc.with_expected += 1;
                    if let Some(p) = got.get(field.as_str()).and_then(Value::as_f64) {
                        acc.pairs += 1;
                        acc.abs_error += (e - p).abs();
                        if e == p {
                            acc.exact += 1;
                        }
                    }
                }
            }
        }
        let u = &mut self.usage;
        if c.output.is_some() {
            u.answered += 1;
        }
        u.input_tokens += c.input_tokens.max(0) as u64;
        u.cached_input_tokens += c.cached_input_tokens.max(0) as u64;
        u.output_tokens += c.output_tokens.max(0) as u64;
        u.cost_usd += c.cost_usd;
        if c.cache_hit == 1 {
            u.cache_hits += 1;
            u.cost_saved_usd += c.cost_usd;
        } else {
            u.cost_paid_usd += c.cost_usd;
        }
        if c.output.is_some() && c.input_tokens == 0 && c.output_tokens == 0 {
            u.unmetered += 1;
        }
        if c.attempts > 1 {
            u.retried += 1;
        }
        u.requests += c.attempts.max(0) as u64;
        // Latency describes calls made in this run: a cached answer's timing is an old one.
        if c.cache_hit == 0 && self.latency.is_none() {
            self.latencies.extend(c.latency_ms);
            self.ttfts.extend(c.ttft_ms);
        }
    }

    /// The report, given each scorer's outcome counts as (scorer, outcome, count), the
    /// judges' totals, their vote agreement and the scorers' paid calls (embeddings).
    pub fn finish(
        self,
        score_counts: &[(String, String, i64)],
        verdicts: &[crate::store::VerdictTotals],
        agreement: &[(String, i64, i64)],
        scorer_calls: &[crate::store::ScorerCallTotals],
    ) -> RunReport {
        let enum_fields = self
            .labels
            .into_iter()
            .filter(|(_, _, counts)| !counts.is_empty())
            .map(|(field, labels, counts)| enum_field_report(field, &labels, &counts))
            .collect();
        let integer_fields = self
            .integers
            .into_iter()
            .filter(|(_, acc)| acc.with_expected > 0)
            .map(|(field, acc)| IntegerFieldReport {
                field,
                mae: (acc.pairs > 0).then(|| acc.abs_error / acc.pairs as f64),
                exact: stats::wilson(acc.exact, acc.with_expected),
                n: acc.pairs,
            })
            .collect();

        let mut usage = self.usage;
        if usage.answered > 0 {
            usage.cost_per_case_usd = usage.cost_usd / usage.answered as f64;
        }
        let counts = self.counts;
        RunReport {
            run: run_header(&self.run),
            counts,
            pass_rate: stats::wilson(counts.pass, counts.cases),
            scorers: scorer_summaries(&self.run.scorers_json, score_counts),
            judges: judge_summaries(verdicts),
            agreement: agreement
                .iter()
                .map(|(scorer, cases, unanimous)| Agreement {
                    scorer: scorer.clone(),
                    unanimous: stats::wilson(
                        unanimous.max(&0).unsigned_abs(),
                        cases.max(&0).unsigned_abs(),
                    ),
                })
                .collect(),
            embeddings: embedding_summaries(scorer_calls),
            enum_fields,
            integer_fields,
            usage,
            latency: self
                .latency
                .unwrap_or_else(|| latency_report(&self.latencies, &self.ttfts)),
            kinds: kind_counts(self.kinds),
            failures: self.failures,
            failures_total: self.failures_total,
        }
    }
}

/// The header of the report: what the run was and how it ended.
fn run_header(run: &RunRow) -> RunHeader {
    RunHeader {
        id: run.id.clone(),
        suite: run.suite.clone(),
        model: run.model.clone(),
        model_api_name: run.model_api_name.clone(),
        provider: run.provider.clone(),
        provider_kind: run.provider_kind.clone(),
        prompt: run.prompt.clone(),
        prompt_version: run.prompt_version.clone(),
        dataset: run.dataset.clone(),
        dataset_version: run.dataset_version.clone(),
        status: run.status,
        stop_reason: run.stop_reason.clone(),
        repeats: run.repeats.max(1) as u64,
        planned_cases: run.planned_cases.max(0) as u64,
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
    }
}

/// The failures and errors by (status, kind), the most frequent first.
fn kind_counts(kinds: BTreeMap<(CaseStatus, String), u64>) -> Vec<KindCount> {
    let mut kinds: Vec<KindCount> = kinds
        .into_iter()
        .map(|((status, kind), count)| KindCount {
            status,
            kind,
            count,
        })
        .collect();
    kinds.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    kinds
}

/// Each scorer of the run (named in `scorers_json`) with its outcome counts and pass rate.
fn scorer_summaries(
    scorers_json: &str,
    score_counts: &[(String, String, i64)],
) -> Vec<ScorerSummary> {
    let names: Vec<String> = serde_json::from_str(scorers_json).unwrap_or_default();
    names
        .iter()
        .map(|name| {
            let count = |o: &str| {
                score_counts
                    .iter()
                    .filter(|(s, out, _)| s == name && out == o)
                    .map(|(_, _, n)| *n as u64)
                    .sum::<u64>()
            };
            let (pass, fail, skip, error) =
                (count("pass"), count("fail"), count("skip"), count("error"));
            ScorerSummary {
                name: name.clone(),
                pass,
                fail,
                skip,
                error,
                rate: stats::wilson(pass, pass + fail),
            }
        })
        .collect()
}

/// Each judge's verdicts, pass rate, tokens and cost.
fn judge_summaries(verdicts: &[crate::store::VerdictTotals]) -> Vec<JudgeSummary> {
    verdicts
        .iter()
        .map(|v| {
            let (pass, fail) = (v.pass.max(0) as u64, v.fail.max(0) as u64);
            JudgeSummary {
                scorer: v.scorer.clone(),
                judge: v.judge.clone(),
                judge_version: v.judge_version.clone(),
                model: v.judge_model.clone(),
                pass,
                fail,
                errors: v.error.max(0) as u64,
                rate: stats::wilson(pass, pass + fail),
                input_tokens: v.input_tokens.max(0) as u64,
                output_tokens: v.output_tokens.max(0) as u64,
                cost_usd: v.cost_usd,
                cache_hits: v.cache_hits.max(0) as u64,
            }
        })
        .collect()
}

/// Each scorer's embeddings requests, tokens and cost.
fn embedding_summaries(totals: &[crate::store::ScorerCallTotals]) -> Vec<EmbeddingSummary> {
    totals
        .iter()
        .map(|t| EmbeddingSummary {
            scorer: t.scorer.clone(),
            model: t.model.clone(),
            calls: t.calls.max(0) as u64,
            input_tokens: t.input_tokens.max(0) as u64,
            cost_usd: t.cost_usd,
        })
        .collect()
}

/// An enum field's accuracy, kappa, F1 averages, per-label metrics and confusion matrix.
fn enum_field_report(field: String, labels: &[String], counts: &LabelCounts) -> EnumFieldReport {
    let confusion = Confusion::from_counts(
        labels,
        counts
            .iter()
            .map(|((e, p), n)| (e.as_str(), p.as_str(), *n)),
    );
    let total: u64 = counts.values().sum();
    let correct: u64 = counts
        .iter()
        .filter(|((e, p), _)| e == p)
        .map(|(_, n)| n)
        .sum();
    let metrics: Vec<stats::LabelMetrics> = (0..labels.len())
        .map(|i| confusion.label_metrics(i))
        .collect();
    let f1 = stats::f1_averages(&metrics);
    EnumFieldReport {
        accuracy: stats::wilson(correct, total),
        kappa: confusion.kappa(),
        macro_f1: f1.map(|f| f.0),
        weighted_f1: f1.map(|f| f.1),
        labels: metrics,
        confusion,
        field,
    }
}

/// The latency percentiles of the answers timed, and of their first tokens.
fn latency_report(latencies: &[f64], ttfts: &[f64]) -> LatencyReport {
    LatencyReport {
        n: latencies.len() as u64,
        p50_ms: stats::percentile(latencies, 0.5),
        p95_ms: stats::percentile(latencies, 0.95),
        max_ms: latencies.iter().copied().reduce(f64::max),
        ttft_n: ttfts.len() as u64,
        ttft_p50_ms: stats::percentile(ttfts, 0.5),
        ttft_p95_ms: stats::percentile(ttfts, 0.95),
    }
}

/// Summarizes a run whose rows are all in memory.
pub fn summarize(run: &RunRow, cases: &[CaseRow], scores: &[ScoreRow]) -> RunReport {
    summarize_with_judges(run, cases, scores, &[], &[], &[])
}

/// Summarizes a run whose rows are all in memory, with its judges' totals and vote agreement
/// (scorer, cases with several readable votes, unanimous cases) and its scorers' paid calls.
pub fn summarize_with_judges(
    run: &RunRow,
    cases: &[CaseRow],
    scores: &[ScoreRow],
    verdicts: &[crate::store::VerdictTotals],
    agreement: &[(String, i64, i64)],
    scorer_calls: &[crate::store::ScorerCallTotals],
) -> RunReport {
    let mut s = Summarizer::new(run);
    for c in cases {
        s.add(c);
    }
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for sc in scores {
        *counts
            .entry((sc.scorer.clone(), sc.outcome.to_string()))
            .or_default() += 1;
    }
    let counts: Vec<(String, String, i64)> =
        counts.into_iter().map(|((s, o), n)| (s, o, n)).collect();
    s.finish(&counts, verdicts, agreement, scorer_calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunRow {
        RunRow {
            id: "r".into(),
            suite: "s".into(),
            model: "m".into(),
            model_api_name: "m".into(),
            provider: "p".into(),
            provider_kind: "openai".into(),
            prompt: "p".into(),
            prompt_version: "v".into(),
            dataset: "d".into(),
            dataset_version: "dv".into(),
            status: crate::status::RunStatus::Finished,
            planned_cases: 3,
            started_at: String::new(),
            finished_at: None,
            price_json: "{}".into(),
            scorers_json: r#"["intent"]"#.into(),
            contract_json: Some(r#"{"fields":{"intent":{"type":"enum","values":["a","b"]},"risk":{"type":"integer","min":1,"max":5}}}"#.into()),
            case_limit: None,
            repeats: 1,
            stop_reason: None,
            batch_id: None,
            prompt_source: None,
            selection_json: None,
            git_commit: None,
            fingerprint_json: None,
        }
    }

    fn case(
        id: &str,
        status: &str,
        expected: &str,
        parsed: Option<&str>,
        tokens: i64,
        cache_hit: i64,
    ) -> CaseRow {
        CaseRow {
            run_id: "r".into(),
            case_id: id.into(),
            repeat_index: 0,
            seq: 0,
            status: crate::status::CaseStatus::parse(status).unwrap(),
            kind: (status != "pass").then_some(CaseKind::Score),
            message: None,
            request_hash: None,
            vars_json: "{}".into(),
            expected_json: expected.into(),
            tags_json: "[]".into(),
            output: parsed.map(str::to_string),
            parsed_json: parsed.map(str::to_string),
            input_tokens: tokens,
            cached_input_tokens: 0,
            output_tokens: tokens,
            cost_usd: 0.001 * tokens as f64,
            latency_ms: Some(10.0 * tokens as f64),
            finished_at: String::new(),
            cache_hit,
            attempts: 1,
            ttft_ms: None,
            logprobs_json: None,
        }
    }

    #[test]
    fn summarizes_labels_errors_usage_and_the_cache() {
        let cases = [
            case(
                "1",
                "pass",
                r#"{"intent":"a","risk":2}"#,
                Some(r#"{"intent":"a","risk":2}"#),
                1,
                0,
            ),
            case(
                "2",
                "fail",
                r#"{"intent":"b","risk":4}"#,
                Some(r#"{"intent":"a","risk":1}"#),
                2,
                1,
            ),
            case("3", "error", r#"{"intent":"b","risk":5}"#, None, 0, 0),
            case(
                "4",
                "pass",
                r#"{"intent":"b"}"#,
                Some(r#"{"intent":"b"}"#),
                0,
                0,
            ),
        ];
        let scores = [ScoreRow {
            case_id: "1".into(),
            repeat_index: 0,
            scorer: "intent".into(),
            outcome: crate::status::Outcome::Pass,
            detail: None,
        }];
        let r = summarize(&run(), &cases, &scores);
        assert_eq!((r.counts.pass, r.counts.fail, r.counts.error), (2, 1, 1));
        // intent: 1 → a/a, 2 → b/a, 3 → b/(none), 4 → b/b: 2 of 4 right.
        let intent = &r.enum_fields[0];
        assert_eq!((intent.accuracy.successes, intent.accuracy.total), (2, 4));
        assert_eq!(intent.confusion.labels, ["a", "b", NO_LABEL]);
        // risk: pairs (2,2) and (4,1): MAE 1.5; 3 cases have an expected risk, 1 exact.
        let risk = &r.integer_fields[0];
        assert_eq!(risk.mae, Some(1.5));
        assert_eq!((risk.exact.successes, risk.exact.total, risk.n), (1, 3, 2));
        // Case 2 came from the cache: its cost is saved, not paid. Case 4 has no usage.
        assert!((r.usage.cost_paid_usd - 0.001).abs() < 1e-12);
        assert!((r.usage.cost_saved_usd - 0.002).abs() < 1e-12);
        assert_eq!(
            (r.usage.cache_hits, r.usage.unmetered, r.usage.answered),
            (1, 1, 3)
        );
        assert_eq!(r.scorers[0].pass, 1);
        assert_eq!(
            r.failures
                .iter()
                .map(|f| f.case_id.as_str())
                .collect::<Vec<_>>(),
            ["2", "3"]
        );
    }
}
