//! One file per subcommand, each a short function over the library.

pub mod init;
pub mod report;
pub mod run;
pub mod validate;

use std::path::Path;

use crate::config::Project;
use crate::error::Error;
use crate::store::Store;

/// Loads and validates the project, or fails with every problem found.
pub fn load(root: &Path) -> Result<Project, Error> {
    crate::config::load(root).map_err(Error::Invalid)
}

/// Opens the store named by `EVALGATE_DATABASE_URL`, else the project's SQLite file.
pub async fn open_store(root: &Path) -> Result<Store, Error> {
    let url = crate::env::setting(crate::env::DATABASE_URL);
    Ok(Store::open(url.as_deref(), root).await?)
}
