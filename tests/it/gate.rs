//! Compare and gate: a committed baseline, prompt changes that do and do not regress, a cost
//! gate, and the markdown and JUnit reports.

use serde_json::Value;

use crate::common::stub::{Reply, Stub, support_labeller, user_text};
use crate::common::{Project, Run, json_file, results};

/// The five cases the `BROKEN` prompt gets wrong.
const BROKEN: [usize; 5] = [3, 17, 29, 44, 61];

/// 80 billing cases; case 70 is labelled `bug`, so the baseline fails it.
fn cases() -> String {
    (0..80)
        .map(|i| {
            let intent = if i == 70 { "bug" } else { "billing" };
            format!(
                r#"{{"id": "g{i:03}", "vars": {{"transcript": "Customer: case {i}: please refund the double charge"}}, "expected": {{"intent": "{intent}", "sentiment": "neutral", "escalation_risk": 2}}}}"#
            ) + "\n"
        })
        .collect()
}

fn case_index(body: &Value) -> usize {
    user_text(body)
        .split("case ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(9999)
}

fn system_text(body: &Value) -> String {
    body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The support labeller, except that a system prompt containing `BROKEN` mislabels the five
/// `BROKEN` cases, and one containing `FLIP` mislabels case 5 and gets case 70 right.
fn labeller(body: &Value) -> Reply {
    let system = system_text(body);
    let i = case_index(body);
    let wrong = |intent: &str| {
        Reply::Content(
            serde_json::json!({"intent": intent, "sentiment": "neutral", "escalation_risk": 2, "summary": "Stub summary."})
                .to_string(),
        )
    };
    if system.contains("BROKEN") && BROKEN.contains(&i) {
        return wrong("bug");
    }
    if system.contains("FLIP") && i == 5 {
        return wrong("other");
    }
    if system.contains("FLIP") && i == 70 {
        return wrong("bug");
    }
    support_labeller(body)
}

const GATES: &str = r#"
    gates:
      metrics:
        pass_rate: {max_drop: 0.02}
        field.intent.accuracy: {max_drop: 0.0, significant: true}
        scorer.contract: {min: 0.95}
      max_cost_increase: 50
"#;

fn project(stub: &Stub) -> Project {
    let p = Project::base(&stub.base_url);
    p.write("golden/support.jsonl", &cases());
    let config = p.read("evalgate.yaml");
    p.write(
        "evalgate.yaml",
        &config.replace(
            "        field: escalation_risk\n        tolerance: 1\n",
            &format!("        field: escalation_risk\n        tolerance: 1\n{GATES}"),
        ),
    );
    assert!(p.read("evalgate.yaml").contains("max_cost_increase"));
    p
}

/// Rewrites the system message of the prompt.
fn set_system(p: &Project, text: &str) {
    let prompt = std::fs::read_to_string(
        crate::common::repo().join("tests/fixtures/base/prompts/support.yaml"),
    )
    .unwrap();
    let new = prompt.replace("Label the conversation. Answer with JSON only.", text);
    assert_ne!(prompt, new);
    p.write("prompts/support.yaml", &new);
}

fn gate(p: &Project) -> Run {
    p.evalgate(&["gate", "--markdown", "summary.md", "--junit", "junit.xml"])
}

/// The JUnit file parsed: (tests, failures) of the `support` suite, and the names of the
/// failed test cases.
fn junit(p: &Project) -> (usize, usize, Vec<String>) {
    let text = p.read("junit.xml");
    let doc = roxmltree::Document::parse(&text).expect("JUnit XML parses");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("support"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let failed: Vec<String> = cases
        .iter()
        .filter(|c| c.children().any(|x| x.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap().to_string())
        .collect();
    let tests: usize = suite.attribute("tests").unwrap().parse().unwrap();
    let failures: usize = suite.attribute("failures").unwrap().parse().unwrap();
    assert_eq!(tests, cases.len());
    assert_eq!(failures, failed.len());
    (tests, failures, failed)
}

/// Snapshot filters for the markdown: its latency row varies from run to run.
fn markdown(p: &Project) -> String {
    let re = regex::Regex::new(r"(?m)^\| latency_p95_ms \|.*$").unwrap();
    re.replace_all(&p.read("summary.md"), "| latency_p95_ms | [LATENCY] |")
        .into_owned()
}

#[test]
fn a_prompt_that_breaks_five_cases_fails_the_gate_and_names_them() {
    let stub = Stub::start(labeller);
    let p = project(&stub);
    p.evalgate(&["baseline", "update", "support"])
        .assert_code(0);
    let baseline: Value = serde_json::from_str(&p.read("golden/baselines/support.json")).unwrap();
    assert_eq!(baseline["report"]["pass_rate"]["successes"], 79);
    assert!(
        !p.read("golden/baselines/support.json")
            .contains("STUB_API_KEY")
    );

    // Nothing changed: nothing runs.
    let before = stub.requests().len();
    let r = gate(&p);
    r.assert_code(0);
    assert!(r.stdout.contains("UNCHANGED"), "{}", r.stdout);
    assert_eq!(stub.requests().len(), before);

    set_system(
        &p,
        "Label the conversation (BROKEN). Answer with JSON only.",
    );
    let r = gate(&p);
    r.assert_code(1);
    assert!(
        r.stdout.contains("5 pass → fail, 0 fail → pass"),
        "{}",
        r.stdout
    );
    for i in BROKEN {
        assert!(
            r.stdout.contains(&format!("g{i:03} pass → fail")),
            "{}",
            r.stdout
        );
    }
    assert!(
        r.stdout.contains("-   \"intent\": \"billing\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("+   \"intent\": \"bug\""), "{}", r.stdout);
    // pass_rate dropped 6.25 points against 2 allowed: a regression. The same drop in intent
    // accuracy is within noise (McNemar p = 2/32 = 0.0625 ≥ 0.05), so that gate passes.
    assert!(r.stdout.contains("gate support: FAIL"), "{}", r.stdout);
    let md = markdown(&p);
    assert!(
        md.contains("| pass_rate max_drop | ❌ fail | 98.8% → 92.5% (-6.2 pt"),
        "{md}"
    );
    assert!(
        md.contains("| field.intent.accuracy max_drop | ✅ pass |"),
        "{md}"
    );
    assert!(md.contains("p = 0.062, mcnemar"), "{md}");
    crate::snapshot!("gate_markdown_regression", md);
    // The HTML report of the comparison, with its gates, beside the run file.
    let html = p.read(".evalgate/gate/support.html");
    assert!(html.contains("<h2>Gates</h2>") && html.contains("pass_rate max_drop"));
    assert_eq!(html.matches(r#"class="card flipped""#).count(), 5);

    let (tests, failures, failed) = junit(&p);
    // 80 cases × 4 scorers, plus 4 gates.
    assert_eq!(tests, 80 * 4 + 4);
    for i in BROKEN {
        assert!(failed.contains(&format!("g{i:03} · intent")), "{failed:?}");
    }
    assert!(failed.contains(&"gate: pass_rate max_drop".to_string()));
    assert_eq!(
        failures,
        5 + 1 + 1,
        "five cases, case 70 and the pass_rate gate"
    );
    assert!(p.path().join(".evalgate/gate/support.json").is_file());
}

#[test]
fn one_flip_each_way_is_noise_and_a_doubled_prompt_trips_the_cost_gate() {
    let stub = Stub::start(labeller);
    let p = project(&stub);
    p.evalgate(&["baseline", "update", "support"])
        .assert_code(0);

    set_system(&p, "Label the conversation (FLIP). Answer with JSON only.");
    let r = gate(&p);
    r.assert_code(0);
    assert!(
        r.stdout.contains("1 pass → fail, 1 fail → pass"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("g005 pass → fail"), "{}", r.stdout);
    assert!(r.stdout.contains("g070 fail → pass"), "{}", r.stdout);
    assert!(r.stdout.contains("gate support: PASS"), "{}", r.stdout);
    let (_, failures, _) = junit(&p);
    assert_eq!(failures, 1, "only case 5's intent fails");

    // The same instructions said four times: about twice the input tokens.
    let long = "Label the conversation. Answer with JSON only. ".repeat(4);
    set_system(&p, long.trim());
    let r = gate(&p);
    r.assert_code(1);
    let md = markdown(&p);
    assert!(md.contains("| max_cost_increase | ❌ fail |"), "{md}");
    crate::snapshot!("gate_markdown_cost", md);
}

#[test]
fn compare_takes_run_ids_and_run_files_and_shows_the_prompt_diff() {
    let stub = Stub::start(labeller);
    let p = project(&stub);
    let base = p.evalgate(&["run", "support", "--out", "base.json"]);
    base.assert_code(0);
    set_system(
        &p,
        "Label the conversation (BROKEN). Answer with JSON only.",
    );
    let cand = p.evalgate(&["run", "support"]);
    cand.assert_code(0);
    let id = cand.run_id();
    let r = p.evalgate(&["compare", "base.json", &id, "--format", "json"]);
    r.assert_code(0);
    let c: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(c["paired"], 80);
    assert_eq!(c["pass_to_fail"], 5);
    let pass = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "pass_rate")
        .unwrap();
    assert!((pass["delta"]["delta"].as_f64().unwrap() + 0.0625).abs() < 1e-9);
    assert!((pass["p_value"].as_f64().unwrap() - 0.0625).abs() < 1e-9);
    let diff: Vec<String> = c["prompt_diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}{}",
                l["op"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        diff.contains(&"-Label the conversation. Answer with JSON only.".to_string()),
        "{diff:?}"
    );
    assert!(
        diff.contains(&"+Label the conversation (BROKEN). Answer with JSON only.".to_string()),
        "{diff:?}"
    );

    // Two stored runs, each read case by case at once (on SQLite, each on a connection of
    // its own), and the same runs read whole for a page: one comparison.
    let stored = p.evalgate(&["compare", &base.run_id(), &id, "--format", "json"]);
    stored.assert_code(0);
    assert_eq!(stored.stdout, r.stdout);
    let whole = p.evalgate(&[
        "compare",
        "base.json",
        &id,
        "--format",
        "json",
        "--html",
        "compare.html",
    ]);
    whole.assert_code(0);
    assert_eq!(whole.stdout, r.stdout);

    let bad = p.evalgate(&["compare", "nope.json", &id]);
    bad.assert_code(3);
    p.write("broken.json", "{\"format_version\": 1,\n  \"run\": 3}");
    let bad = p.evalgate(&["compare", "broken.json", &id]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("broken.json:2:"), "{}", bad.stderr);
}

#[test]
fn baseline_update_from_a_run_checks_the_suite_and_the_gate_runs_what_changed() {
    let stub = Stub::start(labeller);
    let p = project(&stub);
    // Without a baseline: the suite runs and gets its absolute gates only.
    let r = gate(&p);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("no baseline at golden/baselines/support.json"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("pass_rate max_drop"), "{}", r.stdout);
    assert!(
        r.stdout.contains("no baseline to compare with"),
        "{}",
        r.stdout
    );

    // --from a stored run (by id prefix) and from a run file.
    let run = p.evalgate(&["run", "support", "--out", "run.json"]);
    run.assert_code(0);
    let id = run.run_id();
    p.evalgate(&["baseline", "update", "support", "--from", &id[..6]])
        .assert_code(0);
    let written: Value = serde_json::from_str(&p.read("golden/baselines/support.json")).unwrap();
    assert_eq!(written["run"]["id"], id.as_str());
    p.evalgate(&["baseline", "update", "support", "--from", "run.json"])
        .assert_code(0);
    let bad = p.evalgate(&["baseline", "update", "suport"]);
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("no suite named `suport`"),
        "{}",
        bad.stderr
    );

    // A run of another suite cannot be this suite's baseline.
    let mut other: Value = serde_json::from_str(&p.read("run.json")).unwrap();
    other["run"]["suite"] = "elsewhere".into();
    p.write("other.json", &other.to_string());
    let bad = p.evalgate(&["baseline", "update", "support", "--from", "other.json"]);
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("is of suite `elsewhere`"),
        "{}",
        bad.stderr
    );

    // Dropping a scorer is a change: the gate runs the suite again.
    let config = p.read("evalgate.yaml");
    p.write(
        "evalgate.yaml",
        &config.replace("      - kind: json_field\n        field: sentiment\n", ""),
    );
    let r = gate(&p);
    r.assert_code(0);
    assert!(
        r.stdout.contains("gate support: PASS (scorers changed)"),
        "{}",
        r.stdout
    );
}

#[test]
fn repeats_that_disagree_are_listed_as_flaky() {
    // Case 7 is answered right, then wrong, then right…
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let stub = Stub::start(move |body| {
        if case_index(body) == 7 && calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 == 1
        {
            return Reply::Content(
                serde_json::json!({"intent": "other", "sentiment": "neutral", "escalation_risk": 2, "summary": "s"})
                    .to_string(),
            );
        }
        labeller(body)
    });
    let p = project(&stub);
    p.evalgate(&["baseline", "update", "support"])
        .assert_code(0);
    let r = p.evalgate(&["gate", "--all", "--repeat", "2"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("flaky in the candidate: 1 case passed some repeats"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("g007 passed 1 of 2"), "{}", r.stdout);
}

#[test]
fn three_shards_merged_equal_the_unsharded_run_and_gate_like_it() {
    let stub = Stub::start(labeller);
    let p = project(&stub);
    p.evalgate(&["run", "support", "--out", "full.json"])
        .assert_code(0);
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let out = format!("s{k}.json");
        p.evalgate(&[
            "run",
            "support",
            "--shard",
            &format!("{k}/3"),
            "--out",
            &out,
        ])
        .assert_code(0);
        sizes.push(json_file(&p, &out)["cases"].as_array().unwrap().len());
    }
    assert_eq!(sizes.iter().sum::<usize>(), 80, "{sizes:?}");
    // A shard stopped by its budget resumes within its shard.
    stub.set_latency(std::time::Duration::from_millis(40));
    let stopped = p.evalgate(&[
        "run",
        "support",
        "--shard",
        "2/3",
        "--max-cost",
        "0.00005",
        "--no-cache",
    ]);
    stopped.assert_code(3);
    assert!(
        stopped
            .stderr
            .contains(&format!("({} cases of shard 2/3", sizes[1])),
        "{}",
        stopped.stderr
    );
    stub.set_latency(std::time::Duration::ZERO);
    let stopped_id = stopped.run_id();
    let wrong = p.evalgate(&["run", "support", "--shard", "1/3", "--resume", &stopped_id]);
    wrong.assert_code(2);
    assert!(
        wrong
            .stderr
            .contains("covers the cases of shard 2/3, not the cases of shard 1/3"),
        "{}",
        wrong.stderr
    );
    let resumed = p.evalgate(&[
        "run", "support", "--shard", "2/3", "--resume", "--out", "r2.json",
    ]);
    resumed.assert_code(0);
    assert_eq!(
        results(&json_file(&p, "r2.json")).1,
        results(&json_file(&p, "s2.json")).1
    );
    assert!(sizes.iter().all(|&n| n > 10), "{sizes:?}");

    let r = p.evalgate(&[
        "merge",
        "s1.json",
        "s2.json",
        "s3.json",
        "--out",
        "merged.json",
    ]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("merged 3 runs (80 cases)"),
        "{}",
        r.stderr
    );
    assert_eq!(
        results(&json_file(&p, "merged.json")),
        results(&json_file(&p, "full.json"))
    );

    // The merged run gates like any other.
    p.evalgate(&["baseline", "update", "support", "--from", "full.json"])
        .assert_code(0);
    let r = p.evalgate(&["gate", "support", "--run", "merged.json"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("0 pass → fail, 0 fail → pass"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("gate support: PASS (run "),
        "{}",
        r.stdout
    );

    // Overlapping parts and bad shard specs are refused.
    let r = p.evalgate(&["merge", "s1.json", "s1.json", "--out", "x.json"]);
    r.assert_code(2);
    assert!(r.stderr.contains("is in run"), "{}", r.stderr);
    let r = p.evalgate(&["run", "support", "--shard", "4/3"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("expected K/N with 1 ≤ K ≤ N"),
        "{}",
        r.stderr
    );
}

#[test]
fn only_failing_reruns_just_the_failed_cases() {
    let stub = Stub::start(labeller);
    let p = project(&stub);
    let full = p.evalgate(&["run", "support"]);
    full.assert_code(0);
    let id = full.run_id();
    let before = stub.requests().len();
    // Case 70 is labelled `bug` and answered `billing`: the one failure.
    set_system(&p, "Label the conversation (FLIP). Answer with JSON only.");
    let r = p.evalgate(&[
        "run",
        "support",
        "--only-failing",
        &id,
        "--out",
        "only.json",
    ]);
    r.assert_code(0);
    let run = json_file(&p, "only.json");
    let cases = run["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["id"], "g070");
    assert_eq!(
        cases[0]["status"], "pass",
        "the FLIP prompt gets case 70 right"
    );
    assert_eq!(
        stub.requests().len(),
        before + 1,
        "one request: case 70 only"
    );
    let again = r.run_id();
    let r = p.evalgate(&["run", "support", "--only-failing", &again]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("has no failing case: nothing to run"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_model_matrix_recommends_the_cheapest_model_shown_within_the_margin() {
    // `stub-cheap` gets the five BROKEN cases wrong (p = 0.0625: not significant, but its
    // interval reaches past the 5-point margin: not shown as good either); `stub-bad` gets
    // every fourth case wrong (20 of 80: significant); `stub-twin` gets one of them wrong: its
    // interval stays within the margin.
    let stub = Stub::start(|body| {
        let i = case_index(body);
        let wrong = match body["model"].as_str().unwrap_or("") {
            "stub-cheap" => BROKEN.contains(&i),
            "stub-bad" => i.is_multiple_of(4),
            "stub-twin" => i == BROKEN[0],
            _ => false,
        };
        if wrong {
            return Reply::Content(
                serde_json::json!({"intent": "bug", "sentiment": "neutral", "escalation_risk": 2, "summary": "s"})
                    .to_string(),
            );
        }
        labeller(body)
    });
    let p = project(&stub);
    let config = p.read("evalgate.yaml");
    p.write(
        "evalgate.yaml",
        &config.replace(
            "models:\n",
            "models:\n  cheap-model:\n    provider: stub\n    name: stub-cheap\n    price: {input: 0.1, output: 0.2}\n  bad-model:\n    provider: stub\n    name: stub-bad\n    price: {input: 0.01, output: 0.02}\n  twin-model:\n    provider: stub\n    name: stub-twin\n    price: {input: 0.5, output: 1.0}\n",
        ),
    );
    let r = p.evalgate(&[
        "run",
        "support",
        "--models",
        "stub-model,cheap-model,bad-model,twin-model",
    ]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("model matrix of suite support"),
        "{}",
        r.stdout
    );
    let row = |model: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("│ {model} ")))
            .unwrap_or_else(|| panic!("no row for {model}\n{}", r.stdout))
            .to_string()
    };
    assert!(row("stub-model").contains("98.8% (79/80"), "{}", r.stdout);
    assert!(row("cheap-model").contains("92.5% (74/80"), "{}", r.stdout);
    assert!(
        row("cheap-model").contains("-6.2 pt (p = 0.062)"),
        "{}",
        r.stdout
    );
    assert!(row("bad-model").contains("(p < 0.001)"), "{}", r.stdout);
    // Not significantly worse is not as good: -6.2 pt on 80 cases may hide -14.0 pt; and even
    // one case in 80 lost leaves room for -7.1 pt. At the default 5-point margin the best it is.
    for note in [
        "note: cheap-model is not shown worse than stub-model (-6.2 pt, McNemar p = 0.062), but not shown within the 5.0 pt margin either: its 95% interval reaches -14.0 pt at n = 80",
        "note: twin-model is not shown worse than stub-model (-1.3 pt, McNemar p = 1.000), but not shown within the 5.0 pt margin either: its 95% interval reaches -7.1 pt at n = 80",
    ] {
        assert!(r.stdout.contains(note), "{note}\n{}", r.stdout);
    }
    assert!(
        r.stdout.contains("recommended: stub-model: stub-model has the best pass rate (98.8%) and no cheaper model is shown within 5.0 pt of it"),
        "{}",
        r.stdout
    );
    // Wider margins take the cheaper models.
    let r = p.evalgate(&[
        "run",
        "support",
        "--models",
        "stub-model,cheap-model,twin-model",
        "--margin",
        "10",
    ]);
    assert!(
        r.stdout.contains("recommended: twin-model: twin-model costs $0.000010 a case against $0.000020 for stub-model, the best (97.5% against 98.8% passing), and is within the 10.0 pt margin of it (difference -1.3 pt, 95% CI -7.1 pt to +3.9 pt, Newcombe)"),
        "{}",
        r.stdout
    );
    let r = p.evalgate(&[
        "run",
        "support",
        "--models",
        "stub-model,cheap-model",
        "--margin",
        "15",
    ]);
    assert!(
        r.stdout.contains("recommended: cheap-model: cheap-model costs $0.000002 a case against $0.000020 for stub-model, the best (92.5% against 98.8% passing), and is within the 15.0 pt margin of it (difference -6.2 pt, 95% CI -14.0 pt to -0.1 pt, Newcombe)"),
        "{}",
        r.stdout
    );

    let r = p.evalgate(&[
        "run",
        "support",
        "--models",
        "stub-model,cheap-model",
        "--format",
        "json",
    ]);
    r.assert_code(0);
    let start = r
        .stdout
        .rfind("{\n  \"suite\"")
        .expect("the matrix as JSON");
    let m: Value = serde_json::from_str(&r.stdout[start..]).unwrap();
    assert_eq!(m["recommended"], "stub-model");
    assert_eq!(m["margin"], 0.05);
    assert!(
        m["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("cheap-model is not shown worse")
    );
    assert_eq!(m["rows"].as_array().unwrap().len(), 2);
}

#[test]
fn the_readme_gate_demo_replays_offline() {
    let p = crate::common::example();
    let r = p.evalgate(&["gate"]);
    r.assert_code(0);
    assert_eq!(r.stdout.matches("UNCHANGED").count(), 2, "{}", r.stdout);

    // The few-shot prompt: better escalation risk, but too expensive.
    p.write(
        "prompts/support_features.yaml",
        &p.read("examples/prompt-changes/support_features_fewshot.yaml"),
    );
    let r = p.evalgate(&["gate", "support-features"]);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("1.550 → 1.175 (-0.375, 95% CI -0.600 to -0.150; p = 0.001, bootstrap)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("+52.1% (at most +25.0%)"), "{}", r.stdout);
    // The worked examples also make the features useful downstream: the lift goes up.
    assert!(
        r.stdout
            .contains("downstream AUC lift -0.010 → +0.049 (+0.059); allowed drop 0.050"),
        "{}",
        r.stdout
    );

    // The brief prompt: noise, and cheaper.
    p.write(
        "prompts/support_features.yaml",
        &p.read("prompts/support_features_brief.yaml"),
    );
    let r = p.evalgate(&["gate", "support-features"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("1 pass → fail, 0 fail → pass (McNemar exact p = 1.000)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("95.6% → 98.9% (+3.3 pt"), "{}", r.stdout);
    assert!(r.stdout.contains("-21.6% (at most +25.0%)"), "{}", r.stdout);
}

#[test]
fn junit_of_a_small_gate() {
    // The three fixture cases (two fail on sentiment), gated without a baseline: each
    // case × scorer is a test case, and so is each gate (relative gates are skipped).
    let stub = Stub::start(support_labeller);
    let p = Project::base(&stub.base_url);
    let config = p.read("evalgate.yaml");
    p.write(
        "evalgate.yaml",
        &config.replace(
            "        field: escalation_risk\n        tolerance: 1\n",
            &format!("        field: escalation_risk\n        tolerance: 1\n{GATES}"),
        ),
    );
    let r = gate(&p);
    r.assert_code(0);
    let xml = p.read("junit.xml");
    roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    crate::snapshot!("gate_junit_small", xml);
}

/// The committed baselines of the example pass their own suites' gates: `gate --all` on a
/// fresh copy of the repository is green.
#[test]
fn gate_all_is_green_on_the_example() {
    let p = crate::common::example();
    let r = p.evalgate(&["gate", "--all"]);
    r.assert_code(0);
    assert_eq!(r.stdout.matches(": PASS").count(), 2, "{}", r.stdout);
    // With no database (a fresh clone in CI), min_judge_kappa is evaluated from the labels
    // committed in golden/reviews/, not skipped.
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("min_judge_kappa summary_faithful"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(
        line.contains("┆ pass ")
            && line.contains("kappa 0.000")
            && line.contains("20 items reviewed"),
        "{line}"
    );
}

/// Whatever decides the verdict is part of a suite's fingerprint: a gates-only edit, a
/// scorer's setting, the model's price each make `gate SUITE` run it again, and say why.
#[test]
fn a_gates_only_edit_makes_the_gate_run_the_suite() {
    let p = crate::common::example();
    let config = p.read("evalgate.yaml");
    for (edit, why) in [
        (
            config.replace("      max_cost_increase: 25", "      max_cost_increase: 20"),
            "gates changed",
        ),
        (
            config.replace("        tolerance: 1\n", "        tolerance: 2\n"),
            "the scorers' settings changed",
        ),
        (
            config.replace(
                "    price: {input: 0.02, output: 0.04}\n  smollm2-live",
                "    price: {input: 0.03, output: 0.04}\n  smollm2-live",
            ),
            // smollm2 is also the judge's model.
            "the model of judge summary_faithful changed (its API id, prices or provider endpoint), model smollm2 changed",
        ),
    ] {
        assert_ne!(edit, config);
        p.write("evalgate.yaml", &edit);
        let r = p.evalgate(&["gate", "support-features"]);
        assert!(!r.stdout.contains("UNCHANGED"), "{why}: {}", r.transcript());
        assert!(
            r.stderr.contains(&format!("gate support-features: {why}")),
            "{}",
            r.stderr
        );
    }
    // The human labels the min_judge_kappa gate reads are part of it too.
    p.write("evalgate.yaml", &config);
    let labels = p.read("golden/reviews/summary_faithful.jsonl");
    p.write(
        "golden/reviews/summary_faithful.jsonl",
        &labels.replacen("\"human\":\"pass\"", "\"human\":\"fail\"", 1),
    );
    let r = p.evalgate(&["gate", "support-features"]);
    assert!(
        r.stderr.contains("gate support-features: the human labels of judge summary_faithful changed (golden/reviews/summary_faithful.jsonl)"),
        "{}",
        r.stderr
    );
    p.write("golden/reviews/summary_faithful.jsonl", &labels);
    // Comments and layout are not changes.
    p.write(
        "evalgate.yaml",
        &config.replace(
            "      max_cost_increase: 25",
            "      max_cost_increase: 25.0   # same",
        ),
    );
    let r = p.evalgate(&["gate", "support-features"]);
    r.assert_code(0);
    assert!(r.stdout.contains("UNCHANGED"), "{}", r.stdout);
}

/// `baseline update` without `--from` runs the suite on the project it already loaded: each
/// of the project's warnings is said once, not once per load.
#[test]
fn baseline_update_says_each_project_warning_once() {
    let stub = Stub::start(support_labeller);
    let p = Project::base(&stub.base_url);
    // Case variables before static instructions: a warning, not an error.
    let prompt = p.read("prompts/support.yaml");
    p.write(
        "prompts/support.yaml",
        &prompt.replace(
            "      Label the conversation. Answer with JSON only.\n",
            "      {{ transcript }}\n      Label the conversation. Answer with JSON only.\n",
        ),
    );
    let r = p.evalgate(&["baseline", "update", "support"]);
    r.assert_code(0);
    assert_eq!(
        r.stderr.matches("puts case variables before").count(),
        1,
        "{}",
        r.stderr
    );
}
