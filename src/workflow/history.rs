//! `evalgate history SUITE`, `evalgate prompt log NAME` and `evalgate prompt diff A B` as
//! library calls: what the store (and the project) hold about a suite's runs and a prompt's
//! versions.

use std::path::Path;

use crate::compare::DiffLine;
use crate::error::Error;
use crate::history::{History, PromptVersion};
use crate::store::Store;

use super::with_store;

/// The last `limit` stored runs of the suite, as a history (oldest first).
pub async fn history(root: &Path, suite: &str, limit: i64) -> Result<History, Error> {
    let runs = with_store(root, async |store| {
        let rows = store.list_runs(Some(suite), limit.max(1)).await?;
        let mut runs = Vec::new();
        for r in &rows {
            runs.push(super::stored_run(store, &r.id).await?);
        }
        Ok(runs)
    })
    .await?;
    if runs.is_empty() {
        return Err(Error::usage(
            format!("no stored run of suite `{suite}`"),
            Some("`evalgate runs` lists the stored runs".into()),
        ));
    }
    Ok(crate::history::history(suite, &runs))
}

/// Every version of prompt `name` that ran, and the project's current one.
pub async fn prompt_log(root: &Path, name: &str) -> Result<Vec<PromptVersion>, Error> {
    with_store(root, async |store| {
        let runs = store.runs_of_prompt(name).await?;
        let current = crate::config::load(root).ok().and_then(|p| {
            p.prompts
                .get(name)
                .map(|p| (p.version.clone(), p.source_text()))
        });
        if runs.is_empty() && current.is_none() {
            return Err(Error::usage(
                format!("no prompt `{name}` in the project and no stored run of it"),
                None,
            ));
        }
        Ok(crate::history::prompt_log(&runs, current))
    })
    .await
}

/// Two prompts compared line by line: each side's label, and the diff (empty: the same).
pub struct PromptDiff {
    pub a: String,
    pub b: String,
    pub lines: Vec<DiffLine>,
}

/// Compares two prompts, each a prompt of the project or a version of a stored run.
pub async fn prompt_diff(root: &Path, a: &str, b: &str) -> Result<PromptDiff, Error> {
    with_store(root, async |store| {
        let (la, ta) = side(root, store, a).await?;
        let (lb, tb) = side(root, store, b).await?;
        Ok(PromptDiff {
            a: la,
            b: lb,
            lines: crate::compare::line_diff(&ta, &tb, 3),
        })
    })
    .await
}

/// One side of a prompt diff: a label and the prompt's source text.
async fn side(root: &Path, store: &Store, arg: &str) -> Result<(String, String), Error> {
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
