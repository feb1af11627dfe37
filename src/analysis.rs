//! Summaries of stored runs: from rows to the report model. Synchronous and pure.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::contract::Contract;
use crate::report::*;
use crate::score::stats::{self, Confusion};
use crate::store::{CaseRow, RunRow, ScoreRow};

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

/// Summarizes a stored run.
pub fn summarize(run: &RunRow, cases: &[CaseRow], scores: &[ScoreRow]) -> RunReport {
    let mut counts = Counts {
        cases: cases.len() as u64,
        ..Counts::default()
    };
    let mut kinds: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in cases {
        match c.status.as_str() {
            "pass" => counts.pass += 1,
            "fail" => counts.fail += 1,
            _ => counts.error += 1,
        }
        if c.status != "pass" {
            let kind = c.kind.clone().unwrap_or_else(|| "unknown".into());
            if kind == "contract" {
                counts.contract_violations += 1;
            }
            *kinds.entry((c.status.clone(), kind.clone())).or_default() += 1;
            failures.push(FailureRow {
                case_id: c.case_id.clone(),
                status: c.status.clone(),
                kind,
                message: c.message.clone().unwrap_or_default(),
            });
        }
    }
    let failures_total = failures.len() as u64;
    failures.truncate(FAILURES_SHOWN);
    let mut kinds: Vec<KindCount> = kinds
        .into_iter()
        .map(|((status, kind), count)| KindCount {
            status,
            kind,
            count,
        })
        .collect();
    kinds.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));

    // Scorers, in the suite's order.
    let names: Vec<String> = serde_json::from_str(&run.scorers_json).unwrap_or_default();
    let scorers = names
        .iter()
        .map(|name| {
            let (mut pass, mut fail, mut skip) = (0, 0, 0);
            for s in scores.iter().filter(|s| &s.scorer == name) {
                match s.outcome.as_str() {
                    "pass" => pass += 1,
                    "fail" => fail += 1,
                    _ => skip += 1,
                }
            }
            ScorerSummary {
                name: name.clone(),
                pass,
                fail,
                skip,
                rate: stats::wilson(pass, pass + fail),
            }
        })
        .collect();

    // Field metrics from the contract: predictions against the expected labels.
    let contract: Option<Contract> = run
        .contract_json
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let parsed: Vec<(Map<String, Value>, Map<String, Value>)> = cases
        .iter()
        .map(|c| {
            (
                object(Some(&c.expected_json)),
                object(c.parsed_json.as_deref()),
            )
        })
        .collect();
    let mut enum_fields = Vec::new();
    let mut integer_fields = Vec::new();
    if let Some(contract) = &contract {
        for (field, labels) in contract.enum_fields() {
            let pairs: Vec<(String, String)> = parsed
                .iter()
                .filter_map(|(expected, got)| {
                    let e = expected.get(field)?.as_str()?.to_string();
                    let p = got
                        .get(field)
                        .and_then(Value::as_str)
                        .unwrap_or(NO_LABEL)
                        .to_string();
                    Some((e, p))
                })
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let confusion =
                Confusion::from_pairs(labels, pairs.iter().map(|(e, p)| (e.as_str(), p.as_str())));
            let correct = pairs.iter().filter(|(e, p)| e == p).count() as u64;
            let label_metrics = (0..labels.len())
                .map(|i| confusion.label_metrics(i))
                .collect();
            enum_fields.push(EnumFieldReport {
                field: field.to_string(),
                accuracy: stats::wilson(correct, pairs.len() as u64),
                kappa: confusion.kappa(),
                labels: label_metrics,
                confusion,
            });
        }
        for field in contract.integer_fields() {
            let pairs: Vec<(f64, f64)> = parsed
                .iter()
                .filter_map(|(expected, got)| {
                    Some((expected.get(field)?.as_f64()?, got.get(field)?.as_f64()?))
                })
                .collect();
            let with_expected = parsed
                .iter()
                .filter(|(e, _)| e.get(field).and_then(Value::as_f64).is_some())
                .count() as u64;
            if with_expected == 0 {
                continue;
            }
            let exact = pairs.iter().filter(|(e, p)| e == p).count() as u64;
            integer_fields.push(IntegerFieldReport {
                field: field.to_string(),
                mae: stats::mean_absolute_error(&pairs),
                exact: stats::wilson(exact, with_expected),
                n: pairs.len() as u64,
            });
        }
    }

    let answered: Vec<&CaseRow> = cases.iter().filter(|c| c.output.is_some()).collect();
    let mut usage = UsageReport {
        answered: answered.len() as u64,
        ..UsageReport::default()
    };
    for c in cases {
        usage.input_tokens += c.input_tokens.max(0) as u64;
        usage.cached_input_tokens += c.cached_input_tokens.max(0) as u64;
        usage.output_tokens += c.output_tokens.max(0) as u64;
        usage.cost_usd += c.cost_usd;
        if c.cache_hit == 1 {
            usage.cache_hits += 1;
            usage.cost_saved_usd += c.cost_usd;
        } else {
            usage.cost_paid_usd += c.cost_usd;
        }
        if c.attempts > 1 {
            usage.retried += 1;
        }
    }
    if usage.answered > 0 {
        usage.cost_per_case_usd = usage.cost_usd / usage.answered as f64;
    }
    let latencies: Vec<f64> = cases.iter().filter_map(|c| c.latency_ms).collect();
    let ttfts: Vec<f64> = cases.iter().filter_map(|c| c.ttft_ms).collect();
    let latency = LatencyReport {
        n: latencies.len() as u64,
        p50_ms: stats::percentile(&latencies, 0.5),
        p95_ms: stats::percentile(&latencies, 0.95),
        max_ms: latencies.iter().copied().reduce(f64::max),
        ttft_n: ttfts.len() as u64,
        ttft_p50_ms: stats::percentile(&ttfts, 0.5),
        ttft_p95_ms: stats::percentile(&ttfts, 0.95),
    };

    RunReport {
        run: RunHeader {
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
            status: run.status.clone(),
            stop_reason: run.stop_reason.clone(),
            repeats: run.repeats.max(1) as u64,
            planned_cases: run.planned_cases.max(0) as u64,
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
        },
        counts,
        pass_rate: stats::wilson(counts.pass, counts.cases),
        scorers,
        enum_fields,
        integer_fields,
        usage,
        latency,
        kinds,
        failures,
        failures_total,
    }
}
