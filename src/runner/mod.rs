//! The runner: executes a plan with bounded concurrency and keeps each finished case at once
//! (in the run's log on SQLite, see `runlog`; in the store otherwise), so that a killed run
//! resumes without calling the model again for finished cases. It never prints: it reports
//! progress through a callback, and the report is built afterwards from what was stored.

mod budget;

use crate::id::RunId;
use crate::status::{CaseKind, CaseStatus, RunStatus};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

use crate::golden::Case;
use crate::plan::Plan;
use crate::provider::batch::BatchStatus;
use crate::provider::{CallKey, Client, ErrorKind, Failure, Reply};
use crate::runlog::RunLog;
use crate::score::{self, Outcome, Output};
use crate::store::{
    CaseRow, GoldenRow, Record, RunRow, ScoreRow, ScorerCallRow, Store, VerdictRow,
};
use budget::{Budget, Paid, Reservation};

/// Options of one execution.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Each case is asked this many times (at least 1).
    pub repeats: u32,
    /// The spend limit (USD): a case is started only when what is left of it covers the
    /// most the case can cost (see `budget`).
    pub max_cost: Option<f64>,
    /// Continue this stored run instead of starting a new one.
    pub resume: Option<RunRow>,
    /// The suite's judges, ready to call.
    pub judges: Vec<JudgeRunner>,
    /// The suite's `similar` scorers, with the clients of their embedding models.
    pub similar: Vec<SimilarityRunner>,
    /// Where runs keep the log of finished cases not in the store yet (`runlog`), normally
    /// `.evalgate/pending`. Without it each group of finished cases is its own transaction.
    pub log_dir: Option<std::path::PathBuf>,
}

/// A judge scorer of a suite with its client and price, resolved before the run.
#[derive(Clone)]
pub struct JudgeRunner {
    /// The scorer's name in the suite.
    pub scorer: String,
    pub judge: Arc<crate::judge::Judge>,
    pub client: Arc<Client>,
    /// The judge model's id sent to the API.
    pub model_api: String,
    pub price: crate::config::Price,
    /// How many times this judge is asked about each output.
    pub votes: u32,
    /// Only cases whose `expected` has this key are judged (the scorer's `expected`).
    pub expected: Option<String>,
}

impl JudgeRunner {
    /// Whether the judge grades this case: every case, or those with its expected key.
    pub fn applies_to(&self, case: &Case) -> bool {
        self.expected
            .as_ref()
            .is_none_or(|k| case.expected.get(k).is_some_and(|v| !v.is_null()))
    }
}

impl std::fmt::Debug for JudgeRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeRunner")
            .field("scorer", &self.scorer)
            .field("judge", &self.judge.name)
            .finish()
    }
}

/// A `similar` scorer of a suite with the client and price of its embedding model, resolved
/// before the run.
#[derive(Clone)]
pub struct SimilarityRunner {
    /// The scorer's name in the suite.
    pub scorer: String,
    pub expected: crate::score::Expectation,
    pub threshold: f64,
    pub negate: bool,
    pub client: Arc<Client>,
    /// The embedding model's id sent to the API.
    pub model_api: String,
    /// The embedding model's price: its input tokens are what an embeddings request costs.
    pub price: crate::config::Price,
}

impl SimilarityRunner {
    /// The text the output is compared with: the literal, or the case's expected value (a
    /// string as it is, anything else as JSON); None when the case has none.
    pub fn expected_text(&self, case: &Case) -> Option<String> {
        match &self.expected {
            crate::score::Expectation::Literal(s) => Some(s.clone()),
            crate::score::Expectation::Key(k) => {
                case.expected
                    .get(k)
                    .filter(|v| !v.is_null())
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
            }
        }
    }
}

impl std::fmt::Debug for SimilarityRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimilarityRunner")
            .field("scorer", &self.scorer)
            .field("model", &self.model_api)
            .finish()
    }
}

/// What the `similar` scorers made of one output: their scores, and the embeddings requests
/// that were answered (paid for: their tokens and cost).
#[derive(Debug, Default)]
struct Similarity {
    scores: Vec<score::Score>,
    calls: Vec<ScorerCallRow>,
}

/// Scores an output with each `similar` scorer: the output and the expected text embedded in
/// one request, then their cosine similarity against the threshold. A case without the
/// expected value skips the scorer; a failed embedding request is an error, never a pass.
/// Each answered request is a paid call, priced at the embedding model's input rate.
async fn similarity_scores(
    runners: &[SimilarityRunner],
    case: &Case,
    repeat: u32,
    output: &str,
) -> Similarity {
    let mut out = Similarity::default();
    for r in runners {
        let Some(expected) = r.expected_text(case) else {
            let key = match &r.expected {
                crate::score::Expectation::Key(k) => k.as_str(),
                crate::score::Expectation::Literal(_) => "",
            };
            out.scores.push(score::Score {
                scorer: r.scorer.clone(),
                outcome: Outcome::Skip,
                detail: Some(format!("case has no expected `{key}`")),
            });
            continue;
        };
        let inputs = [output.to_string(), expected];
        let embedded = r.client.embed_counted(&r.model_api, &inputs).await;
        if let Ok((e, attempts)) = &embedded {
            out.calls.push(ScorerCallRow {
                case_id: case.id.clone(),
                repeat_index: i64::from(repeat),
                scorer: r.scorer.clone(),
                model: r.model_api.clone(),
                input_tokens: e.tokens as i64,
                cost_usd: r.price.cost(e.tokens, 0, 0),
                attempts: i64::from(*attempts),
                created_at: now(),
            });
        }
        out.scores.push(match embedded {
            Ok((e, _)) if e.vectors.len() == 2 => score::similar::verdict(
                &r.scorer,
                &e.vectors[0],
                &e.vectors[1],
                r.threshold,
                r.negate,
            ),
            Ok((e, _)) => score::Score {
                scorer: r.scorer.clone(),
                outcome: Outcome::Error,
                detail: Some(format!(
                    "`{}` returned {} vectors for 2 inputs",
                    r.model_api,
                    e.vectors.len()
                )),
            },
            Err(f) => score::Score {
                scorer: r.scorer.clone(),
                outcome: Outcome::Error,
                detail: Some(format!(
                    "embedding with `{}` failed after {} attempts: {}",
                    r.model_api, f.attempts, f.error
                )),
            },
        });
    }
    out
}

/// What one judge said about one output, with what it cost.
#[derive(Debug, Default)]
struct Judged {
    scorer: String,
    judge: String,
    vote: u32,
    judge_version: String,
    judge_model: String,
    /// The verdict, or why there is none (a judge error: never a pass).
    verdict: Option<Result<crate::judge::Verdict, String>>,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    /// Every answer came from the cache.
    cache_hit: bool,
    attempts: u32,
    cache: Vec<crate::store::CacheRow>,
}

/// Asks a judge about an output: the rubric with the output fenced as data, a JSON verdict
/// parsed strictly, one retry with the problem spelled out, then a judge error.
async fn judge_output(j: &JudgeRunner, case: &Case, output: &str, vote: u32) -> Judged {
    let mut judged = Judged {
        scorer: j.scorer.clone(),
        judge: j.judge.name.clone(),
        vote,
        judge_version: j.judge.version.clone(),
        judge_model: j.model_api.clone(),
        cache_hit: true,
        ..Judged::default()
    };
    let messages = match j.judge.render(&case.vars, &case.expected, output) {
        Ok(m) => m,
        Err(e) => {
            judged.verdict = Some(Err(format!("the rubric failed: {e}")));
            judged.cache_hit = false;
            return judged;
        }
    };
    let mut request = crate::provider::ChatRequest {
        model: j.model_api.clone(),
        messages,
        params: j.judge.params.clone(),
        schema: j.judge.contract().json_schema(),
    };
    for round in 0..2 {
        let hash = request.hash();
        match j
            .client
            .chat(
                &request,
                CallKey {
                    case_id: &case.id,
                    request_hash: &hash,
                    repeat: vote,
                },
            )
            .await
        {
            Ok(reply) => {
                let u = reply.response.usage;
                judged.input_tokens += u.input_tokens;
                judged.output_tokens += u.output_tokens;
                judged.cost_usd +=
                    j.price
                        .cost(u.input_tokens, u.cached_input_tokens, u.output_tokens);
                judged.cache_hit &= reply.cache_hit;
                judged.attempts += reply.attempts;
                judged.cache.extend(reply.cache_entry);
                match j.judge.parse(&reply.response.content) {
                    Ok(v) => {
                        judged.verdict = Some(Ok(v));
                        return judged;
                    }
                    Err(problem) if round == 0 => {
                        request.messages.push(crate::prompt::Message {
                            role: crate::prompt::Role::Assistant,
                            content: reply.response.content,
                        });
                        request.messages.push(j.judge.repair(&problem));
                    }
                    Err(problem) => {
                        judged.verdict =
                            Some(Err(format!("no readable verdict after a retry: {problem}")))
                    }
                }
            }
            Err(failure) => {
                judged.cache_hit = false;
                judged.attempts += failure.attempts;
                judged.verdict = Some(Err(format!(
                    "the judge call failed: {}: {}",
                    failure.error.kind.as_str(),
                    failure.error.message
                )));
                return judged;
            }
        }
    }
    judged
}

