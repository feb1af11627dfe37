//! The import's mapping report: what became what, what was approximated or needs the user's
//! attention (prices, secrets), and what was left out, each with where it is written in the
//! promptfoo project. Plain data with one text rendering, which the CLI prints.

use std::fmt;

/// Where something is written: a file (relative to the promptfoo config's directory), a
/// 1-based line and column (0 when the whole file is meant).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Loc {
    pub fn new(file: String, line: usize, col: usize) -> Self {
        Loc { file, line, col }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.file),
            line => write!(f, "{}:{line}", self.file),
        }
    }
}

/// One line of the report: where (when it has a place), what, and what became of it or why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Entry {
    pub at: Option<Loc>,
    pub what: String,
    pub detail: String,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    /// promptfoo construct → evalgate construct.
    pub mapped: Vec<Entry>,
    /// Mapped, but not exactly, or with something for the user to do.
    pub notes: Vec<Entry>,
    /// Read, and not mapped: evalgate cannot express it.
    pub left_out: Vec<Entry>,
    /// Files written, relative to the output directory, with what each holds.
    pub written: Vec<(String, String)>,
}

impl Report {
    pub fn mapped(&mut self, at: Option<Loc>, what: impl Into<String>, to: impl Into<String>) {
        self.mapped.push(Entry {
            at,
            what: what.into(),
            detail: to.into(),
        });
    }

    pub fn note(&mut self, at: Option<Loc>, what: impl Into<String>, detail: impl Into<String>) {
        self.notes.push(Entry {
            at,
            what: what.into(),
            detail: detail.into(),
        });
    }

    pub fn left_out(&mut self, at: Loc, what: impl Into<String>, why: impl Into<String>) {
        self.left_out.push(Entry {
            at: Some(at),
            what: what.into(),
            detail: why.into(),
        });
    }
}

fn section(f: &mut fmt::Formatter<'_>, title: &str, entries: &[Entry], arrow: &str) -> fmt::Result {
    if entries.is_empty() {
        return Ok(());
    }
    writeln!(f, "\n{title}")?;
    for e in entries {
        match &e.at {
            Some(at) => writeln!(f, "  {at}: {}{arrow}{}", e.what, e.detail)?,
            None => writeln!(f, "  {}{arrow}{}", e.what, e.detail)?,
        }
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrote")?;
        for (path, what) in &self.written {
            write!(f, "\n  {path}  {what}")?;
        }
        writeln!(f)?;
        section(f, "mapped (promptfoo → evalgate)", &self.mapped, " → ")?;
        section(f, "notes (mapped, but read these)", &self.notes, ": ")?;
        let mut left_out = self.left_out.clone();
        left_out.sort_by(|a, b| a.at.cmp(&b.at));
        section(
            f,
            &format!("left out ({}, not mapped)", left_out.len()),
            &left_out,
            ": ",
        )?;
        Ok(())
    }
}
