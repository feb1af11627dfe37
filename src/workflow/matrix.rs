//! `evalgate report --matrix` and the server's `/matrix`: several runs opened to be read side
//! by side, each case by case in case id order (the page's cells are built by
//! `render::matrix::matrix_columns` from these streams).

use super::{Cases, run_cases};
use crate::analysis::RunReport;
use crate::error::Error;
use crate::store::Store;

/// Each run (a run file, a stored run id or a unique prefix) with its report and its cases,
/// in the order given.
pub async fn open(store: &Store, runs: &[String]) -> Result<(Vec<RunReport>, Vec<Cases>), Error> {
    let mut reports = Vec::with_capacity(runs.len());
    let mut cases = Vec::with_capacity(runs.len());
    for arg in runs {
        // Taken apart before the report is awaited: a run file's reader is not `Sync`, and
        // the server awaits this on any thread.
        let super::RunCases {
            run,
            report,
            cases: each,
        } = run_cases(store, arg).await?;
        reports.push(match report {
            Some(r) => r,
            None => super::summarize(store, &run).await?,
        });
        cases.push(each);
    }
    Ok((reports, cases))
}
