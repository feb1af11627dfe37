//! `evalgate run` as a library call: plan the runs a request asks for (selection, resume),
//! set up every provider and judge before anything runs, run each plan, and judge how it
//! ended (interrupted, over its budget, too many errors, unreadable judges).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Project;
use crate::error::{Error, ExitStatus};
use crate::id::RunId;
use crate::output::Printer;
use crate::plan::{self, Plan, RunSettings, Selection};
use crate::provider::{CacheMode, Client, ClientOptions, Clients};
use crate::runner::{JudgeRunner, Progress, RunOptions, RunOutcome, SimilarityRunner, StopReason};
use crate::status::{CaseStatus, RunStatus};
use crate::store::{RunRow, Store};

/// Everything a run needs to know, resolved once from flags, environment and project file
/// (see `cli::settings`).
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// The suite to run.
    pub suite: String,
    /// Models, concurrency, limit, selection, params and dataset, as `plan::build` takes them.
    pub plan: RunSettings,
    /// The spend limit (USD), overriding the suite's `max_cost`; checked positive.
    pub max_cost: Option<f64>,
    pub cache: CacheMode,
    /// Where to record cassettes (an absolute path), when recording.
    pub record_dir: Option<PathBuf>,
    /// `Some("")`: resume the newest unfinished run of the same key; `Some(id)`: that run.
    pub resume: Option<String>,
    pub no_judges: bool,
    /// Times each case is asked (a resumed run keeps its own).
    pub repeat: u32,
    /// Send the cases through the provider's Batch API.
    pub batch: bool,
}

/// The plans a request comes to, each restricted to its selection.
pub struct Planned<'p> {
    pub plans: Vec<Plan<'p>>,
    /// `--only-failing RUN` where RUN has no failing case: nothing to run.
    pub nothing_failing: Option<String>,
}

/// How the runs of a request ended.
#[derive(Debug)]
pub struct RunsDone {
    pub status: ExitStatus,
    /// The stored runs, in the order of the plans.
    pub run_ids: Vec<RunId>,
    /// Ctrl-C stopped a run; the plans after it did not run.
    pub interrupted: bool,
}

/// The plans of a request, with `--only-failing` resolved against the store.
pub async fn plan<'p>(
    project: &'p Project,
    store: &Store,
    req: &RunRequest,
) -> Result<Planned<'p>, Error> {
    let mut plans = plan::build(project, &req.suite, &req.plan)?;
    let selection = resolve_selection(store, req.plan.selection.clone()).await?;
    if selection.only.as_ref().is_some_and(|o| o.is_empty()) {
        return Ok(Planned {
            plans: Vec::new(),
            nothing_failing: selection.only_failing,
        });
    }
    for p in &mut plans {
        *p = select(p, selection.clone())?;
    }
    Ok(Planned {
        plans,
        nothing_failing: None,
    })
}

