use crate::status::{GateStatus, RunStatus, SuiteStatus};
use std::path::{Path, PathBuf};

use crate::cli::args::{GateArgs, RunArgs};
use crate::config::Project;
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::plan::{self, Plan, RunSettings};
use crate::report::SuiteVerdict;
use crate::runfile::RunFile;

/// What changed since the baseline: the prompt, the dataset, the model, a judge, the
/// scorers. Empty when nothing the suite's results depend on changed.
fn changes(project: &Project, plan: &Plan<'_>, baseline: &RunFile) -> Vec<String> {
    let b = &baseline.run;
    let mut out = Vec::new();
    if b.prompt != plan.prompt.name || b.prompt_version != plan.prompt.version {
        out.push(format!(
            "prompt {}@{} → {}@{}",
            b.prompt,
            crate::hash::short(&b.prompt_version),
            plan.prompt.name,
            plan.prompt.short_version()
        ));
    }
    if b.dataset != plan.dataset.name || b.dataset_version != plan.dataset.version {
        out.push(format!(
            "dataset {}@{} → {}@{}",
            b.dataset,
            crate::hash::short(&b.dataset_version),
            plan.dataset.name,
            crate::hash::short(&plan.dataset.version)
        ));
    }
    if b.model != plan.model.name {
        out.push(format!("model {} → {}", b.model, plan.model.name));
    }
    for scorer in &plan.suite.scorers {
        if let crate::score::ScorerKind::Judge { judges, .. } = &scorer.kind {
            for name in judges {
                let now = &project.judges[name].version;
                let before = baseline
                    .report
                    .judges
                    .iter()
                    .find(|j| &j.judge == name)
                    .map(|j| j.judge_version.as_str());
                if before != Some(now.as_str()) {
                    out.push(format!(
                        "judge {name}@{} → @{}",
                        before.map_or("(none)", crate::hash::short),
                        crate::hash::short(now)
                    ));
                }
            }
        }
    }
    let scorers: Option<serde_json::Value> = serde_json::from_str(&b.scorers_json).ok();
    if scorers != Some(serde_json::Value::Array(plan.scorer_names())) {
        out.push("scorers changed".into());
    }
    // Everything else that decides the verdict (the scorers' settings, the gates, the lift
    // and cascade sections, the error budget, the model's prices and endpoint), part by part.
    let Some(before) = b
        .fingerprint_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<crate::plan::Fingerprint>(j).ok())
    else {
        out.push(
            "the baseline does not record the suite's gates and settings (an older evalgate wrote it; `evalgate baseline update` records them)"
                .into(),
        );
        return out;
    };
    let unset = crate::config::fingerprint::unset();
    for part in crate::config::fingerprint::SUITE_PARTS {
        if before.get(*part).unwrap_or(&unset) != plan.fingerprint.get(*part).unwrap_or(&unset) {
            let what = match *part {
                "scorers" if out.iter().any(|c| c == "scorers changed") => continue,
                "scorers" => "the scorers' settings changed".to_string(),
                "gates" => "gates changed".to_string(),
                "lift" => "the lift section changed".to_string(),
                "cascade" => "the cascade section changed".to_string(),
                other => format!("{other} changed"),
            };
            out.push(what);
        }
    }
    // The parts of the models behind judges and cascade tiers, and of the labels files.
    let keys: std::collections::BTreeSet<&String> =
        before.keys().chain(plan.fingerprint.keys()).collect();
    for key in keys {
        if before.get(key) == plan.fingerprint.get(key) {
            continue;
        }
        if let Some(j) = key.strip_prefix("judge model ") {
            out.push(format!(
                "the model of judge {j} changed (its API id, prices or provider endpoint)"
            ));
        } else if let Some(m) = key.strip_prefix("cascade model ") {
            out.push(format!(
                "cascade model {m} changed (its API id, prices or provider endpoint)"
            ));
        } else if let Some(j) = key.strip_prefix("reviews ") {
            out.push(format!(
                "the human labels of judge {j} changed ({}/{j}.jsonl)",
                crate::config::REVIEWS_DIR
            ));
        }
    }
    if b.model == plan.model.name && before.get("model") != plan.fingerprint.get("model") {
        out.push(format!(
            "model {} changed (its API id, prices or provider endpoint)",
            plan.model.name
        ));
    }
    out
}