/// Progress of a run, for the caller to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub done: usize,
    pub planned: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    /// Paid so far (cache hits cost nothing): the model, its judges and the scorers' calls.
    pub cost_usd: f64,
    pub cache_hits: usize,
    /// Finished before this execution started (a resume).
    pub resumed: usize,
    /// The scorers' paid calls so far (a `similar` scorer's embeddings): how many, their
    /// input tokens and their cost (counted in `cost_usd` too).
    pub scorer_calls: usize,
    pub scorer_tokens: u64,
    pub scorer_cost_usd: f64,
}

/// Why a run stopped before its last case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C.
    Interrupted,
    /// The spend limit was reached.
    Budget,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Interrupted => "interrupted",
            StopReason::Budget => "budget",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: RunId,
    pub progress: Progress,
    pub stopped: Option<StopReason>,
    /// The first provider error, when there was one.
    pub first_error: Option<String>,
    pub first_error_kind: Option<ErrorKind>,
    pub elapsed_secs: f64,
    /// When the spend limit stopped the run: the most the next case could have cost, and
    /// what was left of the budget.
    pub held_back: Option<(f64, f64)>,
}

/// What one work item produced, before it is stored.
struct Finished {
    case: Arc<Case>,
    repeat: u32,
    request_hash: Option<String>,
    result: Result<Reply, CaseError>,
    judged: Vec<Judged>,
    /// The scores of the `similar` scorers, and their embedding calls.
    similar: Similarity,
    /// What the spend limit reserved for it.
    reserved: Reservation,
}

enum CaseError {
    Render(String),
    Provider(Failure),
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new run id: 12 hex digits, shown in full and accepted by unique prefix.
pub fn new_run_id() -> RunId {
    RunId::new(&uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The stored record of a new run of `plan`.
fn new_run(plan: &Plan<'_>, repeats: u32) -> RunRow {
    RunRow {
        id: new_run_id(),
        suite: plan.suite.name.clone(),
        model: plan.model.name.clone(),
        model_api_name: plan.model.api_name.clone(),
        provider: plan.provider.name.clone(),
        provider_kind: plan.provider.kind.name().to_string(),
        prompt: plan.prompt.name.clone(),
        prompt_version: plan.prompt.version.clone(),
        dataset: plan.dataset.name.clone(),
        dataset_version: plan.dataset.version.clone(),
        status: RunStatus::Running,
        planned_cases: (plan.planned * repeats as usize) as i64,
        started_at: now(),
        finished_at: None,
        price_json: serde_json::to_string(&plan.model.price).unwrap_or_default(),
        scorers_json: Value::Array(plan.scorer_names()).to_string(),
        contract_json: plan
            .prompt
            .contract
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok()),
        case_limit: plan.limit.map(|l| l as i64),
        repeats: i64::from(repeats),
        stop_reason: None,
        batch_id: None,
        // The prompt as written: its version names it. (A cascade tier's patched params are part
        // of its requests, so of their cache keys, not of the prompt.)
        prompt_source: Some(plan.prompt.source_text()),
        selection_json: (!plan.selection.is_all())
            .then(|| serde_json::to_string(&plan.selection).unwrap_or_default()),
        // The dataset lives in the project: its directory is in the project's repository.
        git_commit: plan.dataset.path.parent().and_then(crate::vcs::commit),
        fingerprint_json: serde_json::to_string(&plan.fingerprint).ok(),
    }
}

/// Runs every case of a plan through `client`, keeping each result as soon as it is scored
/// (see `Sink`). Ctrl-C cancels the requests in flight and marks the run interrupted; a spend
/// limit stops scheduling and lets the requests in flight finish.
pub async fn execute(
    plan: &Plan<'_>,
    client: &Arc<Client>,
    store: &Store,
    options: &RunOptions,
    mut on_progress: impl FnMut(&Progress),
) -> Result<RunOutcome, crate::error::Error> {
    let started = Instant::now();
    let repeats = options.repeats.max(1);
    let Begun {
        run_id,
        resumes,
        next_seq,
        progress,
        log,
        lease: _lease,
    } = begin(plan, store, options).await?;
    store_golden(plan, store).await?;
    let mut sink = Sink::new(store, &plan.dataset.version, log);
    let mut items = work_items(plan, repeats)?;
    let resumed = resumes.then(|| run_id.clone());
    let skip = resumed.as_ref().map(|id| (store, id.as_str()));

    // One task per case, at most `concurrency` at once. Tasks run on their own, so a request
    // waiting for the store never waits on this loop, which owns the writes. Upcoming cases
    // are rendered ahead in chunks and looked up in the response cache with one query per
    // chunk; what is cached never becomes a task.
    let requests = plan.requests();
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut ready: Vec<Finished> = Vec::new();
    let mut exhausted = false;
    let mut stopped = None;
    let lookahead = (plan.concurrency * 2).max(PREFETCH);
    let judges = Arc::new(options.judges.clone());
    let similar = Arc::new(options.similar.clone());
    let mut starter = Starter::new(
        plan,
        client,
        (&judges, &similar),
        options.max_cost,
        progress.cost_usd,
    );
    let mut recorder = Recorder::new(plan, run_id, next_seq, progress);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if !exhausted && pending.len() < plan.concurrency {
            exhausted = prefetch(
                &mut items,
                (&requests, skip),
                client,
                lookahead,
                &mut pending,
                &mut ready,
                !judges.is_empty() || !similar.is_empty(),
            )
            .await?;
        }
        starter.fill(&mut tasks, &mut pending);
        let mut batch = std::mem::take(&mut ready);
        if batch.is_empty() {
            if tasks.is_empty() {
                // Nothing in flight: a case the budget could not cover stays unstarted.
                if starter.held_back.is_some() {
                    stopped = Some(StopReason::Budget);
                }
                break;
            }
            match wait(&mut tasks, &mut sink, ctrl_c.as_mut(), &mut batch).await? {
                Waited::Joined => {}
                Waited::Flushed => continue,
                Waited::Interrupted => stopped = Some(StopReason::Interrupted),
            }
        }
        // Group commit: what finishes within COMMIT_WINDOW of the first goes into the run's
        // log in one write (or, without a log, into one transaction: each commit writes whole
        // pages, so one per case would write ~25 KB a case). Freed slots are refilled
        // meanwhile, so the window costs no throughput.
        // A task that failed (a bug) ends the run, once the cases finished with it are kept.
        let failed_task = match stopped {
            None => gather(&mut starter, &mut tasks, &mut pending, &mut batch).await,
            Some(_) => None,
        };
        let records = recorder.record_settled(batch, &mut starter);
        sink.push(records).await?;
        if let Some(e) = failed_task {
            return Err(task_failed(e));
        }
        on_progress(&recorder.progress);
        if stopped == Some(StopReason::Interrupted) {
            break;
        }
    }
    tasks.abort_all();
    sink.flush().await?;
    let mut outcome = end(store, recorder, stopped, started).await?;
    if stopped == Some(StopReason::Budget) {
        outcome.held_back = starter.held_back;
    }
    sink.finish();
    Ok(outcome)
}

/// What waiting for the first case of a group came to.
enum Waited {
    /// A task ended: the case it finished is in the group.
    Joined,
    /// The logged cases were due in the store, and are there.
    Flushed,
    /// Ctrl-C: the answers already received are in the group, the other requests cancelled.
    Interrupted,
}

/// Waits for the first case of a group to finish, for the logged cases to be due in the
/// store, or for Ctrl-C.
async fn wait(
    tasks: &mut JoinSet<Finished>,
    sink: &mut Sink<'_>,
    ctrl_c: std::pin::Pin<&mut impl std::future::Future<Output = std::io::Result<()>>>,
    batch: &mut Vec<Finished>,
) -> Result<Waited, crate::error::Error> {
    tokio::select! {
        joined = tasks.join_next() => match joined {
            Some(Ok(f)) => batch.push(f),
            Some(Err(e)) => return Err(task_failed(e)),
            None => {}
        },
        () = sink.due(), if sink.waiting() => {
            sink.flush().await?;
            return Ok(Waited::Flushed);
        }
        _ = ctrl_c => {
            // Answers already received are kept (they were paid for); the requests
            // still in flight are cancelled. A second Ctrl-C leaves at once.
            while let Some(Ok(f)) = tasks.try_join_next() {
                batch.push(f);
            }
            tasks.abort_all();
            tokio::spawn(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    #[expect(clippy::exit, reason = "the user pressed Ctrl-C twice: leave now")]
                    std::process::exit(130);
                }
            });
            return Ok(Waited::Interrupted);
        }
    }
    Ok(Waited::Joined)
}

