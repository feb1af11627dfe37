//! `evalgate init`: writes the files of a small working project. The same files are
//! validated by a test, so what `init` writes always passes `evalgate validate`.

use std::path::Path;

use crate::error::{Error, ExitStatus};
use crate::output::Printer;

/// The files `init` writes: (path in the project, content).
pub const FILES: &[(&str, &str)] = &[
    (
        "evalgate.yaml",
        include_str!("init_templates/evalgate.yaml"),
    ),
    (
        "prompts/triage.yaml",
        include_str!("init_templates/prompts/triage.yaml"),
    ),
    (
        "golden/tickets.jsonl",
        include_str!("init_templates/golden/tickets.jsonl"),
    ),
    ("golden/baselines/.gitkeep", ""),
    (
        "judges/README.md",
        include_str!("init_templates/judges/README.md"),
    ),
    (
        ".github/workflows/evalgate.yml",
        include_str!("init_templates/workflows/evalgate.yml"),
    ),
    (".gitignore", "/.evalgate\n"),
];

pub fn run(args: &crate::cli::args::InitArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let dir = &args.dir;
    if dir.join("evalgate.yaml").exists() {
        return Err(Error::usage(
            format!("`{}` already holds an evalgate.yaml", dir.display()),
            Some("init never overwrites a project; pick another directory".into()),
        ));
    }
    for (path, content) in FILES {
        let target = dir.join(path);
        if target.exists() {
            continue;
        }
        write(&target, content)?;
    }
    printer.info(&format!("created an evalgate project in {}", dir.display()));
    printer.info(&format!(
        "next: cd {} && evalgate validate && OPENAI_API_KEY=… evalgate run ticket-triage",
        dir.display()
    ));
    Ok(ExitStatus::Ok)
}

fn write(path: &Path, content: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, content).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}
