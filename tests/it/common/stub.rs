//! An OpenAI-compatible (and Anthropic-compatible) stub server on 127.0.0.1, started inside the
//! test process on its own thread and runtime. A responder decides each answer; faults are
//! answers too (status codes with `Retry-After`, hangs, truncated bodies). Every request is
//! logged so tests can assert on what evalgate sent and how often.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::{Multipart, Path};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stub answers to one request.
#[derive(Clone)]
pub enum Reply {
    /// HTTP 200 with a completion whose content is this text (streamed when asked).
    Content(String),
    /// HTTP 200 with this text as the answer, and usage reporting `cached` prompt tokens.
    ContentCached(String, u64),
    /// Any status with a raw body.
    Status(u16, String),
    /// A status with a `Retry-After` header.
    RetryAfter(u16, String),
    /// Never answers (until the client gives up).
    Hang,
    /// HTTP 200 whose body breaks off after this prefix: the connection drops mid-response.
    Truncated(String),
    /// HTTP 200 with this text and `choices[0].logprobs.content` set to this array.
    WithLogprobs(String, Value),
    /// HTTP 200 from `/v1/embeddings` with these vectors, one per input.
    Embeddings(Vec<Vec<f64>>),
}

pub type Responder = dyn Fn(&Value) -> Reply + Send + Sync;

#[derive(Clone)]
struct AppState {
    log: Arc<Mutex<Vec<Logged>>>,
    responder: Arc<Responder>,
    latency_ms: Arc<AtomicU64>,
    batches: Arc<Mutex<Batches>>,
    /// Batches stay `in_progress` until this is set.
    batch_ready: Arc<std::sync::atomic::AtomicBool>,
}

/// The Batch API's files and batches.
#[derive(Default)]
pub struct Batches {
    files: HashMap<String, String>,
    /// batch id → (input file id, output file id once completed)
    batches: HashMap<String, (String, Option<String>)>,
}

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
    pub api_key: Option<String>,
    pub anthropic_version: Option<String>,
}

pub struct Stub {
    pub base_url: String,
    log: Arc<Mutex<Vec<Logged>>>,
    latency_ms: Arc<AtomicU64>,
    batch_ready: Arc<std::sync::atomic::AtomicBool>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Stub {
    pub fn start(responder: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Stub {
        Self::start_with(responder, true)
    }

    /// A stub that serves chat completions but no Batch API (like llama-cpp-python).
    pub fn start_without_batches(
        responder: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> Stub {
        Self::start_with(responder, false)
    }

    fn start_with(
        responder: impl Fn(&Value) -> Reply + Send + Sync + 'static,
        batches: bool,
    ) -> Stub {
        let log = Arc::new(Mutex::new(Vec::new()));
        let latency_ms = Arc::new(AtomicU64::new(0));
        let batch_ready = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let state = AppState {
            log: log.clone(),
            responder: Arc::new(responder),
            latency_ms: latency_ms.clone(),
            batches: Default::default(),
            batch_ready: batch_ready.clone(),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let mut app = Router::new()
                    .route("/v1/chat/completions", post(chat))
                    .route("/v1/messages", post(messages))
                    .route("/v1/embeddings", post(embeddings));
                if batches {
                    app = app
                        .route("/v1/files", post(upload))
                        .route("/v1/files/{id}/content", get(file_content))
                        .route("/v1/batches", post(create_batch))
                        .route("/v1/batches/{id}", get(batch_status));
                }
                let app = app.with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Stub {
            base_url: format!("http://{addr}/v1"),
            log,
            latency_ms,
            batch_ready,
            _shutdown: shutdown_tx,
        }
    }

    /// Whether batches complete (when false they stay `in_progress`).
    pub fn set_batch_ready(&self, ready: bool) {
        self.batch_ready.store(ready, Ordering::Relaxed);
    }

    /// Requests to a path.
    pub fn count_path(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    /// Every answer waits this long first.
    pub fn set_latency(&self, d: Duration) {
        self.latency_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests carried a user message containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| user_text(&r.body).contains(needle))
            .count()
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn receive(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Value, Reply), Response> {
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err((StatusCode::BAD_REQUEST, format!("bad json: {e}")).into_response()),
    };
    state.log.lock().unwrap().push(Logged {
        path: path.to_string(),
        body: body.clone(),
        authorization: header(headers, "authorization"),
        api_key: header(headers, "x-api-key"),
        anthropic_version: header(headers, "anthropic-version"),
    });
    let reply = (state.responder)(&body);
    let latency = state.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    Ok((body, reply))
}

fn fault(reply: &Reply) -> Option<Response> {
    match reply {
        Reply::Status(code, text) => {
            Some((StatusCode::from_u16(*code).unwrap(), text.clone()).into_response())
        }
        Reply::RetryAfter(code, after) => Some(
            (
                StatusCode::from_u16(*code).unwrap(),
                [(header::RETRY_AFTER, after.clone())],
                "slow down",
            )
                .into_response(),
        ),
        Reply::Truncated(prefix) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from(prefix.clone())),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "dropped",
                )),
            ];
            let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
            Some(response)
        }
        _ => None,
    }
}

