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
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Map, Value, json};

use super::{Event, Interaction, Signal, SignalKind, Tokens};
use content::Content;
use values::{attributes, int, strings, structured, text};

mod content;
mod values;

/// The prefix of an interaction's event id made from a span.
pub const EVENT_ID_PREFIX: &str = "otel-";

/// The id of the context chunk that holds a span's system instructions.
pub const SYSTEM_CHUNK: &str = "system_instructions";

/// GenAI operations that generate no text to evaluate: their spans are ignored.
pub const NOT_GENERATIONS: &[&str] = &["embeddings", "execute_tool", "create_agent", "retrieval"];

/// The deepest nesting of an event made from a span: the API's limit for any event.
pub const MAX_DEPTH: usize = 64;

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

/// A span's interaction id and start time, if its ids and start time are valid.
fn provenance(span: &Span) -> Result<(String, String), String> {
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
    Ok((event_id(&span.trace_id, &span.span_id), timestamp))
}

fn interaction(
    span: &Span,
    resource: &Map<String, Value>,
    attrs: &Map<String, Value>,
    operation: Option<String>,
    model: Option<String>,
    content: Content,
) -> Result<SpanEvents, String> {
    let (event_id, timestamp) = provenance(span)?;
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
        tokens: tokens(attrs),
        tags,
    };
    redact(&mut interaction);
    let mut events = vec![Event::Interaction(interaction)];
    let ended = time(span.end_time_unix_nano)
        .unwrap_or_else(|| time(span.start_time_unix_nano).unwrap_or_default());
    events.extend(
        finish_signals(&finish_reasons)
            .into_iter()
            .map(|(name, reason)| finish_signal(&event_id, &ended, name, &reason)),
    );
    for e in &events {
        e.check()?;
        let body = serde_json::to_vec(e).unwrap_or_default();
        if crate::config::guard::json_too_deep(&body, MAX_DEPTH).is_some() {
            return Err(format!(
                "its values nest more than {MAX_DEPTH} levels deep, as no event may"
            ));
        }
    }
    Ok(SpanEvents {
        interaction_id: event_id,
        events,
    })
}

/// The token counts, when both are there.
fn tokens(attrs: &Map<String, Value>) -> Option<Tokens> {
    let input = int(attrs, "gen_ai.usage.input_tokens")
        .or_else(|| int(attrs, "gen_ai.usage.prompt_tokens"));
    let output = int(attrs, "gen_ai.usage.output_tokens")
        .or_else(|| int(attrs, "gen_ai.usage.completion_tokens"));
    Some(Tokens {
        input: input?,
        output: output?,
    })
}

/// The operational signal `name` about interaction `event_id`, for a finish reason.
fn finish_signal(event_id: &str, at: &str, name: &str, reason: &str) -> Event {
    let reason = crate::secrets::redact(reason);
    Event::Signal(Signal {
        event_id: format!("{event_id}-{name}"),
        interaction_id: event_id.to_string(),
        timestamp: at.to_string(),
        kind: SignalKind::Operational,
        name: name.to_string(),
        comment: Some(format!("the model's finish reason was `{reason}`")),
        value: Some(Value::String(reason)),
        edited_output: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
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
    fn answers_and_questions_in_json_stay_as_written() {
        let answer = r#"{"intent": "bug", "escalation_risk": 4}"#;
        let events = span(
            9,
            vec![kv("gen_ai.operation.name", s("chat"))],
            vec![
                event("gen_ai.user.message", vec![kv("content", s("[1, 2, 3]"))]),
                event(
                    "gen_ai.choice",
                    vec![kv(
                        "message",
                        s(&json!({"role": "assistant", "content": answer}).to_string()),
                    )],
                ),
            ],
        );
        let m = map(&request(vec![events]));
        let i = only(&m);
        assert_eq!(i.output, answer);
        assert_eq!(i.vars["input"], "[1, 2, 3]");
        let plain = span(
            10,
            vec![
                kv("gen_ai.request.model", s("m")),
                kv("gen_ai.prompt", s("Label: the export is broken")),
                kv("gen_ai.completion", s(answer)),
            ],
            vec![],
        );
        let m = map(&request(vec![plain]));
        let i = only(&m);
        assert_eq!(i.output, answer);
        assert_eq!(i.vars["input"], "Label: the export is broken");
        assert_eq!(i.prompt, "support-bot/chat");
    }

    #[test]
    fn hostile_indices_and_depths_are_harmless() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let hostile = span(
            11,
            vec![
                kv("gen_ai.request.model", s("m")),
                kv("gen_ai.completion.0.content", s("ok")),
                kv("gen_ai.completion.0.tool_calls.99999999999.name", s("f")),
                kv("gen_ai.prompt.18446744073709551615.content", s("last")),
                kv("gen_ai.prompt.7.unknown", s("nothing")),
            ],
            vec![],
        );
        let too_deep = span(
            12,
            vec![
                kv("gen_ai.request.model", s("m")),
                kv("evalgate.vars", s(&format!("{{\"v\": {deep}}}"))),
            ],
            vec![],
        );
        let m = map(&request(vec![hostile, too_deep]));
        let i = only(&m);
        assert_eq!(i.output, "ok");
        assert_eq!(i.vars["input"], "last");
        assert!(!i.vars.contains_key("messages"), "{:?}", i.vars);
        assert_eq!(m.refused.len(), 1);
        assert!(
            m.refused[0].reason.contains("nest more than 64"),
            "{:?}",
            m.refused
        );
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
