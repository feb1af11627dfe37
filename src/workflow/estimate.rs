//! `evalgate run --dry-run` as a library call: what each plan would call and cost, from the
//! requests it would send and the response cache, without calling anything.

use crate::error::Error;
use crate::plan::Plan;
use crate::provider::{CacheMode, CallKey, cache_identity, cache_key};
use crate::store::Store;

/// Default output tokens assumed when a prompt sets no `max_tokens`.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// What one plan would call and cost.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub suite: String,
    pub model: String,
    /// The model replays cassettes: offline and free.
    pub replay: bool,
    /// Calls the run would make, and those the cache would answer.
    pub calls: u64,
    pub cached: u64,
    /// Input tokens at 4 characters a token.
    pub input_tokens: u64,
    /// Output tokens at `max_tokens` (at most).
    pub output_tokens: u64,
    /// USD, at most.
    pub cost: f64,
}

/// The estimate of each plan, with `repeats` asks of each case.
pub async fn estimate(
    plans: &[Plan<'_>],
    store: &Store,
    cache: CacheMode,
    repeats: u32,
) -> Result<Vec<Estimate>, Error> {
    let mut out = Vec::new();
    for plan in plans {
        out.push(estimate_plan(plan, store, cache, repeats).await?);
    }
    Ok(out)
}

async fn estimate_plan(
    plan: &Plan<'_>,
    store: &Store,
    cache: CacheMode,
    repeats: u32,
) -> Result<Estimate, Error> {
    let identity = cache_identity(plan.provider);
    let replay = identity.is_none();
    let (mut calls, mut cached, mut input, mut output) = (0u64, 0u64, 0u64, 0u64);
    let cases = plan.dataset.cases().map_err(|source| Error::Read {
        path: plan.dataset.path.clone(),
        source,
    })?;
    for case in cases.take(plan.limit.unwrap_or(usize::MAX)) {
        let Ok(case) = case else { continue };
        let Ok(request) = plan.request(&case) else {
            continue;
        };
        let hash = request.hash();
        for r in 0..repeats.max(1) {
            if let (Some((kind, base_url)), CacheMode::Use) = (&identity, cache)
                && store
                    .cache_get(&cache_key(
                        kind,
                        base_url,
                        CallKey {
                            case_id: &case.id,
                            request_hash: &hash,
                            repeat: r,
                        },
                    ))
                    .await?
                    .is_some()
            {
                cached += 1;
                continue;
            }
            calls += 1;
            input += request.estimated_input_tokens();
            output += request
                .params
                .max_tokens
                .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
        }
    }
    Ok(Estimate {
        suite: plan.suite.name.clone(),
        model: plan.model.name.clone(),
        replay,
        calls,
        cached,
        input_tokens: input,
        output_tokens: output,
        cost: if replay {
            0.0
        } else {
            plan.model.price.cost(input, 0, output)
        },
    })
}
