//! The store: runs, case results and scores in SQLite (default) or PostgreSQL.
//!
//! The only sqlx user. It speaks in row types (ids, numbers, JSON text); domain modules
//! convert at the boundary. Every query is one SQL text that both backends accept (`$N`
//! placeholders, `||` concatenation), run through sqlx's `Any` driver, and tested on both.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::path::Path;

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
    #[error("`{prefix}` matches several runs: {}", .candidates.join(", "))]
    AmbiguousRun {
        prefix: String,
        candidates: Vec<String>,
    },
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
    /// The URL without credentials, for messages.
    pub display_url: String,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRow {
    pub id: String,
    pub suite: String,
    pub model: String,
    pub model_api_name: String,
    pub provider: String,
    pub provider_kind: String,
    pub prompt: String,
    pub prompt_version: String,
    pub dataset: String,
    pub dataset_version: String,
    /// `running`, `finished` or `interrupted`.
    pub status: String,
    pub planned_cases: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub price_json: String,
    pub scorers_json: String,
    pub contract_json: Option<String>,
}

/// One case result as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseRow {
    pub run_id: String,
    pub case_id: String,
    pub repeat_index: i64,
    pub seq: i64,
    /// `pass`, `fail` or `error`.
    pub status: String,
    /// For a failure: `contract` or `score`; for an error: the error kind.
    pub kind: Option<String>,
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
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreRow {
    pub case_id: String,
    pub repeat_index: i64,
    pub scorer: String,
    pub outcome: String,
    pub detail: Option<String>,
}

const RUN_COLUMNS: &str = "id, suite, model, model_api_name, provider, provider_kind, prompt, prompt_version, dataset, dataset_version, status, planned_cases, started_at, finished_at, price_json, scorers_json, contract_json";

fn run_from_row(r: &sqlx::any::AnyRow) -> Result<RunRow, sqlx::Error> {
    Ok(RunRow {
        id: r.try_get("id")?,
        suite: r.try_get("suite")?,
        model: r.try_get("model")?,
        model_api_name: r.try_get("model_api_name")?,
        provider: r.try_get("provider")?,
        provider_kind: r.try_get("provider_kind")?,
        prompt: r.try_get("prompt")?,
        prompt_version: r.try_get("prompt_version")?,
        dataset: r.try_get("dataset")?,
        dataset_version: r.try_get("dataset_version")?,
        status: r.try_get("status")?,
        planned_cases: r.try_get("planned_cases")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        price_json: r.try_get("price_json")?,
        scorers_json: r.try_get("scorers_json")?,
        contract_json: r.try_get("contract_json")?,
    })
}

fn redact(url: &str) -> String {
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
        } else {
            Backend::Sqlite
        };
        let display_url = redact(&url);
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 1 } else { 8 })
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
            display_url,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn create_run(&self, run: &RunRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (id, suite, model, model_api_name, provider, provider_kind, prompt, prompt_version, dataset, dataset_version, status, planned_cases, started_at, finished_at, price_json, scorers_json, contract_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
        .bind(&run.status)
        .bind(run.planned_cases)
        .bind(&run.started_at)
        .bind(&run.finished_at)
        .bind(&run.price_json)
        .bind(&run.scorers_json)
        .bind(&run.contract_json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Commits one finished case and its scores in one transaction.
    pub async fn insert_case(&self, case: &CaseRow, scores: &[ScoreRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO case_results (run_id, case_id, repeat_index, seq, status, kind, message, request_hash, vars_json, expected_json, tags_json, output, parsed_json, input_tokens, cached_input_tokens, output_tokens, cost_usd, latency_ms, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(&case.run_id)
        .bind(&case.case_id)
        .bind(case.repeat_index)
        .bind(case.seq)
        .bind(&case.status)
        .bind(&case.kind)
        .bind(&case.message)
        .bind(&case.request_hash)
        .bind(&case.vars_json)
        .bind(&case.expected_json)
        .bind(&case.tags_json)
        .bind(&case.output)
        .bind(&case.parsed_json)
        .bind(case.input_tokens)
        .bind(case.cached_input_tokens)
        .bind(case.output_tokens)
        .bind(case.cost_usd)
        .bind(case.latency_ms)
        .bind(&case.finished_at)
        .execute(&mut *tx)
        .await?;
        for s in scores {
            sqlx::query("INSERT INTO scores (run_id, case_id, repeat_index, scorer, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&case.run_id)
                .bind(&s.case_id)
                .bind(s.repeat_index)
                .bind(&s.scorer)
                .bind(&s.outcome)
                .bind(&s.detail)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn finish_run(
        &self,
        id: &str,
        status: &str,
        finished_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET status = $1, finished_at = $2 WHERE id = $3")
            .bind(status)
            .bind(finished_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The run whose id is `id_or_prefix` or starts with it (a unique prefix, like git).
    pub async fn find_run(&self, id_or_prefix: &str) -> Result<RunRow, StoreError> {
        let rows = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE $1 || '%' ORDER BY started_at DESC LIMIT 6"))
            .bind(id_or_prefix.replace(['%', '_'], ""))
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
                candidates: runs.into_iter().map(|r| r.id).collect(),
            }),
        }
    }

    /// Runs, newest first, optionally of one suite.
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

    /// The case results of a run, in case id order.
    pub async fn cases(&self, run_id: &str) -> Result<Vec<CaseRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, case_id, repeat_index, seq, status, kind, message, request_hash, vars_json, expected_json, tags_json, output, parsed_json, input_tokens, cached_input_tokens, output_tokens, cost_usd, latency_ms, finished_at \
             FROM case_results WHERE run_id = $1 ORDER BY case_id, repeat_index",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(CaseRow {
                run_id: r.try_get("run_id")?,
                case_id: r.try_get("case_id")?,
                repeat_index: r.try_get("repeat_index")?,
                seq: r.try_get("seq")?,
                status: r.try_get("status")?,
                kind: r.try_get("kind")?,
                message: r.try_get("message")?,
                request_hash: r.try_get("request_hash")?,
                vars_json: r.try_get("vars_json")?,
                expected_json: r.try_get("expected_json")?,
                tags_json: r.try_get("tags_json")?,
                output: r.try_get("output")?,
                parsed_json: r.try_get("parsed_json")?,
                input_tokens: r.try_get("input_tokens")?,
                cached_input_tokens: r.try_get("cached_input_tokens")?,
                output_tokens: r.try_get("output_tokens")?,
                cost_usd: r.try_get("cost_usd")?,
                latency_ms: r.try_get("latency_ms")?,
                finished_at: r.try_get("finished_at")?,
            });
        }
        Ok(out)
    }

    /// The scores of a run, in case id and scorer order.
    pub async fn scores(&self, run_id: &str) -> Result<Vec<ScoreRow>, StoreError> {
        let rows = sqlx::query("SELECT case_id, repeat_index, scorer, outcome, detail FROM scores WHERE run_id = $1 ORDER BY case_id, repeat_index, scorer")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ScoreRow {
                    case_id: r.try_get("case_id")?,
                    repeat_index: r.try_get("repeat_index")?,
                    scorer: r.try_get("scorer")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
