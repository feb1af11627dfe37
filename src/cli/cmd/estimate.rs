//! `evalgate run --dry-run`: what a run would call and cost, without calling anything.

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

use crate::error::Error;
use crate::output::Printer;
use crate::plan::Plan;
use crate::provider::{CacheMode, CallKey, cache_identity, cache_key};
use crate::store::Store;

/// Default output tokens assumed when a prompt sets no `max_tokens`.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

pub async fn print(
    plans: &[Plan<'_>],
    store: &Store,
    cache: CacheMode,
    repeats: u32,
    printer: &Printer,
) -> Result<(), Error> {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "suite",
        "model",
        "calls",
        "cached",
        "input tokens (est.)",
        "output tokens (at most)",
        "cost (est., at most)",
    ]);
    let mut total_cost = 0.0;
    for plan in plans {
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
        let cost = if replay {
            0.0
        } else {
            plan.model.price.cost(input, 0, output)
        };
        total_cost += cost;
        table.add_row(vec![
            plan.suite.name.clone(),
            if replay {
                format!("{} (replay: offline, free)", plan.model.name)
            } else {
                plan.model.name.clone()
            },
            calls.to_string(),
            cached.to_string(),
            input.to_string(),
            output.to_string(),
            format!("${cost:.6}"),
        ]);
    }
    printer.data(&table.to_string());
    printer.info(&format!(
        "dry run: nothing was called; estimated cost at most ${total_cost:.6} (input at 4 characters a token, output at max_tokens)"
    ));
    Ok(())
}
