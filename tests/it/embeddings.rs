//! What `similar` scorers pay for their embeddings: stored with each case, counted in the
//! progress and the spend limit, read back by `--resume`, reported, and asked again (and said)
//! by `evalgate score`; on SQLite and on PostgreSQL.

use serde_json::{Value, json};

use crate::common::stub::{Reply, Stub, support_labeller};
use crate::common::{Project, postgres_schema, postgres_url};

/// The stub: the support labeller for chat completions, and two equal vectors for every
/// embeddings request (a cosine of 1: the `similar` scorer passes). The stub counts a token a
/// word: a labeller's answer is 2 words (`{…"summary":"Stub` and `summary."}`), the expected
/// text `Stub summary.` 2 more, so each embeddings request is 4 tokens.
fn stub() -> Stub {
    Stub::start(|body| {
        if body.get("input").is_some() {
            return Reply::Embeddings(vec![vec![1.0, 0.0], vec![1.0, 0.0]]);
        }
        support_labeller(body)
    })
}

/// A project whose model is free and whose `similar` scorer embeds with a model priced at $1 a
/// million input tokens: whatever the run pays, the embeddings pay.
fn project(stub: &Stub, n: usize) -> Project {
    let p = Project::base(&stub.base_url);
    p.write(
        "evalgate.yaml",
        &format!(
            r#"providers:
  stub:
    kind: openai
    base_url: {}
    structured_output: json_object_schema
    timeout_secs: 5
models:
  free-model:
    provider: stub
    name: stub-1
    price: {{input: 0.0, output: 0.0}}
  embedder:
    provider: stub
    name: embed-1
    price: {{input: 1.0, output: 0.0}}
suites:
  support:
    prompt: support
    dataset: support
    models: [free-model]
    concurrency: 1
    scorers:
      - kind: contract
      - kind: similar
        name: close
        expected: summary
        model: embedder
        threshold: 0.5
"#,
            stub.base_url
        ),
    );
    let cases: String = (0..n)
        .map(|i| {
            json!({"id": format!("e{i:02}"), "vars": {"transcript": format!("Customer: case {i}: please refund the double charge")}, "expected": {"intent": "billing", "summary": "Stub summary."}}).to_string() + "\n"
        })
        .collect();
    p.write("golden/support.jsonl", &cases);
    p
}

fn run_file(p: &Project, name: &str) -> Value {
    serde_json::from_str(&p.read(name)).unwrap()
}

