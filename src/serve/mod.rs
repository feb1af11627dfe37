//! `evalgate serve`: the HTTP API that production systems post feedback to.
//!
//! `POST /v1/interactions` and `POST /v1/feedback` take one event or an array of events;
//! `POST /v1/traces` takes OpenTelemetry traces (OTLP/HTTP, protobuf or JSON, gzip or not),
//! whose GenAI spans become interactions (`feedback::otlp`); `GET /healthz` says the server
//! is up. A request is acknowledged (200) only once its events
//! are committed: handlers hand their events to one writer (on a SQLite file a thread of its
//! own calling SQLite, else a task using sqlx), which commits whatever has queued up in one
//! transaction (group commit) and then answers each request. A graceful
//! shutdown stops accepting connections, lets the requests in flight finish and drains the
//! writer, so no acknowledged event is lost.

pub mod guard;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

use crate::feedback::Event;
use crate::feedback::otlp;
use crate::render::html::RenderError;
use crate::report::{ReviewAnswer, ReviewItem, RunListing};
use crate::store::{
    FeedbackWriter, FileFeedbackWriter, InteractionRow, NewEvents, RequestRows, SignalRow, Store,
};
use crate::workflow::review::{AnswerError, Record};

/// Default largest request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Most events in one request.
pub const MAX_EVENTS: usize = 10_000;
/// Most events committed in one transaction.
const GROUP: usize = 2_000;
/// The deepest nesting of a request body.
pub const MAX_JSON_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub struct Options {
    pub token: Option<String>,
    pub max_body_bytes: usize,
    /// Each judge's file text, shown as the rubric on the review page.
    pub rubrics: std::collections::BTreeMap<String, String>,
    /// Each dataset's golden file: a label of a `needs_label` case is written there.
    pub goldens: std::collections::BTreeMap<String, std::path::PathBuf>,
    /// The project's root: labels of judge verdicts are written into its `golden/reviews/`.
    pub project: Option<std::path::PathBuf>,
    /// Names a proxy may forward as `Host` (besides the listening address).
    pub allowed_hosts: Vec<String>,
    /// Cookies only over HTTPS (behind a proxy that terminates TLS).
    pub secure_cookies: bool,
}

/// Whether a server on `addr` must require a token: anything but loopback.
pub fn needs_token(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

struct Job {
    /// Shared with the request's handler, which lets go of it last: a request's
    /// allocations are made and freed on the handlers' threads, none on the one writer's.
    load: Arc<Load>,
    ack: oneshot::Sender<Result<Ack, Refused>>,
    /// The job is a whole request (counted in `Totals::requests`); a span of an OTLP
    /// request is a job of its own, and its request is counted by the handler.
    request: bool,
}

/// A job's events, and the rows that store them (made by the handler, off the writer's path).
struct Load {
    events: Vec<Event>,
    interactions: Vec<InteractionRow>,
    signals: Vec<SignalRow>,
}

/// A job's answer to come; it holds the job's events until then.
struct Pending {
    done: oneshot::Receiver<Result<Ack, Refused>>,
    _load: Arc<Load>,
}

impl Pending {
    async fn answer(self) -> Result<Result<Ack, Refused>, oneshot::error::RecvError> {
        self.done.await
    }
}

impl Job {
    /// A job of `events`, received now, and its answer to come.
    fn new(events: Vec<Event>, request: bool) -> (Job, Pending) {
        let (interactions, signals) = crate::feedback::rows(&events, &crate::runner::now());
        let load = Arc::new(Load {
            events,
            interactions,
            signals,
        });
        let (ack, done) = oneshot::channel();
        let pending = Pending {
            done,
            _load: load.clone(),
        };
        let job = Job { load, ack, request };
        (job, pending)
    }

    /// Answers the job's handler, after letting go of its events (so the handler frees them).
    fn answer(self, answer: Result<Ack, Refused>) {
        let Job { load, ack, .. } = self;
        drop(load);
        let _ = ack.send(answer);
    }
}

/// The rows of jobs' events, in one order for every writer (so that concurrent inserts
/// cannot deadlock on PostgreSQL).
fn rows_of(jobs: &[Job]) -> (Vec<InteractionRow>, Vec<SignalRow>) {
    let mut interactions: Vec<InteractionRow> = jobs
        .iter()
        .flat_map(|j| j.load.interactions.iter().cloned())
        .collect();
    let mut signals: Vec<SignalRow> = jobs
        .iter()
        .flat_map(|j| j.load.signals.iter().cloned())
        .collect();
    interactions.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    signals.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    (interactions, signals)
}

/// Why a request's events were not stored.
#[derive(Debug, Clone)]
enum Refused {
    /// The database said no (the message says why).
    Store(String),
    /// An event id was stored before with other content: nothing of the request is stored.
    Conflict(Vec<crate::feedback::Conflict>),
}

/// What a request's events became: newly stored, or already stored under their event id
/// (left as they were). The two add up to the events of the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ack {
    accepted: u64,
    duplicates: u64,
}

/// Splits what one transaction stored among the requests it held, in order: an event id new
/// to the database is counted for the first request that carried it.
fn acks(jobs: &[Job], mut new: NewEvents) -> Vec<Ack> {
    jobs.iter()
        .map(|job| {
            let mut ack = Ack::default();
            for e in &job.load.events {
                let fresh = match e {
                    Event::Interaction(i) => new.interactions.remove(&i.event_id),
                    Event::Signal(s) => new.signals.remove(&s.event_id),
                };
                if fresh {
                    ack.accepted += 1;
                } else {
                    ack.duplicates += 1;
                }
            }
            ack
        })
        .collect()
}

