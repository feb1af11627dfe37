//! The feedback loop through the real binary: ingest with bad lines, idempotency, the HTTP
//! server (auth, limits, concurrent clients, a graceful stop under load), triage of the
//! example fixture, promotion into golden and the run that includes the promoted cases.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::stub::{Stub, support_labeller};
use crate::common::{Project, evalgate, example, postgres_schema, postgres_url, repo};

pub(crate) fn interaction(id: &str, transcript: &str) -> Value {
    json!({"type": "interaction", "event_id": id, "timestamp": "2026-11-20T10:00:00Z",
           "prompt": "support", "model": "stub-model", "vars": {"transcript": transcript},
           "output": "{\"intent\": \"other\"}", "tags": ["web"]})
}

fn signal(id: &str, interaction: &str, name: &str) -> Value {
    json!({"type": "signal", "event_id": id, "interaction_id": interaction,
           "timestamp": "2026-11-20T10:05:00Z", "kind": "explicit", "name": name})
}

#[test]
fn ingest_stores_every_good_line_and_rejects_bad_ones_with_their_line() {
    let p = Project::empty();
    let mut lines: Vec<String> = vec![
        interaction("i1", "Customer: my card was charged twice").to_string(),
        "{not json".to_string(),
        signal("s1", "i1", "thumbs_down").to_string(),
        String::new(),
        json!({"type": "interaction", "event_id": "i2", "timestamp": "2026-11-20T10:00:00Z", "prompt": "support", "output": "x"}).to_string(),
        json!({"type": "signal", "event_id": "s2", "interaction_id": "i1", "timestamp": "2026-11-20T10:00:00Z", "kind": "explicit", "name": "thumbs_down", "value": 1, "edited_output": 5}).to_string(),
        format!(r#"{{"type": "interaction", "event_id": "big", "output": "{}"}}"#, "x".repeat(1 << 20)),
        interaction("i3", "Customer: SSO is broken").to_string(),
    ];
    lines.push(signal("s3", "i3", "retry").to_string());
    p.write("events.jsonl", &(lines.join("\n") + "\n"));
    let r = p.evalgate(&["feedback", "ingest", "events.jsonl"]);
    r.assert_code(2);
    assert!(
        r.stdout
            .contains("8 lines: 2 interactions (2 new), 2 signals (2 new), 4 rejected"),
        "{}",
        r.stdout
    );
    let rejects: Vec<Value> = p
        .read("events.jsonl.rejects.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].0, 2);
    assert!(
        got[0].1.starts_with("not valid JSON: key must be a string"),
        "{got:?}"
    );
    assert_eq!(got[1].0, 5);
    assert!(got[1].1.contains("missing field `vars`"), "{got:?}");
    assert_eq!(got[2].0, 6);
    assert!(
        got[2]
            .1
            .contains("invalid type: integer `5`, expected a string"),
        "{got:?}"
    );
    assert_eq!(got[3].0, 7);
    assert!(got[3].1.contains("over the limit of 1048576"), "{got:?}");
    assert!(
        r.stderr.contains("events.jsonl:2: not valid JSON"),
        "{}",
        r.stderr
    );
    crate::snapshot!("feedback_ingest_rejects", r.stderr);

    // Ingesting the same file again adds nothing; stdin works the same.
    let r = p.evalgate(&["feedback", "ingest", "events.jsonl"]);
    assert!(
        r.stdout
            .contains("2 interactions (0 new), 2 signals (0 new), 4 rejected"),
        "{}",
        r.stdout
    );
    let mut cmd = evalgate();
    cmd.current_dir(p.path())
        .args(["feedback", "ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", interaction("i4", "Customer: hello")).unwrap();
        writeln!(stdin, "{}", signal("s1", "i1", "thumbs_down")).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2 lines: 1 interactions (1 new), 1 signals (0 new), 0 rejected"),
        "{stdout}"
    );
}

/// `evalgate serve` on a free loopback port, with its URL.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    /// The rest of stderr, read until the server exits.
    log: Option<std::thread::JoinHandle<String>>,
}

/// A test that fails before stopping its server does not leave it running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = evalgate();
        cmd.current_dir(p.path())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        // Keep draining stderr so that the server never blocks on it.
        let log = std::thread::spawn(move || {
            let mut rest = String::new();
            while stderr.read_line(&mut rest).unwrap_or(0) > 0 {}
            rest
        });
        Server {
            child,
            url,
            log: Some(log),
        }
    }

    /// SIGTERM, then wait for a graceful exit.
    pub(crate) fn stop(self) -> i32 {
        self.stop_with_log().0
    }

    /// SIGTERM, then wait for a graceful exit: the exit code and what the server printed
    /// after its first line.
    pub(crate) fn stop_with_log(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        let log = self.log.take().and_then(|l| l.join().ok());
        (code, log.unwrap_or_default())
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn serve_refuses_to_listen_beyond_loopback_without_a_token() {
    let p = Project::empty();
    let r = p.evalgate(&["serve", "--listen", "0.0.0.0:0"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("export EVALGATE_SERVER_TOKEN"),
        "{}",
        r.stderr
    );
}

#[test]
fn serve_checks_tokens_bodies_and_events() {
    let p = Project::empty();
    let server = Server::start(
        &p,
        &["--max-body-bytes", "2000"],
        &[("EVALGATE_SERVER_TOKEN", "s3cret-token-0123456789")],
    );
    let url = server.url.clone();
    runtime().block_on(async move {
        let http = reqwest::Client::new();
        let post = |path: &str, body: String, token: Option<&str>| {
            let mut r = http
                .post(format!("{url}{path}"))
                .header("content-type", "application/json")
                .body(body);
            if let Some(t) = token {
                r = r.header("authorization", format!("Bearer {t}"));
            }
            r.send()
        };
        let health = http.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);

        let one = interaction("i1", "Customer: hi").to_string();
        let r = post("/v1/interactions", one.clone(), None).await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = post("/v1/interactions", one.clone(), Some("wrong")).await.unwrap();
        assert_eq!(r.status(), 401);
        let r = post("/v1/interactions", one.clone(), Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"accepted": 1, "duplicates": 0}));
        // Sent again (a client's retry): nothing new, and the answer says so.
        let r = post("/v1/interactions", one.clone(), Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"accepted": 0, "duplicates": 1}));

        let big = interaction("i2", &"x".repeat(3000)).to_string();
        let r = post("/v1/interactions", big, Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.status(), 413);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("over the limit of 2000 bytes"), "{body}");

        let r = post("/v1/feedback", "{oops".into(), Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().starts_with("the body is not valid JSON"));

        // A batch with one bad event stores nothing and says which.
        let batch = json!([
            {"event_id": "s1", "interaction_id": "i1", "timestamp": "2026-11-20T10:00:00Z", "kind": "explicit", "name": "thumbs_down"},
            {"event_id": "s2", "interaction_id": "i1", "timestamp": "soon", "kind": "explicit", "name": "thumbs_up"},
        ]);
        let r = post("/v1/feedback", batch.to_string(), Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["index"], 1);
        assert!(body["error"].as_str().unwrap().contains("none was stored"), "{body}");
        let r = post("/v1/interactions", signal("s9", "i1", "copy").to_string(), Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.status(), 422);
        let ok = json!([signal("s1", "i1", "thumbs_down"), signal("s3", "i1", "copy")]);
        let r = post("/v1/feedback", ok.to_string(), Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"accepted": 2, "duplicates": 0}));
        let again = json!([signal("s3", "i1", "copy"), signal("s4", "i1", "copy")]);
        let r = post("/v1/feedback", again.to_string(), Some("s3cret-token-0123456789")).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"accepted": 1, "duplicates": 1}));
        let r = http.get(format!("{url}/v1/nothing")).send().await.unwrap();
        assert_eq!(r.status(), 404);
    });
    let (code, log) = server.stop_with_log();
    assert_eq!(code, 0);
    // The totals count rows stored, not events received.
    assert!(
        log.contains(
            "stopped: 4 requests, 4 events stored, 2 sent again (already stored, left as they were)"
        ),
        "{log}"
    );
    let store = runtime()
        .block_on(evalgate::store::Store::open(None, p.path()))
        .unwrap();
    let counts = runtime().block_on(store.feedback_counts()).unwrap();
    assert_eq!(counts, (1, 3));
}

