//! The paid calls of scorers other than judges: a `similar` scorer's embeddings request, one
//! per scorer, case and repeat. Written with their case (`Store::insert_cases`), so a case and
//! what its scoring paid are kept together or not at all; read back by a resumed run (its spend
//! limit counts them) and by the report.

use sqlx::{FromRow, Row};

use super::{CaseRow, ROWS_PER_INSERT, Record, Store, StoreError, placeholders};

/// One scorer's paid call on one case result.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct ScorerCallRow {
    pub case_id: String,
    pub repeat_index: i64,
    pub scorer: String,
    /// The model's id sent to the API.
    pub model: String,
    /// Input tokens, as the provider counted them.
    pub input_tokens: i64,
    /// USD, at the model's input price.
    pub cost_usd: f64,
    /// HTTP attempts made, retries included.
    pub attempts: i64,
    pub created_at: String,
}

/// A scorer's calls over a run, added up.
#[derive(Debug, Clone, PartialEq)]
pub struct ScorerCallTotals {
    pub scorer: String,
    pub model: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub cost_usd: f64,
}

impl Store {
    /// Inserts the `scorer_calls` rows of some cases.
    pub(super) async fn scorer_call_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[Record],
    ) -> Result<(), StoreError> {
        let calls: Vec<(&CaseRow, &ScorerCallRow)> = chunk
            .iter()
            .flat_map(|r| r.scorer_calls.iter().map(move |s| (&r.case, s)))
            .collect();
        for part in calls.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO scorer_calls (run_id, case_id, repeat_index, scorer, model, input_tokens, cost_usd, attempts, created_at) VALUES {}",
                placeholders(self.backend, part.len(), 9)
            );
            let mut q = sqlx::query(&sql);
            for (c, s) in part {
                q = q
                    .bind(&c.run_id)
                    .bind(&s.case_id)
                    .bind(s.repeat_index)
                    .bind(&s.scorer)
                    .bind(&s.model)
                    .bind(s.input_tokens)
                    .bind(s.cost_usd)
                    .bind(s.attempts)
                    .bind(&s.created_at);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Each scorer's calls over a run, added up by scorer and model, in scorer order.
    pub async fn scorer_call_totals(
        &self,
        run_id: &str,
    ) -> Result<Vec<ScorerCallTotals>, StoreError> {
        let rows = sqlx::query(
            "SELECT scorer, model, CAST(COUNT(*) AS BIGINT) AS calls, \
             CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, SUM(cost_usd) AS cost_usd \
             FROM scorer_calls WHERE run_id = $1 GROUP BY scorer, model ORDER BY scorer, model",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScorerCallTotals {
                    scorer: r.try_get("scorer")?,
                    model: r.try_get("model")?,
                    calls: r.try_get("calls")?,
                    input_tokens: r.try_get("input_tokens")?,
                    cost_usd: r.try_get::<Option<f64>, _>("cost_usd")?.unwrap_or(0.0),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The scorer calls of a run, in case id, repeat and scorer order.
    pub async fn scorer_calls(&self, run_id: &str) -> Result<Vec<ScorerCallRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT case_id, repeat_index, scorer, model, input_tokens, cost_usd, attempts, created_at \
             FROM scorer_calls WHERE run_id = $1 ORDER BY {}, repeat_index, {}",
            self.by_bytes("case_id"),
            self.by_bytes("scorer")
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(ScorerCallRow::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