#[derive(Clone)]
struct AppState {
    /// For the pages (reads).
    store: Store,
    tx: mpsc::Sender<Job>,
    guard: Arc<guard::Guard>,
    max_body_bytes: usize,
    rubrics: Arc<std::collections::BTreeMap<String, String>>,
    goldens: Arc<std::collections::BTreeMap<String, std::path::PathBuf>>,
    project: Option<Arc<std::path::Path>>,
    spans: Arc<SpanTotals>,
}

/// What `POST /v1/traces` received, counted by its handler.
#[derive(Debug, Default)]
struct SpanTotals {
    /// Requests answered 200.
    requests: AtomicU64,
    spans: AtomicU64,
    ignored: AtomicU64,
    refused: AtomicU64,
}

/// What the server did, for its last message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub requests: u64,
    /// Events stored (rows added to the database).
    pub events: u64,
    /// Events whose id was stored already (sent again), left as they were.
    pub duplicates: u64,
    /// Events refused because their id was stored with other content.
    pub conflicts: u64,
    /// Spans received on `/v1/traces`.
    pub spans: u64,
    /// Of those, spans without GenAI attributes or that generate nothing.
    pub spans_ignored: u64,
    /// Of those, spans refused (unreadable, or an id stored before with other content).
    pub spans_refused: u64,
}