/// The report's embeddings: (calls, input tokens, cost) of the one `similar` scorer.
fn embeddings(report: &Value) -> (u64, u64, f64) {
    let e = &report["embeddings"];
    assert_eq!(e.as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(
        (e[0]["scorer"].as_str(), e[0]["model"].as_str()),
        (Some("close"), Some("embed-1"))
    );
    (
        e[0]["calls"].as_u64().unwrap(),
        e[0]["input_tokens"].as_u64().unwrap(),
        e[0]["cost_usd"].as_f64().unwrap(),
    )
}

/// The stored scorer calls of the newest run: (case id, tokens, cost) each.
fn stored_calls(database_url: Option<&str>, p: &Project, run_id: &str) -> Vec<(String, i64, f64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = evalgate::store::Store::open(database_url, p.path())
            .await
            .unwrap();
        let calls = store.scorer_calls(run_id).await.unwrap();
        store.close().await;
        calls
            .into_iter()
            .map(|c| {
                assert_eq!((c.scorer.as_str(), c.model.as_str()), ("close", "embed-1"));
                (c.case_id, c.input_tokens, c.cost_usd)
            })
            .collect()
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn embeddings_are_paid_for(database_url: Option<String>) {
    let stub = stub();
    let p = project(&stub, 10);
    let db = database_url.as_deref();
    let env: Vec<(&str, &str)> = db
        .map(|u| vec![("EVALGATE_DATABASE_URL", u)])
        .unwrap_or_default();
    p.evalgate_env(&["validate"], &env).assert_code(0);

    // The spend limit: only the embeddings cost anything. Each is reserved at 429 tokens (an
    // answer of up to 100 tokens at 4 bytes each, the expected text's 13 bytes, 8 tokens
    // more for each input) at $1/M, and pays 4: after 3 cases $0.000012 is paid, and a fourth
    // would take $0.000441 past the budget of $0.00044.
    let run = p.evalgate_env(
        &[
            "run",
            "support",
            "--max-cost",
            "0.00044",
            "--out",
            "part.json",
        ],
        &env,
    );
    run.assert_code(3);
    assert!(
        run.stderr.contains(
            "stopped at the spend limit of $0.00044 after 3 of 10 cases ($0.000012 paid; the next case could cost up to $0.000429 and $0.000428 is left)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(stub.count_path("/v1/embeddings"), 3);
    let part = run_file(&p, "part.json");
    assert_eq!(part["run"]["status"], "stopped");
    assert_eq!(part["run"]["stop_reason"], "budget");
    let (calls, tokens, cost) = embeddings(&part["report"]);
    assert_eq!((calls, tokens), (3, 12));
    assert!(close(cost, 12e-6), "{cost}");
    assert_eq!(part["report"]["usage"]["cost_usd"], 0.0);
    // The terminal report says what the embeddings cost, apart from the model.
    assert!(
        run.stdout.contains(
            "cost       $0 the model ($0 per case) · $0.000012 its embeddings · $0.000012 in all"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("embeddings close with embed-1: 3 requests · 12 tokens · $0.000012"),
        "{}",
        run.stdout
    );
    let id = part["run"]["id"].as_str().unwrap().to_string();
    let stored = stored_calls(db, &p, &id);
    assert_eq!(
        stored
            .iter()
            .map(|c| (c.0.as_str(), c.1))
            .collect::<Vec<_>>(),
        [("e00", 4), ("e01", 4), ("e02", 4)]
    );
    assert!(stored.iter().all(|c| close(c.2, 4e-6)));

    // Resumed with the same budget, the run knows what its embeddings paid: the fourth case
    // still does not fit, and nothing is asked.
    let again = p.evalgate_env(
        &["run", "support", "--resume", &id, "--max-cost", "0.00044"],
        &env,
    );
    again.assert_code(3);
    assert!(
        again.stderr.contains(
            "after 3 of 10 cases ($0.000012 paid; the next case could cost up to $0.000429"
        ),
        "{}",
        again.stderr
    );
    assert_eq!(stub.count_path("/v1/embeddings"), 3, "nothing paid twice");
    assert_eq!(stub.count_path("/v1/chat/completions"), 3);

    // With room, the resume finishes the other 7 cases, embedding each once.
    let full = p.evalgate_env(
        &[
            "run",
            "support",
            "--resume",
            &id,
            "--max-cost",
            "1",
            "--out",
            "full.json",
        ],
        &env,
    );
    full.assert_code(0);
    assert_eq!(stub.count_path("/v1/embeddings"), 10);
    let file = run_file(&p, "full.json");
    assert_eq!(file["run"]["status"], "finished");
    assert_eq!(file["report"]["counts"]["pass"], 10);
    let (calls, tokens, cost) = embeddings(&file["report"]);
    assert_eq!((calls, tokens), (10, 40));
    assert!(close(cost, 40e-6), "{cost}");
    assert_eq!(stored_calls(db, &p, &id).len(), 10);
    let report = p.evalgate_env(&["report", &id, "--format", "json"], &env);
    report.assert_code(0);
    let json: Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(embeddings(&json).0, 10);
    // The HTML page says it under its header.
    p.evalgate_env(&["report", &id, "--html", "run.html"], &env)
        .assert_code(0);
    let page = p.read("run.html");
    assert!(
        page.contains(
            "embeddings (apart from the model's cost): <code>close</code> with <code>embed-1</code>: 10 requests · 40 tokens · $0.000040"
        ),
        "{}",
        &page[..page.len().min(3000)]
    );

    // A new run takes the answers from the cache but embeds them again, and pays for it.
    let cached = p.evalgate_env(&["run", "support", "--out", "cached.json"], &env);
    cached.assert_code(0);
    assert_eq!(stub.count_path("/v1/chat/completions"), 10);
    assert_eq!(stub.count_path("/v1/embeddings"), 20);
    let cached = run_file(&p, "cached.json");
    assert_eq!(cached["report"]["usage"]["cache_hits"], 10);
    assert_eq!(embeddings(&cached["report"]).0, 10);

    // A re-score embeds again, says what that cost, and the run's report counts the new calls
    // instead of the old ones.
    let rescored = p.evalgate_env(&["score", &id, "--format", "json"], &env);
    rescored.assert_code(0);
    assert!(
        rescored
            .stderr
            .contains("embedded again: 10 requests · 40 tokens · $0.000040"),
        "{}",
        rescored.stderr
    );
    assert_eq!(stub.count_path("/v1/embeddings"), 30);
    let json: Value = serde_json::from_str(&rescored.stdout).unwrap();
    assert_eq!(embeddings(&json).0, 10);
    assert_eq!(stored_calls(db, &p, &id).len(), 10);
}

#[test]
fn embeddings_are_stored_reported_budgeted_and_resumed_on_sqlite() {
    embeddings_are_paid_for(None);
}

#[test]
fn embeddings_are_stored_reported_budgeted_and_resumed_on_postgres() {
    let Some(base) = postgres_url() else {
        return;
    };
    embeddings_are_paid_for(Some(postgres_schema(&base)));
}

/// `--batch` with every answer in the cache sends no batch, and the `similar` scorers still
/// grade (and pay for) every answer: a cached answer is never left unscored.
#[test]
fn a_batch_run_of_cached_answers_still_runs_its_similar_scorers() {
    let stub = stub();
    let p = project(&stub, 4);
    p.evalgate(&["run", "support"]).assert_code(0);
    assert_eq!(stub.count_path("/v1/embeddings"), 4);
    let batch = p.evalgate_env(
        &["run", "support", "--batch", "--out", "batch.json"],
        &[("EVALGATE_NO_RETRY_DELAY", "1")],
    );
    batch.assert_code(0);
    assert_eq!(stub.count_path("/v1/batches"), 0, "every answer was cached");
    assert_eq!(stub.count_path("/v1/embeddings"), 8);
    let file = run_file(&p, "batch.json");
    assert_eq!(file["report"]["usage"]["cache_hits"], 4);
    assert_eq!(embeddings(&file["report"]).0, 4);
    for case in file["cases"].as_array().unwrap() {
        let close = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["scorer"] == "close");
        assert_eq!(close.map(|s| &s["outcome"]), Some(&json!("pass")), "{case}");
    }
}

/// The dry run adds what the embeddings would cost: every case's answer at `max_tokens` and
/// its expected text at 4 characters a token.
#[test]
fn the_dry_run_estimates_the_embeddings() {
    let stub = stub();
    let p = project(&stub, 10);
    let dry = p.evalgate(&["run", "support", "--dry-run"]);
    dry.assert_code(0);
    // 100 + ⌈13 / 4⌉ = 104 tokens a case, 1,040 in all, at $1/M.
    assert!(
        dry.stderr.contains(
            "support on free-model: the `similar` scorers' embeddings, in the cost above: 10 requests, 1040 tokens (est.), $0.001040 at most"
        ),
        "{}",
        dry.stderr
    );
    assert!(dry.stdout.contains("$0.001040"), "{}", dry.stdout);
    assert!(stub.requests().is_empty(), "a dry run calls nothing");
}

/// A run without `similar` scorers has no `embeddings` in its JSON report: reports and
/// snapshots of such runs are as they were.
#[test]
fn a_report_without_embeddings_leaves_them_out() {
    let stub = Stub::start(support_labeller);
    let p = Project::base(&stub.base_url);
    let run = p.evalgate(&["run", "support", "--format", "json"]);
    run.assert_code(0);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(json.get("embeddings").is_none(), "{json}");
    assert!(json.get("usage").is_some(), "{json}");
}
