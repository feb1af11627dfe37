//! Work a command does, as library calls: what `evalgate run`, `gate`, `baseline`, `score`,
//! `pairwise`, `review`, `calibrate`, `feedback`, `golden`, the feature analyses and the
//! history decide and drive, given one resolved settings value (a `…Request`), so that the
//! CLI, `serve`, tests and a future API call the same code. A workflow reports its progress
//! through `output::Printer` and hands each finished piece to a callback or returns it; it
//! renders nothing (the CLI renders), and it imports neither `cli` nor `serve`.

pub mod baseline;
pub mod cascade;
pub mod compare;
pub mod estimate;
pub mod features;
pub mod feedback;
pub mod gate;
pub mod history;
pub mod matrix;
pub mod merge;
pub mod pairwise;
pub mod review;
pub mod run;
pub mod score;

use std::path::Path;

use crate::config::Project;
use crate::config::problem::ConfigErrorKind;
use crate::error::Error;
use crate::features::lift::{self, LiftReport};
use crate::golden::Case;
use crate::output::Printer;
use crate::review::file as labels;
use crate::runfile::RunFile;
use crate::store::{ReviewItemRow, ReviewLabelRow, Store};

/// Opens the store named by `EVALGATE_DATABASE_URL`, else the project's SQLite file.
pub async fn open_store(root: &Path) -> Result<Store, Error> {
    let url = crate::env::setting(crate::env::DATABASE_URL);
    Ok(Store::open(url.as_deref(), root).await?)
}

/// Opens the store as `open_store` does, calls `f` with it, and closes it whatever `f`
/// returned.
pub async fn with_store<T>(
    root: &Path,
    f: impl AsyncFnOnce(&Store) -> Result<T, Error>,
) -> Result<T, Error> {
    let store = open_store(root).await?;
    let result = f(&store).await;
    store.close().await;
    result
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

/// The report of a stored run, computed from its rows streamed from the store.
pub async fn summarize(
    store: &Store,
    run: &crate::store::RunRow,
) -> Result<crate::analysis::RunReport, Error> {
    use futures::StreamExt;
    let latency = stored_latency(store, &run.id).await?;
    let mut summary = crate::analysis::Summarizer::with_latency(run, latency);
    let rows = store.case_summaries(&run.id);
    futures::pin_mut!(rows);
    while let Some(row) = rows.next().await {
        summary.add(&row?);
    }
    Ok(summary.finish(
        &store.score_counts(&run.id).await?,
        &store.verdict_totals(&run.id).await?,
        &store.vote_agreement(&run.id).await?,
        &store.scorer_call_totals(&run.id).await?,
    ))
}

/// A stored run's timings, their percentiles read as order statistics from the store (exact,
/// as `stats::percentile` gives them, without holding every value).
async fn stored_latency(
    store: &Store,
    run_id: &str,
) -> Result<crate::analysis::LatencyReport, Error> {
    use crate::store::Timing;
    let percentile = async |timing: Timing, n: u64, q: f64| -> Result<Option<f64>, Error> {
        if n == 0 {
            return Ok(None);
        }
        let (lo, hi, frac) = crate::stats::type7_ranks(n as usize, q);
        let v = store.timings_at(run_id, timing, lo as u64).await?;
        Ok(match (v.first(), v.get(hi - lo)) {
            (Some(a), Some(b)) => Some(a + frac * (b - a)),
            _ => None,
        })
    };
    let (n, max_ms) = store.timing_count_max(run_id, Timing::Latency).await?;
    let (ttft_n, _) = store.timing_count_max(run_id, Timing::Ttft).await?;
    Ok(crate::analysis::LatencyReport {
        n,
        p50_ms: percentile(Timing::Latency, n, 0.5).await?,
        p95_ms: percentile(Timing::Latency, n, 0.95).await?,
        max_ms,
        ttft_n,
        ttft_p50_ms: percentile(Timing::Ttft, ttft_n, 0.5).await?,
        ttft_p95_ms: percentile(Timing::Ttft, ttft_n, 0.95).await?,
    })
}

/// The cases of a run, one at a time, from a run file or the store: iterate them from
/// blocking code (`tokio::task::spawn_blocking`), since the store's are sent by a task.
pub enum Cases {
    File(Box<crate::runfile::stream::Reader>),
    Stored(crate::runfile::stream::Stored),
}

impl Iterator for Cases {
    type Item = Result<crate::runfile::CaseEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Cases::File(r) => r.next(),
            Cases::Stored(s) => s.next(),
        }
    }
}

