//! `history SUITE`, `prompt log NAME` and `prompt diff A B`.

use std::path::Path;

use crate::cli::args::{Format, HistoryArgs, PromptArgs, PromptCommand};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::render::terminal;

pub async fn history(
    root: &Path,
    args: HistoryArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let rows = store.list_runs(Some(&args.suite), args.limit.max(1)).await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    let mut runs = Vec::new();
    for r in &rows {
        match super::stored_run(&store, &r.id).await {
            Ok(run) => runs.push(run),
            Err(e) => {
                store.close().await;
                return Err(e);
            }
        }
    }
    store.close().await;
    if runs.is_empty() {
        return Err(Error::usage(
            format!("no stored run of suite `{}`", args.suite),
            Some("`evalgate runs` lists the stored runs".into()),
        ));
    }
    let h = crate::history::history(&args.suite, &runs);
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

/// One side of a prompt diff: a label and the prompt's source text.
async fn side(
    root: &Path,
    store: &crate::store::Store,
    arg: &str,
) -> Result<(String, String), Error> {
    if let Ok(project) = crate::config::load(root)
        && let Some(p) = project.prompts.get(arg)
    {
        return Ok((
            format!("{}@{} (prompts/{arg}.yaml)", p.name, p.short_version()),
            p.source_text(),
        ));
    }
    match store.run_of_prompt_version(arg).await? {
        Some(run) => Ok((
            format!(
                "{}@{} (run {})",
                run.prompt,
                crate::hash::short(&run.prompt_version),
                run.id
            ),
            run.prompt_source.unwrap_or_default(),
        )),
        None => Err(Error::usage(
            format!("`{arg}` is neither a prompt of the project nor the version of a stored run"),
            Some("`evalgate prompt log NAME` lists the versions that ran".into()),
        )),
    }
}

pub async fn prompt(root: &Path, args: PromptArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let result = match args.command {
        PromptCommand::Diff { a, b } => {
            async {
                let (la, ta) = side(root, &store, &a).await?;
                let (lb, tb) = side(root, &store, &b).await?;
                let lines = crate::compare::line_diff(&ta, &tb, 3);
                let mut out = format!("--- {la}\n+++ {lb}\n");
                if lines.is_empty() {
                    out.push_str("(the same prompt)\n");
                } else {
                    out.push_str(&terminal::render_diff(&lines, "", super::stdout_color()));
                }
                printer.data(&out);
                Ok(ExitStatus::Ok)
            }
            .await
        }
        PromptCommand::Log { name } => {
            async {
                let runs = store.runs_of_prompt(&name).await?;
                let current = crate::config::load(root).ok().and_then(|p| {
                    p.prompts
                        .get(&name)
                        .map(|p| (p.version.clone(), p.source_text()))
                });
                if runs.is_empty() && current.is_none() {
                    return Err(Error::usage(
                        format!("no prompt `{name}` in the project and no stored run of it"),
                        None,
                    ));
                }
                printer.data(&terminal::render_prompt_log(
                    &name,
                    &crate::history::prompt_log(&runs, current),
                    super::stdout_color(),
                ));
                Ok(ExitStatus::Ok)
            }
            .await
        }
    };
    store.close().await;
    result
}
