use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::args::RunArgs;
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::plan::{self, RunSettings};
use crate::provider::Client;

pub async fn run(root: &Path, args: RunArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root)?;
    let settings = RunSettings {
        models: args.models.clone(),
        concurrency: args.concurrency.map(|c| c as usize),
        limit: args.limit.map(|l| l as usize),
    };
    let plans = plan::build(&project, &args.suite, &settings)?;
    // Every provider is set up before anything runs, so a missing key fails fast.
    let record_dir = args.record.as_ref().map(|d| {
        if d.is_absolute() {
            d.clone()
        } else {
            root.join(d)
        }
    });
    let mut clients = Vec::new();
    for p in &plans {
        let client = Client::for_provider(&project, &p.provider.name, record_dir.clone())
            .map_err(Error::ProviderSetup)?;
        if record_dir.is_some() && client.is_replay() {
            return Err(Error::usage(
                format!(
                    "`--record` needs a live provider, and model `{}` uses the replay provider `{}`",
                    p.model.name, p.provider.name
                ),
                Some("pick a model served by an `openai` provider with `--model`".into()),
            ));
        }
        clients.push(client);
    }
    let store = super::open_store(root).await?;
    let several = plans.len() > 1;
    for (plan, client) in plans.iter().zip(&clients) {
        printer.info(&format!(
            "running suite {} on model {} ({} cases, concurrency {})",
            plan.suite.name, plan.model.name, plan.planned, plan.concurrency
        ));
        let mut last_print = Instant::now();
        let outcome = crate::runner::execute(plan, client, &store, |p| {
            if last_print.elapsed().as_secs_f64() >= 2.0 || p.done == p.planned {
                last_print = Instant::now();
                printer.info(&format!(
                    "  {}/{} done · {} pass · {} fail · {} error · ${:.6}",
                    p.done, p.planned, p.passed, p.failed, p.errors, p.cost_usd
                ));
            }
        })
        .await?;
        if outcome.interrupted {
            printer.warn(&format!(
                "interrupted after {} of {} cases; run {} is marked interrupted",
                outcome.progress.done, plan.planned, outcome.run_id
            ));
        }
        let out = args.out.as_ref().map(|o| {
            if several {
                with_model(o, &plan.model.name)
            } else {
                o.clone()
            }
        });
        super::report::print(
            &store,
            &outcome.run_id,
            args.format,
            out.as_deref(),
            printer,
        )
        .await?;
        printer.info(&format!(
            "stored run {} in {} ({:.1}s)",
            outcome.run_id, store.display_url, outcome.elapsed_secs
        ));
        if outcome.progress.done > 0 && outcome.progress.errors == outcome.progress.done {
            return Err(Error::AllFailed {
                cases: outcome.progress.done,
                first: outcome.first_error.unwrap_or_default(),
                kind: outcome.first_error_kind,
            });
        }
        if outcome.interrupted {
            store.close().await;
            return Ok(ExitStatus::Infrastructure);
        }
    }
    store.close().await;
    Ok(ExitStatus::Ok)
}

fn with_model(path: &Path, model: &str) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("json");
    path.with_file_name(format!("{stem}.{model}.{ext}"))
}
