//! The writer of `evalgate serve` on a SQLite file: its own connection through rusqlite, used
//! from one thread of its own, outside sqlx.
//!
//! Why not sqlx here, when every other query is sqlx's: sqlx runs a SQLite connection on a
//! thread of its own and hands it each statement, and its results, through channels, waking a
//! thread each way. Measured with perf on `bench/feedback.sh`, that thread was 37% of the
//! server's CPU, and besides SQLite's writes and sync it was those hand-offs (as much time as
//! the sync under load), the `Any` driver's conversions and statements parsed again; SQLite's
//! own work was a small part. Here the writer's thread calls SQLite itself, with prepared
//! statements kept for the connection's life, and a group of requests is one transaction and
//! one sync, without a hand-off inside it.
//!
//! Same tables, same rows and the same answers as the sqlx path (`feedback.rs`), which stays
//! the path for PostgreSQL and for a database in memory; the tests run both.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;
use super::feedback::{Changed, INTERACTION_COLUMNS, Inserted, SIGNAL_COLUMNS};
use super::{InteractionRow, SignalRow};

/// One request's events, as rows.
pub struct RequestRows<'a> {
    pub interactions: &'a [InteractionRow],
    pub signals: &'a [SignalRow],
}

/// One writer's connection to a SQLite file's feedback tables, for one thread.
pub struct FileFeedbackWriter {
    conn: Connection,
    sql: Sql,
}

/// The statements the writer runs, made once: kept prepared by the connection, looked up
/// by their text.
struct Sql {
    /// `INSERT … ON CONFLICT DO NOTHING` of interactions, of signals.
    insert: [String; 2],
    /// The stored body of an interaction, of a signal.
    body: [String; 2],
}

impl Sql {
    fn new() -> Sql {
        let [i, s] = [TABLES[0], TABLES[1]].map(|(table, columns)| {
            (
                format!(
                    "INSERT INTO {table} ({columns}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (event_id) DO NOTHING"
                ),
                format!("SELECT body_json FROM {table} WHERE event_id = ?1"),
            )
        });
        Sql {
            insert: [i.0, s.0],
            body: [i.1, s.1],
        }
    }
}

/// The tables of interactions and of signals, with their columns.
const TABLES: [(&str, &str); 2] = [
    ("feedback_interactions", INTERACTION_COLUMNS),
    ("feedback_signals", SIGNAL_COLUMNS),
];

impl std::fmt::Debug for FileFeedbackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileFeedbackWriter").finish_non_exhaustive()
    }
}

impl FileFeedbackWriter {
    /// Opens `path` (a database `Store::open` made and migrated) with the settings of the
    /// store's own connections: write-ahead log, where a commit is one sync; `synchronous =
    /// FULL`, so that a commit is on disk before it returns (an acknowledged event survives
    /// a power cut, not only a killed process); a busy wait of 30 s for other writers.
    pub(super) fn open(path: &Path, display_url: &str) -> Result<Self, StoreError> {
        let failed = |source| StoreError::OpenFile {
            url: display_url.to_string(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(failed)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(failed)?;
        // Not an error when it cannot switch (see `Store::open`): the file works either way,
        // its commits as durable (one sync more each, and waiting for readers).
        let _ = conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()));
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -8000;")
            .map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(FileFeedbackWriter {
            conn,
            sql: Sql::new(),
        })
    }