/// The error that ends a run when a case task failed (a bug).
fn task_failed(e: tokio::task::JoinError) -> crate::error::Error {
    crate::error::Error::Runtime(std::io::Error::other(format!("a case task failed: {e}")))
}

/// Adds to a group what finishes within `COMMIT_WINDOW`, up to `MAX_BATCH` cases, refilling
/// freed slots meanwhile; returns the error of a task that failed.
async fn gather(
    starter: &mut Starter<'_, '_>,
    tasks: &mut JoinSet<Finished>,
    pending: &mut VecDeque<Job>,
    batch: &mut Vec<Finished>,
) -> Option<tokio::task::JoinError> {
    let deadline = tokio::time::Instant::now() + COMMIT_WINDOW;
    while batch.len() < MAX_BATCH && !tasks.is_empty() {
        starter.fill(tasks, pending);
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok(f))) => batch.push(f),
            Ok(Some(Err(e))) => return Some(e),
            Ok(None) | Err(_) => break,
        }
    }
    None
}

/// Records the finished items of a run in order: numbers them, counts them in the progress
/// and keeps the first provider error.
struct Recorder<'a, 'p> {
    plan: &'a Plan<'p>,
    run_id: RunId,
    /// The next case's sequence number.
    seq: i64,
    progress: Progress,
    first_error: Option<(String, String)>,
    first_error_kind: Option<ErrorKind>,
}

impl<'a, 'p> Recorder<'a, 'p> {
    /// A recorder that goes on from `seq` and `progress` (a resumed run's).
    fn new(plan: &'a Plan<'p>, run_id: RunId, seq: i64, progress: Progress) -> Self {
        Recorder {
            plan,
            run_id,
            seq,
            progress,
            first_error: None,
            first_error_kind: None,
        }
    }

    /// Scores a finished item into its record (see `record`), and counts it.
    fn record(&mut self, f: Finished) -> Record {
        let r = record(
            self.plan,
            &self.run_id,
            self.seq,
            f,
            &mut self.first_error,
            &mut self.first_error_kind,
        );
        self.seq += 1;
        tally(&mut self.progress, &r);
        r
    }

    /// Records a group of finished cases, replacing what the spend limit reserved for each
    /// with what it paid.
    fn record_settled(
        &mut self,
        batch: Vec<Finished>,
        starter: &mut Starter<'_, '_>,
    ) -> Vec<Record> {
        let mut records = Vec::with_capacity(batch.len());
        for finished in batch {
            let reserved = finished.reserved;
            let record = self.record(finished);
            starter.settle(&reserved, &record);
            records.push(record);
        }
        records
    }

    /// Records finished items, in their order.
    fn record_all(&mut self, batch: Vec<Finished>) -> Vec<Record> {
        let mut records = Vec::with_capacity(batch.len());
        for f in batch {
            records.push(self.record(f));
        }
        records
    }
}

/// Starts pending jobs while the concurrency allows and the spend limit covers them.
struct Starter<'a, 'p> {
    plan: &'a Plan<'p>,
    client: &'a Arc<Client>,
    judges: &'a Arc<Vec<JudgeRunner>>,
    similar: &'a Arc<Vec<SimilarityRunner>>,
    budget: Option<Budget>,
    /// The most the next job could cost and what was left, when the budget held it back.
    held_back: Option<(f64, f64)>,
}

impl<'a, 'p> Starter<'a, 'p> {
    /// A starter for a run that paid `paid` so far, under the spend limit `max_cost`.
    fn new(
        plan: &'a Plan<'p>,
        client: &'a Arc<Client>,
        (judges, similar): (&'a Arc<Vec<JudgeRunner>>, &'a Arc<Vec<SimilarityRunner>>),
        max_cost: Option<f64>,
        paid: f64,
    ) -> Self {
        Starter {
            plan,
            client,
            judges,
            similar,
            budget: max_cost.map(|limit| Budget::new(limit, paid)),
            held_back: None,
        }
    }

    fn fill(&mut self, tasks: &mut JoinSet<Finished>, pending: &mut VecDeque<Job>) {
        self.held_back = None;
        while tasks.len() < self.plan.concurrency {
            let Some(job) = pending.front() else { return };
            let reserved = match &mut self.budget {
                Some(budget) => {
                    let r = budget.estimate(
                        &self.plan.model.price,
                        &job.case,
                        job.cached.is_none().then_some(&job.request),
                        job.cached.as_ref().map(|c| c.content.as_str()),
                        (self.judges, self.similar),
                    );
                    if !budget.reserve(&r) {
                        self.held_back = Some((r.cost, budget.available()));
                        return;
                    }
                    r
                }
                None => Reservation::default(),
            };
            if let Some(job) = pending.pop_front() {
                spawn(
                    tasks,
                    self.client,
                    (self.judges, self.similar),
                    job,
                    reserved,
                );
            }
        }
    }

    /// Replaces a finished case's reservation with what it paid.
    fn settle(&mut self, reserved: &Reservation, record: &Record) {
        let Some(budget) = &mut self.budget else {
            return;
        };
        let fresh = record.case.cache_hit == 0;
        let paid_verdicts = record.verdicts.iter().filter(|v| v.cache_hit == 0);
        let paid = Paid {
            cost: if fresh { record.case.cost_usd } else { 0.0 }
                + paid_verdicts.clone().map(|v| v.cost_usd).sum::<f64>()
                + record.scorer_calls.iter().map(|c| c.cost_usd).sum::<f64>(),
            model_input: if fresh {
                record.case.input_tokens.max(0) as u64
            } else {
                0
            },
            model_output: record.case.output_tokens.max(0) as u64,
            judge_input: paid_verdicts
                .clone()
                .map(|v| v.input_tokens.max(0) as u64)
                .sum(),
            judge_output_max: paid_verdicts
                .map(|v| v.output_tokens.max(0) as u64)
                .max()
                .unwrap_or(0),
            embed_input: record
                .scorer_calls
                .iter()
                .map(|c| c.input_tokens.max(0) as u64)
                .sum(),
        };
        budget.settle(reserved, &paid);
    }
}

/// A run's log is put into the store in transactions of at most this many cases...
const STORE_BATCH: usize = 1000;

/// ...or of what finished in this time, whichever comes first.
const STORE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Where finished cases go: into the run's log at once and into the store in larger
/// transactions (see `runlog`); or, without a log, into the store at once.
struct Sink<'a> {
    store: &'a Store,
    dataset_version: &'a str,
    log: Option<RunLog>,
    /// Logged, not stored yet.
    unstored: Vec<Record>,
    /// When the oldest of them was logged.
    since: tokio::time::Instant,
}

impl<'a> Sink<'a> {
    fn new(store: &'a Store, dataset_version: &'a str, log: Option<RunLog>) -> Self {
        Sink {
            store,
            dataset_version,
            log,
            unstored: Vec::new(),
            since: tokio::time::Instant::now(),
        }
    }

    async fn push(&mut self, records: Vec<Record>) -> Result<(), crate::error::Error> {
        let Some(log) = &mut self.log else {
            self.store
                .insert_cases(self.dataset_version, &records)
                .await?;
            return Ok(());
        };
        // An answer from the cache costs nothing to take again: only what was paid for (the
        // model, a judge, an embedding) or failed needs the log to survive a kill.
        let paid: Vec<&Record> = records
            .iter()
            .filter(|r| {
                r.case.cache_hit == 0
                    || r.verdicts.iter().any(|v| v.cache_hit == 0)
                    || !r.scorer_calls.is_empty()
            })
            .collect();
        if let Err(e) = log.append(&paid) {
            // Not logged (a full disk, say): into the store at once, then say why.
            self.unstored.extend(records);
            self.flush().await?;
            return Err(e.into());
        }
        if self.unstored.is_empty() {
            self.since = tokio::time::Instant::now();
        }
        self.unstored.extend(records);
        if self.unstored.len() >= STORE_BATCH || self.since.elapsed() >= STORE_INTERVAL {
            self.flush().await?;
        }
        Ok(())
    }

    /// Whether logged cases wait for the store.
    fn waiting(&self) -> bool {
        !self.unstored.is_empty()
    }

    /// When the logged cases are due in the store.
    async fn due(&self) {
        tokio::time::sleep_until(self.since + STORE_INTERVAL).await;
    }

