//! `evalgate pairwise BASE CAND --judge J`: call `workflow::pairwise`, print the summary.

use std::path::Path;

use crate::cli::args::{Format, PairwiseArgs};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::workflow::pairwise::{PairwiseRequest, pairwise};

pub async fn run(root: &Path, args: PairwiseArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let req = PairwiseRequest {
        base: args.base,
        candidate: args.candidate,
        judge: args.judge,
        record: args.record,
    };
    let report = pairwise(root, &project, &req, printer).await?;
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render_pairwise(&report)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&report).unwrap_or_default()),
    }
    Ok(ExitStatus::Ok)
}
