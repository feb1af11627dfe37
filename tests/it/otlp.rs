//! OpenTelemetry traces in (`POST /v1/traces`, issue 21 part 1) through the real binary:
//! OTLP protobuf bodies built with the opentelemetry-proto types, OTLP JSON written by hand,
//! gzip, spans that are ignored or refused, the OTLP error answers, auth and limits, what
//! is stored (once, however often a span is sent), on SQLite and PostgreSQL; and the spans
//! of the official OpenTelemetry Python SDK's OTLP/HTTP exporter, triaged and promoted.

use evalgate::serve::SPANS_HEADER;
use std::io::Write;
use std::process::Command;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message;
use serde_json::{Value, json};

use crate::common::{Project, postgres_schema, postgres_url, repo};
use crate::feedback::{Server, runtime};

const TOKEN: &str = "otlp-test-token-0123456789";
const START: u64 = 1_790_000_000_000_000_000;

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn value(v: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value(any_value::Value::StringValue(v.into())),
        ..KeyValue::default()
    }
}

fn kv_int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value(any_value::Value::IntValue(v)),
        ..KeyValue::default()
    }
}

fn kv_list(key: &str, items: &[&str]) -> KeyValue {
    let values = items
        .iter()
        .map(|s| AnyValue {
            value: Some(any_value::Value::StringValue(s.to_string())),
        })
        .collect();
    KeyValue {
        key: key.into(),
        value: value(any_value::Value::ArrayValue(ArrayValue { values })),
        ..KeyValue::default()
    }
}

fn span_of(trace: u8, id: u8, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: name.into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: START,
        end_time_unix_nano: START + 750_000_000,
        attributes,
        ..Span::default()
    }
}

/// A chat call recorded with the span events of the conventions up to 1.36.
fn chat(trace: u8, id: u8, question: &str, answer: &str, finish: &str) -> Span {
    let mut s = span_of(
        trace,
        id,
        "chat gpt-4o-mini",
        vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.system", "openai"),
            kv("gen_ai.request.model", "gpt-4o-mini"),
            kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
            kv_int("gen_ai.request.max_tokens", 100),
            kv_int("gen_ai.usage.input_tokens", 20),
            kv_int("gen_ai.usage.output_tokens", 8),
            kv_list("gen_ai.response.finish_reasons", &[finish]),
            kv("gen_ai.conversation.id", &format!("conv-{trace}")),
        ],
    );
    let event = |name: &str, attributes: Vec<KeyValue>| span::Event {
        time_unix_nano: START,
        name: name.into(),
        attributes,
        dropped_attributes_count: 0,
    };
    s.events = vec![
        event(
            "gen_ai.system.message",
            vec![kv("content", "You answer shoppers.")],
        ),
        event("gen_ai.user.message", vec![kv("content", question)]),
        event(
            "gen_ai.choice",
            vec![
                kv_int("index", 0),
                kv("finish_reason", finish),
                kv(
                    "message",
                    &json!({"role": "assistant", "content": answer}).to_string(),
                ),
            ],
        ),
    ];
    s
}

/// A chat call recorded with the indexed attributes of OpenLLMetry.
fn legacy_chat(trace: u8, id: u8) -> Span {
    span_of(
        trace,
        id,
        "openai.chat",
        vec![
            kv("gen_ai.system", "openai"),
            kv("llm.request.type", "chat"),
            kv("gen_ai.request.model", "gpt-3.5-turbo"),
            kv_int("gen_ai.usage.prompt_tokens", 9),
            kv_int("gen_ai.usage.completion_tokens", 3),
            kv("gen_ai.prompt.0.role", "user"),
            kv("gen_ai.prompt.0.content", "Do you ship to Norway?"),
            kv("gen_ai.completion.0.role", "assistant"),
            kv("gen_ai.completion.0.content", "Yes, in 5 days."),
            kv("gen_ai.completion.0.finish_reason", "stop"),
        ],
    )
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "shop")],
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

