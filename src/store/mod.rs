//! The store: runs, case results and scores in SQLite (default) or PostgreSQL.
//!
//! The only sqlx user. It speaks in row types (ids, numbers, JSON text); domain modules
//! convert at the boundary. Every query is one SQL text that both backends accept (`$N`
//! placeholders, `||` concatenation), run through sqlx's `Any` driver, and tested on both;
//! the one exception is `evalgate serve`'s writer of events on a SQLite file, which calls
//! SQLite through rusqlite on a thread of its own (`feedback_file.rs` says why).

mod embeddings;
mod feedback;
mod feedback_file;
mod lease;
mod review;
mod scorer_calls;

pub use embeddings::EmbeddingRow;
pub use lease::RunLease;
pub use scorer_calls::{ScorerCallRow, ScorerCallTotals};

pub use feedback::{Changed, FeedbackWriter, Inserted, InteractionRow, NewEvents, SignalRow};
pub use feedback_file::{FileFeedbackWriter, RequestRows};
pub use review::{ReviewItemRow, ReviewLabelRow};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, FromRow, Row};
use std::path::Path;

/// The result vocabulary (`status`) is stored as text: each word is written with `as_str` and
/// read back through `TryFrom<String>`, so a column holding a word this build does not know
/// is a decode error naming the word, not a silent default.
macro_rules! text_column {
    ($($ty:ty),+) => {$(
        impl sqlx::Type<sqlx::Any> for $ty {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <str as sqlx::Type<sqlx::Any>>::type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Any>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $ty {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                Ok(<$ty>::try_from(text)?)
            }
        }
    )+};
}

text_column!(Outcome, CaseStatus, RunStatus, CaseKind);

impl sqlx::Type<sqlx::Any> for RunId {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <str as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Any> for RunId {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&self.to_string(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for RunId {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(RunId::new(<String as sqlx::Decode<'r, sqlx::Any>>::decode(
            value,
        )?))
    }
}

pub use crate::id::RunId;

pub use crate::status::{CaseKind, CaseStatus, Outcome, RunStatus};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database `{url}`")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot open the database `{url}`")]
    OpenFile {
        url: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database query failed")]
    File(#[from] rusqlite::Error),
    #[error("cannot migrate the database")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    #[error("cannot create `{path}`")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no run matches `{0}`")]
    RunNotFound(String),
    #[error("run {0} is being run by another evalgate process (it holds the run's lease)")]
    RunBusy(String),
    #[error("database URL `{0}` is neither SQLite (`sqlite:…`) nor PostgreSQL (`postgres:…`)")]
    UnsupportedUrl(String),
    #[error("`{prefix}` matches several runs: {}", .candidates.join(", "))]
    AmbiguousRun {
        prefix: String,
        candidates: Vec<String>,
    },
}

/// A timing of an answer, as `case_results` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    Latency,
    /// Time to first token.
    Ttft,
}

impl Timing {
    fn column(self) -> &'static str {
        match self {
            Timing::Latency => "latency_ms",
            Timing::Ttft => "ttft_ms",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL the pool connects with (with its credentials: never shown).
    url: String,
    /// The URL without credentials, for messages.
    pub display_url: String,
    /// The database file, on SQLite.
    file: Option<std::path::PathBuf>,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct RunRow {
    pub id: RunId,
    pub suite: String,
    pub model: String,
    pub model_api_name: String,
    pub provider: String,
    pub provider_kind: String,
    pub prompt: String,
    pub prompt_version: String,
    pub dataset: String,
    pub dataset_version: String,
    pub status: RunStatus,
    pub planned_cases: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub price_json: String,
    pub scorers_json: String,
    pub contract_json: Option<String>,
    /// `--limit` of the run, so that a resume runs the same cases.
    pub case_limit: Option<i64>,
    /// `--repeat` of the run.
    pub repeats: i64,
    /// Why a run stopped early (`interrupted`, `budget`, `killed`…).
    pub stop_reason: Option<String>,
    /// The provider's batch id, for a run through a Batch API.
    pub batch_id: Option<String>,
    /// The prompt's messages and params as run (absent for runs stored before it was kept).
    #[serde(default)]
    pub prompt_source: Option<String>,
    /// The run's case selection (`plan::Selection` as JSON) when not the whole dataset.
    #[serde(default)]
    pub selection_json: Option<String>,
    /// The project's git commit when the run started (`-dirty` with local changes).
    #[serde(default)]
    pub git_commit: Option<String>,
    /// What decides the run's verdict, part by part (`plan::Fingerprint` as JSON): `gate`
    /// runs a suite again when any part differs from its baseline's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_json: Option<String>,
}

/// A golden case as stored with a dataset version (its inputs and expected values, as JSON).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GoldenRow {
    pub case_id: String,
    pub vars_json: String,
    pub expected_json: String,
    pub tags_json: String,
}

/// One case result as stored.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct CaseRow {
    pub run_id: RunId,
    pub case_id: String,
    pub repeat_index: i64,
    pub seq: i64,
    pub status: CaseStatus,
    /// Why the case did not pass (none for a pass).
    pub kind: Option<CaseKind>,
    pub message: Option<String>,
    pub request_hash: Option<String>,
    pub vars_json: String,
    pub expected_json: String,
    pub tags_json: String,
    pub output: Option<String>,
    pub parsed_json: Option<String>,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub latency_ms: Option<f64>,
    pub finished_at: String,
    /// 1 when the answer came from the response cache (nothing was paid).
    pub cache_hit: i64,
    /// HTTP attempts made for this case.
    pub attempts: i64,
    pub ttft_ms: Option<f64>,
    /// The answer tokens' log-probabilities (`provider::TokenLogprob` as JSON), when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs_json: Option<String>,
}

