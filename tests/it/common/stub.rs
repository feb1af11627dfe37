//! An OpenAI-compatible stub server on 127.0.0.1, started inside the test process on its own
//! thread and runtime. A responder decides each answer; faults are answers too. Every request
//! body is logged so tests can assert on what evalgate sent.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stub answers to one request.
pub enum Reply {
    /// HTTP 200 with a chat completion whose content is this text.
    Content(String),
    /// Any status with a raw body.
    Status(u16, String),
    /// Never answers (until the client gives up).
    Hang,
}

pub type Responder = dyn Fn(&Value) -> Reply + Send + Sync;

#[derive(Clone)]
struct AppState {
    log: Arc<Mutex<Vec<Logged>>>,
    responder: Arc<Responder>,
}

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub body: Value,
    pub authorization: Option<String>,
}

pub struct Stub {
    pub base_url: String,
    log: Arc<Mutex<Vec<Logged>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Stub {
    pub fn start(responder: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Stub {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = AppState {
            log: log.clone(),
            responder: Arc::new(responder),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route("/v1/chat/completions", post(chat))
                    .with_state(state);
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
            _shutdown: shutdown_tx,
        }
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

async fn chat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad json: {e}")).into_response(),
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.log.lock().unwrap().push(Logged {
        body: body.clone(),
        authorization,
    });
    match (state.responder)(&body) {
        Reply::Content(content) => {
            let prompt_tokens: usize = body["messages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .map(|x| {
                            x["content"]
                                .as_str()
                                .unwrap_or("")
                                .split_whitespace()
                                .count()
                        })
                        .sum()
                })
                .unwrap_or(0);
            let completion_tokens = content.split_whitespace().count();
            axum::Json(json!({
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
            }))
            .into_response()
        }
        Reply::Status(code, text) => (StatusCode::from_u16(code).unwrap(), text).into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
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
