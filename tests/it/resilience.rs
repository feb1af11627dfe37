//! Execution that survives production: retries with fault injection, the response cache,
//! spend limits, dry runs, kill-and-resume, streaming, and the Anthropic provider.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::stub::{Reply, Stub, support_labeller, user_text};
use crate::common::{Project, evalgate, postgres_schema, postgres_url};

/// `n` cases, each a distinct billing message, all answered right by `support_labeller`.
fn cases(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id": "k{i:03}", "vars": {{"transcript": "Customer: case {i}: please refund the double charge"}}, "expected": {{"intent": "billing", "sentiment": "neutral", "escalation_risk": 2}}}}"#
            ) + "\n"
        })
        .collect()
}

/// The case id a request is for (the stub sees only the rendered message).
fn case_of(body: &Value) -> String {
    let text = user_text(body);
    let i: usize = text
        .split("case ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(9999);
    format!("k{i:03}")
}

fn project(stub: &Stub, n: usize) -> Project {
    let p = Project::base(&stub.base_url);
    p.write("golden/support.jsonl", &cases(n));
    p
}

fn run_file(p: &Project, name: &str) -> Value {
    serde_json::from_str(&p.read(name)).unwrap()
}

const NO_DELAY: (&str, &str) = ("EVALGATE_NO_RETRY_DELAY", "1");

/// Waits (on the stub's log, not on a clock) until the stub was asked `n` times.
fn wait_for_requests(stub: &Stub, n: usize) {
    let waited = std::time::Instant::now();
    while stub.requests().len() < n {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn faults_are_retried_and_what_still_fails_carries_its_kind_on_sqlite() {
    faults_are_retried(None);
}

#[test]
fn faults_are_retried_and_what_still_fails_carries_its_kind_on_postgres() {
    let Some(base) = postgres_url() else { return };
    faults_are_retried(Some(postgres_schema(&base)));
}

fn faults_are_retried(database_url: Option<String>) {
    // Per case, the faults injected before the first good answer. Cases 18 and 19 never
    // recover: a 500 every time, and a 400 (which is not retried).
    let plan = |i: usize| -> Vec<Reply> {
        match i {
            0..=2 => vec![Reply::RetryAfter(429, "0".into())],
            3..=5 => vec![
                Reply::Status(500, "{}".into()),
                Reply::Status(503, "{}".into()),
            ],
            6..=7 => vec![Reply::Hang],
            8..=9 => vec![Reply::Status(200, "{\"choices\": [".into())],
            10..=11 => vec![Reply::Truncated("{\"choices\": [{\"message\"".into())],
            12 => vec![Reply::RetryAfter(
                429,
                "Wed, 21 Oct 2015 07:28:00 GMT".into(),
            )],
            18 => vec![Reply::Status(500, "{}".into()); 10],
            19 => vec![Reply::Status(400, r#"{"error":{"message":"bad"}}"#.into()); 10],
            _ => vec![],
        }
    };
    let seen: Mutex<HashMap<usize, usize>> = Mutex::new(HashMap::new());
    let stub = Stub::start(move |body| {
        let id = case_of(body);
        let i: usize = id[1..].parse().unwrap();
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(i).or_default();
        *n += 1;
        match plan(i).get(*n - 1) {
            Some(fault) => fault.clone(),
            None => support_labeller(body),
        }
    });
    let p = project(&stub, 20);
    p.write(
        "evalgate.yaml",
        &p.read("evalgate.yaml")
            .replace("timeout_secs: 5", "timeout_secs: 1")
            .replace(
                "    concurrency: 2",
                "    concurrency: 4\n    max_error_rate: 0.05",
            ),
    );
    let mut env = vec![NO_DELAY];
    if let Some(url) = &database_url {
        env.push(("EVALGATE_DATABASE_URL", url.as_str()));
    }
    let run = p.evalgate_env(&["run", "support", "--out", "run.json"], &env);
    if database_url.is_some() {
        assert!(
            !p.path().join(".evalgate").exists(),
            "SQLite was used instead of PostgreSQL"
        );
    }

    // Two of twenty cases failed for good: 10% is above the 5% error budget, so exit 3.
    run.assert_code(3);
    assert!(run.stderr.contains("2 of 20 cases failed with a provider error (10.0%), above the suite's `max_error_rate` of 5.0%"), "{}", run.stderr);

    let file = run_file(&p, "run.json");
    let case = |id: &str| {
        file["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    for i in 0..18 {
        let c = case(&format!("k{i:03}"));
        assert_eq!(c["status"], "pass", "k{i:03}: {c}");
    }
    assert_eq!(case("k018")["kind"], "server_error");
    assert!(
        case("k018")["message"]
            .as_str()
            .unwrap()
            .ends_with("(after 4 attempts)")
    );
    assert_eq!(case("k019")["kind"], "bad_request");

    // Requests per case: exactly the injected faults plus one good answer; 4 attempts for the
    // case that never recovered; 1 for the rejected request.
    let expected = |i: usize| match i {
        0..=2 | 6..=12 => 2,
        3..=5 => 3,
        18 => 4,
        _ => 1,
    };
    for i in 0..20 {
        assert_eq!(
            stub.count(&format!("case {i}:")),
            expected(i),
            "requests for k{i:03}"
        );
    }
    assert_eq!(file["report"]["usage"]["retried"], 14);
    assert_eq!(file["report"]["counts"]["error"], 2);
    // Answers and HTTP requests are counted apart: 18 answers timed from 37 requests (the
    // two errors' requests included).
    let total: usize = (0..20).map(expected).sum();
    assert_eq!(file["report"]["usage"]["requests"], total as u64);
    let latency = run
        .stdout
        .lines()
        .find(|l| l.starts_with("latency"))
        .unwrap();
    assert!(
        latency.ends_with(&format!(
            "(18 answers timed; {total} HTTP requests, retries included)"
        )),
        "{latency}"
    );
}

#[test]
fn a_cached_rerun_makes_no_request_and_reports_the_savings() {
    let stub = Stub::start(support_labeller);
    let p = project(&stub, 6);
    p.evalgate(&["run", "support"]).assert_code(0);
    assert_eq!(stub.requests().len(), 6);

    let again = p.evalgate(&["run", "support", "--format", "json"]);
    again.assert_code(0);
    assert_eq!(
        stub.requests().len(),
        6,
        "a cached re-run must not call the provider"
    );
    let report: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["usage"]["cache_hits"], 6);
    assert_eq!(report["usage"]["cost_paid_usd"], 0.0);
    assert!(report["usage"]["cost_saved_usd"].as_f64().unwrap() > 0.0);
    assert!(
        again.stderr.contains("0 requested, 6 from the cache"),
        "{}",
        again.stderr
    );
    let text = p.evalgate(&["run", "support"]);
    assert!(
        text.stdout
            .contains("cache      6 of 6 answers from the cache (100.0%) · paid $0 · saved $"),
        "{}",
        text.stdout
    );

    // --no-cache asks again and writes nothing; --refresh asks again and updates the cache.
    p.evalgate(&["run", "support", "--no-cache"]).assert_code(0);
    assert_eq!(stub.requests().len(), 12);
    p.evalgate(&["run", "support", "--refresh"]).assert_code(0);
    assert_eq!(stub.requests().len(), 18);
    p.evalgate(&["run", "support"]).assert_code(0);
    assert_eq!(stub.requests().len(), 18);

    // A different base URL is a different cache: the same request is asked again.
    let other = Stub::start(support_labeller);
    p.write(
        "evalgate.yaml",
        &p.read("evalgate.yaml")
            .replace(&stub.base_url, &other.base_url),
    );
    p.evalgate(&["run", "support"]).assert_code(0);
    assert_eq!(other.requests().len(), 6);
}

#[test]
fn repeats_at_temperature_above_zero_are_not_collapsed_by_the_cache() {
    let stub = Stub::start(support_labeller);
    let p = project(&stub, 3);
    p.write(
        "prompts/support.yaml",
        &p.read("prompts/support.yaml")
            .replace("temperature: 0", "temperature: 0.7"),
    );
    let run = p.evalgate(&["run", "support", "--repeat", "3", "--out", "run.json"]);
    run.assert_code(0);
    assert_eq!(stub.requests().len(), 9);
    assert_eq!(
        run_file(&p, "run.json")["cases"].as_array().unwrap().len(),
        9
    );
    assert!(
        run.stdout.contains("each case asked 3 times"),
        "{}",
        run.stdout
    );
    p.evalgate(&["run", "support", "--repeat", "3"])
        .assert_code(0);
    assert_eq!(
        stub.requests().len(),
        9,
        "all nine answers are cached apart"
    );
}

#[test]
fn the_spend_limit_stops_scheduling_and_resume_finishes_the_run() {
    let stub = Stub::start(support_labeller);
    let p = project(&stub, 10);
    // Each call costs 20 µUSD here (16 input words at $1/M + 2 output words at $2/M, as the
    // stub counts tokens), and at most 718 µUSD as evalgate reserves it (518 input tokens: the
    // request's bytes with its schema and the chat template's; 100 output tokens at
    // max_tokens). With a budget of 770 µUSD, the fourth case is not started: 60 + 718 > 770.
    let run = p.evalgate(&[
        "run",
        "support",
        "-j",
        "1",
        "--max-cost",
        "0.00077",
        "--out",
        "part.json",
    ]);
    run.assert_code(3);
    assert!(
        run.stderr.contains(
            "stopped at the spend limit of $0.00077 after 3 of 10 cases ($0.000060 paid; the next case could cost up to $0.000718 and $0.000710 is left)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(stub.requests().len(), 3);
    let part = run_file(&p, "part.json");
    assert_eq!(part["run"]["status"], "stopped");
    assert_eq!(part["run"]["stop_reason"], "budget");
    let id = part["run"]["id"].as_str().unwrap().to_string();

    // A new run of the same suite points at the unfinished one.
    let dry = p.evalgate(&["run", "support", "--dry-run"]);
    dry.assert_code(0);
    assert!(
        dry.stdout.contains("│ support ┆ stub-model ┆ 7     ┆ 3"),
        "{}",
        dry.stdout
    );
    assert_eq!(stub.requests().len(), 3, "a dry run calls nothing");

    let resumed = p.evalgate(&["run", "support", "--resume", &id, "--out", "full.json"]);
    resumed.assert_code(0);
    assert!(
        resumed.stderr.contains(&format!("resuming run {id}")),
        "{}",
        resumed.stderr
    );
    assert_eq!(
        stub.requests().len(),
        10,
        "finished cases are not requested again"
    );
    let full = run_file(&p, "full.json");
    assert_eq!(full["run"]["id"], id.as_str());
    assert_eq!(full["run"]["status"], "finished");
    assert_eq!(full["cases"].as_array().unwrap().len(), 10);
    assert_eq!(full["report"]["counts"]["pass"], 10);
}

/// The spend limit at concurrency 32 with latency: `max_tokens` bounds every answer, so the
/// run never spends more than its budget, and it stops only when what is left cannot cover
/// the next case (718 µUSD here).
#[test]
fn the_spend_limit_holds_at_concurrency_32() {
    let stub = Stub::start(support_labeller);
    stub.set_latency(Duration::from_millis(20));
    let p = project(&stub, 400);
    let budget = 0.006;
    let run = p.evalgate(&[
        "run",
        "support",
        "-j",
        "32",
        "--max-cost",
        &budget.to_string(),
        "--out",
        "part.json",
    ]);
    run.assert_code(3);
    let part = run_file(&p, "part.json");
    let spent = part["report"]["usage"]["cost_paid_usd"].as_f64().unwrap();
    let cases = part["cases"].as_array().unwrap().len();
    assert_eq!(stub.requests().len(), cases, "every request sent was kept");
    assert!(spent <= budget, "spent ${spent} of ${budget}");
    assert!(
        spent > budget - 0.000718,
        "stopped while the budget still covered a case: ${spent} of ${budget}"
    );
    assert!(
        run.stderr.contains("stopped at the spend limit"),
        "{}",
        run.stderr
    );
}

/// Without `max_tokens` an answer is estimated at the longest seen so far, so answers that
/// grow can take the run past its budget, by at most what the requests in flight when the
/// line was crossed wrote beyond their estimate.
#[test]
fn without_max_tokens_the_overshoot_is_bounded_by_the_requests_in_flight() {
    // Answers grow by a word a case: each is longer than any seen before it.
    let stub = Stub::start(|body| {
        let i: usize = case_of(body)[1..].parse().unwrap_or(0);
        Reply::Content(format!(
            r#"{{"intent": "billing", "sentiment": "neutral", "escalation_risk": 2, "summary": "{}"}}"#,
            "w ".repeat(i).trim_end()
        ))
    });
    stub.set_latency(Duration::from_millis(20));
    let p = project(&stub, 400);
    let prompt = p
        .read("prompts/support.yaml")
        .replace("  max_tokens: 100\n", "");
    p.write("prompts/support.yaml", &prompt);
    let budget = 0.004;
    let run = p.evalgate(&[
        "run",
        "support",
        "-j",
        "32",
        "--max-cost",
        "0.004",
        "--out",
        "part.json",
    ]);
    run.assert_code(3);
    let part = run_file(&p, "part.json");
    let spent = part["report"]["usage"]["cost_paid_usd"].as_f64().unwrap();
    let costs: Vec<f64> = part["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cost_usd"].as_f64().unwrap())
        .collect();
    // At most 32 requests were in flight when the line was crossed, none costing more than
    // the dearest case kept.
    let dearest = costs.iter().copied().fold(0.0, f64::max);
    assert!(
        spent <= budget + 32.0 * dearest,
        "spent ${spent} of ${budget} (dearest case ${dearest})"
    );
    assert!(costs.len() < 400);
}

#[test]
fn an_unfinished_run_is_pointed_out() {
    let stub = Stub::start(support_labeller);
    let p = project(&stub, 4);
    p.evalgate(&["run", "support", "-j", "1", "--max-cost", "0.00073"])
        .assert_code(3);
    // A run of other cases would not resume it: no hint.
    for other in [
        vec!["run", "support", "--no-cache", "--limit", "2"],
        vec!["run", "support", "--no-cache", "--shard", "1/2"],
        vec!["run", "support", "--no-cache", "--repeat", "2"],
    ] {
        let run = p.evalgate(&other);
        run.assert_code(0);
        assert!(!run.stderr.contains("hint:"), "{other:?}: {}", run.stderr);
    }
    let run = p.evalgate(&["run", "support", "--no-cache"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains(
            "stopped after 1 of 4 cases; `evalgate run support --model stub-model --resume "
        ),
        "{}",
        run.stderr
    );
    let nothing = p.evalgate(&["run", "support", "--resume"]);
    nothing.assert_code(0);
}

#[test]
fn dry_run_estimates_calls_tokens_and_cost() {
    let stub = Stub::start(support_labeller);
    let p = project(&stub, 5);
    let dry = p.evalgate(&["run", "support", "--dry-run", "--repeat", "2"]);
    dry.assert_code(0);
    assert_eq!(stub.requests().len(), 0);
    crate::snapshot!("dry_run", dry.transcript());
}

fn kill_and_resume(database_url: Option<String>) {
    let stub = Stub::start(support_labeller);
    stub.set_latency(Duration::from_millis(60));
    let p = project(&stub, 30);
    let mut env: Vec<(&str, String)> = vec![];
    if let Some(url) = &database_url {
        env.push(("EVALGATE_DATABASE_URL", url.clone()));
    }

    let mut cmd = evalgate();
    cmd.current_dir(p.path())
        .args(["run", "support", "-j", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Until a third of the cases were asked.
    wait_for_requests(&stub, 10);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let listed = p.evalgate_env(&["runs"], &env_refs);
    assert!(listed.stdout.contains("┆ running "), "{}", listed.stdout);
    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    child.wait().unwrap();
    // Nothing holds the run now: it is shown as interrupted, not as running forever.
    let listed = p.evalgate_env(&["runs"], &env_refs);
    assert!(
        listed.stdout.contains("┆ stopped (interrupted) "),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("running"), "{}", listed.stdout);

    // What the store holds is what was finished before the kill.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let finished: Vec<String> = rt.block_on(async {
        let store = evalgate::store::Store::open(database_url.as_deref(), p.path())
            .await
            .unwrap();
        let runs = store.list_runs(Some("support"), 5).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            runs[0].status,
            evalgate::status::RunStatus::Running,
            "a killed run is left as running"
        );
        let cases = store.cases(&runs[0].id).await.unwrap();
        store.close().await;
        let mut finished: Vec<String> = cases.into_iter().map(|c| c.case_id).collect();
        // On SQLite, what finished since the last transaction is in the run's log.
        let pending = p.path().join(".evalgate/pending");
        let log_path = evalgate::runlog::path(&pending, &runs[0].id);
        if database_url.is_none() {
            assert!(log_path.exists(), "the killed run left its log");
            let logged = evalgate::runlog::RunLog::open(&pending, &runs[0].id)
                .unwrap()
                .take()
                .unwrap();
            for r in logged {
                // A case can be in both when the kill came between a transaction and the
                // clearing of the log.
                if !finished.contains(&r.case.case_id) {
                    finished.push(r.case.case_id);
                }
            }
        } else {
            assert!(!log_path.exists(), "PostgreSQL runs keep no log");
        }
        finished
    });
    assert!(
        finished.len() >= 6 && finished.len() < 30,
        "{} finished before the kill",
        finished.len()
    );

    let mut args = vec!["run", "support", "--resume", "--out", "resumed.json"];
    args.extend(["-j", "2"]);
    let resumed = p.evalgate_env(&args, &env_refs);
    resumed.assert_code(0);
    assert!(
        evalgate::runlog::runs(&p.path().join(".evalgate/pending"))
            .unwrap()
            .is_empty(),
        "the resumed run stored its log and deleted it"
    );

    // No finished case was requested twice.
    let mut per_case: HashMap<String, usize> = HashMap::new();
    for r in stub.requests() {
        *per_case.entry(case_of(&r.body)).or_default() += 1;
    }
    for id in &finished {
        assert_eq!(
            per_case[id], 1,
            "{id} was finished before the kill and was requested again"
        );
    }
    assert_eq!(per_case.len(), 30);

    // The results equal those of an uninterrupted run.
    let clean = Stub::start(support_labeller);
    let q = project(&clean, 30);
    q.evalgate(&["run", "support", "--out", "clean.json"])
        .assert_code(0);
    let outcome = |f: &Value| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = f["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                    c["output"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let resumed_file = run_file(&p, "resumed.json");
    assert_eq!(outcome(&resumed_file), outcome(&run_file(&q, "clean.json")));
    assert_eq!(resumed_file["run"]["status"], "finished");
}

/// A run holds a lease while it goes on: a second process cannot resume it meanwhile.
fn a_live_run_cannot_be_resumed(database_url: Option<String>) {
    let stub = Stub::start(support_labeller);
    stub.set_latency(Duration::from_millis(100));
    let p = project(&stub, 20);
    let env: Vec<(&str, &str)> = database_url
        .as_deref()
        .map(|u| vec![("EVALGATE_DATABASE_URL", u)])
        .unwrap_or_default();
    let mut cmd = evalgate();
    cmd.current_dir(p.path())
        .args(["run", "support", "-j", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    wait_for_requests(&stub, 2);
    let listed = p.evalgate_env(&["runs"], &env);
    let id = listed
        .stdout
        .lines()
        .find(|l| l.contains("┆ running "))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no running run\n{}", listed.stdout))
        .to_string();
    let resumed = p.evalgate_env(&["run", "support", "--resume", &id], &env);
    child.kill().unwrap();
    child.wait().unwrap();
    resumed.assert_code(2);
    assert!(
        resumed
            .stderr
            .contains("is being run by another evalgate process"),
        "{}",
        resumed.stderr
    );
}

#[test]
fn a_live_run_cannot_be_resumed_on_sqlite() {
    a_live_run_cannot_be_resumed(None);
}

#[test]
fn a_live_run_cannot_be_resumed_on_postgres() {
    let Some(base) = postgres_url() else { return };
    a_live_run_cannot_be_resumed(Some(postgres_schema(&base)));
}

#[test]
fn a_killed_run_resumes_without_asking_again_on_sqlite() {
    kill_and_resume(None);
}

#[test]
fn a_killed_run_resumes_without_asking_again_on_postgres() {
    let Some(base) = postgres_url() else { return };
    kill_and_resume(Some(postgres_schema(&base)));
}

#[test]
fn streaming_measures_time_to_first_token_and_cassettes_keep_it() {
    let stub = Stub::start(support_labeller);
    stub.set_latency(Duration::from_millis(20));
    let p = project(&stub, 4);
    p.write(
        "evalgate.yaml",
        &p.read("evalgate.yaml").replace(
            "    timeout_secs: 5",
            "    timeout_secs: 5\n    stream: true",
        ),
    );
    let run = p.evalgate(&["run", "support", "--record", "--out", "run.json"]);
    run.assert_code(0);
    assert!(
        stub.requests()
            .iter()
            .all(|r| r.body["stream"] == true && r.body["stream_options"]["include_usage"] == true)
    );
    let file = run_file(&p, "run.json");
    assert_eq!(file["report"]["counts"]["pass"], 4, "{}", run.stdout);
    assert_eq!(file["report"]["latency"]["ttft_n"], 4);
    assert!(file["report"]["latency"]["ttft_p50_ms"].as_f64().unwrap() >= 20.0);
    assert!(
        file["report"]["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "usage comes from the last chunk"
    );
    assert!(run.stdout.contains("first token p50 "), "{}", run.stdout);
    let cassette = std::fs::read_dir(p.path().join("cassettes"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let cassette: Value =
        serde_json::from_str(&std::fs::read_to_string(cassette).unwrap()).unwrap();
    assert!(cassette["ttft_ms"].as_f64().is_some());
}

#[test]
fn the_anthropic_provider_speaks_the_messages_api() {
    let calls = AtomicUsize::new(0);
    let stub = Stub::start(move |body| {
        // The first answer is overloaded (529), then the prompt cache serves 10 input tokens.
        if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            return Reply::Status(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                    .into(),
            );
        }
        match support_labeller(body) {
            Reply::Content(c) => Reply::ContentCached(c, 10),
            other => other,
        }
    });
    let p = Project::base(&stub.base_url);
    p.write(
        "evalgate.yaml",
        &p.read("evalgate.yaml").replace(
            "  tape:\n",
            &format!("  claude:\n    kind: anthropic\n    base_url: {}\n    api_key_env: STUB_API_KEY\n  tape:\n", stub.base_url),
        )
        .replace("models:\n", "models:\n  claude-model:\n    provider: claude\n    name: claude-test\n    price: {input: 3.0, cached_input: 0.3, output: 15.0}\n  claude-tape:\n    provider: tape\n    name: claude-test\n    price: {input: 3.0, cached_input: 0.3, output: 15.0}\n"),
    );
    let run = p.evalgate_env(
        &[
            "run",
            "support",
            "--model",
            "claude-model",
            "--record",
            "--out",
            "run.json",
        ],
        &[("STUB_API_KEY", "sk-ant-test"), NO_DELAY],
    );
    run.assert_code(0);
    let requests = stub.requests();
    assert_eq!(requests.len(), 4, "three cases and one retry of the 529");
    for r in &requests {
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.api_key.as_deref(), Some("sk-ant-test"));
        assert_eq!(r.anthropic_version.as_deref(), Some("2023-06-01"));
        assert_eq!(r.body["tool_choice"]["name"], "output");
        assert!(
            r.body["system"]
                .as_str()
                .unwrap()
                .contains("Label the conversation")
        );
        assert_eq!(r.body["max_tokens"], 100);
    }
    let file = run_file(&p, "run.json");
    assert_eq!(file["report"]["counts"]["error"], 0);
    assert_eq!(file["report"]["enum_fields"][0]["accuracy"]["successes"], 3);
    // Cached input tokens are priced at the cached rate: 10 per call at $0.3/M.
    let u = &file["report"]["usage"];
    assert_eq!(u["cached_input_tokens"], 30);
    let (input, output) = (
        u["input_tokens"].as_f64().unwrap(),
        u["output_tokens"].as_f64().unwrap(),
    );
    let expected = ((input - 30.0) * 3.0 + 30.0 * 0.3 + output * 15.0) / 1e6;
    assert!((u["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert!(run.stdout.contains("(30 cached, "), "{}", run.stdout);

    // Cassettes recorded against the Messages API replay offline (they hold the answer in
    // one shape, whatever the provider's).
    let replay = p.evalgate(&[
        "run",
        "support",
        "--model",
        "claude-tape",
        "--out",
        "replay.json",
    ]);
    replay.assert_code(0);
    assert_eq!(stub.requests().len(), 4);
    let outputs = |f: &Value| -> Vec<String> {
        f["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["output"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(outputs(&run_file(&p, "replay.json")), outputs(&file));
    assert_eq!(
        run_file(&p, "replay.json")["report"]["usage"]["cached_input_tokens"],
        30
    );
}

#[test]
fn validate_warns_when_variables_come_before_static_instructions() {
    let stub = Stub::start(support_labeller);
    let p = project(&stub, 2);
    p.write(
        "prompts/support.yaml",
        &p.read("prompts/support.yaml").replace(
            "      Label the conversation. Answer with JSON only.",
            "      {{ transcript }}\n      Label the conversation above with its intent, sentiment and escalation risk. Answer with JSON only, no prose.",
        ),
    );
    let run = p.evalgate(&["validate"]);
    run.assert_code(0);
    crate::snapshot!("prefix_cache_warning", run.stderr.clone());
}

/// `--batch` against a server without a Batch API (llama-cpp-python, say) names the
/// endpoint that is not there and exits 2.
#[test]
fn batch_mode_on_a_provider_without_a_batch_api_says_so() {
    let stub = Stub::start_without_batches(support_labeller);
    let p = project(&stub, 3);
    let run = p.evalgate(&["run", "support", "--batch"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!(
            "`--batch` needs a Batch API, and this provider has none: POST {}/files answered 404 Not Found",
            stub.base_url
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: run without `--batch`"),
        "{}",
        run.stderr
    );
}

/// Repeats at temperature 0 cost K times and measure nothing: the run says so.
#[test]
fn repeats_at_temperature_zero_are_warned_about() {
    let stub = Stub::start(support_labeller);
    let p = project(&stub, 2);
    let run = p.evalgate(&["run", "support", "--repeat", "3"]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("`--repeat 3` at temperature 0: a model answers the same every time"),
        "{}",
        run.stderr
    );
    let once = p.evalgate(&["run", "support"]);
    assert!(!once.stderr.contains("--repeat"), "{}", once.stderr);
}

#[test]
fn batch_mode_sends_one_batch_and_prices_it_at_the_batch_rate() {
    let stub = Stub::start(support_labeller);
    stub.set_batch_ready(false);
    let p = project(&stub, 6);
    // Kill the run while it polls an unfinished batch: the batch id is already stored.
    let mut child = evalgate()
        .current_dir(p.path())
        .args(["run", "support", "--batch"])
        .env("EVALGATE_NO_RETRY_DELAY", "1")
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while stub.count_path("/v1/batches/{id}") < 3 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the batch was not polled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(stub.count_path("/v1/files"), 1);
    assert_eq!(stub.count_path("/v1/batches"), 1);

    // Resume polls the same batch: nothing is uploaded or created again.
    stub.set_batch_ready(true);
    let resumed = p.evalgate_env(
        &[
            "run",
            "support",
            "--batch",
            "--resume",
            "--out",
            "batch.json",
        ],
        &[NO_DELAY],
    );
    resumed.assert_code(0);
    assert!(
        resumed
            .stderr
            .contains("batch batch_1: completed (6 of 6 done, 0 failed)"),
        "{}",
        resumed.stderr
    );
    assert_eq!(stub.count_path("/v1/files"), 1);
    assert_eq!(stub.count_path("/v1/batches"), 1);
    assert_eq!(
        stub.count_path("/v1/chat/completions"),
        0,
        "no case was asked one by one"
    );

    // Same answers as a live run, at half the price and with no latency of their own.
    let file = run_file(&p, "batch.json");
    assert_eq!(file["run"]["batch_id"], "batch_1");
    assert_eq!(file["report"]["counts"]["pass"], 6);
    assert_eq!(file["report"]["latency"]["n"], 0);
    let live = p.evalgate(&["run", "support", "--no-cache", "--out", "live.json"]);
    live.assert_code(0);
    let live = run_file(&p, "live.json");
    let cost = |f: &Value| f["report"]["usage"]["cost_usd"].as_f64().unwrap();
    assert!(
        (cost(&file) - cost(&live) / 2.0).abs() < 1e-12,
        "{} vs {}",
        cost(&file),
        cost(&live)
    );
    let outputs = |f: &Value| -> Vec<String> {
        f["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["output"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(outputs(&file), outputs(&live));

    // The batch answers went into the response cache.
    let cached = p.evalgate(&["run", "support", "--format", "json"]);
    let report: Value = serde_json::from_str(&cached.stdout).unwrap();
    assert_eq!(report["usage"]["cache_hits"], 6);
}

#[test]
fn ctrl_c_cancels_the_requests_in_flight_and_the_run_can_be_resumed() {
    let stub = Stub::start(support_labeller);
    stub.set_latency(Duration::from_millis(200));
    let p = project(&stub, 12);
    let child = evalgate()
        .current_dir(p.path())
        .args(["run", "support", "-j", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_requests(&stub, 4);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted after "), "{stderr}");
    assert!(
        stdout.contains("stopped (interrupted)"),
        "the report so far is printed: {stdout}"
    );
    let asked = stub.requests().len();
    assert!(asked < 12, "scheduling stopped ({asked} asked)");

    let resumed = p.evalgate(&["run", "support", "--resume", "--out", "run.json"]);
    resumed.assert_code(0);
    let file = run_file(&p, "run.json");
    assert_eq!(file["cases"].as_array().unwrap().len(), 12);
    assert_eq!(file["run"]["status"], "finished");
}

/// A run and `evalgate serve` share one SQLite file (a rollback journal, so readers and
/// writers wait for each other's commits): while the run commits, the server keeps answering
/// pages and storing events, and nothing fails on either side.
#[test]
fn a_run_and_the_server_share_a_sqlite_file() {
    use crate::feedback::{Server, interaction, runtime};
    let stub = Stub::start(support_labeller);
    stub.set_latency(Duration::from_millis(20));
    let p = project(&stub, 300);
    let server = Server::start(&p, &[], &[]);
    let mut run = evalgate()
        .current_dir(p.path())
        .args(["run", "support", "-j", "4", "--out", "run.json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = server.url.clone();
    let (pages, events) = runtime().block_on(async move {
        let http = reqwest::Client::new();
        let (mut pages, mut events) = (0, 0);
        // Until the run has finished (its 300 cases take about two store transactions).
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let r = http.get(format!("{url}/runs")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body = r.text().await.unwrap();
            pages += 1;
            let event = interaction(&format!("e{events}"), "Customer: hi");
            let r = http
                .post(format!("{url}/v1/interactions"))
                .json(&event)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            events += 1;
            if body.contains("finished") && started.elapsed() > Duration::from_millis(1500) {
                break;
            }
        }
        (pages, events)
    });
    assert!(run.wait().unwrap().success());
    assert_eq!(server.stop(), 0);
    let file = run_file(&p, "run.json");
    assert_eq!(file["cases"].as_array().unwrap().len(), 300);
    assert_eq!(file["run"]["status"], "finished");
    let store = runtime()
        .block_on(evalgate::store::Store::open(None, p.path()))
        .unwrap();
    let (interactions, _) = runtime().block_on(store.feedback_counts()).unwrap();
    assert_eq!(interactions, events);
    assert!(pages > 10, "{pages} pages during the run");
}

/// A killed run that is not resumed loses nothing either: the next run of the suite stores
/// the killed run's log first, so its answers are cache hits, and deletes the log.
#[test]
fn a_killed_runs_log_is_stored_by_the_next_run() {
    let stub = Stub::start(support_labeller);
    stub.set_latency(Duration::from_millis(60));
    let p = project(&stub, 30);
    let mut child = evalgate()
        .current_dir(p.path())
        .args(["run", "support", "-j", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_requests(&stub, 10);
    child.kill().unwrap();
    child.wait().unwrap();
    let pending = p.path().join(".evalgate/pending");
    let logs = evalgate::runlog::runs(&pending).unwrap();
    assert_eq!(logs.len(), 1, "the killed run's log");
    let logged = evalgate::runlog::RunLog::open(&pending, &logs[0])
        .unwrap()
        .take()
        .unwrap();
    assert!(logged.len() >= 6, "{} cases logged", logged.len());

    // A new run (not --resume) asks only for what no one paid for yet.
    p.evalgate(&["run", "support", "--out", "again.json"])
        .assert_code(0);
    let mut per_case: HashMap<String, usize> = HashMap::new();
    for r in stub.requests() {
        *per_case.entry(case_of(&r.body)).or_default() += 1;
    }
    for r in &logged {
        assert_eq!(
            per_case[&r.case.case_id], 1,
            "{} asked again",
            r.case.case_id
        );
    }
    let again = run_file(&p, "again.json");
    assert_eq!(again["cases"].as_array().unwrap().len(), 30);
    assert!(evalgate::runlog::runs(&pending).unwrap().is_empty());
    // The killed run now holds what it logged (unfinished, to resume or leave).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = evalgate::store::Store::open(None, p.path()).await.unwrap();
        let cases = store.cases(&logs[0]).await.unwrap();
        for r in &logged {
            assert!(cases.iter().any(|c| c.case_id == r.case.case_id));
        }
        // The next run held its log, so it knew the run was dead, and marked it so.
        let killed = store.find_run(&logs[0]).await.unwrap();
        assert_eq!(
            (killed.status.as_str(), killed.stop_reason.as_deref()),
            ("stopped", Some("interrupted"))
        );
        store.close().await;
    });
}
