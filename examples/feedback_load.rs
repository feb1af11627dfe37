//! A load generator for `evalgate serve` (`bench/feedback.sh`): posts N events over loopback
//! from C concurrent clients, one event a request, then checks that every acknowledged event
//! is in the database.
//!
//! Usage: feedback_load --url http://127.0.0.1:PORT --db DATABASE_URL [--events N] [--clients C]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn event(i: usize) -> serde_json::Value {
    if i.is_multiple_of(2) {
        serde_json::json!({
            "event_id": format!("load-int-{i}"),
            "timestamp": "2026-11-23T10:00:00Z",
            "prompt": "support_features",
            "prompt_version": "8245395e",
            "model": "smollm2",
            "vars": {"transcript": format!("Customer: load test conversation number {i} about a double charge.")},
            "context": [{"id": "kb-1", "text": "Refunds take 5 days.", "score": 0.8}],
            "output": "{\"intent\": \"billing\", \"sentiment\": \"negative\", \"escalation_risk\": 3, \"summary\": \"A double charge.\"}",
            "latency_ms": 900,
            "tokens": {"input": 240, "output": 40},
            "tags": ["load"],
        })
    } else {
        serde_json::json!({
            "event_id": format!("load-sig-{i}"),
            "interaction_id": format!("load-int-{}", i - 1),
            "timestamp": "2026-11-23T10:00:01Z",
            "kind": "explicit",
            "name": if i % 4 == 1 { "thumbs_down" } else { "thumbs_up" },
        })
    }
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let mut url = String::new();
    let mut db = String::new();
    let mut events = 100_000usize;
    let mut clients = 32usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--url" => url = v,
            "--db" => db = v,
            "--events" => events = v.parse().expect("--events N"),
            "--clients" => clients = v.parse().expect("--clients C"),
            other => panic!("unknown argument {other}"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (http, next, url) = (http.clone(), next.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut acked, mut failed) = (0usize, 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= events {
                        break;
                    }
                    let path = if i % 2 == 0 { "/v1/interactions" } else { "/v1/feedback" };
                    let t = Instant::now();
                    let ok = http
                        .post(format!("{url}{path}"))
                        .json(&event(i))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    if ok { acked += 1 } else { failed += 1 }
                }
                (latencies, acked, failed)
            }));
        }
        let (mut latencies, mut acked, mut failed) = (Vec::new(), 0, 0);
        for t in tasks {
            let (l, a, f) = t.await.expect("a client task");
            latencies.extend(l);
            acked += a;
            failed += f;
        }
        let secs = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let q = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "{events} events from {clients} clients in {secs:.2} s: {:.0} events/s acknowledged; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {failed} failed",
            acked as f64 / secs,
            q(0.5),
            q(0.99),
            q(1.0)
        );
        let store = evalgate::store::Store::open(Some(&db), std::path::Path::new("."))
            .await
            .expect("the database opens");
        let (i, s) = store.feedback_counts().await.expect("counts");
        store.close().await;
        let stored = (i + s) as usize;
        let verdict = if stored >= acked { "ok" } else { "FAILED" };
        println!("check: {acked} acknowledged, {stored} in the database ({i} interactions, {s} signals): {verdict}");
        if stored < acked || failed > 0 {
            std::process::exit(1);
        }
    });
}
