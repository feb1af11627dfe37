//! Diagnostics for bad input: `file:line:col: message`, then a hint.
//!
//! Every check of user input (project files, datasets, templates) produces a `Diagnostic`
//! that carries the location from the parser. The first line is greppable and clickable in
//! editors; the hint says what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in the user's input, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, relative to the project root when it is inside it.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<PathBuf>,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            col,
            message: message.into(),
            hint: None,
        }
    }

    /// A problem with a whole file (missing, unreadable).
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::new(file, 0, 0, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// The location as `file:line:col`, omitting what is unknown.
    pub fn location(&self) -> String {
        let file = self.file.display();
        match (self.line, self.col) {
            (0, _) => format!("{file}"),
            (line, 0) => format!("{file}:{line}"),
            (line, col) => format!("{file}:{line}:{col}"),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A name given on the command line (or asked for by a command) that the project does not
/// have: bad input, never an infrastructure failure. Modules below `error` return it; the
/// crate's `Error` takes it with `From`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Usage {
    pub message: String,
    pub hint: Option<String>,
}

impl Usage {
    pub fn new(message: impl Into<String>, hint: Option<String>) -> Self {
        Usage {
            message: message.into(),
            hint,
        }
    }
}

/// The nearest known name to `unknown`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 3 && *d < k.len().max(unknown.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A hint naming the nearest known name, or listing the known names when none is close.
pub fn suggestion(unknown: &str, known: &[&str], what: &str) -> String {
    match did_you_mean(unknown, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None if known.is_empty() => format!("no {what} is defined"),
        None => format!(
            "known {what}: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The path shown in diagnostics: relative to the project root when inside it.
pub fn display_path(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_name() {
        assert_eq!(
            did_you_mean("scorer", ["scorers", "gates", "models"]),
            Some("scorers")
        );
        assert_eq!(
            did_you_mean("tmperature", ["temperature", "seed"]),
            Some("temperature")
        );
        assert_eq!(did_you_mean("zzzzzzzz", ["a", "b"]), None);
    }

    #[test]
    fn renders_location_message_and_hint() {
        let d = Diagnostic::new("evalgate.yaml", 3, 5, "unknown field `x`").with_hint("remove it");
        assert_eq!(
            d.to_string(),
            "evalgate.yaml:3:5: unknown field `x`\n  hint: remove it"
        );
        assert_eq!(
            Diagnostic::file("a.yaml", "missing").to_string(),
            "a.yaml: missing"
        );
    }
}
