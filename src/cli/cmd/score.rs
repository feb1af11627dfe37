//! `evalgate score RUN`: call `workflow::score`, print the run's new report and how the
//! re-scoring went.

use std::path::Path;

use crate::cli::args::ScoreArgs;
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::workflow::score::{ScoreRequest, rescore};
use crate::workflow::with_store;

pub async fn run(root: &Path, args: ScoreArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let req = ScoreRequest {
        run: args.run,
        judge: args.judge,
    };
    let r = with_store(root, async |store| {
        let r = rescore(&project, store, &req, printer).await?;
        super::report::print(store, &r.run_id, args.format, None, printer).await?;
        Ok(r)
    })
    .await?;
    printer.info(&format!(
        "re-scored {} cases of run {} ({:.1}s); the model was not asked again",
        r.cases, r.run_id, r.elapsed_secs
    ));
    if let Some((requests, tokens, cost)) = r.embeddings {
        printer.info(&format!(
            "embedded again: {requests} requests · {} tokens · ${cost:.6} (the run's report now counts these)",
            crate::text::thousands(tokens)
        ));
    }
    for line in &r.unreadable {
        printer.warn(line);
    }
    Ok(if r.unreadable.is_empty() {
        ExitStatus::Ok
    } else {
        ExitStatus::Infrastructure
    })
}
