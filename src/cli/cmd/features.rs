//! `lift`, `stability`, `cost` and `export`: the analyses of a run's LLM-made features.

use std::path::Path;

use crate::cli::args::{CostArgs, ExportArgs, ExportFormat, Format, LiftArgs, StabilityArgs};
use crate::error::{Error, ExitStatus};
use crate::features::lift::LiftSpec;
use crate::features::{cost, export, lift, stability};
use crate::output::Printer;
use crate::render::terminal;
use crate::runfile::RunFile;
use crate::workflow::golden_cases;

async fn load_run(root: &Path, arg: &str) -> Result<RunFile, Error> {
    let store = super::open_store(root).await?;
    let run = super::load_run(&store, arg).await;
    store.close().await;
    run
}

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
    let configured = project
        .suites
        .get(&run.run.suite)
        .and_then(|s| s.lift.clone());
    let mut spec: LiftSpec = match (configured, &args.outcome) {
        (Some(mut s), Some(o)) => {
            s.outcome = o.clone();
            s
        }
        (Some(s), None) => s,
        (None, Some(o)) => LiftSpec::new(o.clone()),
        (None, None) => {
            return Err(Error::usage(
                format!(
                    "suite `{}` has no `lift:` section: which outcome should the downstream model predict?",
                    run.run.suite
                ),
                Some("pass `--outcome KEY` (a key of the golden cases' `outcome`), or add `lift: {outcome: KEY}` to the suite".into()),
            ));
        }
    };
    if let Some(k) = args.folds {
        spec.folds = k as usize;
    }
    let golden = golden_cases(&project, &run, printer)?;
    let report = lift::analyze(&run, &golden, &spec)?;
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
    if a.run.dataset != b.run.dataset {
        printer.warn(&format!(
            "the runs used different datasets (`{}` and `{}`): only cases with the same id are compared",
            a.run.dataset, b.run.dataset
        ));
    }
    let report = stability::compare(&a, &b)?;
    print(printer, args.format, &report, || {
        terminal::render_stability(&report)
    });
    Ok(ExitStatus::Ok)
}

pub async fn cost(root: &Path, args: CostArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    for (name, v) in [
        ("--refresh-days", args.refresh_days),
        ("--serving-events-per-day", args.serving_events_per_day),
    ] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::usage(
                format!("{name} must be a positive number, got {v}"),
                None,
            ));
        }
    }
    let run = load_run(root, &args.run).await?;
    let report = cost::estimate(
        &run,
        cost::Workload {
            records: args.records,
            refresh_days: args.refresh_days,
            serving_events_per_day: args.serving_events_per_day,
        },
    )?;
    if report.unmetered > 0 {
        printer.warn(&format!(
            "{} answers have no token counts (a stream without usage): the cost is measured on the other {}",
            report.unmetered, report.metered
        ));
    }
    print(printer, args.format, &report, || {
        terminal::render_cost(&report)
    });
    Ok(ExitStatus::Ok)
}

pub async fn export(root: &Path, args: ExportArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let run = load_run(root, &args.run).await?;
    let e = export::export(&run)?;
    let mut bytes = Vec::new();
    let written = match args.format {
        ExportFormat::Csv => e.write_csv(&mut bytes),
        ExportFormat::Jsonl => e.write_jsonl(&mut bytes),
    };
    let write_err = |path: &Path, source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    match &args.out {
        Some(path) => {
            written
                .and_then(|()| std::fs::write(path, &bytes))
                .map_err(|s| write_err(path, s))?;
        }
        None => {
            written.map_err(|s| write_err(Path::new("-"), s))?;
            if !bytes.is_empty() {
                printer.data(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    if let Some(path) = &args.rejected {
        let mut out = Vec::new();
        e.write_rejected(&mut out)
            .and_then(|()| std::fs::write(path, &out))
            .map_err(|s| write_err(path, s))?;
    }
    let mut summary = format!(
        "exported {} of {} cases of run {}",
        e.rows.len(),
        e.rows.len() + e.rejected.len(),
        run.run.id
    );
    if let Some(path) = &args.out {
        summary.push_str(&format!(" to {}", path.display()));
    }
    if !e.rejected.is_empty() {
        summary.push_str(&format!(
            "; {} rejected (broke the contract or failed){}",
            e.rejected.len(),
            args.rejected
                .as_ref()
                .map(|p| format!(", listed in {}", p.display()))
                .unwrap_or_default()
        ));
    }
    printer.info(&summary);
    if args.rejected.is_none() {
        for r in e.rejected.iter().take(10) {
            printer.info(&format!("  rejected {}: {}", r.case_id, r.reason));
        }
        if e.rejected.len() > 10 {
            printer.info(&format!(
                "  … and {} more (`--rejected FILE` lists them all)",
                e.rejected.len() - 10
            ));
        }
    }
    Ok(ExitStatus::Ok)
}
