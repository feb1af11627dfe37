//! `evalgate review sample | label | export` and `evalgate calibrate` as library calls, and
//! the one way a reviewer's answer is saved (`save_answer`), which `evalgate serve`'s review
//! pages call too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::Error;
use crate::id::RunId;
use crate::output::Printer;
use crate::review::{self, Calibration, Stratify};
use crate::runfile::{CaseEntry, RunFile};
use crate::status::Outcome;
use crate::store::{CaseRow, ReviewItemRow, ReviewLabelRow, Store, StoreError};

use super::{labels_file_error, reviewed_labels};

/// The golden file of a dataset of the project, when the project loads and has it.
pub fn golden_path(root: &Path, dataset: &str) -> Result<PathBuf, Error> {
    let project = crate::config::load(root).map_err(|diags| {
        Error::usage(
            format!(
                "the project does not load, so the golden file of `{dataset}` is unknown: {}",
                diags.first().map(|d| d.to_string()).unwrap_or_default()
            ),
            Some("`evalgate validate` shows every problem".into()),
        )
    })?;
    project
        .datasets
        .get(dataset)
        .map(|d| d.path.clone())
        .ok_or_else(|| Error::usage(format!("the project has no dataset `{dataset}`"), None))
}

/// What `evalgate review sample` is asked for.
#[derive(Debug, Clone)]
pub struct SampleRequest {
    /// The run (an id or a unique prefix).
    pub run: String,
    /// Judge verdicts to pick.
    pub n: usize,
    pub stratify: Stratify,
    pub seed: u64,
}

/// A review batch, stored.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub batch_id: String,
    pub run_id: RunId,
    /// Every item of the batch.
    pub items: usize,
    /// Verdict items the judge passed, and failed.
    pub passes: usize,
    pub fails: usize,
    /// Items that are cases needing a label (their answers go to the golden file).
    pub to_label: usize,
}

/// Picks judge verdicts of a run for review, with the cases of the run that still need a
/// label, and stores them as a new batch.
pub async fn sample(
    root: &Path,
    store: &Store,
    req: &SampleRequest,
    printer: &Printer,
) -> Result<Sampled, Error> {
    let run = store.find_run(&req.run).await?;
    let verdicts = store.verdicts(&run.id).await?;
    let cases = store.cases(&run.id).await?;
    let pending = pending_labels(root, &run.dataset, printer);
    let to_label: Vec<&CaseRow> = cases
        .iter()
        .filter(|c| c.repeat_index == 0 && pending.contains(&c.case_id))
        .collect();
    if verdicts.is_empty() && to_label.is_empty() {
        return Err(Error::usage(
            format!(
                "run {} has no judge verdicts to review and no case that needs a label",
                run.id
            ),
            Some("review a run of a suite with a `judge` scorer, or one with cases promoted from feedback".into()),
        ));
    }
    let tags: BTreeMap<String, Vec<String>> = cases
        .iter()
        .map(|c| {
            let tags: Vec<String> = serde_json::from_str(&c.tags_json).unwrap_or_default();
            (c.case_id.clone(), tags)
        })
        .collect();
    let picked = review::sample(&verdicts, &tags, req.n, req.stratify, req.seed);
    let batch_id = format!("rv-{}", &crate::runner::new_run_id()[..8]);
    let items = batch_items(&batch_id, &run.id, &picked, &to_label);
    store.insert_review_items(&items).await?;
    let count = |o: Outcome| {
        items
            .iter()
            .filter(|i| i.judge_outcome == o.as_str())
            .count()
    };
    Ok(Sampled {
        passes: count(Outcome::Pass),
        fails: count(Outcome::Fail),
        items: items.len(),
        to_label: to_label.len(),
        batch_id,
        run_id: run.id,
    })
}

/// Cases of the run's dataset that the golden file still marks `needs_label` (as it is now:
/// a case labelled since the run is not offered again). Without the golden file, the batch
/// still gets its verdicts (said).
fn pending_labels(
    root: &Path,
    dataset: &str,
    printer: &Printer,
) -> std::collections::HashSet<String> {
    match golden_path(root, dataset).and_then(|path| {
        crate::golden::pending_labels(&path).map_err(|e| Error::usage(e.to_string(), None))
    }) {
        Ok(p) => p,
        Err(e) => {
            printer.warn(&format!(
                "the cases that need a label are left out of the batch: {e}"
            ));
            Default::default()
        }
    }
}

