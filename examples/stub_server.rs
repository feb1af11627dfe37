//! A fast OpenAI-compatible stub server for benchmarks (`bench/run.sh`): answers every chat
//! completion with the same small JSON object after a configurable latency, and counts
//! requests (`GET /stats`). Not a test double with faults: see `tests/it/common/stub.rs`.
//!
//! With `--vary K`, the answer depends on the question instead (`bench/report.sh`): its
//! intent is `label_{h % K}`, where h is the FNV-1a hash of the last message's text, and its
//! summary is that text, so that every case has an output of its own.
//!
//! It also answers `POST /v1/interactions` and `POST /v1/feedback` the way `evalgate serve`
//! does (`{"accepted": N, "duplicates": 0}`, N the events of the JSON body) at once, storing
//! nothing: `bench/feedback.sh`'s ceiling, what HTTP alone costs on the machine.
//!
//! Usage: stub_server [--port N] [--latency-ms MS] [--vary K] [--workers W]   (prints
//! `listening on PORT` when ready; W runtime threads, default 1)

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"{\"intent\":\"billing\",\"sentiment\":\"neutral\",\"escalation_risk\":2,\"summary\":\"A customer asks about a charge.\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":60,"completion_tokens":30,"total_tokens":90}}"#;

#[derive(Clone)]
struct AppState {
    latency: Duration,
    requests: Arc<AtomicU64>,
    vary: u64,
}

/// 64-bit FNV-1a (bench/report.sh computes the same in Python).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The answer of `--vary K` to a request body.
fn varied(body: &[u8], k: u64) -> String {
    let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let content = serde_json::json!({
        "intent": format!("label_{:03}", fnv1a(text) % k),
        "sentiment": "neutral",
        "escalation_risk": 2,
        "summary": text.chars().take(200).collect::<String>(),
    });
    serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 30 + text.len() / 4, "total_tokens": 90 + text.len() / 4},
    })
    .to_string()
}

async fn chat(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> ([(&'static str, &'static str); 1], axum::body::Body) {
    s.requests.fetch_add(1, Ordering::Relaxed);
    if !s.latency.is_zero() {
        tokio::time::sleep(s.latency).await;
    }
    let answer = if s.vary == 0 {
        axum::body::Body::from(ANSWER)
    } else {
        axum::body::Body::from(varied(&body, s.vary))
    };
    ([("content-type", "application/json")], answer)
}

/// A feedback post, answered at once and stored nowhere.
async fn feedback(State(s): State<AppState>, body: axum::body::Bytes) -> (StatusCode, String) {
    s.requests.fetch_add(1, Ordering::Relaxed);
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(events)) => (
            StatusCode::OK,
            format!("{{\"accepted\":{},\"duplicates\":0}}", events.len()),
        ),
        Ok(_) => (StatusCode::OK, "{\"accepted\":1,\"duplicates\":0}".into()),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": e.to_string()}).to_string(),
        ),
    }
}

async fn stats(State(s): State<AppState>) -> String {
    format!("{{\"requests\": {}}}\n", s.requests.load(Ordering::Relaxed))
}

#[expect(
    clippy::print_stdout,
    reason = "a benchmark helper reports its port on stdout"
)]
fn main() {
    let mut port = 0u16;
    let mut latency_ms = 0u64;
    let mut vary = 0u64;
    let mut workers = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--latency-ms" => latency_ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--vary" => vary = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--workers" => workers = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            _ => {}
        }
    }
    let state = AppState {
        latency: Duration::from_millis(latency_ms),
        requests: Arc::new(AtomicU64::new(0)),
        vary,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        println!(
            "listening on {}",
            listener.local_addr().expect("addr").port()
        );
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/interactions", post(feedback))
            .route("/v1/feedback", post(feedback))
            .route("/stats", get(stats))
            .with_state(state);
        axum::serve(listener, app).await.expect("serve");
    });
}
