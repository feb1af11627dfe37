//! OpenTelemetry traces in: an OTLP `ExportTraceServiceRequest` (protobuf or OTLP JSON) read
//! with the `opentelemetry-proto` types, and each span that follows the GenAI semantic
//! conventions turned into an interaction, with operational signals for what its finish reasons
//! say (a cut-off answer, a filtered one). Spans without GenAI attributes, and GenAI spans that
//! generate nothing (embeddings, tool executions, agent creation), are counted and ignored.
//!
//! This module is the only user of `opentelemetry-proto` and `prost`: it decodes requests and
//! encodes answers (`ExportTraceServiceResponse`, `google.rpc.Status`), so `serve` handles
//! HTTP only. It stores nothing: its events go through the same writer as any other event.
//!
//! Provenance: an interaction's `event_id` is `otel-<trace id>-<span id>` (lowercase hex, as
//! in W3C trace context), so a signal posted later to `/v1/feedback` names it from the span's
//! context alone, and a span sent again maps to the same event (idempotent). The README's
//! "OpenTelemetry traces in" section has the table of which attribute lands where.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Map, Value, json};

use super::{Event, Interaction, Signal, SignalKind, Tokens};

/// The prefix of an interaction's event id made from a span.
pub const EVENT_ID_PREFIX: &str = "otel-";

/// The id of the context chunk that holds a span's system instructions.
pub const SYSTEM_CHUNK: &str = "system_instructions";

/// GenAI operations that generate no text to evaluate: their spans are ignored.
pub const NOT_GENERATIONS: &[&str] = &["embeddings", "execute_tool", "create_agent", "retrieval"];

/// Most reasons of refused spans quoted in an answer (the rest are counted).
const REASONS_SHOWN: usize = 5;

/// How a request body is encoded (from its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`: the binary protobuf encoding.
    Protobuf,
    /// `application/json`: the OTLP JSON encoding (hex ids, lowerCamelCase fields).
    Json,
}

impl Encoding {
    /// The encoding of a `Content-Type` value (its parameters ignored), if OTLP/HTTP has one.
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of an answer in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The events of one span: its interaction first, then the signals its finish reasons give.
/// They are stored together or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvents {
    pub interaction_id: String,
    pub events: Vec<Event>,
}

/// A span that was refused, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// `trace id/span id` (hex), or the span's place in the request and its name when its
    /// ids are not ids.
    pub span: String,
    pub reason: String,
}

/// What a request's spans became.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    /// Every span of the request.
    pub spans: u64,
    /// The spans that became interactions.
    pub interactions: Vec<SpanEvents>,
    /// Spans without a GenAI attribute or event.
    pub not_genai: u64,
    /// GenAI spans of an operation that generates nothing (`NOT_GENERATIONS`), or with
    /// nothing that says what was generated (no model, no messages, no operation name).
    pub not_generation: u64,
    /// Spans that could not be read (bad ids or times, an `evalgate.vars` that is not an
    /// object): the answer's `partial_success.rejected_spans`.
    pub refused: Vec<Refused>,
}

impl Mapped {
    pub fn ignored(&self) -> u64 {
        self.not_genai + self.not_generation
    }
}

/// Decodes an OTLP/HTTP trace export body and maps its spans. An error says why the body
/// cannot be read at all (an HTTP 400).
pub fn read(body: &[u8], encoding: Encoding) -> Result<Mapped, String> {
    let request = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body).map_err(|e| {
            format!("the body is not an OTLP ExportTraceServiceRequest in protobuf: {e}")
        })?,
        Encoding::Json => {
            serde_json::from_slice::<ExportTraceServiceRequest>(body).map_err(|e| {
                format!("the body is not an OTLP ExportTraceServiceRequest in OTLP JSON: {e}")
            })?
        }
    };
    Ok(map(&request))
}

