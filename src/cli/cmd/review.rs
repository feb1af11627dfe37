//! `review sample`, `review label` and `calibrate`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use crate::cli::args::{CalibrateArgs, Format, ReviewArgs, ReviewCommand, StratifyBy};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::review::{self, Stratify};
use crate::store::{ReviewItemRow, ReviewLabelRow};

pub async fn review(root: &Path, args: ReviewArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let store = super::open_store(root).await?;
    let result = match args.command {
        ReviewCommand::Sample {
            run,
            n,
            stratify,
            seed,
        } => sample(&store, &run, n, stratify, seed, printer).await,
        ReviewCommand::Label { batch, reviewer } => label(&store, &batch, &reviewer, printer).await,
    };
    store.close().await;
    result
}

async fn sample(
    store: &crate::store::Store,
    run: &str,
    n: usize,
    stratify: StratifyBy,
    seed: u64,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let run = store.find_run(run).await?;
    let verdicts = store.verdicts(&run.id).await?;
    if verdicts.is_empty() {
        return Err(Error::usage(
            format!("run {} has no judge verdicts to review", run.id),
            Some("review a run of a suite with a `judge` scorer".into()),
        ));
    }
    let tags: BTreeMap<String, Vec<String>> = store
        .cases(&run.id)
        .await?
        .into_iter()
        .map(|c| {
            let tags: Vec<String> = serde_json::from_str(&c.tags_json).unwrap_or_default();
            (c.case_id, tags)
        })
        .collect();
    let how = match stratify {
        StratifyBy::Verdict => Stratify::Verdict,
        StratifyBy::Tag => Stratify::Tag,
    };
    let picked = review::sample(&verdicts, &tags, n, how, seed);
    let batch_id = format!("rv-{}", &crate::runner::new_run_id()[..8]);
    let now = crate::runner::now();
    let items: Vec<ReviewItemRow> = picked
        .iter()
        .enumerate()
        .map(|(i, v)| ReviewItemRow {
            batch_id: batch_id.clone(),
            item: i as i64,
            run_id: run.id.clone(),
            case_id: v.case_id.clone(),
            repeat_index: v.repeat_index,
            scorer: v.scorer.clone(),
            judge: v.judge.clone(),
            judge_version: v.judge_version.clone(),
            judge_model: v.judge_model.clone(),
            judge_outcome: v.outcome.clone(),
            judge_reason: v.reason.clone(),
            created_at: now.clone(),
        })
        .collect();
    store.insert_review_items(&items).await?;
    let passes = items.iter().filter(|i| i.judge_outcome == "pass").count();
    printer.data(&format!(
        "review batch {batch_id}: {} items of run {} ({passes} judged pass, {} judged fail)\nlabel it with `evalgate review label {batch_id} --reviewer NAME`",
        items.len(),
        run.id,
        items.len() - passes
    ));
    Ok(ExitStatus::Ok)
}

async fn label(
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
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let todo: Vec<&ReviewItemRow> = items.iter().filter(|i| !done.contains(&i.item)).collect();
    printer.info(&format!(
        "batch {batch}: {} of {} items to label",
        todo.len(),
        items.len()
    ));
    for (k, item) in todo.iter().enumerate() {
        if !runs.contains_key(&item.run_id) {
            runs.insert(
                item.run_id.clone(),
                crate::runfile::from_store(store, &item.run_id).await?,
            );
        }
        let case = runs[&item.run_id]
            .cases
            .iter()
            .find(|c| c.id == item.case_id && c.repeat == item.repeat_index);
        let mut text = format!(
            "\n[{}/{}] case {} · {} (judge {})\n",
            k + 1,
            todo.len(),
            item.case_id,
            item.scorer,
            item.judge
        );
        if let Some(c) = case {
            text.push_str(&format!(
                "input:\n{}\noutput:\n{}\nexpected:\n{}\n",
                serde_json::to_string_pretty(&c.vars).unwrap_or_default(),
                c.output.as_deref().unwrap_or("(none)"),
                serde_json::to_string_pretty(&c.expected).unwrap_or_default()
            ));
        }
        text.push_str("your verdict: p pass · f fail · s skip · q quit (a note may follow) > ");
        printer.info(text.trim_end());
        let Some(Ok(answer)) = lines.next() else {
            break;
        };
        let answer = answer.trim();
        let (key, note) = answer.split_at(answer.chars().next().map_or(0, char::len_utf8));
        let verdict = match key.to_ascii_lowercase().as_str() {
            "p" => "pass",
            "f" => "fail",
            "s" => "skip",
            "q" | "" => break,
            other => {
                printer.warn(&format!(
                    "`{other}` is not p, f, s or q: stopping; run again to go on"
                ));
                break;
            }
        };
        store
            .save_review_label(&ReviewLabelRow {
                batch_id: batch.to_string(),
                item: item.item,
                reviewer: reviewer.to_string(),
                verdict: verdict.into(),
                note: Some(note.trim().to_string()).filter(|n| !n.is_empty()),
                labelled_at: crate::runner::now(),
            })
            .await?;
        printer.info(&format!(
            "saved. the judge said {}{}",
            item.judge_outcome,
            item.judge_reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
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
    let reviewed = store.reviewed().await;
    let reviewed = match reviewed {
        Ok(r) => r,
        Err(e) => {
            store.close().await;
            return Err(e.into());
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
                if !runs.contains_key(&d.run_id) {
                    if let Ok(r) = crate::runfile::from_store(&store, &d.run_id).await {
                        runs.insert(d.run_id.clone(), r);
                    }
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
    match args.format {
        Format::Terminal => printer.data(&crate::report::terminal::render_calibration(&c)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&c).unwrap_or_default()),
    }
    Ok(ExitStatus::Ok)
}
