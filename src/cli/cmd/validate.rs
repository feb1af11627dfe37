use std::path::Path;

use crate::error::{Error, ExitStatus};
use crate::output::Printer;

pub fn run(root: &Path, printer: &Printer) -> Result<ExitStatus, Error> {
    // The project and the review labels files (golden/reviews/) are checked together, so
    // that one pass shows every problem.
    let loaded = crate::config::load(root);
    let labels = crate::review::file::reviewed(root, Vec::new());
    let project = match (loaded, labels) {
        (Ok(project), Ok(_)) => project,
        (loaded, labels) => {
            let mut diags = loaded.err().unwrap_or_default();
            if let Err(problems) = labels
                && let Error::Invalid(more) = crate::workflow::labels_file_error(problems)
            {
                diags.extend(more);
            }
            return Err(Error::Invalid(diags));
        }
    };
    for w in &project.warnings {
        printer.warn(&w.to_string());
    }
    for suite in project.suites.values() {
        let prompt = &project.prompts[&suite.prompt];
        let dataset = &project.datasets[&suite.dataset];
        printer.info(&format!(
            "suite {}: prompt {}@{}, dataset {}@{} ({} cases), {} scorer{}, models {}",
            suite.name,
            prompt.name,
            prompt.short_version(),
            dataset.name,
            crate::hash::short(&dataset.version),
            dataset.len,
            suite.scorers.len(),
            if suite.scorers.len() == 1 { "" } else { "s" },
            suite.models.join(", ")
        ));
    }
    for judge in project.judges.values() {
        printer.info(&format!(
            "judge {}@{}: model {}",
            judge.name,
            judge.short_version(),
            judge.model
        ));
    }
    printer.info(&format!(
        "ok: {} suite{}, {} prompt{}, {} judge{}, {} dataset{}, {} model{}",
        project.suites.len(),
        plural(project.suites.len()),
        project.prompts.len(),
        plural(project.prompts.len()),
        project.judges.len(),
        plural(project.judges.len()),
        project.datasets.len(),
        plural(project.datasets.len()),
        project.models.len(),
        plural(project.models.len())
    ));
    Ok(ExitStatus::Ok)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