/// Many clients post while the server is stopped: every acknowledged event is stored.
fn concurrent_posts_and_a_stop_under_load(database_url: Option<String>) {
    let p = Project::empty();
    let env: Vec<(&str, &str)> = database_url
        .as_deref()
        .map(|u| vec![("EVALGATE_DATABASE_URL", u)])
        .unwrap_or_default();
    let server = Server::start(&p, &[], &env);
    let url = server.url.clone();
    let rt = runtime();
    let acked: Vec<String> = rt.block_on(async move {
        let http = reqwest::Client::new();
        let mut tasks = Vec::new();
        // How many events the server has acknowledged so far, across the clients.
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for client in 0..16 {
            let (http, url, count) = (http.clone(), url.clone(), count.clone());
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..100_000 {
                    let id = format!("c{client}-e{n}");
                    let body =
                        interaction(&id, &format!("Customer: message {n} of client {client}"));
                    match http
                        .post(format!("{url}/v1/interactions"))
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => {
                            acked.push(id);
                            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        // Refused or cut off during the stop: not acknowledged.
                        _ => break,
                    }
                }
                acked
            }));
        }
        // Let the clients run until the server is busy with them (a count, not a time: a
        // loaded machine is slower, not different), then stop it under load.
        let started = std::time::Instant::now();
        while count.load(std::sync::atomic::Ordering::Relaxed) < 1_000
            && started.elapsed() < Duration::from_secs(120)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::task::spawn_blocking(move || server.stop())
            .await
            .unwrap();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    assert!(
        acked.len() > 200,
        "only {} events acknowledged",
        acked.len()
    );
    let store = rt
        .block_on(evalgate::store::Store::open(
            database_url.as_deref(),
            p.path(),
        ))
        .unwrap();
    let stored = rt
        .block_on(store.feedback_interactions(None, None))
        .unwrap();
    let stored: std::collections::HashSet<String> =
        stored.into_iter().map(|r| r.event_id).collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn serve_under_load_and_stopped_loses_nothing_acknowledged_on_sqlite() {
    concurrent_posts_and_a_stop_under_load(None);
}

