//! A fast OpenAI-compatible stub server for benchmarks (`bench/run.sh`): answers every chat
//! completion with the same small JSON object after a configurable latency, and counts
//! requests (`GET /stats`). Not a test double with faults: see `tests/it/common/stub.rs`.
//!
//! Usage: stub_server [--port N] [--latency-ms MS]   (prints `listening on PORT` when ready)

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"{\"intent\":\"billing\",\"sentiment\":\"neutral\",\"escalation_risk\":2,\"summary\":\"A customer asks about a charge.\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":60,"completion_tokens":30,"total_tokens":90}}"#;

#[derive(Clone)]
struct AppState {
    latency: Duration,
    requests: Arc<AtomicU64>,
}

async fn chat(State(s): State<AppState>) -> ([(&'static str, &'static str); 1], &'static str) {
    s.requests.fetch_add(1, Ordering::Relaxed);
    if !s.latency.is_zero() {
        tokio::time::sleep(s.latency).await;
    }
    ([("content-type", "application/json")], ANSWER)
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
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--latency-ms" => latency_ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ => {}
        }
    }
    let state = AppState {
        latency: Duration::from_millis(latency_ms),
        requests: Arc::new(AtomicU64::new(0)),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
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
            .route("/stats", get(stats))
            .with_state(state);
        axum::serve(listener, app).await.expect("serve");
    });
}