/// The event id a span becomes.
fn id(trace: u8, span: u8) -> String {
    format!(
        "otel-{}-{}",
        format!("{trace:02x}").repeat(16),
        format!("{span:02x}").repeat(8)
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

struct Answer {
    status: u16,
    content_type: String,
    spans: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn post(
    url: &str,
    body: Vec<u8>,
    content_type: &str,
    encoding: Option<&str>,
    token: Option<&str>,
) -> Answer {
    let mut r = reqwest::Client::new()
        .post(format!("{url}/v1/traces"))
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = encoding {
        r = r.header("content-encoding", e);
    }
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let r = r.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    Answer {
        status: r.status().as_u16(),
        content_type: header("content-type"),
        spans: header("x-evalgate-spans"),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

async fn protobuf(url: &str, req: &ExportTraceServiceRequest) -> Answer {
    post(
        url,
        req.encode_to_vec(),
        "application/x-protobuf",
        None,
        Some(TOKEN),
    )
    .await
}

/// OTLP JSON as an exporter writes it: hex ids, lowerCamelCase, 64-bit integers as strings,
/// a structured `gen_ai.input.messages` (a list of key-value lists) and JSON-text output.
fn json_request(trace: &str, question: &str) -> Value {
    let text_part = |text: &str| {
        json!({"kvlistValue": {"values": [
            {"key": "type", "value": {"stringValue": "text"}},
            {"key": "content", "value": {"stringValue": text}}
        ]}})
    };
    let input = json!({"arrayValue": {"values": [{"kvlistValue": {"values": [
        {"key": "role", "value": {"stringValue": "user"}},
        {"key": "parts", "value": {"arrayValue": {"values": [text_part(question)]}}}
    ]}}]}});
    let output = json!([{"role": "assistant", "parts": [{"type": "text", "content": "It left the depot today."}], "finish_reason": "stop"}]).to_string();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"scope": {"name": "hand-written"}, "spans": [{
            "traceId": trace,
            "spanId": "0101010101010101",
            "name": "chat gpt-4o-mini",
            "kind": 3,
            "startTimeUnixNano": "1790000000000000000",
            "endTimeUnixNano": "1790000000800000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "6"}},
                {"key": "gen_ai.input.messages", "value": input},
                {"key": "gen_ai.output.messages", "value": {"stringValue": output}},
                {"key": "session.id", "value": {"stringValue": "sess-9"}}
            ],
            "status": {"code": 1}
        }]}]
    }]})
}

