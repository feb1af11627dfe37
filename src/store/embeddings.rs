//! The embeddings cache: a vector per (provider scope, model, input), so that a proxy tier
//! embeds each input once.

use sqlx::Row;

use super::{Backend, Store, StoreError};

/// One cached embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRow {
    pub input_hash: String,
    pub vector: Vec<f32>,
    /// The input's share of its request's tokens.
    pub tokens: f64,
    /// The request's time, for the inputs it carried.
    pub latency_ms: f64,
}

impl Store {
    /// The cached embeddings of these inputs (by hash), as far as there are.
    pub async fn embeddings_get(
        &self,
        scope: &str,
        model: &str,
        hashes: &[String],
    ) -> Result<Vec<EmbeddingRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in hashes.chunks(400) {
            let list: Vec<String> = (0..chunk.len())
                .map(|i| match self.backend {
                    Backend::Postgres => format!("${}", i + 3),
                    Backend::Sqlite => "?".to_string(),
                })
                .collect();
            let sql = format!(
                "SELECT input_hash, vector, tokens, latency_ms FROM embeddings WHERE scope = {} AND model = {} AND input_hash IN ({})",
                if self.backend == Backend::Postgres {
                    "$1"
                } else {
                    "?"
                },
                if self.backend == Backend::Postgres {
                    "$2"
                } else {
                    "?"
                },
                list.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(scope).bind(model);
            for h in chunk {
                q = q.bind(h);
            }
            for r in q.fetch_all(&self.pool).await? {
                let bytes: Vec<u8> = r.try_get("vector")?;
                out.push(EmbeddingRow {
                    input_hash: r.try_get("input_hash")?,
                    vector: crate::vector::from_le_bytes(&bytes).ok_or_else(|| {
                        sqlx::Error::Decode(
                            format!("a stored embedding of {} bytes is not f32s", bytes.len())
                                .into(),
                        )
                    })?,
                    tokens: r.try_get("tokens")?,
                    latency_ms: r.try_get("latency_ms")?,
                });
            }
        }
        Ok(out)
    }

    /// Caches fresh embeddings (an input already there is kept).
    pub async fn embeddings_put(
        &self,
        scope: &str,
        model: &str,
        rows: &[EmbeddingRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO embeddings (scope, model, input_hash, vector, tokens, latency_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(scope)
            .bind(model)
            .bind(&r.input_hash)
            .bind(crate::vector::to_le_bytes(&r.vector))
            .bind(r.tokens)
            .bind(r.latency_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