/// The answer to an export: `ExportTraceServiceResponse`, with `partial_success` when spans
/// were refused (their count and `message`).
pub fn response(rejected: u64, message: &str, encoding: Encoding) -> Vec<u8> {
    let partial = (rejected > 0 || !message.is_empty()).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: message.to_string(),
    });
    match encoding {
        Encoding::Protobuf => ExportTraceServiceResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        // By hand: OTLP JSON writes an int64 as a decimal string, which the generated
        // serializer does not do for `rejected_spans`.
        Encoding::Json => match partial {
            Some(p) => json!({"partialSuccess": {
                "rejectedSpans": p.rejected_spans.to_string(),
                "errorMessage": p.error_message,
            }}),
            None => json!({}),
        }
        .to_string()
        .into_bytes(),
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer. Declared with prost's derive
/// (the `details` field, never sent, is left out: a reader skips it).
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC status codes an error answer carries (`google.rpc.Code`).
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// The body of an error answer: a `google.rpc.Status` in the request's encoding.
pub fn status(code: i32, message: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => Status {
            code,
            message: message.to_string(),
        }
        .encode_to_vec(),
        Encoding::Json => json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

/// The event id of the interaction a span becomes: `otel-<trace id>-<span id>`.
pub fn event_id(trace_id: &[u8], span_id: &[u8]) -> String {
    format!("{EVENT_ID_PREFIX}{}-{}", hex(trace_id), hex(span_id))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps every span of a request.
pub fn map(request: &ExportTraceServiceRequest) -> Mapped {
    let mut out = Mapped::default();
    for rs in &request.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                out.spans += 1;
                match span_events(span, &resource) {
                    Outcome::NotGenAi => out.not_genai += 1,
                    Outcome::NotGeneration => out.not_generation += 1,
                    Outcome::Refused(reason) => out.refused.push(Refused {
                        span: if span.trace_id.len() != 16 || span.span_id.len() != 8 {
                            format!("#{} (`{}`)", out.spans, span.name)
                        } else {
                            format!("{}/{}", hex(&span.trace_id), hex(&span.span_id))
                        },
                        reason,
                    }),
                    Outcome::Mapped(events) => out.interactions.push(events),
                }
            }
        }
    }
    out
}

/// What the refused spans were, for `partial_success.error_message` (empty when none).
pub fn refusals(refused: &[Refused], spans: u64) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let mut shown: Vec<String> = refused
        .iter()
        .take(REASONS_SHOWN)
        .map(|r| format!("span {}: {}", r.span, r.reason))
        .collect();
    if refused.len() > REASONS_SHOWN {
        shown.push(format!("and {} more", refused.len() - REASONS_SHOWN));
    }
    format!(
        "{} of {spans} spans refused: {}",
        refused.len(),
        shown.join("; ")
    )
}

enum Outcome {
    NotGenAi,
    NotGeneration,
    Refused(String),
    Mapped(SpanEvents),
}

fn span_events(span: &Span, resource: &Map<String, Value>) -> Outcome {
    let attrs = attributes(&span.attributes);
    let genai = attrs.keys().any(|k| k.starts_with("gen_ai."))
        || span.events.iter().any(|e| e.name.starts_with("gen_ai."));
    if !genai {
        return Outcome::NotGenAi;
    }
    let operation = operation(&attrs);
    if operation
        .as_deref()
        .is_some_and(|o| NOT_GENERATIONS.contains(&o))
    {
        return Outcome::NotGeneration;
    }
    let content = Content::of(span, &attrs);
    let model =
        text(&attrs, "gen_ai.response.model").or_else(|| text(&attrs, "gen_ai.request.model"));
    if operation.is_none() && model.is_none() && content.is_empty() {
        return Outcome::NotGeneration;
    }
    match interaction(span, resource, &attrs, operation, model, content) {
        Ok(events) => Outcome::Mapped(events),
        Err(reason) => Outcome::Refused(reason),
    }
}

/// The operation: `gen_ai.operation.name`, else the older `llm.request.type`.
fn operation(attrs: &Map<String, Value>) -> Option<String> {
    if let Some(op) = text(attrs, "gen_ai.operation.name") {
        return Some(op);
    }
    text(attrs, "llm.request.type").map(|t| match t.as_str() {
        "completion" => "text_completion".to_string(),
        "embedding" => "embeddings".to_string(),
        _ => t,
    })
}

