//! `evalgate feedback ingest | triage | promote` and `evalgate golden stats` as library
//! calls.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::feedback::{ingest, promote, triage};
use crate::golden::Growth;
use crate::output::Printer;

use super::with_store;

/// How many bad lines are said one by one; the rest are counted.
pub const REJECTS_SHOWN: usize = 20;

/// What `evalgate feedback ingest` is asked for.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// The events file, or `-` for stdin.
    pub file: PathBuf,
    /// Where the bad lines go (default: beside the file, or under `.evalgate/` for stdin).
    pub rejects: Option<PathBuf>,
}

/// What an ingest stored and rejected.
#[derive(Debug)]
pub struct Ingested {
    pub summary: ingest::Summary,
    /// Every bad line (the first `REJECTS_SHOWN` were said as they came).
    pub rejected: usize,
    /// Where the bad lines were written (when there were some).
    pub rejects_path: PathBuf,
}

/// Stores the events of a JSON-lines file (or stdin), warning of each of the first bad
/// lines, and writes every bad line to the rejects file, even when storing failed.
pub async fn ingest(
    root: &Path,
    req: &IngestRequest,
    printer: &Printer,
) -> Result<Ingested, Error> {
    let file = req.file.as_path();
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
    let rejects_path = req.rejects.clone().unwrap_or_else(|| {
        if stdin {
            root.join(".evalgate/feedback-rejects.jsonl")
        } else {
            let mut p = file.as_os_str().to_owned();
            p.push(".rejects.jsonl");
            PathBuf::from(p)
        }
    });
    let shown = if stdin {
        "stdin".to_string()
    } else {
        file.display().to_string()
    };
    let mut rejected: Vec<ingest::Reject> = Vec::new();
    let summary = with_store(root, async |store| {
        Ok(ingest::ingest(store, reader, |r| {
            if rejected.len() < REJECTS_SHOWN {
                printer.warn(&format!("{shown}:{}: {}", r.line, r.reason));
            }
            rejected.push(r);
        })
        .await)
    })
    .await?;
    // The bad lines found so far are kept even when storing failed.
    if !rejected.is_empty() {
        write_rejects(&rejects_path, &rejected)?;
    }
    let summary = summary.map_err(|e| match e {
        ingest::IngestError::Read(source) => Error::Read {
            path: file.to_path_buf(),
            source,
        },
        ingest::IngestError::Store(e) => Error::Store(e),
    })?;
    Ok(Ingested {
        summary,
        rejected: rejected.len(),
        rejects_path,
    })
}