/// One entry of the response cache: an answer as opaque JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheRow {
    pub key: String,
    pub provider_kind: String,
    pub model: String,
    pub response_json: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct ScoreRow {
    pub case_id: String,
    pub repeat_index: i64,
    pub scorer: String,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

const RUN_COLUMNS: &str = "id, suite, model, model_api_name, provider, provider_kind, prompt, prompt_version, dataset, dataset_version, status, planned_cases, started_at, finished_at, price_json, scorers_json, contract_json, case_limit, repeats, stop_reason, batch_id, prompt_source, selection_json, git_commit, fingerprint_json";

const CASE_COLUMNS: &str = "c.run_id, c.case_id, c.repeat_index, c.seq, c.status, c.kind, c.message, c.request_hash, \
    COALESCE(g.vars_json, '{}') AS vars_json, COALESCE(g.expected_json, '{}') AS expected_json, COALESCE(g.tags_json, '[]') AS tags_json, \
    c.output, c.parsed_json, c.input_tokens, c.cached_input_tokens, c.output_tokens, c.cost_usd, c.latency_ms, c.finished_at, c.cache_hit, c.attempts, c.ttft_ms, c.logprobs_json";

/// A PostgreSQL URL whose connections prepare each statement afresh. sqlx 0.8.6's `Any`
/// driver sends a NULL `f64` (a case without a latency, say) as a NULL *float4*; a statement
/// cached on the connection keeps that parameter type, and the next row with a latency
/// (8 bytes of float8) is refused with "incorrect binary data format". A statement prepared for
/// each execution declares the types of its own values, and PostgreSQL casts a NULL float4 into
/// a float8 column. Kept when the URL sets the capacity itself.
fn without_statement_cache(url: &str) -> String {
    if url.contains("statement-cache-capacity=") {
        return url.to_string();
    }
    let join = if url.contains('?') { '&' } else { '?' };
    format!("{url}{join}statement-cache-capacity=0")
}

/// Rows per multi-row INSERT: well under SQLite's and PostgreSQL's limits on bind parameters.
const ROWS_PER_INSERT: usize = 100;

/// The placeholders of a multi-row INSERT: `($1, $2, …), ($k, …)` on PostgreSQL, and plain
/// `(?, ?, …)` on SQLite, where numbered parameters are looked up by name, one linear scan per
/// parameter (quadratic in a statement of a thousand parameters).
fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    placeholders_after(backend, 0, rows, cols)
}

/// `placeholders` of a statement with `before` parameters ahead of these (PostgreSQL numbers
/// them from `before + 1`).
fn placeholders_after(backend: Backend, before: usize, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            match backend {
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&(before + r * cols + c + 1).to_string());
                }
                Backend::Sqlite => out.push('?'),
            }
        }
        out.push(')');
    }
    out
}

/// Deletes the stored results, scores, verdicts and scorer calls of these cases, to write them
/// anew.
async fn delete_cases(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    records: &[Record],
) -> Result<(), StoreError> {
    for r in records {
        for table in ["case_results", "scores", "verdicts", "scorer_calls"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE run_id = $1 AND case_id = $2 AND repeat_index = $3"
            ))
            .bind(&r.case.run_id)
            .bind(&r.case.case_id)
            .bind(r.case.repeat_index)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// One finished case with what goes with it: its scores, its judges' verdicts, its other
/// scorers' paid calls (embeddings) and the fresh answers to cache (the target's and the
/// judges'). Serialized as a line of a run's log (`runlog`) until the store has it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub case: CaseRow,
    pub scores: Vec<ScoreRow>,
    pub verdicts: Vec<VerdictRow>,
    pub cache: Vec<CacheRow>,
    /// Absent from the lines of logs written before scorer calls were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scorer_calls: Vec<ScorerCallRow>,
}

/// A judge's verdict on one case result.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct VerdictRow {
    pub case_id: String,
    pub repeat_index: i64,
    pub scorer: String,
    pub judge: String,
    /// Which ask of this judge (a scorer may ask a judge several times).
    pub vote: i64,
    pub judge_version: String,
    pub judge_model: String,
    /// `Error`: the verdict could not be read (never a pass).
    pub outcome: Outcome,
    /// The judge's score, on a score scale (integers or real numbers).
    pub score: Option<f64>,
    /// The judge's reason, or what went wrong.
    pub reason: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub cache_hit: i64,
    pub attempts: i64,
}

/// A pairwise judge's verdict on one case of two runs, in one order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct PairwiseVerdictRow {
    pub base_run: String,
    pub candidate_run: String,
    pub case_id: String,
    pub judge: String,
    pub judge_version: String,
    pub judge_model: String,
    /// 0: the base's answer was shown as A; 1: the candidate's.
    pub candidate_first: i64,
    /// `A`, `B` or `tie`; `None` on a judge error.
    pub winner: Option<String>,
    pub reason: Option<String>,
}

/// A judge's totals over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictTotals {
    pub scorer: String,
    pub judge: String,
    pub judge_version: String,
    pub judge_model: String,
    pub pass: i64,
    pub fail: i64,
    pub error: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub cache_hits: i64,
}

fn run_from_row(r: &sqlx::any::AnyRow) -> Result<RunRow, sqlx::Error> {
    RunRow::from_row(r)
}

fn case_from_row(r: &sqlx::any::AnyRow) -> Result<CaseRow, sqlx::Error> {
    let mut case = CaseRow::from_row(r)?;
    if case.parsed_json.as_deref() == Some(PARSED_IS_OUTPUT) {
        case.parsed_json = case
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
            .map(|v| v.to_string());
    }
    Ok(case)
}

/// What `case_results.parsed_json` holds when the parsed output is the output itself, read as
/// JSON (most structured answers), so that the answer is not stored twice. Reading a case
/// gives the parsed output back as it was written (serde_json's serialization of the value).
const PARSED_IS_OUTPUT: &str = "=";

/// The parsed output as stored: `PARSED_IS_OUTPUT` when reading the output as JSON gives the
/// parsed output back to the byte (what `case_from_row` does).
fn stored_parsed<'a>(output: Option<&str>, parsed: Option<&'a str>) -> Option<&'a str> {
    let parsed = parsed?;
    let same = output
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        // Text against text (a `Value` compared with a `&str` would be a JSON string).
        .is_some_and(|v| serde_json::to_string(&v).is_ok_and(|text| text == parsed));
    Some(if same { PARSED_IS_OUTPUT } else { parsed })
}

/// A connection of `Store::reader`.
enum Reader {
    Own(sqlx::AnyConnection),
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl std::ops::Deref for Reader {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        match self {
            Reader::Own(c) => c,
            Reader::Pooled(c) => c,
        }
    }
}

impl std::ops::DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Reader::Own(c) => c,
            Reader::Pooled(c) => c,
        }
    }
}

