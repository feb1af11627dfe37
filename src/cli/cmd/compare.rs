use std::path::Path;

use crate::cli::args::{CompareArgs, Format};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;

pub async fn run(root: &Path, args: CompareArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let resamples = args.resamples as usize;
    // With a page to write, both runs whole (the page shows every case); else read case by
    // case, neither run held.
    let whole = match &args.html {
        Some(_) => Some((
            super::load_run(&store, &args.base).await?,
            super::load_run(&store, &args.candidate).await?,
        )),
        None => None,
    };
    let (base, cand, comparison) = match &whole {
        Some((b, c)) => (
            b.run.clone(),
            c.run.clone(),
            crate::compare::compare_with(b, c, resamples),
        ),
        None => {
            let c =
                crate::workflow::compare::compare(&store, &args.base, &args.candidate, resamples)
                    .await?;
            (c.base, c.candidate, c.comparison)
        }
    };
    store.close().await;
    if base.dataset != cand.dataset {
        printer.warn(&format!(
            "the runs used different datasets (`{}` and `{}`): only cases with the same id are compared",
            base.dataset, cand.dataset
        ));
    }
    if comparison.paired == 0 {
        return Err(Error::usage(
            format!("runs {} and {} have no case id in common", base.id, cand.id),
            Some("compare runs of the same dataset".into()),
        ));
    }
    if let (Some(path), Some((b, c))) = (&args.html, &whole) {
        let html = crate::render::html::render_comparison(b, c, &comparison, &[])?;
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
