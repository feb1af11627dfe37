//! Production feedback: interactions (what the LLM feature was asked and answered, with its
//! full context) and signals about them (explicit, implicit, operational). Events are parsed
//! and checked here, stored by `store`, ingested from files (`ingest`) or HTTP (`serve`),
//! grouped into failure clusters (`triage`) and turned into golden cases (`promote`).
//!
//! The format is documented in the README and in `schema/feedback-event.schema.json`.

pub mod ingest;
pub mod otlp;
pub mod promote;
pub mod triage;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest accepted id (event ids, interaction ids).
pub const MAX_ID_LEN: usize = 200;

/// One feedback event, as a line of a JSONL file or an item of an HTTP body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Interaction(Interaction),
    Signal(Signal),
}

/// A call of an LLM feature in production. Its `event_id` is the interaction's id, which
/// signals refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    pub event_id: String,
    /// RFC 3339.
    pub timestamp: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    /// The template variables of the call.
    pub vars: Map<String, Value>,
    /// Retrieved context, with the retriever's scores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<ContextChunk>,
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Tokens>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextChunk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
}

/// Something that says how an interaction went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub event_id: String,
    /// The `event_id` of the interaction it is about (logged before or later).
    pub interaction_id: String,
    pub timestamp: String,
    pub kind: SignalKind,
    /// `thumbs_up`, `thumbs_down`, `report`, `user_edit`, `copy`, `retry`, `abandon`,
    /// `accept`, `tool_error`, `refusal`, `truncation`, `low_retrieval_score`, or your own.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The user's corrected output (required for `user_edit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// The user said so: thumbs, a report, an edit.
    Explicit,
    /// The user's behaviour: copy, retry, abandon, accept.
    Implicit,
    /// The system noticed: a tool error, a refusal, a truncated answer, weak retrieval.
    Operational,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Explicit => "explicit",
            SignalKind::Implicit => "implicit",
            SignalKind::Operational => "operational",
        }
    }
}

/// Signals that say the answer was bad. (`low_retrieval_score` says nothing of the answer
/// itself: triage reads it as a condition that may explain bad answers.)
pub const NEGATIVE: &[&str] = &[
    "thumbs_down",
    "report",
    "user_edit",
    "retry",
    "abandon",
    "tool_error",
    "refusal",
    "truncation",
];

/// Signals that say the answer was good.
pub const POSITIVE: &[&str] = &["thumbs_up", "copy", "accept"];

impl Signal {
    /// -1 bad, 1 good, 0 unknown (a name of your own).
    pub fn polarity(&self) -> i64 {
        if NEGATIVE.contains(&self.name.as_str()) {
            -1
        } else if POSITIVE.contains(&self.name.as_str()) {
            1
        } else {
            0
        }
    }
}

impl Event {
    pub fn event_id(&self) -> &str {
        match self {
            Event::Interaction(i) => &i.event_id,
            Event::Signal(s) => &s.event_id,
        }
    }

    /// Parses and checks one event. `default_type` fills a missing `type` (the HTTP
    /// endpoints imply it).
    pub fn parse(value: Value, default_type: Option<&str>) -> Result<Event, String> {
        let mut value = value;
        match &mut value {
            Value::Object(m) => {
                if !m.contains_key("type") {
                    match default_type {
                        Some(t) => {
                            m.insert("type".into(), Value::String(t.into()));
                        }
                        None => {
                            return Err("missing field `type` (`interaction` or `signal`)".into());
                        }
                    }
                }
                match m.get("type").and_then(Value::as_str) {
                    Some("interaction" | "signal") => {}
                    Some(other) => {
                        return Err(format!(
                            "unknown event type `{other}`: expected `interaction` or `signal`"
                        ));
                    }
                    None => return Err("`type` must be a string".into()),
                }
            }
            other => {
                return Err(format!(
                    "an event is a JSON object, got {}",
                    json_type(other)
                ));
            }
        }
        let event: Event = serde_json::from_value(value).map_err(|e| e.to_string())?;
        event.check()?;
        Ok(event)
    }

