//! `evalgate baseline update` as a library call: take a run (a given one, or a fresh run of
//! the suite), check it can be the suite's baseline, and write it to
//! `golden/baselines/SUITE.json`.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::error::{Error, ExitStatus};
use crate::id::RunId;
use crate::output::Printer;
use crate::runfile::RunFile;
use crate::status::{GateStatus, RunStatus};
use crate::store::Store;

use super::run::{RunRequest, run_stored};

/// What `evalgate baseline update` is asked for.
#[derive(Debug, Clone)]
pub struct BaselineRequest {
    pub suite: String,
    /// The run to make the baseline (a run file or a stored run); none: run the suite with
    /// its first model.
    pub from: Option<String>,
}

/// A baseline, written.
#[derive(Debug)]
pub struct Updated {
    pub path: PathBuf,
    pub file: RunFile,
    /// The suite's absolute gates the baseline fails, as `gate: detail`.
    pub failing: Vec<String>,
}

/// Writes the suite's baseline. `on_run` is called with the run made when none is given
/// (the CLI prints its report).
pub async fn update(
    root: &Path,
    project: &Project,
    req: &BaselineRequest,
    printer: &Printer,
    on_run: impl AsyncFnMut(&Store, &RunId) -> Result<(), Error>,
) -> Result<Updated, Error> {
    let suite = req.suite.as_str();
    // An unknown suite fails here (with a did-you-mean).
    crate::plan::build(project, suite, &crate::plan::RunSettings::default())?;
    let file = match &req.from {
        Some(run) => {
            super::with_store(root, async |store| super::load_run(store, run).await).await?
        }
        None => fresh_run(root, project, suite, printer, on_run).await?,
    };
    check(&file, suite)?;
    let path = crate::runfile::baseline_path(root, suite);
    crate::runfile::write(&path, &file)?;
    // A baseline that fails its own suite's absolute gates makes every `gate --all` red.
    let own = crate::gate::evaluate(
        &project.suites[suite],
        &file,
        None,
        &crate::gate::Analyses::default(),
    );
    let failing = own
        .iter()
        .filter(|g| g.status == GateStatus::Fail)
        .map(|g| format!("{}: {}", g.gate, g.detail))
        .collect();
    Ok(Updated {
        path,
        file,
        failing,
    })
}

/// Runs the suite with its first model on the project already loaded (loading it again would
/// say its warnings twice); the run must finish cleanly.
async fn fresh_run(
    root: &Path,
    project: &Project,
    suite: &str,
    printer: &Printer,
    mut on_run: impl AsyncFnMut(&Store, &RunId) -> Result<(), Error>,
) -> Result<RunFile, Error> {
    let req = RunRequest {
        suite: suite.to_string(),
        plan: crate::plan::RunSettings {
            models: vec![project.suites[suite].models[0].clone()],
            ..Default::default()
        },
        repeat: 1,
        ..Default::default()
    };
    let (status, ids) = run_stored(root, project, &req, printer, async |store, _, outcome| {
        on_run(store, &outcome.run_id).await
    })
    .await?;
    if status != ExitStatus::Ok {
        return Err(Error::usage(
            "the run did not finish cleanly, so it cannot be the baseline",
            Some("fix the errors above, or pass a good run with `--from RUN`".into()),
        ));
    }
    super::with_store(root, async |store| super::stored_run(store, &ids[0]).await).await
}

/// A baseline is a finished run of its suite.
fn check(file: &RunFile, suite: &str) -> Result<(), Error> {
    if file.run.suite != suite {
        return Err(Error::usage(
            format!(
                "run {} is of suite `{}`, not `{suite}`",
                file.run.id, file.run.suite
            ),
            None,
        ));
    }
    if file.run.status != RunStatus::Finished {
        return Err(Error::usage(
            format!(
                "run {} is {}, not finished: a baseline must be a complete run",
                file.run.id, file.run.status
            ),
            Some(format!(
                "finish it with `evalgate run {suite} --resume {}`",
                file.run.id
            )),
        ));
    }
    Ok(())
}