/// The rows of a new batch: the verdicts picked, then the cases to label, numbered in order.
fn batch_items(
    batch_id: &str,
    run_id: &RunId,
    picked: &[&crate::store::VerdictRow],
    to_label: &[&CaseRow],
) -> Vec<ReviewItemRow> {
    let now = crate::runner::now();
    let item = |case_id: &str, repeat_index, kind: &str| ReviewItemRow {
        batch_id: batch_id.to_string(),
        item: 0,
        run_id: run_id.to_string(),
        case_id: case_id.to_string(),
        repeat_index,
        scorer: String::new(),
        judge: String::new(),
        judge_version: String::new(),
        judge_model: String::new(),
        judge_outcome: String::new(),
        judge_reason: None,
        created_at: now.clone(),
        kind: kind.into(),
    };
    let mut items: Vec<ReviewItemRow> = picked
        .iter()
        .map(|v| ReviewItemRow {
            scorer: v.scorer.clone(),
            judge: v.judge.clone(),
            judge_version: v.judge_version.clone(),
            judge_model: v.judge_model.clone(),
            judge_outcome: v.outcome.to_string(),
            judge_reason: v.reason.clone(),
            ..item(&v.case_id, v.repeat_index, "verdict")
        })
        .collect();
    items.extend(to_label.iter().map(|c| item(&c.case_id, 0, "label")));
    for (i, item) in items.iter_mut().enumerate() {
        item.item = i as i64;
    }
    items
}

/// Where a reviewer's answer is recorded before the database indexes it.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// A case that needs a label: the answer becomes its expected value in this golden file.
    /// `case` is the run's entry of the case (its output, which a `pass` accepts).
    Golden {
        path: &'a Path,
        case: Option<&'a CaseEntry>,
    },
    /// A judge verdict: the label goes into the project's labels file (the record, in git).
    LabelsFile { root: &'a Path },
}

/// A reviewer's answer to one item.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `pass`, `fail` or `skip`.
    pub verdict: String,
    pub note: Option<String>,
    pub reviewer: String,
}

/// What an answer saved.
#[derive(Debug, Clone)]
pub enum Saved {
    /// The case's expected value is now `expected`, in the golden file `path`.
    Golden {
        path: PathBuf,
        expected: Map<String, Value>,
    },
    /// A skip of a case that needs a label: it still needs one.
    StillNeedsLabel,
    /// A label of a judge verdict.
    Verdict,
}

/// Why an answer was not saved.
#[derive(Debug)]
pub enum AnswerError {
    /// The answer cannot become an expected value (a fail without the right answer, say):
    /// ask again.
    Again(String),
    /// The golden file could not be read or changed.
    Golden(review::LabelError),
    /// The labels file could not be read or changed.
    LabelsFile(review::file::FileError),
    /// The file work stopped before it finished (its task panicked or was cancelled).
    Interrupted(String),
    Store(StoreError),
}

impl AnswerError {
    /// The message for the reviewer, with the cause of a labels file's failure.
    pub fn message(&self) -> String {
        match self {
            AnswerError::Again(why) | AnswerError::Interrupted(why) => why.clone(),
            AnswerError::Golden(e) => e.to_string(),
            AnswerError::LabelsFile(e) => {
                let cause = std::error::Error::source(e)
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default();
                format!("{e}{cause}")
            }
            AnswerError::Store(e) => e.to_string(),
        }
    }
}

