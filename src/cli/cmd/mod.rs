//! One file per subcommand, each a short function over the library.

pub mod baseline;
pub mod cascade;
pub mod compare;
pub mod estimate;
pub mod features;
pub mod feedback;
pub mod gate;
pub mod history;
pub mod init;
pub mod merge;
pub mod pairwise;
pub mod report;
pub mod review;
pub mod run;
pub mod score;
pub mod serve;
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

/// Writes an HTML report and says where.
pub fn write_html(path: &Path, html: &str, printer: &crate::output::Printer) -> Result<(), Error> {
    std::fs::write(path, html).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    printer.info(&format!(
        "wrote HTML report {} ({} KB)",
        path.display(),
        html.len().div_ceil(1024)
    ));
    Ok(())
}

/// Whether stdout is a terminal that may be coloured.
pub fn stdout_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os(crate::env::NO_COLOR).is_none() && std::io::stdout().is_terminal()
}