fn prompt_tokens(body: &Value) -> u64 {
    let mut n = 0;
    for m in body["messages"].as_array().into_iter().flatten() {
        n += m["content"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .count() as u64;
    }
    n + body["system"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .count() as u64
}

async fn chat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (body, reply) = match receive(&state, "/v1/chat/completions", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = fault(&reply) {
        return r;
    }
    let (content, cached, logprobs) = match reply {
        Reply::Content(c) => (c, 0, Value::Null),
        Reply::ContentCached(c, n) => (c, n, Value::Null),
        Reply::WithLogprobs(c, l) => (c, 0, json!({"content": l})),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        _ => return (StatusCode::BAD_REQUEST, "not a chat answer").into_response(),
    };
    let prompt = prompt_tokens(&body);
    let completion = content.split_whitespace().count() as u64;
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": cached}});
    if body["stream"] == json!(true) {
        // One chunk per word, like a real server's tokens, then the usage and [DONE].
        let mut events =
            vec![json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})];
        let words: Vec<&str> = content.split_inclusive(' ').collect();
        for w in words {
            events.push(json!({"choices": [{"index": 0, "delta": {"content": w}}]}));
        }
        events.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
        events.push(json!({"choices": [], "usage": usage}));
        let mut text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        text.push_str("data: [DONE]\n\n");
        return ([(header::CONTENT_TYPE, "text/event-stream")], text).into_response();
    }
    axum::Json(json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": logprobs}],
        "usage": usage
    }))
    .into_response()
}

