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
    (".gitignore", "/.evalgate\n"),
];

/// The CI workflow `init` writes: one job that gates every changed suite.
pub const WORKFLOW: (&str, &str) = (
    ".github/workflows/evalgate.yml",
    include_str!("init_templates/workflows/evalgate.yml"),
);

/// The CI workflow `init --sharded` writes instead: the suite split over a matrix of jobs,
/// merged and gated by a last one.
pub const SHARDED_WORKFLOW: (&str, &str) = (
    ".github/workflows/evalgate-sharded.yml",
    include_str!("init_templates/workflows/evalgate-sharded.yml"),
);

pub fn run(args: &crate::cli::args::InitArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let dir = &args.dir;
    if dir.join("evalgate.yaml").exists() {
        return Err(Error::usage(
            format!("`{}` already holds an evalgate.yaml", dir.display()),
            Some("init never overwrites a project; pick another directory".into()),
        ));
    }
    let workflow = if args.sharded {
        SHARDED_WORKFLOW
    } else {
        WORKFLOW
    };
    for (path, content) in FILES.iter().chain([&workflow]) {
        let target = dir.join(path);
        if target.exists() {
            continue;
        }
        write(&target, content)?;
    }
    printer.info(&format!("created an evalgate project in {}", dir.display()));
    printer.info(&next_step(dir, workflow.0));
    Ok(ExitStatus::Ok)
}

/// What to type next: commands that run as they are (a dry run needs no API key), in the
/// project's directory.
fn next_step(dir: &Path, workflow: &str) -> String {
    let here = dir.as_os_str().is_empty() || dir == Path::new(".");
    let cd = if here {
        String::new()
    } else {
        let shown = dir.display().to_string();
        let quoted = if shown
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./".contains(c))
        {
            shown
        } else {
            format!("'{}'", shown.replace('\'', r"'\''"))
        };
        format!("cd {quoted} && ")
    };
    format!(
        "next: {cd}evalgate validate && evalgate run ticket-triage --dry-run\n  then export OPENAI_API_KEY (the provider's key variable in evalgate.yaml) and run `evalgate run ticket-triage`\n  for CI, set the repository variable EVALGATE_REPO (see {workflow})"
    )
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
