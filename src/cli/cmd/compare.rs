use std::path::Path;

use crate::cli::args::{CompareArgs, Format};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;

pub async fn run(root: &Path, args: CompareArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let base = super::load_run(&store, &args.base).await?;
    let cand = super::load_run(&store, &args.candidate).await?;
    store.close().await;
    if base.run.dataset != cand.run.dataset {
        printer.warn(&format!(
            "the runs used different datasets (`{}` and `{}`): only cases with the same id are compared",
            base.run.dataset, cand.run.dataset
        ));
    }
    let comparison = crate::compare::compare_with(&base, &cand, args.resamples as usize);
    if comparison.paired == 0 {
        return Err(Error::usage(
            format!(
                "runs {} and {} have no case id in common",
                base.run.id, cand.run.id
            ),
            Some("compare runs of the same dataset".into()),
        ));
    }
    if let Some(path) = &args.html {
        let html = crate::render::html::render_comparison(&base, &cand, &comparison, &[])?;
        super::write_html(path, &html, printer)?;
    }
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render_comparison(
            &comparison,
            super::stdout_color(),
        )),
        Format::Json => {
            printer.data(&serde_json::to_string_pretty(&comparison).unwrap_or_default())
        }
    }
    Ok(ExitStatus::Ok)
}
