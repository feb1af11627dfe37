//! `feedback ingest | triage | promote` and `golden stats`: resolve the flags, call
//! `workflow::feedback`, print what it did.

use std::path::Path;

use crate::cli::args::{
    FeedbackArgs, FeedbackCommand, FeedbackFilter, Format, GoldenArgs, GoldenCommand,
};
use crate::error::{Error, ExitStatus};
use crate::feedback::promote::Promotion;
use crate::output::Printer;
use crate::render::terminal;
use crate::workflow::feedback::{
    self as workflow, Filter, IngestRequest, Ingested, PromoteRequest, REJECTS_SHOWN, TriageRequest,
};

pub async fn run(root: &Path, args: FeedbackArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    match args.command {
        FeedbackCommand::Ingest { file, rejects } => {
            let ingested =
                workflow::ingest(root, &IngestRequest { file, rejects }, printer).await?;
            Ok(print_ingested(&ingested, printer))
        }
        FeedbackCommand::Triage(a) => {
            let req = TriageRequest {
                filter: filter(a.filter),
                similarity: a.similarity,
                top: a.top,
            };
            let report = workflow::triage(root, &req, printer).await?;
            match a.format {
                Format::Terminal => printer.data(&terminal::render_triage(&report)),
                Format::Json => {
                    printer.data(&serde_json::to_string_pretty(&report).unwrap_or_default())
                }
            }
            Ok(ExitStatus::Ok)
        }
        FeedbackCommand::Promote {
            event_ids,
            to,
            cluster,
            similarity,
            filter: f,
        } => {
            let req = PromoteRequest {
                event_ids,
                to,
                cluster,
                similarity,
                filter: filter(f),
            };
            let promotion = workflow::promote(root, &req, printer).await?;
            Ok(print_promotion(&req.to, &promotion, printer))
        }
    }
}

fn filter(f: FeedbackFilter) -> Filter {
    Filter {
        since: f.since,
        prompt: f.prompt,
    }
}

/// Says what an ingest stored; bad lines make the exit status `InvalidInput`.
fn print_ingested(ingested: &Ingested, printer: &Printer) -> ExitStatus {
    let summary = &ingested.summary;
    let n = &summary.new;
    printer.data(&format!(
        "{} lines: {} interactions ({} new), {} signals ({} new), {} rejected{}",
        summary.lines,
        summary.interactions,
        n.interactions,
        summary.signals,
        n.signals,
        summary.rejected,
        if summary.conflicts > 0 {
            format!(
                " ({} of them conflicts: an id stored before with other content)",
                summary.conflicts
            )
        } else {
            String::new()
        }
    ));
    if summary.rejected == 0 {
        return ExitStatus::Ok;
    }
    if ingested.rejected > REJECTS_SHOWN {
        printer.warn(&format!(
            "… and {} more bad lines",
            ingested.rejected - REJECTS_SHOWN
        ));
    }
    printer.warn(&format!(
        "{} bad lines written to {}; every good line is stored",
        summary.rejected,
        ingested.rejects_path.display()
    ));
    ExitStatus::InvalidInput
}

/// Says what a promotion added, skipped and could not promote (which makes the exit status
/// `InvalidInput`).
fn print_promotion(to: &Path, promotion: &Promotion, printer: &Printer) -> ExitStatus {
    for (id, why) in &promotion.skipped {
        printer.info(&format!("skipped {id}: {why}"));
    }
    for (id, why) in &promotion.unfit {
        printer.warn(&format!("not promoted {id}: {why}"));
    }
    printer.data(&format!(
        "added {} case{} to {}{}",
        promotion.added.len(),
        if promotion.added.len() == 1 { "" } else { "s" },
        to.display(),
        if promotion.added.is_empty() {
            String::new()
        } else {
            format!(": {}", promotion.added.join(", "))
        }
    ));
    if !promotion.needs_label.is_empty() {
        printer.info(&format!(
            "{} without a user edit are marked needs_label: {}",
            promotion.needs_label.len(),
            promotion.needs_label.join(", ")
        ));
    }
    if promotion.unfit.is_empty() {
        ExitStatus::Ok
    } else {
        ExitStatus::InvalidInput
    }
}

pub fn golden(root: &Path, args: GoldenArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let GoldenCommand::Stats { name, format } = args.command;
    let growth = workflow::golden_growth(root, &name)?;
    match format {
        Format::Terminal => printer.data(&terminal::render_growth(&growth)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&growth).unwrap_or_default()),
    }
    Ok(ExitStatus::Ok)
}
