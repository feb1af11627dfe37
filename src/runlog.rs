//! A run's log of finished cases that are not in the store yet.
//!
//! Each finished case that was paid for (an answer from the cache costs nothing to take
//! again) is appended here at once (one JSON line, one `write` per group of cases finishing
//! together), and the store gets the cases in larger transactions, about once a second. A
//! killed process loses nothing the log holds: the kernel has it as soon as `write` returns.
//! The next `evalgate run` puts the cases of a killed run's log into the store (answers
//! included, so they are cache hits) before it asks for anything. A transaction of hundreds
//! of cases writes each database page once where a commit per case rewrote the same last
//! pages every time; and the log is cleared after each transaction, so in the usual case its
//! pages are dropped before the kernel writes them out (the default dirty-page expiry is 30 s).
//!
//! The file (`pending/RUN_ID.jsonl` beside the SQLite database) is locked while a run appends
//! to it, so that a second process cannot replay, or append to, a run that is still going.

use crate::store::Record;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Why a run log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot use the run log `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write a case to the run log `{path}`")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("run {run_id} is being run by another evalgate process (its log `{path}` is locked)")]
    Busy { run_id: String, path: PathBuf },
    #[error("{path}:{line}: not a logged case result: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The log of one run, open for appending and locked.
#[derive(Debug)]
pub struct RunLog {
    file: File,
    path: PathBuf,
    /// The bytes appended since the log was last cleared.
    len: u64,
    /// The lines of an append, kept between appends (a fresh buffer of this size each time
    /// would be mapped and unmapped by the allocator every time).
    buf: Vec<u8>,
}

/// Where the log of a run lives.
pub fn path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join(format!("{run_id}.jsonl"))
}

/// The runs that have a log in `dir` (running, or killed and not stored yet).
pub fn runs(dir: &Path) -> Result<Vec<String>, LogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let name = entry.map_err(io_error(dir))?.file_name();
        if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) {
            ids.push(id.to_string());
        }
    }
    ids.sort();
    Ok(ids)
}

/// Whether a process holds the log of a run (it is going on there). A log that does not
/// exist is held by no one: a run opens its log before it starts, and deletes it last.
pub fn is_held(dir: &Path, run_id: &str) -> bool {
    let Ok(file) = File::open(path(dir, run_id)) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

impl RunLog {
    /// Opens (or creates) the log of a run and locks it; fails with `Busy` when another
    /// process holds it. Cases already in it stay (see `take`).
    pub fn open(dir: &Path, run_id: &str) -> Result<RunLog, LogError> {
        let path = path(dir, run_id);
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LogError::Busy {
                    run_id: run_id.to_string(),
                    path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error(&path)(e)),
        }
        let len = file.metadata().map_err(io_error(&path))?.len();
        Ok(RunLog {
            file,
            path,
            len,
            buf: Vec::new(),
        })
    }

    /// Appends finished cases, one line each, in a single write.
    pub fn append(&mut self, records: &[&Record]) -> Result<(), LogError> {
        if records.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for r in records {
            serde_json::to_writer(&mut self.buf, r).map_err(|source| LogError::Encode {
                path: self.path.clone(),
                source,
            })?;
            self.buf.push(b'\n');
        }
        self.file
            .write_all(&self.buf)
            .map_err(io_error(&self.path))?;
        self.len += self.buf.len() as u64;
        Ok(())
    }

    /// Whether the log holds cases that the store may not have.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cases in the log, in the order they were appended. A last line cut short (the
    /// process was killed in the middle of a write) is left out: that case was never
    /// reported finished. Any other line that does not read back is an error, not a loss.
    pub fn take(&mut self) -> Result<Vec<Record>, LogError> {
        let mut text = Vec::new();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_end(&mut text))
            .map_err(io_error(&self.path))?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        text[..complete]
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(i, line)| {
                serde_json::from_slice(line).map_err(|e| LogError::Corrupt {
                    path: self.path.clone(),
                    line: i + 1,
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Empties the log once the store holds everything in it.
    pub fn clear(&mut self) -> Result<(), LogError> {
        self.file.set_len(0).map_err(io_error(&self.path))?;
        self.len = 0;
        Ok(())
    }

    /// Deletes the log (the run is over and the store holds all of it). The directory stays:
    /// another process may be about to open a log in it.
    pub fn remove(self) -> Result<(), LogError> {
        std::fs::remove_file(&self.path).map_err(io_error(&self.path))
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> LogError + '_ {
    |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::{LogError, RunLog};
    use crate::store::{CaseRow, Record, ScoreRow};
    use std::io::Write;

    fn record(id: &str) -> Record {
        Record {
            case: CaseRow {
                run_id: "r1".into(),
                case_id: id.into(),
                status: crate::status::CaseStatus::Pass,
                output: Some("{\"a\": \"ü\\n\"}".into()),
                ..CaseRow::default()
            },
            scores: vec![ScoreRow {
                case_id: id.into(),
                repeat_index: 0,
                scorer: "contract".into(),
                outcome: crate::status::Outcome::Pass,
                detail: None,
            }],
            ..Record::default()
        }
    }

    #[test]
    fn logged_cases_read_back_and_a_cut_last_line_is_left_out() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pending");
        let mut log = RunLog::open(&dir, "r1").unwrap();
        // A case whose `similar` scorer paid for an embedding keeps that call in its line.
        let mut embedded = record("b");
        embedded.scorer_calls.push(crate::store::ScorerCallRow {
            case_id: "b".into(),
            scorer: "close".into(),
            model: "embed-1".into(),
            input_tokens: 42,
            cost_usd: 0.000042,
            attempts: 1,
            ..Default::default()
        });
        log.append(&[&record("a"), &embedded]).unwrap();
        log.append(&[&record("c")]).unwrap();
        // A process killed in the middle of a write leaves part of a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(super::path(&dir, "r1"))
            .unwrap()
            .write_all(br#"{"case":{"run_id":"r1","#)
            .unwrap();
        drop(log);
        let mut log = RunLog::open(&dir, "r1").unwrap();
        assert!(!log.is_empty());
        let back = log.take().unwrap();
        let ids: Vec<&str> = back.iter().map(|r| r.case.case_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(back[0].case, record("a").case);
        assert_eq!(back[0].scores, record("a").scores);
        assert_eq!(back[1].scorer_calls, embedded.scorer_calls);
        assert!(back[2].scorer_calls.is_empty());
        log.clear().unwrap();
        assert!(log.is_empty());
        assert!(log.take().unwrap().is_empty());
        assert_eq!(super::runs(&dir).unwrap(), ["r1"]);
        log.remove().unwrap();
        assert!(super::runs(&dir).unwrap().is_empty());
        assert!(super::runs(&tmp.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn a_log_in_use_is_refused_and_a_damaged_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RunLog::open(dir.path(), "r1").unwrap();
        let err = RunLog::open(dir.path(), "r1").unwrap_err();
        assert!(matches!(err, LogError::Busy { .. }), "{err}");
        log.append(&[&record("a")]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(super::path(dir.path(), "r1"))
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let err = log.take().unwrap_err();
        assert!(
            err.to_string().ends_with(
                "r1.jsonl:2: not a logged case result: expected ident at line 1 column 2"
            ),
            "{err}"
        );
    }
}
