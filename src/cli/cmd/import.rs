//! `evalgate import promptfoo`: writes an evalgate project from a promptfoo config and prints
//! the mapping report.

use std::path::Path;

use crate::cli::args::{ImportArgs, ImportCommand};
use crate::error::{Error, ExitStatus};
use crate::import::ImportError;
use crate::output::Printer;

pub fn run(root: &Path, args: ImportArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let ImportCommand::Promptfoo { config, out } = args.command;
    let out = out.unwrap_or_else(|| root.to_path_buf());
    match crate::import::promptfoo(&config, &out) {
        Ok(report) => {
            printer.data(&report.to_string());
            printer.info(&format!(
                "imported {} into {}: {} left out\nnext: cd {} && evalgate validate && evalgate run SUITE --dry-run",
                config.display(),
                out.display(),
                report.left_out.len(),
                out.display()
            ));
            Ok(ExitStatus::Ok)
        }
        Err(ImportError::Invalid(diags)) => {
            for d in &diags {
                printer.info(&d.to_string());
            }
            Err(Error::usage(
                format!("cannot import `{}`", config.display()),
                Some("fix the promptfoo file at the place named above; nothing was written".into()),
            ))
        }
        Err(ImportError::Nothing { message, report }) => {
            printer.data(&report.to_string());
            Err(Error::usage(
                message,
                Some("nothing was written; the report above lists what could not be mapped".into()),
            ))
        }
        Err(e @ ImportError::Exists(_)) => Err(Error::usage(
            e.to_string(),
            Some("import never overwrites a project; pick another `--out` directory".into()),
        )),
        Err(ImportError::Write { path, source }) => Err(Error::Write { path, source }),
    }
}
