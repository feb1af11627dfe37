//! Duplicate case ids in a dataset of any size, found in bounded memory and never wrongly.
//!
//! The ids are noted with their lines in chunks of at most `CHUNK_IDS` ids or `CHUNK_BYTES`
//! bytes. A full chunk is sorted by id and written as a sorted run to an unnamed temporary
//! file; at the end the runs are merged, so equal ids come out next to each other, in line
//! order. Ids are compared whole, never by a hash: two different ids are never a duplicate,
//! and no duplicate is missed. Memory is one chunk and the merge's read buffers (about 3 MB),
//! however many cases the dataset has; the file holds each id once (its bytes and 8 more).
//! Should the temporary file fail (a full disk), the sorted runs stay in memory: the answer is
//! the same, only the memory grows.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

/// A chunk holds at most this many ids...
const CHUNK_IDS: usize = 65_536;
/// ...or this many bytes of ids.
const CHUNK_BYTES: usize = 1 << 20;
/// The merge's read buffers, all runs together.
const MERGE_BUFFERS: usize = 1 << 20;

/// A case id noted twice: where again, and where first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub line: usize,
    pub id: String,
    pub first: usize,
}

/// The case ids of a dataset, noted one by one in line order (see the module docs).
pub(crate) struct CaseIds {
    chunk: Chunk,
    /// The sorted runs written so far, and the file they are in.
    spill: Option<File>,
    spilled: u64,
    runs: Vec<Run>,
    limits: (usize, usize),
}

/// Ids with their lines, in one string.
#[derive(Default)]
struct Chunk {
    text: String,
    /// (start in `text`, length, line).
    entries: Vec<(u32, u32, u64)>,
}

impl Chunk {
    fn id(&self, e: &(u32, u32, u64)) -> &str {
        &self.text[e.0 as usize..(e.0 + e.1) as usize]
    }

    /// Sorts by id, equal ids in line order (the sort is stable and lines come in order).
    fn sort(&mut self) {
        let text = &self.text;
        let id = |e: &(u32, u32, u64)| &text.as_bytes()[e.0 as usize..(e.0 + e.1) as usize];
        self.entries.sort_by(|a, b| id(a).cmp(id(b)));
    }
}

/// A sorted run: a stretch of the file, or a chunk kept in memory.
enum Run {
    File { start: u64, end: u64 },
    Memory(Chunk),
}

impl Default for CaseIds {
    fn default() -> Self {
        CaseIds::with_limits(CHUNK_IDS, CHUNK_BYTES)
    }
}

impl CaseIds {
    /// Chunks of at most `ids` ids or `bytes` bytes (small ones in tests, to merge many runs).
    fn with_limits(ids: usize, bytes: usize) -> Self {
        CaseIds {
            chunk: Chunk::default(),
            spill: None,
            spilled: 0,
            runs: Vec::new(),
            limits: (ids.max(1), bytes),
        }
    }

    /// Notes the id of the case on line `line` (lines come in increasing order).
    pub fn add(&mut self, id: &str, line: usize) {
        let c = &mut self.chunk;
        // Offsets are u32: a chunk ends well before 4 GB (an id of that size is alone in one).
        if !c.entries.is_empty()
            && (c.entries.len() >= self.limits.0
                || c.text.len() + id.len() > self.limits.1.min(u32::MAX as usize))
        {
            self.end_chunk();
        }
        let c = &mut self.chunk;
        let start = c.text.len() as u32;
        c.text.push_str(id);
        c.entries.push((start, id.len() as u32, line as u64));
    }

    /// Sorts the chunk into a run: into the file, or kept in memory when the file fails.
    fn end_chunk(&mut self) {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.sort();
        match self.write_run(&chunk) {
            Ok(end) => {
                self.runs.push(Run::File {
                    start: self.spilled,
                    end,
                });
                self.spilled = end;
                // The chunk's buffers are reused for the next one.
                chunk.text.clear();
                chunk.entries.clear();
                self.chunk = chunk;
            }
            Err(_) => self.runs.push(Run::Memory(chunk)),
        }
    }

    /// Appends a sorted chunk to the file (records of line: u64 LE, length: u32 LE, id) and
    /// returns where the file ends.
    fn write_run(&mut self, chunk: &Chunk) -> std::io::Result<u64> {
        let file = match &mut self.spill {
            Some(file) => file,
            None => self.spill.insert(tempfile::tempfile()?),
        };
        file.seek(SeekFrom::Start(self.spilled))?;
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
        let mut end = self.spilled;
        for e in &chunk.entries {
            out.write_all(&e.2.to_le_bytes())?;
            out.write_all(&e.1.to_le_bytes())?;
            out.write_all(chunk.id(e).as_bytes())?;
            end += 12 + u64::from(e.1);
        }
        out.flush()?;
        Ok(end)
    }