/// The lift and stability analyses the suite's gates need (and only those). A candidate
/// whose lift cannot be computed is an error of the project (too few cases, a missing
/// outcome); the baseline's problems only skip the relative gate.
async fn feature_analyses(
    root: &Path,
    project: &Project,
    suite: &crate::config::Suite,
    baseline: Option<&RunFile>,
    candidate: &RunFile,
    printer: &Printer,
) -> Result<crate::gate::Analyses, Error> {
    let g = &suite.gates;
    let mut out = crate::gate::Analyses::default();
    if g.min_judge_kappa.is_some() {
        // The labels in git (golden/reviews/), so that a fresh clone in CI gates on them.
        let store = super::open_store(root).await?;
        let reviewed = super::review::reviewed_labels(root, &store, printer).await;
        store.close().await;
        let reviewed = reviewed?;
        for scorer in &suite.scorers {
            if let crate::score::ScorerKind::Judge { judges, .. } = &scorer.kind {
                for name in judges {
                    let version = project.judges[name].version.clone();
                    let cal = crate::review::calibrate(&reviewed, Some(name), None)
                        .judges
                        .into_iter()
                        .find(|c| c.judge_version == version);
                    out.judge_kappa.push((name.clone(), version, cal));
                }
            }
        }
    }
    if g.min_lift.is_some() || g.max_lift_drop.is_some() {
        if let Some(l) = super::features::suite_lift(project, candidate, printer) {
            out.lift = Some(l?);
        }
        if let Some(b) = baseline {
            out.baseline_lift = super::features::suite_lift(project, b, printer)
                .map(|r| r.map_err(|e| e.to_string()));
        }
    }
    if g.max_flip_rate.is_some() {
        out.stability = baseline
            .map(|b| crate::features::stability::compare(b, candidate).map_err(|e| e.to_string()));
    }
    if g.cascade_min_quality_retained.is_some() || g.cascade_max_cost_per_1k.is_some() {
        out.cascade = Some(
            match super::cascade::analyze(
                root,
                project,
                suite,
                &super::cascade::Options::default(),
                printer,
            )
            .await
            {
                Ok((Some(report), _)) => Ok(report),
                Ok((None, _)) => Err("a tier of the cascade did not finish its run".into()),
                Err(e) => Err(e.to_string()),
            },
        );
    }
    Ok(out)
}

