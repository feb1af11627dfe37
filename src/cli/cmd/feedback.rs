//! `feedback ingest | triage | promote` and `golden stats`.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::cli::args::{
    FeedbackArgs, FeedbackCommand, FeedbackFilter, Format, GoldenArgs, GoldenCommand,
};
use crate::error::{Error, ExitStatus};
use crate::feedback::{ingest, promote, triage};
use crate::output::Printer;
use crate::render::terminal;

pub async fn run(root: &Path, args: FeedbackArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    match args.command {
        FeedbackCommand::Ingest { file, rejects } => {
            ingest_file(root, &file, rejects, printer).await
        }
        FeedbackCommand::Triage(a) => {
            let report = triage_report(root, &a.filter, a.similarity, a.top, printer).await?;
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
            filter,
        } => promote_events(root, event_ids, &to, cluster, similarity, &filter, printer).await,
    }
}

async fn ingest_file(
    root: &Path,
    file: &Path,
    rejects: Option<PathBuf>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let stdin = file == Path::new("-");
    let reader: Box<dyn BufRead> = if stdin {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file).map_err(|source| Error::Read {
            path: file.to_path_buf(),
            source,
        })?;
        Box::new(std::io::BufReader::new(f))
    };
    let rejects_path = rejects.unwrap_or_else(|| {
        if stdin {
            root.join(".evalgate/feedback-rejects.jsonl")
        } else {
            let mut p = file.as_os_str().to_owned();
            p.push(".rejects.jsonl");
            PathBuf::from(p)
        }
    });
    let store = super::open_store(root).await?;
    let mut rejected: Vec<ingest::Reject> = Vec::new();
    let shown = if stdin {
        "stdin".to_string()
    } else {
        file.display().to_string()
    };
    let summary = ingest::ingest(&store, reader, |r| {
        if rejected.len() < 20 {
            printer.warn(&format!("{shown}:{}: {}", r.line, r.reason));
        }
        rejected.push(r);
    })
    .await;
    store.close().await;
    // The bad lines found so far are kept even when storing failed.
    if !rejected.is_empty() {
        let mut text = String::new();
        for r in &rejected {
            text.push_str(&serde_json::to_string(r).unwrap_or_default());
            text.push('\n');
        }
        if let Some(dir) = rejects_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&rejects_path, text).map_err(|source| Error::Write {
            path: rejects_path.clone(),
            source,
        })?;
    }
    let summary = summary.map_err(|e| match e {
        ingest::IngestError::Read(source) => Error::Read {
            path: file.to_path_buf(),
            source,
        },
        ingest::IngestError::Store(e) => Error::Store(e),
    })?;
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
    if summary.rejected > 0 {
        if rejected.len() > 20 {
            printer.warn(&format!("… and {} more bad lines", rejected.len() - 20));
        }
        printer.warn(&format!(
            "{} bad lines written to {}; every good line is stored",
            summary.rejected,
            rejects_path.display()
        ));
        return Ok(ExitStatus::InvalidInput);
    }
    Ok(ExitStatus::Ok)
}

/// The normalized input hashes of every golden case of the project (empty, with a warning,
/// when the project cannot be loaded).
fn golden_hashes(root: &Path, printer: &Printer) -> HashSet<String> {
    let Ok(project) = crate::config::load(root) else {
        printer.warn("the project does not load: failures are not checked against golden cases");
        return HashSet::new();
    };
    let mut out = HashSet::new();
    for d in project.datasets.values() {
        if let Ok(cases) = d.cases() {
            out.extend(
                cases
                    .flatten()
                    .map(|c| crate::feedback::input_hash(&c.vars)),
            );
        }
    }
    out
}

async fn triage_report(
    root: &Path,
    filter: &FeedbackFilter,
    similarity: f64,
    top: usize,
    printer: &Printer,
) -> Result<triage::TriageReport, Error> {
    if !(0.0..=1.0).contains(&similarity) {
        return Err(Error::usage(
            format!("--similarity is a cosine between 0 and 1, got {similarity}"),
            None,
        ));
    }
    let since = filter
        .since
        .as_deref()
        .map(|s| crate::feedback::parse_since(s, chrono::Utc::now()))
        .transpose()
        .map_err(|e| Error::usage(e, None))?;
    let store = super::open_store(root).await?;
    let interactions = store
        .feedback_interactions(since.as_deref(), filter.prompt.as_deref())
        .await;
    let signals = store.feedback_signals(since.as_deref()).await;
    store.close().await;
    let (interactions, signals) = (interactions?, signals?);
    if interactions.is_empty() {
        return Err(Error::usage(
            "no interaction matches: nothing to triage",
            Some("ingest events with `evalgate feedback ingest FILE` or `evalgate serve`".into()),
        ));
    }
    Ok(triage::triage(
        &interactions,
        &signals,
        &golden_hashes(root, printer),
        triage::Options { similarity, top },
    ))
}