/// Saves a reviewer's answer to `item`: first into its record (the golden file or the labels
/// file), then into the database, so a failed write can be answered again. Two reviewers'
/// edits do not lose each other: the files are read, changed and replaced under the golden
/// files' lock (`golden::lock`, across threads and processes). The file work blocks, so it
/// runs off the async threads.
pub async fn save_answer(
    store: &Store,
    item: &ReviewItemRow,
    record: Record<'_>,
    answer: &Answer,
) -> Result<Saved, AnswerError> {
    let row = ReviewLabelRow {
        batch_id: item.batch_id.clone(),
        item: item.item,
        reviewer: answer.reviewer.clone(),
        verdict: answer.verdict.clone(),
        note: answer.note.clone(),
        labelled_at: crate::runner::now(),
    };
    let saved = match record {
        Record::Golden { path, case } => save_golden(path, item, case, answer).await?,
        Record::LabelsFile { root } => {
            let (root, line) = (root.to_path_buf(), review::file::LabelLine::new(item, &row));
            tokio::task::spawn_blocking(move || review::file::save(&root, &line))
                .await
                .map_err(|e| AnswerError::Interrupted(format!("the labels file edit failed: {e}")))?
                .map_err(AnswerError::LabelsFile)?;
            Saved::Verdict
        }
    };
    store
        .save_review_label(&row)
        .await
        .map_err(AnswerError::Store)?;
    Ok(saved)
}

/// Writes an answer as the case's expected value in its golden file.
async fn save_golden(
    path: &Path,
    item: &ReviewItemRow,
    case: Option<&CaseEntry>,
    answer: &Answer,
) -> Result<Saved, AnswerError> {
    let path = path.to_path_buf();
    let (item, answer) = (item.clone(), answer.clone());
    let (output, parsed) = (
        case.and_then(|c| c.output.clone()),
        case.and_then(|c| c.parsed.clone()),
    );
    tokio::task::spawn_blocking(move || {
        let label = review::LabelAnswer {
            verdict: &answer.verdict,
            output: output.as_deref(),
            parsed: parsed.as_ref(),
            note: answer.note.as_deref(),
        };
        match review::label_case(
            &path,
            &item.case_id,
            &label,
            &answer.reviewer,
            &item.batch_id,
        ) {
            Ok(Some(expected)) => Ok(Saved::Golden { path, expected }),
            Ok(None) => Ok(Saved::StillNeedsLabel),
            Err(review::LabelError::Answer(why)) => Err(AnswerError::Again(why)),
            Err(e) => Err(AnswerError::Golden(e)),
        }
    })
    .await
    .unwrap_or_else(|e| {
        Err(AnswerError::Interrupted(format!(
            "the golden file edit failed: {e}"
        )))
    })
}

/// How a labelling session ended.
#[derive(Debug, Clone, Copy)]
pub struct Labelled {
    /// Items of the batch labelled, now.
    pub labelled: usize,
    pub items: usize,
}

/// Labels the items of `batch` not labelled yet, one at a time: shows each (through the
/// printer) and saves the answer read from `answers` (`p`, `f`, `s` or `q`, a note after
/// the letter), until the items or the answers run out or the reviewer quits.
pub async fn label(
    root: &Path,
    store: &Store,
    batch: &str,
    reviewer: &str,
    answers: impl Iterator<Item = String>,
    printer: &Printer,
) -> Result<Labelled, Error> {
    let items = store.review_items(batch).await?;
    if items.is_empty() {
        return Err(Error::usage(format!("no review batch `{batch}`"), None));
    }
    let done: Vec<i64> = store
        .review_labels(Some(batch))
        .await?
        .into_iter()
        .map(|l| l.item)
        .collect();
    let todo: Vec<&ReviewItemRow> = items.iter().filter(|i| !done.contains(&i.item)).collect();
    printer.info(&format!(
        "batch {batch}: {} of {} items to label",
        todo.len(),
        items.len()
    ));
    let mut session = Session {
        root,
        store,
        reviewer,
        answers,
        printer,
        runs: BTreeMap::new(),
        goldens: BTreeMap::new(),
    };
    for (k, item) in todo.iter().enumerate() {
        if !session.ask(k + 1, todo.len(), item).await? {
            break;
        }
    }
    Ok(Labelled {
        labelled: store.review_labels(Some(batch)).await?.len(),
        items: items.len(),
    })
}

/// A labelling session: where answers come from, and the runs and golden files read so far.
struct Session<'a, I> {
    root: &'a Path,
    store: &'a Store,
    reviewer: &'a str,
    answers: I,
    printer: &'a Printer,
    runs: BTreeMap<String, RunFile>,
    goldens: BTreeMap<String, PathBuf>,
}

