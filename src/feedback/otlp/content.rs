//! The prompt and the completion of a GenAI span, in every form the semantic conventions
//! have given them: the newer message attributes, the span events up to 1.36, the 1.26
//! content events, the indexed attributes of OpenLLMetry and plain text. Read into one
//! shape (`Content`), which `otlp` turns into an interaction's inputs, context and output.

use serde_json::{Map, Value, json};

use super::values::{as_i64, attributes, structured, value_text};
use crate::feedback::ContextChunk;
use opentelemetry_proto::tonic::trace::v1::Span;

/// One message of a conversation, whatever form it came in.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Message {
    role: String,
    content: String,
    /// `{"id", "name", "arguments"}` each.
    tool_calls: Vec<Value>,
    /// The tool call a tool message answers.
    tool_call_id: Option<String>,
}

impl Message {
    fn is_empty(&self) -> bool {
        self.content.is_empty() && self.tool_calls.is_empty()
    }

    fn is_system(&self) -> bool {
        matches!(self.role.as_str(), "system" | "developer")
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("role".into(), self.role.clone().into());
        m.insert("content".into(), self.content.clone().into());
        if !self.tool_calls.is_empty() {
            m.insert("tool_calls".into(), self.tool_calls.clone().into());
        }
        if let Some(id) = &self.tool_call_id {
            m.insert("tool_call_id".into(), id.clone().into());
        }
        Value::Object(m)
    }
}

/// One choice (candidate) of the answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Choice {
    index: i64,
    message: Message,
    pub(super) finish_reason: Option<String>,
}

/// What the model was given and what it answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Content {
    system: Vec<String>,
    input: Vec<Message>,
    pub(super) output: Vec<Choice>,
}

impl Content {
    /// Read from the first form that has it: the newer attributes (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`, on the span or on a
    /// `gen_ai.client.inference.operation.details` event); the events of the conventions up to
    /// 1.36 (`gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message`,
    /// `gen_ai.tool.message`, `gen_ai.choice`); the 1.26 events (`gen_ai.content.prompt`,
    /// `gen_ai.content.completion`); the indexed attributes (`gen_ai.prompt.N.role`,
    /// `gen_ai.prompt.N.content`, `gen_ai.completion.N.content`); and plain
    /// `gen_ai.prompt` / `gen_ai.completion` attributes.
    pub(super) fn of(span: &Span, attrs: &Map<String, Value>) -> Content {
        let newer = Content::newer(attrs).or(span
            .events
            .iter()
            .filter(|e| e.name == "gen_ai.client.inference.operation.details")
            .find_map(|e| Content::newer(&event_body(e))));
        let candidates = [
            newer.unwrap_or_default(),
            Content::events(span),
            Content::events_126(span),
            Content::indexed(attrs),
            Content::plain(attrs),
        ];
        let mut out = Content::default();
        for c in candidates {
            if out.input.is_empty() {
                out.input = c.input;
            }
            if out.output.is_empty() {
                out.output = c.output;
            }
            if out.system.is_empty() {
                out.system = c.system;
            }
        }
        // System messages of the input are the instructions.
        let (system, input): (Vec<Message>, Vec<Message>) =
            out.input.into_iter().partition(Message::is_system);
        if out.system.is_empty() {
            out.system = system
                .into_iter()
                .map(|m| m.content)
                .filter(|c| !c.is_empty())
                .collect();
        }
        out.input = input;
        out.output.sort_by_key(|c| c.index);
        out
    }

    pub(super) fn is_empty(&self) -> bool {
        self.system.is_empty() && self.input.is_empty() && self.output.is_empty()
    }

