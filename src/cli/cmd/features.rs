//! `lift`, `stability`, `cost` and `export`: resolve the flags, call `workflow::features`,
//! print the analysis.

use std::path::Path;

use crate::cli::args::{CostArgs, ExportArgs, ExportFormat, Format, LiftArgs, StabilityArgs};
use crate::error::{Error, ExitStatus};
use crate::features::cost;
use crate::features::export::{Exported, TableFormat};
use crate::output::Printer;
use crate::render::terminal;
use crate::workflow::features::{self as workflow, ExportRequest, LiftRequest, load_run};

fn print<T: serde::Serialize>(
    printer: &Printer,
    format: Format,
    value: &T,
    text: impl Fn() -> String,
) {
    match format {
        Format::Terminal => printer.data(&text()),
        Format::Json => printer.data(&serde_json::to_string_pretty(value).unwrap_or_default()),
    }
}

pub async fn lift(root: &Path, args: LiftArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let run = load_run(root, &args.run).await?;
    let req = LiftRequest {
        outcome: args.outcome,
        folds: args.folds,
    };
    let report = workflow::lift(&project, &run, &req, printer)?;
    print(printer, args.format, &report, || {
        terminal::render_lift(&report)
    });
    Ok(ExitStatus::Ok)
}

pub async fn stability(
    root: &Path,
    args: StabilityArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let a = load_run(root, &args.run_a).await?;
    let b = load_run(root, &args.run_b).await?;
    let report = workflow::stability(&a, &b, printer)?;
    print(printer, args.format, &report, || {
        terminal::render_stability(&report)
    });
    Ok(ExitStatus::Ok)
}

pub async fn cost(root: &Path, args: CostArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let workload = cost::Workload {
        records: args.records,
        refresh_days: args.refresh_days,
        serving_events_per_day: args.serving_events_per_day,
    };
    let report = workflow::cost(root, &args.run, workload, printer).await?;
    print(printer, args.format, &report, || {
        terminal::render_cost(&report)
    });
    Ok(ExitStatus::Ok)
}

pub async fn export(root: &Path, args: ExportArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let req = ExportRequest {
        run: args.run.clone(),
        format: match args.format {
            ExportFormat::Csv => TableFormat::Csv,
            ExportFormat::Jsonl => TableFormat::Jsonl,
        },
        out: args.out.clone(),
        rejected: args.rejected.clone(),
    };
    let (run_id, e) = workflow::export(root, &req).await?;
    printer.info(&summary(&e, &run_id, &args));
    if args.rejected.is_none() {
        for r in &e.first_rejected {
            printer.info(&format!("  rejected {}: {}", r.case_id, r.reason));
        }
        let shown = e.first_rejected.len() as u64;
        if e.rejected > shown {
            printer.info(&format!(
                "  … and {} more (`--rejected FILE` lists them all)",
                e.rejected - shown
            ));
        }
    }
    Ok(ExitStatus::Ok)
}

/// How many cases were exported, where to, and how many were rejected.
fn summary(e: &Exported, run_id: &crate::id::RunId, args: &ExportArgs) -> String {
    let mut summary = format!(
        "exported {} of {} cases of run {}",
        e.rows,
        e.rows + e.rejected,
        run_id
    );
    if let Some(path) = &args.out {
        summary.push_str(&format!(" to {}", path.display()));
    }
    if e.rejected > 0 {
        summary.push_str(&format!(
            "; {} rejected (broke the contract or failed){}",
            e.rejected,
            args.rejected
                .as_ref()
                .map(|p| format!(", listed in {}", p.display()))
                .unwrap_or_default()
        ));
    }
    summary
}