impl<I: Iterator<Item = String>> Session<'_, I> {
    /// Shows item `n` of `total` and saves its answer; false when the reviewer stopped.
    async fn ask(&mut self, n: usize, total: usize, item: &ReviewItemRow) -> Result<bool, Error> {
        if !self.runs.contains_key(&item.run_id) {
            let run = crate::runfile::from_store(self.store, &item.run_id).await?;
            self.runs.insert(item.run_id.clone(), run);
        }
        let run = &self.runs[&item.run_id];
        let case = run
            .cases
            .iter()
            .find(|c| c.id == item.case_id && c.repeat == item.repeat_index);
        let labelling = item.kind == "label";
        let text = item_text(n, total, item, case, labelling);
        self.printer.info(text.trim_end());
        loop {
            let Some(line) = self.answers.next() else {
                return Ok(false);
            };
            let line = line.trim();
            let (key, note) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
            let Some(verdict) = verdict_of(key, self.printer) else {
                return Ok(false);
            };
            let answer = Answer {
                verdict: verdict.into(),
                note: Some(note.trim().to_string()).filter(|n| !n.is_empty()),
                reviewer: self.reviewer.to_string(),
            };
            let record = if labelling {
                if !self.goldens.contains_key(&run.run.dataset) {
                    let path = golden_path(self.root, &run.run.dataset)?;
                    self.goldens.insert(run.run.dataset.clone(), path);
                }
                let path = &self.goldens[&run.run.dataset];
                Record::Golden { path, case }
            } else {
                Record::LabelsFile { root: self.root }
            };
            match save_answer(self.store, item, record, &answer).await {
                Ok(saved) => {
                    self.printer.info(&saved_text(self.root, item, &saved));
                    return Ok(true);
                }
                Err(AnswerError::Again(why)) => {
                    self.printer.warn(&format!("{why}; answer again > "));
                }
                Err(AnswerError::Store(e)) => return Err(e.into()),
                Err(e) => return Err(Error::usage(e.message(), None)),
            }
        }
    }
}

/// What a reviewer is shown of item `n` of `total`: the case, its output and, for a
/// verdict, what was expected; then the answers it takes.
fn item_text(
    n: usize,
    total: usize,
    item: &ReviewItemRow,
    case: Option<&CaseEntry>,
    labelling: bool,
) -> String {
    let mut text = if labelling {
        format!(
            "\n[{n}/{total}] case {} needs a label (from production feedback)\n",
            item.case_id
        )
    } else {
        format!(
            "\n[{n}/{total}] case {} · {} (judge {})\n",
            item.case_id, item.scorer, item.judge
        )
    };
    if let Some(c) = case {
        text.push_str(&format!(
            "input:\n{}\noutput:\n{}\n",
            serde_json::to_string_pretty(&c.vars).unwrap_or_default(),
            c.output.as_deref().unwrap_or("(none)"),
        ));
        if !labelling {
            text.push_str(&format!(
                "expected:\n{}\n",
                serde_json::to_string_pretty(&c.expected).unwrap_or_default()
            ));
        }
    }
    text.push_str(if labelling {
        "is the output right? p yes, it becomes the expected value · f FIELD=VALUE, … the right answer · s skip · q quit > "
    } else {
        "your verdict: p pass · f fail · s skip · q quit (a note may follow) > "
    });
    text
}

/// What the reviewer is told once an answer is saved.
fn saved_text(root: &Path, item: &ReviewItemRow, saved: &Saved) -> String {
    match saved {
        Saved::Golden { path, expected } => format!(
            "saved. {} now expects {} in {}",
            item.case_id,
            serde_json::to_string(expected).unwrap_or_default(),
            crate::diag::display_path(root, path).display()
        ),
        Saved::StillNeedsLabel => "skipped: the case still needs a label".into(),
        Saved::Verdict => {
            let reason = item.judge_reason.as_ref().map(|r| format!(": {r}"));
            format!(
                "saved. the judge said {}{}",
                item.judge_outcome,
                reason.unwrap_or_default()
            )
        }
    }
}