    /// `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`
    /// (structured, or as JSON text).
    fn newer(attrs: &Map<String, Value>) -> Option<Content> {
        let input = attrs.get("gen_ai.input.messages").map(structured);
        let output = attrs.get("gen_ai.output.messages").map(structured);
        let system = attrs.get("gen_ai.system_instructions").map(structured);
        if input.is_none() && output.is_none() && system.is_none() {
            return None;
        }
        let list = |v: Option<Value>| match v {
            Some(Value::Array(a)) => a,
            Some(Value::Null) | None => Vec::new(),
            Some(one) => vec![one],
        };
        Some(Content {
            system: list(system)
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    other => part_text(other).unwrap_or_default(),
                })
                .filter(|s| !s.is_empty())
                .collect(),
            input: list(input)
                .iter()
                .filter_map(|m| message(m, "user"))
                .collect(),
            output: list(output)
                .iter()
                .enumerate()
                .map(|(n, m)| choice(m, n as i64))
                .collect(),
        })
    }

    /// The span events of the conventions up to 1.36, in their order.
    fn events(span: &Span) -> Content {
        let mut out = Content::default();
        for e in &span.events {
            let role = match e.name.as_str() {
                "gen_ai.system.message" => "system",
                "gen_ai.user.message" => "user",
                "gen_ai.assistant.message" => "assistant",
                "gen_ai.tool.message" => "tool",
                "gen_ai.choice" => {
                    let body = Value::Object(event_body(e));
                    let n = out.output.len() as i64;
                    out.output.push(choice(&body, n));
                    continue;
                }
                _ => continue,
            };
            let body = Value::Object(event_body(e));
            if let Some(m) = message(&body, role) {
                out.input.push(m);
            }
        }
        out
    }

    /// The 1.26 events: `gen_ai.content.prompt` with `gen_ai.prompt`, and
    /// `gen_ai.content.completion` with `gen_ai.completion` (each JSON text).
    fn events_126(span: &Span) -> Content {
        let mut out = Content::default();
        for e in &span.events {
            let body = event_body(e);
            match e.name.as_str() {
                "gen_ai.content.prompt" => {
                    if let Some(v) = body.get("gen_ai.prompt") {
                        out.input = messages(&as_messages(v), "user");
                    }
                }
                "gen_ai.content.completion" => {
                    if let Some(v) = body.get("gen_ai.completion") {
                        out.output = choices(&as_messages(v));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// `gen_ai.prompt.N.role` / `.content` / `.tool_call_id` and `gen_ai.completion.N.role` /
    /// `.content` / `.finish_reason` / `.tool_calls.M.name` / `.arguments` (OpenLLMetry).
    fn indexed(attrs: &Map<String, Value>) -> Content {
        use std::collections::BTreeMap;
        let mut input = BTreeMap::<usize, Message>::new();
        let mut output = BTreeMap::<usize, Choice>::new();
        // (input?, message, call) → the call's fields; sparse, whatever the indices say.
        let mut calls = BTreeMap::<(bool, usize, usize), Map<String, Value>>::new();
        for (key, value) in attrs {
            let (is_input, rest) = if let Some(r) = key.strip_prefix("gen_ai.prompt.") {
                (true, r)
            } else if let Some(r) = key.strip_prefix("gen_ai.completion.") {
                (false, r)
            } else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else { continue };
            let value = value_text(value);
            let msg = if is_input {
                input.entry(n).or_default()
            } else {
                let c = output.entry(n).or_default();
                c.index = n as i64;
                if field == "finish_reason" {
                    c.finish_reason = Some(value);
                    continue;
                }
                &mut c.message
            };
            match field {
                "role" => msg.role = value,
                "content" => msg.content = value,
                "tool_call_id" => msg.tool_call_id = Some(value),
                other => {
                    // tool_calls.M.name | arguments | id
                    let Some((m, what)) = other
                        .strip_prefix("tool_calls.")
                        .and_then(|t| t.split_once('.'))
                    else {
                        continue;
                    };
                    let Ok(m) = m.parse::<usize>() else { continue };
                    let arguments = if what == "arguments" {
                        structured(&Value::String(value))
                    } else {
                        Value::String(value)
                    };
                    calls
                        .entry((is_input, n, m))
                        .or_default()
                        .insert(what.to_string(), arguments);
                }
            }
        }
        for ((is_input, n, _), call) in calls {
            let msg = if is_input {
                input.get_mut(&n)
            } else {
                output.get_mut(&n).map(|c| &mut c.message)
            };
            if let Some(msg) = msg {
                msg.tool_calls.push(Value::Object(call));
            }
        }
        let keep = |m: &Message| !m.is_empty() || m.tool_call_id.is_some();
        Content {
            system: Vec::new(),
            input: input
                .into_values()
                .filter(keep)
                .map(|mut m| {
                    if m.role.is_empty() {
                        m.role = "user".into();
                    }
                    m
                })
                .collect(),
            output: output
                .into_values()
                .filter(|c| keep(&c.message) || c.finish_reason.is_some())
                .map(|mut c| {
                    if c.message.role.is_empty() {
                        c.message.role = "assistant".into();
                    }
                    c
                })
                .collect(),
        }
    }

    /// Plain `gen_ai.prompt` / `gen_ai.completion` attributes: JSON messages, or the text.
    fn plain(attrs: &Map<String, Value>) -> Content {
        Content {
            system: Vec::new(),
            input: attrs
                .get("gen_ai.prompt")
                .map(|v| messages(&as_messages(v), "user"))
                .unwrap_or_default(),
            output: attrs
                .get("gen_ai.completion")
                .map(|v| choices(&as_messages(v)))
                .unwrap_or_default(),
        }
    }

    /// The interaction's variables: `input` (the last user message, or the prompt of a text
    /// completion) and `messages` (every message but the instructions, when there is more
    /// than one: a conversation). The instructions are not an input: they belong to the
    /// prompt (see `context`).
    pub(super) fn vars(&self) -> Map<String, Value> {
        let mut vars = Map::new();
        let last_user = self
            .input
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .or(self.input.last());
        if let Some(m) = last_user {
            vars.insert("input".into(), m.content.clone().into());
        }
        if self.input.len() > 1 {
            vars.insert(
                "messages".into(),
                self.input
                    .iter()
                    .map(Message::to_json)
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        vars
    }

    /// The system instructions, as a context chunk with the id `system_instructions`: what the
    /// model was given besides the inputs. They are kept out of `vars`, which triage reads
    /// as the input text (the same instructions on every call would make every input look
    /// alike) and which `promote` turns into a golden case's inputs.
    pub(super) fn context(&self) -> Vec<ContextChunk> {
        if self.system.is_empty() {
            return Vec::new();
        }
        vec![ContextChunk {
            id: Some(super::SYSTEM_CHUNK.to_string()),
            text: self.system.join("\n"),
            score: None,
        }]
    }

    /// The answer: the text of the first choice; a choice that only calls tools is its calls
    /// as JSON (`{"tool_calls": [...]}`).
    pub(super) fn output(&self) -> String {
        let Some(first) = self.output.first() else {
            return String::new();
        };
        if first.message.content.is_empty() && !first.message.tool_calls.is_empty() {
            return json!({"tool_calls": first.message.tool_calls}).to_string();
        }
        first.message.content.clone()
    }
}

/// A message in any of the forms: a string, `{role, content}` (content a string or a list
/// of parts), or `{role, parts: [...]}` of the newer conventions.
fn message(v: &Value, default_role: &str) -> Option<Message> {
    let mut m = Message {
        role: default_role.to_string(),
        ..Message::default()
    };
    match v {
        Value::String(s) => m.content = s.clone(),
        Value::Object(o) => {
            if let Some(r) = o
                .get("role")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                m.role = r.to_string();
            }
            let mut texts = Vec::new();
            if let Some(Value::Array(parts)) = o.get("parts") {
                for p in parts {
                    read_part(p, &mut m, &mut texts);
                }
            }
            // A content that is text stays the text as written (an answer in JSON is
            // still the model's answer), unless it is a list of parts written as JSON.
            match o.get("content") {
                Some(v) if parts(v).is_some() => {
                    for p in &parts(v).unwrap_or_default() {
                        read_part(p, &mut m, &mut texts);
                    }
                }
                Some(Value::String(s)) => texts.push(s.clone()),
                Some(Value::Null) | None => {}
                Some(other) => texts.push(other.to_string()),
            }
            m.content = texts.join("\n");
            if let Some(Value::Array(calls)) = o.get("tool_calls").map(structured) {
                m.tool_calls.extend(calls.iter().map(tool_call));
            }
            if let Some(id) = o
                .get("tool_call_id")
                .or_else(|| (m.role == "tool").then(|| o.get("id")).flatten())
                .map(value_text)
            {
                m.tool_call_id = Some(id);
            }
        }
        Value::Null => return None,
        other => m.content = other.to_string(),
    }
    (!m.is_empty() || m.tool_call_id.is_some()).then_some(m)
}

/// A list of message parts: an array (or JSON text of one) whose items are strings or
/// objects with a `type`, `text` or `content`.
fn parts(v: &Value) -> Option<Vec<Value>> {
    match structured(v) {
        Value::Array(items)
            if !items.is_empty()
                && items.iter().all(|p| {
                    p.is_string()
                        || ["type", "text", "content"]
                            .iter()
                            .any(|k| p.get(*k).is_some())
                }) =>
        {
            Some(items)
        }
        _ => None,
    }
}

/// A value that holds messages: JSON text of messages (objects with a `role`, `content`,
/// `parts` or `message`, or a list of them) is read as such; any other text is one message.
fn as_messages(v: &Value) -> Value {
    let is_message = |m: &Value| {
        ["role", "content", "parts", "message"]
            .iter()
            .any(|k| m.get(*k).is_some())
    };
    match structured(v) {
        Value::Array(items) if !items.is_empty() && items.iter().all(is_message) => {
            Value::Array(items)
        }
        m @ Value::Object(_) if is_message(&m) => m,
        _ => v.clone(),
    }
}

/// One part of a message: text (`text`, `reasoning` is left out), a tool call, a tool's answer.
fn read_part(p: &Value, m: &mut Message, texts: &mut Vec<String>) {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("text");
    match kind {
        "tool_call" | "function_call" | "tool_use" => m.tool_calls.push(tool_call(p)),
        "tool_call_response" | "tool_result" => {
            if let Some(id) = p.get("id").or_else(|| p.get("tool_use_id")) {
                m.tool_call_id = Some(value_text(id));
            }
            let answer = p
                .get("response")
                .or_else(|| p.get("result"))
                .or_else(|| p.get("content"));
            if let Some(a) = answer {
                texts.push(value_text(a));
            }
        }
        "reasoning" | "thinking" => {}
        _ => {
            if let Some(t) = part_text(p) {
                texts.push(t);
            }
        }
    }
}

/// The text of a text part: `content`, else `text`; a bare string is itself.
fn part_text(p: &Value) -> Option<String> {
    match p {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("content")
            .or_else(|| o.get("text"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

/// A tool call as `{id, name, arguments}`, from the newer part or an OpenAI-style
/// `{id, type, function: {name, arguments}}`.
fn tool_call(v: &Value) -> Value {
    let f = v.get("function").unwrap_or(v);
    let mut call = Map::new();
    if let Some(id) = v.get("id").filter(|i| !i.is_null()) {
        call.insert("id".into(), value_text(id).into());
    }
    if let Some(name) = f.get("name").filter(|n| !n.is_null()) {
        call.insert("name".into(), value_text(name).into());
    }
    if let Some(args) = f.get("arguments").or_else(|| f.get("input")) {
        call.insert("arguments".into(), structured(args));
    }
    Value::Object(call)
}

/// A list of messages (or one).
fn messages(v: &Value, default_role: &str) -> Vec<Message> {
    match v {
        Value::Array(a) => a.iter().filter_map(|m| message(m, default_role)).collect(),
        other => message(other, default_role).into_iter().collect(),
    }
}

/// A choice: `{index, finish_reason, message: {...}}` (a `gen_ai.choice` event), an output
/// message `{role, parts, finish_reason}`, or a bare message or text.
fn choice(v: &Value, n: i64) -> Choice {
    let message_value = v.get("message").map(structured);
    let message = match &message_value {
        Some(m) => message(m, "assistant"),
        None => message(v, "assistant"),
    }
    .unwrap_or_else(|| Message {
        role: "assistant".into(),
        ..Message::default()
    });
    Choice {
        index: v.get("index").and_then(as_i64).unwrap_or(n),
        message,
        finish_reason: v
            .get("finish_reason")
            .filter(|r| !r.is_null())
            .map(value_text),
    }
}

fn choices(v: &Value) -> Vec<Choice> {
    match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(n, c)| choice(c, n as i64))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![choice(other, 0)],
    }
}

/// The body of a span event: its attributes, or the JSON object of its
/// `gen_ai.event.content` attribute (as Azure AI Inference and Semantic Kernel write it).
fn event_body(e: &opentelemetry_proto::tonic::trace::v1::span::Event) -> Map<String, Value> {
    let attrs = attributes(&e.attributes);
    match attrs.get("gen_ai.event.content").map(structured) {
        Some(Value::Object(body)) => body,
        _ => attrs,
    }
}
