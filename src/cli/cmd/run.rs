//! `evalgate run`: resolve the flags, call `workflow::run`, print each run's report and,
//! with several models, the model matrix.

use std::path::{Path, PathBuf};

use crate::cli::args::{Format, RunArgs};
use crate::error::{Error, ExitStatus};
use crate::id::RunId;
use crate::output::Printer;
use crate::workflow::run as workflow;

pub async fn run(root: &Path, args: RunArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    Ok(run_suite(root, args, printer).await?.0)
}

/// Runs a suite as `evalgate run` does, and returns the exit status with the ids of the runs
/// it stored.
async fn run_suite(
    root: &Path,
    args: RunArgs,
    printer: &Printer,
) -> Result<(ExitStatus, Vec<RunId>), Error> {
    let project = super::load(root, printer)?;
    let req = crate::cli::settings::run_request(root, &args)?;
    let store = super::open_store(root).await?;
    let result = run_with(&project, &store, &req, &args, printer).await;
    store.close().await;
    result
}

async fn run_with(
    project: &crate::config::Project,
    store: &crate::store::Store,
    req: &workflow::RunRequest,
    args: &RunArgs,
    printer: &Printer,
) -> Result<(ExitStatus, Vec<RunId>), Error> {
    let planned = workflow::plan(project, store, req).await?;
    if let Some(run) = planned.nothing_failing {
        printer.info(&format!("run {run} has no failing case: nothing to run"));
        return Ok((ExitStatus::Ok, Vec::new()));
    }
    let plans = planned.plans;
    if args.dry_run {
        super::estimate::print(project, &plans, store, req.cache, req.repeat, printer).await?;
        return Ok((ExitStatus::Ok, Vec::new()));
    }
    let several = plans.len() > 1;
    let done = workflow::run(
        project,
        store,
        &plans,
        req,
        printer,
        async |plan, outcome| {
            if args.no_report {
                return Ok(());
            }
            let out = args.out.as_ref().map(|o| {
                if several {
                    with_model(o, &plan.model.name)
                } else {
                    o.clone()
                }
            });
            super::report::print(store, &outcome.run_id, args.format, out.as_deref(), printer).await
        },
    )
    .await?;
    if !done.interrupted && done.run_ids.len() > 1 {
        let mut files = Vec::new();
        for id in &done.run_ids {
            files.push(super::stored_run(store, id).await?);
        }
        let margin = args.margin.unwrap_or(MATRIX_MARGIN_POINTS) / 100.0;
        let matrix = crate::compare::matrix(&files, MATRIX_ALPHA, margin);
        match args.format {
            Format::Terminal => printer.data(&crate::render::terminal::render_matrix(&matrix)),
            Format::Json => {
                printer.data(&serde_json::to_string_pretty(&matrix).unwrap_or_default())
            }
        }
    }
    Ok((done.status, done.run_ids))
}

/// The significance level of the model matrix's comparisons with the best model.
const MATRIX_ALPHA: f64 = 0.05;

/// How many pass-rate points a cheaper model may lose and still be recommended, unless
/// `--margin` says otherwise.
const MATRIX_MARGIN_POINTS: f64 = 5.0;

fn with_model(path: &Path, model: &str) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("json");
    path.with_file_name(format!("{stem}.{model}.{ext}"))
}
