//! Reads a YAML file's entries one by one, so that one pass finds every independent problem:
//! serde stops at the first error of a document, so each entry (a provider, a model, a suite,
//! a whole prompt file) is deserialized on its own, and an unknown key is reported and taken
//! out before the entry is read again. Another error leaves the entry broken: reported, and
//! known by name to the checks that follow, which then say nothing more about it.
//!
//! serde_yaml tells where an error is only for the document it parsed; the entry is parsed
//! from its own text, so the error's path (`scorers[1].tolerance`) is looked up in the
//! original file instead (`Locator::path`).

use serde::de::DeserializeOwned;
use std::path::Path;

use super::locate::{Locator, Pos, Seg, parse_path};
use super::problem::ConfigErrorKind;
use crate::diag::Diagnostic;

/// At most this many unknown keys are taken out of one entry.
const MAX_UNKNOWN: usize = 64;

/// Where an entry sits in its file: the keys leading to it.
pub struct At<'a> {
    pub display: &'a Path,
    pub loc: &'a Locator<'a>,
    pub path: Vec<String>,
}

impl At<'_> {
    fn segs<'s>(&'s self, inner: &[Seg<'s>]) -> Vec<Seg<'s>> {
        let mut out: Vec<Seg<'_>> = self.path.iter().map(|k| Seg::Key(k)).collect();
        out.extend_from_slice(inner);
        out
    }

    /// The path as serde writes it: `suites.support.scorers[1]`.
    fn shown(&self, inner: &str) -> String {
        let mut out = self.path.join(".");
        if !inner.is_empty() {
            if !out.is_empty() && !inner.starts_with('[') {
                out.push('.');
            }
            out.push_str(inner);
        }
        out
    }
}

/// Reads `value` as `T`. Returns the entry (None when it is broken) and its problems.
pub fn entry<T: DeserializeOwned>(
    mut value: serde_yaml::Value,
    at: &At<'_>,
) -> (Option<T>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    // The mappings an unknown key was taken out of: a key missing there now is most likely
    // the one misspelled, already reported.
    let mut took_from: Vec<String> = Vec::new();
    for _ in 0..=MAX_UNKNOWN {
        let text = match serde_yaml::to_string(&value) {
            Ok(t) => t,
            Err(e) => {
                diags.push(diagnostic(at, "", &e.to_string(), None));
                return (None, diags);
            }
        };
        let e = match serde_yaml::from_str::<T>(&text) {
            Ok(t) => return (Some(t), diags),
            Err(e) => e,
        };
        let full = e.to_string();
        let message = strip_location(&full);
        let (inner, message) = split_path(&message);
        if let Some(field) = unknown_field(message) {
            let mut segs = parse_path(inner);
            segs.push(Seg::Key(field));
            // In a flow mapping (`price: {input: 1, outpt: 2}`) the path stops at its key:
            // the field is then found on that line.
            let pos = at.loc.path(&at.segs(&segs)).map(|p| {
                at.loc
                    .word_after(p.0, field)
                    .filter(|w| w.0 == p.0)
                    .unwrap_or(p)
            });
            diags.push(diagnostic(at, inner, message, pos));
            if !remove(&mut value, &parse_path(inner), field) {
                return (None, diags);
            }
            took_from.push(inner.to_string());
            continue;
        }
        if message.starts_with("missing field") && took_from.iter().any(|p| p == inner) {
            return (None, diags);
        }
        let pos = locate(at, inner, message);
        diags.push(diagnostic(at, inner, message, pos));
        return (None, diags);
    }
    (None, diags)
}

/// Where to point for an error that is not an unknown key: the value it is about (a wrong
/// type, an unknown variant), or the mapping that lacks a field.
fn locate(at: &At<'_>, inner: &str, message: &str) -> Option<Pos> {
    let segs = parse_path(inner);
    let key = at.loc.path(&at.segs(&segs))?;
    if message.starts_with("missing field") {
        return Some(key);
    }
    // A named token (`sytem` of an unknown variant) is looked for from the key's line on.
    if let Some(token) = message.split('`').nth(1).filter(|t| !t.is_empty())
        && let Some(pos) = at.loc.word_after(key.0, token)
    {
        return Some(pos);
    }
    if segs.is_empty() {
        return Some(key);
    }
    Some(at.loc.scalar_start(key))
}

fn diagnostic(at: &At<'_>, inner: &str, message: &str, pos: Option<Pos>) -> Diagnostic {
    let (message, own_hint) = match message.split_once("\nhint: ") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (message.to_string(), None),
    };
    let path = at.shown(inner);
    let kind = if unknown_field(&message).is_some() {
        ConfigErrorKind::UnknownKey {
            path,
            message,
            own_hint,
        }
    } else if message.starts_with("missing field") {
        ConfigErrorKind::MissingKey {
            path,
            message,
            own_hint,
        }
    } else {
        ConfigErrorKind::InvalidValue {
            path,
            message,
            own_hint,
        }
    };
    kind.at(at.display, pos.unwrap_or((0, 0)))
}

/// The message without serde_yaml's ` at line L column C` (and libyaml's inner ones).
fn strip_location(message: &str) -> String {
    regex::Regex::new(r" at line \d+ column \d+").map_or(message.to_string(), |re| {
        re.replace_all(message, "").into_owned()
    })
}

