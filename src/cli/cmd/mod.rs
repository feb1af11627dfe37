//! One file per subcommand, each a short function over the library.

pub mod estimate;
pub mod init;
pub mod pairwise;
pub mod report;
pub mod run;
pub mod score;
pub mod validate;

use std::path::Path;

use crate::config::Project;
use crate::error::Error;
use crate::store::Store;

/// Loads and validates the project, or fails with every problem found.
/// Loads and validates the project, or fails with every problem found; prints the warnings.
pub fn load(root: &Path, printer: &crate::output::Printer) -> Result<Project, Error> {
    let project = crate::config::load(root).map_err(Error::Invalid)?;
    for w in &project.warnings {
        printer.warn(&w.to_string());
    }
    Ok(project)
}

/// Opens the store named by `EVALGATE_DATABASE_URL`, else the project's SQLite file.
pub async fn open_store(root: &Path) -> Result<Store, Error> {
    let url = crate::env::setting(crate::env::DATABASE_URL);
    Ok(Store::open(url.as_deref(), root).await?)
}
