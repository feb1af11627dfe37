//! `evalgate gate` as a library call: for each suite, decide whether it must run (what
//! changed since its baseline), get its candidate run (run it, or take a given run), compare
//! it with the baseline, compute the analyses its gates need, and judge every gate.

use std::path::Path;

use crate::config::Project;
use crate::error::{Error, ExitStatus};
use crate::features::lift::LiftReport;
use crate::gate::SuiteVerdict;
use crate::id::RunId;
use crate::output::Printer;
use crate::plan::{self, Plan, RunSettings};
use crate::runfile::RunFile;
use crate::status::{GateStatus, RunStatus, SuiteStatus};
use crate::store::Store;

use super::run::RunRequest;

/// What `evalgate gate` is asked for.
#[derive(Debug, Clone, Default)]
pub struct GateRequest {
    /// The suites to gate (empty: every suite).
    pub suites: Vec<String>,
    /// Run a suite even when nothing changed since its baseline.
    pub all: bool,
    /// Gate this run (a run file or a stored run) instead of running the suite.
    pub run: Option<String>,
    /// Times each case is asked.
    pub repeat: u32,
}

/// One suite, gated.
pub struct Gated {
    pub verdict: SuiteVerdict,
    pub baseline: Option<RunFile>,
    /// The run gated (none when the suite did not run: unchanged).
    pub candidate: Option<RunFile>,
    /// The candidate's lift analysis, when its gates needed one.
    pub lift: Option<LiftReport>,
}

/// Gates each suite of the request in turn. `on_run` is called with each run the gate makes
/// (the CLI prints its report); `on_suite` with each suite gated, before the next one runs
/// (the CLI writes its run file and HTML report, and may set the verdict's `html`).
pub async fn gate(
    root: &Path,
    project: &Project,
    req: &GateRequest,
    printer: &Printer,
    mut on_run: impl AsyncFnMut(&Store, &RunId) -> Result<(), Error>,
    mut on_suite: impl AsyncFnMut(&mut Gated) -> Result<(), Error>,
) -> Result<Vec<Gated>, Error> {
    let mut out = Vec::new();
    for name in suite_names(project, req)? {
        let suite = &project.suites[&name];
        let path = crate::runfile::baseline_path(root, &name);
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
        let plan = plan::build(project, &name, &settings)?.remove(0);
        let reason = match (&req.run, &baseline) {
            (Some(_), _) => None,
            (None, None) => Some(format!(
                "no baseline at {}: absolute gates only",
                path.strip_prefix(root).unwrap_or(&path).display()
            )),
            (None, Some(b)) => {
                let changed = changes(project, &plan, b);
                if changed.is_empty() && !req.all {
                    let mut gated = unchanged(name, baseline);
                    on_suite(&mut gated).await?;
                    out.push(gated);
                    continue;
                }
                Some(if changed.is_empty() {
                    "unchanged since the baseline, run because of --all".into()
                } else {
                    changed.join(", ")
                })
            }
        };
        let (reason, candidate, status) = match reason {
            None => given_run(root, &name, req.run.as_deref().unwrap_or_default()).await?,
            Some(reason) => {
                printer.info(&format!("gate {name}: {reason}"));
                let run = RunRequest {
                    suite: name.clone(),
                    plan: settings,
                    repeat: req.repeat,
                    ..RunRequest::default()
                };
                let (status, ids) = super::run::run_stored(
                    root,
                    project,
                    &run,
                    printer,
                    async |store, _, outcome| on_run(store, &outcome.run_id).await,
                )
                .await?;
                let store = super::open_store(root).await?;
                let candidate = super::stored_run(&store, &ids[0]).await;
                store.close().await;
                (reason, candidate?, status)
            }
        };
        let comparison = baseline
            .as_ref()
            .map(|b| crate::compare::compare_with(b, &candidate, suite.gates.bootstrap_resamples));
        let analyses =
            feature_analyses(root, project, suite, baseline.as_ref(), &candidate, printer).await?;
        let gates = crate::gate::evaluate(suite, &candidate, comparison.as_ref(), &analyses);
        let status = if status != ExitStatus::Ok {
            SuiteStatus::Error
        } else if gates.iter().any(|g| g.status == GateStatus::Fail) {
            SuiteStatus::Fail
        } else {
            SuiteStatus::Pass
        };
        let mut gated = Gated {
            verdict: SuiteVerdict {
                suite: name,
                status,
                candidate: Some(candidate.report.clone()),
                comparison,
                gates,
                reason,
                html: None,
            },
            baseline,
            candidate: Some(candidate),
            lift: analyses.lift,
        };
        on_suite(&mut gated).await?;
        out.push(gated);
    }
    Ok(out)
}

/// The suites to gate; an unknown one fails here, before anything runs (with a did-you-mean).
fn suite_names(project: &Project, req: &GateRequest) -> Result<Vec<String>, Error> {
    if req.suites.is_empty() {
        return Ok(project.suites.keys().cloned().collect());
    }
    if req.run.is_some() && req.suites.len() != 1 {
        return Err(Error::usage(
            "`--run` gates one run: name its suite, as in `evalgate gate SUITE --run RUN`",
            None,
        ));
    }
    for s in &req.suites {
        plan::build(project, s, &RunSettings::default())?;
    }
    Ok(req.suites.clone())
}

/// A suite whose inputs all match its baseline's: not run.
fn unchanged(name: String, baseline: Option<RunFile>) -> Gated {
    Gated {
        verdict: SuiteVerdict {
            suite: name,
            status: SuiteStatus::Unchanged,
            candidate: None,
            comparison: None,
            gates: Vec::new(),
            reason: "prompt, dataset, model, judges, scorers and gates match the baseline: not run"
                .into(),
            html: None,
        },
        baseline,
        candidate: None,
        lift: None,
    }
}

/// A run made elsewhere (merged shards), gated as it is: an unfinished one cannot pass.
async fn given_run(
    root: &Path,
    name: &str,
    run: &str,
) -> Result<(String, RunFile, ExitStatus), Error> {
    let store = super::open_store(root).await?;
    let candidate = super::load_run(&store, run).await;
    store.close().await;
    let candidate = candidate?;
    if candidate.run.suite != name {
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
    Ok((
        format!("run {} as given", candidate.run.id),
        candidate,
        status,
    ))
}

/// What changed since the baseline: the prompt, the dataset, the model, a judge, the
/// scorers. Empty when nothing the suite's results depend on changed.
pub fn changes(project: &Project, plan: &Plan<'_>, baseline: &RunFile) -> Vec<String> {
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
        let reviewed = super::reviewed_labels(root, &store, printer).await;
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
        if let Some(l) = super::suite_lift(project, candidate, printer) {
            out.lift = Some(l?);
        }
        if let Some(b) = baseline {
            out.baseline_lift =
                super::suite_lift(project, b, printer).map(|r| r.map_err(|e| e.to_string()));
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
