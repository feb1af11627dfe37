//! `review sample`, `review label` and `calibrate`.

use crate::status::Outcome;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use crate::cli::args::{CalibrateArgs, Format, ReviewArgs, ReviewCommand, StratifyBy};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::review::{self, Stratify};
use crate::store::{ReviewItemRow, ReviewLabelRow};
use crate::workflow::{labels_file_error, reviewed_labels};

pub async fn review(root: &Path, args: ReviewArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let result = match args.command {
        ReviewCommand::Sample {
            run,
            n,
            stratify,
            seed,
        } => sample(root, &store, &run, n, stratify, seed, printer).await,
        ReviewCommand::Label { batch, reviewer } => {
            label(root, &store, &batch, &reviewer, printer).await
        }
        ReviewCommand::Export => export(root, &store, printer).await,
    };
    store.close().await;
    result
}

/// The golden file of a dataset of the project, when the project loads and has it.
fn golden_path(root: &Path, dataset: &str) -> Result<std::path::PathBuf, Error> {
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

async fn sample(
    root: &Path,
    store: &crate::store::Store,
    run: &str,
    n: usize,
    stratify: StratifyBy,
    seed: u64,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let run = store.find_run(run).await?;
    let verdicts = store.verdicts(&run.id).await?;
    let cases = store.cases(&run.id).await?;
    // Cases of the run that the golden file still marks `needs_label` (as it is now: a case
    // labelled since the run is not offered again). Without the golden file, the batch still
    // gets its verdicts.
    let pending = match golden_path(root, &run.dataset).and_then(|path| {
        crate::golden::pending_labels(&path).map_err(|e| Error::usage(e.to_string(), None))
    }) {
        Ok(p) => p,
        Err(e) => {
            printer.warn(&format!(
                "the cases that need a label are left out of the batch: {e}"
            ));
            Default::default()
        }
    };
    let to_label: Vec<&crate::store::CaseRow> = cases
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
    let how = match stratify {
        StratifyBy::Verdict => Stratify::Verdict,
        StratifyBy::Tag => Stratify::Tag,
    };
    let picked = review::sample(&verdicts, &tags, n, how, seed);
    let batch_id = format!("rv-{}", &crate::runner::new_run_id()[..8]);
    let now = crate::runner::now();
    let mut items: Vec<ReviewItemRow> = picked
        .iter()
        .map(|v| ReviewItemRow {
            batch_id: batch_id.clone(),
            item: 0,
            run_id: run.id.to_string(),
            case_id: v.case_id.clone(),
            repeat_index: v.repeat_index,
            scorer: v.scorer.clone(),
            judge: v.judge.clone(),
            judge_version: v.judge_version.clone(),
            judge_model: v.judge_model.clone(),
            judge_outcome: v.outcome.to_string(),
            judge_reason: v.reason.clone(),
            created_at: now.clone(),
            kind: "verdict".into(),
        })
        .collect();
    items.extend(to_label.iter().map(|c| ReviewItemRow {
        batch_id: batch_id.clone(),
        item: 0,
        run_id: run.id.to_string(),
        case_id: c.case_id.clone(),
        repeat_index: 0,
        scorer: String::new(),
        judge: String::new(),
        judge_version: String::new(),
        judge_model: String::new(),
        judge_outcome: String::new(),
        judge_reason: None,
        created_at: now.clone(),
        kind: "label".into(),
    }));
    for (i, item) in items.iter_mut().enumerate() {
        item.item = i as i64;
    }
    store.insert_review_items(&items).await?;
    let passes = items
        .iter()
        .filter(|i| i.judge_outcome == Outcome::Pass.as_str())
        .count();
    let fails = items
        .iter()
        .filter(|i| i.judge_outcome == Outcome::Fail.as_str())
        .count();
    let labels = if to_label.is_empty() {
        String::new()
    } else {
        format!(
            ", and {} cases that need a label (their answers go to the golden file)",
            to_label.len()
        )
    };
    printer.data(&format!(
        "review batch {batch_id}: {} items of run {} ({passes} judged pass, {fails} judged fail{labels})\nlabel it with `evalgate review label {batch_id} --reviewer NAME`",
        items.len(),
        run.id,
    ));
    Ok(ExitStatus::Ok)
}

/// What a reviewer is shown of item `n` of `total`: the case, its output and, for a
/// verdict, what was expected; then the answers it takes.
fn item_text(
    n: usize,
    total: usize,
    item: &ReviewItemRow,
    case: Option<&crate::runfile::CaseEntry>,
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

async fn label(
    root: &Path,
    store: &crate::store::Store,
    batch: &str,
    reviewer: &str,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
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
    let mut runs: BTreeMap<String, crate::runfile::RunFile> = BTreeMap::new();
    let mut goldens: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let todo: Vec<&ReviewItemRow> = items.iter().filter(|i| !done.contains(&i.item)).collect();
    printer.info(&format!(
        "batch {batch}: {} of {} items to label",
        todo.len(),
        items.len()
    ));
    'items: for (k, item) in todo.iter().enumerate() {
        if !runs.contains_key(&item.run_id) {
            runs.insert(
                item.run_id.clone(),
                crate::runfile::from_store(store, &item.run_id).await?,
            );
        }
        let run = &runs[&item.run_id];
        let case = run
            .cases
            .iter()
            .find(|c| c.id == item.case_id && c.repeat == item.repeat_index);
        let labelling = item.kind == "label";
        let text = item_text(k + 1, todo.len(), item, case, labelling);
        printer.info(text.trim_end());
        loop {
            let Some(Ok(answer)) = lines.next() else {
                break 'items;
            };
            let answer = answer.trim();
            let (key, note) = answer.split_at(answer.chars().next().map_or(0, char::len_utf8));
            let Some(verdict) = verdict_of(key, printer) else {
                break 'items;
            };
            let note = Some(note.trim().to_string()).filter(|n| !n.is_empty());
            let mut saved = None;
            if labelling {
                if !goldens.contains_key(&run.run.dataset) {
                    goldens.insert(
                        run.run.dataset.clone(),
                        golden_path(root, &run.run.dataset)?,
                    );
                }
                let path = &goldens[&run.run.dataset];
                let answer = review::LabelAnswer {
                    verdict,
                    output: case.and_then(|c| c.output.as_deref()),
                    parsed: case.and_then(|c| c.parsed.as_ref()),
                    note: note.as_deref(),
                };
                match review::label_case(path, &item.case_id, &answer, reviewer, batch) {
                    Ok(Some(expected)) => {
                        let shown = serde_json::to_string(&expected).unwrap_or_default();
                        saved = Some(format!(
                            "saved. {} now expects {shown} in {}",
                            item.case_id,
                            crate::diag::display_path(root, path).display()
                        ));
                    }
                    Ok(None) => saved = Some("skipped: the case still needs a label".into()),
                    Err(review::LabelError::Answer(why)) => {
                        printer.warn(&format!("{why}; answer again > "));
                        continue;
                    }
                    Err(e) => return Err(Error::usage(e.to_string(), None)),
                }
            }
            let row = ReviewLabelRow {
                batch_id: batch.to_string(),
                item: item.item,
                reviewer: reviewer.to_string(),
                verdict: verdict.into(),
                note,
                labelled_at: crate::runner::now(),
            };
            // The labels file is the record (in git); the database indexes it.
            if !labelling {
                review::file::save(root, &review::file::LabelLine::new(item, &row))
                    .map_err(|e| Error::usage(e.to_string(), None))?;
            }
            store.save_review_label(&row).await?;
            printer.info(&saved.unwrap_or_else(|| {
                let reason = item.judge_reason.as_ref().map(|r| format!(": {r}"));
                format!(
                    "saved. the judge said {}{}",
                    item.judge_outcome,
                    reason.unwrap_or_default()
                )
            }));
            break;
        }
    }
    let labelled = store.review_labels(Some(batch)).await?.len();
    printer.data(&format!(
        "{labelled} of {} items of {batch} labelled",
        items.len()
    ));
    Ok(ExitStatus::Ok)
}

pub async fn calibrate(
    root: &Path,
    args: CalibrateArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let reviewed = match reviewed_labels(root, &store, printer).await {
        Ok(r) => r,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let since = args.weeks.map(|w| {
        (chrono::Utc::now() - chrono::TimeDelta::try_weeks(w.clamp(0, 5200)).unwrap_or_default())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    let c = review::calibrate(&reviewed, args.judge.as_deref(), since.as_deref());
    if c.judges.is_empty() {
        store.close().await;
        return Err(Error::usage(
            "no labelled review item matches",
            Some("sample a batch with `evalgate review sample --run RUN` and label it".into()),
        ));
    }
    if let Some(path) = &args.export_examples {
        let mut out = String::new();
        let mut runs: BTreeMap<String, crate::runfile::RunFile> = BTreeMap::new();
        for j in &c.judges {
            for d in &j.disagreements {
                if !runs.contains_key(&d.run_id)
                    && let Ok(r) = crate::runfile::from_store(&store, &d.run_id).await
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
        std::fs::write(path, out).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        printer.info(&format!("wrote the disagreements to {}", path.display()));
    }
    store.close().await;
    for w in review::drift(&c, &floors(root)) {
        printer.warn(&w);
    }
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render_calibration(&c)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&c).unwrap_or_default()),
    }
    Ok(ExitStatus::Ok)
}

async fn export(
    root: &Path,
    store: &crate::store::Store,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let stored = store.reviewed().await?;
    let written = review::file::export(root, &stored).map_err(labels_file_error)?;
    if written.is_empty() {
        printer.info(&format!(
            "every label of a judge verdict is in `{}` already",
            review::file::DIR
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
