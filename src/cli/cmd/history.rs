//! `history SUITE`, `prompt log NAME` and `prompt diff A B`: call `workflow::history`, print
//! (and write the HTML page asked for).

use std::path::Path;

use crate::cli::args::{Format, HistoryArgs, PromptArgs, PromptCommand};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::render::terminal;
use crate::workflow::history as workflow;

pub async fn history(
    root: &Path,
    args: HistoryArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let h = workflow::history(root, &args.suite, args.limit).await?;
    if let Some(path) = &args.html {
        super::write_html(
            path,
            &crate::render::html::render_history(&h, None)?,
            printer,
        )?;
    }
    match args.format {
        Format::Terminal => printer.data(&terminal::render_history(&h)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&h).unwrap_or_default()),
    }
    Ok(ExitStatus::Ok)
}

pub async fn prompt(root: &Path, args: PromptArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    match args.command {
        PromptCommand::Diff { a, b } => {
            let d = workflow::prompt_diff(root, &a, &b).await?;
            let mut out = format!("--- {}\n+++ {}\n", d.a, d.b);
            if d.lines.is_empty() {
                out.push_str("(the same prompt)\n");
            } else {
                out.push_str(&terminal::render_diff(&d.lines, "", super::stdout_color()));
            }
            printer.data(&out);
        }
        PromptCommand::Log { name } => {
            let log = workflow::prompt_log(root, &name).await?;
            printer.data(&terminal::render_prompt_log(
                &name,
                &log,
                super::stdout_color(),
            ));
        }
    }
    Ok(ExitStatus::Ok)
}