    /// Checks what serde cannot: ids, timestamps, numbers, an edit's text.
    fn check(&self) -> Result<(), String> {
        let id = |name: &str, v: &str| -> Result<(), String> {
            no_nul(name, v)?;
            if v.trim().is_empty() {
                return Err(format!("`{name}` is empty"));
            }
            if v.len() > MAX_ID_LEN {
                return Err(format!("`{name}` is longer than {MAX_ID_LEN} bytes"));
            }
            Ok(())
        };
        let time = |v: &str| -> Result<(), String> {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|_| ())
                .map_err(|e| format!("`timestamp` `{v}` is not an RFC 3339 time: {e}"))
        };
        match self {
            Event::Interaction(i) => {
                id("event_id", &i.event_id)?;
                time(&i.timestamp)?;
                if i.prompt.trim().is_empty() {
                    return Err("`prompt` is empty".into());
                }
                no_nul("prompt", &i.prompt)?;
                no_nul("prompt_version", i.prompt_version.as_deref().unwrap_or(""))?;
                no_nul("model", i.model.as_deref().unwrap_or(""))?;
                if i.latency_ms.is_some_and(|l| !(l.is_finite() && l >= 0.0)) {
                    return Err("`latency_ms` must be a non-negative number".into());
                }
                if let Some(c) = i
                    .context
                    .iter()
                    .find(|c| c.score.is_some_and(|s| !s.is_finite()))
                {
                    return Err(format!(
                        "context chunk {} has a score that is not a number",
                        c.id.as_deref().unwrap_or("?")
                    ));
                }
            }
            Event::Signal(s) => {
                id("event_id", &s.event_id)?;
                id("interaction_id", &s.interaction_id)?;
                time(&s.timestamp)?;
                if s.name.trim().is_empty() {
                    return Err("`name` is empty".into());
                }
                no_nul("name", &s.name)?;
                if s.name == "user_edit" && s.edited_output.is_none() {
                    return Err("a `user_edit` signal needs `edited_output`".into());
                }
            }
        }
        Ok(())
    }
}

/// A timestamp in UTC with milliseconds, the form stored (so that text order is time order).
pub fn utc(ts: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(ts).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
}

/// `--since`: a date (`2026-11-01`), an RFC 3339 time, or a number of days back (`7d`).
pub fn parse_since(text: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
    let t = text.trim();
    if let Some(days) = t.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
        return chrono::TimeDelta::try_days(days)
            .and_then(|d| now.checked_sub_signed(d))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .ok_or_else(|| format!("`{text}` goes back too far"));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(format!("{d}T00:00:00.000Z"));
    }
    utc(t).ok_or_else(|| {
        format!("`{text}` is not a date (2026-11-01), a time (RFC 3339) or a number of days (7d)")
    })
}

/// An event sent under an id that was stored before with other content: idempotence by event
/// id must not drop a different event silently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    pub event_id: String,
    /// SHA-256 of the stored event (its JSON as stored), to compare with what was sent.
    pub stored_sha256: String,
}

/// The bodies of events, by kind and id, as stored or as accepted so far.
pub type Bodies = std::collections::HashMap<(bool, String), String>;

/// The stored bodies of the events among `events` that the store already holds.
pub async fn stored_bodies<'a>(
    store: &crate::store::Store,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<Bodies, crate::store::StoreError> {
    let (mut interactions, mut signals) = (Vec::new(), Vec::new());
    for e in events {
        match e {
            Event::Interaction(i) => interactions.push(i.event_id.as_str()),
            Event::Signal(s) => signals.push(s.event_id.as_str()),
        }
    }
    let mut out = Bodies::new();
    for (is_interaction, ids) in [(true, interactions), (false, signals)] {
        if ids.is_empty() {
            continue;
        }
        for (id, body) in store.feedback_bodies(is_interaction, &ids).await? {
            out.insert((is_interaction, id), body);
        }
    }
    Ok(out)
}

/// The conflicts of a request's events with what is stored or accepted before it (`known`);
/// when there are none, its events join `known`, so that a later request of the same group
/// is compared with them too.
pub fn take_conflicts(events: &[&Event], known: &mut Bodies) -> Vec<Conflict> {
    let mut out = Vec::new();
    let mut mine: Vec<((bool, String), String)> = Vec::new();
    for e in events {
        let key = (matches!(e, Event::Interaction(_)), e.event_id().to_string());
        let body = serde_json::to_string(e).unwrap_or_default();
        let earlier = known
            .get(&key)
            .or_else(|| mine.iter().find(|(k, _)| *k == key).map(|(_, b)| b));
        match earlier {
            Some(stored) if *stored != body => out.push(Conflict {
                event_id: key.1.clone(),
                stored_sha256: crate::hash::sha256_hex(stored.as_bytes()),
            }),
            Some(_) => {}
            None => mine.push((key, body)),
        }
    }
    if out.is_empty() {
        known.extend(mine);
    }
    out
}

