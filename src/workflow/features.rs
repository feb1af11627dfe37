//! `evalgate lift | stability | cost | export` as library calls: the analyses of a run's
//! LLM-made features, with the checks of what they are asked for.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::error::Error;
use crate::features::cost::{self, CostReport, Workload};
use crate::features::export::{self, ExportError, Exported, TableFormat};
use crate::features::lift::{self, LiftReport, LiftSpec};
use crate::features::stability::{self, StabilityReport};
use crate::id::RunId;
use crate::output::Printer;
use crate::runfile::RunFile;
use std::io::Write;

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

/// What `evalgate export` is asked for.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The run: a run file, or a stored run id or prefix.
    pub run: String,
    pub format: TableFormat,
    /// The table's file; none: standard output.
    pub out: Option<PathBuf>,
    /// Where the rejected cases are listed.
    pub rejected: Option<PathBuf>,
}

/// The run's features as a table, written to `out` (or standard output) case by case, with
/// the rejected cases listed when asked. Gives the run's id and what was written.
pub async fn export(root: &Path, req: &ExportRequest) -> Result<(RunId, Exported), Error> {
    with_store(root, async |store| {
        let part = super::run_cases(store, &req.run).await?;
        let req = req.clone();
        let id = part.run.id.clone();
        let done = super::blocking(move || write_export(part, &req)).await?;
        Ok((id, done))
    })
    .await
}

fn write_export(part: super::RunCases, req: &ExportRequest) -> Result<Exported, Error> {
    // A run with nothing to export says so before any file is made.
    export::columns(&part.run)?;
    let create = |path: &Path| {
        std::fs::File::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut table: Box<dyn Write> = match &req.out {
        Some(path) => Box::new(create(path)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut rejected = match &req.rejected {
        Some(path) => Some(std::io::BufWriter::new(create(path)?)),
        None => None,
    };
    let sinks = export::Sinks {
        table: &mut table,
        rejected: rejected.as_mut().map(|w| w as &mut dyn Write),
    };
    let write_err = |path: Option<&PathBuf>, source| Error::Write {
        path: path.cloned().unwrap_or_else(|| "-".into()),
        source,
    };
    export::export(&part.run, part.cases, req.format, sinks).map_err(|e| match e {
        ExportError::Read(e) => e,
        ExportError::Table(source) => write_err(req.out.as_ref(), source),
        ExportError::Rejected(source) => write_err(req.rejected.as_ref(), source),
    })
}
