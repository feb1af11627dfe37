//! Golden datasets: JSONL files with one case a line, read line by line.
//!
//! A dataset can be large, so it is never held in memory whole: `config::load` validates it
//! in one streaming pass (and computes its version), and the runner streams it again.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, error_kinds};
use crate::hash::LineHasher;

mod ids;

/// One golden case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Stable id, unique in its dataset.
    pub id: String,
    /// The template inputs.
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// Labels, fields or a reference answer the scorers compare with.
    #[serde(default)]
    pub expected: Map<String, Value>,
    /// What happened downstream (for lift analysis), such as `{"escalated": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Map<String, Value>>,
    /// Cheap features the downstream model already has (for lift analysis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_features: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Where the case comes from: `{"kind": "hand_written" | "feedback" | …, "added_at": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Map<String, Value>>,
}

impl Case {
    /// Whether the case waits for a human label (`feedback promote` marks it with the
    /// `needs_label` tag and `source.needs_label: true`; either one counts).
    pub fn needs_label(&self) -> bool {
        self.tags.iter().any(|t| t == "needs_label")
            || self
                .source
                .as_ref()
                .and_then(|s| s.get("needs_label"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
    }
}

/// The keys a case line may have, for suggestions.
pub const CASE_KEYS: &[&str] = &[
    "id",
    "vars",
    "expected",
    "outcome",
    "base_features",
    "tags",
    "source",
];

/// At most this many bad lines are reported per dataset.
pub const MAX_REPORTED_LINES: usize = 20;

error_kinds! {
    /// A problem with a dataset's file or one of its lines, found without the project (what
    /// needs the project, such as a missing template variable, is a `ConfigErrorKind`).
    pub enum DatasetErrorKind {
        BadCase { message: String, syntax: bool } = "bad-case"
            => format!("bad case: {message}"),
            Some(unknown_key_hint(message).unwrap_or_else(|| {
                if *syntax {
                    "each line must be one complete JSON object".to_string()
                } else {
                    r#"a case looks like {"id": "…", "vars": {…}, "expected": {…}}"#.to_string()
                }
            }));
        EmptyCaseId = "empty-case-id"
            => "case `id` is empty".to_string(),
            None;
        CannotReadDataset { name: String, error: String, path: String } = "cannot-read-dataset"
            => format!("cannot read dataset `{name}`: {error}"),
            Some(format!("create `{path}` with one JSON case a line"));
        CannotReadLine { error: String } = "cannot-read-line"
            => format!("cannot read line: {error}"),
            None;
        DuplicateCaseId { id: String, first: usize } = "duplicate-case-id"
            => format!("duplicate case id `{id}`"),
            Some(format!("line {first} already uses it; case ids must be unique"));
        TooManyProblems { max: usize } = "too-many-problems"
            => format!("stopped after {max} problems; fix these first"),
            None;
        EmptyDataset { name: String } = "empty-dataset"
            => format!("dataset `{name}` has no cases"),
            None;
    }
}

/// A validated dataset: where it is, its version and how many cases it holds.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub path: PathBuf,
    /// Path shown in messages (relative to the project root).
    pub display: PathBuf,
    /// Hash of the normalized lines.
    pub version: String,
    pub len: usize,
}

/// Parses one line; errors carry the file line and the column inside the line.
pub fn parse_line(display: &Path, line_no: usize, line: &str) -> Result<Case, Diagnostic> {
    let case: Case = serde_json::from_str(line).map_err(|e| {
        let msg = e.to_string();
        // serde_json appends " at line L column C"; the line is always 1 here.
        let msg = msg
            .rsplit_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(msg);
        DatasetErrorKind::BadCase {
            message: msg,
            syntax: e.is_syntax() || e.is_eof(),
        }
        .at(display, (line_no, e.column().max(1)))
    })?;
    if case.id.trim().is_empty() {
        return Err(DatasetErrorKind::EmptyCaseId.at(display, (line_no, 1)));
    }
    Ok(case)
}

fn unknown_key_hint(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, _) = rest.split_once('`')?;
    Some(crate::diag::suggestion(field, CASE_KEYS, "keys"))
}