/// Serves until `shutdown` completes, then finishes the requests in flight and commits what
/// they queued.
pub async fn serve(
    store: Store,
    listener: tokio::net::TcpListener,
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Totals> {
    let (tx, rx) = mpsc::channel::<Job>(4096);
    let opened = |e: crate::store::StoreError| std::io::Error::other(store_message(&e));
    // Opening the file may wait for another process's lock: not on the async threads.
    let file_writer_of = store.clone();
    let file = tokio::task::spawn_blocking(move || file_writer_of.file_feedback_writer())
        .await
        .map_err(std::io::Error::other)?;
    let writer = match file.map_err(opened)? {
        Some(w) => tokio::task::spawn_blocking(move || file_writer(w, rx)),
        None => {
            let w = store.feedback_writer().await.map_err(opened)?;
            tokio::spawn(writer(store.clone(), w, rx))
        }
    };
    let guard = Arc::new(guard::Guard::new(
        opts.token.map(Arc::from),
        listener.local_addr()?,
        opts.allowed_hosts,
        opts.secure_cookies,
    ));
    let state = AppState {
        store: store.clone(),
        tx,
        guard: guard.clone(),
        max_body_bytes: opts.max_body_bytes,
        rubrics: Arc::new(opts.rubrics),
        goldens: Arc::new(opts.goldens),
        project: opts.project.map(Arc::from),
        spans: Arc::new(SpanTotals::default()),
    };
    let spans = state.spans.clone();
    let app = Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/v1/interactions", post(interactions))
        .route("/v1/feedback", post(feedback))
        .route("/v1/traces", post(traces))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/compare/{a}/{b}", get(compare_page))
        .route("/matrix", get(matrix_page))
        .route("/suites/{name}/history", get(history_page))
        .route("/review", get(review_index))
        .route("/review/{batch}", get(review_item))
        .route("/review/{batch}/{item}", post(review_answer))
        .route("/review/{batch}/{item}/answer", get(review_reveal))
        .route("/login", post(login))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint: POST /v1/interactions, POST /v1/feedback, POST /v1/traces, GET /healthz",
            )
        })
        .layer(DefaultBodyLimit::max(opts.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(guard, guard::protect))
        .with_state(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    // The router (and every sender) is gone: the writer drains the queue and stops.
    let mut totals = writer.await.unwrap_or_default();
    store.close().await;
    served?;
    totals.requests += spans.requests.load(Ordering::Relaxed);
    totals.spans = spans.spans.load(Ordering::Relaxed);
    totals.spans_ignored = spans.ignored.load(Ordering::Relaxed);
    totals.spans_refused = spans.refused.load(Ordering::Relaxed);
    Ok(totals)
}

/// The requests queued behind `first`, up to `GROUP` events: what one transaction commits.
fn group(first: Job, rx: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut n = first.load.events.len();
    let mut jobs = vec![first];
    while n < GROUP {
        match rx.try_recv() {
            Ok(job) => {
                n += job.load.events.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    jobs
}

/// The writer on a SQLite file: a thread of its own that calls SQLite itself (see
/// `store::FileFeedbackWriter`), each group of requests one transaction in which each
/// request is stored or refused whole. When the transaction fails, each request is tried
/// again in one of its own, so that one request's problem is not every request's; unless
/// another process held the database locked past the busy wait (30 s), which would hold
/// each request as long again: then the group is refused.
fn file_writer(mut w: FileFeedbackWriter, mut rx: mpsc::Receiver<Job>) -> Totals {
    let mut totals = Totals::default();
    while let Some(first) = rx.blocking_recv() {
        let jobs = group(first, &mut rx);
        let outcomes: Vec<Result<FileOutcome, String>> = match file_write(&mut w, &jobs) {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) if jobs.len() == 1 || e.is_busy() => {
                let why = store_message(&e);
                jobs.iter().map(|_| Err(why.clone())).collect()
            }
            Err(_) => {
                let mut busy: Option<String> = None;
                jobs.iter()
                    .map(|job| {
                        if let Some(why) = &busy {
                            return Err(why.clone());
                        }
                        match file_write(&mut w, std::slice::from_ref(job)) {
                            Ok(mut one) => one
                                .pop()
                                .ok_or_else(|| "the writer gave no answer".to_string()),
                            Err(e) => {
                                let why = store_message(&e);
                                if e.is_busy() {
                                    busy = Some(why.clone());
                                }
                                Err(why)
                            }
                        }
                    })
                    .collect()
            }
        };
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            file_answer(job, outcome, &mut totals);
        }
    }
    totals
}

type FileOutcome = Result<crate::store::Inserted, Vec<crate::store::Changed>>;

fn file_write(
    w: &mut FileFeedbackWriter,
    jobs: &[Job],
) -> Result<Vec<FileOutcome>, crate::store::StoreError> {
    let requests: Vec<RequestRows<'_>> = jobs
        .iter()
        .map(|job| RequestRows {
            interactions: &job.load.interactions,
            signals: &job.load.signals,
        })
        .collect();
    w.write(&requests)
}

/// Answers a job of the file writer with what became of it. A refused request's conflicts
/// are its events that differ from the body stored first under their id, in the order sent
/// (an event sent twice, twice), as the sqlx writer's `settle` gives them.
fn file_answer(job: Job, outcome: Result<FileOutcome, String>, totals: &mut Totals) {
    let answer = match outcome {
        Ok(Ok(new)) => {
            let accepted = new.interactions + new.signals;
            let ack = Ack {
                accepted,
                duplicates: job.load.events.len() as u64 - accepted,
            };
            totals.add(ack, job.request);
            Ok(ack)
        }
        Ok(Err(changed)) => {
            let stored: std::collections::HashMap<(bool, &str), &str> = changed
                .iter()
                .map(|c| ((c.interaction, c.event_id.as_str()), c.stored_body.as_str()))
                .collect();
            let conflicts: Vec<crate::feedback::Conflict> = job
                .load
                .events
                .iter()
                .filter_map(|e| {
                    let key = (matches!(e, Event::Interaction(_)), e.event_id());
                    let first = *stored.get(&key)?;
                    let body = serde_json::to_string(e).unwrap_or_default();
                    (body != first).then(|| crate::feedback::Conflict {
                        event_id: key.1.to_string(),
                        stored_sha256: crate::hash::sha256_hex(first.as_bytes()),
                    })
                })
                .collect();
            totals.conflicts += conflicts.len() as u64;
            Err(Refused::Conflict(conflicts))
        }
        Err(e) => Err(Refused::Store(e)),
    };
    job.answer(answer);
}

async fn writer(store: Store, mut w: FeedbackWriter, mut rx: mpsc::Receiver<Job>) -> Totals {
    let mut totals = Totals::default();
    while let Some(first) = rx.recv().await {
        let mut jobs = group(first, &mut rx);
        // The group in one transaction; an event re-sent under a stored id with other content
        // rolls it back, and the group is settled request by request.
        match insert_unless_changed(&mut w, &jobs).await {
            Ok(Some(new)) => deliver(jobs, new, &mut totals),
            Err(e) if jobs.len() == 1 => {
                jobs.remove(0).answer(Err(Refused::Store(e)));
            }
            Ok(None) | Err(_) => settle(&store, &mut w, jobs, &mut totals).await,
        }
    }
    w.close().await;
    totals
}

/// Stores a group of requests whose one transaction failed, or that sends an event under a
/// stored id with other content: a request with such an event is refused whole, before
/// anything is written (this writer is the server's only one, so no other request can slip
/// in between the check and the insert); the others are stored together, or each in its own
/// transaction if that fails, so that one request's problem is not every request's.
async fn settle(store: &Store, w: &mut FeedbackWriter, jobs: Vec<Job>, totals: &mut Totals) {
    let all: Vec<&Event> = jobs.iter().flat_map(|j| j.load.events.iter()).collect();
    let mut known = match crate::feedback::stored_bodies(store, all).await {
        Ok(k) => k,
        Err(e) => {
            let why = Refused::Store(e.to_string());
            for job in jobs {
                job.answer(Err(why.clone()));
            }
            return;
        }
    };
    let mut clear = Vec::with_capacity(jobs.len());
    for job in jobs {
        let events: Vec<&Event> = job.load.events.iter().collect();
        let conflicts = crate::feedback::take_conflicts(&events, &mut known);
        if conflicts.is_empty() {
            clear.push(job);
        } else {
            totals.conflicts += conflicts.len() as u64;
            job.answer(Err(Refused::Conflict(conflicts)));
        }
    }
    let jobs = clear;
    if jobs.is_empty() {
        return;
    }
    let result = insert(w, &jobs).await.map_err(Refused::Store);
    if result.is_ok() || jobs.len() == 1 {
        match result {
            Ok(new) => deliver(jobs, new, totals),
            Err(e) => {
                for job in jobs {
                    job.answer(Err(e.clone()));
                }
            }
        }
        return;
    }
    for job in jobs {
        let result = insert(w, std::slice::from_ref(&job))
            .await
            .map(|new| acks(std::slice::from_ref(&job), new)[0])
            .map_err(Refused::Store);
        if let Ok(ack) = result {
            totals.add(ack, job.request);
        }
        job.answer(result);
    }
}

/// Acknowledges the requests of a stored group, each with the events it added.
fn deliver(jobs: Vec<Job>, new: NewEvents, totals: &mut Totals) {
    let split = acks(&jobs, new);
    for (job, ack) in jobs.into_iter().zip(split) {
        totals.add(ack, job.request);
        job.answer(Ok(ack));
    }
}

impl Totals {
    fn add(&mut self, ack: Ack, request: bool) {
        self.requests += u64::from(request);
        self.events += ack.accepted;
        self.duplicates += ack.duplicates;
    }
}

async fn insert(w: &mut FeedbackWriter, jobs: &[Job]) -> Result<NewEvents, String> {
    let (i, s) = rows_of(jobs);
    w.insert_returning(&i, &s)
        .await
        .map_err(|e| store_message(&e))
}

/// Stores events in one transaction unless one is sent under a stored id with other content
/// (then nothing, and `None`).
async fn insert_unless_changed(
    w: &mut FeedbackWriter,
    jobs: &[Job],
) -> Result<Option<NewEvents>, String> {
    let (i, s) = rows_of(jobs);
    match w.insert_unless_changed(&i, &s).await {
        Ok(Ok(new)) => Ok(Some(new)),
        Ok(Err(_)) => Ok(None),
        Err(e) => Err(store_message(&e)),
    }
}

fn store_message(e: &crate::store::StoreError) -> String {
    let cause = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    format!("{e}{cause}")
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// A page of ours, with its Content-Security-Policy (its own inline scripts, by hash).
fn html(page: Result<String, RenderError>) -> Response {
    html_with(StatusCode::OK, page)
}

/// A page of ours answered with `status`; a page that cannot be drawn is a 500.
fn html_with(status: StatusCode, page: Result<String, RenderError>) -> Response {
    let body = match page {
        Ok(body) => body,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let policy = guard::page_policy(&body);
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_SECURITY_POLICY, policy),
        ],
        body,
    )
        .into_response()
}

fn store_error(e: crate::store::StoreError) -> Response {
    match e {
        crate::store::StoreError::RunNotFound(_)
        | crate::store::StoreError::AmbiguousRun { .. } => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        other => error(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
    }
}

// Pages: `guard::protect` let the request through (this server's host, and the token or a
// session when the server has a token). Links carry nothing: a session is a cookie.

async fn runs_page(State(state): State<AppState>) -> Response {
    let mut runs = match state.store.list_runs(None, 500).await {
        Ok(runs) => runs,
        Err(e) => return store_error(e),
    };
    if let Err(e) = crate::runner::show_dead(&state.store, &mut runs).await {
        return store_error(e);
    }
    let listed: Vec<crate::report::RunListing> = runs.iter().map(Into::into).collect();
    html(crate::render::html::render_runs(&listed, ""))
}

async fn run_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match crate::runfile::from_store(&state.store, &id).await {
        Ok(run) => html(crate::render::html::render_run(&run, &[])),
        Err(e) => store_error(e),
    }
}

async fn compare_page(
    State(state): State<AppState>,
    Path((a, b)): Path<(String, String)>,
) -> Response {
    let base = match crate::runfile::from_store(&state.store, &a).await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let cand = match crate::runfile::from_store(&state.store, &b).await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let c = crate::compare::compare(&base, &cand);
    html(crate::render::html::render_comparison(
        &base,
        &cand,
        &c,
        &[],
    ))
}

#[derive(serde::Deserialize)]
struct MatrixQuery {
    /// Stored run ids (or unique prefixes), comma-separated.
    runs: String,
}

/// The output matrix of stored runs: `/matrix?runs=A,B,…`. Only stored runs: an argument is
/// looked up as a run id, never read as a file.
async fn matrix_page(State(state): State<AppState>, Query(q): Query<MatrixQuery>) -> Response {
    let asked: Vec<&str> = q
        .runs
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    if !(2..=20).contains(&asked.len()) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "`runs` names 2 to 20 stored runs, comma-separated; got {}",
                asked.len()
            ),
        );
    }
    let mut ids = Vec::with_capacity(asked.len());
    for r in asked {
        match state.store.find_run(r).await {
            Ok(run) => ids.push(run.id.to_string()),
            Err(e) => return store_error(e),
        }
    }
    let (reports, streams) = match crate::workflow::matrix::open(&state.store, &ids).await {
        Ok(x) => x,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let built = crate::workflow::blocking(move || {
        let refs: Vec<&crate::report::RunReport> = reports.iter().collect();
        let m = crate::render::matrix::matrix_columns(&refs, streams)?;
        Ok((reports, m))
    })
    .await;
    match built {
        Ok((reports, m)) => html(crate::render::html::render_matrix(&reports, &m, true)),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn history_page(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let rows = match state.store.list_runs(Some(&name), 200).await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    if rows.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no stored run of suite `{name}`"),
        );
    }
    let mut runs = Vec::new();
    for r in &rows {
        match crate::runfile::from_store(&state.store, &r.id).await {
            Ok(run) => runs.push(run),
            Err(e) => return store_error(e),
        }
    }
    html(crate::render::html::render_history(
        &crate::history::history(&name, &runs),
        Some(""),
    ))
}