/// Runs a request on the store the environment names: opens it, plans, runs (calling
/// `on_run` after each stored run), closes it. Returns the exit status and the stored runs.
pub async fn run_stored(
    root: &std::path::Path,
    project: &Project,
    req: &RunRequest,
    printer: &Printer,
    mut on_run: impl AsyncFnMut(&Store, &Plan<'_>, &RunOutcome) -> Result<(), Error>,
) -> Result<(ExitStatus, Vec<RunId>), Error> {
    let store = super::open_store(root).await?;
    let result = async {
        let planned = plan(project, &store, req).await?;
        let done = run(
            project,
            &store,
            &planned.plans,
            req,
            printer,
            async |p, o| on_run(&store, p, o).await,
        )
        .await?;
        Ok((done.status, done.run_ids))
    }
    .await;
    store.close().await;
    result
}

/// `run_stored` with no report (a cascade's tiers).
pub async fn run_quietly(
    root: &std::path::Path,
    project: &Project,
    req: &RunRequest,
    printer: &Printer,
) -> Result<(ExitStatus, Vec<RunId>), Error> {
    run_stored(root, project, req, printer, async |_, _, _| Ok(())).await
}

/// A plan ready to run: its client, the run it resumes, its judges.
struct Prepared {
    client: Arc<Client>,
    resume: Option<RunRow>,
    judges: Vec<JudgeRunner>,
    similar: Vec<SimilarityRunner>,
}

/// Runs each plan, calling `on_run` after each one that was stored (the CLI prints its
/// report there). Every provider is set up before anything runs, so a missing key fails
/// fast. Fails with `Error::AllFailed` when every case of a run failed with a provider error.
pub async fn run(
    project: &Project,
    store: &Store,
    plans: &[Plan<'_>],
    req: &RunRequest,
    printer: &Printer,
    mut on_run: impl AsyncFnMut(&Plan<'_>, &RunOutcome) -> Result<(), Error>,
) -> Result<RunsDone, Error> {
    let clients = Clients::new(ClientOptions {
        cache: Some((store.clone(), req.cache)),
        record_dir: req.record_dir.clone(),
        concurrency: plans.iter().map(|p| p.concurrency).max().unwrap_or(1),
    });
    let mut prepared = Vec::new();
    for p in plans {
        prepared.push(prepare(project, store, p, req, &clients).await?);
    }
    let mut done = RunsDone {
        status: ExitStatus::Ok,
        run_ids: Vec::new(),
        interrupted: false,
    };
    for (plan, prepared) in plans.iter().zip(prepared) {
        let repeats = match &prepared.resume {
            Some(r) => r.repeats.max(1) as u32,
            None => req.repeat,
        };
        let max_cost = req.max_cost.or(plan.suite.max_cost);
        // A run that went through the Batch API resumes by polling its batch, never live.
        let batch = req.batch
            || prepared
                .resume
                .as_ref()
                .is_some_and(|r| r.batch_id.is_some());
        announce(store, plan, &prepared, repeats, max_cost, batch, printer).await?;
        let plan = match &prepared.resume {
            Some(r) => resumed_plan(plan, r, store).await?,
            None => plan.clone(),
        };
        let outcome = execute(store, &plan, prepared, repeats, max_cost, batch, printer).await?;
        done.run_ids.push(outcome.run_id.clone());
        on_run(&plan, &outcome).await?;
        let status = judge_outcome(store, &plan, &outcome, max_cost, printer).await?;
        if outcome.stopped == Some(StopReason::Interrupted) {
            done.status = ExitStatus::Infrastructure;
            done.interrupted = true;
            return Ok(done);
        }
        if status != ExitStatus::Ok {
            done.status = status;
        }
    }
    Ok(done)
}

/// Sets up a plan's client, the run it resumes and its judges.
async fn prepare(
    project: &Project,
    store: &Store,
    p: &Plan<'_>,
    req: &RunRequest,
    clients: &Clients,
) -> Result<Prepared, Error> {
    let client = clients
        .get(project, &p.provider.name)
        .map_err(Error::ProviderSetup)?;
    if req.record_dir.is_some() && client.is_replay() {
        return Err(Error::usage(
            format!(
                "`--record` needs a live provider, and model `{}` uses the replay provider `{}`",
                p.model.name, p.provider.name
            ),
            Some(
                "pick a model served by an `openai` or `anthropic` provider with `--model`".into(),
            ),
        ));
    }
    let resume = resume_target(store, p, req.resume.as_deref()).await?;
    let judges = if req.no_judges {
        Vec::new()
    } else {
        judge_runners(project, p.suite, clients, None)?
    };
    let similar = similarity_runners(project, p.suite, clients)?;
    Ok(Prepared {
        client,
        resume,
        judges,
        similar,
    })
}

/// Says what is about to run, with the hints and warnings that apply before it does.
async fn announce(
    store: &Store,
    plan: &Plan<'_>,
    prepared: &Prepared,
    repeats: u32,
    max_cost: Option<f64>,
    batch: bool,
    printer: &Printer,
) -> Result<(), Error> {
    // An unfinished run that asked the same questions of the same cases: resuming it
    // would pay for nothing twice. (A run still going in another process is not one.)
    if prepared.resume.is_none()
        && let Some(old) = resumable(store, plan, |run| same_cases(run, plan, repeats)).await?
    {
        let done = store.finished_count(&old.id).await?.0;
        printer.info(&format!(
            "hint: run {} of this suite, model, prompt and dataset version stopped after {done} of {} cases; `evalgate run {} --model {} --resume {}` finishes it without paying again",
            old.id, old.planned_cases, plan.suite.name, plan.model.name, old.id
        ));
    }
    if prepared.resume.is_none() && repeats > 1 && plan.params.temperature == 0.0 {
        printer.warn(&format!(
            "`--repeat {repeats}` at temperature 0: a model answers the same every time (a replayed repeat is the first answer again), so the repeats cost {repeats}× and measure nothing; set `temperature` above 0 in the prompt's `params` to measure how answers vary"
        ));
    }
    if batch && max_cost.is_some() {
        printer.warn("a batch sends every case at once, so the spend limit cannot stop it part way; `--dry-run` shows the estimate");
    }
    match &prepared.resume {
        Some(r) => printer.info(&format!(
            "resuming run {} of suite {} on model {}",
            r.id, plan.suite.name, plan.model.name
        )),
        None => printer.info(&format!(
            "running suite {} on model {} ({} cases{}{}, concurrency {}{})",
            plan.suite.name,
            plan.model.name,
            plan.planned,
            describe(&plan.selection),
            if repeats > 1 {
                format!(" × {repeats} repeats")
            } else {
                String::new()
            },
            plan.concurrency,
            max_cost
                .map(|c| format!(", budget ${c}"))
                .unwrap_or_default()
        )),
    }
    Ok(())
}

/// Runs one plan, live or through the Batch API, with a progress bar.
async fn execute(
    store: &Store,
    plan: &Plan<'_>,
    prepared: Prepared,
    repeats: u32,
    max_cost: Option<f64>,
    batch: bool,
    printer: &Printer,
) -> Result<RunOutcome, Error> {
    let Prepared {
        client,
        resume,
        judges,
        similar,
    } = prepared;
    let paid = paid_label(&similar);
    let options = RunOptions {
        judges,
        similar,
        repeats,
        max_cost,
        resume,
        // SQLite writes whole pages at each commit, so finished cases go to a log at once
        // (beside the database, wherever it is) and to the database in larger
        // transactions. PostgreSQL takes each group of finished cases as it comes, and
        // nothing is written under the project then.
        log_dir: crate::runner::log_dir(store),
    };
    let total = (plan.planned * repeats as usize) as u64;
    let mut bar = printer.progress(total, 0);
    let outcome = if batch {
        crate::runner::execute_batch(
            plan,
            &client,
            store,
            &options,
            |p: &Progress| bar.update(p.done as u64, total, &status_line(p, paid)),
            |b| {
                printer.info(&format!(
                    "batch {}: {} ({} of {} done, {} failed)",
                    b.id, b.status, b.completed, b.total, b.failed
                ))
            },
        )
        .await?
    } else {
        crate::runner::execute(plan, &client, store, &options, |p: &Progress| {
            bar.update(p.done as u64, total, &status_line(p, paid));
        })
        .await?
    };
    bar.finish();
    Ok(outcome)
}

/// Says how a run ended and whether it can be trusted: `Infrastructure` for a run stopped
/// early (an incomplete run must not pass for a complete one in CI), unreadable judges or
/// too many provider errors; `Error::AllFailed` when no case got an answer.
async fn judge_outcome(
    store: &Store,
    plan: &Plan<'_>,
    outcome: &RunOutcome,
    max_cost: Option<f64>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let p = &outcome.progress;
    printer.info(&format!(
        "stored run {} in {} ({:.1}s; {} requested, {} from the cache{})",
        outcome.run_id,
        store.display_url,
        outcome.elapsed_secs,
        p.done - p.resumed - p.cache_hits,
        p.cache_hits,
        if p.resumed > 0 {
            format!(", {} finished before", p.resumed)
        } else {
            String::new()
        }
    ));
    let mut status = ExitStatus::Ok;
    match outcome.stopped {
        Some(StopReason::Interrupted) => {
            printer.warn(&format!(
                "interrupted after {} of {} cases; `evalgate run {} --model {} --resume {}` finishes it",
                p.done, p.planned, plan.suite.name, plan.model.name, outcome.run_id
            ));
            return Ok(ExitStatus::Infrastructure);
        }
        Some(StopReason::Budget) => {
            let next = outcome
                .held_back
                .map(|(cost, left)| {
                    format!(
                        "; the next case could cost up to ${cost:.6} and ${:.6} is left",
                        left.max(0.0)
                    )
                })
                .unwrap_or_default();
            printer.warn(&format!(
                "stopped at the spend limit of ${} after {} of {} cases (${:.6} paid{next}); raise `--max-cost` and add `--resume {}` to finish",
                max_cost.unwrap_or(0.0),
                p.done,
                p.planned,
                p.cost_usd,
                outcome.run_id
            ));
            status = ExitStatus::Infrastructure;
        }
        None => {}
    }
    let ran = p.done;
    if ran > 0 && p.errors == ran {
        return Err(Error::AllFailed {
            cases: ran,
            first: outcome.first_error.clone().unwrap_or_default(),
            kind: outcome.first_error_kind,
        });
    }
    // The suite's error-rate limits are shares of the whole run. A shard is a part of one:
    // a few errors among its few cases say little, so it warns and the merged run is held
    // to the limits (`gate --run` checks them as gates). A shard whose every case failed
    // still stops above.
    let mut over_limit = |line: String| {
        match plan.selection.shard {
        None => {
            printer.warn(&line);
            status = ExitStatus::Infrastructure;
        }
        Some(shard) => printer.warn(&format!(
            "{line}\n  (shard {shard} only: the limit applies to the merged run, which `evalgate gate SUITE --run MERGED.json` checks)"
        )),
    }
    };
    // A judge that cannot be read grades nothing: its run cannot be trusted.
    for line in unreadable_judges(store, &outcome.run_id, plan.suite.max_judge_error_rate).await? {
        over_limit(line);
    }
    if let Some(limit) = plan.suite.max_error_rate {
        let rate = if ran > 0 {
            p.errors as f64 / ran as f64
        } else {
            0.0
        };
        if rate > limit {
            over_limit(format!(
                "{} of {} cases failed with a provider error ({:.1}%), above the suite's `max_error_rate` of {:.1}% (first: {})",
                p.errors,
                ran,
                rate * 100.0,
                limit * 100.0,
                outcome.first_error.clone().unwrap_or_default()
            ));
        }
    }
    Ok(status)
}

/// A line for each judge of a run whose share of judge errors is above `limit`.
pub async fn unreadable_judges(
    store: &Store,
    run_id: &str,
    limit: f64,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for t in store.verdict_totals(run_id).await? {
        let asked = t.pass + t.fail + t.error;
        if asked == 0 {
            continue;
        }
        let rate = t.error as f64 / asked as f64;
        if rate > limit {
            let first = store
                .first_judge_error(run_id, &t.scorer, &t.judge)
                .await?
                .unwrap_or_default();
            out.push(format!(
                "judge {} ({}): {} of {} verdicts could not be read or asked ({:.1}%), above the suite's `max_judge_error_rate` of {:.1}%; its grades cannot be trusted (first: {first})",
                t.judge,
                t.scorer,
                t.error,
                asked,
                rate * 100.0,
                limit * 100.0,
            ));
        }
    }
    Ok(out)
}

/// Whether a stored run covers the cases this plan would run: the same selection, limit and
/// repeats.
fn same_cases(run: &RunRow, plan: &Plan<'_>, repeats: u32) -> bool {
    let stored = stored_selection(run);
    stored.shard == plan.selection.shard
        && stored.only_failing == plan.selection.only_failing
        && run.case_limit == plan.limit.map(|l| l as i64)
        && run.repeats.max(1) == i64::from(repeats)
}

fn stored_selection(run: &RunRow) -> Selection {
    run.selection_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

/// The newest unfinished run that `fits` and that no other process is running: what
/// `--resume` without a run finishes. Shards of one suite running at once into one database
/// each find their own.
async fn resumable(
    store: &Store,
    plan: &Plan<'_>,
    fits: impl Fn(&RunRow) -> bool,
) -> Result<Option<RunRow>, Error> {
    let runs = store
        .unfinished_runs(
            &plan.suite.name,
            &plan.model.name,
            &plan.prompt.version,
            &plan.dataset.version,
        )
        .await?;
    for run in runs {
        if fits(&run) && !crate::runner::is_going(store, &run.id).await? {
            return Ok(Some(run));
        }
    }
    Ok(None)
}

/// How a selection reads after the number of cases: ` of shard 2/3`, ` that failed in run X`.
fn describe(selection: &Selection) -> String {
    let mut out = String::new();
    if let Some(run) = &selection.only_failing {
        out.push_str(&format!(" that failed in run {run}"));
    }
    if let Some(shard) = selection.shard {
        out.push_str(&format!(" of shard {shard}"));
    }
    out
}

fn or_all(described: String) -> String {
    if described.is_empty() {
        " of the whole dataset".into()
    } else {
        described
    }
}

/// The progress line: its money is what this run paid, the model, its judges and its
/// embeddings together (cache hits are free), which the report's `cost` line adds up as "in
/// all". `paid` says what that money covers (`paid_label`).
fn status_line(p: &Progress, paid: &str) -> String {
    format!(
        "{} pass · {} fail · {} error · {} cached · ${:.6} paid ({paid})",
        p.passed, p.failed, p.errors, p.cache_hits, p.cost_usd
    )
}

/// What a run's paid money covers: the model and its judges, and the embeddings of its
/// `similar` scorers when it has any.
fn paid_label(similar: &[SimilarityRunner]) -> &'static str {
    if similar.is_empty() {
        "model + judges"
    } else {
        "model + judges + embeddings"
    }
}

/// The stored run to resume for this plan, when `--resume` was given.
async fn resume_target(
    store: &Store,
    plan: &Plan<'_>,
    resume: Option<&str>,
) -> Result<Option<RunRow>, Error> {
    let Some(id) = resume else { return Ok(None) };
    let run = if id.is_empty() {
        // A resume takes its limit and repeats from the run it finishes, so only the shard
        // must match.
        let shard = plan.selection.shard;
        let same_shard = |run: &RunRow| shard.is_none() || stored_selection(run).shard == shard;
        resumable(store, plan, same_shard).await?.ok_or_else(|| {
            Error::usage(
                format!("no unfinished run{} of suite `{}` on model `{}` with this prompt and dataset version (a run another process is still running does not count)", shard.map(|s| format!(" of shard {s}")).unwrap_or_default(), plan.suite.name, plan.model.name),
                Some("`evalgate runs` lists the stored runs".into()),
            )
        })?
    } else {
        store.find_run(id).await?
    };
    if run.status == RunStatus::Finished {
        return Err(Error::usage(
            format!("run {} is already finished", run.id),
            None,
        ));
    }
    let same = run.suite == plan.suite.name && run.model == plan.model.name;
    if !same {
        return Err(Error::usage(
            format!(
                "run {} is of suite `{}` on model `{}`, not of suite `{}` on model `{}`",
                run.id, run.suite, run.model, plan.suite.name, plan.model.name
            ),
            None,
        ));
    }
    if run.prompt_version != plan.prompt.version || run.dataset_version != plan.dataset.version {
        return Err(Error::usage(
            format!(
                "run {} used prompt {}@{} and dataset {}@{}, which have changed since (now @{} and @{})",
                run.id,
                run.prompt,
                crate::hash::short(&run.prompt_version),
                run.dataset,
                crate::hash::short(&run.dataset_version),
                plan.prompt.short_version(),
                crate::hash::short(&plan.dataset.version)
            ),
            Some("a resumed run must ask the same questions; start a new run instead".into()),
        ));
    }
    Ok(Some(run))
}

/// A resumed run covers the cases its first part planned (its `--limit` and selection).
async fn resumed_plan<'p>(
    plan: &Plan<'p>,
    resume: &RunRow,
    store: &Store,
) -> Result<Plan<'p>, Error> {
    let mut plan = plan.clone();
    plan.limit = resume.case_limit.map(|l| l as usize);
    let selection = stored_selection(resume);
    let asked = &plan.selection;
    if !asked.is_all()
        && (asked.shard != selection.shard || asked.only_failing != selection.only_failing)
    {
        return Err(Error::usage(
            format!(
                "run {} covers the cases{}, not the cases{} asked for",
                resume.id,
                or_all(describe(&selection)),
                or_all(describe(asked))
            ),
            Some(
                "resume it without `--shard` / `--only-failing`, or name the run to resume".into(),
            ),
        ));
    }
    select(&plan, resolve_selection(store, selection).await?)
}

/// Resolves `--only-failing RUN` to the ids of the cases that failed or errored in RUN.
async fn resolve_selection(store: &Store, mut selection: Selection) -> Result<Selection, Error> {
    if let Some(id) = &selection.only_failing {
        let run = store.find_run(id).await?;
        let failing: HashSet<String> = store
            .cases(&run.id)
            .await?
            .into_iter()
            .filter(|c| c.status != CaseStatus::Pass)
            .map(|c| c.case_id)
            .collect();
        selection.only_failing = Some(run.id.into_string());
        selection.only = Some(Arc::new(failing));
    }
    Ok(selection)
}

/// The plan restricted to a selection, with the number of cases it covers (counted on the
/// dataset when the selection is not the whole of it).
fn select<'p>(plan: &Plan<'p>, selection: Selection) -> Result<Plan<'p>, Error> {
    let mut plan = plan.clone();
    let limit = plan.limit.unwrap_or(usize::MAX);
    plan.planned = if selection.is_all() {
        plan.dataset.len.min(limit)
    } else {
        plan.dataset
            .cases()
            .map_err(|source| Error::Read {
                path: plan.dataset.path.clone(),
                source,
            })?
            .filter(|c| c.as_ref().map_or(true, |c| selection.contains(&c.id)))
            .take(limit)
            .count()
    };
    plan.selection = selection;
    Ok(plan)
}

