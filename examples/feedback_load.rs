//! A load generator for `evalgate serve` (`bench/feedback.sh`): posts N events over loopback
//! from C concurrent clients, one event a request (or arrays of K events with
//! `--per-request K`: interactions and signals each in their own arrays), then checks event by
//! event that every acknowledged event is in the database.
//!
//! Usage: feedback_load --url http://127.0.0.1:PORT --db DATABASE_URL [--events N] [--clients C]
//!        [--per-request K] [--kill-pid PID --kill-after K]
//!
//! `--db none` skips the check (a server that stores nothing: `stub_server`, the ceiling).
//!
//! With `--kill-pid`, the server is killed with SIGKILL once K events are acknowledged: the
//! requests then in flight fail, the rest of the load fails to connect, and the check counts
//! the acknowledged events missing from the database (which must be none).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn event_id(i: usize) -> String {
    if i.is_multiple_of(2) {
        format!("load-int-{i}")
    } else {
        format!("load-sig-{i}")
    }
}

fn event(i: usize) -> serde_json::Value {
    if i.is_multiple_of(2) {
        serde_json::json!({
            "event_id": event_id(i),
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
            "event_id": event_id(i),
            "interaction_id": event_id(i - 1),
            "timestamp": "2026-11-23T10:00:01Z",
            "kind": "explicit",
            "name": if i % 4 == 1 { "thumbs_down" } else { "thumbs_up" },
        })
    }
}

struct Args {
    url: String,
    db: String,
    events: usize,
    clients: usize,
    per_request: usize,
    kill: Option<(u32, usize)>,
}

fn args() -> Args {
    let mut a = Args {
        url: String::new(),
        db: String::new(),
        events: 100_000,
        clients: 32,
        per_request: 1,
        kill: None,
    };
    let (mut pid, mut after) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => a.url = v,
            "--db" => a.db = v,
            "--events" => a.events = v.parse().expect("--events N"),
            "--clients" => a.clients = v.parse().expect("--clients C"),
            "--per-request" => a.per_request = v.parse().expect("--per-request K"),
            "--kill-pid" => pid = Some(v.parse().expect("--kill-pid PID")),
            "--kill-after" => after = Some(v.parse().expect("--kill-after K")),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.per_request >= 1, "--per-request K needs K ≥ 1");
    a.kill = pid.map(|p| (p, after.unwrap_or(a.events / 2)));
    a
}

/// The requests of the load: each the events it carries (their numbers) and whether they are
/// interactions. One event a request alternates interactions and signals, as the events do;
/// arrays of K take K interactions, then K signals, and so on.
fn requests(events: usize, k: usize) -> Vec<(bool, Vec<usize>)> {
    if k == 1 {
        return (0..events).map(|i| (i % 2 == 0, vec![i])).collect();
    }
    let interactions: Vec<usize> = (0..events).step_by(2).collect();
    let signals: Vec<usize> = (1..events).step_by(2).collect();
    let mut out = Vec::new();
    let (mut a, mut b) = (interactions.chunks(k), signals.chunks(k));
    loop {
        let (x, y) = (a.next(), b.next());
        if x.is_none() && y.is_none() {
            return out;
        }
        out.extend(x.map(|c| (true, c.to_vec())));
        out.extend(y.map(|c| (false, c.to_vec())));
    }
}