    /// Stores what the log holds, then empties the log. A transaction that fails (a reader
    /// held the database past `busy_timeout`, say) is tried twice more: the cases are in the
    /// log meanwhile, and stay there if the run ends with the error.
    async fn flush(&mut self) -> Result<(), crate::error::Error> {
        if !self.unstored.is_empty() {
            let mut attempt = 1;
            while let Err(e) = self
                .store
                .insert_cases(self.dataset_version, &self.unstored)
                .await
            {
                if attempt == 3 || self.log.is_none() {
                    return Err(e.into());
                }
                attempt += 1;
            }
            self.unstored.clear();
        }
        if let Some(log) = &mut self.log
            && !log.is_empty()
        {
            log.clear()?;
        }
        Ok(())
    }

    /// Deletes the log, once the run is over and stored. Should that fail, the next run
    /// finds an empty log and deletes it.
    fn finish(mut self) {
        if let Some(log) = self.log.take() {
            log.remove().ok();
        }
    }
}

/// Runs a plan through the provider's Batch API: cached answers are recorded at once, the
/// rest go into one batch whose id is stored with the run (so `--resume` polls the same
/// batch after an interruption), polled with backoff, and recorded at the batch price when
/// the results come back.
pub async fn execute_batch(
    plan: &Plan<'_>,
    client: &Arc<Client>,
    store: &Store,
    options: &RunOptions,
    mut on_progress: impl FnMut(&Progress),
    mut on_batch: impl FnMut(&BatchStatus),
) -> Result<RunOutcome, crate::error::Error> {
    let started = Instant::now();
    let api = batch_api(plan, client)?;
    let repeats = options.repeats.max(1);
    // A batch's results are stored as they come back, in large transactions: its log only
    // says that the run is going on (see `is_going`).
    let Begun {
        run_id,
        resumes,
        next_seq,
        progress,
        log,
        lease: _lease,
    } = begin(plan, store, options).await?;
    let mut items = work_items(plan, repeats)?;
    let requests = plan.requests();
    let resumed = resumes.then(|| run_id.clone());
    let skip = resumed.as_ref().map(|id| (store, id.as_str()));
    let mut jobs: VecDeque<Job> = VecDeque::new();
    let mut ready = Vec::new();
    while !prefetch(
        &mut items,
        (&requests, skip),
        client,
        PREFETCH,
        &mut jobs,
        &mut ready,
        false,
    )
    .await?
    {}
    // Answers from the cache are graded at once, like the batch's answers when they come:
    // judges and `similar` scorers see every answer, wherever it came from.
    judge_answers(&mut ready, &options.judges, &options.similar).await;
    let mut recorder = Recorder::new(plan, run_id, next_seq, progress);
    let records = recorder.record_all(ready);
    store.insert_cases(&plan.dataset.version, &records).await?;
    on_progress(&recorder.progress);

    let mut stopped = None;
    if !jobs.is_empty() {
        let existing = options.resume.as_ref().and_then(|r| r.batch_id.clone());
        let status = submit_batch(api, &jobs, existing)
            .await
            .map_err(crate::error::Error::ProviderSetup)?;
        store.set_batch_id(&recorder.run_id, &status.id).await?;
        on_batch(&status);
        let status = poll_batch(api, status, &mut on_batch).await?;
        match status {
            None => stopped = Some(StopReason::Interrupted),
            Some(status) => {
                let mut finished = batch_finished(api, client, &status, jobs).await?;
                // Judges grade the batch's answers through ordinary calls.
                judge_answers(&mut finished, &options.judges, &options.similar).await;
                let records = recorder.record_all(finished);
                for chunk in records.chunks(MAX_BATCH) {
                    store.insert_cases(&plan.dataset.version, chunk).await?;
                }
                on_progress(&recorder.progress);
            }
        }
    }
    let outcome = end(store, recorder, stopped, started).await;
    if let Some(log) = log {
        log.remove().ok();
    }
    outcome
}

/// The client's Batch API, which only an `openai` provider has.
fn batch_api<'c>(
    plan: &Plan<'_>,
    client: &'c Client,
) -> Result<&'c crate::provider::openai::OpenAi, crate::error::Error> {
    client.batch_api().ok_or_else(|| {
        crate::error::Error::usage(
            format!(
                "`--batch` needs an `openai` provider, and model `{}` uses `{}` ({})",
                plan.model.name,
                plan.provider.name,
                plan.provider.kind.name()
            ),
            None,
        )
    })
}

/// The batch of the jobs: the one a resumed run started (`existing`), else a new one.
async fn submit_batch(
    api: &crate::provider::openai::OpenAi,
    jobs: &VecDeque<Job>,
    existing: Option<String>,
) -> Result<BatchStatus, crate::provider::ProviderError> {
    match existing {
        Some(id) => batch_status_retrying(api, &id, false).await,
        None => {
            let mut jsonl = String::new();
            for job in jobs {
                jsonl.push_str(&crate::provider::batch::input_line(
                    &custom_id(&job.case.id, job.repeat),
                    &job.request,
                    api,
                ));
                jsonl.push('\n');
            }
            api.create_batch(jsonl).await
        }
    }
}

/// Polls a batch with backoff until it is done, reporting each status; `None` when Ctrl-C
/// stopped the wait.
async fn poll_batch(
    api: &crate::provider::openai::OpenAi,
    mut status: BatchStatus,
    on_batch: &mut impl FnMut(&BatchStatus),
) -> Result<Option<BatchStatus>, crate::error::Error> {
    let no_delay = crate::env::setting(crate::env::NO_RETRY_DELAY).is_some();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut poll = 0;
    while !status.is_done() {
        let delay = if no_delay {
            std::time::Duration::from_millis(10)
        } else {
            crate::provider::batch::poll_delay(poll)
        };
        poll += 1;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut ctrl_c => {
                return Ok(None);
            }
        }
        status = batch_status_retrying(api, &status.id, no_delay)
            .await
            .map_err(crate::error::Error::ProviderSetup)?;
        on_batch(&status);
    }
    Ok(Some(status))
}

/// The jobs of a finished batch with their answers (fetched from the provider); a job the
/// batch did not answer is a server error.
async fn batch_finished(
    api: &crate::provider::openai::OpenAi,
    client: &Client,
    status: &BatchStatus,
    jobs: VecDeque<Job>,
) -> Result<Vec<Finished>, crate::error::Error> {
    let mut results: std::collections::HashMap<
        String,
        Result<crate::provider::ChatResponse, crate::provider::ProviderError>,
    > = api
        .batch_results(status)
        .await
        .map_err(crate::error::Error::ProviderSetup)?
        .into_iter()
        .map(|r| (r.custom_id, r.result))
        .collect();
    let batch_status = status.status.clone();
    Ok(jobs
        .into_iter()
        .map(|job| {
            let result = match results.remove(&custom_id(&job.case.id, job.repeat)) {
                Some(Ok(response)) => {
                    let cache_entry = client.cache_entry(&job.request, job.call_key(), &response);
                    Ok(Reply {
                        response,
                        cache_hit: false,
                        attempts: 1,
                        cache_entry,
                        batch: true,
                    })
                }
                Some(Err(error)) => Err(CaseError::Provider(Failure { error, attempts: 1 })),
                None => Err(CaseError::Provider(Failure {
                    error: crate::provider::ProviderError::new(
                        ErrorKind::ServerError,
                        format!("the batch ended `{batch_status}` without an answer for this case"),
                    ),
                    attempts: 1,
                })),
            };
            Finished {
                case: job.case,
                repeat: job.repeat,
                request_hash: Some(job.hash),
                result,
                judged: Vec::new(),
                similar: Similarity::default(),
                reserved: Reservation::default(),
            }
        })
        .collect())
}

/// Has the judges and the `similar` scorers grade the answered items, one call after another.
async fn judge_answers(
    finished: &mut [Finished],
    judges: &[JudgeRunner],
    similar: &[SimilarityRunner],
) {
    for f in finished {
        if let Ok(reply) = &f.result {
            f.similar =
                similarity_scores(similar, &f.case, f.repeat, &reply.response.content).await;
            for j in judges.iter().filter(|j| j.applies_to(&f.case)) {
                for vote in 0..j.votes.max(1) {
                    f.judged
                        .push(judge_output(j, &f.case, &reply.response.content, vote).await);
                }
            }
        }
    }
}

/// Polls a batch, riding out transient failures (a batch may take hours; one 502 on the way
/// must not end the run).
async fn batch_status_retrying(
    api: &crate::provider::openai::OpenAi,
    id: &str,
    no_delay: bool,
) -> Result<BatchStatus, crate::provider::ProviderError> {
    let policy = crate::provider::retry::RetryPolicy {
        max_attempts: 8,
        ..Default::default()
    };
    crate::provider::retry::with_retries(&policy, !no_delay, || api.batch_status(id))
        .await
        .map(|(status, _)| status)
        .map_err(|(e, _)| e)
}