/// The settings of every SQLite connection, with its journal mode (see `Store::open`), or
/// the file's as it is.
async fn sqlite_settings(
    conn: &mut sqlx::AnyConnection,
    journal: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA busy_timeout = 30000")
        .execute(&mut *conn)
        .await?;
    if let Some(journal) = journal {
        // Not an error when it cannot switch (see `Store::open`): the file works either way.
        sqlx::query(&format!("PRAGMA journal_mode = {journal}"))
            .execute(&mut *conn)
            .await
            .ok();
    }
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA cache_size = -8000")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl StoreError {
    /// The database was locked by another connection past the busy timeout: trying again at
    /// once would wait as long again.
    pub fn is_busy(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match self {
            StoreError::File(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.code, DatabaseBusy | DatabaseLocked)
            }
            _ => false,
        }
    }
}

/// The file of a SQLite URL (`sqlite://path?mode=rwc`, `sqlite:path`), unless in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

/// The file sqlx's `Any` driver opens for a SQLite URL, found as it finds it (the URL parsed,
/// which drops `.` and `..` segments, then read as SQLite options, which decode `%`-escapes),
/// so that another library opens the same one; `None` when the URL has an option other than
/// `mode=rw` or `mode=rwc` (read only, in memory, shared cache…).
fn sqlx_sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    sqlite_file(url)?; // not in memory
    let options = url.split_once('?').map_or("", |(_, o)| o);
    if !options
        .split('&')
        .all(|o| matches!(o, "" | "mode=rw" | "mode=rwc"))
    {
        return None;
    }
    let any: sqlx::any::AnyConnectOptions = url.parse().ok()?;
    let sqlite: sqlx::sqlite::SqliteConnectOptions = any.database_url.as_str().parse().ok()?;
    let file = sqlite.get_filename();
    (!file.as_os_str().is_empty() && file != Path::new(":memory:")).then(|| file.to_path_buf())
}