/// Reads a dataset once: checks every line, finds duplicate ids, computes the version, and
/// calls `check` on every good case (for checks that need the prompt, such as template
/// variables). Returns the dataset and the problems found (at most `MAX_REPORTED_LINES`).
pub fn validate(
    name: &str,
    path: &Path,
    display: &Path,
    mut check: impl FnMut(&Case, usize) -> Option<Diagnostic>,
) -> (Option<Dataset>, Vec<Diagnostic>) {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let d = DatasetErrorKind::CannotReadDataset {
                name: name.to_string(),
                error: e.to_string(),
                path: display.display().to_string(),
            }
            .at(display, (0, 0));
            return (None, vec![d]);
        }
    };
    // The problems of each line, with the line (the duplicate ids come at the end).
    let mut found: Vec<(usize, Diagnostic)> = Vec::new();
    let mut hasher = LineHasher::default();
    let mut ids = ids::CaseIds::default();
    let mut len = 0;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut line_no = 0;
    let mut read_error = false;
    // Every line up to the `MAX_REPORTED_LINES`th problem of its own (not counting
    // duplicates, known only at the end), so that the first problems are all known.
    while found.len() < MAX_REPORTED_LINES {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let d = DatasetErrorKind::CannotReadLine {
                    error: e.to_string(),
                }
                .at(display, (line_no + 1, 1));
                found.push((line_no + 1, d));
                read_error = true;
                break;
            }
        }
        line_no += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        hasher.add_line(text);
        match parse_line(display, line_no, text) {
            Ok(case) => {
                len += 1;
                ids.add(&case.id, line_no);
                if let Some(d) = check(&case, line_no) {
                    found.push((line_no, d));
                }
            }
            Err(d) => found.push((line_no, d)),
        }
    }
    let duplicates = match ids.duplicates(MAX_REPORTED_LINES) {
        Ok(d) => d,
        Err(e) => {
            let error = format!("the temporary file of case ids: {e}");
            let d = DatasetErrorKind::CannotReadLine { error }.at(display, (0, 0));
            return (None, vec![d]);
        }
    };
    let (problems, complete) = first_problems(display, duplicates, found, read_error);
    if !complete {
        return (None, problems);
    }
    let mut problems = problems;
    if len == 0 && problems.is_empty() {
        problems.push(
            DatasetErrorKind::EmptyDataset {
                name: name.to_string(),
            }
            .at(display, (0, 0)),
        );
    }
    let dataset = Dataset {
        name: name.to_string(),
        path: path.to_path_buf(),
        display: display.to_path_buf(),
        version: hasher.finish(),
        len,
    };
    (Some(dataset), problems)
}

/// The problems in line order (a line's duplicate id before its other problem), up to the
/// line where they reach `MAX_REPORTED_LINES`, followed then by `TooManyProblems`; and
/// whether the list is complete (it stopped short of that). A read error ends the lines
/// without a `TooManyProblems` after it.
fn first_problems(
    display: &Path,
    duplicates: Vec<ids::Duplicate>,
    found: Vec<(usize, Diagnostic)>,
    read_error: bool,
) -> (Vec<Diagnostic>, bool) {
    let duplicates = duplicates.into_iter().map(|d| {
        let kind = DatasetErrorKind::DuplicateCaseId {
            id: d.id,
            first: d.first,
        };
        (d.line, kind.at(display, (d.line, 1)))
    });
    let last = found.len();
    // Duplicates first on a line: tagged 0, the others 1 (and the read error, last, 2).
    let mut all: Vec<(usize, u8, Diagnostic)> = duplicates
        .map(|(l, d)| (l, 0, d))
        .chain(found.into_iter().enumerate().map(|(i, (l, d))| {
            let tag = if read_error && i + 1 == last { 2 } else { 1 };
            (l, tag, d)
        }))
        .collect();
    all.sort_by_key(|(l, tag, _)| (*l, *tag));
    let mut out = Vec::new();
    let mut all = all.into_iter().peekable();
    while let Some((line, tag, d)) = all.next() {
        out.push(d);
        if tag == 2 {
            break;
        }
        let line_ends = all.peek().is_none_or(|next| next.0 != line);
        if line_ends && out.len() >= MAX_REPORTED_LINES {
            out.push(
                DatasetErrorKind::TooManyProblems {
                    max: MAX_REPORTED_LINES,
                }
                .at(display, (line, 0)),
            );
            return (out, false);
        }
    }
    (out, true)
}

/// Streams the cases of a validated dataset, with their line numbers.
pub struct Cases {
    reader: BufReader<File>,
    display: PathBuf,
    line_no: usize,
    buf: String,
}

