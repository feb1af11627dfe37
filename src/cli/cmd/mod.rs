//! One file per subcommand, each a short function over the library.

pub mod baseline;
pub mod cascade;
pub mod compare;
pub mod estimate;
pub mod features;
pub mod feedback;
pub mod gate;
pub mod history;
pub mod import;
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

/// Loads and validates the project, or fails with every problem found; prints the warnings.
pub fn load(root: &Path, printer: &crate::output::Printer) -> Result<Project, Error> {
    let project = crate::config::load(root).map_err(Error::Invalid)?;
    for w in &project.warnings {
        printer.warn(&w.to_string());
    }
    Ok(project)
}

pub use crate::workflow::{open_store, stored_run};

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
