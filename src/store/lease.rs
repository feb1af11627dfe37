//! Whether a run marked `running` is still going: a run holds a lease that ends with its
//! process, however it ends (kill -9 included). On PostgreSQL the lease is a session advisory
//! lock on a connection of the run's own, which the server releases when the connection
//! drops. On SQLite the run's log is the lease (`runlog`: a locked file beside the database),
//! so these functions answer nothing there.

use sqlx::pool::PoolConnection;

use super::{Backend, Store, StoreError};

/// The advisory lock key of a run: a tag in the top bits, the run's 12 hex digits below (any
/// other id is hashed).
fn key(run_id: &str) -> i64 {
    const TAG: i64 = 0x4576 << 48;
    let id = match u64::from_str_radix(run_id, 16) {
        Ok(n) if run_id.len() == 12 => n,
        _ => {
            u64::from_str_radix(&crate::hash::sha256_hex(run_id.as_bytes())[..12], 16).unwrap_or(0)
        }
    };
    TAG | (id & 0xffff_ffff_ffff) as i64
}

/// Held while a run goes on (PostgreSQL). Dropping it closes its connection, which ends the
/// lock; so does the end of the process.
pub struct RunLease {
    conn: Option<PoolConnection<sqlx::Any>>,
}

impl std::fmt::Debug for RunLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLease").finish_non_exhaustive()
    }
}

impl Drop for RunLease {
    fn drop(&mut self) {
        // Detached, the connection closes instead of going back to the pool with the lock.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

impl Store {
    /// Takes the lease of a run. `Ok(None)`: another process holds it (the run is going on
    /// there). On SQLite, a lease that holds nothing (the run's log is its lease).
    pub async fn lease_run(&self, run_id: &str) -> Result<Option<RunLease>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(Some(RunLease { conn: None }));
        }
        let mut conn = self.pool.acquire().await?;
        let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(key(run_id))
            .fetch_one(&mut *conn)
            .await?;
        Ok(got.then_some(RunLease { conn: Some(conn) }))
    }

    /// Whether a process holds the lease of a run: `Some` on PostgreSQL, `None` on SQLite
    /// (ask the run's log).
    pub async fn run_leased(&self, run_id: &str) -> Result<Option<bool>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(key(run_id))
            .fetch_one(&mut *conn)
            .await?;
        if got {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key(run_id))
                .execute(&mut *conn)
                .await?;
        }
        Ok(Some(!got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_its_own_key() {
        assert_eq!(key("0000000000ff"), (0x4576 << 48) | 0xff);
        assert_ne!(key("not-hex"), key("not-hex2"));
        assert!(key("ffffffffffff") > 0);
    }
}