/// A keep-alive HTTP/1.1 connection of one client (hyper's own, the lightest client: the
/// client shares the machine's cores with the server it measures).
async fn connect(host: &str) -> Option<hyper::client::conn::http1::SendRequest<axum::body::Body>> {
    let stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// Posts one body; true when the server answered 2xx (its answer read whole) within 30 s.
async fn post(
    conn: &mut hyper::client::conn::http1::SendRequest<axum::body::Body>,
    host: &str,
    path: &str,
    body: axum::body::Bytes,
) -> bool {
    let request = axum::http::Request::post(path)
        .header(axum::http::header::HOST, host)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body))
        .expect("a request");
    let exchange = async {
        conn.ready().await.ok()?;
        let response = conn.send_request(request).await.ok()?;
        let ok = response.status().is_success();
        axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20)
            .await
            .ok()?;
        Some(ok)
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The event ids stored in the database.
async fn stored_ids(db: &str) -> HashSet<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(db)
        .await
        .expect("the database opens");
    let mut ids = HashSet::new();
    for table in ["feedback_interactions", "feedback_signals"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT event_id FROM {table}"))
            .fetch_all(&pool)
            .await
            .expect("the event ids");
        ids.extend(rows);
    }
    pool.close().await;
    ids
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        // The bodies are made before the clock starts: the server's work is measured, not
        // the client's serializing (client and server share this machine's cores).
        let requests = requests(a.events, a.per_request);
        let bodies: Arc<Vec<(bool, Vec<usize>, axum::body::Bytes)>> = Arc::new(
            requests
                .into_iter()
                .map(|(interactions, ids)| {
                    let body = if a.per_request == 1 {
                        serde_json::to_vec(&event(ids[0]))
                    } else {
                        serde_json::to_vec(&ids.iter().map(|i| event(*i)).collect::<Vec<_>>())
                    };
                    (interactions, ids, axum::body::Bytes::from(body.expect("JSON")))
                })
                .collect(),
        );
        let host: Arc<str> = a
            .url
            .strip_prefix("http://")
            .expect("--url http://HOST:PORT")
            .trim_end_matches('/')
            .into();
        let next = Arc::new(AtomicUsize::new(0));
        let acked_so_far = Arc::new(AtomicUsize::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..a.clients {
            let (host, next, bodies) = (host.clone(), next.clone(), bodies.clone());
            let (acked_so_far, killed, kill) = (acked_so_far.clone(), killed.clone(), a.kill);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut acked, mut failed) = (Vec::new(), 0usize);
                let mut conn = None;
                loop {
                    let r = next.fetch_add(1, Ordering::Relaxed);
                    let Some((interactions, ids, body)) = bodies.get(r) else {
                        break;
                    };
                    let t = Instant::now();
                    if conn.is_none() {
                        conn = connect(&host).await;
                    }
                    let path = if *interactions {
                        "/v1/interactions"
                    } else {
                        "/v1/feedback"
                    };
                    let ok = match conn.as_mut() {
                        Some(c) => post(c, &host, path, body.clone()).await,
                        None => false,
                    };
                    if !ok {
                        conn = None;
                        failed += ids.len();
                        continue;
                    }
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    acked.extend_from_slice(ids);
                    let n = acked_so_far.fetch_add(ids.len(), Ordering::Relaxed) + ids.len();
                    if let Some((pid, after)) = kill
                        && n >= after
                        && !killed.swap(true, Ordering::SeqCst)
                    {
                        let status = std::process::Command::new("kill")
                            .args(["-KILL", &pid.to_string()])
                            .status()
                            .expect("kill runs");
                        assert!(status.success(), "kill -KILL {pid} failed");
                    }
                }
                (latencies, acked, failed)
            }));
        }
        let (mut latencies, mut acked, mut failed) = (Vec::new(), Vec::new(), 0);
        for t in tasks {
            let (l, a, f) = t.await.expect("a client task");
            latencies.extend(l);
            acked.extend(a);
            failed += f;
        }
        let secs = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let q = |p: f64| {
            latencies
                .get(((latencies.len().max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        if a.kill.is_none() {
            println!(
                "{} events from {} clients, {} a request, in {secs:.2} s: {:.0} events/s acknowledged; request latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {failed} failed",
                a.events,
                a.clients,
                a.per_request,
                acked.len() as f64 / secs,
                q(0.5),
                q(0.99),
                q(1.0)
            );
        }
        if a.db == "none" {
            if failed > 0 {
                std::process::exit(1);
            }
            return;
        }
        let stored = stored_ids(&a.db).await;
        let missing = acked.iter().filter(|i| !stored.contains(&event_id(**i))).count();
        let verdict = if missing == 0 { "ok" } else { "FAILED" };
        let unacked = stored.len() - (acked.len() - missing);
        println!(
            "check{}: {} acknowledged, {} in the database ({unacked} of them stored but not acknowledged), {missing} acknowledged but missing: {verdict}",
            if a.kill.is_some() { " after kill -9" } else { "" },
            acked.len(),
            stored.len(),
        );
        if missing > 0 || (a.kill.is_none() && failed > 0) {
            std::process::exit(1);
        }
    });
}