async fn review_index(State(state): State<AppState>) -> Response {
    let batches = match state.store.review_batches().await {
        Ok(b) => b,
        Err(e) => return store_error(e),
    };
    let stored = match state.store.reviewed().await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    // The labels in the project's files are the record (`review::file`), as for calibrate.
    let reviewed = match &state.project {
        Some(root) => match crate::review::file::reviewed(root, stored) {
            Ok(r) => r.pairs,
            Err(problems) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
        },
        None => stored,
    };
    html(crate::render::html::render_review_index(
        &batches,
        &crate::review::calibrate(&reviewed, None, None),
        "",
    ))
}

#[derive(Debug, serde::Deserialize)]
struct ItemQuery {
    item: Option<i64>,
}

async fn review_item(
    State(state): State<AppState>,
    Extension(csrf): Extension<guard::Csrf>,
    Path(batch): Path<String>,
    Query(q): Query<ItemQuery>,
) -> Response {
    item_page(&state, &batch, q.item, &csrf.0, None).await
}

/// The page of one item of a batch (`item`, else the first without a label), with a problem
/// of the last answer when there is one.
async fn item_page(
    state: &AppState,
    batch: &str,
    item: Option<i64>,
    csrf: &str,
    problem: Option<&str>,
) -> Response {
    let items = match state.store.review_items(batch).await {
        Ok(i) if !i.is_empty() => i,
        Ok(_) => return error(StatusCode::NOT_FOUND, format!("no review batch `{batch}`")),
        Err(e) => return store_error(e),
    };
    let labels = match state.store.review_labels(Some(batch)).await {
        Ok(l) => l,
        Err(e) => return store_error(e),
    };
    let position = match item {
        Some(n) => items.iter().position(|i| i.item == n),
        None => items
            .iter()
            .position(|i| !labels.iter().any(|l| l.item == i.item)),
    };
    let Some(position) = position else {
        return html(crate::render::html::render_review_reveal_done(
            batch,
            items.len(),
        ));
    };
    let item = &items[position];
    let run = match crate::runfile::from_store(&state.store, &item.run_id).await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let case = run
        .cases
        .iter()
        .find(|c| c.id == item.case_id && c.repeat == item.repeat_index);
    let null = Value::Null;
    let shown = crate::report::ReviewItem::from(item);
    let view = crate::render::html::ReviewView {
        batch,
        item: &shown,
        position,
        total: items.len(),
        labelled: labels.len(),
        vars: case.map_or(&null, |c| &c.vars),
        output: case
            .and_then(|c| c.output.as_deref())
            .unwrap_or("(no output)"),
        expected: case.map_or(&null, |c| &c.expected),
        rubric: state
            .rubrics
            .get(&item.judge)
            .map_or("(the judge's file is not in this project)", String::as_str),
        csrf,
        problem,
    };
    let page = crate::render::html::render_review_item(&view);
    if problem.is_some() {
        html_with(StatusCode::UNPROCESSABLE_ENTITY, page)
    } else {
        html(page)
    }
}

