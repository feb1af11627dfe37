use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use std::path::Path;

use crate::cli::args::{Format, ReportArgs, RunsArgs};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::store::Store;

/// Prints the report of a stored run and writes its run file when asked.
pub async fn print(
    store: &Store,
    run_id: &str,
    format: Format,
    out: Option<&Path>,
    printer: &Printer,
) -> Result<(), Error> {
    let mut run = store.find_run(run_id).await?;
    crate::runner::show_dead(store, std::slice::from_mut(&mut run)).await?;
    let report = crate::workflow::summarize(store, &run).await?;
    match format {
        Format::Terminal => printer.data(&crate::render::terminal::render(&report)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&report).unwrap_or_default()),
    }
    if let Some(path) = out {
        crate::workflow::write_run_file(store, run, report, path).await?;
        printer.info(&format!("wrote run file {}", path.display()));
    }
    Ok(())
}

pub async fn run(root: &Path, args: ReportArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    if args.matrix {
        return matrix(root, args, printer).await;
    }
    let [run_id] = args.runs.as_slice() else {
        return Err(Error::usage(
            format!("`report` takes one run, got {}", args.runs.len()),
            Some("`evalgate report --matrix RUN RUN …` shows several runs side by side".into()),
        ));
    };
    let store = super::open_store(root).await?;
    print(&store, run_id, args.format, args.out.as_deref(), printer).await?;
    if let Some(path) = &args.html {
        // The cases read one at a time into the page's columns, the run never held whole.
        let run = crate::workflow::run_cases(&store, run_id).await?;
        let report = run.report(&store).await?;
        let cases = run.cases;
        let (report, columns) = crate::workflow::blocking(move || {
            let columns = crate::render::cases::run_columns(&report, cases)?;
            Ok((report, columns))
        })
        .await?;
        let html = crate::render::html::render_run_page(&report, &[], &columns)?;
        super::write_html(path, &html, printer)?;
    }
    store.close().await;
    Ok(ExitStatus::Ok)
}

/// `report --matrix`: the runs side by side, each read case by case in case id order.
async fn matrix(root: &Path, args: ReportArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    if args.runs.len() < 2 {
        return Err(Error::usage(
            "`report --matrix` takes two or more runs",
            Some("evalgate report --matrix RUN_A RUN_B".into()),
        ));
    }
    if args.out.is_some() {
        return Err(Error::usage(
            "`--out` writes one run's file; it does not go with `--matrix`",
            None,
        ));
    }
    let store = super::open_store(root).await?;
    let (reports, streams) = crate::workflow::matrix::open(&store, &args.runs).await?;
    let (reports, m) = crate::workflow::blocking(move || {
        let refs: Vec<&crate::report::RunReport> = reports.iter().collect();
        let m = crate::render::matrix::matrix_columns(&refs, streams)?;
        Ok((reports, m))
    })
    .await?;
    store.close().await;
    let summary = crate::render::matrix::MatrixSummary::of(&reports, &m, 20);
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render_output_matrix(&summary)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&summary).unwrap_or_default()),
    }
    if let Some(path) = &args.html {
        let html = crate::render::html::render_matrix(&reports, &m, false)?;
        super::write_html(path, &html, printer)?;
    }
    Ok(ExitStatus::Ok)
}

pub async fn list(root: &Path, args: RunsArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let mut runs = store.list_runs(args.suite.as_deref(), args.limit).await?;
    crate::runner::show_dead(&store, &mut runs).await?;
    if runs.is_empty() {
        printer.info("no runs stored yet; `evalgate run SUITE` makes one");
        return Ok(ExitStatus::Ok);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "run", "started", "suite", "model", "prompt", "dataset", "cases", "status",
    ]);
    for r in runs {
        t.add_row(vec![
            r.id.into_string(),
            r.started_at,
            r.suite,
            r.model,
            format!("{}@{}", r.prompt, crate::hash::short(&r.prompt_version)),
            format!("{}@{}", r.dataset, crate::hash::short(&r.dataset_version)),
            r.planned_cases.to_string(),
            match r.stop_reason {
                Some(reason) => format!("{} ({reason})", r.status),
                None => r.status.to_string(),
            },
        ]);
    }
    printer.data(&t.to_string());
    store.close().await;
    Ok(ExitStatus::Ok)
}