impl Dataset {
    pub fn cases(&self) -> std::io::Result<Cases> {
        Ok(Cases {
            reader: BufReader::new(File::open(&self.path)?),
            display: self.display.clone(),
            line_no: 0,
            buf: String::new(),
        })
    }
}

impl Iterator for Cases {
    type Item = Result<Case, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.reader.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    return Some(Err(DatasetErrorKind::CannotReadLine {
                        error: e.to_string(),
                    }
                    .at(&self.display, (self.line_no + 1, 1))));
                }
            }
            self.line_no += 1;
            let text = self.buf.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            return Some(parse_line(&self.display, self.line_no, text));
        }
    }
}

/// How a golden dataset grew: cases by month added and by source kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    pub dataset: String,
    pub cases: u64,
    /// Source kinds in order of first appearance (`hand_written`, `feedback`, …;
    /// `unknown` for cases without `source.kind`).
    pub kinds: Vec<String>,
    /// One row per month (`YYYY-MM` of `source.added_at`, `unknown` without it), oldest
    /// first: the count of each kind, in `kinds` order.
    pub months: Vec<(String, Vec<u64>)>,
    /// Cases waiting for a human label (`source.needs_label`).
    pub needs_label: u64,
}

pub fn growth(name: &str, cases: &[Case]) -> Growth {
    let mut kinds: Vec<String> = Vec::new();
    let mut months: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let mut needs_label = 0;
    for c in cases {
        let source = c.source.as_ref();
        let get = |k: &str| source.and_then(|s| s.get(k)).and_then(Value::as_str);
        let kind = get("kind").unwrap_or("unknown").to_string();
        let month = get("added_at")
            .filter(|d| d.len() >= 7)
            .map_or_else(|| "unknown".to_string(), |d| d[..7].to_string());
        if c.needs_label() {
            needs_label += 1;
        }
        let k = match kinds.iter().position(|x| *x == kind) {
            Some(k) => k,
            None => {
                kinds.push(kind);
                kinds.len() - 1
            }
        };
        let row = months.entry(month).or_default();
        if row.len() <= k {
            row.resize(k + 1, 0);
        }
        row[k] += 1;
    }
    let width = kinds.len();
    Growth {
        dataset: name.to_string(),
        cases: cases.len() as u64,
        kinds,
        months: months
            .into_iter()
            .map(|(m, mut row)| {
                row.resize(width, 0);
                (m, row)
            })
            .collect(),
        needs_label,
    }
}

/// An exclusive lock on a golden file's edits, held until dropped. Every writer of golden
/// files (`feedback promote`, `review label`, the review page of `evalgate serve`) takes it
/// around its read-modify-write, so that two processes never lose each other's changes. The
/// lock file lives in the system's temporary directory (named after the golden file's
/// absolute path), not beside the dataset.
pub struct EditLock {
    _file: File,
}

pub fn lock(path: &Path) -> std::io::Result<EditLock> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(path)?)?;
    file.lock()?;
    Ok(EditLock { _file: file })
}