/// A span's time as RFC 3339.
fn time(nanos: u64) -> Option<String> {
    let nanos = i64::try_from(nanos).ok().filter(|n| *n > 0)?;
    Some(
        chrono::DateTime::from_timestamp_nanos(nanos)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

fn interaction(
    span: &Span,
    resource: &Map<String, Value>,
    attrs: &Map<String, Value>,
    operation: Option<String>,
    model: Option<String>,
    content: Content,
) -> Result<SpanEvents, String> {
    if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
        return Err(format!(
            "its trace id is not 16 bytes other than all zeros (got {} bytes)",
            span.trace_id.len()
        ));
    }
    if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
        return Err(format!(
            "its span id is not 8 bytes other than all zeros (got {} bytes)",
            span.span_id.len()
        ));
    }
    let Some(timestamp) = time(span.start_time_unix_nano) else {
        return Err(format!(
            "its start time ({} ns since 1970) is not a time",
            span.start_time_unix_nano
        ));
    };
    let event_id = event_id(&span.trace_id, &span.span_id);
    let operation = operation.unwrap_or_else(|| "chat".to_string());
    let service = text(resource, "service.name").or_else(|| text(attrs, "service.name"));
    let prompt = text(attrs, "evalgate.prompt.name")
        .or_else(|| text(attrs, "gen_ai.agent.name"))
        .unwrap_or_else(|| match &service {
            Some(s) => format!("{s}/{operation}"),
            None => operation.clone(),
        });
    let vars = match attrs.get("evalgate.vars").map(structured) {
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(format!(
                "`evalgate.vars` must be an object of template variables (a map or a JSON object), got {}",
                super::json_type(&other)
            ));
        }
        None => content.vars(),
    };
    let finish_reasons = finish_reasons(attrs, &content);
    let latency_ms = (span.end_time_unix_nano >= span.start_time_unix_nano
        && span.end_time_unix_nano > 0)
        .then(|| (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6);
    let tokens = match (
        int(attrs, "gen_ai.usage.input_tokens")
            .or_else(|| int(attrs, "gen_ai.usage.prompt_tokens")),
        int(attrs, "gen_ai.usage.output_tokens")
            .or_else(|| int(attrs, "gen_ai.usage.completion_tokens")),
    ) {
        (Some(input), Some(output)) => Some(Tokens { input, output }),
        _ => None,
    };
    let tags = tags(
        span,
        resource,
        attrs,
        &operation,
        service.as_deref(),
        &finish_reasons,
    );
    let mut interaction = Interaction {
        event_id: event_id.clone(),
        timestamp,
        prompt,
        prompt_version: text(attrs, "evalgate.prompt.version"),
        model,
        params: params(attrs),
        vars,
        context: content.context(),
        output: content.output(),
        latency_ms,
        tokens,
        tags,
    };
    redact(&mut interaction);
    let mut events = vec![Event::Interaction(interaction)];
    let ended = time(span.end_time_unix_nano)
        .unwrap_or_else(|| time(span.start_time_unix_nano).unwrap_or_default());
    for (name, reason) in finish_signals(&finish_reasons) {
        events.push(Event::Signal(Signal {
            event_id: format!("{event_id}-{name}"),
            interaction_id: event_id.clone(),
            timestamp: ended.clone(),
            kind: SignalKind::Operational,
            name: name.to_string(),
            value: Some(Value::String(crate::secrets::redact(&reason))),
            edited_output: None,
            comment: Some(format!(
                "the model's finish reason was `{}`",
                crate::secrets::redact(&reason)
            )),
        }));
    }
    for e in &events {
        e.check()?;
    }
    Ok(SpanEvents {
        interaction_id: event_id,
        events,
    })
}

/// The finish reasons of every choice: `gen_ai.response.finish_reasons`, else the choices'.
fn finish_reasons(attrs: &Map<String, Value>, content: &Content) -> Vec<String> {
    let listed = strings(attrs, "gen_ai.response.finish_reasons");
    if !listed.is_empty() {
        return listed;
    }
    content
        .output
        .iter()
        .filter_map(|c| c.finish_reason.clone())
        .collect()
}

/// The operational signals finish reasons give: a cut-off answer (`length`, Anthropic's
/// `max_tokens`) is a `truncation`; a filtered or refused one (`content_filter`, Gemini's
/// `safety`, Anthropic's `refusal`) a `refusal`. Each name once, with the first reason.
fn finish_signals(reasons: &[String]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for r in reasons {
        let name = match r.to_ascii_lowercase().as_str() {
            "length" | "max_tokens" | "max_output_tokens" => "truncation",
            "content_filter" | "safety" | "refusal" | "prohibited_content" | "blocklist" => {
                "refusal"
            }
            _ => continue,
        };
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, r.clone()));
        }
    }
    out
}

