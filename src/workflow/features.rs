//! `evalgate lift | stability | cost | export` as library calls: the analyses of a run's
//! LLM-made features, with the checks of what they are asked for.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::error::Error;
use crate::features::cost::{self, CostReport, Workload};
use crate::features::export::{self, Export};
use crate::features::lift::{self, LiftReport, LiftSpec};
use crate::features::stability::{self, StabilityReport};
use crate::output::Printer;
use crate::runfile::RunFile;

use super::{golden_cases, with_store};

/// A run given on the command line (a run file, or a stored run id or prefix), read.
pub async fn load_run(root: &Path, arg: &str) -> Result<RunFile, Error> {
    with_store(root, async |store| super::load_run(store, arg).await).await
}

/// What `evalgate lift` is asked for, beyond the suite's `lift:` section.
#[derive(Debug, Clone, Default)]
pub struct LiftRequest {
    /// The outcome key the downstream model predicts (replaces the section's).
    pub outcome: Option<String>,
    /// Cross-validation folds (replaces the section's).
    pub folds: Option<u32>,
}

/// How much the run's features lift a downstream model's prediction of the outcome.
pub fn lift(
    project: &Project,
    run: &RunFile,
    req: &LiftRequest,
    printer: &Printer,
) -> Result<LiftReport, Error> {
    let configured = project
        .suites
        .get(&run.run.suite)
        .and_then(|s| s.lift.clone());
    let mut spec: LiftSpec = match (configured, &req.outcome) {
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
    if let Some(k) = req.folds {
        spec.folds = k as usize;
    }
    let golden = golden_cases(project, run, printer)?;
    lift::analyze(run, &golden, &spec)
}

/// How far two runs' features agree, case by case (a warning when their datasets differ).
pub fn stability(a: &RunFile, b: &RunFile, printer: &Printer) -> Result<StabilityReport, Error> {
    if a.run.dataset != b.run.dataset {
        printer.warn(&format!(
            "the runs used different datasets (`{}` and `{}`): only cases with the same id are compared",
            a.run.dataset, b.run.dataset
        ));
    }
    stability::compare(a, b)
}

/// What the features of the run `run` (as `load_run` takes it) would cost on a workload (a
/// warning when some answers have no token counts). The workload is checked first.
pub async fn cost(
    root: &Path,
    run: &str,
    workload: Workload,
    printer: &Printer,
) -> Result<CostReport, Error> {
    for (name, v) in [
        ("--refresh-days", workload.refresh_days),
        ("--serving-events-per-day", workload.serving_events_per_day),
    ] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::usage(
                format!("{name} must be a positive number, got {v}"),
                None,
            ));
        }
    }
    let run = load_run(root, run).await?;
    let report = cost::estimate(&run, workload)?;
    if report.unmetered > 0 {
        printer.warn(&format!(
            "{} answers have no token counts (a stream without usage): the cost is measured on the other {}",
            report.unmetered, report.metered
        ));
    }
    Ok(report)
}

/// The shape of an exported feature table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Jsonl,
}

/// What `evalgate export` is asked for.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub format: TableFormat,
    /// The table's file; none: the table is returned, for stdout.
    pub out: Option<PathBuf>,
    /// Where the rejected cases are listed.
    pub rejected: Option<PathBuf>,
}

/// The run's features as a table, written to `out` (or returned as bytes), with the rejected
/// cases listed when asked.
pub fn export(run: &RunFile, req: &ExportRequest) -> Result<(Export, Vec<u8>), Error> {
    let e = export::export(run)?;
    let mut bytes = Vec::new();
    let written = match req.format {
        TableFormat::Csv => e.write_csv(&mut bytes),
        TableFormat::Jsonl => e.write_jsonl(&mut bytes),
    };
    let write_err = |path: &Path, source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    match &req.out {
        Some(path) => {
            written
                .and_then(|()| std::fs::write(path, &bytes))
                .map_err(|s| write_err(path, s))?;
            bytes.clear();
        }
        None => written.map_err(|s| write_err(Path::new("-"), s))?,
    }
    if let Some(path) = &req.rejected {
        let mut out = Vec::new();
        e.write_rejected(&mut out)
            .and_then(|()| std::fs::write(path, &out))
            .map_err(|s| write_err(path, s))?;
    }
    Ok((e, bytes))
}