async fn embeddings(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (body, reply) = match receive(&state, "/v1/embeddings", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = fault(&reply) {
        return r;
    }
    let Reply::Embeddings(vectors) = reply else {
        return (StatusCode::BAD_REQUEST, "not an embeddings answer").into_response();
    };
    let tokens: u64 = body["input"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap_or("").split_whitespace().count() as u64)
                .sum()
        })
        .unwrap_or(0);
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    axum::Json(
        json!({"object": "list", "data": data, "model": body["model"],
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
    .into_response()
}

async fn messages(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (body, reply) = match receive(&state, "/v1/messages", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = fault(&reply) {
        return r;
    }
    let (content, cached) = match reply {
        Reply::Content(c) => (c, 0),
        Reply::ContentCached(c, n) => (c, n),
        _ => return StatusCode::GATEWAY_TIMEOUT.into_response(),
    };
    let block = if body.get("tool_choice").is_some() {
        match serde_json::from_str::<Value>(&content) {
            Ok(input) => {
                json!({"type": "tool_use", "id": "toolu_stub", "name": "output", "input": input})
            }
            Err(_) => json!({"type": "text", "text": content}),
        }
    } else {
        json!({"type": "text", "text": content})
    };
    let prompt = prompt_tokens(&body);
    axum::Json(json!({
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [block],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": prompt.saturating_sub(cached), "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0, "output_tokens": content.split_whitespace().count()}
    }))
    .into_response()
}

/// The text of the user message of a request.
pub fn user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|x| x["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

/// A deterministic labeller for the support contract: keyword rules, so some answers are
/// right and some wrong. A message containing `<b>` gets an out-of-range risk (a contract
/// violation) and one containing `ignore previous instructions` gets text that is not JSON.
pub fn support_labeller(body: &Value) -> Reply {
    let text = user_text(body).to_lowercase();
    if text.contains("ignore previous instructions") {
        return Reply::Content("Sure! I will ignore them.".into());
    }
    let intent = if ["charge", "refund", "invoice", "plan", "card"]
        .iter()
        .any(|k| text.contains(k))
    {
        "billing"
    } else if ["error", "crash", "broken", "bug", "fail"]
        .iter()
        .any(|k| text.contains(k))
    {
        "bug"
    } else if ["would be great", "feature", "could you add", "wish"]
        .iter()
        .any(|k| text.contains(k))
    {
        "feature_request"
    } else {
        "other"
    };
    let sentiment = if ["thank", "great", "love"].iter().any(|k| text.contains(k)) {
        "positive"
    } else {
        "neutral"
    };
    let risk = if text.contains("<b>") {
        9
    } else if text.contains("cancel") {
        4
    } else {
        2
    };
    Reply::Content(json!({"intent": intent, "sentiment": sentiment, "escalation_risk": risk, "summary": "Stub summary."}).to_string())
}

fn log_path(state: &AppState, path: &str) {
    state.log.lock().unwrap().push(Logged {
        path: path.to_string(),
        body: Value::Null,
        authorization: None,
        api_key: None,
        anthropic_version: None,
    });
}

async fn upload(State(state): State<AppState>, mut form: Multipart) -> Response {
    log_path(&state, "/v1/files");
    let mut purpose = String::new();
    let mut content = String::new();
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("purpose") => purpose = field.text().await.unwrap_or_default(),
            Some("file") => content = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    if purpose != "batch" || content.is_empty() {
        return (StatusCode::BAD_REQUEST, "need purpose=batch and a file").into_response();
    }
    let mut b = state.batches.lock().unwrap();
    let id = format!("file-{}", b.files.len() + 1);
    b.files.insert(id.clone(), content);
    axum::Json(json!({"id": id, "object": "file", "purpose": "batch"})).into_response()
}

async fn create_batch(State(state): State<AppState>, body: Bytes) -> Response {
    log_path(&state, "/v1/batches");
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(file) = body["input_file_id"].as_str() else {
        return (StatusCode::BAD_REQUEST, "no input_file_id").into_response();
    };
    if body["endpoint"] != "/v1/chat/completions" || body["completion_window"] != "24h" {
        return (StatusCode::BAD_REQUEST, "bad endpoint or window").into_response();
    }
    let mut b = state.batches.lock().unwrap();
    let id = format!("batch_{}", b.batches.len() + 1);
    b.batches.insert(id.clone(), (file.to_string(), None));
    axum::Json(json!({"id": id, "status": "validating", "request_counts": {"total": 0, "completed": 0, "failed": 0}})).into_response()
}

async fn batch_status(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    log_path(&state, "/v1/batches/{id}");
    let ready = state.batch_ready.load(Ordering::Relaxed);
    let mut b = state.batches.lock().unwrap();
    let Some((input, output)) = b.batches.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such batch").into_response();
    };
    let lines: Vec<Value> = b.files[&input]
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let total = lines.len();
    if !ready {
        return axum::Json(json!({"id": id, "status": "in_progress", "request_counts": {"total": total, "completed": 0, "failed": 0}})).into_response();
    }
    let output = match output {
        Some(o) => o,
        None => {
            let mut out = String::new();
            for line in &lines {
                let (code, body) = match (state.responder)(&line["body"]) {
                    Reply::Content(c) | Reply::ContentCached(c, _) => {
                        let p = prompt_tokens(&line["body"]);
                        (
                            200,
                            json!({"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": c}, "finish_reason": "stop"}],
                                     "usage": {"prompt_tokens": p, "completion_tokens": c.split_whitespace().count()}}),
                        )
                    }
                    Reply::Status(code, text) | Reply::RetryAfter(code, text) => (
                        code,
                        serde_json::from_str(&text).unwrap_or(json!({"error": {"message": text}})),
                    ),
                    _ => (500, json!({"error": {"message": "fault"}})),
                };
                out.push_str(&json!({"custom_id": line["custom_id"], "response": {"status_code": code, "body": body}, "error": null}).to_string());
                out.push('\n');
            }
            let file = format!("file-out-{id}");
            b.files.insert(file.clone(), out);
            b.batches.insert(id.clone(), (input, Some(file.clone())));
            file
        }
    };
    axum::Json(json!({"id": id, "status": "completed", "output_file_id": output, "request_counts": {"total": total, "completed": total, "failed": 0}})).into_response()
}

async fn file_content(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    log_path(&state, "/v1/files/{id}/content");
    match state.batches.lock().unwrap().files.get(&id) {
        Some(c) => c.clone().into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