#[derive(Debug, serde::Deserialize)]
struct AnswerForm {
    verdict: String,
    reviewer: String,
    #[serde(default)]
    note: String,
    /// Must equal the `evalgate_csrf` cookie (see `guard`).
    #[serde(default)]
    csrf: String,
}

async fn review_answer(
    State(state): State<AppState>,
    Extension(csrf): Extension<guard::Csrf>,
    Path((batch, item)): Path<(String, i64)>,
    form: Result<axum::Form<AnswerForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a form with verdict and reviewer",
        );
    };
    if !guard::same_token(form.csrf.as_bytes(), csrf.0.as_bytes()) {
        return error(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is not this browser's: reload the page and answer again",
        );
    }
    let csrf = csrf.0.as_str();
    if !matches!(form.verdict.as_str(), "pass" | "fail" | "skip") {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "verdict is pass, fail or skip",
        );
    }
    if form.reviewer.trim().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "say who you are: the reviewer field is empty",
        );
    }
    let found = match state.store.review_items(&batch).await {
        Ok(items) => items.into_iter().find(|i| i.item == item),
        Err(e) => return store_error(e),
    };
    let Some(found) = found else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no item {item} in batch `{batch}`"),
        );
    };
    let answer = crate::workflow::review::Answer {
        verdict: form.verdict,
        note: Some(form.note.trim().to_string()).filter(|n| !n.is_empty()),
        reviewer: form.reviewer.trim().to_string(),
    };
    // A case that needs a label: the answer becomes its expected value in the golden file; a
    // label of a judge verdict goes into the project's labels file (the record, in git). The
    // database indexes either after (`workflow::review::save_answer`).
    let run;
    let record = if found.kind == "label" {
        run = match crate::runfile::from_store(&state.store, &found.run_id).await {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        let Some(path) = state.goldens.get(&run.run.dataset) else {
            let why = format!(
                "this server does not know the golden file of dataset `{}`: start `evalgate serve` in the project",
                run.run.dataset
            );
            return item_page(&state, &batch, Some(item), csrf, Some(&why)).await;
        };
        let case = run
            .cases
            .iter()
            .find(|c| c.id == found.case_id && c.repeat == found.repeat_index);
        Record::Golden { path, case }
    } else {
        let Some(root) = state.project.as_deref() else {
            let why = "this server does not know the project, so the label has no file to go to: start `evalgate serve` in the project";
            return item_page(&state, &batch, Some(item), csrf, Some(why)).await;
        };
        Record::LabelsFile { root }
    };
    match crate::workflow::review::save_answer(&state.store, &found, record, &answer).await {
        Ok(_) => {
            axum::response::Redirect::to(&format!("/review/{batch}/{item}/answer")).into_response()
        }
        Err(AnswerError::Store(e)) => store_error(e),
        Err(e) => item_page(&state, &batch, Some(item), csrf, Some(&e.message())).await,
    }
}

