//! `evalgate run --dry-run` as a library call: what each plan would call and cost, from the
//! requests it would send and the response cache, without calling anything (the model's
//! calls, and the embeddings its `similar` scorers would ask for every answer).

use crate::config::Project;
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
    /// USD, at most: the model's calls and the embeddings.
    pub cost: f64,
    /// The `similar` scorers' embeddings requests (one per scorer and answered case, cached
    /// answers too: embeddings are never cached), their input tokens (the answer at
    /// `max_tokens`, the expected text at 4 characters a token) and their cost.
    pub embedding_calls: u64,
    pub embedding_tokens: u64,
    pub embedding_cost: f64,
}

/// The estimate of each plan, with `repeats` asks of each case.
pub async fn estimate(
    project: &Project,
    plans: &[Plan<'_>],
    store: &Store,
    cache: CacheMode,
    repeats: u32,
) -> Result<Vec<Estimate>, Error> {
    let mut out = Vec::new();
    for plan in plans {
        out.push(estimate_plan(project, plan, store, cache, repeats).await?);
    }
    Ok(out)
}

/// A `similar` scorer as the estimate sees it: where its expected text is, and the price of
/// its embedding model (None when that model replays cassettes: offline and free).
struct Embedder<'a> {
    expected: &'a crate::score::Expectation,
    price: Option<crate::config::Price>,
}

/// The `similar` scorers of a plan's suite.
fn embedders<'a>(project: &Project, plan: &Plan<'a>) -> Vec<Embedder<'a>> {
    plan.suite
        .scorers
        .iter()
        .filter_map(|s| match &s.kind {
            crate::score::ScorerKind::Similar {
                expected, model, ..
            } => {
                let model = project.models.get(model)?;
                let replay = project
                    .providers
                    .get(&model.provider)
                    .is_none_or(|p| cache_identity(p).is_none());
                Some(Embedder {
                    expected,
                    price: (!replay).then_some(model.price),
                })
            }
            _ => None,
        })
        .collect()
}

/// The characters of the text a `similar` scorer compares an answer with, when the case has
/// it.
fn expected_chars(expected: &crate::score::Expectation, case: &crate::golden::Case) -> Option<u64> {
    match expected {
        crate::score::Expectation::Literal(s) => Some(s.chars().count() as u64),
        crate::score::Expectation::Key(k) => {
            case.expected
                .get(k)
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    serde_json::Value::String(s) => s.chars().count() as u64,
                    other => other.to_string().chars().count() as u64,
                })
        }
    }
}

async fn estimate_plan(
    project: &Project,
    plan: &Plan<'_>,
    store: &Store,
    cache: CacheMode,
    repeats: u32,
) -> Result<Estimate, Error> {
    let embedders = embedders(project, plan);
    let (mut embedding_calls, mut embedding_tokens, mut embedding_cost) = (0u64, 0u64, 0.0);
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
        let answer = request
            .params
            .max_tokens
            .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
        for e in &embedders {
            let Some(chars) = expected_chars(e.expected, &case) else {
                continue;
            };
            let calls = u64::from(repeats.max(1));
            let tokens = calls * (answer + chars.div_ceil(4));
            embedding_calls += calls;
            embedding_tokens += tokens;
            embedding_cost += e.price.map_or(0.0, |p| p.cost(tokens, 0, 0));
        }
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
        } + embedding_cost,
        embedding_calls,
        embedding_tokens,
        embedding_cost,
    })
}
