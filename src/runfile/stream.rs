//! Run files too large to hold in memory: written one case at a time, read one case at a time.
//!
//! The writer produces exactly the bytes `serde_json::to_string_pretty` gives for the whole
//! `RunFile` (the header, then each case indented into the `cases` array), into a temporary
//! file renamed into place at the end, so that a killed command never leaves half a run file.
//! The reader parses a file on its own thread and hands the cases over a bounded channel:
//! memory stays flat whatever the number of cases. Cases come in (case id, repeat) order, as
//! every run file evalgate writes lists them; a file out of that order is an error, because
//! `merge` and `export` rely on the order to join and deduplicate without holding the ids.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserializer as _, Serialize};
use std::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::{CaseEntry, FORMAT_VERSION, ScoreEntry};
use crate::analysis::RunReport;
use crate::error::Error;
use crate::store::{CaseRow, RunRow, ScoreRow, Store, StoreError};

/// How many parsed cases wait between a reader thread and its consumer.
const CHANNEL: usize = 256;

/// A run file being written, case by case.
pub struct Writer {
    out: BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    cases: u64,
}

#[derive(Serialize)]
struct Header<'a> {
    format_version: u32,
    run: &'a RunRow,
    report: &'a RunReport,
    cases: &'a [CaseEntry],
}