fn traces_become_interactions(database_url: Option<String>) {
    let p = Project::empty();
    let mut env = vec![("EVALGATE_SERVER_TOKEN", TOKEN)];
    if let Some(u) = database_url.as_deref() {
        env.push(("EVALGATE_DATABASE_URL", u));
    }
    let server = Server::start(&p, &["--max-body-bytes", "20000"], &env);
    let url = server.url.clone();
    runtime().block_on(async move {
        let url = url.as_str();
        let first = request(vec![
            chat(1, 1, "Where is my parcel?", "It is on its way and", "length"),
            span_of(1, 2, "POST /checkout", vec![kv("http.request.method", "POST")]),
            span_of(1, 3, "embeddings", vec![kv("gen_ai.operation.name", "embeddings")]),
            legacy_chat(2, 1),
        ]);

        // The same auth and content rules as the rest of the API.
        let a = post(url, first.encode_to_vec(), "application/x-protobuf", None, None).await;
        assert_eq!(a.status, 401);
        let a = post(url, first.encode_to_vec(), "text/plain", None, Some(TOKEN)).await;
        assert_eq!(a.status, 415);
        assert!(a.json()["error"].as_str().unwrap().contains("application/x-protobuf"));
        let from_a_page = reqwest::Client::new()
            .post(format!("{url}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("origin", "http://evil.example")
            .bearer_auth(TOKEN)
            .body(first.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(from_a_page.status(), 403);
        // Protobuf is for traces only.
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/interactions"))
            .header("content-type", "application/x-protobuf")
            .bearer_auth(TOKEN)
            .body(first.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415);

        // Protobuf: two chat spans stored; an HTTP span and an embeddings span ignored.
        let a = protobuf(url, &first).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.content_type, "application/x-protobuf");
        let resp = ExportTraceServiceResponse::decode(&a.body[..]).unwrap();
        assert_eq!(resp.partial_success, None);
        assert_eq!(a.spans, "received=4; stored=2; duplicates=0; ignored=2; refused=0");
        // Sent again (an exporter's retry): nothing is stored twice.
        let a = protobuf(url, &first).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.spans, "received=4; stored=0; duplicates=2; ignored=2; refused=0");

        // Gzip.
        let body = gzip(&request(vec![chat(3, 1, "Can I pay by invoice?", "Yes.", "stop")]).encode_to_vec());
        let a = post(url, body, "application/x-protobuf", Some("gzip"), Some(TOKEN)).await;
        assert_eq!((a.status, a.spans.as_str()), (200, "received=1; stored=1; duplicates=0; ignored=0; refused=0"));

        // OTLP JSON; the answer is OTLP JSON too.
        let body = json_request("04040404040404040404040404040404", "Where is order 1234?");
        let a = post(url, body.to_string().into_bytes(), "application/json", None, Some(TOKEN)).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.content_type, "application/json");
        assert_eq!(a.json(), json!({}));
        assert_eq!(a.spans, "received=1; stored=1; duplicates=0; ignored=0; refused=0");

        // A span with a bad trace id is refused, the others are stored: partial success.
        let mut bad = json_request("", "Is this stored?");
        let good = json_request("05050505050505050505050505050505", "Where is order 5678?");
        let good_span = good["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone();
        bad["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array_mut().unwrap().push(good_span);
        let a = post(url, bad.to_string().into_bytes(), "application/json", None, Some(TOKEN)).await;
        assert_eq!(a.status, 200);
        let body = a.json();
        assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");
        assert!(
            body["partialSuccess"]["errorMessage"].as_str().unwrap().contains("1 of 2 spans refused: span #1 (`chat gpt-4o-mini`): its trace id is not 16 bytes"),
            "{body}"
        );
        assert_eq!(a.spans, "received=2; stored=1; duplicates=0; ignored=0; refused=1");

        // A span sent again with other content is refused, not dropped silently.
        let changed = request(vec![chat(1, 1, "Where is my parcel?", "Another answer.", "stop")]);
        let a = protobuf(url, &changed).await;
        assert_eq!(a.status, 200);
        let partial = ExportTraceServiceResponse::decode(&a.body[..]).unwrap().partial_success.unwrap();
        assert_eq!(partial.rejected_spans, 1);
        assert!(partial.error_message.contains("was stored before with other content"), "{partial:?}");

        // Undecodable bodies: 400 with a google.rpc.Status in the request's encoding.
        let a = post(url, vec![0xff, 0xff, 0xff], "application/x-protobuf", None, Some(TOKEN)).await;
        assert_eq!((a.status, a.content_type.as_str()), (400, "application/x-protobuf"));
        let st = Status::decode(&a.body[..]).unwrap();
        assert_eq!(st.code, 3);
        assert!(st.message.contains("not an OTLP ExportTraceServiceRequest in protobuf"), "{st:?}");
        let a = post(url, b"{\"resourceSpans\": 7}".to_vec(), "application/json", None, Some(TOKEN)).await;
        assert_eq!(a.status, 400);
        assert!(a.json()["message"].as_str().unwrap().contains("in OTLP JSON"), "{}", a.json());
        let a = post(url, b"not gzip".to_vec(), "application/x-protobuf", Some("gzip"), Some(TOKEN)).await;
        assert_eq!(a.status, 400);
        assert!(Status::decode(&a.body[..]).unwrap().message.contains("not valid gzip"));
        let a = post(url, first.encode_to_vec(), "application/x-protobuf", Some("br"), Some(TOKEN)).await;
        assert_eq!(a.status, 415);

        // Over the body limit, as sent or once decompressed.
        let big = request(vec![chat(6, 1, &"long question ".repeat(2000), "x", "stop")]);
        let a = protobuf(url, &big).await;
        assert_eq!(a.status, 413);
        let a = post(url, gzip(&big.encode_to_vec()), "application/x-protobuf", Some("gzip"), Some(TOKEN)).await;
        assert_eq!(a.status, 413);
        assert!(Status::decode(&a.body[..]).unwrap().message.contains("the decompressed body is over the limit of 20000 bytes"));

        // A signal names an interaction by its span's ids.
        let signal = json!({"event_id": "s1", "interaction_id": id(1, 1), "timestamp": "2026-09-21T14:20:00Z",
                            "kind": "explicit", "name": "thumbs_down"});
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/feedback"))
            .bearer_auth(TOKEN)
            .json(&signal)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let (code, log) = server.stop_with_log();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("13 spans received on /v1/traces (4 ignored: no GenAI attributes or nothing generated; 2 refused)"),
        "{log}"
    );

    let rt = runtime();
    let store = rt
        .block_on(evalgate::store::Store::open(
            database_url.as_deref(),
            p.path(),
        ))
        .unwrap();
    // Five interactions (two chat calls, sent twice; gzip; JSON; the good span of the partial
    // request), a truncation signal for the cut-off answer and the thumbs down.
    assert_eq!(rt.block_on(store.feedback_counts()).unwrap(), (5, 2));
    let row = rt
        .block_on(store.feedback_interaction(&id(1, 1)))
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_str(&row.body_json).unwrap();
    assert_eq!(body["prompt"], "shop/chat");
    assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(body["vars"], json!({"input": "Where is my parcel?"}));
    assert_eq!(
        body["context"],
        json!([{"id": "system_instructions", "text": "You answer shoppers."}])
    );
    assert_eq!(body["output"], "It is on its way and");
    assert_eq!(body["tokens"], json!({"input": 20, "output": 8}));
    assert_eq!(body["latency_ms"], 750.0);
    assert_eq!(body["timestamp"], "2026-09-21T14:13:20Z");
    let signals = rt.block_on(store.feedback_signals_of(&id(1, 1))).unwrap();
    let names: Vec<&str> = signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["truncation", "thumbs_down"]);
    let row = rt
        .block_on(store.feedback_interaction(&id(4, 1)))
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_str(&row.body_json).unwrap();
    assert_eq!(body["vars"], json!({"input": "Where is order 1234?"}));
    assert_eq!(body["output"], "It left the depot today.");
    assert_eq!(body["params"], json!({"temperature": 0.5}));
    assert!(
        body["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("session:sess-9")),
        "{body}"
    );
    let row = rt
        .block_on(store.feedback_interaction(&id(2, 1)))
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_str(&row.body_json).unwrap();
    assert_eq!(
        (body["vars"]["input"].as_str(), body["output"].as_str()),
        (Some("Do you ship to Norway?"), Some("Yes, in 5 days."))
    );
}

#[test]
fn otlp_traces_become_interactions_once_on_sqlite() {
    traces_become_interactions(None);
}

#[test]
fn otlp_traces_become_interactions_once_on_postgres() {
    let Some(base) = postgres_url() else { return };
    traces_become_interactions(Some(postgres_schema(&base)));
}

/// The Python interpreter with the OpenTelemetry SDK and its OTLP/HTTP exporter, or None
/// (with the reason printed). `.ci/run` installs `tests/otlp/requirements.txt`.
#[expect(
    clippy::print_stderr,
    reason = "a skipped test says why it was skipped"
)]
fn python_with_opentelemetry() -> Option<&'static str> {
    let check = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter",
        ])
        .output();
    match check {
        Ok(out) if out.status.success() => Some("python3"),
        Ok(out) => {
            eprintln!(
                "skipped: the OpenTelemetry Python SDK is not installed, so the exporter test did not run (python3 -m pip install -r tests/otlp/requirements.txt): {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            None
        }
        Err(e) => {
            eprintln!("skipped: python3 cannot be run ({e}), so the exporter test did not run");
            None
        }
    }
}