fn redact(url: &str) -> String {
    // A password in the query string (`?password=…`) is hidden too.
    let url = &match url.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => url.to_string(),
    };
    // postgres://user:secret@host/db → postgres://user:***@host/db
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Opens the database named by `url`, or the project's default SQLite file
    /// (`.evalgate/evalgate.db`), and applies pending migrations.
    pub async fn open(url: Option<&str>, project_root: &Path) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = match url {
            Some(u) => u.to_string(),
            None => {
                let dir = project_root.join(".evalgate");
                std::fs::create_dir_all(&dir).map_err(|source| StoreError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
                format!("sqlite://{}?mode=rwc", dir.join("evalgate.db").display())
            }
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::UnsupportedUrl(redact(&url)));
        };
        let display_url = redact(&url);
        let url = match backend {
            Backend::Postgres => without_statement_cache(&url),
            Backend::Sqlite => url,
        };
        let mut options =
            AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 1 } else { 8 });
        if backend == Backend::Sqlite {
            // A rollback journal rather than the write-ahead log: a run commits hundreds of
            // cases at a time (each is in its log at once, see `runlog`), and for appended rows
            // a rollback journal writes a page once where the log writes it twice (into the
            // log, then at the checkpoint); measured by bench/sqlite-writes.py. Each commit is
            // synced fully (synchronous=FULL: with a rollback journal NORMAL could let a power
            // loss corrupt the file; at a commit a second it costs nothing measurable). A
            // commit waits for the statements being read to end, and readers wait while it
            // writes (milliseconds), each for at most `busy_timeout`; a run tries a failed
            // transaction again (its cases are in its log meanwhile). Leaving WAL needs the
            // only connection: while another process (an older evalgate) holds the file in
            // WAL, it stays so. `evalgate serve`'s writer of feedback events puts the file in
            // WAL (see `Store::feedback_writer`): there, small commits come many a second.
            // The page cache (8 MB) holds a whole transaction of a run: a rollback journal
            // that spills dirty pages mid-transaction must sync the journal each time.
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move { sqlite_settings(conn, Some("TRUNCATE")).await })
            });
        }
        if backend == Backend::Postgres {
            // One connection first: a server that refuses it says why at once, where the
            // pool would keep trying until its acquire timeout (30 s) and say only that.
            use sqlx::Connection;
            let conn =
                sqlx::AnyConnection::connect(&url)
                    .await
                    .map_err(|source| StoreError::Open {
                        url: display_url.clone(),
                        source,
                    })?;
            conn.close().await.ok();
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Open {
                url: display_url.clone(),
                source,
            })?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            url: url.clone(),
            display_url,
            file: (backend == Backend::Sqlite)
                .then(|| sqlite_file(&url))
                .flatten(),
        })
    }

    /// The database file, on SQLite (not for an in-memory database).
    pub fn sqlite_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A connection outside the pool, to the same database (with the SQLite settings, and
    /// `journal` as the file's journal mode when given).
    async fn own_connection(
        &self,
        journal: Option<&str>,
    ) -> Result<sqlx::AnyConnection, StoreError> {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .map_err(|source| StoreError::Open {
                url: self.display_url.clone(),
                source,
            })?;
        if self.backend == Backend::Sqlite {
            sqlite_settings(&mut conn, journal).await?;
        }
        Ok(conn)
    }

    /// A connection for one long read: on a SQLite file one of its own (the pool has one
    /// connection), else one of the pool's.
    async fn reader(&self) -> Result<Reader, StoreError> {
        if self.backend == Backend::Postgres || self.file.is_none() {
            return Ok(Reader::Pooled(self.pool.acquire().await?));
        }
        let mut conn = self.own_connection(None).await?;
        // It reads in one pass: a small page cache (each connection's would grow to 8 MB).
        sqlx::query("PRAGMA cache_size = -1000")
            .execute(&mut conn)
            .await?;
        Ok(Reader::Own(conn))
    }

    pub async fn create_run(&self, run: &RunRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (id, suite, model, model_api_name, provider, provider_kind, prompt, prompt_version, dataset, dataset_version, status, planned_cases, started_at, finished_at, price_json, scorers_json, contract_json, case_limit, repeats, stop_reason, batch_id, prompt_source, selection_json, git_commit, fingerprint_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
        )
        .bind(&run.id)
        .bind(&run.suite)
        .bind(&run.model)
        .bind(&run.model_api_name)
        .bind(&run.provider)
        .bind(&run.provider_kind)
        .bind(&run.prompt)
        .bind(&run.prompt_version)
        .bind(&run.dataset)
        .bind(&run.dataset_version)
        .bind(run.status)
        .bind(run.planned_cases)
        .bind(&run.started_at)
        .bind(&run.finished_at)
        .bind(&run.price_json)
        .bind(&run.scorers_json)
        .bind(&run.contract_json)
        .bind(run.case_limit)
        .bind(run.repeats)
        .bind(&run.stop_reason)
        .bind(&run.batch_id)
        .bind(&run.prompt_source)
        .bind(&run.selection_json)
        .bind(&run.git_commit)
        .bind(&run.fingerprint_json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Commits one finished case (see `insert_cases`).
    pub async fn insert_case(
        &self,
        dataset_version: &str,
        case: &CaseRow,
        scores: &[ScoreRow],
        cache: Option<&CacheRow>,
    ) -> Result<(), StoreError> {
        let record = Record {
            case: case.clone(),
            scores: scores.to_vec(),
            verdicts: Vec::new(),
            cache: cache.into_iter().cloned().collect(),
            scorer_calls: Vec::new(),
        };
        self.insert_cases(dataset_version, std::slice::from_ref(&record))
            .await
    }

    /// Commits finished cases with their scores, verdicts, scorer calls and the fresh answers
    /// for the response cache in one transaction: a crash keeps all of them or none. The golden inputs of each case
    /// are stored once per dataset version.
    pub async fn insert_cases(
        &self,
        dataset_version: &str,
        records: &[Record],
    ) -> Result<(), StoreError> {
        self.write_cases(dataset_version, records, false).await
    }

    /// Replaces stored case results (a re-score) in one transaction: the old result, its
    /// scores and its verdicts go, the new ones come; a crash keeps one or the other.
    pub async fn replace_cases(
        &self,
        dataset_version: &str,
        records: &[Record],
    ) -> Result<(), StoreError> {
        self.write_cases(dataset_version, records, true).await
    }

    /// Stores the golden cases a run is about to use, before its first result: in
    /// transactions of a few thousand rows, so that they are written once rather than in
    /// every small commit of results (where each commit rewrites the table's last pages).
    /// Cases already stored for this dataset version are left as they are.
    pub async fn insert_golden(
        &self,
        dataset_version: &str,
        cases: &[GoldenRow],
    ) -> Result<(), StoreError> {
        for part in cases.chunks(ROWS_PER_INSERT * 50) {
            let mut tx = self.pool.begin().await?;
            for chunk in part.chunks(ROWS_PER_INSERT) {
                let rows = chunk.iter().map(|g| {
                    (
                        g.case_id.as_str(),
                        g.vars_json.as_str(),
                        g.expected_json.as_str(),
                        g.tags_json.as_str(),
                    )
                });
                self.golden_rows(&mut tx, dataset_version, rows).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Inserts (case id, vars, expected, tags) rows of a dataset version, at most
    /// `ROWS_PER_INSERT` of them, keeping rows already there.
    async fn golden_rows<'a>(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        dataset_version: &str,
        rows: impl ExactSizeIterator<Item = (&'a str, &'a str, &'a str, &'a str)>,
    ) -> Result<(), StoreError> {
        if rows.len() == 0 {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO golden_cases (dataset_version, case_id, vars_json, expected_json, tags_json) VALUES {} ON CONFLICT DO NOTHING",
            placeholders(self.backend, rows.len(), 5)
        );
        let mut q = sqlx::query(&sql);
        for (case_id, vars, expected, tags) in rows {
            q = q
                .bind(dataset_version)
                .bind(case_id)
                .bind(vars)
                .bind(expected)
                .bind(tags);
        }
        q.execute(&mut **tx).await?;
        Ok(())
    }

    /// Writes the rows of finished cases in one transaction, first deleting those of the same
    /// cases when `replace`.
    async fn write_cases(
        &self,
        dataset_version: &str,
        records: &[Record],
        replace: bool,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        if replace {
            delete_cases(&mut tx, records).await?;
        }
        for chunk in records.chunks(ROWS_PER_INSERT) {
            // A no-op for a run, which stored its cases when it began (`insert_golden`).
            let golden = chunk.iter().map(|r| {
                let c = &r.case;
                (
                    c.case_id.as_str(),
                    c.vars_json.as_str(),
                    c.expected_json.as_str(),
                    c.tags_json.as_str(),
                )
            });
            self.golden_rows(&mut tx, dataset_version, golden).await?;
            self.case_result_rows(&mut tx, chunk).await?;
            self.score_rows(&mut tx, chunk).await?;
            self.verdict_rows(&mut tx, chunk).await?;
            self.scorer_call_rows(&mut tx, chunk).await?;
            self.cache_rows(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Inserts the `case_results` rows of at most `ROWS_PER_INSERT` cases.
    async fn case_result_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[Record],
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO case_results (run_id, case_id, repeat_index, seq, status, kind, message, request_hash, output, parsed_json, input_tokens, cached_input_tokens, output_tokens, cost_usd, latency_ms, ttft_ms, cache_hit, attempts, finished_at, logprobs_json) VALUES {}",
            placeholders(self.backend, chunk.len(), 20)
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            let c = &r.case;
            q = q
                .bind(&c.run_id)
                .bind(&c.case_id)
                .bind(c.repeat_index)
                .bind(c.seq)
                .bind(c.status)
                .bind(c.kind)
                .bind(&c.message)
                .bind(&c.request_hash)
                .bind(&c.output)
                .bind(stored_parsed(c.output.as_deref(), c.parsed_json.as_deref()))
                .bind(c.input_tokens)
                .bind(c.cached_input_tokens)
                .bind(c.output_tokens)
                .bind(c.cost_usd)
                .bind(c.latency_ms)
                .bind(c.ttft_ms)
                .bind(c.cache_hit)
                .bind(c.attempts)
                .bind(&c.finished_at)
                .bind(&c.logprobs_json);
        }
        q.execute(&mut **tx).await?;
        Ok(())
    }

    /// Inserts the `scores` rows of some cases.
    async fn score_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[Record],
    ) -> Result<(), StoreError> {
        let scores: Vec<(&CaseRow, &ScoreRow)> = chunk
            .iter()
            .flat_map(|r| r.scores.iter().map(move |s| (&r.case, s)))
            .collect();
        for part in scores.chunks(ROWS_PER_INSERT * 4) {
            let sql = format!(
                "INSERT INTO scores (run_id, case_id, repeat_index, scorer, outcome, detail) VALUES {}",
                placeholders(self.backend, part.len(), 6)
            );
            let mut q = sqlx::query(&sql);
            for (c, s) in part {
                q = q
                    .bind(&c.run_id)
                    .bind(&s.case_id)
                    .bind(s.repeat_index)
                    .bind(&s.scorer)
                    .bind(s.outcome)
                    .bind(&s.detail);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Inserts the `verdicts` rows of some cases.
    async fn verdict_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[Record],
    ) -> Result<(), StoreError> {
        let verdicts: Vec<(&CaseRow, &VerdictRow)> = chunk
            .iter()
            .flat_map(|r| r.verdicts.iter().map(move |v| (&r.case, v)))
            .collect();
        for part in verdicts.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO verdicts (run_id, case_id, repeat_index, scorer, judge, vote, judge_version, judge_model, outcome, score, reason, input_tokens, output_tokens, cost_usd, cache_hit, attempts) VALUES {}",
                placeholders(self.backend, part.len(), 16)
            );
            let mut q = sqlx::query(&sql);
            for (c, v) in part {
                q = q
                    .bind(&c.run_id)
                    .bind(&v.case_id)
                    .bind(v.repeat_index)
                    .bind(&v.scorer)
                    .bind(&v.judge)
                    .bind(v.vote)
                    .bind(&v.judge_version)
                    .bind(&v.judge_model)
                    .bind(v.outcome)
                    .bind(v.score)
                    .bind(&v.reason)
                    .bind(v.input_tokens)
                    .bind(v.output_tokens)
                    .bind(v.cost_usd)
                    .bind(v.cache_hit)
                    .bind(v.attempts);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Inserts or refreshes the `response_cache` rows of the answers some cases fetched.
    async fn cache_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[Record],
    ) -> Result<(), StoreError> {
        // The last answer for a key wins (a refresh); keys are unique within a statement.
        let mut seen = std::collections::HashSet::new();
        let cached: Vec<(&CaseRow, &CacheRow)> = chunk
            .iter()
            .rev()
            .flat_map(|r| r.cache.iter().rev().map(move |c| (&r.case, c)))
            .filter(|(_, c)| seen.insert(c.key.as_str()))
            .collect();
        if !cached.is_empty() {
            let sql = format!(
                "INSERT INTO response_cache (cache_key, provider_kind, model, response_json, created_at) VALUES {} \
                 ON CONFLICT (cache_key) DO UPDATE SET response_json = excluded.response_json, created_at = excluded.created_at",
                placeholders(self.backend, cached.len(), 5)
            );
            let mut q = sqlx::query(&sql);
            for (case, c) in cached {
                q = q
                    .bind(&c.key)
                    .bind(&c.provider_kind)
                    .bind(&c.model)
                    .bind(&c.response_json)
                    .bind(&case.finished_at);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The cached answers of several request keys at once.
    pub async fn cache_get_many(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for chunk in keys.chunks(ROWS_PER_INSERT * 5) {
            let list: Vec<String> = (1..=chunk.len())
                .map(|i| match self.backend {
                    Backend::Postgres => format!("${i}"),
                    Backend::Sqlite => "?".to_string(),
                })
                .collect();
            let sql = format!(
                "SELECT cache_key, response_json FROM response_cache WHERE cache_key IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for k in chunk {
                q = q.bind(k);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(r.try_get("cache_key")?, r.try_get("response_json")?);
            }
        }
        Ok(out)
    }

    /// Stores fresh answers in the response cache (for callers outside a run's commits).
    pub async fn cache_put(
        &self,
        entries: &[CacheRow],
        created_at: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for c in entries {
            sqlx::query(
                "INSERT INTO response_cache (cache_key, provider_kind, model, response_json, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (cache_key) DO UPDATE SET response_json = excluded.response_json, created_at = excluded.created_at",
            )
            .bind(&c.key)
            .bind(&c.provider_kind)
            .bind(&c.model)
            .bind(&c.response_json)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a pairwise comparison's verdicts (a repeated comparison replaces them).
    pub async fn insert_pairwise(
        &self,
        rows: &[PairwiseVerdictRow],
        created_at: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO pairwise_verdicts (base_run, candidate_run, case_id, judge, judge_version, judge_model, candidate_first, winner, reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (base_run, candidate_run, case_id, judge_version, candidate_first) DO UPDATE SET winner = excluded.winner, reason = excluded.reason, created_at = excluded.created_at",
            )
            .bind(&r.base_run)
            .bind(&r.candidate_run)
            .bind(&r.case_id)
            .bind(&r.judge)
            .bind(&r.judge_version)
            .bind(&r.judge_model)
            .bind(r.candidate_first)
            .bind(&r.winner)
            .bind(&r.reason)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored pairwise verdicts of two runs, in case order.
    pub async fn pairwise_verdicts(
        &self,
        base_run: &str,
        candidate_run: &str,
    ) -> Result<Vec<PairwiseVerdictRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT base_run, candidate_run, case_id, judge, judge_version, judge_model, candidate_first, winner, reason FROM pairwise_verdicts \
             WHERE base_run = $1 AND candidate_run = $2 ORDER BY case_id, candidate_first",
        )
        .bind(base_run)
        .bind(candidate_run)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(PairwiseVerdictRow::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The cached answer of a request key, as stored.
    pub async fn cache_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT response_json FROM response_cache WHERE cache_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("response_json")?),
            None => None,
        })
    }

    /// How many cases of a run are stored, and their largest sequence number (−1 without
    /// any): what a resumed run goes on from.
    pub async fn finished_count(&self, run_id: &str) -> Result<(usize, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MAX(seq) AS max_seq FROM case_results WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        let max_seq: Option<i64> = row.try_get("max_seq")?;
        Ok((n.max(0) as usize, max_seq.unwrap_or(-1)))
    }

    /// Which of `keys` (case id, repeat) a run has stored, asked a chunk at a time: a resumed
    /// run skips them as its cases come, without holding every finished key.
    pub async fn finished_among(
        &self,
        run_id: &str,
        keys: &[(&str, i64)],
    ) -> Result<std::collections::HashSet<(String, i64)>, StoreError> {
        let mut ids: Vec<&str> = keys.iter().map(|k| k.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(ROWS_PER_INSERT * 5) {
            // `$1` is the run; SQLite numbers each `?` after it.
            let list: Vec<String> = (2..chunk.len() + 2)
                .map(|i| match self.backend {
                    Backend::Postgres => format!("${i}"),
                    Backend::Sqlite => "?".to_string(),
                })
                .collect();
            let sql = format!(
                "SELECT case_id, repeat_index FROM case_results WHERE run_id = $1 AND case_id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(run_id);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert((r.try_get("case_id")?, r.try_get("repeat_index")?));
            }
        }
        Ok(out)
    }

    /// Per status: how many cases of a run, and what they paid (cache hits cost nothing).
    pub async fn case_totals(
        &self,
        run_id: &str,
    ) -> Result<Vec<(CaseStatus, i64, f64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, SUM(CASE WHEN cache_hit = 0 THEN cost_usd ELSE 0 END) AS paid \
             FROM case_results WHERE run_id = $1 GROUP BY status",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("status")?,
                    r.try_get("n")?,
                    r.try_get::<Option<f64>, _>("paid")?.unwrap_or(0.0),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// What a run's judges were paid (their answers from the cache cost nothing).
    pub async fn judges_paid(&self, run_id: &str) -> Result<f64, StoreError> {
        let (paid,): (Option<f64>,) = sqlx::query_as(
            "SELECT SUM(CASE WHEN cache_hit = 0 THEN cost_usd ELSE 0 END) FROM verdicts WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(paid.unwrap_or(0.0))
    }

    /// The runs of this suite, model, prompt version and dataset version that did not
    /// finish, newest first: those of every shard and selection, and those still going in
    /// another process (the caller tells them apart).
    pub async fn unfinished_runs(
        &self,
        suite: &str,
        model: &str,
        prompt_version: &str,
        dataset_version: &str,
    ) -> Result<Vec<RunRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE suite = $1 AND model = $2 AND prompt_version = $3 AND dataset_version = $4 AND status <> 'finished' \
             ORDER BY started_at DESC, id"
        ))
        .bind(suite)
        .bind(model)
        .bind(prompt_version)
        .bind(dataset_version)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(run_from_row).collect::<Result<_, _>>()?)
    }

    /// Marks a run as running again (a resume).
    pub async fn reopen_run(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET status = 'running', finished_at = NULL, stop_reason = NULL WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Records the scorers (and contract) a run's results were last scored with.
    pub async fn set_run_scorers(
        &self,
        id: &str,
        scorers_json: &str,
        contract_json: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET scorers_json = $1, contract_json = $2 WHERE id = $3")
            .bind(scorers_json)
            .bind(contract_json)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_batch_id(&self, id: &str, batch_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET batch_id = $1 WHERE id = $2")
            .bind(batch_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a run: `finished`, or `stopped` with the reason.
    pub async fn finish_run(
        &self,
        id: &str,
        status: RunStatus,
        stop_reason: Option<&str>,
        finished_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET status = $1, stop_reason = $2, finished_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(stop_reason)
        .bind(finished_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The run whose id is `id_or_prefix` or starts with it (a unique prefix, like git).
    pub async fn find_run(&self, id_or_prefix: &str) -> Result<RunRow, StoreError> {
        // The prefix is text, not a pattern: `%` and `_` in it match only themselves.
        let mut pattern = String::with_capacity(id_or_prefix.len() + 1);
        for c in id_or_prefix.to_lowercase().chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let rows = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE $1 ESCAPE '\\' ORDER BY started_at DESC LIMIT 6"))
            .bind(pattern)
            .fetch_all(&self.pool)
            .await?;
        let mut runs = rows
            .iter()
            .map(run_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(exact) = runs.iter().position(|r| r.id == id_or_prefix) {
            return Ok(runs.swap_remove(exact));
        }
        match runs.len() {
            0 => Err(StoreError::RunNotFound(id_or_prefix.to_string())),
            1 => Ok(runs.remove(0)),
            _ => Err(StoreError::AmbiguousRun {
                prefix: id_or_prefix.to_string(),
                candidates: runs.into_iter().map(|r| r.id.into_string()).collect(),
            }),
        }
    }

    /// Runs, newest first, optionally of one suite.
    /// The runs of a prompt (any suite), oldest first.
    pub async fn runs_of_prompt(&self, prompt: &str) -> Result<Vec<RunRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE prompt = $1 ORDER BY started_at, id"
        ))
        .bind(prompt)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(run_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// The newest run of a prompt version given by a prefix of its hash, with the prompt's
    /// source as run (None when no stored run has it).
    pub async fn run_of_prompt_version(&self, prefix: &str) -> Result<Option<RunRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE prompt_version LIKE $1 || '%' AND prompt_source IS NOT NULL ORDER BY started_at DESC, id LIMIT 1"
        ))
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.first().map(run_from_row).transpose()?)
    }

    pub async fn list_runs(
        &self,
        suite: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, StoreError> {
        let rows = match suite {
            Some(s) => {
                sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE suite = $1 ORDER BY started_at DESC, id LIMIT $2"))
                    .bind(s)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id LIMIT $1"))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows
            .iter()
            .map(run_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// `column` sorted by its bytes, as Rust compares strings, whatever the database's
    /// collation: run files list cases in this order, and merging them relies on it.
    fn by_bytes(&self, column: &str) -> String {
        match self.backend {
            Backend::Sqlite => column.to_string(),
            Backend::Postgres => format!("{column} COLLATE \"C\""),
        }
    }

    fn scores_query(&self) -> String {
        format!(
            "SELECT case_id, repeat_index, scorer, outcome, detail FROM scores WHERE run_id = $1 \
             ORDER BY {}, repeat_index, {}",
            self.by_bytes("case_id"),
            self.by_bytes("scorer")
        )
    }

    fn cases_query(&self) -> String {
        format!(
            "SELECT {CASE_COLUMNS} FROM case_results c JOIN runs r ON r.id = c.run_id \
             LEFT JOIN golden_cases g ON g.dataset_version = r.dataset_version AND g.case_id = c.case_id \
             WHERE c.run_id = $1 ORDER BY {}, c.repeat_index",
            self.by_bytes("c.case_id")
        )
    }

    /// The case results of a run, in case id order, with their golden inputs.
    pub async fn cases(&self, run_id: &str) -> Result<Vec<CaseRow>, StoreError> {
        let rows = sqlx::query(&self.cases_query())
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(case_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Each case result of a run with its scores, in case id order (bytewise), sent to `tx`
    /// one at a time (an error ends the sending): `cases` and `scores` for a run too large to
    /// hold. One query (SQLite's pool has one connection), each case's scores gathered by a
    /// lookup of the scores' primary key into a JSON array; a closed `tx` stops.
    pub async fn each_case(
        &self,
        run_id: &str,
        tx: tokio::sync::mpsc::Sender<Result<(CaseRow, Vec<ScoreRow>), StoreError>>,
    ) {
        use futures::StreamExt;
        let scores = match self.backend {
            Backend::Sqlite => {
                "(SELECT json_group_array(json_array(s.scorer, s.outcome, s.detail)) FROM scores s \
                 WHERE s.run_id = c.run_id AND s.case_id = c.case_id AND s.repeat_index = c.repeat_index)"
            }
            Backend::Postgres => {
                "(SELECT CAST(json_agg(json_build_array(s.scorer, s.outcome, s.detail)) AS TEXT) FROM scores s \
                 WHERE s.run_id = c.run_id AND s.case_id = c.case_id AND s.repeat_index = c.repeat_index)"
            }
        };
        let query = format!(
            "SELECT {CASE_COLUMNS}, {scores} AS scores_json FROM case_results c JOIN runs r ON r.id = c.run_id \
             LEFT JOIN golden_cases g ON g.dataset_version = r.dataset_version AND g.case_id = c.case_id \
             WHERE c.run_id = $1 ORDER BY {}, c.repeat_index",
            self.by_bytes("c.case_id")
        );
        // On a SQLite file, a connection of its own: the pool's one connection stays free
        // for other queries (and other runs' cases: `compare` and `merge` read two or more at
        // once).
        let mut conn = match self.reader().await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let mut rows = sqlx::query(&query).bind(run_id).fetch(&mut *conn);
        while let Some(row) = rows.next().await {
            let next = row.map_err(StoreError::from).and_then(|row| {
                let case = case_from_row(&row)?;
                let json: Option<String> = row.try_get("scores_json")?;
                let mut scores: Vec<(String, Outcome, Option<String>)> =
                    serde_json::from_str(json.as_deref().unwrap_or("[]"))
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                // As `scores` orders them: by scorer, bytewise.
                scores.sort_by(|a, b| a.0.cmp(&b.0));
                let scores = scores
                    .into_iter()
                    .map(|(scorer, outcome, detail)| ScoreRow {
                        case_id: case.case_id.clone(),
                        repeat_index: case.repeat_index,
                        scorer,
                        outcome,
                        detail,
                    })
                    .collect();
                Ok((case, scores))
            });
            let failed = next.is_err();
            if tx.send(next).await.is_err() || failed {
                return;
            }
        }
    }

    /// The case results of a run as a stream, in case id order, with their expected values
    /// but without their inputs and with an empty output (what a summary needs).
    pub fn case_summaries<'a>(
        &'a self,
        run_id: &'a str,
    ) -> impl futures::Stream<Item = Result<CaseRow, StoreError>> + 'a {
        use futures::StreamExt;
        macro_rules! summaries {
            ($order:literal) => {
            concat!("SELECT c.run_id, c.case_id, c.repeat_index, c.seq, c.status, c.kind, c.message, c.request_hash, \
             '{}' AS vars_json, COALESCE(g.expected_json, '{}') AS expected_json, '[]' AS tags_json, \
             CASE WHEN c.output IS NULL THEN NULL WHEN c.parsed_json = '=' THEN c.output ELSE '' END AS output, c.parsed_json, c.input_tokens, c.cached_input_tokens, \
             c.output_tokens, c.cost_usd, c.latency_ms, c.finished_at, c.cache_hit, c.attempts, c.ttft_ms, CAST(NULL AS TEXT) AS logprobs_json \
             FROM case_results c JOIN runs r ON r.id = c.run_id \
             LEFT JOIN golden_cases g ON g.dataset_version = r.dataset_version AND g.case_id = c.case_id \
             WHERE c.run_id = $1 ORDER BY c.case_id", $order, ", c.repeat_index")
            };
        }
        // Bytewise on every backend, as `by_bytes` orders.
        let query = match self.backend {
            Backend::Sqlite => summaries!(""),
            Backend::Postgres => summaries!(" COLLATE \"C\""),
        };
        sqlx::query(query).bind(run_id).fetch(&self.pool).map(|r| {
            let mut case = case_from_row(&r?)?;
            // The output was read only to give the parsed output back.
            case.output = case.output.map(|_| String::new());
            Ok(case)
        })
    }

    /// How many answers of a run made in it (not from the cache) have a `timing`, and the
    /// largest.
    pub async fn timing_count_max(
        &self,
        run_id: &str,
        timing: Timing,
    ) -> Result<(u64, Option<f64>), StoreError> {
        let col = timing.column();
        let row = sqlx::query(&format!(
            "SELECT COUNT({col}) AS n, MAX({col}) AS top FROM case_results \
             WHERE run_id = $1 AND cache_hit = 0"
        ))
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok((n.max(0) as u64, row.try_get("top")?))
    }

    /// The `timing`s of a run's own answers at 0-based ranks `rank` and `rank + 1` in
    /// ascending order (fewer at the end): order statistics for exact percentiles without
    /// holding every value.
    pub async fn timings_at(
        &self,
        run_id: &str,
        timing: Timing,
        rank: u64,
    ) -> Result<Vec<f64>, StoreError> {
        let col = timing.column();
        let rows = sqlx::query(&format!(
            "SELECT {col} AS v FROM case_results WHERE run_id = $1 AND cache_hit = 0 \
             AND {col} IS NOT NULL ORDER BY {col} LIMIT 2 OFFSET {rank}"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("v"))
            .collect::<Result<Vec<f64>, _>>()?)
    }

    /// How many times each scorer passed, failed and skipped in a run: (scorer, outcome, n).
    pub async fn score_counts(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT scorer, outcome, COUNT(*) AS n FROM scores WHERE run_id = $1 GROUP BY scorer, outcome ORDER BY scorer, outcome")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("scorer")?, r.try_get("outcome")?, r.try_get("n")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Each judge's verdicts over a run, added up.
    pub async fn verdict_totals(&self, run_id: &str) -> Result<Vec<VerdictTotals>, StoreError> {
        let rows = sqlx::query(
            "SELECT scorer, judge, judge_version, judge_model, \
             CAST(SUM(CASE WHEN outcome = 'pass' THEN 1 ELSE 0 END) AS BIGINT) AS pass, \
             CAST(SUM(CASE WHEN outcome = 'fail' THEN 1 ELSE 0 END) AS BIGINT) AS fail, \
             CAST(SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS error, \
             CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
             SUM(cost_usd) AS cost_usd, CAST(SUM(cache_hit) AS BIGINT) AS cache_hits \
             FROM verdicts WHERE run_id = $1 GROUP BY scorer, judge, judge_version, judge_model ORDER BY scorer",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VerdictTotals {
                    scorer: r.try_get("scorer")?,
                    judge: r.try_get("judge")?,
                    judge_version: r.try_get("judge_version")?,
                    judge_model: r.try_get("judge_model")?,
                    pass: r.try_get("pass")?,
                    fail: r.try_get("fail")?,
                    error: r.try_get("error")?,
                    input_tokens: r.try_get("input_tokens")?,
                    output_tokens: r.try_get("output_tokens")?,
                    cost_usd: r.try_get::<Option<f64>, _>("cost_usd")?.unwrap_or(0.0),
                    cache_hits: r.try_get("cache_hits")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// For each scorer that asked more than one vote per case: the cases with at least two
    /// readable votes, and how many of them were unanimous. (scorer, cases, unanimous)
    pub async fn vote_agreement(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT scorer, CAST(COUNT(*) AS BIGINT) AS cases, CAST(SUM(CASE WHEN lo = hi THEN 1 ELSE 0 END) AS BIGINT) AS unanimous FROM \
             (SELECT scorer, case_id, repeat_index, MIN(outcome) AS lo, MAX(outcome) AS hi FROM verdicts \
              WHERE run_id = $1 AND outcome <> 'error' GROUP BY scorer, case_id, repeat_index HAVING COUNT(*) > 1) g \
             GROUP BY scorer ORDER BY scorer",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("scorer")?,
                    r.try_get("cases")?,
                    r.try_get("unanimous")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The reason of a judge's first error in a run (in case order), if it had one.
    pub async fn first_judge_error(
        &self,
        run_id: &str,
        scorer: &str,
        judge: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT reason FROM verdicts WHERE run_id = $1 AND scorer = $2 AND judge = $3 AND outcome = 'error' \
             ORDER BY case_id, repeat_index, vote LIMIT 1",
        )
        .bind(run_id)
        .bind(scorer)
        .bind(judge)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(r,)| r))
    }

    /// The verdicts of a run, in case id order.
    pub async fn verdicts(&self, run_id: &str) -> Result<Vec<VerdictRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, repeat_index, scorer, judge, vote, judge_version, judge_model, outcome, CAST(score AS DOUBLE PRECISION) AS score, reason, input_tokens, output_tokens, cost_usd, cache_hit, attempts \
             FROM verdicts WHERE run_id = $1 ORDER BY case_id, repeat_index, scorer, judge, vote",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(VerdictRow::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The scores of a run, in case id and scorer order.
    pub async fn scores(&self, run_id: &str) -> Result<Vec<ScoreRow>, StoreError> {
        let rows = sqlx::query(&self.scores_query())
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(ScoreRow::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Backend, PARSED_IS_OUTPUT, placeholders, placeholders_after, redact, sqlite_file,
        sqlx_sqlite_file, stored_parsed, without_statement_cache,
    };

    #[test]
    fn postgres_connections_prepare_each_statement_unless_told_otherwise() {
        assert_eq!(
            without_statement_cache("postgres://u@h/db"),
            "postgres://u@h/db?statement-cache-capacity=0"
        );
        assert_eq!(
            without_statement_cache("postgres://u@h/db?sslmode=require"),
            "postgres://u@h/db?sslmode=require&statement-cache-capacity=0"
        );
        let own = "postgres://u@h/db?statement-cache-capacity=100";
        assert_eq!(without_statement_cache(own), own);
    }

    #[test]
    fn the_file_of_a_sqlite_url() {
        let f = |u| sqlite_file(u).map(|p| p.display().to_string());
        assert_eq!(
            f("sqlite:///tmp/x/e.db?mode=rwc").as_deref(),
            Some("/tmp/x/e.db")
        );
        assert_eq!(
            f("sqlite://./.evalgate/e.db").as_deref(),
            Some("./.evalgate/e.db")
        );
        assert_eq!(f("sqlite:data.db").as_deref(), Some("data.db"));
        assert_eq!(f("sqlite::memory:"), None);
        assert_eq!(f("sqlite://:memory:?cache=shared"), None);
        // The file sqlx opens: what the feedback writer opens too.
        let g = |u: &str| sqlx_sqlite_file(u).map(|p| p.display().to_string());
        for (url, file) in [
            ("sqlite:///tmp/x/e.db?mode=rwc", "/tmp/x/e.db"),
            ("sqlite://./.evalgate/e.db", "./.evalgate/e.db"),
            ("sqlite:e.db?mode=rw", "e.db"),
            ("sqlite:///tmp/my%20db.db", "/tmp/my db.db"),
            ("sqlite://./../e.db", "./e.db"),
            ("sqlite:///tmp/a/../e.db", "/tmp/e.db"),
        ] {
            assert_eq!(g(url).as_deref(), Some(file), "{url}");
        }
        for other in [
            "sqlite://e.db?mode=ro",
            "sqlite://e.db?mode=memory",
            "sqlite://e.db?mode=rwc&cache=shared",
            "sqlite::memory:",
            "postgres://h/db",
        ] {
            assert_eq!(g(other), None, "{other}");
        }
        assert_eq!(f("postgres://u@h/db"), None);
    }

    #[test]
    fn a_parsed_output_equal_to_the_output_is_not_stored_twice() {
        let out = Some(r#"{"b": 2, "a": [1, {"c": null}]}"#);
        let same = Some(r#"{"a":[1,{"c":null}],"b":2}"#);
        assert_eq!(stored_parsed(out, same), Some(PARSED_IS_OUTPUT));
        // A coerced or extracted value, a non-JSON output and no parsed output are kept.
        assert_eq!(
            stored_parsed(out, Some(r#"{"a":[1],"b":2}"#)),
            Some(r#"{"a":[1],"b":2}"#)
        );
        assert_eq!(
            stored_parsed(Some("Sure: {\"a\":1}"), Some(r#"{"a":1}"#)),
            Some(r#"{"a":1}"#)
        );
        assert_eq!(stored_parsed(None, Some("{}")), Some("{}"));
        assert_eq!(stored_parsed(out, None), None);
        assert_eq!(stored_parsed(Some("2"), Some("2.0")), Some("2.0"));
        // Equal values written differently are kept as written.
        assert_eq!(stored_parsed(Some("-0.0"), Some("0.0")), Some("0.0"));
        assert_eq!(
            stored_parsed(Some("1e2"), Some("100.0")),
            Some(PARSED_IS_OUTPUT)
        );
    }

    #[test]
    fn placeholders_number_every_column_of_every_row() {
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(placeholders_after(Backend::Postgres, 6, 1, 2), "($7, $8)");
        assert_eq!(placeholders_after(Backend::Sqlite, 6, 1, 2), "(?, ?)");
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            redact("postgres://h/db?user=u&password=pw&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
    }
}