impl Writer {
    /// Starts the run file at `path` (its directory made when missing) with the run and its
    /// report; the cases follow with `case`, and `finish` puts the file in place.
    pub fn create(path: &Path, run: &RunRow, report: &RunReport) -> Result<Writer, Error> {
        let write_err = |p: &Path| {
            let p = p.to_path_buf();
            move |source| Error::Write { path: p, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        }
        let name = path
            .file_name()
            .map_or_else(|| "run.json".into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(write_err(&tmp))?;
        let mut w = Writer {
            out: BufWriter::with_capacity(1 << 16, file),
            tmp,
            path: path.to_path_buf(),
            cases: 0,
        };
        let header = Header {
            format_version: FORMAT_VERSION,
            run,
            report,
            cases: &[],
        };
        let text = serde_json::to_string_pretty(&header).map_err(std::io::Error::other);
        // `…"cases": []\n}`: everything up to the array, which `case` and `finish` write.
        let text = text.map(|t| t.trim_end_matches("[]\n}").to_string());
        let written = text.and_then(|t| w.out.write_all(t.as_bytes()));
        written.map_err(|source| w.fail(source))?;
        Ok(w)
    }

    /// Appends one case.
    pub fn case(&mut self, entry: &CaseEntry) -> Result<(), Error> {
        let written = serde_json::to_string_pretty(entry)
            .map_err(std::io::Error::other)
            .and_then(|text| {
                self.out
                    .write_all(if self.cases == 0 { b"[" } else { b"," })?;
                // Pretty JSON never holds a raw newline inside a string, so indenting every
                // line is indenting the value.
                self.out.write_all(b"\n    ")?;
                self.out.write_all(text.replace('\n', "\n    ").as_bytes())
            });
        self.cases += 1;
        written.map_err(|source| self.fail(source))
    }

    /// Closes the array and the document, and renames the file into place.
    pub fn finish(mut self) -> Result<(), Error> {
        let end: &[u8] = if self.cases == 0 {
            b"[]\n}\n"
        } else {
            b"\n  ]\n}\n"
        };
        let done = self
            .out
            .write_all(end)
            .and_then(|()| self.out.flush())
            .and_then(|()| std::fs::rename(&self.tmp, &self.path));
        done.map_err(|source| self.fail(source))
    }

    /// The error of a failed write, the temporary file removed.
    fn fail(&self, source: std::io::Error) -> Error {
        let _ = std::fs::remove_file(&self.tmp);
        Error::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// What a reader thread hands over: the header first, then the cases, or an error.
enum Message {
    Header(Box<(RunRow, RunReport)>),
    Case(Box<CaseEntry>),
    Failed(Error),
}

/// A run file being read: its run and report, and its cases as an iterator.
pub struct Reader {
    pub run: RunRow,
    pub report: RunReport,
    rx: mpsc::Receiver<Message>,
}

impl Iterator for Reader {
    type Item = Result<CaseEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rx.recv().ok()? {
            Message::Case(c) => Some(Ok(*c)),
            Message::Failed(e) => Some(Err(e)),
            Message::Header(_) => None,
        }
    }
}

/// Opens a run file for reading case by case. Blocks until the run and the report are read
/// (they come before the cases in every file evalgate writes; a file that lists its cases
/// first is read whole). A bad file is a usage error naming the file, line and column.
pub fn open(path: &Path) -> Result<Reader, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (tx, rx) = mpsc::sync_channel(CHANNEL);
    let shown = path.to_path_buf();
    std::thread::spawn(move || {
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        let mut de = serde_json::Deserializer::from_reader(reader);
        let visitor = FileVisitor { tx: tx.clone() };
        let parsed = de
            .deserialize_map(visitor)
            .and_then(|()| de.end())
            .map_err(|e| not_a_run_file(&shown, &exact(&shown, e)));
        if let Err(e) = parsed {
            let _ = tx.send(Message::Failed(e));
        }
    });
    match rx.recv() {
        Ok(Message::Header(h)) => {
            let (run, report) = *h;
            Ok(Reader { run, report, rx })
        }
        Ok(Message::Failed(e)) => Err(e),
        Ok(Message::Case(_)) | Err(_) => Err(Error::usage(
            format!("{}: not a run file", path.display()),
            None,
        )),
    }
}

/// Files up to this size are parsed again from memory when they turn out bad, for the exact
/// position of the error (a reader from a stream counts the character it peeked at).
const REPARSE_LIMIT: u64 = 64 << 20;

/// The error of a bad file, with the exact position when the file is small enough to parse
/// again whole; the streamed error otherwise (and for errors only streaming finds: order).
fn exact(path: &Path, streamed: serde_json::Error) -> serde_json::Error {
    let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= REPARSE_LIMIT);
    if small
        && streamed.is_data() | streamed.is_syntax() | streamed.is_eof()
        && let Ok(bytes) = std::fs::read(path)
        && let Err(e) = serde_json::from_slice::<super::RunFile>(&bytes)
    {
        return e;
    }
    streamed
}

/// The usage error of a run file serde could not read.
pub(super) fn not_a_run_file(path: &Path, e: &serde_json::Error) -> Error {
    Error::usage(
        format!(
            "{}:{}:{}: not a run file: {e}",
            path.display(),
            e.line(),
            e.column()
        ),
        Some("run files are written by `evalgate run --out` and `evalgate baseline update`".into()),
    )
}

/// The consumer went away: stop reading.
const STOPPED: &str = "the reader was dropped";

struct FileVisitor {
    tx: mpsc::SyncSender<Message>,
}

impl<'de> Visitor<'de> for FileVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a run file (an object with `run`, `report` and `cases`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut run, mut report): (Option<RunRow>, Option<RunReport>) = (None, None);
        let mut early: Option<Vec<CaseEntry>> = None;
        let mut sent = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "run" => run = Some(map.next_value()?),
                "report" => report = Some(map.next_value()?),
                "cases" => match (run.take(), report.take()) {
                    (Some(rn), Some(rp)) => {
                        self.send(Message::Header(Box::new((rn, rp))))?;
                        sent = true;
                        map.next_value_seed(Cases { tx: &self.tx })?;
                    }
                    (rn, rp) => {
                        (run, report) = (rn, rp);
                        early = Some(map.next_value()?);
                    }
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if sent {
            return Ok(());
        }
        let run = run.ok_or_else(|| de::Error::missing_field("run"))?;
        let report = report.ok_or_else(|| de::Error::missing_field("report"))?;
        let cases = early.ok_or_else(|| de::Error::missing_field("cases"))?;
        self.send(Message::Header(Box::new((run, report))))?;
        let mut order = Order::default();
        for c in cases {
            order.check(&c).map_err(de::Error::custom)?;
            self.send(Message::Case(Box::new(c)))?;
        }
        Ok(())
    }
}

impl FileVisitor {
    fn send<E: de::Error>(&self, m: Message) -> Result<(), E> {
        self.tx.send(m).map_err(|_| E::custom(STOPPED))
    }
}

/// The `cases` array, each element handed over as soon as it is parsed.
struct Cases<'a> {
    tx: &'a mpsc::SyncSender<Message>,
}

impl<'de> DeserializeSeed<'de> for Cases<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Cases<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of case results")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut order = Order::default();
        while let Some(c) = seq.next_element::<CaseEntry>()? {
            order.check(&c).map_err(de::Error::custom)?;
            self.tx
                .send(Message::Case(Box::new(c)))
                .map_err(|_| de::Error::custom(STOPPED))?;
        }
        Ok(())
    }
}

