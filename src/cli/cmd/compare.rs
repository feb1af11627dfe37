use std::path::Path;

use crate::cli::args::{CompareArgs, Format};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;

pub async fn run(root: &Path, args: CompareArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let resamples = args.resamples as usize;
    // Both runs read case by case, neither held: once for the comparison, and once more for
    // the page's table and flipped cases when a page is asked for.
    let compared =
        crate::workflow::compare::compare(&store, &args.base, &args.candidate, resamples).await?;
    let (base, cand, comparison) = (compared.base, compared.candidate, compared.comparison);
    let report = compared.candidate_report;
    if base.dataset != cand.dataset {
        printer.warn(&format!(
            "the runs used different datasets (`{}` and `{}`): only cases with the same id are compared",
            base.dataset, cand.dataset
        ));
    }
    if comparison.paired == 0 {
        store.close().await;
        return Err(Error::usage(
            format!("runs {} and {} have no case id in common", base.id, cand.id),
            Some("compare runs of the same dataset".into()),
        ));
    }
    if let Some(path) = &args.html {
        let b = crate::workflow::run_cases(&store, &args.base).await?;
        let c = crate::workflow::run_cases(&store, &args.candidate).await?;
        let (b_cases, c_cases) = (b.cases, c.cases);
        let wanted: Vec<String> = comparison
            .flipped
            .iter()
            .map(|f| f.case_id.clone())
            .collect();
        let (report, data) = crate::workflow::blocking(move || {
            let wanted = wanted.iter().map(String::as_str).collect();
            let data = crate::render::cases::compared_columns(&report, b_cases, c_cases, &wanted)?;
            Ok((report, data))
        })
        .await?;
        let html = crate::render::html::render_comparison_page(&comparison, &report, &[], &data)?;
        super::write_html(path, &html, printer)?;
    }
    store.close().await;
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