fn lock_path(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let hash = crate::hash::sha256_hex(absolute.to_string_lossy().as_bytes());
    Ok(std::env::temp_dir().join(format!("evalgate-golden-{}.lock", &hash[..16])))
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot read or write `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Bad(Diagnostic),
    #[error("case `{case}` is not in `{path}` any more")]
    NoCase { path: String, case: String },
}

/// The expected keys the cases of a golden file use (the union), for reading a reviewer's
/// answer.
pub fn expected_keys(path: &Path) -> Result<std::collections::BTreeSet<String>, EditError> {
    let text = std::fs::read_to_string(path).map_err(|source| EditError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut keys = std::collections::BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case = parse_line(path, n + 1, line).map_err(EditError::Bad)?;
        keys.extend(case.expected.keys().cloned());
    }
    Ok(keys)
}

/// The ids of the cases of a golden file that wait for a human label (`needs_label`).
pub fn pending_labels(path: &Path) -> Result<HashSet<String>, EditError> {
    let text = std::fs::read_to_string(path).map_err(|source| EditError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut ids = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case = parse_line(path, n + 1, line).map_err(EditError::Bad)?;
        if case.needs_label() {
            ids.insert(case.id);
        }
    }
    Ok(ids)
}

/// Gives the case `case_id` of a golden file its expected value: the `needs_label` tag and
/// marker go, `source` gains the given fields. The other lines are kept byte for byte and the
/// file is replaced whole ([`crate::files::replace_file`]).
pub fn set_expected(
    path: &Path,
    case_id: &str,
    expected: Map<String, Value>,
    source: Map<String, Value>,
) -> Result<(), EditError> {
    let shown = path.display().to_string();
    let io = |source| EditError::Io {
        path: shown.clone(),
        source,
    };
    let _lock = lock(path).map_err(io)?;
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut out = String::with_capacity(text.len() + 256);
    let mut found = false;
    // Lines with their endings, so that every other line is written back as it was.
    for (n, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            let mut case = parse_line(path, n + 1, line).map_err(EditError::Bad)?;
            if case.id == case_id {
                found = true;
                case.expected = expected.clone();
                case.tags.retain(|t| t != "needs_label");
                let s = case.source.get_or_insert_with(Map::new);
                s.remove("needs_label");
                s.extend(source.clone());
                out.push_str(&serde_json::to_string(&case).unwrap_or_default());
                out.push_str(&raw[line.len()..]);
                continue;
            }
        }
        out.push_str(raw);
    }
    if !found {
        return Err(EditError::NoCase {
            path: shown,
            case: case_id.to_string(),
        });
    }
    crate::files::replace_file(path, out.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `validate` as it was when it held every id in a map: the problems it reported and
    /// whether it returned a dataset.
    fn validate_with_a_map(text: &str) -> (Vec<String>, bool) {
        let display = Path::new("g.jsonl");
        let mut problems: Vec<Diagnostic> = Vec::new();
        let mut first: std::collections::HashMap<String, usize> = Default::default();
        for (i, raw) in text.split_inclusive('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(display, line_no, line) {
                Ok(case) => {
                    if let Some(&f) = first.get(&case.id) {
                        let kind = DatasetErrorKind::DuplicateCaseId {
                            id: case.id.clone(),
                            first: f,
                        };
                        problems.push(kind.at(display, (line_no, 1)));
                    } else {
                        first.insert(case.id.clone(), line_no);
                    }
                    if case.vars.contains_key("bad") {
                        problems.push(DatasetErrorKind::EmptyCaseId.at(display, (line_no, 9)));
                    }
                }
                Err(d) => problems.push(d),
            }
            if problems.len() >= MAX_REPORTED_LINES {
                let max = MAX_REPORTED_LINES;
                problems.push(DatasetErrorKind::TooManyProblems { max }.at(display, (line_no, 0)));
                return (problems.iter().map(|d| d.to_string()).collect(), false);
            }
        }
        (problems.iter().map(|d| d.to_string()).collect(), true)
    }

    #[test]
    fn reports_the_problems_a_map_of_every_id_reported() {
        // Random datasets of duplicates, bad lines, blank lines and lines the check refuses
        // (`"bad"` among the vars), some over `MAX_REPORTED_LINES` problems, some with two on
        // a line.
        let mut rng = fastrand::Rng::with_seed(11);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        for round in 0..300 {
            let lines = rng.usize(0..60);
            let ids = rng.usize(1..80);
            let mut text = String::new();
            for _ in 0..lines {
                match rng.usize(0..20) {
                    0 => text.push_str("not json"),
                    1 => {}
                    2 => text.push_str(&format!(
                        r#"{{"id": "c{}", "vars": {{"bad": 1}}}}"#,
                        rng.usize(0..ids)
                    )),
                    _ => text.push_str(&format!(r#"{{"id": "c{}"}}"#, rng.usize(0..ids))),
                }
                text.push('\n');
            }
            std::fs::write(&path, &text).unwrap();
            let (ds, problems) = validate("g", &path, Path::new("g.jsonl"), |case, line| {
                case.vars
                    .contains_key("bad")
                    .then(|| DatasetErrorKind::EmptyCaseId.at(Path::new("g.jsonl"), (line, 9)))
            });
            let (mut expected, complete) = validate_with_a_map(&text);
            if complete && ds.as_ref().is_some_and(|d| d.len == 0) && expected.is_empty() {
                expected.push(problems[0].to_string());
            }
            let got: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
            assert_eq!(got, expected, "round {round}:\n{text}");
            assert_eq!(ds.is_some(), complete, "round {round}");
        }
    }

    #[test]
    fn the_tag_or_the_source_marker_says_a_case_needs_a_label() {
        let case = |line: &str| parse_line(Path::new("g.jsonl"), 1, line).unwrap();
        assert!(case(r#"{"id": "a", "tags": ["needs_label"]}"#).needs_label());
        assert!(case(r#"{"id": "b", "source": {"needs_label": true}}"#).needs_label());
        assert!(
            !case(r#"{"id": "c", "source": {"needs_label": false}, "tags": ["x"]}"#).needs_label()
        );
        assert!(!case(r#"{"id": "d"}"#).needs_label());
    }

    fn write(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reports_bad_lines_duplicates_and_unknown_keys_with_line_numbers() {
        let f = write(concat!(
            "{\"id\":\"a\",\"vars\":{}}\n",
            "\n",
            "{\"id\":\"b\",\"vars\":{}\n",
            "{\"id\":\"a\",\"vars\":{}}\n",
            "{\"id\":\"c\",\"expectd\":{}}\n",
        ));
        let (ds, problems) = validate("d", f.path(), Path::new("golden/d.jsonl"), |_, _| None);
        let text: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
        assert_eq!(problems.len(), 3, "{text:#?}");
        assert!(text[0].starts_with("golden/d.jsonl:3:"), "{}", text[0]);
        assert!(
            text[1].starts_with("golden/d.jsonl:4:1: duplicate case id `a`"),
            "{}",
            text[1]
        );
        assert!(
            text[2].contains("unknown field `expectd`")
                && text[2].contains("did you mean `expected`?"),
            "{}",
            text[2]
        );
        // Lines 1 and 4 parse (4 is a duplicate); 3 and 5 do not.
        assert_eq!(ds.unwrap().len, 2);
    }

    #[test]
    fn version_ignores_blank_lines_and_line_endings() {
        let a = write("{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
        let b = write("{\"id\":\"a\"}\r\n\r\n{\"id\":\"b\"}");
        let va = validate("d", a.path(), a.path(), |_, _| None)
            .0
            .unwrap()
            .version;
        let vb = validate("d", b.path(), b.path(), |_, _| None)
            .0
            .unwrap()
            .version;
        assert_eq!(va, vb);
    }

    #[test]
    fn streams_cases_in_order() {
        let f = write("{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n");
        let (ds, _) = validate("d", f.path(), f.path(), |_, _| None);
        let ids: Vec<String> = ds
            .unwrap()
            .cases()
            .unwrap()
            .map(|c| c.unwrap().id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_label_rewrites_its_case_and_keeps_every_other_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        let text = "{\"id\": \"a\", \"vars\": {\"t\": \"x\"}}\r\n{\"id\": \"b\", \"vars\": {\"t\": \"y\"}, \"tags\": [\"needs_label\", \"web\"], \"source\": {\"kind\": \"feedback\", \"needs_label\": true}}\r\n{\"id\":  \"c\"}";
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            pending_labels(&path).unwrap(),
            HashSet::from(["b".to_string()])
        );
        let expected = Map::from_iter([("intent".to_string(), Value::from("bug"))]);
        let source = Map::from_iter([("labelled_by".to_string(), Value::from("ann"))]);
        set_expected(&path, "b", expected, source).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = after.split_inclusive('\n').collect();
        assert_eq!(lines[0], "{\"id\": \"a\", \"vars\": {\"t\": \"x\"}}\r\n");
        assert_eq!(
            lines[2], "{\"id\":  \"c\"}",
            "the last line keeps its spacing and lack of newline"
        );
        assert!(lines[1].ends_with("\r\n"), "{}", lines[1]);
        let b: Case = serde_json::from_str(lines[1].trim_end()).unwrap();
        assert_eq!(b.expected["intent"], "bug");
        assert_eq!(b.tags, vec!["web".to_string()]);
        let s = b.source.unwrap();
        assert_eq!(
            (s["labelled_by"].as_str(), s.get("needs_label")),
            (Some("ann"), None)
        );
        assert!(pending_labels(&path).unwrap().is_empty());
        assert!(matches!(
            set_expected(&path, "zz", Map::new(), Map::new()),
            Err(EditError::NoCase { .. })
        ));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_edit_lock_excludes_other_writers_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        let other = || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(lock_path(&path).unwrap())
                .unwrap()
        };
        let held = lock(&path).unwrap();
        assert!(matches!(
            other().try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(held);
        assert!(other().try_lock().is_ok());
    }
}