/// The verdict a reviewer's key gives, or None to stop (q, an empty line, or a key that is
/// not an answer, said).
fn verdict_of(key: &str, printer: &Printer) -> Option<&'static str> {
    match key.to_ascii_lowercase().as_str() {
        "p" => Some("pass"),
        "f" => Some("fail"),
        "s" => Some("skip"),
        "q" | "" => None,
        other => {
            printer.warn(&format!(
                "`{other}` is not p, f, s or q: stopping; run again to go on"
            ));
            None
        }
    }
}

/// Writes every label of a judge verdict that only the database holds into the labels
/// files; returns each file written with how many labels went into it.
pub async fn export(root: &Path, store: &Store) -> Result<BTreeMap<PathBuf, usize>, Error> {
    let stored = store.reviewed().await?;
    review::file::export(root, &stored).map_err(labels_file_error)
}

/// What `evalgate calibrate` is asked for.
#[derive(Debug, Clone, Default)]
pub struct CalibrateRequest {
    /// Only this judge.
    pub judge: Option<String>,
    /// Only labels of the last W weeks.
    pub weeks: Option<i64>,
    /// Write the disagreements as JSON lines here.
    pub export_examples: Option<PathBuf>,
}

/// How far each judge agrees with the humans' labels; warns of every judge below its suite's
/// `min_judge_kappa`, and writes the disagreements when asked.
pub async fn calibrate(
    root: &Path,
    store: &Store,
    req: &CalibrateRequest,
    printer: &Printer,
) -> Result<Calibration, Error> {
    let reviewed = reviewed_labels(root, store, printer).await?;
    let since = req.weeks.map(|w| {
        (chrono::Utc::now() - chrono::TimeDelta::try_weeks(w.clamp(0, 5200)).unwrap_or_default())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    let c = review::calibrate(&reviewed, req.judge.as_deref(), since.as_deref());
    if c.judges.is_empty() {
        return Err(Error::usage(
            "no labelled review item matches",
            Some("sample a batch with `evalgate review sample --run RUN` and label it".into()),
        ));
    }
    if let Some(path) = &req.export_examples {
        let out = disagreements(store, &c).await;
        std::fs::write(path, out).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        printer.info(&format!("wrote the disagreements to {}", path.display()));
    }
    for w in review::drift(&c, &floors(root)) {
        printer.warn(&w);
    }
    Ok(c)
}

/// Each judge's disagreements with the humans, one JSON line each, with the case's input
/// and output (when its run is still stored).
async fn disagreements(store: &Store, c: &Calibration) -> String {
    let mut out = String::new();
    let mut runs: BTreeMap<String, RunFile> = BTreeMap::new();
    for j in &c.judges {
        for d in &j.disagreements {
            if !runs.contains_key(&d.run_id)
                && let Ok(r) = crate::runfile::from_store(store, &d.run_id).await
            {
                runs.insert(d.run_id.clone(), r);
            }
            let case = runs.get(&d.run_id).and_then(|r| {
                r.cases
                    .iter()
                    .find(|c| c.id == d.case_id && c.repeat == d.repeat_index)
            });
            let line = serde_json::json!({
                "judge": j.judge, "judge_version": j.judge_version,
                "case_id": d.case_id, "run_id": d.run_id,
                "input": case.map(|c| c.vars.clone()),
                "output": case.and_then(|c| c.output.clone()),
                "judge_verdict": d.judge_verdict, "judge_reason": d.judge_reason,
                "human_verdict": d.human_verdict, "human_note": d.note,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
    }
    out
}

/// The `min_judge_kappa` floors of the project's suites, per judge at its current version
/// (none when the project does not load).
fn floors(root: &Path) -> Vec<review::Floor> {
    let Ok(project) = crate::config::load(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for suite in project.suites.values() {
        let Some(min) = suite.gates.min_judge_kappa else {
            continue;
        };
        for scorer in &suite.scorers {
            if let crate::score::ScorerKind::Judge { judges, .. } = &scorer.kind {
                for name in judges {
                    if let Some(j) = project.judges.get(name) {
                        out.push(review::Floor {
                            judge: name.clone(),
                            judge_version: j.version.clone(),
                            suite: suite.name.clone(),
                            min,
                        });
                    }
                }
            }
        }
    }
    out
}