/// Marks a run finished (or stopped, with the reason) and says how it ended.
async fn end(
    store: &Store,
    recorder: Recorder<'_, '_>,
    stopped: Option<StopReason>,
    started: Instant,
) -> Result<RunOutcome, crate::error::Error> {
    let (status, reason) = match stopped {
        None => (RunStatus::Finished, None),
        Some(r) => (RunStatus::Stopped, Some(r.as_str())),
    };
    store
        .finish_run(&recorder.run_id, status, reason, &now())
        .await?;
    Ok(RunOutcome {
        run_id: recorder.run_id,
        progress: recorder.progress,
        stopped,
        first_error: recorder.first_error.map(|(_, m)| m),
        first_error_kind: recorder.first_error_kind,
        elapsed_secs: started.elapsed().as_secs_f64(),
        held_back: None,
    })
}

/// The `custom_id` of a case in a batch.
fn custom_id(case_id: &str, repeat: u32) -> String {
    format!("{case_id}#{repeat}")
}

/// Counts a recorded case in the progress.
fn tally(progress: &mut Progress, r: &Record) {
    match r.case.status {
        CaseStatus::Pass => progress.passed += 1,
        CaseStatus::Fail => progress.failed += 1,
        CaseStatus::Error => progress.errors += 1,
    }
    if r.case.cache_hit == 1 {
        progress.cache_hits += 1;
    } else {
        progress.cost_usd += r.case.cost_usd;
    }
    // Judges and embeddings are paid for too (the spend limit covers everything a run
    // calls).
    progress.cost_usd += r
        .verdicts
        .iter()
        .filter(|v| v.cache_hit == 0)
        .map(|v| v.cost_usd)
        .sum::<f64>();
    for call in &r.scorer_calls {
        progress.cost_usd += call.cost_usd;
        progress.scorer_calls += 1;
        progress.scorer_tokens += call.input_tokens.max(0) as u64;
        progress.scorer_cost_usd += call.cost_usd;
    }
    progress.done += 1;
}

/// Where runs on this store keep their logs: `pending/` beside a SQLite database file; none
/// on PostgreSQL (or in memory).
pub fn log_dir(store: &Store) -> Option<std::path::PathBuf> {
    store
        .sqlite_file()
        .and_then(std::path::Path::parent)
        .map(|d| d.join("pending"))
}

/// Whether a run the store marks `running` is going on in some process: one holds its lease
/// (PostgreSQL) or its log (SQLite). A run on an in-memory database is taken at its word.
pub async fn is_going(store: &Store, run_id: &str) -> Result<bool, crate::store::StoreError> {
    if let Some(held) = store.run_leased(run_id).await? {
        return Ok(held);
    }
    Ok(match log_dir(store) {
        Some(dir) => crate::runlog::is_held(&dir, run_id),
        None => true,
    })
}

/// Runs as they are: one marked `running` that no process holds was killed (kill -9, a
/// crash, a lost machine), and is shown as stopped, interrupted, like a run stopped by
/// Ctrl-C; `--resume` finishes it.
pub async fn show_dead(store: &Store, runs: &mut [RunRow]) -> Result<(), crate::store::StoreError> {
    for r in runs.iter_mut().filter(|r| r.status == RunStatus::Running) {
        if !is_going(store, &r.id).await? {
            r.status = RunStatus::Stopped;
            r.stop_reason = Some(StopReason::Interrupted.as_str().into());
        }
    }
    Ok(())
}

/// A run as it begins: new, or reopened to resume.
struct Begun {
    run_id: RunId,
    /// It resumes a run: the cases it stored are skipped (looked up as they come).
    resumes: bool,
    next_seq: i64,
    /// The progress so far (a resumed run's totals include what it did before).
    progress: Progress,
    /// The run's log, when it keeps one.
    log: Option<RunLog>,
    /// Held while the run goes on (see `is_going`).
    lease: crate::store::RunLease,
}

/// Starts a new run or reopens the one to resume, and takes its lease. With
/// `options.log_dir`, the logs that killed runs left there are put into the store first, and
/// the run gets a log of its own.
async fn begin(
    plan: &Plan<'_>,
    store: &Store,
    options: &RunOptions,
) -> Result<Begun, crate::error::Error> {
    let repeats = options.repeats.max(1);
    let mut progress = Progress {
        planned: plan.planned * repeats as usize,
        ..Progress::default()
    };
    if let Some(dir) = &options.log_dir {
        recover(store, dir).await?;
    }
    let log_dir = options.log_dir.as_deref();
    Ok(match &options.resume {
        Some(run) => {
            // `recover` stored what its log held (unless another process is running it, and
            // then this open is refused).
            let log = match log_dir {
                Some(dir) => Some(RunLog::open(dir, &run.id)?),
                None => None,
            };
            let lease = store
                .lease_run(&run.id)
                .await?
                .ok_or_else(|| crate::store::StoreError::RunBusy(run.id.to_string()))?;
            store.reopen_run(&run.id).await?;
            let (done, max_seq) = store.finished_count(&run.id).await?;
            // A resumed run's totals include what it did before: the error budget and the
            // spend limit are about the whole run.
            for (status, n, paid) in store.case_totals(&run.id).await? {
                let n = n.max(0) as usize;
                match status {
                    CaseStatus::Pass => progress.passed += n,
                    CaseStatus::Fail => progress.failed += n,
                    CaseStatus::Error => progress.errors += n,
                }
                progress.cost_usd += paid;
            }
            // Its judges and its scorers' embeddings were paid too: the spend limit is about
            // everything the run called.
            progress.cost_usd += store.judges_paid(&run.id).await?;
            for t in store.scorer_call_totals(&run.id).await? {
                progress.cost_usd += t.cost_usd;
                progress.scorer_calls += t.calls.max(0) as usize;
                progress.scorer_tokens += t.input_tokens.max(0) as u64;
                progress.scorer_cost_usd += t.cost_usd;
            }
            progress.resumed = done;
            progress.done = done;
            Begun {
                run_id: run.id.clone(),
                resumes: true,
                next_seq: max_seq + 1,
                progress,
                log,
                lease,
            }
        }
        None => {
            let run = new_run(plan, repeats);
            // The log first: a run the store knows of always has somewhere to log to.
            let log = match log_dir {
                Some(dir) => Some(RunLog::open(dir, &run.id)?),
                None => None,
            };
            let lease = store
                .lease_run(&run.id)
                .await?
                .ok_or_else(|| crate::store::StoreError::RunBusy(run.id.to_string()))?;
            store.create_run(&run).await?;
            Begun {
                run_id: run.id,
                resumes: false,
                next_seq: 0,
                progress,
                log,
                lease,
            }
        }
    })
}