/// The judges of a suite, ready to call (only `only`'s scorers when given).
pub fn judge_runners(
    project: &crate::config::Project,
    suite: &crate::config::Suite,
    clients: &Clients,
    only: Option<&str>,
) -> Result<Vec<JudgeRunner>, Error> {
    let mut judges = Vec::new();
    for scorer in &suite.scorers {
        if let crate::score::ScorerKind::Judge {
            judges: names,
            repeat,
            expected,
        } = &scorer.kind
        {
            for name in names {
                if only.is_some_and(|o| o != name) {
                    continue;
                }
                let judge = project.judges[name].clone();
                let model = &project.models[&judge.model];
                let client = clients
                    .get(project, &model.provider)
                    .map_err(Error::ProviderSetup)?;
                judges.push(JudgeRunner {
                    scorer: scorer.name.clone(),
                    judge,
                    client,
                    model_api: model.api_name.clone(),
                    price: model.price,
                    votes: *repeat,
                    expected: expected.clone(),
                });
            }
        }
    }
    Ok(judges)
}

/// The `similar` scorers of a suite, with the clients and prices of their embedding models.
pub fn similarity_runners(
    project: &crate::config::Project,
    suite: &crate::config::Suite,
    clients: &Clients,
) -> Result<Vec<SimilarityRunner>, Error> {
    let mut out = Vec::new();
    for scorer in &suite.scorers {
        if let crate::score::ScorerKind::Similar {
            expected,
            model,
            threshold,
        } = &scorer.kind
        {
            let model = &project.models[model];
            let client = clients
                .get(project, &model.provider)
                .map_err(Error::ProviderSetup)?;
            out.push(SimilarityRunner {
                scorer: scorer.name.clone(),
                expected: expected.clone(),
                threshold: *threshold,
                negate: scorer.negate,
                client,
                model_api: model.api_name.clone(),
                price: model.price,
            });
        }
    }
    Ok(out)
}