async fn review_reveal(
    State(state): State<AppState>,
    Path((batch, item)): Path<(String, i64)>,
) -> Response {
    let (items, labels) = match (
        state.store.review_items(&batch).await,
        state.store.review_labels(Some(&batch)).await,
    ) {
        (Ok(i), Ok(l)) => (i, l),
        (Err(e), _) | (_, Err(e)) => return store_error(e),
    };
    let Some(found) = items.iter().find(|i| i.item == item) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no item {item} in batch `{batch}`"),
        );
    };
    // The verdict is shown only once this item has a label.
    let Some(label) = labels.iter().find(|l| l.item == item) else {
        return axum::response::Redirect::to(&format!("/review/{batch}?item={item}"))
            .into_response();
    };
    let next = items
        .iter()
        .find(|i| !labels.iter().any(|l| l.item == i.item))
        .map(|i| i.item);
    html(crate::render::html::render_review_reveal(
        &batch,
        &found.into(),
        &label.into(),
        next,
        "",
    ))
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

/// The token, once, for a session cookie; then the page the login was for.
async fn login(
    State(state): State<AppState>,
    Extension(csrf): Extension<guard::Csrf>,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return error(StatusCode::BAD_REQUEST, "expected a form with the token");
    };
    // Only a path of this server (not `//elsewhere`).
    let next = if form.next.starts_with('/') && !form.next.starts_with("//") {
        form.next.clone()
    } else {
        "/runs".to_string()
    };
    if !guard::same_token(form.csrf.as_bytes(), csrf.0.as_bytes()) {
        let page = crate::render::html::render_login(
            &next,
            &csrf.0,
            Some("the form was not this browser's: try again"),
        );
        return html_with(StatusCode::FORBIDDEN, page);
    }
    match state.guard.login(form.token.trim()) {
        Some(cookie) => {
            let mut resp = axum::response::Redirect::to(&next).into_response();
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            resp
        }
        None => {
            let page = crate::render::html::render_login(
                &next,
                &csrf.0,
                Some("that token is not this server's"),
            );
            html_with(StatusCode::UNAUTHORIZED, page)
        }
    }
}

async fn interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    accept(state, headers, body, "interaction").await
}

async fn feedback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    accept(state, headers, body, "signal").await
}

async fn accept(
    state: AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    default_type: &str,
) -> Response {
    if let Some(refused) = unauthorized(&state, &headers) {
        return refused;
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is over the limit of {} bytes: send smaller batches",
                    state.max_body_bytes
                ),
            );
        }
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    if let Some(at) = crate::config::guard::json_too_deep(&body, MAX_JSON_DEPTH) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "the body nests more than {MAX_JSON_DEPTH} levels deep (at byte {at}): an event is a few levels of objects"
            ),
        );
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON: {e}"),
            );
        }
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    if items.is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "the batch is empty");
    }
    if items.len() > MAX_EVENTS {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} events in one request, over the limit of {MAX_EVENTS}",
                items.len()
            ),
        );
    }
    let mut events = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match Event::parse(item, Some(default_type)) {
            Ok(e) if default_type == "interaction" && !matches!(e, Event::Interaction(_)) => {
                problems.push(json!({"index": index, "reason": "this endpoint takes interactions; post signals to /v1/feedback"}));
            }
            Ok(e) => events.push(e),
            Err(reason) => problems.push(json!({"index": index, "reason": reason})),
        }
    }
    if !problems.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({
                "error": format!("{} of {} events are invalid; none was stored", problems.len(), problems.len() + events.len()),
                "errors": problems,
            })),
        )
            .into_response();
    }
    let (job, pending) = Job::new(events, true);
    if state.tx.send(job).await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    reply(pending.answer().await)
}

/// 401 when the server has a token and the request does not carry it.
fn unauthorized(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let token = state.guard.token()?;
    let given = guard::bearer(headers);
    if given.is_some_and(|g| guard::same_token(g.as_bytes(), token.as_bytes())) {
        return None;
    }
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token (`Authorization: Bearer …`)",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    Some(r)
}

/// The answer to a request once the writer has stored its events, refused them, or stopped.
fn reply(done: Result<Result<Ack, Refused>, oneshot::error::RecvError>) -> Response {
    match done {
        Ok(Ok(ack)) => (
            StatusCode::OK,
            axum::Json(json!({"accepted": ack.accepted, "duplicates": ack.duplicates})),
        )
            .into_response(),
        Ok(Err(Refused::Store(e))) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the events could not be stored, nothing was kept: {e}"),
        ),
        Ok(Err(Refused::Conflict(conflicts))) => (
            StatusCode::CONFLICT,
            axum::Json(json!({
                "error": format!(
                    "{} event{} of this request {} stored before under the same id with other content; nothing of the request was stored (an event is idempotent by its id: send a new id for a new event)",
                    conflicts.len(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    if conflicts.len() == 1 { "was" } else { "were" },
                ),
                "conflicts": conflicts,
            })),
        )
            .into_response(),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ),
    }
}

