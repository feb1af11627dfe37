//! `evalgate compare`: two runs (run files or stored runs), compared case by case as they are
//! read, neither held whole.

use super::{blocking, run_cases};
use crate::compare::Comparison;
use crate::error::Error;
use crate::store::{RunRow, Store};

/// Two runs compared.
pub struct Compared {
    pub base: RunRow,
    pub candidate: RunRow,
    /// The candidate's report (its file's, or computed from the store).
    pub candidate_report: crate::analysis::RunReport,
    pub comparison: Comparison,
}

/// Compares the run `candidate` with the run `base` (each a run file or a stored run id),
/// with `resamples` resamples in each bootstrap.
pub async fn compare(
    store: &Store,
    base: &str,
    candidate: &str,
    resamples: usize,
) -> Result<Compared, Error> {
    let b = run_cases(store, base).await?;
    let c = run_cases(store, candidate).await?;
    let (b_report, c_report) = (b.report(store).await?, c.report(store).await?);
    let (b_run, c_run) = (b.run, c.run);
    let (b_cases, c_cases) = (b.cases, c.cases);
    blocking(move || {
        let comparison = crate::compare::compare_cases(
            (&b_run, &b_report),
            (&c_run, &c_report),
            b_cases,
            c_cases,
            resamples,
        )?;
        Ok(Compared {
            base: b_run,
            candidate: c_run,
            candidate_report: c_report,
            comparison,
        })
    })
    .await
}
