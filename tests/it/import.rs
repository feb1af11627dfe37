//! `evalgate import promptfoo`: a promptfoo project written for these tests
//! (`tests/data/promptfoo/full`, promptfoo's documented format, covering every mapped kind)
//! is imported, validated and run against the stub; the scorers' outcomes are checked case
//! by case, and the mapping report is snapshotted. Broken YAML and CSV fail at their line.

use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::common::stub::{Reply, Stub, user_text};
use crate::common::{Project, copy_dir, repo};
use crate::snapshot;

/// The answers: a capital for the question's country, a passing verdict for the grader, and
/// embeddings in which Paris and Tokyo are apart and Kyoto near Tokyo but not close.
fn responder(body: &Value) -> Reply {
    if let Some(inputs) = body["input"].as_array() {
        let vector = |t: &str| match t.trim() {
            "Paris" => vec![1.0, 0.0, 0.0],
            "Tokyo" => vec![0.0, 1.0, 0.0],
            "Kyoto" => vec![0.0, 0.6, 0.8],
            _ => vec![0.5, 0.5, 0.7],
        };
        return Reply::Embeddings(
            inputs
                .iter()
                .map(|i| vector(i.as_str().unwrap_or("")))
                .collect(),
        );
    }
    if body["model"] == "grader-model" {
        return Reply::Content(json!({"verdict": "pass", "reason": "it holds"}).to_string());
    }
    let text = user_text(body);
    let answer = [
        ("France", "Paris"),
        ("Japan", "Tokyo"),
        ("Italy", "Rome"),
        ("Spain", "Madrid"),
        ("Peru", "Lima"),
        ("Kenya", "Nairobi"),
        ("Chile", "Santiago"),
        ("JSON land", r#"{"capital": "Jsonville"}"#),
    ]
    .iter()
    .find(|(country, _)| text.contains(country))
    .map_or("I do not know", |(_, city)| city);
    Reply::Content(answer.to_string())
}

/// The promptfoo project in a temporary directory, pointed at the stub.
fn promptfoo_project(stub: &Stub) -> Project {
    let p = Project::empty();
    let dir = p.path().join("pf");
    copy_dir(&repo().join("tests/data/promptfoo/full"), &dir);
    let config = std::fs::read_to_string(dir.join("promptfooconfig.yaml")).unwrap();
    std::fs::write(
        dir.join("promptfooconfig.yaml"),
        config.replace("__STUB_URL__", &stub.base_url),
    )
    .unwrap();
    p
}

/// Each case's outcome per scorer, from a run file.
fn outcomes(run: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for case in run["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let country = id
            .split('-')
            .take_while(|w| w.len() != 8)
            .collect::<Vec<_>>()
            .join("-");
        let scores = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["scorer"].as_str().unwrap().to_string(),
                    s["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.insert(format!("{country} {}", &case["vars"]["country"]), scores);
    }
    out
}

#[test]
fn a_promptfoo_project_imports_validates_and_runs() {
    let stub = Stub::start(responder);
    let p = promptfoo_project(&stub);
    let import = p.evalgate(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.yaml",
        "--out",
        "evals",
    ]);
    import.assert_code(0);
    snapshot!("import_promptfoo_report", import.transcript());

    // No key written in the config reaches the project.
    let config = p.read("evals/evalgate.yaml");
    assert!(!config.contains("sk-literal"), "{config}");
    assert!(config.contains("api_key_env: OPENAI_API_KEY"), "{config}");

    let evals = Project {
        dir: tempfile::tempdir().unwrap(),
    };
    copy_dir(&p.path().join("evals"), evals.path());
    evals.evalgate(&["validate"]).assert_code(0);
    let env = [
        ("OPENAI_API_KEY", "sk-test"),
        ("STUB_ANTHROPIC_KEY", "test"),
    ];
    evals
        .evalgate_env(
            &["run", "capital", "--model", "stub", "--out", "run.json"],
            &env,
        )
        .assert_code(0);
    let run: Value = serde_json::from_str(&evals.read("run.json")).unwrap();
    let got = outcomes(&run);
    let pass = |case: &str, scorers: &[&str]| {
        let row = &got[case];
        for s in scorers {
            assert_eq!(
                row.get(*s).map(String::as_str),
                Some("pass"),
                "{case} {s}: {row:?}"
            );
        }
    };
    let fail = |case: &str, scorer: &str| {
        assert_eq!(
            got[case].get(scorer).map(String::as_str),
            Some("fail"),
            "{case} {scorer}: {:?}",
            got[case]
        );
    };
    pass(
        "capital-of-france \"France\"",
        &[
            "not_icontains",
            "equals",
            "icontains",
            "contains_any",
            "icontains_all",
            "starts_with",
            "regex",
            "not_regex",
            "levenshtein",
            "similar",
            "llm_rubric",
            "closedqa",
        ],
    );
    // `contains: '{{country}}'` renders to "France", which "Paris" does not contain.
    fail("capital-of-france \"France\"", "contains");
    pass("capital-of-japan \"Japan\"", &["equals", "llm_rubric"]);
    // Tokyo and Kyoto: cosine 0.6, below 0.9.
    fail("capital-of-japan \"Japan\"", "similar");
    pass("capital-of-italy \"Italy\"", &["equals", "contains_any"]);
    pass("capital-of-spain \"Spain\"", &["equals", "not_contains"]);
    // CSV `levenshtein(2): Limo`: one edit from Lima.
    pass("capital-of-peru \"Peru\"", &["levenshtein_2"]);
    pass(
        "capital-as-json \"JSON land\"",
        &["is_json", "contains_json"],
    );
    // A list variable makes one case per value.
    pass("case \"Kenya\"", &["contains_all"]);
    pass("case \"Chile\"", &["contains_all"]);
    // Scorers a case has no value for skip it.
    assert_eq!(got["capital-of-japan \"Japan\""]["starts_with"], "skip");
    assert_eq!(got["capital-of-japan \"Japan\""]["closedqa"], "skip");
    assert_eq!(got["capital-of-france \"France\""]["is_json"], "skip");
    assert_eq!(got["capital-of-france \"France\""]["contains_json"], "skip");
    assert_eq!(run["report"]["counts"]["cases"], 8);
    // Those two are the only failures: every other scorer passes or skips a case it has no
    // value for.
    let fails: Vec<String> = got
        .iter()
        .flat_map(|(case, row)| {
            row.iter()
                .filter(|(_, o)| *o != "pass" && *o != "skip")
                .map(move |(s, o)| format!("{case} {s} {o}"))
        })
        .collect();
    assert_eq!(
        fails,
        [
            "capital-of-france \"France\" contains fail",
            "capital-of-japan \"Japan\" similar fail"
        ]
    );
    // The judges and the embeddings went to their own models.
    let requests = stub.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/v1/embeddings" && r.body["model"] == "stub-embed")
    );
    assert!(requests.iter().any(|r| r.body["model"] == "grader-model"));

    // The Anthropic provider is mapped too, and answers through the Messages API.
    evals
        .evalgate_env(&["run", "capital", "--model", "claude-stub"], &env)
        .assert_code(0);
    assert!(stub.count_path("/v1/messages") > 0);
    // The gates from `cost` and `latency`: the stub answers fast and its price is tiny.
    let gate = evals.evalgate_env(&["gate", "capital", "--run", "run.json"], &env);
    gate.assert_code(0);
    assert!(gate.stdout.contains("cost_per_case max"), "{}", gate.stdout);
    assert!(
        gate.stdout.contains("max_latency_p95_ms"),
        "{}",
        gate.stdout
    );
}