/// The request's parameters, under the names evalgate's prompts give them where they have one.
fn params(attrs: &Map<String, Value>) -> Option<Map<String, Value>> {
    const NAMES: &[(&str, &str)] = &[
        ("gen_ai.request.temperature", "temperature"),
        ("gen_ai.request.max_tokens", "max_tokens"),
        ("gen_ai.request.top_p", "top_p"),
        ("gen_ai.request.top_k", "top_k"),
        ("gen_ai.request.frequency_penalty", "frequency_penalty"),
        ("gen_ai.request.presence_penalty", "presence_penalty"),
        ("gen_ai.request.stop_sequences", "stop"),
        ("gen_ai.request.seed", "seed"),
        ("gen_ai.request.choice.count", "n"),
        ("gen_ai.output.type", "response_format"),
    ];
    let mut out = Map::new();
    for (key, name) in NAMES {
        if let Some(v) = attrs.get(*key).filter(|v| !v.is_null()) {
            out.insert((*name).to_string(), v.clone());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The tags that say where an interaction came from and how it ended.
fn tags(
    span: &Span,
    resource: &Map<String, Value>,
    attrs: &Map<String, Value>,
    operation: &str,
    service: Option<&str>,
    finish_reasons: &[String],
) -> Vec<String> {
    let mut tags = vec!["otel".to_string(), format!("operation:{operation}")];
    if let Some(s) = service {
        tags.push(format!("service:{s}"));
    }
    if let Some(p) = text(attrs, "gen_ai.provider.name").or_else(|| text(attrs, "gen_ai.system")) {
        tags.push(format!("provider:{p}"));
    }
    for r in finish_reasons {
        tags.push(format!("finish_reason:{r}"));
    }
    if let Some(c) = text(attrs, "gen_ai.conversation.id") {
        tags.push(format!("conversation:{c}"));
    }
    if let Some(s) = text(attrs, "session.id").or_else(|| text(resource, "session.id")) {
        tags.push(format!("session:{s}"));
    }
    let error = span.status.as_ref().is_some_and(|s| {
        s.code == opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32
    });
    match text(attrs, "error.type") {
        Some(t) => tags.push(format!("error:{t}")),
        None if error => tags.push("error".to_string()),
        None => {}
    }
    tags.extend(strings(attrs, "evalgate.tags"));
    let mut seen = std::collections::HashSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    tags
}

/// Takes secrets out of every text of an interaction: span attributes carry what the
/// application saw, and a prompt or a header value may hold a key (`secrets::redact`).
fn redact(i: &mut Interaction) {
    use crate::secrets::redact as r;
    i.prompt = r(&i.prompt);
    i.prompt_version = i.prompt_version.as_deref().map(r);
    i.model = i.model.as_deref().map(r);
    i.output = r(&i.output);
    for t in &mut i.tags {
        *t = r(t);
    }
    for v in i.vars.values_mut() {
        redact_value(v);
    }
    for c in &mut i.context {
        c.text = r(&c.text);
    }
    if let Some(p) = &mut i.params {
        for v in p.values_mut() {
            redact_value(v);
        }
    }
}

fn redact_value(v: &mut Value) {
    match v {
        Value::String(s) => *s = crate::secrets::redact(s),
        Value::Array(a) => a.iter_mut().for_each(redact_value),
        Value::Object(o) => o.values_mut().for_each(redact_value),
        _ => {}
    }
}

// The prompt and the completion, in the forms the conventions have used.

/// One message of a conversation, whatever form it came in.
#[derive(Debug, Clone, Default, PartialEq)]
struct Message {
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
struct Choice {
    index: i64,
    message: Message,
    finish_reason: Option<String>,
}

/// What the model was given and what it answered.
#[derive(Debug, Clone, Default, PartialEq)]
struct Content {
    system: Vec<String>,
    input: Vec<Message>,
    output: Vec<Choice>,
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
    fn of(span: &Span, attrs: &Map<String, Value>) -> Content {
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

    fn is_empty(&self) -> bool {
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
                        out.input = messages(&structured(v), "user");
                    }
                }
                "gen_ai.content.completion" => {
                    if let Some(v) = body.get("gen_ai.completion") {
                        out.output = choices(&structured(v));
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
        let mut input = std::collections::BTreeMap::<usize, Message>::new();
        let mut output = std::collections::BTreeMap::<usize, Choice>::new();
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
                    while msg.tool_calls.len() <= m {
                        msg.tool_calls.push(Value::Object(Map::new()));
                    }
                    if let Value::Object(call) = &mut msg.tool_calls[m] {
                        call.insert(what.to_string(), Value::String(value));
                    }
                }
            }
        }
        Content {
            system: Vec::new(),
            input: input
                .into_values()
                .map(|mut m| {
                    if m.role.is_empty() {
                        m.role = "user".into();
                    }
                    m
                })
                .collect(),
            output: output
                .into_values()
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
                .map(|v| messages(&structured(v), "user"))
                .unwrap_or_default(),
            output: attrs
                .get("gen_ai.completion")
                .map(|v| choices(&structured(v)))
                .unwrap_or_default(),
        }
    }

    /// The interaction's variables: `input` (the last user message, or the prompt of a text
    /// completion) and `messages` (every message but the instructions, when there is more
    /// than one: a conversation). The instructions are not an input: they belong to the
    /// prompt (see `context`).
    fn vars(&self) -> Map<String, Value> {
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
    fn context(&self) -> Vec<super::ContextChunk> {
        if self.system.is_empty() {
            return Vec::new();
        }
        vec![super::ContextChunk {
            id: Some(SYSTEM_CHUNK.to_string()),
            text: self.system.join("\n"),
            score: None,
        }]
    }

    /// The answer: the text of the first choice; a choice that only calls tools is its calls
    /// as JSON (`{"tool_calls": [...]}`).
    fn output(&self) -> String {
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
            match o.get("content").map(structured) {
                Some(Value::String(s)) => texts.push(s),
                Some(Value::Array(parts)) => {
                    for p in &parts {
                        read_part(p, &mut m, &mut texts);
                    }
                }
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

// Attribute values as JSON.

/// Attributes as a JSON object (a later duplicate key wins).
fn attributes(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, any)))
        .collect()
}

fn any(v: &AnyValue) -> Value {
    use any_value::Value as V;
    match &v.value {
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number)
        }
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(any).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(attributes(&kv.values)),
        Some(V::BytesValue(b)) => {
            use base64::Engine;
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(V::StringValueStrindex(_)) | None => Value::Null,
    }
}

/// A value that may be JSON written as text: the parsed JSON when it is an array or an
/// object, else the value itself.
fn structured(v: &Value) -> Value {
    if let Value::String(s) = v {
        let t = s.trim_start();
        if (t.starts_with('[') || t.starts_with('{'))
            && let Ok(parsed) = serde_json::from_str::<Value>(s)
        {
            return parsed;
        }
    }
    v.clone()
}

/// A value as text: a string itself, anything else as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A non-empty string attribute (a number is written as text).
fn text(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    match attrs.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A count: an integer, an integral double, or its text.
fn int(attrs: &Map<String, Value>, key: &str) -> Option<u64> {
    match attrs.get(key)? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A list of strings: a string array, JSON text of one, or a single string.
fn strings(attrs: &Map<String, Value>, key: &str) -> Vec<String> {
    match attrs.get(key).map(structured) {
        Some(Value::Array(a)) => a.iter().map(value_text).filter(|s| !s.is_empty()).collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, span};

    fn s(v: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }
    }

    fn n(v: i64) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }
    }

    fn kv(k: &str, v: AnyValue) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(v),
            ..KeyValue::default()
        }
    }

    fn event(name: &str, attrs: Vec<KeyValue>) -> span::Event {
        span::Event {
            time_unix_nano: 1_790_000_000_000_000_000,
            name: name.into(),
            attributes: attrs,
            dropped_attributes_count: 0,
        }
    }

    fn span(n: u8, attrs: Vec<KeyValue>, events: Vec<span::Event>) -> Span {
        Span {
            trace_id: vec![0xab; 16],
            span_id: vec![n; 8],
            name: "chat gpt-4o-mini".into(),
            start_time_unix_nano: 1_790_000_000_000_000_000,
            end_time_unix_nano: 1_790_000_001_250_000_000,
            attributes: attrs,
            events,
            ..Span::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", s("support-bot"))],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    fn only(m: &Mapped) -> &Interaction {
        assert_eq!(m.interactions.len(), 1, "{m:?}");
        match &m.interactions[0].events[0] {
            Event::Interaction(i) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn event_based_chat_spans_become_interactions() {
        let sp = span(
            1,
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.system", s("openai")),
                kv("gen_ai.request.model", s("gpt-4o-mini")),
                kv("gen_ai.response.model", s("gpt-4o-mini-2024-07-18")),
                kv(
                    "gen_ai.request.temperature",
                    AnyValue {
                        value: Some(any_value::Value::DoubleValue(0.2)),
                    },
                ),
                kv("gen_ai.request.max_tokens", n(200)),
                kv("gen_ai.usage.input_tokens", n(31)),
                kv("gen_ai.usage.output_tokens", n(12)),
                kv(
                    "gen_ai.response.finish_reasons",
                    AnyValue {
                        value: Some(any_value::Value::ArrayValue(ArrayValue {
                            values: vec![s("length")],
                        })),
                    },
                ),
                kv("gen_ai.conversation.id", s("conv-7")),
            ],
            vec![
                event(
                    "gen_ai.system.message",
                    vec![kv("content", s("You are terse."))],
                ),
                event(
                    "gen_ai.user.message",
                    vec![kv(
                        "content",
                        s("Refund my order, key sk-proj-ABCDEFGH12345678"),
                    )],
                ),
                event(
                    "gen_ai.choice",
                    vec![
                        kv("index", n(0)),
                        kv("finish_reason", s("length")),
                        kv(
                            "message",
                            AnyValue {
                                value: Some(any_value::Value::KvlistValue(KeyValueList {
                                    values: vec![
                                        kv("role", s("assistant")),
                                        kv("content", s("Sure, I can")),
                                    ],
                                })),
                            },
                        ),
                    ],
                ),
            ],
        );
        let m = map(&request(vec![sp]));
        let i = only(&m);
        assert_eq!(
            i.event_id,
            format!("otel-{}-{}", "ab".repeat(16), "01".repeat(8))
        );
        assert_eq!(i.prompt, "support-bot/chat");
        assert_eq!(i.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(i.output, "Sure, I can");
        assert_eq!(i.context[0].text, "You are terse.");
        assert_eq!(i.context[0].id.as_deref(), Some(SYSTEM_CHUNK));
        assert!(!i.vars.contains_key("system"));
        assert_eq!(i.vars["input"], "Refund my order, key [redacted]");
        assert!(!i.vars.contains_key("messages"));
        assert_eq!(i.params.as_ref().unwrap()["max_tokens"], 200);
        assert_eq!(
            i.tokens,
            Some(Tokens {
                input: 31,
                output: 12
            })
        );
        assert_eq!(i.latency_ms, Some(1250.0));
        assert_eq!(i.timestamp, "2026-09-21T14:13:20Z");
        for t in [
            "otel",
            "operation:chat",
            "service:support-bot",
            "provider:openai",
            "finish_reason:length",
            "conversation:conv-7",
        ] {
            assert!(i.tags.contains(&t.to_string()), "{t} in {:?}", i.tags);
        }
        // The cut-off answer is a truncation signal about the interaction.
        let Event::Signal(sig) = &m.interactions[0].events[1] else {
            panic!()
        };
        assert_eq!(sig.name, "truncation");
        assert_eq!(sig.interaction_id, i.event_id);
        assert_eq!(sig.event_id, format!("{}-truncation", i.event_id));
    }

    #[test]
    fn newer_message_attributes_and_indexed_ones_are_read() {
        let input = r#"[{"role":"system","parts":[{"type":"text","content":"Be kind."}]},
            {"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},
            {"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"get_weather","arguments":{"city":"Paris"}}]},
            {"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"rainy"}]}]"#;
        let output = r#"[{"role":"assistant","parts":[{"type":"text","content":"It is rainy."}],"finish_reason":"stop"}]"#;
        let newer = span(
            2,
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.provider.name", s("anthropic")),
                kv("gen_ai.input.messages", s(input)),
                kv("gen_ai.output.messages", s(output)),
                kv("evalgate.prompt.name", s("weather")),
                kv("evalgate.prompt.version", s("1a2b3c4d")),
            ],
            vec![],
        );
        let m = map(&request(vec![newer]));
        let i = only(&m);
        assert_eq!(i.prompt, "weather");
        assert_eq!(i.prompt_version.as_deref(), Some("1a2b3c4d"));
        assert_eq!(i.output, "It is rainy.");
        assert_eq!(i.context[0].text, "Be kind.");
        assert_eq!(i.vars["input"], "Weather in Paris?");
        let msgs = i.vars["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1]["tool_calls"][0]["name"], "get_weather");
        assert_eq!(msgs[2]["tool_call_id"], "c1");
        assert_eq!(msgs[2]["content"], "rainy");
        assert_eq!(m.interactions[0].events.len(), 1, "no signal for `stop`");

        let legacy = span(
            3,
            vec![
                kv("gen_ai.system", s("openai")),
                kv("llm.request.type", s("chat")),
                kv("gen_ai.request.model", s("gpt-3.5-turbo")),
                kv("gen_ai.usage.prompt_tokens", n(9)),
                kv("gen_ai.usage.completion_tokens", n(4)),
                kv("gen_ai.prompt.0.role", s("user")),
                kv("gen_ai.prompt.0.content", s("Hello")),
                kv("gen_ai.completion.0.role", s("assistant")),
                kv("gen_ai.completion.0.content", s("Hi!")),
                kv("gen_ai.completion.0.finish_reason", s("content_filter")),
            ],
            vec![],
        );
        let m = map(&request(vec![legacy]));
        let i = only(&m);
        assert_eq!(i.vars["input"], "Hello");
        assert_eq!(i.output, "Hi!");
        assert_eq!(
            i.tokens,
            Some(Tokens {
                input: 9,
                output: 4
            })
        );
        let Event::Signal(sig) = &m.interactions[0].events[1] else {
            panic!()
        };
        assert_eq!(sig.name, "refusal");
    }

    #[test]
    fn other_spans_are_counted_and_bad_ones_refused() {
        let http = span(4, vec![kv("http.request.method", s("POST"))], vec![]);
        let embeddings = span(
            5,
            vec![kv("gen_ai.operation.name", s("embeddings"))],
            vec![],
        );
        let mut bad_id = span(6, vec![kv("gen_ai.operation.name", s("chat"))], vec![]);
        bad_id.trace_id = vec![1, 2, 3];
        let bad_vars = span(
            7,
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("evalgate.vars", s("[1, 2]")),
            ],
            vec![],
        );
        let vars = span(
            8,
            vec![
                kv("gen_ai.operation.name", s("text_completion")),
                kv("evalgate.vars", s(r#"{"ticket": "T-1"}"#)),
            ],
            vec![],
        );
        let m = map(&request(vec![http, embeddings, bad_id, bad_vars, vars]));
        assert_eq!((m.spans, m.not_genai, m.not_generation), (5, 1, 1));
        assert_eq!(m.refused.len(), 2);
        assert!(
            m.refused[0].reason.contains("trace id is not 16 bytes"),
            "{:?}",
            m.refused
        );
        assert!(
            m.refused[1]
                .reason
                .contains("`evalgate.vars` must be an object"),
            "{:?}",
            m.refused
        );
        let i = only(&m);
        assert_eq!(i.vars["ticket"], "T-1");
        assert_eq!(i.prompt, "support-bot/text_completion");
        assert!(
            refusals(&m.refused, m.spans)
                .starts_with("2 of 5 spans refused: span #3 (`chat gpt-4o-mini`): its trace id")
        );
    }

    #[test]
    fn answers_are_otlp_messages() {
        let body = response(2, "2 of 5 spans refused", Encoding::Json);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 of 5 spans refused"}})
        );
        assert_eq!(response(0, "", Encoding::Json), b"{}");
        let pb =
            ExportTraceServiceResponse::decode(&response(1, "x", Encoding::Protobuf)[..]).unwrap();
        assert_eq!(pb.partial_success.unwrap().rejected_spans, 1);
        assert!(response(0, "", Encoding::Protobuf).is_empty());
        let st =
            Status::decode(&status(code::INVALID_ARGUMENT, "bad", Encoding::Protobuf)[..]).unwrap();
        assert_eq!((st.code, st.message.as_str()), (3, "bad"));
        assert_eq!(
            Encoding::from_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::from_content_type("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
        assert!(
            read(b"\xff\xff", Encoding::Protobuf)
                .unwrap_err()
                .contains("protobuf")
        );
        assert!(
            read(b"{\"resourceSpans\": 3}", Encoding::Json)
                .unwrap_err()
                .contains("OTLP JSON")
        );
    }
}
