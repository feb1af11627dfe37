//! `evalgate feedback promote`: production interactions become golden cases, with their
//! provenance. The expected value comes from the user's edit when there is one; otherwise the
//! case is marked `needs_label`. Never a duplicate (same id or same normalized input), and the
//! file is rewritten whole through a temporary file, so it is valid at every moment.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

use super::{Event, Interaction, input_hash};
use crate::golden::Case;
use crate::store::Store;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Promotion {
    /// Case ids appended.
    pub added: Vec<String>,
    /// Of those, the cases without an expected value yet.
    pub needs_label: Vec<String>,
    /// Event ids not promoted because they are already golden cases, with why.
    pub skipped: Vec<(String, String)>,
    /// Event ids not promoted because their inputs do not fit a prompt that uses the
    /// dataset, with why.
    pub unfit: Vec<(String, String)>,
}

/// A prompt that uses the dataset, and the variables its templates need.
pub struct Needs {
    pub prompt: String,
    pub variables: std::collections::BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no interaction or signal has the event id `{0}`")]
    UnknownEvent(String),
    #[error("signal `{signal}` is about interaction `{interaction}`, which is not stored")]
    MissingInteraction { signal: String, interaction: String },
    #[error("`{path}` line {line} is not a golden case: {reason}")]
    BadGolden {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("cannot read or write `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The case id of an interaction.
pub fn case_id(interaction_id: &str) -> String {
    format!("fb-{interaction_id}")
}

/// Appends the interactions of `event_ids` (interaction or signal ids) to the golden file at
/// `path` (created if missing). `today` is the `added_at` date. An interaction whose inputs
/// lack a variable one of `needs` uses is not promoted.
pub async fn promote(
    store: &Store,
    event_ids: &[String],
    path: &Path,
    today: &str,
    needs: &[Needs],
) -> Result<Promotion, PromoteError> {
    let shown = path.display().to_string();
    let io = |source| PromoteError::Io {
        path: shown.clone(),
        source,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    // What golden holds already: ids and normalized inputs.
    let Golden {
        mut ids,
        mut inputs,
    } = golden_keys(path, &shown, &existing)?;

    let mut out = Promotion::default();
    let mut lines = String::new();
    for event_id in event_ids {
        let interaction = interaction_of(store, event_id).await?;
        let Ok(Event::Interaction(i)) = serde_json::from_str::<Event>(&interaction.body_json)
        else {
            out.skipped.push((
                event_id.clone(),
                "the stored interaction cannot be read".into(),
            ));
            continue;
        };
        let id = case_id(&i.event_id);
        if let Some((prompt, var)) = missing_variable(needs, &i) {
            out.unfit.push((
                event_id.clone(),
                format!("its inputs lack `{var}`, which prompt `{prompt}` uses"),
            ));
            continue;
        }
        if ids.contains_key(&id) {
            out.skipped
                .push((event_id.clone(), format!("already in golden as `{id}`")));
            continue;
        }
        let hash = input_hash(&i.vars);
        if let Some(other) = inputs.get(&hash) {
            out.skipped.push((
                event_id.clone(),
                format!("its input is already in golden as `{other}`"),
            ));
            continue;
        }
        let signals = store.feedback_signals_of(&i.event_id).await?;
        let (edit, names) = user_feedback(&signals);
        let case = case_of(&i, &id, edit.as_deref(), &names, today);
        if case.expected.is_empty() {
            out.needs_label.push(id.clone());
        }
        lines.push_str(&serde_json::to_string(&case).unwrap_or_default());
        lines.push('\n');
        ids.insert(id.clone(), ());
        inputs.insert(hash, id.clone());
        out.added.push(id);
    }
    if !out.added.is_empty() {
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&lines);
        crate::files::replace_file(path, text.as_bytes()).map_err(io)?;
    }
    Ok(out)
}

/// What the golden file holds already: its case ids, and its normalized inputs with the id
/// of their case.
struct Golden {
    ids: HashMap<String, ()>,
    inputs: HashMap<String, String>,
}

/// Reads the ids and normalized inputs of the golden cases in `existing` (the file's text).
fn golden_keys(path: &Path, shown: &str, existing: &str) -> Result<Golden, PromoteError> {
    let mut ids: HashMap<String, ()> = HashMap::new();
    let mut inputs: HashMap<String, String> = HashMap::new();
    for (n, line) in existing.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case =
            crate::golden::parse_line(path, n + 1, line).map_err(|d| PromoteError::BadGolden {
                path: shown.to_string(),
                line: n + 1,
                reason: d.message,
            })?;
        inputs.insert(input_hash(&case.vars), case.id.clone());
        ids.insert(case.id, ());
    }
    Ok(Golden { ids, inputs })
}

/// The stored interaction an event id names: the interaction itself, or a signal's.
async fn interaction_of(
    store: &Store,
    event_id: &str,
) -> Result<crate::store::InteractionRow, PromoteError> {
    Ok(match store.feedback_interaction(event_id).await? {
        Some(row) => row,
        None => {
            let signal = store
                .feedback_signal(event_id)
                .await?
                .ok_or_else(|| PromoteError::UnknownEvent(event_id.to_owned()))?;
            store
                .feedback_interaction(&signal.interaction_id)
                .await?
                .ok_or(PromoteError::MissingInteraction {
                    signal: event_id.to_owned(),
                    interaction: signal.interaction_id,
                })?
        }
    })
}

/// The first prompt that uses the dataset with a variable the interaction's inputs lack, and
/// that variable.
fn missing_variable<'n>(needs: &'n [Needs], i: &Interaction) -> Option<(&'n String, &'n String)> {
    needs.iter().find_map(|n| {
        n.variables
            .iter()
            .find(|v| !i.vars.contains_key(*v))
            .map(|v| (&n.prompt, v))
    })
}

/// What the user said about an answer: their last edit of it, and the names of the negative
/// signals.
fn user_feedback(signals: &[crate::store::SignalRow]) -> (Option<String>, Vec<String>) {
    let edit =
        signals
            .iter()
            .rev()
            .find_map(|s| match serde_json::from_str::<Event>(&s.body_json) {
                Ok(Event::Signal(sig)) if sig.name == "user_edit" => sig.edited_output,
                _ => None,
            });
    let names: Vec<String> = signals
        .iter()
        .filter(|s| s.polarity < 0)
        .map(|s| s.name.clone())
        .collect();
    (edit, names)
}

/// The golden case of an interaction: its inputs, the user's edit as the expected value (the
/// fields of a JSON edit, else `{"output": edit}`), its tags, and where it came from.
fn case_of(i: &Interaction, id: &str, edit: Option<&str>, signals: &[String], today: &str) -> Case {
    let expected: Map<String, Value> = match edit {
        Some(text) => match crate::contract::parse_json_output(text) {
            Ok(Value::Object(fields)) => fields,
            _ => Map::from_iter([("output".to_string(), Value::String(text.to_string()))]),
        },
        None => Map::new(),
    };
    let mut tags = i.tags.clone();
    tags.push("feedback".into());
    if expected.is_empty() {
        tags.push("needs_label".into());
    }
    let mut source = Map::new();
    source.insert("kind".into(), "feedback".into());
    source.insert("event_id".into(), i.event_id.clone().into());
    source.insert("added_at".into(), today.into());
    source.insert("occurred_at".into(), i.timestamp.clone().into());
    if !signals.is_empty() {
        source.insert("signals".into(), signals.to_vec().into());
    }
    if let Some(v) = &i.prompt_version {
        source.insert("prompt_version".into(), v.clone().into());
    }
    if let Some(m) = &i.model {
        source.insert("model".into(), m.clone().into());
    }
    if expected.is_empty() {
        source.insert("needs_label".into(), true.into());
    }
    Case {
        id: id.to_string(),
        vars: i.vars.clone(),
        expected,
        outcome: None,
        base_features: None,
        tags,
        source: Some(source),
    }
}