/// serde's `path: message` split in two (no path: the entry itself).
fn split_path(message: &str) -> (&str, &str) {
    match message.split_once(": ") {
        Some((path, rest))
            if !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_-.[]".contains(c)) =>
        {
            (path, rest)
        }
        _ => ("", message),
    }
}

/// The key of serde's "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
}

/// Takes `field` out of the mapping at `path` in `value`. A key holding dots (a gate metric
/// such as `scorer.faithful`) came split in the path: the shortest run of parts naming a key
/// of the mapping is that key.
fn remove(value: &mut serde_yaml::Value, path: &[Seg<'_>], field: &str) -> bool {
    let mut node = value;
    let mut i = 0;
    while i < path.len() {
        node = match (path[i], node) {
            (Seg::Key(_), serde_yaml::Value::Mapping(m)) => {
                let Some((used, key)) = (i..path.len())
                    .map_while(|j| super::locate::joined_keys(&path[i..=j]).map(|k| (j, k)))
                    .find(|(_, k)| m.contains_key(k.as_str()))
                    .map(|(j, k)| (j - i + 1, k))
                else {
                    return false;
                };
                i += used;
                match m.get_mut(key.as_str()) {
                    Some(v) => v,
                    None => return false,
                }
            }
            (Seg::Index(n), serde_yaml::Value::Sequence(s)) => {
                i += 1;
                match s.get_mut(n) {
                    Some(v) => v,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match node {
        serde_yaml::Value::Mapping(m) => m.remove(field).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Scorer {
        kind: String,
        tolerance: Option<f64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Suite {
        prompt: String,
        #[serde(default)]
        scorers: Vec<Scorer>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Gate {
        min: Option<f64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Gated {
        metrics: indexmap::IndexMap<String, Gate>,
    }

    #[test]
    fn a_key_holding_dots_is_found_and_its_unknown_fields_taken_out() {
        let text = "suites:\n  s:\n    metrics:\n      pass_rate: {min: 0.5}\n      scorer.faithful:\n        min: 0.5\n        mn: 1\n";
        let doc: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        let loc = Locator::new(text);
        let at = At {
            display: Path::new("evalgate.yaml"),
            loc: &loc,
            path: vec!["suites".into(), "s".into()],
        };
        let (gated, diags) = entry::<Gated>(doc["suites"]["s"].clone(), &at);
        let diags: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert!(gated.is_some(), "{diags:?}");
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(
            diags[0].starts_with(
                "evalgate.yaml:7:9: suites.s.metrics.scorer.faithful: unknown field `mn`"
            ),
            "{diags:?}"
        );
    }

    #[test]
    fn a_list_at_the_first_column_is_found() {
        let text = "messages:\n- role: user\n  content: hi\n- role: system\n  contnt: x\n";
        let loc = Locator::new(text);
        assert_eq!(
            loc.path(&[Seg::Key("messages"), Seg::Index(1), Seg::Key("contnt")]),
            Some((5, 3))
        );
        assert_eq!(
            loc.path(&[Seg::Key("messages"), Seg::Index(1)]),
            Some((4, 1))
        );
    }

    fn read(text: &str) -> (Option<Suite>, Vec<String>) {
        let doc: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        let loc = Locator::new(text);
        let at = At {
            display: Path::new("evalgate.yaml"),
            loc: &loc,
            path: vec!["suites".into(), "s".into()],
        };
        let (suite, diags) = entry::<Suite>(doc["suites"]["s"].clone(), &at);
        (suite, diags.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn every_unknown_key_is_reported_and_the_entry_still_read() {
        let (suite, diags) = read(
            "suites:\n  s:\n    prompt: p\n    promt: q\n    scorers:\n      - kind: contract\n        tolerence: 1\n",
        );
        assert!(suite.is_some());
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert!(
            diags[0].starts_with("evalgate.yaml:4:5: suites.s: unknown field `promt`"),
            "{diags:?}"
        );
        assert!(
            diags[1]
                .starts_with("evalgate.yaml:7:9: suites.s.scorers[0]: unknown field `tolerence`"),
            "{diags:?}"
        );
    }

    #[test]
    fn a_wrong_value_breaks_the_entry_and_points_at_the_value() {
        let (suite, diags) = read(
            "suites:\n  s:\n    prompt: p\n    scorers:\n      - kind: contract\n      - kind: numeric\n        tolerance: abc\n",
        );
        assert!(suite.is_none());
        assert_eq!(
            diags,
            [
                "evalgate.yaml:7:20: suites.s.scorers[1].tolerance: invalid type: string \"abc\", expected f64"
            ]
        );
        // A misspelled required key is one problem, not two.
        let (suite, diags) = read("suites:\n  s:\n    promt: p\n");
        assert!(suite.is_none());
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(diags[0].contains("unknown field `promt`"), "{diags:?}");
        let (_, diags) = read("suites:\n  s:\n    scorers: []\n");
        assert!(
            diags[0].starts_with("evalgate.yaml:2:3: suites.s: missing field `prompt`"),
            "{diags:?}"
        );
    }
}