/// A run given on the command line, opened to read its cases one at a time: a run file
/// (with the report it holds) or a stored run (whose report `summarize` computes on demand).
pub struct RunCases {
    pub run: crate::store::RunRow,
    pub report: Option<crate::analysis::RunReport>,
    pub cases: Cases,
}

impl RunCases {
    /// The run's report: the file's, or `summarize`'s of a stored run.
    pub async fn report(&self, store: &Store) -> Result<crate::analysis::RunReport, Error> {
        match &self.report {
            Some(r) => Ok(r.clone()),
            None => summarize(store, &self.run).await,
        }
    }
}

/// Opens a run as `load_run` finds it, without holding its cases.
pub async fn run_cases(store: &Store, arg: &str) -> Result<RunCases, Error> {
    let path = Path::new(arg);
    if arg.ends_with(".json") || path.is_file() {
        let path = path.to_path_buf();
        let reader = blocking(move || crate::runfile::stream::open(&path)).await?;
        return Ok(RunCases {
            run: reader.run.clone(),
            report: Some(reader.report.clone()),
            cases: Cases::File(Box::new(reader)),
        });
    }
    let mut run = store.find_run(arg).await?;
    crate::runner::show_dead(store, std::slice::from_mut(&mut run)).await?;
    let cases = Cases::Stored(crate::runfile::stream::Stored::open(store, &run.id));
    Ok(RunCases {
        run,
        report: None,
        cases,
    })
}

/// Writes a stored run's file (with its report, as `summarize` computes it), reading and
/// writing one case at a time.
pub async fn write_run_file(
    store: &Store,
    run: crate::store::RunRow,
    report: crate::analysis::RunReport,
    path: &Path,
) -> Result<(), Error> {
    let cases = crate::runfile::stream::Stored::open(store, &run.id);
    let path = path.to_path_buf();
    blocking(move || {
        let mut w = crate::runfile::stream::Writer::create(&path, &run, &report)?;
        for case in cases {
            w.case(&case?)?;
        }
        w.finish()
    })
    .await
}

/// Runs blocking work (reading and writing run files case by case) off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Runtime(std::io::Error::other(e)))?
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
    let r = labels::reviewed(root, stored).map_err(labels_file_error)?;
    if r.only_in_database > 0 {
        printer.warn(&format!(
            "{} label{} of judge verdicts {} only in the database, not in `{}`: `evalgate review export` writes them there, to commit",
            r.only_in_database,
            if r.only_in_database == 1 { "" } else { "s" },
            if r.only_in_database == 1 { "is" } else { "are" },
            labels::DIR
        ));
    }
    Ok(r.pairs)
}

/// Bad lines of labels files, each with its line.
pub fn labels_file_error(problems: Vec<labels::FileError>) -> Error {
    Error::Invalid(
        problems
            .into_iter()
            .map(|p| match p {
                labels::FileError::Bad {
                    path,
                    line,
                    message,
                } => ConfigErrorKind::BadReviewLabel { message }.at(path, (line, 1)),
                labels::FileError::Io { path, source } => ConfigErrorKind::CannotReadLabels {
                    error: source.to_string(),
                }
                .at(path, (0, 0)),
            })
            .collect(),
    )
}