/// Puts the logs that killed runs left in `dir` into the store (their cases and answers, so
/// that nothing paid for is asked again, resumed or not) and deletes them. Logs of runs still
/// going (locked) are left alone, and so are logs of runs this store does not know.
async fn recover(store: &Store, dir: &std::path::Path) -> Result<(), crate::error::Error> {
    for run_id in crate::runlog::runs(dir)? {
        let mut log = match RunLog::open(dir, &run_id) {
            Ok(log) => log,
            Err(crate::runlog::LogError::Busy { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if !log.is_empty() {
            let run = match store.find_run(&run_id).await {
                Ok(run) if run.id == *run_id => run,
                // Another database's run (the log directory is shared): not ours to store.
                Ok(_) | Err(crate::store::StoreError::RunNotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            store_logged(store, &mut log, &run.id, &run.dataset_version).await?;
        }
        // Holding its log, this process knows the run is not going on anywhere.
        match store.find_run(&run_id).await {
            Ok(run) if run.id == *run_id && run.status == RunStatus::Running => {
                store
                    .finish_run(
                        &run_id,
                        RunStatus::Stopped,
                        Some(StopReason::Interrupted.as_str()),
                        &now(),
                    )
                    .await?;
            }
            Ok(_) | Err(crate::store::StoreError::RunNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        log.remove()?;
    }
    Ok(())
}

/// Stores the cases of a run's log that the store does not hold (the process may have been
/// killed before or after its last transaction), then empties the log.
async fn store_logged(
    store: &Store,
    log: &mut RunLog,
    run_id: &str,
    dataset_version: &str,
) -> Result<(), crate::error::Error> {
    let logged = log.take()?;
    let keys: Vec<(&str, i64)> = logged
        .iter()
        .map(|r| (r.case.case_id.as_str(), r.case.repeat_index))
        .collect();
    let stored = store.finished_among(run_id, &keys).await?;
    let missing: Vec<Record> = logged
        .into_iter()
        .filter(|r| !stored.contains(&(r.case.case_id.clone(), r.case.repeat_index)))
        .collect();
    for chunk in missing.chunks(STORE_BATCH) {
        store.insert_cases(dataset_version, chunk).await?;
    }
    log.clear()?;
    Ok(())
}

type Item = (Arc<Case>, u32, Option<String>);

/// The cases a plan covers (its selection, up to its limit), read lazily from the dataset;
/// a line that no longer parses is an error item.
fn selected_cases<'a>(
    plan: &'a Plan<'_>,
) -> Result<impl Iterator<Item = Result<Case, crate::diag::Diagnostic>> + 'a, crate::error::Error> {
    Ok(plan
        .dataset
        .cases()
        .map_err(|source| crate::error::Error::Read {
            path: plan.dataset.path.clone(),
            source,
        })?
        .filter(|c| c.as_ref().map_or(true, |c| plan.selection.contains(&c.id)))
        .take(plan.limit.unwrap_or(usize::MAX)))
}

/// The (case, repeat) items of a plan, read lazily from the dataset (`prefetch` skips those
/// a resumed run has stored).
fn work_items<'a>(
    plan: &'a Plan<'_>,
    repeats: u32,
) -> Result<impl Iterator<Item = Item> + 'a, crate::error::Error> {
    let items = selected_cases(plan)?.flat_map(move |case| {
        // The dataset was validated by `config::load`; a bad line now means the file
        // changed during the run, which is recorded against the line.
        let (case, broken) = match case {
            Ok(c) => (Arc::new(c), None),
            Err(d) => {
                let placeholder = Case {
                    id: format!("line-{}", d.line),
                    vars: Map::new(),
                    expected: Map::new(),
                    outcome: None,
                    base_features: None,
                    tags: Vec::new(),
                    source: None,
                };
                (
                    Arc::new(placeholder),
                    Some(format!("the dataset changed during the run: {d}")),
                )
            }
        };
        (0..repeats).map(move |r| (case.clone(), r, broken.clone()))
    });
    Ok(items)
}

/// A case as stored with its dataset version.
fn golden_row(case: &Case) -> GoldenRow {
    let json = |v: &Map<String, Value>| Value::Object(v.clone()).to_string();
    GoldenRow {
        case_id: case.id.clone(),
        vars_json: json(&case.vars),
        expected_json: json(&case.expected),
        tags_json: serde_json::to_string(&case.tags).unwrap_or_else(|_| "[]".into()),
    }
}

/// Stores the cases a plan covers with its dataset version, before any result, reading the
/// dataset in chunks (memory stays flat however large it is). Lines that no longer parse are
/// left to the run, which records them against their line.
async fn store_golden(plan: &Plan<'_>, store: &Store) -> Result<(), crate::error::Error> {
    const CHUNK: usize = 5000;
    let cases = selected_cases(plan)?.filter_map(Result::ok);
    let mut chunk = Vec::with_capacity(CHUNK);
    for case in cases {
        chunk.push(golden_row(&case));
        if chunk.len() == CHUNK {
            store.insert_golden(&plan.dataset.version, &chunk).await?;
            chunk.clear();
        }
    }
    store.insert_golden(&plan.dataset.version, &chunk).await?;
    Ok(())
}

/// Scores a finished item and turns it into rows (and the answer to cache).
fn record(
    plan: &Plan<'_>,
    run_id: &str,
    seq: i64,
    f: Finished,
    first_error: &mut Option<(String, String)>,
    first_error_kind: &mut Option<ErrorKind>,
) -> Record {
    let case = f.case;
    let mut row = case_row(run_id, seq, &case, f.repeat, f.request_hash);
    let reply = match f.result {
        Ok(r) => r,
        Err(error) => return failed(row, &case, error, first_error, first_error_kind),
    };
    measure(plan, &mut row, &reply);
    let response = reply.response;

    let contract = plan.prompt.contract.as_ref();
    let checked = contract.map(|c| c.check(&response.content));
    let parsed = parsed_output(checked.as_ref(), &response.content);
    let violation = checked.as_ref().and_then(|c| c.as_ref().err());
    let output = Output {
        text: &response.content,
        parsed: parsed.as_ref(),
        contract: checked.as_ref().map(|c| c.as_ref().map(|_| ())),
    };
    let mut scores = score::score_all(&plan.suite.scorers, &case, &output);
    // The judges' votes join the scores, one score per judge scorer: the majority of the
    // readable votes (a tie fails), or an error when no vote could be read. A judge error is
    // never a pass.
    let mut judgement = Judgement {
        verdicts: Vec::new(),
        cache: reply.cache_entry.into_iter().collect(),
        error: None,
    };
    for (scorer, votes) in by_scorer(f.judged) {
        scores.push(judgement.score(&case.id, f.repeat, scorer, votes));
    }
    scores.extend(unjudged(plan, &case));
    let scorer_error = f
        .similar
        .scores
        .iter()
        .find(|s| s.outcome == Outcome::Error)
        .map(|s| format!("{}: {}", s.scorer, s.detail.clone().unwrap_or_default()));
    scores.extend(f.similar.scores);
    set_status(
        &mut row,
        violation,
        &scores,
        judgement
            .error
            .map(|e| (CaseKind::JudgeError, e))
            .or(scorer_error.map(|e| (CaseKind::ScorerError, e))),
        response.finish_reason.as_deref(),
    );
    row.output = Some(response.content);
    row.parsed_json = parsed.map(|p| Value::Object(p).to_string());
    let score_rows = scores
        .into_iter()
        .map(|s| ScoreRow {
            case_id: case.id.clone(),
            repeat_index: i64::from(f.repeat),
            scorer: s.scorer,
            outcome: s.outcome,
            detail: s.detail,
        })
        .collect();
    Record {
        case: row,
        scores: score_rows,
        verdicts: judgement.verdicts,
        cache: judgement.cache,
        scorer_calls: f.similar.calls,
    }
}

/// The skips of the judge scorers that grade only cases with an expected key this case
/// lacks (their judges were not asked).
fn unjudged(plan: &Plan<'_>, case: &Case) -> Vec<score::Score> {
    plan.suite
        .scorers
        .iter()
        .filter_map(|s| match &s.kind {
            crate::score::ScorerKind::Judge {
                expected: Some(k), ..
            } if case.expected.get(k).is_none_or(Value::is_null) => Some(score::Score {
                scorer: s.name.clone(),
                outcome: Outcome::Skip,
                detail: Some(format!("case has no expected `{k}`")),
            }),
            _ => None,
        })
        .collect()
}

/// The row of a finished item before its answer is looked at: an error until scored.
fn case_row(
    run_id: &str,
    seq: i64,
    case: &Case,
    repeat: u32,
    request_hash: Option<String>,
) -> CaseRow {
    let golden = golden_row(case);
    CaseRow {
        run_id: RunId::new(run_id),
        case_id: case.id.clone(),
        repeat_index: i64::from(repeat),
        seq,
        status: CaseStatus::Error,
        kind: None,
        message: None,
        request_hash,
        vars_json: golden.vars_json,
        expected_json: golden.expected_json,
        tags_json: golden.tags_json,
        output: None,
        parsed_json: None,
        input_tokens: 0,
        cached_input_tokens: 0,
        output_tokens: 0,
        cost_usd: 0.0,
        latency_ms: None,
        finished_at: now(),
        cache_hit: 0,
        attempts: 0,
        ttft_ms: None,
        logprobs_json: None,
    }
}

/// The record of an item without an answer (it could not be rendered, or the provider
/// failed), keeping the first provider error in case order.
fn failed(
    mut row: CaseRow,
    case: &Case,
    error: CaseError,
    first_error: &mut Option<(String, String)>,
    first_error_kind: &mut Option<ErrorKind>,
) -> Record {
    match error {
        CaseError::Render(m) => {
            row.kind = Some(CaseKind::Template);
            row.message = Some(m);
        }
        CaseError::Provider(failure) => {
            let e = failure.error;
            // The first in case order, so that the message does not depend on timing.
            if first_error.as_ref().is_none_or(|(id, _)| case.id < *id) {
                *first_error = Some((
                    case.id.clone(),
                    format!("{}: {}", e.kind.as_str(), e.message),
                ));
                *first_error_kind = Some(e.kind);
            }
            row.kind = Some(CaseKind::Provider(e.kind));
            row.attempts = i64::from(failure.attempts);
            row.message = Some(if failure.attempts > 1 {
                format!("{} (after {} attempts)", e.message, failure.attempts)
            } else {
                e.message
            });
        }
    }
    Record {
        case: row,
        ..Record::default()
    }
}

/// Copies what a reply used and cost into its row: tokens, price (the batch price for a batch
/// answer, which has no latency of its own), timings and log-probabilities.
fn measure(plan: &Plan<'_>, row: &mut CaseRow, reply: &Reply) {
    let response = &reply.response;
    let usage = response.usage;
    row.cache_hit = i64::from(reply.cache_hit);
    row.attempts = i64::from(reply.attempts);
    row.input_tokens = usage.input_tokens as i64;
    row.cached_input_tokens = usage.cached_input_tokens as i64;
    row.output_tokens = usage.output_tokens as i64;
    if reply.batch {
        row.cost_usd = plan
            .model
            .price
            .batch_cost(usage.input_tokens, usage.output_tokens);
    } else {
        row.cost_usd = plan.model.price.cost(
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
        );
        row.latency_ms = Some((response.latency_ms * 10.0).round() / 10.0);
    }
    row.ttft_ms = response.ttft_ms.map(|t| (t * 10.0).round() / 10.0);
    row.logprobs_json = response
        .logprobs
        .as_ref()
        .and_then(|l| serde_json::to_string(l).ok());
}

/// The fields of an output: those the contract checked, else whatever parses as a JSON
/// object.
fn parsed_output(
    checked: Option<&Result<Map<String, Value>, crate::contract::Violation>>,
    content: &str,
) -> Option<Map<String, Value>> {
    match checked {
        Some(Ok(fields)) if !fields.is_empty() => Some(fields.clone()),
        // Keep what parses even when the contract is broken: the report shows it.
        _ => crate::contract::parse_json_output(content)
            .ok()
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            }),
    }
}

/// The judges' votes grouped by scorer, in the order the scorers first appear.
fn by_scorer(judged: Vec<Judged>) -> Vec<(String, Vec<Judged>)> {
    let mut by_scorer: Vec<(String, Vec<Judged>)> = Vec::new();
    for j in judged {
        match by_scorer.iter_mut().find(|(s, _)| *s == j.scorer) {
            Some((_, votes)) => votes.push(j),
            None => by_scorer.push((j.scorer.clone(), vec![j])),
        }
    }
    by_scorer
}

/// What the judges said about one output, as stored: their verdicts, the answers to cache
/// (the model's first), and the first judge scorer without a readable vote.
struct Judgement {
    verdicts: Vec<VerdictRow>,
    cache: Vec<crate::store::CacheRow>,
    error: Option<String>,
}

impl Judgement {
    /// Keeps one judge scorer's votes and returns its score: the majority of the readable
    /// votes (a tie fails), or an error when no vote could be read.
    fn score(
        &mut self,
        case_id: &str,
        repeat: u32,
        scorer: String,
        votes: Vec<Judged>,
    ) -> score::Score {
        let (mut pass, mut fail) = (0, 0);
        let mut first_reason = None;
        let mut first_error = None;
        for j in votes {
            let (outcome, score, reason) = match &j.verdict {
                Some(Ok(v)) => (v.outcome, v.score, Some(v.reason.clone())),
                Some(Err(e)) => (Outcome::Error, None, Some(e.clone())),
                None => (Outcome::Error, None, Some("no verdict".to_string())),
            };
            match outcome {
                Outcome::Pass => pass += 1,
                Outcome::Fail => fail += 1,
                _ => {
                    first_error.get_or_insert_with(|| reason.clone().unwrap_or_default());
                }
            }
            if outcome != Outcome::Error {
                first_reason.get_or_insert_with(|| reason.clone().unwrap_or_default());
            }
            self.verdicts
                .push(verdict_row(case_id, repeat, &j, outcome, score, reason));
            self.cache.extend(j.cache);
        }
        let votes = pass + fail;
        let (outcome, detail) = if votes == 0 {
            let e = first_error.unwrap_or_default();
            self.error.get_or_insert_with(|| format!("{scorer}: {e}"));
            (Outcome::Error, e)
        } else if votes == 1 {
            (
                if pass == 1 {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                },
                first_reason.unwrap_or_default(),
            )
        } else {
            let outcome = if pass > fail {
                Outcome::Pass
            } else {
                Outcome::Fail
            };
            (outcome, format!("{pass} of {votes} readable votes pass"))
        };
        score::Score {
            scorer,
            outcome,
            detail: Some(detail),
        }
    }
}

/// The stored row of one judge's vote.
fn verdict_row(
    case_id: &str,
    repeat: u32,
    j: &Judged,
    outcome: Outcome,
    score: Option<f64>,
    reason: Option<String>,
) -> VerdictRow {
    VerdictRow {
        case_id: case_id.to_owned(),
        repeat_index: i64::from(repeat),
        scorer: j.scorer.clone(),
        judge: j.judge.clone(),
        vote: i64::from(j.vote),
        judge_version: j.judge_version.clone(),
        judge_model: j.judge_model.clone(),
        outcome,
        score,
        reason,
        input_tokens: j.input_tokens as i64,
        output_tokens: j.output_tokens as i64,
        cost_usd: j.cost_usd,
        cache_hit: i64::from(j.cache_hit),
        attempts: i64::from(j.attempts),
    }
}

/// Sets a scored case's status and message: a broken contract, else the first failed score,
/// else a scorer that could not score (a judge error, an embedding that failed), else a pass.
/// A case that did not pass says when its output hit max_tokens.
fn set_status(
    row: &mut CaseRow,
    violation: Option<&crate::contract::Violation>,
    scores: &[score::Score],
    scorer_error: Option<(CaseKind, String)>,
    finish_reason: Option<&str>,
) {
    let failed: Vec<&score::Score> = scores
        .iter()
        .filter(|s| s.outcome == Outcome::Fail)
        .collect();
    if let Some(v) = violation {
        row.status = CaseStatus::Fail;
        row.kind = Some(CaseKind::Contract);
        row.message = Some(v.to_string());
    } else if let Some(first) = failed.first() {
        row.status = CaseStatus::Fail;
        row.kind = Some(CaseKind::Score);
        row.message = Some(format!(
            "{}: {}",
            first.scorer,
            first.detail.clone().unwrap_or_default()
        ));
    } else if let Some((kind, e)) = scorer_error {
        row.status = CaseStatus::Error;
        row.kind = Some(kind);
        row.message = Some(e);
    } else {
        row.status = CaseStatus::Pass;
    }
    if finish_reason == Some("length") && row.status != CaseStatus::Pass {
        let m = row.message.take().unwrap_or_default();
        row.message = Some(format!("{m} (the output hit max_tokens)"));
    }
}

/// Upcoming cases, rendered in chunks ahead of the tasks.
const PREFETCH: usize = 256;

/// Cases that finish within this time of each other are logged (or committed) together.
const COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(20);

/// At most this many cases in one group.
const MAX_BATCH: usize = 512;

/// Starts the task that asks the model for one job.
fn spawn(
    tasks: &mut JoinSet<Finished>,
    client: &Arc<Client>,
    (judges, similar): (&Arc<Vec<JudgeRunner>>, &Arc<Vec<SimilarityRunner>>),
    job: Job,
    reserved: Reservation,
) {
    let client = client.clone();
    let judges = judges.clone();
    let similar = similar.clone();
    tasks.spawn(async move {
        let result = match job.cached {
            Some(response) => Ok(Reply {
                response,
                cache_hit: true,
                attempts: 0,
                cache_entry: None,
                batch: false,
            }),
            None => client
                .chat_fresh(&job.request, job.call_key())
                .await
                .map_err(CaseError::Provider),
        };
        let mut judged = Vec::new();
        let mut scored = Similarity::default();
        if let Ok(reply) = &result {
            for j in judges.iter().filter(|j| j.applies_to(&job.case)) {
                for vote in 0..j.votes.max(1) {
                    judged.push(judge_output(j, &job.case, &reply.response.content, vote).await);
                }
            }
            scored =
                similarity_scores(&similar, &job.case, job.repeat, &reply.response.content).await;
        }
        Finished {
            case: job.case,
            repeat: job.repeat,
            request_hash: Some(job.hash),
            result,
            judged,
            similar: scored,
            reserved,
        }
    });
}

/// A case ready to be asked: its rendered request and hashes.
struct Job {
    case: Arc<Case>,
    repeat: u32,
    request: crate::provider::ChatRequest,
    hash: String,
    /// The answer, when the response cache had it (a job then only runs the judges).
    cached: Option<crate::provider::ChatResponse>,
}

impl Job {
    fn call_key(&self) -> CallKey<'_> {
        CallKey {
            case_id: &self.case.id,
            request_hash: &self.hash,
            repeat: self.repeat,
        }
    }
}