/// Writes the bad lines, one JSON object each.
fn write_rejects(path: &Path, rejected: &[ingest::Reject]) -> Result<(), Error> {
    let mut text = String::new();
    for r in rejected {
        text.push_str(&serde_json::to_string(r).unwrap_or_default());
        text.push('\n');
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Which events a triage or a promotion reads.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only events from this date (2026-11-01), time (RFC 3339) or number of days back (7d).
    pub since: Option<String>,
    /// Only interactions of this prompt.
    pub prompt: Option<String>,
}

/// What `evalgate feedback triage` is asked for.
#[derive(Debug, Clone)]
pub struct TriageRequest {
    pub filter: Filter,
    /// The cosine above which two texts are one cluster.
    pub similarity: f64,
    /// Clusters shown.
    pub top: usize,
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

/// The bad interactions of the filter, clustered by input text and by signal, leaving out
/// those already in a golden file.
pub async fn triage(
    root: &Path,
    req: &TriageRequest,
    printer: &Printer,
) -> Result<triage::TriageReport, Error> {
    let similarity = req.similarity;
    if !(0.0..=1.0).contains(&similarity) {
        return Err(Error::usage(
            format!("--similarity is a cosine between 0 and 1, got {similarity}"),
            None,
        ));
    }
    let since = req
        .filter
        .since
        .as_deref()
        .map(|s| crate::feedback::parse_since(s, chrono::Utc::now()))
        .transpose()
        .map_err(|e| Error::usage(e, None))?;
    // The events read one at a time into the triage's compact items: the interactions
    // first, then the signals (which find their interaction among them).
    let mut t = triage::Triage::new(golden_hashes(root, printer));
    let t = with_store(root, async |store| {
        store
            .each_feedback_interaction(since.as_deref(), req.filter.prompt.as_deref(), |r| {
                t.add_interaction(&r)
            })
            .await?;
        store
            .each_feedback_signal(since.as_deref(), |s| t.add_signal(&s))
            .await?;
        Ok(t)
    })
    .await?;
    if t.is_empty() {
        return Err(Error::usage(
            "no interaction matches: nothing to triage",
            Some("ingest events with `evalgate feedback ingest FILE` or `evalgate serve`".into()),
        ));
    }
    Ok(t.report(triage::Options {
        similarity,
        top: req.top,
    }))
}

/// What `evalgate feedback promote` is asked for.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    /// The events to promote (replaced by a cluster's when `cluster` is given).
    pub event_ids: Vec<String>,
    /// The golden file to append to (under the project unless absolute).
    pub to: PathBuf,
    /// Promote the bad interactions of this text cluster of a triage.
    pub cluster: Option<usize>,
    pub similarity: f64,
    pub filter: Filter,
}

/// Appends events as golden cases, under the golden file's lock. When the file would no
/// longer fit the prompts that use it, it is put back and the problems are the error.
pub async fn promote(
    root: &Path,
    req: &PromoteRequest,
    printer: &Printer,
) -> Result<promote::Promotion, Error> {
    let event_ids = match req.cluster {
        Some(c) => cluster_events(root, req, c, printer).await?,
        None => req.event_ids.clone(),
    };
    let path = if req.to.is_absolute() {
        req.to.clone()
    } else {
        root.join(&req.to)
    };
    // Held until the file is written (or put back): another writer waits.
    let _lock = crate::golden::lock(&path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    let before = std::fs::read_to_string(&path).ok();
    let needs = needs_of(root, &path);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let promotion = with_store(root, async |store| {
        promote::promote(store, &event_ids, &path, &today, &needs)
            .await
            .map_err(|e| match e {
                promote::PromoteError::Store(e) => Error::Store(e),
                promote::PromoteError::Io { path, source } => Error::Write {
                    path: path.into(),
                    source,
                },
                other => Error::usage(other.to_string(), None),
            })
    })
    .await?;
    if !promotion.added.is_empty() {
        keep_valid(root, &path, before.as_deref(), printer)?;
    }
    Ok(promotion)
}

/// The bad interactions of text cluster `c` of a triage with the request's filter.
async fn cluster_events(
    root: &Path,
    req: &PromoteRequest,
    c: usize,
    printer: &Printer,
) -> Result<Vec<String>, Error> {
    let triage_req = TriageRequest {
        filter: req.filter.clone(),
        similarity: req.similarity,
        top: usize::MAX,
    };
    let report = triage(root, &triage_req, printer).await?;
    let Some(found) = report.by_text.iter().find(|x| x.id == c) else {
        return Err(Error::usage(
            format!("no text cluster {c}: triage found {}", report.by_text.len()),
            Some(
                "`evalgate feedback triage` lists them (with the same --since and --prompt)".into(),
            ),
        ));
    };
    printer.info(&format!(
        "cluster {c} ({}): {} bad interactions not yet in golden",
        found.label,
        found.bad_ids.len()
    ));
    Ok(found.bad_ids.clone())
}

/// The golden file at `path` must stay a valid dataset of the project: otherwise it is put
/// back as it was (`before`; none: it did not exist) and its problems are the error.
fn keep_valid(
    root: &Path,
    path: &Path,
    before: Option<&str>,
    printer: &Printer,
) -> Result<(), Error> {
    if !root.join(crate::config::CONFIG_FILE).is_file() {
        return Ok(());
    }
    let shown = crate::diag::display_path(root, path);
    let Err(diags) = crate::config::load(root) else {
        return Ok(());
    };
    let ours: Vec<_> = diags.into_iter().filter(|d| d.file == shown).collect();
    if ours.is_empty() {
        return Ok(());
    }
    match before {
        Some(text) => crate::files::replace_file(path, text.as_bytes()),
        None => std::fs::remove_file(path),
    }
    .map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    printer.warn(
        "the promoted cases do not fit the prompts that use this dataset: the file is unchanged",
    );
    Err(Error::Invalid(ours))
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

/// How the golden dataset `name` grew: its cases by source and by month.
pub fn golden_growth(root: &Path, name: &str) -> Result<Growth, Error> {
    let path = root
        .join(crate::config::GOLDEN_DIR)
        .join(format!("{name}.jsonl"));
    let shown = crate::diag::display_path(root, &path);
    let (dataset, problems) = crate::golden::validate(name, &path, &shown, |_, _| None);
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
    Ok(crate::golden::growth(name, &cases))
}
