//! The review tables: sampled judge verdicts and the humans' labels of them.

use sqlx::FromRow;

use super::{Store, StoreError};

/// A judge verdict sampled for human review.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct ReviewItemRow {
    pub batch_id: String,
    pub item: i64,
    pub run_id: String,
    pub case_id: String,
    pub repeat_index: i64,
    pub scorer: String,
    pub judge: String,
    pub judge_version: String,
    pub judge_model: String,
    /// The judge's verdict (`pass` or `fail`); empty for a `label` item.
    pub judge_outcome: String,
    pub judge_reason: Option<String>,
    pub created_at: String,
    /// `verdict` (check a judge's verdict) or `label` (give a `needs_label` golden case its
    /// expected value; the judge columns are empty).
    pub kind: String,
}

/// A reviewer's label of an item.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct ReviewLabelRow {
    pub batch_id: String,
    pub item: i64,
    pub reviewer: String,
    pub verdict: String,
    pub note: Option<String>,
    pub labelled_at: String,
}

const ITEM_COLUMNS: &str = "batch_id, item, run_id, case_id, repeat_index, scorer, judge, judge_version, judge_model, judge_outcome, judge_reason, created_at, kind";

impl Store {
    /// Stores a batch's items in one transaction.
    pub async fn insert_review_items(&self, items: &[ReviewItemRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in items {
            sqlx::query(&format!(
                "INSERT INTO review_items ({ITEM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ))
            .bind(&r.batch_id)
            .bind(r.item)
            .bind(&r.run_id)
            .bind(&r.case_id)
            .bind(r.repeat_index)
            .bind(&r.scorer)
            .bind(&r.judge)
            .bind(&r.judge_version)
            .bind(&r.judge_model)
            .bind(&r.judge_outcome)
            .bind(&r.judge_reason)
            .bind(&r.created_at)
            .bind(&r.kind)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The items of a batch, in order.
    pub async fn review_items(&self, batch_id: &str) -> Result<Vec<ReviewItemRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS} FROM review_items WHERE batch_id = $1 ORDER BY item"
        ))
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(ReviewItemRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Saves a label at once; a later label of the same item replaces it.
    pub async fn save_review_label(&self, l: &ReviewLabelRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO review_labels (batch_id, item, reviewer, verdict, note, labelled_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (batch_id, item) DO UPDATE SET reviewer = excluded.reviewer, verdict = excluded.verdict, note = excluded.note, labelled_at = excluded.labelled_at",
        )
        .bind(&l.batch_id)
        .bind(l.item)
        .bind(&l.reviewer)
        .bind(&l.verdict)
        .bind(&l.note)
        .bind(&l.labelled_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The labels of a batch (None: of every batch).
    pub async fn review_labels(
        &self,
        batch_id: Option<&str>,
    ) -> Result<Vec<ReviewLabelRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT batch_id, item, reviewer, verdict, note, labelled_at FROM review_labels \
             WHERE ($1 = '' OR batch_id = $1) ORDER BY labelled_at, batch_id, item",
        )
        .bind(batch_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(ReviewLabelRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Every batch with its number of items and of labels, oldest first.
    pub async fn review_batches(&self) -> Result<Vec<(String, usize, usize)>, StoreError> {
        let items: Vec<(String, i64)> = sqlx::query_as(
            "SELECT batch_id, COUNT(*) FROM review_items GROUP BY batch_id ORDER BY MIN(created_at), batch_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let labels: Vec<(String, i64)> =
            sqlx::query_as("SELECT batch_id, COUNT(*) FROM review_labels GROUP BY batch_id")
                .fetch_all(&self.pool)
                .await?;
        Ok(items
            .into_iter()
            .map(|(b, n)| {
                let done = labels.iter().find(|l| l.0 == b).map_or(0, |l| l.1);
                (b, n as usize, done as usize)
            })
            .collect())
    }

    /// Every reviewed item with its label (skips included), oldest label first.
    pub async fn reviewed(&self) -> Result<Vec<(ReviewItemRow, ReviewLabelRow)>, StoreError> {
        let labels = self.review_labels(None).await?;
        let mut out = Vec::with_capacity(labels.len());
        let mut batches: std::collections::HashMap<String, Vec<ReviewItemRow>> = Default::default();
        for l in labels {
            if !batches.contains_key(&l.batch_id) {
                let items = self.review_items(&l.batch_id).await?;
                batches.insert(l.batch_id.clone(), items);
            }
            if let Some(item) = batches[&l.batch_id].iter().find(|i| i.item == l.item) {
                out.push((item.clone(), l));
            }
        }
        Ok(out)
    }
}