/// A client no one here wrote: the OpenTelemetry Python SDK's OTLP/HTTP exporter (protobuf,
/// gzip) sends the spans of six chat calls (and seven other spans) to the running server;
/// feedback names the interactions by their spans' ids; triage and promote read them.
#[test]
#[expect(
    clippy::print_stderr,
    reason = "the figures of the exchange, for the record"
)]
fn the_python_sdk_s_spans_are_triaged_and_promoted() {
    let Some(python) = python_with_opentelemetry() else {
        return;
    };
    let p = Project::empty();
    let server = Server::start(&p, &[], &[("EVALGATE_SERVER_TOKEN", TOKEN)]);
    let out = Command::new(python)
        .arg(repo().join("tests/otlp/send_spans.py"))
        .args([
            "--endpoint",
            &format!("{}/v1/traces", server.url),
            "--token",
            TOKEN,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<String> = sent["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 6, "{sent}");
    assert_eq!(sent["spans_sent"], 13, "{sent}");

    // Feedback on two answers, by the ids the application computed from its spans.
    let url = server.url.clone();
    let signals = json!([
        {"event_id": "fb-1", "interaction_id": ids[0], "timestamp": "2026-12-01T10:00:00Z",
         "kind": "explicit", "name": "thumbs_down"},
        {"event_id": "fb-2", "interaction_id": ids[2], "timestamp": "2026-12-01T10:01:00Z",
         "kind": "explicit", "name": "user_edit",
         "edited_output": "In Excel, use Data > From Text/CSV and choose UTF-8 (65001)."},
    ]);
    runtime().block_on(async move {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/feedback"))
            .bearer_auth(TOKEN)
            .json(&signals)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let (code, log) = server.stop_with_log();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("13 spans received on /v1/traces (7 ignored: no GenAI attributes or nothing generated; 0 refused)"),
        "{log}"
    );
    let rt = runtime();
    let store = rt
        .block_on(evalgate::store::Store::open(None, p.path()))
        .unwrap();
    let stored = rt
        .block_on(store.feedback_interactions(None, None))
        .unwrap();
    let mut stored_ids: Vec<&str> = stored.iter().map(|r| r.event_id.as_str()).collect();
    stored_ids.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(stored_ids, expected);
    eprintln!(
        "OpenTelemetry Python SDK exporter: {} spans sent, {} interactions stored, 7 spans ignored",
        sent["spans_sent"],
        stored.len()
    );
    // The API key a user pasted is not stored; the instructions are context, not inputs.
    assert!(stored.iter().all(|r| !r.body_json.contains("Zx81Qa20")));
    let sso = stored.iter().find(|r| r.prompt == "sso-helper").unwrap();
    let sso: Value = serde_json::from_str(&sso.body_json).unwrap();
    assert_eq!(sso["vars"]["input"], "How do I connect Okta with SAML?");
    assert_eq!(sso["vars"]["messages"].as_array().unwrap().len(), 3);
    assert_eq!(sso["model"], "claude-sonnet-4");
    drop(store);

    // Triage: the thumbs down, the cut-off answer (a truncation signal from its finish
    // reason) and the edit are the bad answers; the two double-charge questions cluster.
    let r = p.evalgate(&["feedback", "triage", "--format", "json"]);
    r.assert_code(0);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["interactions"], 6, "{report}");
    assert_eq!(report["bad"], 3, "{report}");
    let billing = report["by_text"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["examples"].as_array().unwrap().contains(&json!(ids[0])))
        .unwrap_or_else(|| panic!("no cluster with {}: {report}", ids[0]));
    assert_eq!(billing["bad"], 2, "{billing}");
    assert!(
        billing["examples"]
            .as_array()
            .unwrap()
            .contains(&json!(ids[1])),
        "{billing}"
    );
    let cluster = billing["id"].to_string();

    // Promote the cluster, then the edited answer.
    let r = p.evalgate(&[
        "feedback",
        "promote",
        "--cluster",
        &cluster,
        "--to",
        "golden/support.jsonl",
    ]);
    r.assert_code(0);
    let r = p.evalgate(&[
        "feedback",
        "promote",
        &ids[2],
        "--to",
        "golden/support.jsonl",
    ]);
    r.assert_code(0);
    let cases: Vec<Value> = p
        .read("golden/support.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 3, "{cases:?}");
    let case = |id: &str| {
        cases
            .iter()
            .find(|c| c["id"] == format!("fb-{id}"))
            .unwrap_or_else(|| panic!("no case for {id}: {cases:?}"))
    };
    let first = case(&ids[0]);
    assert_eq!(
        first["vars"],
        json!({"input": "My invoice was charged twice this month, please refund the duplicate charge."})
    );
    assert_eq!(first["source"]["event_id"], ids[0].as_str());
    assert_eq!(first["source"]["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(first["source"]["needs_label"], true);
    assert_eq!(case(&ids[1])["source"]["signals"], json!(["truncation"]));
    let edited = case(&ids[2]);
    assert_eq!(
        edited["expected"],
        json!({"output": "In Excel, use Data > From Text/CSV and choose UTF-8 (65001)."})
    );
    assert!(
        edited["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("service:support-bot"))
    );
}

mod generated {
    //! Generated exports posted to `/v1/traces` (proptest): spans with any ids, times and
    //! attributes (GenAI keys with values of every type, nested, JSON or not), as protobuf or
    //! OTLP JSON, gzipped or not, and mutated bytes. The answer is always a documented one
    //! (200, 400 or 413; never a 5xx), in bounded time, and the server stops cleanly.

    use super::*;
    use opentelemetry_proto::tonic::common::v1::KeyValueList;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::time::Duration;

    const KEYS: &[&str] = &[
        "gen_ai.operation.name",
        "gen_ai.system",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.request.temperature",
        "gen_ai.request.max_tokens",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.response.finish_reasons",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.prompt.0.content",
        "gen_ai.prompt.1.role",
        "gen_ai.completion.0.content",
        "gen_ai.completion.0.finish_reason",
        "gen_ai.completion.0.tool_calls.3.arguments",
        "gen_ai.conversation.id",
        "gen_ai.agent.name",
        "gen_ai.event.content",
        "evalgate.vars",
        "evalgate.prompt.name",
        "evalgate.tags",
        "content",
        "message",
        "index",
        "finish_reason",
        "role",
        "parts",
        "tool_calls",
        "session.id",
        "error.type",
        "service.name",
        "http.route",
    ];

    const EVENTS: &[&str] = &[
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.content.prompt",
        "gen_ai.content.completion",
        "gen_ai.client.inference.operation.details",
        "exception",
    ];

    const TEXTS: &[&str] = &[
        "",
        "chat",
        "embeddings",
        "length",
        "content_filter",
        "hello",
        "\u{0}",
        "sk-proj-ABCDEFGH12345678",
        "[1, 2]",
        "{\"role\": \"user\", \"content\": \"hi\"}",
        "[{\"role\": \"user\", \"parts\": [{\"type\": \"text\", \"content\": \"q\"}]}]",
        "[{\"type\": \"tool_call\", \"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}]",
        "{\"ticket\": \"T-1\"}",
        "[[[[[[[[[[1]]]]]]]]]]",
        "{\"message\": {\"content\": null}}",
        "🙂é",
    ];

    fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            prop::sample::select(TEXTS).prop_map(|s| any_value::Value::StringValue(s.into())),
            ".{0,40}".prop_map(any_value::Value::StringValue),
            any::<i64>().prop_map(any_value::Value::IntValue),
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(-0.0)
            ]
            .prop_map(any_value::Value::DoubleValue),
            any::<bool>().prop_map(any_value::Value::BoolValue),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(any_value::Value::BytesValue),
        ]
        .prop_map(|v| AnyValue { value: Some(v) });
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue { values }))
                }),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kvs| {
                    AnyValue {
                        value: Some(any_value::Value::KvlistValue(KeyValueList {
                            values: kvs
                                .into_iter()
                                .map(|(k, v)| KeyValue {
                                    key: k.into(),
                                    value: Some(v),
                                    ..KeyValue::default()
                                })
                                .collect(),
                        })),
                    }
                }),
            ]
        })
    }

    fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        prop::collection::vec(
            (
                prop_oneof![
                    4 => prop::sample::select(KEYS).prop_map(str::to_string),
                    1 => "[a-z_.0-9]{0,12}",
                ],
                prop::option::of(any_value()),
            ),
            0..8,
        )
        .prop_map(|kvs| {
            kvs.into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    value,
                    ..KeyValue::default()
                })
                .collect()
        })
    }

    fn spans() -> impl Strategy<Value = Vec<Span>> {
        let event = (prop::sample::select(EVENTS), attributes()).prop_map(|(name, attributes)| {
            span::Event {
                time_unix_nano: START,
                name: name.into(),
                attributes,
                dropped_attributes_count: 0,
            }
        });
        let one = (
            prop_oneof![4 => Just(16usize), 1 => 0usize..20],
            prop_oneof![4 => Just(8usize), 1 => 0usize..12],
            any::<u8>(),
            prop_oneof![Just(START), any::<u64>(), Just(0u64)],
            prop_oneof![Just(START + 1_000), any::<u64>(), Just(0u64)],
            attributes(),
            prop::collection::vec(event, 0..4),
            any::<i32>(),
        )
            .prop_map(
                |(trace_len, span_len, byte, start, end, attributes, events, status)| Span {
                    trace_id: vec![byte; trace_len],
                    span_id: vec![byte.wrapping_add(1); span_len],
                    name: "generated".into(),
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    events,
                    status: Some(opentelemetry_proto::tonic::trace::v1::Status {
                        message: String::new(),
                        code: status % 3,
                    }),
                    ..Span::default()
                },
            );
        prop::collection::vec(one, 0..6)
    }

    /// A body: the export as protobuf or OTLP JSON, maybe gzipped, maybe with bytes changed.
    #[derive(Debug, Clone)]
    struct Body {
        bytes: Vec<u8>,
        json: bool,
        gzip: bool,
    }

    fn bodies() -> impl Strategy<Value = Body> {
        (
            spans(),
            any::<bool>(),
            any::<bool>(),
            // Most bodies intact (so the mapping is reached), some with bytes changed or cut.
            prop_oneof![
                3 => Just(Vec::new()),
                1 => prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..3),
            ],
            prop::option::weighted(0.15, any::<prop::sample::Index>()),
        )
            .prop_map(|(spans, json, gzip, flips, cut)| {
                let req = request(spans);
                let mut bytes = if json {
                    serde_json::to_vec(&req).unwrap()
                } else {
                    req.encode_to_vec()
                };
                for (at, b) in flips {
                    if !bytes.is_empty() {
                        let i = at.index(bytes.len());
                        bytes[i] = b;
                    }
                }
                if let Some(at) = cut.filter(|_| !bytes.is_empty()) {
                    bytes.truncate(at.index(bytes.len()));
                }
                let bytes = if gzip { super::gzip(&bytes) } else { bytes };
                Body { bytes, json, gzip }
            })
    }

    #[test]
    fn generated_exports_get_documented_answers() {
        let p = Project::empty();
        let server = Server::start(&p, &["--max-body-bytes", "65536"], &[]);
        let url = server.url.clone();
        let rt = runtime();
        let _in_runtime = rt.enter();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let cases = std::cell::Cell::new(0usize);
        // Answers 200, and of those the ones that stored an interaction.
        let (ok, stored) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
        TestRunner::new(Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        })
        .run(&bodies(), |body| {
            cases.set(cases.get() + 1);
            let mut r = http
                .post(format!("{url}/v1/traces"))
                .header(
                    "content-type",
                    if body.json {
                        "application/json"
                    } else {
                        "application/x-protobuf"
                    },
                )
                .body(body.bytes.clone());
            if body.gzip {
                r = r.header("content-encoding", "gzip");
            }
            let resp = rt
                .block_on(r.send())
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
            let status = resp.status().as_u16();
            let spans = resp
                .headers()
                .get(SPANS_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let bytes = rt.block_on(resp.bytes()).unwrap_or_default();
            prop_assert!(
                [200, 400, 413].contains(&status),
                "{status} for {body:?}: {}",
                String::from_utf8_lossy(&bytes)
            );
            if status == 200 {
                ok.set(ok.get() + 1);
                if !spans.contains("stored=0") {
                    stored.set(stored.get() + 1);
                }
                if !body.json {
                    prop_assert!(ExportTraceServiceResponse::decode(&bytes[..]).is_ok());
                }
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(cases.get(), 300);
        // The generator reaches the mapping, not only the decoder.
        assert!(
            ok.get() > 60 && stored.get() > 20,
            "{} answered 200, {} stored something",
            ok.get(),
            stored.get()
        );
        let health = rt
            .block_on(http.get(format!("{url}/healthz")).send())
            .unwrap()
            .status();
        assert_eq!(health, 200);
        let (code, log) = server.stop_with_log();
        assert_eq!(code, 0, "{log}");
    }
}