#[test]
fn serve_under_load_and_stopped_loses_nothing_acknowledged_on_postgres() {
    let Some(base) = postgres_url() else { return };
    concurrent_posts_and_a_stop_under_load(Some(postgres_schema(&base)));
}

#[test]
fn triage_of_the_example_fixture() {
    let p = example();
    let fixture = repo().join("examples/feedback/events.jsonl");
    p.evalgate(&["feedback", "ingest", fixture.to_str().unwrap()])
        .assert_code(0);
    let r = p.evalgate(&["feedback", "triage", "--format", "json"]);
    r.assert_code(0);
    let t: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(t["interactions"], 302);
    assert_eq!(t["bad"], 72);
    assert_eq!(t["bad_in_golden"], 2);
    let low = &t["conditions"][0];
    assert_eq!(low["name"], "low retrieval score");
    assert!(
        low["bad_share"].as_f64().unwrap() > 0.5 && low["other_share"].as_f64().unwrap() < 0.2,
        "{low}"
    );
    // The SSO conversations form the worst text cluster.
    let top = &t["by_text"][0];
    assert!(top["label"].as_str().unwrap().contains("saml"), "{top}");
    assert_eq!(top["interactions"], 80);
    assert!(top["bad_share"].as_f64().unwrap() > 0.5, "{top}");
    assert_eq!(t["by_tag"][0]["label"], "sso");
    let r = p.evalgate(&["feedback", "triage"]);
    crate::snapshot!("feedback_triage", r.stdout);

    // The worst cluster's bad interactions become cases of a new golden file.
    let r = p.evalgate(&[
        "feedback",
        "promote",
        "--cluster",
        "1",
        "--to",
        "golden/production.jsonl",
    ]);
    r.assert_code(0);
    // Every bad interaction of the cluster is added, except repeats of an input already added
    // (the fixture's SSO conversations come from a few templates).
    let want = top["bad"].as_u64().unwrap() - top["in_golden"].as_u64().unwrap();
    let added = p.read("golden/production.jsonl").lines().count() as u64;
    let repeats = r
        .stderr
        .matches("its input is already in golden as `fb-int-")
        .count() as u64;
    assert!(added > 10, "{}", r.stdout);
    assert_eq!(added + repeats, want, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("added {added} cases to golden/production.jsonl")),
        "{}",
        r.stdout
    );
    let r = p.evalgate(&[
        "feedback",
        "promote",
        "--cluster",
        "99",
        "--to",
        "golden/production.jsonl",
    ]);
    r.assert_code(2);
    assert!(r.stderr.contains("no text cluster 99"), "{}", r.stderr);
    // Only the last days: fewer interactions.
    let r = p.evalgate(&[
        "feedback",
        "triage",
        "--since",
        "2026-11-16",
        "--format",
        "json",
    ]);
    let recent: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        recent["interactions"].as_u64().unwrap() < 302,
        "{}",
        recent["interactions"]
    );
    let r = p.evalgate(&["feedback", "triage", "--since", "last week"]);
    r.assert_code(2);
    assert!(r.stderr.contains("is not a date"), "{}", r.stderr);
}

