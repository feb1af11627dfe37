use std::path::Path;

use crate::cli::args::{Format, MergeArgs};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;

pub async fn run(root: &Path, args: MergeArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let mut parts = Vec::new();
    for r in &args.runs {
        parts.push(super::load_run(&store, r).await?);
    }
    store.close().await;
    let merged = crate::merge::merge(&parts, &crate::runner::new_run_id())
        .map_err(|e| Error::usage(e.to_string(), None))?;
    crate::runfile::write(&args.out, &merged)?;
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render(&merged.report)),
        Format::Json => {
            printer.data(&serde_json::to_string_pretty(&merged.report).unwrap_or_default())
        }
    }
    printer.info(&format!(
        "merged {} runs ({} cases) into run {}: wrote {}",
        parts.len(),
        merged.cases.len(),
        merged.run.id,
        args.out.display()
    ));
    Ok(ExitStatus::Ok)
}
