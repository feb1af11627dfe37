use std::path::Path;

use crate::cli::args::{Format, MergeArgs};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::workflow::with_store;

pub async fn run(root: &Path, args: MergeArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let id = crate::runner::new_run_id();
    let merged = with_store(root, async |store| {
        crate::workflow::merge::merge(store, &args.runs, &id, &args.out).await
    })
    .await?;
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render(&merged.report)),
        Format::Json => {
            printer.data(&serde_json::to_string_pretty(&merged.report).unwrap_or_default())
        }
    }
    printer.info(&format!(
        "merged {} runs ({} cases) into run {}: wrote {}",
        args.runs.len(),
        merged.cases,
        merged.run.id,
        args.out.display()
    ));
    Ok(ExitStatus::Ok)
}
