//! Cost per record of an LLM-made feature, and what it costs to keep a table enriched:
//! a backfill, a refresh every D days, against calling the model live on every serving event.

use crate::status::CaseStatus;
use serde::{Deserialize, Serialize};

use super::RunFeatures;
use crate::config::Price;
use crate::error::Error;
use crate::runfile::RunFile;

/// Projections are per month of this many days.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// The table the user wants to keep enriched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Records in the table.
    pub records: Option<u64>,
    /// Every record's features are recomputed this often (days).
    pub refresh_days: Option<f64>,
    /// Serving events a day that would each call the model if the feature were computed live.
    pub serving_events_per_day: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    pub run_id: crate::id::RunId,
    pub feature_version: String,
    /// Answers with token counts (the cost is measured on these).
    pub metered: u64,
    /// Answers without token counts (a stream without usage), left out of the means.
    pub unmetered: u64,
    /// Answers that met the contract, out of the answered cases.
    pub usable: u64,
    pub answered: u64,
    pub mean_input_tokens: f64,
    pub mean_output_tokens: f64,
    /// USD per record at the normal price (cached input at the cached rate, as measured).
    pub per_record: f64,
    /// USD per record through the provider's Batch API.
    pub per_record_batch: f64,
    /// USD per record whose features can be used: the cost of the answers that broke the
    /// contract is spread over the ones that did not.
    pub per_usable_record: Option<f64>,
    pub workload: Workload,
    pub backfill: Option<Projection>,
    /// A refresh of the whole table every `refresh_days`, per month.
    pub refresh_per_month: Option<Projection>,
    /// Calling the model on every serving event, per month (live calls cannot be batched).
    pub live_per_month: Option<f64>,
    /// What to conclude from refresh against live, in one sentence.
    pub verdict: Option<String>,
}

/// An amount at the normal and at the batch price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub normal: f64,
    pub batch: f64,
}

impl Projection {
    fn times(per: (f64, f64), n: f64) -> Projection {
        Projection {
            normal: per.0 * n,
            batch: per.1 * n,
        }
    }
}

pub fn estimate(run: &RunFile, workload: Workload) -> Result<CostReport, Error> {
    let price: Price = serde_json::from_str(&run.run.price_json).map_err(|e| {
        Error::usage(
            format!("run {} has no readable price: {e}", run.run.id),
            None,
        )
    })?;
    let features = RunFeatures::of(run)?;
    let (mut metered, mut unmetered, mut answered, mut usable) = (0u64, 0u64, 0u64, 0u64);
    let (mut input, mut cached, mut output) = (0u64, 0u64, 0u64);
    for (entry, feats) in features.cases.values() {
        if entry.status == CaseStatus::Error {
            continue;
        }
        answered += 1;
        usable += u64::from(feats.is_ok());
        if entry.input_tokens + entry.output_tokens == 0 {
            unmetered += 1;
            continue;
        }
        metered += 1;
        input += entry.input_tokens.max(0) as u64;
        cached += entry.cached_input_tokens.max(0) as u64;
        output += entry.output_tokens.max(0) as u64;
    }
    if metered == 0 {
        return Err(Error::usage(
            format!(
                "run {} has no answer with token counts: there is nothing to price",
                run.run.id
            ),
            Some("run the suite against a provider that reports usage".into()),
        ));
    }
    let n = metered as f64;
    let per_record = price.cost(input, cached, output) / n;
    let per_record_batch = price.batch_cost(input, output) / n;
    let per = (per_record, per_record_batch);
    let w = workload;
    let backfill = w.records.map(|r| Projection::times(per, r as f64));
    let refresh_per_month = match (w.records, w.refresh_days) {
        (Some(r), Some(d)) if d > 0.0 => {
            Some(Projection::times(per, r as f64 * DAYS_PER_MONTH / d))
        }
        _ => None,
    };
    let live_per_month = w
        .serving_events_per_day
        .map(|e| per_record * e * DAYS_PER_MONTH);
    let verdict = match (refresh_per_month, live_per_month, w.records, w.refresh_days) {
        (Some(refresh), Some(live), Some(r), Some(d)) => {
            // Live calls cost per_record each; a refresh costs per_record_batch per record
            // every d days: they break even at this many events a day.
            let break_even = r as f64 / d * per_record_batch / per_record;
            Some(if refresh.batch < live {
                format!(
                    "offline enrichment pays: refreshing through the Batch API costs ${:.2} a month against ${:.2} live ({:.1}× cheaper); live would be cheaper below {} serving events a day",
                    refresh.batch,
                    live,
                    live / refresh.batch.max(f64::MIN_POSITIVE),
                    round(break_even)
                )
            } else {
                format!(
                    "call the model live: ${live:.2} a month against ${:.2} for refreshing the table through the Batch API; offline enrichment pays above {} serving events a day",
                    refresh.batch,
                    round(break_even)
                )
            })
        }
        _ => None,
    };
    Ok(CostReport {
        run_id: run.run.id.clone(),
        feature_version: features.feature_version(),
        metered,
        unmetered,
        usable,
        answered,
        mean_input_tokens: input as f64 / n,
        mean_output_tokens: output as f64 / n,
        per_record,
        per_record_batch,
        per_usable_record: (usable > 0).then(|| per_record * answered as f64 / usable as f64),
        workload,
        backfill,
        refresh_per_month,
        live_per_month,
        verdict,
    })
}