#[test]
fn broken_promptfoo_files_fail_at_their_line() {
    let p = Project::empty();
    copy_dir(&repo().join("tests/data/promptfoo"), &p.path().join("pf"));
    let yaml = p.evalgate(&[
        "import",
        "promptfoo",
        "pf/broken_yaml/promptfooconfig.yaml",
        "--out",
        "a",
    ]);
    yaml.assert_code(2);
    let csv = p.evalgate(&[
        "import",
        "promptfoo",
        "pf/broken_csv/promptfooconfig.yaml",
        "--out",
        "b",
    ]);
    csv.assert_code(2);
    snapshot!(
        "import_promptfoo_broken",
        format!("{}\n{}", yaml.transcript(), csv.transcript())
    );
    assert!(!p.path().join("a").exists() && !p.path().join("b").exists());
    // An existing project is never overwritten.
    p.write("c/evalgate.yaml", "providers: {}\n");
    let full = p.evalgate(&[
        "import",
        "promptfoo",
        "pf/full/promptfooconfig.yaml",
        "--out",
        "c",
    ]);
    full.assert_code(2);
    assert!(
        full.stderr.contains("already holds an evalgate.yaml"),
        "{}",
        full.stderr
    );
}

#[test]
fn a_failed_embedding_is_a_scorer_error_never_a_pass() {
    let stub = Stub::start(|body| {
        if body["input"].is_array() {
            return Reply::Status(500, "embedding backend down".into());
        }
        responder(body)
    });
    let p = promptfoo_project(&stub);
    p.evalgate(&[
        "import",
        "promptfoo",
        "pf/promptfooconfig.yaml",
        "--out",
        "evals",
    ])
    .assert_code(0);
    let evals = Project {
        dir: tempfile::tempdir().unwrap(),
    };
    copy_dir(&p.path().join("evals"), evals.path());
    let env = [
        ("OPENAI_API_KEY", "sk-test"),
        ("EVALGATE_NO_RETRY_DELAY", "1"),
    ];
    evals.evalgate_env(
        &["run", "capital", "--model", "stub", "--out", "run.json"],
        &env,
    );
    let run: Value = serde_json::from_str(&evals.read("run.json")).unwrap();
    // Japan's other scorers pass: its `similar` cannot be scored, so the case is an error.
    let japan = run["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vars"]["country"] == "Japan")
        .unwrap();
    assert_eq!(japan["status"], "error", "{japan}");
    assert_eq!(japan["kind"], "scorer_error", "{japan}");
    let similar = japan["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scorer"] == "similar")
        .unwrap();
    assert_eq!(similar["outcome"], "error");
    // A case without a `similar` value is not touched by it.
    let italy = run["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vars"]["country"] == "Italy")
        .unwrap();
    assert_eq!(italy["status"], "pass", "{italy}");
}