/// Takes up to `n` upcoming items, leaves out those the run resumed (`skip`: the store and
/// run to look them up in) has stored, renders the others, answers those already in the
/// response cache (into `ready`, with cases that cannot be rendered), and queues the rest as
/// jobs. Returns whether the items are exhausted.
async fn prefetch(
    items: &mut impl Iterator<Item = (Arc<Case>, u32, Option<String>)>,
    (requests, skip): (&crate::plan::Requests, Option<(&Store, &str)>),
    client: &Client,
    n: usize,
    pending: &mut VecDeque<Job>,
    ready: &mut Vec<Finished>,
    judging: bool,
) -> Result<bool, crate::error::Error> {
    let mut taken: Vec<Item> = items.by_ref().take(n).collect();
    let exhausted = taken.len() < n;
    if let Some((store, run_id)) = skip {
        let keys: Vec<(&str, i64)> = taken
            .iter()
            .map(|(case, r, _)| (case.id.as_str(), i64::from(*r)))
            .collect();
        let stored = store.finished_among(run_id, &keys).await?;
        taken.retain(|(case, r, _)| !stored.contains(&(case.id.clone(), i64::from(*r))));
    }
    let mut jobs = Vec::with_capacity(taken.len());
    for (case, repeat, broken) in taken {
        if let Some(m) = broken {
            ready.push(Finished {
                case,
                repeat,
                request_hash: None,
                result: Err(CaseError::Render(m)),
                judged: Vec::new(),
                similar: Similarity::default(),
                reserved: Reservation::default(),
            });
            continue;
        }
        match requests.request(&case) {
            Ok(request) => {
                let hash = request.hash();
                jobs.push(Job {
                    case,
                    repeat,
                    request,
                    hash,
                    cached: None,
                });
            }
            Err(e) => ready.push(Finished {
                case,
                repeat,
                request_hash: None,
                result: Err(CaseError::Render(e.to_string())),
                judged: Vec::new(),
                similar: Similarity::default(),
                reserved: Reservation::default(),
            }),
        }
    }
    if client.reads_cache() && !jobs.is_empty() {
        let keys: Vec<String> = jobs
            .iter()
            .map(|j| client.cache_key(j.call_key()))
            .collect();
        let mut hits = client.cached_many(&keys).await;
        for (mut job, key) in jobs.into_iter().zip(keys) {
            match hits.remove(&key) {
                // Judges still have to see a cached answer: it becomes a job without a call.
                Some(response) if judging => {
                    job.cached = Some(response);
                    pending.push_back(job);
                }
                Some(response) => ready.push(Finished {
                    case: job.case,
                    repeat: job.repeat,
                    request_hash: Some(job.hash),
                    result: Ok(Reply {
                        response,
                        cache_hit: true,
                        attempts: 0,
                        cache_entry: None,
                        batch: false,
                    }),
                    judged: Vec::new(),
                    similar: Similarity::default(),
                    reserved: Reservation::default(),
                }),
                None => pending.push_back(job),
            }
        }
    } else {
        pending.extend(jobs);
    }
    Ok(exhausted)
}