#[test]
fn promoted_interactions_become_cases_that_the_next_run_includes() {
    let stub = Stub::start(support_labeller);
    let p = Project::base(&stub.base_url);
    let edit = json!({"type": "signal", "event_id": "s2", "interaction_id": "i2", "timestamp": "2026-11-20T10:06:00Z",
                      "kind": "explicit", "name": "user_edit",
                      "edited_output": "{\"intent\": \"bug\", \"sentiment\": \"negative\", \"escalation_risk\": 4, \"summary\": \"SSO fails.\"}"});
    let events = [
        interaction("i1", "Customer: please refund the double charge on my card"),
        signal("s1", "i1", "thumbs_down"),
        interaction("i2", "Customer: SSO login is broken for the whole team"),
        edit,
        interaction("i3", "Customer: I wish the export had a PDF option"),
        signal("s3", "i3", "retry"),
        // Same input as i1 up to case and spacing: a duplicate.
        interaction(
            "i4",
            "customer:  Please refund the double charge on my card",
        ),
    ];
    let text: String = events.iter().map(|e| e.to_string() + "\n").collect();
    p.write("events.jsonl", &text);
    p.evalgate(&["feedback", "ingest", "events.jsonl"])
        .assert_code(0);
    let before = p.read("golden/support.jsonl");

    let r = p.evalgate(&[
        "feedback",
        "promote",
        "s1",
        "i2",
        "s3",
        "i4",
        "--to",
        "golden/support.jsonl",
    ]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("added 3 cases to golden/support.jsonl: fb-i1, fb-i2, fb-i3"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("skipped i4: its input is already in golden as `fb-i1`"),
        "{}",
        r.stderr
    );
    let after = p.read("golden/support.jsonl");
    assert!(
        after.starts_with(&before),
        "the existing lines are untouched"
    );
    let added: Vec<Value> = after[before.len()..]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(added.len(), 3);
    assert_eq!(added[0]["source"]["event_id"], "i1");
    assert_eq!(added[0]["source"]["kind"], "feedback");
    assert_eq!(added[0]["source"]["needs_label"], true);
    assert_eq!(added[0]["source"]["signals"], json!(["thumbs_down"]));
    assert!(
        added[0]["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("needs_label"))
    );
    // The user's edit is the expected value.
    assert_eq!(
        added[1]["expected"],
        json!({"intent": "bug", "sentiment": "negative", "escalation_risk": 4, "summary": "SSO fails."})
    );
    assert!(added[1]["source"].get("needs_label").is_none());
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    crate::snapshot!(
        "feedback_promoted_lines",
        after[before.len()..].replace(&today, "[TODAY]")
    );

    // Promoting again adds nothing; the file is unchanged.
    let r = p.evalgate(&[
        "feedback",
        "promote",
        "i1",
        "i2",
        "--to",
        "golden/support.jsonl",
    ]);
    r.assert_code(0);
    assert!(r.stdout.contains("added 0 cases"), "{}", r.stdout);
    assert_eq!(p.read("golden/support.jsonl"), after);
    let r = p.evalgate(&[
        "feedback",
        "promote",
        "nope",
        "--to",
        "golden/support.jsonl",
    ]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("no interaction or signal has the event id `nope`"),
        "{}",
        r.stderr
    );

    // The next run includes them.
    p.evalgate(&["validate"]).assert_code(0);
    let r = p.evalgate(&["run", "support", "--format", "json"]);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["counts"]["cases"], 6, "{}", r.stdout);
    let stats = p.evalgate(&["golden", "stats", "support"]);
    stats.assert_code(0);
    assert!(
        stats
            .stdout
            .contains("2 cases wait for a human label (needs_label)"),
        "{}",
        stats.stdout
    );
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    crate::snapshot!("golden_stats", stats.stdout.replace(&month, "[MONTH]"));
}

#[test]
fn promoting_cases_that_do_not_fit_the_prompt_leaves_the_file_unchanged() {
    let stub = Stub::start(support_labeller);
    let p = Project::base(&stub.base_url);
    // An interaction without the `transcript` variable the prompt needs.
    let e = json!({"type": "interaction", "event_id": "x1", "timestamp": "2026-11-20T10:00:00Z",
                   "prompt": "support", "vars": {"question": "hi"}, "output": "{}"});
    p.write("events.jsonl", &(e.to_string() + "\n"));
    p.evalgate(&["feedback", "ingest", "events.jsonl"])
        .assert_code(0);
    let before = p.read("golden/support.jsonl");
    let r = p.evalgate(&["feedback", "promote", "x1", "--to", "golden/support.jsonl"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("not promoted x1: its inputs lack `transcript`, which prompt `support` uses"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("added 0 cases"), "{}", r.stdout);
    assert_eq!(p.read("golden/support.jsonl"), before);
}

#[test]
fn the_json_schema_and_the_parser_agree() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/feedback-event.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let fixture = std::fs::read_to_string(repo().join("examples/feedback/events.jsonl")).unwrap();
    let mut n = 0;
    for line in fixture.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(validator.is_valid(&v), "the schema rejects {line}");
        evalgate::feedback::Event::parse(v, None).unwrap();
        n += 1;
    }
    assert_eq!(n, 503);
    let good = signal("s1", "i1", "thumbs_down");
    let bad = [
        json!({"type": "signal"}),
        {
            let mut v = good.clone();
            v["kind"] = json!("loud");
            v
        },
        {
            let mut v = good.clone();
            v["name"] = json!("user_edit");
            v
        },
        {
            let mut v = good.clone();
            v["extra"] = json!(1);
            v
        },
        {
            let mut v = interaction("i1", "x");
            v["vars"] = json!("text");
            v
        },
        {
            let mut v = interaction("i1", "x");
            v["timestamp"] = json!("2026-11-20");
            v
        },
        {
            let mut v = interaction("i1", "x");
            v["event_id"] = json!("");
            v
        },
    ];
    for v in bad {
        assert!(!validator.is_valid(&v), "the schema accepts {v}");
        assert!(
            evalgate::feedback::Event::parse(v.clone(), None).is_err(),
            "the parser accepts {v}"
        );
    }
}

/// An event sent again is a duplicate, said in the answer and in the shutdown line, on both
/// backends (the insert returns the ids it added).
fn duplicates_are_answered_and_counted(database_url: Option<String>) {
    let p = Project::empty();
    let env: Vec<(&str, &str)> = database_url
        .as_deref()
        .map(|u| vec![("EVALGATE_DATABASE_URL", u)])
        .unwrap_or_default();
    let server = Server::start(&p, &[], &env);
    let url = server.url.clone();
    runtime().block_on(async move {
        let http = reqwest::Client::new();
        let batch = json!([
            interaction("d1", "Customer: hi"),
            interaction("d2", "Customer: yo")
        ]);
        for expected in [
            json!({"accepted": 2, "duplicates": 0}),
            json!({"accepted": 0, "duplicates": 2}),
        ] {
            let r = http
                .post(format!("{url}/v1/interactions"))
                .header("content-type", "application/json")
                .body(batch.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.json::<Value>().await.unwrap(), expected);
        }
    });
    let (code, log) = server.stop_with_log();
    assert_eq!(code, 0);
    assert!(
        log.contains("stopped: 2 requests, 2 events stored, 2 sent again"),
        "{log}"
    );
}

#[test]
fn duplicates_are_answered_and_counted_on_sqlite() {
    duplicates_are_answered_and_counted(None);
}

#[test]
fn duplicates_are_answered_and_counted_on_postgres() {
    let Some(base) = crate::common::postgres_url() else {
        return;
    };
    duplicates_are_answered_and_counted(Some(crate::common::postgres_schema(&base)));
}

/// An event sent again under its id with other content is not dropped silently: the server
/// answers 409 with the stored event's hash and stores nothing of that request; a file's line
/// that does the same is rejected as a conflict.
fn conflicts_are_refused(database_url: Option<String>) {
    let p = Project::empty();
    let env: Vec<(&str, &str)> = database_url
        .as_deref()
        .map(|u| vec![("EVALGATE_DATABASE_URL", u)])
        .unwrap_or_default();
    let server = Server::start(&p, &[], &env);
    let url = server.url.clone();
    runtime().block_on(async move {
        let http = reqwest::Client::new();
        let post = |body: Value| {
            http.post(format!("{url}/v1/interactions"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
        };
        let first = interaction("k1", "Customer: hi");
        let r = post(first.clone()).await.unwrap();
        assert_eq!(r.status(), 200);
        let changed = interaction("k1", "Customer: something else");
        let r = post(json!([interaction("k2", "Customer: new"), changed]))
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["conflicts"][0]["event_id"], "k1");
        assert_eq!(
            body["conflicts"][0]["stored_sha256"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("nothing of the request was stored")
        );
        // The same content again is a duplicate, not a conflict.
        let r = post(first).await.unwrap();
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"accepted": 0, "duplicates": 1})
        );
        // Each event that differs is a conflict, in the order sent (on every backend): k1
        // changed twice, then k9 (stored after k1) and k1 changed.
        let r = post(json!([
            interaction("k1", "Customer: b"),
            interaction("k1", "Customer: c")
        ]))
        .await
        .unwrap();
        assert_eq!(r.status(), 409);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["conflicts"].as_array().unwrap().len(), 2, "{body}");
        let r = post(interaction("k9", "Customer: nine")).await.unwrap();
        assert_eq!(r.status(), 200);
        let r = post(json!([
            interaction("k9", "Customer: changed"),
            interaction("k8", "Customer: new"),
            interaction("k1", "Customer: changed")
        ]))
        .await
        .unwrap();
        assert_eq!(r.status(), 409);
        let body: Value = r.json().await.unwrap();
        let ids: Vec<&str> = body["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["k9", "k1"]);
    });
    let (code, log) = server.stop_with_log();
    assert_eq!(code, 0);
    assert!(
        log.contains("5 refused (an id stored before with other content)"),
        "{log}"
    );
    let rt = runtime();
    let store = rt
        .block_on(evalgate::store::Store::open(
            database_url.as_deref(),
            p.path(),
        ))
        .unwrap();
    assert_eq!(
        rt.block_on(store.feedback_counts()).unwrap(),
        (2, 0),
        "k2 and k8 were not stored"
    );

    // A file: the line that changes k1 is rejected as a conflict; the others are stored.
    let lines = [
        interaction("k1", "Customer: another text"),
        interaction("k3", "Customer: three"),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect::<String>();
    p.write("more.jsonl", &lines);
    let r = p.evalgate_env(&["feedback", "ingest", "more.jsonl"], &env);
    r.assert_code(2);
    assert!(
        r.stdout.contains(
            "2 lines: 2 interactions (1 new), 0 signals (0 new), 1 rejected (1 of them conflicts"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("more.jsonl:1: event `k1` was stored before with other content"),
        "{}",
        r.stderr
    );
}

#[test]
fn conflicts_are_refused_on_sqlite() {
    conflicts_are_refused(None);
}

#[test]
fn conflicts_are_refused_on_postgres() {
    let Some(base) = crate::common::postgres_url() else {
        return;
    };
    conflicts_are_refused(Some(crate::common::postgres_schema(&base)));
}

/// A request the database refuses (here a trigger refuses one event id) is answered 503 and
/// stores nothing; the requests committed in the same group as it are tried again each on its
/// own and stored; the server goes on.
#[test]
fn a_request_the_database_refuses_fails_alone() {
    let p = Project::empty();
    let rt = runtime();
    let store = rt
        .block_on(evalgate::store::Store::open(None, p.path()))
        .unwrap();
    let file = store.sqlite_file().unwrap().to_path_buf();
    rt.block_on(store.close());
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON feedback_interactions \
             WHEN NEW.event_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom is refused'); END;",
        )
        .unwrap();
    let server = Server::start(&p, &[], &[]);
    let url = server.url.clone();
    rt.block_on(async move {
        let http = reqwest::Client::new();
        let post = |id: String| {
            let request = http
                .post(format!("{url}/v1/interactions"))
                .header("content-type", "application/json")
                .body(interaction(&id, "Customer: hi").to_string());
            async move {
                let r = request.send().await.unwrap();
                (id, r.status().as_u16(), r.text().await.unwrap())
            }
        };
        for round in 0..3 {
            let ids = (0..40).map(|k| match k {
                20 => "boom".to_string(),
                k => format!("ok-{round}-{k}"),
            });
            for (id, status, body) in futures::future::join_all(ids.map(post)).await {
                match id.as_str() {
                    "boom" => {
                        assert_eq!(status, 503, "{body}");
                        assert!(body.contains("boom is refused"), "{body}");
                        assert!(body.contains("nothing was kept"), "{body}");
                    }
                    _ => assert_eq!(status, 200, "{id}: {body}"),
                }
            }
        }
        let (_, status, _) = post("after".to_string()).await;
        assert_eq!(status, 200);
    });
    let (code, log) = server.stop_with_log();
    assert_eq!(code, 0, "{log}");
    let store = rt
        .block_on(evalgate::store::Store::open(None, p.path()))
        .unwrap();
    assert_eq!(
        rt.block_on(store.feedback_counts()).unwrap(),
        (3 * 39 + 1, 0)
    );
    assert!(
        rt.block_on(store.feedback_interaction("boom"))
            .unwrap()
            .is_none()
    );
    rt.block_on(store.close());
}