/// The stored rows of checked events.
pub fn rows<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    received_at: &str,
) -> (
    Vec<crate::store::InteractionRow>,
    Vec<crate::store::SignalRow>,
) {
    let mut interactions = Vec::new();
    let mut signals = Vec::new();
    for e in events {
        let body_json = serde_json::to_string(e).unwrap_or_default();
        match e {
            Event::Interaction(i) => interactions.push(crate::store::InteractionRow {
                event_id: i.event_id.clone(),
                occurred_at: utc(&i.timestamp).unwrap_or_else(|| i.timestamp.clone()),
                prompt: i.prompt.clone(),
                prompt_version: i.prompt_version.clone(),
                model: i.model.clone(),
                input_hash: input_hash(&i.vars),
                body_json,
                received_at: received_at.to_string(),
            }),
            Event::Signal(s) => signals.push(crate::store::SignalRow {
                event_id: s.event_id.clone(),
                interaction_id: s.interaction_id.clone(),
                occurred_at: utc(&s.timestamp).unwrap_or_else(|| s.timestamp.clone()),
                kind: s.kind.as_str().to_string(),
                name: s.name.clone(),
                polarity: s.polarity(),
                body_json,
                received_at: received_at.to_string(),
            }),
        }
    }
    // One order for every writer, so that concurrent inserts cannot deadlock on PostgreSQL.
    interactions.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    signals.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    (interactions, signals)
}

/// Ids and names are stored as text columns, which PostgreSQL refuses to hold a NUL in.
fn no_nul(name: &str, v: &str) -> Result<(), String> {
    if v.contains('\0') {
        return Err(format!("`{name}` contains a NUL character"));
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The hash of a case's inputs after normalization (string values lowercased, runs of
/// whitespace collapsed), so that a production input already in golden is recognized.
pub fn input_hash(vars: &Map<String, Value>) -> String {
    fn norm(v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(
                s.to_lowercase()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), norm(v))).collect())
            }
            other => other.clone(),
        }
    }
    let sorted: std::collections::BTreeMap<&String, Value> =
        vars.iter().map(|(k, v)| (k, norm(v))).collect();
    crate::hash::sha256_hex(
        serde_json::to_string(&sorted)
            .unwrap_or_default()
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Event, String> {
        Event::parse(v, None)
    }

    #[test]
    fn events_parse_and_bad_ones_say_why() {
        let i = json!({"type": "interaction", "event_id": "i1", "timestamp": "2026-11-20T10:00:00Z",
                       "prompt": "support", "vars": {"t": "x"}, "output": "{}",
                       "context": [{"id": "d1", "text": "…", "score": 0.3}]});
        assert!(matches!(parse(i.clone()), Ok(Event::Interaction(_))));
        let s = json!({"type": "signal", "event_id": "s1", "interaction_id": "i1",
                       "timestamp": "2026-11-20T10:01:00+01:00", "kind": "explicit", "name": "thumbs_down"});
        let Ok(Event::Signal(sig)) = parse(s.clone()) else {
            panic!()
        };
        assert_eq!(sig.polarity(), -1);

        let err = |v: Value| parse(v).unwrap_err();
        let mut m = i.clone();
        m.as_object_mut().unwrap().remove("output");
        assert!(err(m).contains("missing field `output`"));
        let mut m = i.clone();
        m["vars"] = json!("text");
        assert!(err(m).contains("invalid type: string"),);
        let mut m = i.clone();
        m["timestamp"] = json!("yesterday");
        assert!(err(m).contains("not an RFC 3339 time"));
        let mut m = i.clone();
        m["colour"] = json!(1);
        assert!(err(m).contains("unknown field `colour`"));
        let mut m = s.clone();
        m["kind"] = json!("loud");
        assert!(err(m).contains("unknown variant `loud`"));
        let mut m = s.clone();
        m["name"] = json!("user_edit");
        assert!(err(m).contains("needs `edited_output`"));
        assert!(err(json!([1])).contains("a JSON object, got an array"));
        assert!(err(json!({"event_id": "x"})).contains("missing field `type`"));
        assert!(err(json!({"type": "click"})).contains("unknown event type `click`"));
        let mut m = s.clone();
        m["event_id"] = json!("a\u{0}b");
        assert!(err(m).contains("NUL"));
        let mut m = s;
        m.as_object_mut().unwrap().remove("type");
        assert!(Event::parse(m, Some("signal")).is_ok());
    }

    #[test]
    fn since_takes_dates_times_and_days() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_since("7d", now).unwrap(), "2026-11-16T12:00:00.000Z");
        assert_eq!(
            parse_since("2026-11-01", now).unwrap(),
            "2026-11-01T00:00:00.000Z"
        );
        assert_eq!(
            parse_since("2026-11-01T10:00:00+02:00", now).unwrap(),
            "2026-11-01T08:00:00.000Z"
        );
        assert!(
            parse_since("100000000000d", now)
                .unwrap_err()
                .contains("too far")
        );
        assert!(parse_since("last week", now).is_err());
    }

    #[test]
    fn input_hash_ignores_case_and_spacing() {
        let a = json!({"transcript": "Hello  World\n", "n": 1});
        let b = json!({"n": 1, "transcript": "hello world"});
        assert_eq!(
            input_hash(a.as_object().unwrap()),
            input_hash(b.as_object().unwrap())
        );
        let c = json!({"transcript": "hello there"});
        assert_ne!(
            input_hash(a.as_object().unwrap()),
            input_hash(c.as_object().unwrap())
        );
    }
}