async fn promote_events(
    root: &Path,
    mut event_ids: Vec<String>,
    to: &Path,
    cluster: Option<usize>,
    similarity: f64,
    filter: &FeedbackFilter,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    if let Some(c) = cluster {
        let report = triage_report(root, filter, similarity, usize::MAX, printer).await?;
        let Some(found) = report.by_text.iter().find(|x| x.id == c) else {
            return Err(Error::usage(
                format!("no text cluster {c}: triage found {}", report.by_text.len()),
                Some(
                    "`evalgate feedback triage` lists them (with the same --since and --prompt)"
                        .into(),
                ),
            ));
        };
        printer.info(&format!(
            "cluster {c} ({}): {} bad interactions not yet in golden",
            found.label,
            found.bad_ids.len()
        ));
        event_ids = found.bad_ids.clone();
    }
    let path = if to.is_absolute() {
        to.to_path_buf()
    } else {
        root.join(to)
    };
    // Held until the file is written (or put back): another writer waits.
    let _lock = crate::golden::lock(&path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    let before = std::fs::read_to_string(&path).ok();
    let needs = needs_of(root, &path);
    let store = super::open_store(root).await?;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let result = promote::promote(&store, &event_ids, &path, &today, &needs).await;
    store.close().await;
    let promotion = result.map_err(|e| match e {
        promote::PromoteError::Store(e) => Error::Store(e),
        promote::PromoteError::Io { path, source } => Error::Write {
            path: path.into(),
            source,
        },
        other => Error::usage(other.to_string(), None),
    })?;
    // The file must stay a valid dataset of the project: otherwise put it back.
    if !promotion.added.is_empty() && root.join(crate::config::CONFIG_FILE).is_file() {
        let shown = crate::diag::display_path(root, &path);
        if let Err(diags) = crate::config::load(root) {
            let ours: Vec<_> = diags.into_iter().filter(|d| d.file == shown).collect();
            if !ours.is_empty() {
                match &before {
                    Some(text) => crate::files::replace_file(&path, text.as_bytes()),
                    None => std::fs::remove_file(&path),
                }
                .map_err(|source| Error::Write {
                    path: path.clone(),
                    source,
                })?;
                printer.warn("the promoted cases do not fit the prompts that use this dataset: the file is unchanged");
                return Err(Error::Invalid(ours));
            }
        }
    }
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
    if !promotion.unfit.is_empty() {
        return Ok(ExitStatus::InvalidInput);
    }
    Ok(ExitStatus::Ok)
}

/// The prompts of the project's suites that use the dataset at `path`, with the variables
/// they need (none when the project does not load).
fn needs_of(root: &Path, path: &Path) -> Vec<promote::Needs> {
    let Ok(project) = crate::config::load(root) else {
        return Vec::new();
    };
    project
        .suites
        .values()
        .filter(|s| {
            project
                .datasets
                .get(&s.dataset)
                .is_some_and(|d| d.path == path)
        })
        .filter_map(|s| project.prompts.get(&s.prompt))
        .map(|p| promote::Needs {
            prompt: p.name.clone(),
            variables: p.variables.clone(),
        })
        .collect()
}

pub fn golden(root: &Path, args: GoldenArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let GoldenCommand::Stats { name, format } = args.command;
    let path = root
        .join(crate::config::GOLDEN_DIR)
        .join(format!("{name}.jsonl"));
    let shown = crate::diag::display_path(root, &path);
    let (dataset, problems) = crate::golden::validate(&name, &path, &shown, |_, _| None);
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let Some(dataset) = dataset else {
        return Err(Error::usage(
            format!("no golden dataset `{name}` ({} not found)", shown.display()),
            None,
        ));
    };
    let cases: Vec<_> = dataset
        .cases()
        .map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?
        .collect::<Result<_, _>>()
        .map_err(|d| Error::Invalid(vec![d]))?;
    let growth = crate::golden::growth(&name, &cases);
    match format {
        Format::Terminal => printer.data(&terminal::render_growth(&growth)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&growth).unwrap_or_default()),
    }
    Ok(ExitStatus::Ok)
}