pub async fn run(root: &Path, args: GateArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let names: Vec<String> = if args.suites.is_empty() {
        project.suites.keys().cloned().collect()
    } else {
        if args.run.is_some() && args.suites.len() != 1 {
            return Err(Error::usage(
                "`--run` gates one run: name its suite, as in `evalgate gate SUITE --run RUN`",
                None,
            ));
        }
        for s in &args.suites {
            // An unknown suite fails here, before anything runs (with a did-you-mean).
            plan::build(&project, s, &RunSettings::default())?;
        }
        args.suites.clone()
    };
    let out_dir = if args.out_dir.is_absolute() {
        args.out_dir.clone()
    } else {
        root.join(&args.out_dir)
    };
    let mut verdicts: Vec<SuiteVerdict> = Vec::new();
    let mut runs: Vec<Option<RunFile>> = Vec::new();
    let mut lifts: Vec<String> = Vec::new();
    for name in &names {
        let suite = &project.suites[name];
        let path = crate::runfile::baseline_path(root, name);
        let baseline = if path.is_file() {
            Some(crate::runfile::read(&path)?)
        } else {
            None
        };
        let model = baseline
            .as_ref()
            .map(|b| b.run.model.clone())
            .filter(|m| suite.models.contains(m))
            .unwrap_or_else(|| suite.models[0].clone());
        let settings = RunSettings {
            models: vec![model.clone()],
            ..RunSettings::default()
        };
        let plan = plan::build(&project, name, &settings)?.remove(0);
        let (reason, candidate, status) = if let Some(run) = &args.run {
            // A run made elsewhere (merged shards): gate it as it is.
            let store = super::open_store(root).await?;
            let candidate = super::load_run(&store, run).await?;
            store.close().await;
            if candidate.run.suite != *name {
                return Err(Error::usage(
                    format!(
                        "run {} is of suite `{}`, not `{name}`",
                        candidate.run.id, candidate.run.suite
                    ),
                    None,
                ));
            }
            let status = if candidate.run.status == RunStatus::Finished {
                ExitStatus::Ok
            } else {
                ExitStatus::Infrastructure
            };
            (
                format!("run {} as given", candidate.run.id),
                candidate,
                status,
            )
        } else {
            let reason = match &baseline {
                None => format!(
                    "no baseline at {}: absolute gates only",
                    path.strip_prefix(root).unwrap_or(&path).display()
                ),
                Some(b) => {
                    let changed = changes(&project, &plan, b);
                    if changed.is_empty() && !args.all {
                        verdicts.push(SuiteVerdict {
                            suite: name.clone(),
                            status: SuiteStatus::Unchanged,
                            candidate: None,
                            comparison: None,
                            gates: Vec::new(),
                            reason: "prompt, dataset, model, judges, scorers and gates match the baseline: not run"
                                .into(),
                            html: None,
                        });
                        runs.push(None);
                        continue;
                    }
                    if changed.is_empty() {
                        "unchanged since the baseline, run because of --all".into()
                    } else {
                        changed.join(", ")
                    }
                }
            };
            printer.info(&format!("gate {name}: {reason}"));
            let (status, ids) = super::run::run_suite(
                root,
                RunArgs {
                    suite: name.clone(),
                    models: vec![model.clone()],
                    repeat: args.repeat,
                    ..RunArgs::default()
                },
                printer,
            )
            .await?;
            let store = super::open_store(root).await?;
            let candidate = super::stored_run(&store, &ids[0]).await?;
            store.close().await;
            (reason, candidate, status)
        };
        let comparison = baseline
            .as_ref()
            .map(|b| crate::compare::compare_with(b, &candidate, suite.gates.bootstrap_resamples));
        let analyses = feature_analyses(
            root,
            &project,
            suite,
            baseline.as_ref(),
            &candidate,
            printer,
        )
        .await?;
        if let Some(l) = &analyses.lift {
            lifts.push(crate::render::terminal::render_lift(l));
        }
        let gates = crate::gate::evaluate(suite, &candidate, comparison.as_ref(), &analyses);
        let status = if status != ExitStatus::Ok {
            SuiteStatus::Error
        } else if gates.iter().any(|g| g.status == GateStatus::Fail) {
            SuiteStatus::Fail
        } else {
            SuiteStatus::Pass
        };
        let file = out_dir.join(format!("{name}.json"));
        crate::runfile::write(&file, &candidate)?;
        printer.info(&format!("wrote run file {}", file.display()));
        let html_name = format!("{name}.html");
        let html = match (&baseline, &comparison) {
            (Some(b), Some(c)) => crate::render::html::render_comparison(b, &candidate, c, &gates),
            _ => crate::render::html::render_run(&candidate, &gates),
        }?;
        super::write_html(&out_dir.join(&html_name), &html, printer)?;
        verdicts.push(SuiteVerdict {
            suite: name.clone(),
            status,
            candidate: Some(candidate.report.clone()),
            comparison,
            gates,
            reason,
            html: Some(html_name),
        });
        runs.push(Some(candidate));
    }

    let color = super::stdout_color();
    let mut text = String::new();
    for v in &verdicts {
        if let Some(c) = &v.comparison {
            text.push_str(&crate::render::terminal::render_comparison(c, color));
            text.push('\n');
        }
    }
    for l in &lifts {
        text.push_str(l);
        text.push('\n');
    }
    for v in &verdicts {
        text.push_str(&crate::render::terminal::render_verdict(v));
    }
    printer.data(&text);

    let markdown = crate::render::markdown::render(&verdicts);
    if let Some(summary) = crate::env::setting(crate::env::GITHUB_STEP_SUMMARY) {
        use std::io::Write;
        let path = PathBuf::from(summary);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(markdown.as_bytes()))
            .map_err(|source| Error::Write { path, source })?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        printer.info(&format!("wrote markdown summary {}", path.display()));
    }
    if let Some(path) = &args.junit {
        let pairs: Vec<(&SuiteVerdict, Option<&RunFile>)> = verdicts
            .iter()
            .zip(runs.iter().map(Option::as_ref))
            .collect();
        let xml = crate::render::junit::render(&pairs).map_err(Error::Render)?;
        std::fs::write(path, xml).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        printer.info(&format!("wrote JUnit XML {}", path.display()));
    }

    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.status == SuiteStatus::Fail)
        .map(|v| v.suite.as_str())
        .collect();
    if verdicts.iter().any(|v| v.status == SuiteStatus::Error) {
        printer.warn("a suite's run could not be trusted (errors or an interruption): see above");
        return Ok(ExitStatus::Infrastructure);
    }
    if !failed.is_empty() {
        printer.warn(&format!("regression in {}", failed.join(", ")));
        return Ok(ExitStatus::GateFailed);
    }
    Ok(ExitStatus::Ok)
}