    /// The ids noted more than once: each later line with the id and the line of its first
    /// use, the `keep` first by line. Fails only when the temporary file cannot be read back.
    pub fn duplicates(mut self, keep: usize) -> std::io::Result<Vec<Duplicate>> {
        // The last chunk is merged from memory (with one chunk: no file, no merge to speak of).
        let mut last = std::mem::take(&mut self.chunk);
        last.sort();
        let mut runs = std::mem::take(&mut self.runs);
        if !last.entries.is_empty() || runs.is_empty() {
            runs.push(Run::Memory(last));
        }
        let buffer = (MERGE_BUFFERS / runs.len()).max(4096);
        let mut readers = runs
            .into_iter()
            .map(|run| Reader::new(run, buffer))
            .collect::<Vec<_>>();
        let file = self.spill.as_ref();
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (k, r) in readers.iter_mut().enumerate() {
            if let Some((id, line)) = r.next(file)? {
                heap.push(Reverse((id, line, k)));
            }
        }
        let mut found = Kept::new(keep);
        let mut previous: Option<(Vec<u8>, u64)> = None;
        while let Some(Reverse((id, line, k))) = heap.pop() {
            match &previous {
                Some((p, first)) if *p == id => found.add(line, &id, *first),
                _ => previous = Some((id, line)),
            }
            if let Some((id, line)) = readers[k].next(file)? {
                heap.push(Reverse((id, line, k)));
            }
        }
        Ok(found.into_sorted())
    }
}

/// The `keep` duplicates with the lowest lines.
struct Kept {
    keep: usize,
    heap: BinaryHeap<(u64, String, u64)>,
}

impl Kept {
    fn new(keep: usize) -> Self {
        Kept {
            keep,
            heap: BinaryHeap::new(),
        }
    }

    fn add(&mut self, line: u64, id: &[u8], first: u64) {
        if self.heap.len() == self.keep {
            match self.heap.peek() {
                Some(top) if top.0 > line => {
                    self.heap.pop();
                }
                _ => return,
            }
        }
        if self.keep > 0 {
            let id = String::from_utf8_lossy(id).into_owned();
            self.heap.push((line, id, first));
        }
    }

    fn into_sorted(self) -> Vec<Duplicate> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|(line, id, first)| Duplicate {
                line: line as usize,
                id,
                first: first as usize,
            })
            .collect()
    }
}

/// Reads one run's ids in order.
enum Reader {
    File {
        /// Where the next read starts, and where the run ends.
        at: u64,
        end: u64,
        buf: Vec<u8>,
        /// The unread part of `buf`.
        pos: usize,
        size: usize,
    },
    Memory {
        chunk: Chunk,
        next: usize,
    },
}

impl Reader {
    fn new(run: Run, size: usize) -> Self {
        match run {
            Run::File { start, end } => Reader::File {
                at: start,
                end,
                buf: Vec::new(),
                pos: 0,
                size,
            },
            Run::Memory(chunk) => Reader::Memory { chunk, next: 0 },
        }
    }

    /// The next (id, line), reading `file` (the temporary file) as needed.
    fn next(&mut self, file: Option<&File>) -> std::io::Result<Option<(Vec<u8>, u64)>> {
        match self {
            Reader::Memory { chunk, next } => {
                let Some(e) = chunk.entries.get(*next) else {
                    return Ok(None);
                };
                *next += 1;
                Ok(Some((chunk.id(e).as_bytes().to_vec(), e.2)))
            }
            Reader::File {
                at,
                end,
                buf,
                pos,
                size,
            } => {
                let Some(file) = file else { return Ok(None) };
                if !fill(file, (at, *end), buf, pos, *size, 12)? {
                    return Ok(None);
                }
                let (mut line, mut len) = ([0u8; 8], [0u8; 4]);
                line.copy_from_slice(&buf[*pos..*pos + 8]);
                len.copy_from_slice(&buf[*pos + 8..*pos + 12]);
                *pos += 12;
                let (line, len) = (u64::from_le_bytes(line), u32::from_le_bytes(len) as usize);
                if !fill(file, (at, *end), buf, pos, *size, len)? {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the temporary file of case ids ends in a record",
                    ));
                }
                let id = buf[*pos..*pos + len].to_vec();
                *pos += len;
                Ok(Some((id, line)))
            }
        }
    }
}

