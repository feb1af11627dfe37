//! Work a command does, as library calls: what `evalgate run` and `evalgate gate` decide and
//! drive, given one resolved settings value, so that the CLI, `serve`, tests and a future API
//! call the same code. A workflow reports its progress through `output::Printer` and hands
//! each finished piece to a callback; it renders nothing (the CLI renders).

pub mod cascade;
pub mod gate;
pub mod run;

use std::path::Path;

use crate::config::Project;
use crate::config::problem::ConfigErrorKind;
use crate::error::Error;
use crate::features::lift::{self, LiftReport};
use crate::golden::Case;
use crate::output::Printer;
use crate::review;
use crate::runfile::RunFile;
use crate::store::{ReviewItemRow, ReviewLabelRow, Store};

/// Opens the store named by `EVALGATE_DATABASE_URL`, else the project's SQLite file.
pub async fn open_store(root: &Path) -> Result<Store, Error> {
    let url = crate::env::setting(crate::env::DATABASE_URL);
    Ok(Store::open(url.as_deref(), root).await?)
}

/// A run given on the command line: a run file (a path ending in `.json`, or any existing
/// file), else a stored run id or a unique prefix of one.
pub async fn load_run(store: &Store, arg: &str) -> Result<crate::runfile::RunFile, Error> {
    let path = Path::new(arg);
    if arg.ends_with(".json") || path.is_file() {
        return crate::runfile::read(path);
    }
    stored_run(store, arg).await
}

/// A stored run as a run file (its report computed from the store).
pub async fn stored_run(store: &Store, id: &str) -> Result<crate::runfile::RunFile, Error> {
    Ok(crate::runfile::from_store(store, id).await?)
}

/// The golden cases of the run's dataset, as the project holds them now (with a warning when
/// the dataset changed since the run).
pub fn golden_cases(
    project: &Project,
    run: &RunFile,
    printer: &Printer,
) -> Result<Vec<Case>, Error> {
    let Some(dataset) = project.datasets.get(&run.run.dataset) else {
        return Err(Error::usage(
            format!(
                "run {} used dataset `{}`, which the project no longer has",
                run.run.id, run.run.dataset
            ),
            Some(format!("restore golden/{}.jsonl", run.run.dataset)),
        ));
    };
    if dataset.version != run.run.dataset_version {
        printer.warn(&format!(
            "golden/{}.jsonl changed since run {}: outcomes and labels are read from the current file",
            run.run.dataset, run.run.id
        ));
    }
    let cases = dataset.cases().map_err(|source| Error::Read {
        path: dataset.path.clone(),
        source,
    })?;
    cases
        .collect::<Result<Vec<_>, _>>()
        .map_err(|d| Error::Invalid(vec![d]))
}

/// The lift analysis of a run with its suite's `lift:` section, or None when the suite has
/// none. Used by `evalgate gate` too.
pub fn suite_lift(
    project: &Project,
    run: &RunFile,
    printer: &Printer,
) -> Option<Result<LiftReport, Error>> {
    let spec = project.suites.get(&run.run.suite)?.lift.as_ref()?;
    Some(golden_cases(project, run, printer).and_then(|g| lift::analyze(run, &g, spec)))
}

/// Every human label of the project: the labels files in `golden/reviews/` (the record),
/// then what only the database holds (said, with how to keep it).
pub async fn reviewed_labels(
    root: &Path,
    store: &crate::store::Store,
    printer: &Printer,
) -> Result<Vec<(ReviewItemRow, ReviewLabelRow)>, Error> {
    let stored = store.reviewed().await?;
    let r = review::file::reviewed(root, stored).map_err(labels_file_error)?;
    if r.only_in_database > 0 {
        printer.warn(&format!(
            "{} label{} of judge verdicts {} only in the database, not in `{}`: `evalgate review export` writes them there, to commit",
            r.only_in_database,
            if r.only_in_database == 1 { "" } else { "s" },
            if r.only_in_database == 1 { "is" } else { "are" },
            review::file::DIR
        ));
    }
    Ok(r.pairs)
}

/// Bad lines of labels files, each with its line.
pub fn labels_file_error(problems: Vec<review::file::FileError>) -> Error {
    Error::Invalid(
        problems
            .into_iter()
            .map(|p| match p {
                review::file::FileError::Bad {
                    path,
                    line,
                    message,
                } => ConfigErrorKind::BadReviewLabel { message }.at(path, (line, 1)),
                review::file::FileError::Io { path, source } => ConfigErrorKind::CannotReadLabels {
                    error: source.to_string(),
                }
                .at(path, (0, 0)),
            })
            .collect(),
    )
}