fn round(x: f64) -> String {
    crate::text::thousands(x.round().max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfile::testing::run_file;
    use serde_json::json;

    const CONTRACT: &str = r#"{"fields":{"risk":{"type":"integer","min":1,"max":5}}}"#;

    #[test]
    fn cost_arithmetic_by_hand() {
        // Price: input $1/M, cached $1/M, output $2/M; batch $0.5/M and $1/M.
        let run = run_file(
            "r",
            CONTRACT,
            vec![
                json!({"id": "1", "status": "pass", "output": "{\"risk\": 1}",
                       "input_tokens": 1000, "output_tokens": 100}),
                json!({"id": "2", "status": "pass", "output": "{\"risk\": 9}",
                       "input_tokens": 3000, "output_tokens": 300}),
                json!({"id": "3", "status": "error", "input_tokens": 0, "output_tokens": 0}),
            ],
        );
        let r = estimate(
            &run,
            Workload {
                records: Some(1_000_000),
                refresh_days: Some(7.0),
                serving_events_per_day: Some(500_000.0),
            },
        )
        .unwrap();
        // Mean 2000 input and 200 output tokens: 2000 × 1e-6 + 200 × 2e-6 = $0.0024 per
        // record; batch 2000 × 0.5e-6 + 200 × 1e-6 = $0.0012.
        assert!((r.per_record - 0.0024).abs() < 1e-12);
        assert!((r.per_record_batch - 0.0012).abs() < 1e-12);
        // One of the two answers breaks the contract (risk 9): $0.0048 per usable record.
        assert_eq!((r.answered, r.usable), (2, 1));
        assert!((r.per_usable_record.unwrap() - 0.0048).abs() < 1e-12);
        let b = r.backfill.unwrap();
        assert!((b.normal - 2400.0).abs() < 1e-6 && (b.batch - 1200.0).abs() < 1e-6);
        // Every 7 days on 1M records: 30/7 refreshes a month × $1,200 = $5,142.86.
        let m = r.refresh_per_month.unwrap();
        assert!((m.batch - 1200.0 * 30.0 / 7.0).abs() < 1e-6);
        // Live: 500,000 × 30 × $0.0024 = $36,000 a month.
        assert!((r.live_per_month.unwrap() - 36_000.0).abs() < 1e-6);
        // Break-even: 1M / 7 × 0.5 = 71,429 events a day.
        let v = r.verdict.unwrap();
        assert!(v.starts_with("offline enrichment pays"), "{v}");
        assert!(v.contains("71,429"), "{v}");
    }

    #[test]
    fn few_serving_events_favour_live_calls() {
        let run = run_file(
            "r",
            CONTRACT,
            vec![json!({"id": "1", "status": "pass", "output": "{\"risk\": 1}"})],
        );
        let r = estimate(
            &run,
            Workload {
                records: Some(1_000_000),
                refresh_days: Some(1.0),
                serving_events_per_day: Some(1000.0),
            },
        )
        .unwrap();
        assert!(r.verdict.unwrap().starts_with("call the model live"));
    }
}