/// Makes `want` unread bytes available in `buf` from `pos` (reading the run's next bytes from
/// `file`, at least `size` at a time); false at the end of the run.
fn fill(
    mut file: &File,
    (at, end): (&mut u64, u64),
    buf: &mut Vec<u8>,
    pos: &mut usize,
    size: usize,
    want: usize,
) -> std::io::Result<bool> {
    let have = buf.len() - *pos;
    if have >= want {
        return Ok(true);
    }
    let left = end - *at;
    if have as u64 + left < want as u64 || (have == 0 && left == 0) {
        return Ok(false);
    }
    buf.drain(..*pos);
    *pos = 0;
    let take = (want - have).max(size).min(left as usize);
    let old = buf.len();
    buf.resize(old + take, 0);
    file.seek(SeekFrom::Start(*at))?;
    file.read_exact(&mut buf[old..])?;
    *at += take as u64;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// What a map of every id would say, the `keep` first by line.
    fn by_map(ids: &[(&str, usize)], keep: usize) -> Vec<Duplicate> {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for &(id, line) in ids {
            match first.get(id) {
                Some(&f) => out.push(Duplicate {
                    line,
                    id: id.to_string(),
                    first: f,
                }),
                None => {
                    first.insert(id, line);
                }
            }
        }
        out.truncate(keep);
        out
    }

    fn found(ids: &[(&str, usize)], limits: (usize, usize), keep: usize) -> Vec<Duplicate> {
        let mut seen = CaseIds::with_limits(limits.0, limits.1);
        for &(id, line) in ids {
            seen.add(id, line);
        }
        seen.duplicates(keep).unwrap()
    }

    #[test]
    fn finds_duplicates_in_one_chunk_and_across_sorted_runs() {
        let ids = [
            ("a", 1),
            ("b", 2),
            ("a", 4),
            ("c", 5),
            ("b", 6),
            ("a", 9),
            ("d", 10),
            ("c", 11),
        ];
        let expected = vec![
            Duplicate {
                line: 4,
                id: "a".into(),
                first: 1,
            },
            Duplicate {
                line: 6,
                id: "b".into(),
                first: 2,
            },
            Duplicate {
                line: 9,
                id: "a".into(),
                first: 1,
            },
            Duplicate {
                line: 11,
                id: "c".into(),
                first: 5,
            },
        ];
        assert_eq!(found(&ids, (1000, 1000), 20), expected, "one chunk");
        // Runs of one, two and three ids, and runs cut by bytes: every duplicate spans runs.
        for limits in [(1, 1000), (2, 1000), (3, 1000), (1000, 2)] {
            assert_eq!(found(&ids, limits, 20), expected, "{limits:?}");
        }
        assert_eq!(
            found(&ids, (2, 1000), 2),
            expected[..2],
            "the first by line"
        );
        assert_eq!(found(&ids, (2, 1000), 0), []);
    }

    #[test]
    fn near_collisions_are_not_duplicates() {
        // Ids that differ in one byte, by case, by a trailing space, by Unicode
        // normalization, or where one is a prefix of another; and the empty-looking ones.
        let ids = [
            ("case-1", 1),
            ("case-2", 2),
            ("Case-1", 3),
            ("case-1 ", 4),
            ("case-", 5),
            ("case-10", 6),
            ("caf\u{e9}", 7),
            ("cafe\u{301}", 8),
            ("case-1\0", 9),
        ];
        for limits in [(1000, 1000), (1, 1000), (3, 7)] {
            assert_eq!(found(&ids, limits, 20), [], "{limits:?}");
        }
        let mut with_one = ids.to_vec();
        with_one.push(("case-1", 12));
        assert_eq!(
            found(&with_one, (2, 1000), 20),
            [Duplicate {
                line: 12,
                id: "case-1".into(),
                first: 1
            }]
        );
    }

    #[test]
    fn agrees_with_a_map_of_every_id() {
        // 5,000 ids drawn from 3,000, in chunks of 97: about 40% are duplicates, most of them
        // spanning runs; long ids so that some chunks end by bytes.
        let mut rng = fastrand::Rng::with_seed(7);
        let names: Vec<String> = (0..5000)
            .map(|_| {
                let k = rng.usize(0..3000);
                if k.is_multiple_of(7) {
                    format!("long-{k}-{}", "x".repeat(k % 300))
                } else {
                    format!("c{k}")
                }
            })
            .collect();
        let ids: Vec<(&str, usize)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), 2 * i + 1))
            .collect();
        for keep in [0, 20, usize::MAX] {
            let expected = by_map(&ids, keep);
            assert_eq!(found(&ids, (97, 4000), keep), expected, "{keep}");
            assert_eq!(found(&ids, (100_000, 1 << 30), keep), expected, "{keep}");
        }
    }

    #[test]
    fn a_run_kept_in_memory_merges_with_runs_on_file() {
        let mut seen = CaseIds::with_limits(2, 1000);
        for (id, line) in [("x", 1), ("y", 2), ("z", 3), ("x", 4)] {
            seen.add(id, line);
        }
        // As when the file could not be written: the next run stays in memory.
        let mut chunk = std::mem::take(&mut seen.chunk);
        chunk.sort();
        seen.runs.push(Run::Memory(chunk));
        seen.add("y", 5);
        assert_eq!(
            seen.duplicates(20).unwrap(),
            [
                Duplicate {
                    line: 4,
                    id: "x".into(),
                    first: 1
                },
                Duplicate {
                    line: 5,
                    id: "y".into(),
                    first: 2
                }
            ]
        );
    }
}
