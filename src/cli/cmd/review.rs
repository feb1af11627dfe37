//! `review sample`, `review label`, `review export` and `calibrate`: resolve the flags, call
//! `workflow::review`, print what it did.

use std::io::BufRead;
use std::path::Path;

use crate::cli::args::{CalibrateArgs, Format, ReviewArgs, ReviewCommand, StratifyBy};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::review::{Stratify, file::DIR};
use crate::store::Store;
use crate::workflow::review::{self as workflow, CalibrateRequest, SampleRequest, Sampled};
use crate::workflow::with_store;

pub async fn review(root: &Path, args: ReviewArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    with_store(root, async |store| match args.command {
        ReviewCommand::Sample {
            run,
            n,
            stratify,
            seed,
        } => {
            let stratify = match stratify {
                StratifyBy::Verdict => Stratify::Verdict,
                StratifyBy::Tag => Stratify::Tag,
            };
            let req = SampleRequest {
                run,
                n,
                stratify,
                seed,
            };
            let s = workflow::sample(root, store, &req, printer).await?;
            printer.data(&sampled(&s));
            Ok(ExitStatus::Ok)
        }
        ReviewCommand::Label { batch, reviewer } => {
            let answers = std::io::stdin().lock().lines().map_while(Result::ok);
            let l = workflow::label(root, store, &batch, &reviewer, answers, printer).await?;
            printer.data(&format!(
                "{} of {} items of {batch} labelled",
                l.labelled, l.items
            ));
            Ok(ExitStatus::Ok)
        }
        ReviewCommand::Export => export(root, store, printer).await,
    })
    .await
}

/// What a new batch holds, and how to label it.
fn sampled(s: &Sampled) -> String {
    let labels = if s.to_label == 0 {
        String::new()
    } else {
        format!(
            ", and {} cases that need a label (their answers go to the golden file)",
            s.to_label
        )
    };
    format!(
        "review batch {b}: {} items of run {} ({} judged pass, {} judged fail{labels})\nlabel it with `evalgate review label {b} --reviewer NAME`",
        s.items,
        s.run_id,
        s.passes,
        s.fails,
        b = s.batch_id,
    )
}

async fn export(root: &Path, store: &Store, printer: &Printer) -> Result<ExitStatus, Error> {
    let written = workflow::export(root, store).await?;
    if written.is_empty() {
        printer.info(&format!(
            "every label of a judge verdict is in `{DIR}` already"
        ));
    }
    for (path, n) in written {
        printer.info(&format!(
            "wrote {n} label{} into {}: commit it",
            if n == 1 { "" } else { "s" },
            crate::diag::display_path(root, &path).display()
        ));
    }
    Ok(ExitStatus::Ok)
}

pub async fn calibrate(
    root: &Path,
    args: CalibrateArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let req = CalibrateRequest {
        judge: args.judge,
        weeks: args.weeks,
        export_examples: args.export_examples,
    };
    let c = with_store(root, async |store| {
        workflow::calibrate(root, store, &req, printer).await
    })
    .await?;
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render_calibration(&c)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&c).unwrap_or_default()),
    }
    Ok(ExitStatus::Ok)
}