/// Checks that cases come in (case id, repeat) order, each once.
#[derive(Default)]
pub struct Order {
    last: Option<(String, i64)>,
}

impl Order {
    pub fn check(&mut self, c: &CaseEntry) -> Result<(), String> {
        if let Some((id, repeat)) = &self.last
            && (id.as_str(), *repeat) >= (c.id.as_str(), c.repeat)
        {
            return Err(format!(
                "case `{}` (repeat {}) comes after `{id}` (repeat {repeat}): run files list each case once, in case id order",
                c.id, c.repeat
            ));
        }
        self.last = Some((c.id.clone(), c.repeat));
        Ok(())
    }
}

/// The cases of a stored run with their scores, in case id order, read by a task of the
/// current runtime; iterate from blocking code (`tokio::task::spawn_blocking`).
pub struct Stored {
    rx: tokio::sync::mpsc::Receiver<Result<(CaseRow, Vec<ScoreRow>), StoreError>>,
}

impl Stored {
    pub fn open(store: &Store, run_id: &str) -> Stored {
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
        let (store, run_id) = (store.clone(), run_id.to_string());
        tokio::spawn(async move { store.each_case(&run_id, tx).await });
        Stored { rx }
    }
}

impl Iterator for Stored {
    type Item = Result<CaseEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.rx.blocking_recv()? {
            Ok((case, scores)) => Ok(CaseEntry::from_row(
                case,
                scores.into_iter().map(ScoreEntry::from).collect(),
            )),
            Err(e) => Err(e.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfile::testing::run_file;
    use serde_json::json;

    /// A whole run file, read through the streaming reader.
    fn read_whole(path: &Path) -> Result<crate::runfile::RunFile, Error> {
        let mut reader = open(path)?;
        let cases = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
        Ok(crate::runfile::RunFile {
            format_version: FORMAT_VERSION,
            run: reader.run,
            report: reader.report,
            cases,
        })
    }

    fn sample(n: usize) -> super::super::RunFile {
        let cases = (0..n)
            .map(|i| json!({"id": format!("c{i:05}"), "status": "pass", "output": "{\"a\":\"line\\nbreak\"}",
                            "scores": [{"scorer": "s", "outcome": "pass", "detail": "x"}]}))
            .collect();
        run_file("r", "{}", cases)
    }

    #[test]
    fn the_writer_writes_what_serde_writes_for_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0, 1, 3] {
            let file = sample(n);
            let path = dir.path().join(format!("sub/run{n}.json"));
            let mut w = Writer::create(&path, &file.run, &file.report).unwrap();
            for c in &file.cases {
                w.case(c).unwrap();
            }
            w.finish().unwrap();
            let expected = serde_json::to_string_pretty(&file).unwrap() + "\n";
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                expected,
                "{n} cases"
            );
            let back = read_whole(&path).unwrap();
            assert_eq!(back.cases.len(), n);
            assert_eq!(
                serde_json::to_string_pretty(&back).unwrap(),
                serde_json::to_string_pretty(&file).unwrap()
            );
        }
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 3);
    }

    #[test]
    fn a_file_with_its_cases_first_is_read_and_one_out_of_order_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = sample(2);
        let mut v = serde_json::to_value(&file).unwrap();
        let cases = v["cases"].take();
        let first = json!({"cases": cases, "run": v["run"], "report": v["report"]});
        let path = dir.path().join("first.json");
        std::fs::write(&path, first.to_string()).unwrap();
        assert_eq!(read_whole(&path).unwrap().cases.len(), 2);

        let mut swapped = v.clone();
        let mut cases = cases.as_array().unwrap().clone();
        cases.reverse();
        swapped["cases"] = json!(cases);
        std::fs::write(&path, swapped.to_string()).unwrap();
        let err = read_whole(&path).unwrap_err().to_string();
        assert!(
            err.contains("case `c00000` (repeat 0) comes after `c00001`"),
            "{err}"
        );
        assert!(err.contains("first.json:1:"), "{err}");
    }

    #[test]
    fn a_broken_file_names_its_line_and_a_dropped_reader_stops_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\n  \"run\": 3\n}").unwrap();
        let err = open(&path).err().unwrap().to_string();
        assert!(err.contains("bad.json:2:"), "{err}");

        let file = sample(CHANNEL * 3);
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        let mut reader = open(&path).unwrap();
        assert_eq!(reader.next().unwrap().unwrap().id, "c00000");
        drop(reader);
    }
}
