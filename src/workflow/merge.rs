//! `evalgate merge`: shards' runs (run files or stored runs) joined into one run file, read
//! and written one case at a time, so that memory stays flat whatever the number of cases.
//! Two passes over the parts: the first checks them and computes the merged report (which
//! the file holds before its cases), the second writes the cases.

use std::path::Path;

use super::{RunCases, blocking, run_cases};
use crate::analysis::RunReport;
use crate::error::Error;
use crate::id::RunId;
use crate::merge::{self, Interleave};
use crate::runfile::stream::Writer;
use crate::store::{RunRow, Store};

/// The merged run, as written.
pub struct Merged {
    pub run: RunRow,
    pub report: RunReport,
    /// How many case results it holds.
    pub cases: u64,
}

/// Merges `runs` (run files or stored run ids) into run `id`, written to `out`.
pub async fn merge(store: &Store, runs: &[String], id: &str, out: &Path) -> Result<Merged, Error> {
    let mut parts: Vec<RunCases> = Vec::with_capacity(runs.len());
    for r in runs {
        parts.push(run_cases(store, r).await?);
    }
    let rows: Vec<&RunRow> = parts.iter().map(|p| &p.run).collect();
    merge::check(&rows).map_err(usage)?;
    let run = merge::merged_run(&rows, id);
    let mut reports = Vec::with_capacity(parts.len());
    for p in &parts {
        reports.push(p.report(store).await?);
    }
    let sources: Vec<_> = parts.into_iter().map(|p| (p.run.id, p.cases)).collect();
    let head = run.clone();
    let (report, cases) = blocking(move || {
        let reports: Vec<&RunReport> = reports.iter().collect();
        merge::report(&head, &reports, Interleave::new(sources, usage))
    })
    .await?;

    let mut sources = Vec::with_capacity(runs.len());
    for r in runs {
        let part = run_cases(store, r).await?;
        sources.push((RunId::new(part.run.id.as_str()), part.cases));
    }
    let (path, head, body) = (out.to_path_buf(), run.clone(), report.clone());
    blocking(move || {
        let mut w = Writer::create(&path, &head, &body)?;
        for case in Interleave::new(sources, usage) {
            w.case(&case?)?;
        }
        w.finish()
    })
    .await?;
    Ok(Merged { run, report, cases })
}

/// A merge's refusal (parts that differ, overlap or are unfinished): bad input.
fn usage(e: merge::MergeError) -> Error {
    Error::usage(e.to_string(), None)
}