    /// Stores a group of requests in one transaction, each request all or nothing: a request
    /// that sends an event under an id stored before (or earlier in the group) with another
    /// body stores nothing, and its answer is those events' ids (each once), with the bodies
    /// stored first; the others' events are stored (an id stored before with the same body
    /// is left as it was: sent again). Answers come in the order of `requests`. An error of
    /// the database stores nothing of the group, and the next call starts afresh.
    pub fn write(
        &mut self,
        requests: &[RequestRows<'_>],
    ) -> Result<Vec<Result<Inserted, Vec<Changed>>>, StoreError> {
        if !self.conn.is_autocommit() {
            // A transaction left open by a failed rollback: end it, or every group would fail.
            self.conn.execute_batch("ROLLBACK")?;
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(requests.len());
        for request in requests {
            out.push(write_request(&tx, &self.sql, request)?);
        }
        tx.commit()?;
        Ok(out)
    }
}

/// One request in a savepoint of the group's transaction, undone when an event is changed.
fn write_request(
    tx: &rusqlite::Transaction<'_>,
    sql: &Sql,
    request: &RequestRows<'_>,
) -> Result<Result<Inserted, Vec<Changed>>, rusqlite::Error> {
    tx.prepare_cached("SAVEPOINT request")?.execute([])?;
    let mut changed = ChangedList::default();
    let new = Inserted {
        interactions: insert(tx, sql, request.interactions, &mut changed)?,
        signals: insert(tx, sql, request.signals, &mut changed)?,
    };
    if changed.list.is_empty() {
        tx.prepare_cached("RELEASE request")?.execute([])?;
        Ok(Ok(new))
    } else {
        tx.execute_batch("ROLLBACK TO request; RELEASE request")?;
        Ok(Err(changed.list))
    }
}

/// The changed events of a request, each id once.
#[derive(Default)]
struct ChangedList<'a> {
    list: Vec<Changed>,
    seen: HashSet<(bool, &'a str)>,
}

/// A row of one of the feedback tables, as the writer inserts it.
trait EventRow {
    /// An interaction (else a signal).
    const INTERACTION: bool;
    fn event_id(&self) -> &str;
    fn body_json(&self) -> &str;
    /// The row's values, in its table's column order.
    fn values(&self) -> [&dyn rusqlite::ToSql; 8];
}

impl EventRow for InteractionRow {
    const INTERACTION: bool = true;
    fn event_id(&self) -> &str {
        &self.event_id
    }
    fn body_json(&self) -> &str {
        &self.body_json
    }
    fn values(&self) -> [&dyn rusqlite::ToSql; 8] {
        [
            &self.event_id,
            &self.occurred_at,
            &self.prompt,
            &self.prompt_version,
            &self.model,
            &self.input_hash,
            &self.body_json,
            &self.received_at,
        ]
    }
}

impl EventRow for SignalRow {
    const INTERACTION: bool = false;
    fn event_id(&self) -> &str {
        &self.event_id
    }
    fn body_json(&self) -> &str {
        &self.body_json
    }
    fn values(&self) -> [&dyn rusqlite::ToSql; 8] {
        [
            &self.event_id,
            &self.interaction_id,
            &self.occurred_at,
            &self.kind,
            &self.name,
            &self.polarity,
            &self.body_json,
            &self.received_at,
        ]
    }
}

/// Inserts rows of one table, an id stored already left as it is; how many were new. An
/// id stored (before, or earlier in this group) with another body is noted as changed.
fn insert<'a, R: EventRow>(
    tx: &rusqlite::Transaction<'_>,
    sql: &Sql,
    rows: &'a [R],
    changed: &mut ChangedList<'a>,
) -> Result<u64, rusqlite::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let table = usize::from(!R::INTERACTION);
    let mut statement = tx.prepare_cached(&sql.insert[table])?;
    let mut new = 0;
    for r in rows {
        if statement.execute(r.values().as_slice())? == 1 {
            new += 1;
            continue;
        }
        if changed.seen.contains(&(R::INTERACTION, r.event_id())) {
            continue;
        }
        let stored: Option<String> = tx
            .prepare_cached(&sql.body[table])?
            .query_row([r.event_id()], |row| row.get(0))
            .optional()?;
        if let Some(stored) = stored
            && stored != r.body_json()
        {
            changed.seen.insert((R::INTERACTION, r.event_id()));
            changed.list.push(Changed {
                interaction: R::INTERACTION,
                event_id: r.event_id().to_string(),
                stored_body: stored,
            });
        }
    }
    Ok(new)
}