/// `POST /v1/traces`: an OTLP/HTTP trace export. Each GenAI span becomes an interaction (and
/// the signals its finish reasons give), stored through the writer as a job of its own, so a
/// span refused for its content does not refuse the others: the answer is an
/// `ExportTraceServiceResponse` whose `partial_success` counts them. The answer comes once
/// every accepted span is committed; errors are `google.rpc.Status` in the request's encoding.
async fn traces(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The guard lets only the two OTLP types through to this path.
    let Some(encoding) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(otlp::Encoding::from_content_type)
    else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            guard::OTLP_TYPES_MESSAGE,
        );
    };
    if let Some(refused) = unauthorized(&state, &headers) {
        return refused;
    }
    let mapped = match read_traces(&headers, body, encoding, state.max_body_bytes) {
        Ok(m) => m,
        Err(refused) => return *refused,
    };
    let stored = match store_spans(&state, mapped.interactions).await {
        Ok(s) => s,
        Err(why) => {
            let message = format!(
                "not every span could be stored: {why}; export them again (a span stored already is kept once)"
            );
            return otlp_answer(
                StatusCode::SERVICE_UNAVAILABLE,
                encoding,
                otlp::status(otlp::code::UNAVAILABLE, &message, encoding),
            );
        }
    };
    let mut refused = mapped.refused;
    refused.extend(stored.conflicts);
    let ignored = mapped.not_genai + mapped.not_generation;
    let totals = &state.spans;
    totals.requests.fetch_add(1, Ordering::Relaxed);
    totals.spans.fetch_add(mapped.spans, Ordering::Relaxed);
    totals.ignored.fetch_add(ignored, Ordering::Relaxed);
    totals
        .refused
        .fetch_add(refused.len() as u64, Ordering::Relaxed);
    let message = otlp::refusals(&refused, mapped.spans);
    let mut resp = otlp_answer(
        StatusCode::OK,
        encoding,
        otlp::response(refused.len() as u64, &message, encoding),
    );
    let summary = format!(
        "received={}; stored={}; duplicates={}; ignored={ignored}; refused={}",
        mapped.spans,
        stored.new,
        stored.duplicates,
        refused.len()
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&summary) {
        resp.headers_mut().insert(SPANS_HEADER, v);
    }
    resp
}

/// The spans of an export body: within the size limits (as sent and decompressed), gunzipped,
/// decoded and mapped; else the error answer (400, 413 or 415).
fn read_traces(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    encoding: otlp::Encoding,
    limit: usize,
) -> Result<otlp::Mapped, Box<Response>> {
    let fail = |status: StatusCode, code: i32, message: String| {
        Box::new(otlp_answer(
            status,
            encoding,
            otlp::status(code, &message, encoding),
        ))
    };
    let too_large = |what: &str| {
        fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            otlp::code::RESOURCE_EXHAUSTED,
            format!(
                "{what} is over the limit of {limit} bytes: export smaller batches (the batch span processor's `max_export_batch_size`) or start the server with a larger --max-body-bytes"
            ),
        )
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(too_large("the body"));
        }
        Err(rejection) => {
            return Err(fail(
                rejection.status(),
                otlp::code::INVALID_ARGUMENT,
                rejection.body_text(),
            ));
        }
    };
    let body = decoded(headers, body, limit).map_err(|e| match e {
        Undecodable::Coding(coding) => Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "`Content-Encoding: {coding}` is not supported: send the body as it is or gzip-compressed"
            ),
        )),
        Undecodable::TooLarge => too_large("the decompressed body"),
        Undecodable::Bad(why) => fail(StatusCode::BAD_REQUEST, otlp::code::INVALID_ARGUMENT, why),
    })?;
    if encoding == otlp::Encoding::Json
        && let Some(at) = crate::config::guard::json_too_deep(&body, MAX_JSON_DEPTH)
    {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            otlp::code::INVALID_ARGUMENT,
            format!("the body nests more than {MAX_JSON_DEPTH} levels deep (at byte {at})"),
        ));
    }
    let mapped = otlp::read(&body, encoding)
        .map_err(|why| fail(StatusCode::BAD_REQUEST, otlp::code::INVALID_ARGUMENT, why))?;
    if mapped.spans > MAX_EVENTS as u64 {
        return Err(fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            otlp::code::RESOURCE_EXHAUSTED,
            format!(
                "{} spans in one request, over the limit of {MAX_EVENTS}: export smaller batches",
                mapped.spans
            ),
        ));
    }
    Ok(mapped)
}

/// The header of a `/v1/traces` answer that says what became of the spans.
pub const SPANS_HEADER: &str = "x-evalgate-spans";

/// What the writer did with a request's spans.
#[derive(Default)]
struct StoredSpans {
    /// Spans whose interaction was new.
    new: u64,
    /// Spans stored before (an exporter's retry), left as they were.
    duplicates: u64,
    /// Spans refused: their interaction id was stored before with other content.
    conflicts: Vec<otlp::Refused>,
}

