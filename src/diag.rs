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
    /// The name of the error kind it was built from (`unknown-field`), when it was: see
    /// `error_kinds!`.
    pub kind: Option<&'static str>,
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
            kind: None,
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

/// Declares an enum of error kinds in which each variant's name (kebab-case), message and
/// hint are written once, side by side, as `Variant { fields } = "name" => message, hint;`
/// (the message a `String`, the hint an `Option<String>`, both reading the fields by
/// reference). Generates `ALL_NAMES`, `name`, `message`, `hint` and `at`, which builds the
/// `Diagnostic`: the one place such a diagnostic is rendered from.
macro_rules! error_kinds {
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident {
            $(
                $(#[$vmeta:meta])*
                $Variant:ident $({ $($field:ident : $ty:ty),* $(,)? })? = $name:literal
                    => $message:expr, $hint:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis enum $Enum {
            $( $(#[$vmeta])* $Variant $({ $($field: $ty),* })?, )*
        }

        impl $Enum {
            /// The name of every kind, in declaration order.
            pub const ALL_NAMES: &'static [&'static str] = &[$($name),*];

            /// The kind's name, as listed in `ALL_NAMES`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$Variant { .. } => $name, )*
                }
            }

            /// What is wrong, as the diagnostic's first line says it.
            #[allow(unused_variables, reason = "a message need not read every field")]
            pub fn message(&self) -> String {
                match self {
                    $( Self::$Variant { $($($field),*)? } => $message, )*
                }
            }

            /// What to do about it.
            #[allow(unused_variables, reason = "a hint need not read every field")]
            pub fn hint(&self) -> Option<String> {
                match self {
                    $( Self::$Variant { $($($field),*)? } => $hint, )*
                }
            }

            /// The diagnostic of this problem at `file:line:col` (0 for what is unknown).
            pub fn at(
                self,
                file: impl Into<std::path::PathBuf>,
                (line, col): (usize, usize),
            ) -> $crate::diag::Diagnostic {
                $crate::diag::Diagnostic {
                    file: file.into(),
                    line,
                    col,
                    message: self.message(),
                    hint: self.hint(),
                    kind: Some(self.name()),
                }
            }
        }
    };
}
pub(crate) use error_kinds;

/// Known names, as a hint: the nearest, or the list (see `suggestion`).
pub fn suggestion_of(unknown: &str, known: &[String], what: &str) -> String {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    suggestion(unknown, &known, what)
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