/// Re-scores the stored answers of a run with the current scorers and the given judges,
/// without asking the model again: only the judges are called (through their cache).
/// Verdicts of the suite's other judges are kept as they were. Cases without an answer (a
/// provider error) are left as they are.
pub async fn rescore(
    plan: &Plan<'_>,
    store: &Store,
    run: &RunRow,
    (judges, similar): (&[JudgeRunner], &[SimilarityRunner]),
    mut on_progress: impl FnMut(&Progress),
) -> Result<RunOutcome, crate::error::Error> {
    let started = Instant::now();
    let rows = store.cases(&run.id).await?;
    let mut old: std::collections::HashMap<(String, i64), Vec<VerdictRow>> =
        std::collections::HashMap::new();
    for v in store.verdicts(&run.id).await? {
        old.entry((v.case_id.clone(), v.repeat_index))
            .or_default()
            .push(v);
    }
    let suite_judges: Vec<&str> = plan
        .suite
        .scorers
        .iter()
        .filter(|s| matches!(s.kind, crate::score::ScorerKind::Judge { .. }))
        .map(|s| s.name.as_str())
        .collect();
    let mut progress = Progress {
        planned: rows.len(),
        ..Progress::default()
    };
    let mut first_error = None;
    let mut first_error_kind = None;
    let mut records = Vec::new();
    for row in rows {
        let Some(output) = row.output.clone() else {
            progress.done += 1;
            progress.errors += 1;
            continue;
        };
        let mut finished = rejudge(&row, output, judges, &suite_judges, &mut old).await;
        if let Ok(reply) = &finished.result {
            finished.similar = similarity_scores(
                similar,
                &finished.case,
                finished.repeat,
                &reply.response.content,
            )
            .await;
        }
        let mut record = record(
            plan,
            &run.id,
            row.seq,
            finished,
            &mut first_error,
            &mut first_error_kind,
        );
        record.case.finished_at = row.finished_at.clone();
        tally(&mut progress, &record);
        records.push(record);
        if records.len() >= MAX_BATCH {
            store.replace_cases(&run.dataset_version, &records).await?;
            records.clear();
        }
        on_progress(&progress);
    }
    store.replace_cases(&run.dataset_version, &records).await?;
    let contract = plan
        .prompt
        .contract
        .as_ref()
        .and_then(|c| serde_json::to_string(c).ok());
    store
        .set_run_scorers(
            &run.id,
            &Value::Array(plan.scorer_names()).to_string(),
            contract.as_deref(),
        )
        .await?;
    Ok(RunOutcome {
        run_id: run.id.clone(),
        progress,
        stopped: None,
        first_error: first_error.map(|(_, m)| m),
        first_error_kind,
        elapsed_secs: started.elapsed().as_secs_f64(),
        held_back: None,
    })
}

/// A stored answer made a finished item again: graded by `judges` anew, with the stored
/// verdicts (taken from `old`) of the suite's other judges.
async fn rejudge(
    row: &CaseRow,
    output: String,
    judges: &[JudgeRunner],
    suite_judges: &[&str],
    old: &mut std::collections::HashMap<(String, i64), Vec<VerdictRow>>,
) -> Finished {
    let object =
        |text: &str| -> Map<String, Value> { serde_json::from_str(text).unwrap_or_default() };
    let case = Arc::new(Case {
        id: row.case_id.clone(),
        vars: object(&row.vars_json),
        expected: object(&row.expected_json),
        outcome: None,
        base_features: None,
        tags: serde_json::from_str(&row.tags_json).unwrap_or_default(),
        source: None,
    });
    let mut judged = Vec::new();
    for j in judges.iter().filter(|j| j.applies_to(&case)) {
        for vote in 0..j.votes.max(1) {
            judged.push(judge_output(j, &case, &output, vote).await);
        }
    }
    // The suite's other judges keep their stored verdicts.
    let carried: Vec<VerdictRow> = old
        .remove(&(row.case_id.clone(), row.repeat_index))
        .unwrap_or_default()
        .into_iter()
        .filter(|v| {
            suite_judges.contains(&v.scorer.as_str())
                && !judges
                    .iter()
                    .any(|j| j.scorer == v.scorer && j.judge.name == v.judge)
        })
        .collect();
    for v in &carried {
        judged.push(carried_vote(v));
    }
    Finished {
        case,
        repeat: row.repeat_index.max(0) as u32,
        request_hash: row.request_hash.clone(),
        result: Ok(stored_reply(row, output)),
        judged,
        similar: Similarity::default(),
        reserved: Reservation::default(),
    }
}

/// A stored verdict as the judge's vote again.
fn carried_vote(v: &VerdictRow) -> Judged {
    let verdict = match v.outcome {
        Outcome::Pass | Outcome::Fail => Ok(crate::judge::Verdict {
            outcome: v.outcome,
            score: v.score,
            reason: v.reason.clone().unwrap_or_default(),
        }),
        _ => Err(v.reason.clone().unwrap_or_default()),
    };
    Judged {
        scorer: v.scorer.clone(),
        judge: v.judge.clone(),
        vote: v.vote.max(0) as u32,
        judge_version: v.judge_version.clone(),
        judge_model: v.judge_model.clone(),
        verdict: Some(verdict),
        input_tokens: v.input_tokens.max(0) as u64,
        output_tokens: v.output_tokens.max(0) as u64,
        cost_usd: v.cost_usd,
        cache_hit: v.cache_hit == 1,
        attempts: v.attempts.max(0) as u32,
        cache: Vec::new(),
    }
}

/// A stored answer as the model's reply again, with what it used and cost.
fn stored_reply(row: &CaseRow, output: String) -> Reply {
    let response = crate::provider::ChatResponse {
        content: output,
        usage: crate::provider::Usage {
            input_tokens: row.input_tokens.max(0) as u64,
            cached_input_tokens: row.cached_input_tokens.max(0) as u64,
            output_tokens: row.output_tokens.max(0) as u64,
        },
        latency_ms: row.latency_ms.unwrap_or(0.0),
        ttft_ms: row.ttft_ms,
        finish_reason: None,
        logprobs: row
            .logprobs_json
            .as_deref()
            .and_then(|l| serde_json::from_str(l).ok()),
        body: Value::Null,
    };
    // A batch answer (no latency of its own) keeps its batch price.
    Reply {
        response,
        cache_hit: row.cache_hit == 1,
        attempts: row.attempts.max(0) as u32,
        cache_entry: None,
        batch: row.latency_ms.is_none(),
    }
}