/// Hands each span's events to the writer as a job of its own and waits for all of them. An
/// error (the database failed, the server stops) means some span may not be stored.
async fn store_spans(
    state: &AppState,
    spans: Vec<otlp::SpanEvents>,
) -> Result<StoredSpans, String> {
    let mut waiting = Vec::with_capacity(spans.len());
    for span in spans {
        let (job, pending) = Job::new(span.events, false);
        if state.tx.send(job).await.is_err() {
            return Err("the server is shutting down".into());
        }
        waiting.push((span.interaction_id, pending));
    }
    let mut out = StoredSpans::default();
    let mut failure = None;
    for (id, pending) in waiting {
        match pending.answer().await {
            Ok(Ok(ack)) if ack.accepted > 0 => out.new += 1,
            Ok(Ok(_)) => out.duplicates += 1,
            Ok(Err(Refused::Conflict(conflicts))) => out.conflicts.push(otlp::Refused {
                span: id,
                reason: format!(
                    "its event `{}` was stored before with other content (stored sha256 {})",
                    conflicts.first().map_or("", |c| c.event_id.as_str()),
                    conflicts.first().map_or("", |c| c.stored_sha256.as_str())
                ),
            }),
            Ok(Err(Refused::Store(e))) => failure = Some(e),
            Err(_) => failure = Some("the server is shutting down".to_string()),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn otlp_answer(status: StatusCode, encoding: otlp::Encoding, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// Why a request body could not be decompressed.
enum Undecodable {
    /// A `Content-Encoding` other than gzip (or identity).
    Coding(String),
    /// Decompressed, it is over the body limit.
    TooLarge,
    Bad(String),
}

/// The body as sent, or gunzipped (`Content-Encoding: gzip`) to at most `limit` bytes: the
/// limit is on what is read, so a small compressed body cannot expand past it.
fn decoded(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, Undecodable> {
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .unwrap_or_default();
    match coding.as_str() {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Undecodable::Bad(format!("the body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(Undecodable::TooLarge);
            }
            Ok(Bytes::from(out))
        }
        other => Err(Undecodable::Coding(other.to_string())),
    }
}

// The views of stored rows the pages show.

impl From<&crate::store::RunRow> for RunListing {
    fn from(r: &crate::store::RunRow) -> Self {
        RunListing {
            id: r.id.clone(),
            started_at: r.started_at.clone(),
            suite: r.suite.clone(),
            model: r.model.clone(),
            prompt: r.prompt.clone(),
            prompt_version: r.prompt_version.clone(),
            status: r.status,
        }
    }
}

impl From<&crate::store::ReviewItemRow> for ReviewItem {
    fn from(r: &crate::store::ReviewItemRow) -> Self {
        ReviewItem {
            item: r.item,
            case_id: r.case_id.clone(),
            kind: r.kind.clone(),
            scorer: r.scorer.clone(),
            judge: r.judge.clone(),
            judge_outcome: r.judge_outcome.clone(),
            judge_reason: r.judge_reason.clone(),
        }
    }
}

impl From<&crate::store::ReviewLabelRow> for ReviewAnswer {
    fn from(r: &crate::store::ReviewLabelRow) -> Self {
        ReviewAnswer {
            verdict: r.verdict.clone(),
            note: r.note.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Ack, Event, Job, NewEvents, acks};

    fn job(ids: &[&str]) -> Job {
        let events = ids
            .iter()
            .map(|id| {
                Event::parse(
                    serde_json::json!({"event_id": id, "interaction_id": "i1", "timestamp": "2026-11-20T10:00:00Z", "kind": "explicit", "name": "thumbs_up"}),
                    Some("signal"),
                )
                .unwrap()
            })
            .collect();
        Job::new(events, true).0
    }

    /// The file writer's group of three requests, queued before it starts: the one the
    /// database refuses (a trigger) fails the group's transaction; each is then tried on its
    /// own, and only it is refused.
    #[test]
    fn a_group_the_database_refuses_is_tried_request_by_request() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = rt
            .block_on(crate::store::Store::open(None, dir.path()))
            .unwrap();
        rusqlite::Connection::open(store.sqlite_file().unwrap())
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON feedback_signals \
                 WHEN NEW.event_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom is refused'); END;",
            )
            .unwrap();
        let w = store.file_feedback_writer().unwrap().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let mut pending = Vec::new();
        for ids in [&["a1", "a2"][..], &["boom", "b1"], &["c1", "a1"]] {
            let events = job(ids).load.events.clone();
            let (job, answer) = Job::new(events, true);
            tx.try_send(job).ok().unwrap();
            pending.push(answer);
        }
        drop(tx);
        let totals = super::file_writer(w, rx);
        let mut answers: Vec<_> = pending
            .into_iter()
            .map(|p| rt.block_on(p.answer()).unwrap())
            .collect();
        assert_eq!(
            answers.remove(0).unwrap(),
            Ack {
                accepted: 2,
                duplicates: 0
            }
        );
        match answers.remove(0) {
            Err(super::Refused::Store(why)) => assert!(why.contains("boom is refused"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            answers.remove(0).unwrap(),
            Ack {
                accepted: 1,
                duplicates: 1
            }
        );
        assert_eq!(
            (totals.events, totals.duplicates, totals.requests),
            (3, 1, 2)
        );
        assert_eq!(rt.block_on(store.feedback_counts()).unwrap(), (0, 3));
        rt.block_on(store.close());
    }

    #[test]
    fn a_new_event_counts_for_the_first_request_that_carried_it() {
        // Two requests in one transaction both carry s2; s1 was stored before.
        let jobs = [job(&["s1", "s2"]), job(&["s2", "s3"])];
        let new = NewEvents {
            signals: ["s2", "s3"].iter().map(|s| s.to_string()).collect(),
            ..NewEvents::default()
        };
        assert_eq!(
            acks(&jobs, new),
            [
                Ack {
                    accepted: 1,
                    duplicates: 1
                },
                Ack {
                    accepted: 1,
                    duplicates: 1
                }
            ]
        );
    }
}
