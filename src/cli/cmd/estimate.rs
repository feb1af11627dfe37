//! `evalgate run --dry-run`: call `workflow::estimate`, print the table and the total.

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

use crate::error::Error;
use crate::output::Printer;
use crate::plan::Plan;
use crate::provider::CacheMode;
use crate::store::Store;

pub async fn print(
    project: &crate::config::Project,
    plans: &[Plan<'_>],
    store: &Store,
    cache: CacheMode,
    repeats: u32,
    printer: &Printer,
) -> Result<(), Error> {
    let estimates =
        crate::workflow::estimate::estimate(project, plans, store, cache, repeats).await?;
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
    for e in &estimates {
        table.add_row(vec![
            e.suite.clone(),
            if e.replay {
                format!("{} (replay: offline, free)", e.model)
            } else {
                e.model.clone()
            },
            e.calls.to_string(),
            e.cached.to_string(),
            e.input_tokens.to_string(),
            e.output_tokens.to_string(),
            format!("${:.6}", e.cost),
        ]);
    }
    printer.data(&table.to_string());
    for e in estimates.iter().filter(|e| e.embedding_calls > 0) {
        printer.info(&format!(
            "{} on {}: the `similar` scorers' embeddings, in the cost above: {} requests, {} tokens (est.), ${:.6} at most",
            e.suite, e.model, e.embedding_calls, e.embedding_tokens, e.embedding_cost
        ));
    }
    let total_cost = estimates.iter().fold(0.0, |sum, e| sum + e.cost);
    printer.info(&format!(
        "dry run: nothing was called; estimated cost at most ${total_cost:.6} (input at 4 characters a token, output at max_tokens)"
    ));
    Ok(())
}
