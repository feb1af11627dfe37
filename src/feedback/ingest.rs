//! `evalgate feedback ingest`: events from a JSONL file or stdin, streamed and stored in
//! transactional batches. A bad line is reported with its number and reason and kept aside;
//! every good line is stored; an event id already stored is skipped.

use serde::Serialize;
use std::io::BufRead;

use super::Event;
use crate::store::{Inserted, Store, StoreError};

/// Longest accepted line.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Events per transaction.
pub const BATCH: usize = 500;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Non-blank lines read.
    pub lines: u64,
    pub interactions: u64,
    pub signals: u64,
    /// Of those, how many were new (the rest were already stored).
    pub new: Inserted,
    pub rejected: u64,
    /// Of the rejected, how many were events under an id stored before with other content.
    #[serde(default)]
    pub conflicts: u64,
}

/// A line that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    pub line: u64,
    pub reason: String,
    /// The line (its first 2,000 characters).
    pub text: String,
}

/// Reads one line of at most `MAX_LINE_BYTES` (without its newline). Ok(None) at the end;
/// Err(len) for a longer line, which is skipped whole.
fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<(), usize>>> {
    buf.clear();
    let n = std::io::Read::take(&mut *reader, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(Ok(())));
    }
    if buf.len() <= MAX_LINE_BYTES {
        return Ok(Some(Ok(()))); // the last line, without a newline
    }
    // Too long: skip to the end of the line.
    let mut len = buf.len();
    loop {
        buf.clear();
        let n = std::io::Read::take(&mut *reader, 64 * 1024).read_until(b'\n', buf)?;
        len += n;
        if n == 0 || buf.last() == Some(&b'\n') {
            break;
        }
    }
    Ok(Some(Err(len)))
}

/// Ingests every line of `reader`; `reject` receives each bad line as it is found.
pub async fn ingest(
    store: &Store,
    mut reader: impl BufRead,
    mut reject: impl FnMut(Reject),
) -> Result<Summary, IngestError> {
    let mut summary = Summary::default();
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        let line = read_line(&mut reader, &mut buf).map_err(IngestError::Read)?;
        let Some(line) = line else { break };
        line_no += 1;
        let mut bad = |reason: String, text: &[u8]| {
            summary.rejected += 1;
            reject(Reject {
                line: line_no,
                reason,
                text: crate::text::clip(&String::from_utf8_lossy(text), 2000),
            });
        };
        if let Err(len) = line {
            summary.lines += 1;
            bad(
                format!("the line is {len} bytes, over the limit of {MAX_LINE_BYTES}"),
                b"",
            );
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t,
            Err(e) => {
                summary.lines += 1;
                bad(format!("the line is not UTF-8: {e}"), &buf);
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        summary.lines += 1;
        let parsed = serde_json::from_str(text)
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|v| Event::parse(v, None));
        match parsed {
            Ok(event) => {
                match event {
                    Event::Interaction(_) => summary.interactions += 1,
                    Event::Signal(_) => summary.signals += 1,
                }
                batch.push(Pending {
                    line: line_no,
                    text: crate::text::clip(text, 2000),
                    event,
                });
                if batch.len() >= BATCH {
                    flush(store, &mut batch, &mut summary, &mut reject).await?;
                }
            }
            Err(reason) => bad(reason, text.as_bytes()),
        }
    }
    flush(store, &mut batch, &mut summary, &mut reject).await?;
    Ok(summary)
}

/// A good line waiting for its transaction.
struct Pending {
    line: u64,
    text: String,
    event: Event,
}

fn add(total: &mut Inserted, n: Inserted) {
    total.interactions += n.interactions;
    total.signals += n.signals;
}

/// Stores a batch of good lines in one transaction; an event under an id stored before (or
/// earlier in the file) with other content is a rejected line, a conflict.
async fn flush(
    store: &Store,
    batch: &mut Vec<Pending>,
    summary: &mut Summary,
    reject: &mut impl FnMut(Reject),
) -> Result<(), IngestError> {
    let mut known = super::stored_bodies(store, batch.iter().map(|p| &p.event)).await?;
    let mut clear = Vec::with_capacity(batch.len());
    for p in batch.drain(..) {
        match super::take_conflicts(&[&p.event], &mut known).first() {
            None => clear.push(p.event),
            Some(c) => {
                summary.rejected += 1;
                summary.conflicts += 1;
                reject(Reject {
                    line: p.line,
                    reason: format!(
                        "event `{}` was stored before with other content (stored sha256 {}): an event is idempotent by its id, so a new event needs a new id",
                        c.event_id, c.stored_sha256
                    ),
                    text: p.text,
                });
            }
        }
    }
    let (i, s) = super::rows(clear.iter(), &crate::runner::now());
    add(&mut summary.new, store.insert_feedback(&i, &s).await?);
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read the events")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}
