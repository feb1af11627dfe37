//! Identifiers that cross modules. A run's id is a full id, never a prefix a user typed:
//! a prefix becomes a `RunId` only through `Store::find_run`.

use serde::{Deserialize, Serialize};

/// The full id of a stored run (12 hex digits, e.g. `3f9c0a1b2c4d`). Reads as `&str`
/// through `Deref` for queries and paths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// An id as stored or as made by the runner; nothing is checked here, since a stored id
    /// is whatever an earlier version wrote.
    pub fn new(id: impl Into<String>) -> RunId {
        RunId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for RunId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for RunId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RunId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<String> for RunId {
    fn from(id: String) -> RunId {
        RunId(id)
    }
}

impl From<&str> for RunId {
    fn from(id: &str) -> RunId {
        RunId(id.to_string())
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> String {
        id.0
    }
}
