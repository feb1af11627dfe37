//! LLM-made features: downstream lift and its gates, stability between runs, cost per record,
//! and the export a downstream consumer reads. Driven through the real binary against the
//! stub server, whose labeller reads each case's true risk from its transcript.

use serde_json::Value;

use crate::common::stub::{Reply, Stub, user_text};
use crate::common::{Project, example};

const CASES: usize = 120;
/// The case whose answer breaks the contract (risk 9).
const BAD: usize = 7;

fn risk(i: usize) -> i64 {
    1 + ((i * 7) % 5) as i64
}

/// Escalated when the true risk is 4 or 5, except every eleventh case (noise).
fn escalated(i: usize) -> bool {
    (risk(i) >= 4) != i.is_multiple_of(11)
}

fn labels(r: i64) -> Value {
    serde_json::json!({
        "intent": if r >= 4 { "bug" } else { "billing" },
        "sentiment": if r >= 4 { "negative" } else { "neutral" },
        "escalation_risk": r,
    })
}

/// Golden cases with an outcome that follows the risk, and base features that are noise.
fn golden() -> String {
    (0..CASES)
        .map(|i| {
            let plan = ["free", "pro", "enterprise"][i % 3];
            let case = serde_json::json!({
                "id": format!("f{i:03}"),
                "vars": {"transcript": format!("Customer: case {i}: the export keeps failing (risk {})", risk(i))},
                "expected": labels(risk(i)),
                "outcome": {"escalated": escalated(i)},
                "base_features": {
                    "account_age_days": (i * 37) % 900,
                    "prior_tickets": i % 4,
                    "plan": plan,
                },
            });
            case.to_string() + "\n"
        })
        .collect()
}

/// Answers the true labels, except: a system prompt containing `ALWAYS OTHER` gets the same
/// answer for every case, and case `BAD` gets an out-of-range risk.
fn labeller(body: &Value) -> Reply {
    let text = user_text(body);
    let system = body["messages"][0]["content"].as_str().unwrap_or("");
    let r: i64 = text
        .split("(risk ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut answer = if system.contains("ALWAYS OTHER") {
        serde_json::json!({"intent": "other", "sentiment": "neutral", "escalation_risk": 3})
    } else {
        labels(r)
    };
    if text.contains(&format!("case {BAD}:")) {
        answer["escalation_risk"] = 9.into();
    }
    answer["summary"] = "A customer reports a failing export.".into();
    Reply::Content(answer.to_string())
}

const LIFT: &str = r#"
    lift:
      outcome: escalated
    gates:
      min_lift: 0.1
      max_lift_drop: 0.05
      max_flip_rate: 0.3
"#;

fn project(stub: &Stub) -> Project {
    let p = Project::base(&stub.base_url);
    p.write("golden/support.jsonl", &golden());
    let config = p.read("evalgate.yaml");
    let anchor = "        field: escalation_risk\n        tolerance: 1\n";
    assert!(config.contains(anchor));
    p.write(
        "evalgate.yaml",
        &config.replace(anchor, &format!("{anchor}{LIFT}")),
    );
    p
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn lift_export_cost_and_a_gate_that_catches_a_prompt_destroying_the_signal() {
    let stub = Stub::start(labeller);
    let p = project(&stub);
    p.evalgate(&["baseline", "update", "support"])
        .assert_code(0);
    let baseline = "golden/baselines/support.json";

    // Lift of the baseline: the LLM's features are the true labels (but for case BAD), so
    // they reach the human ceiling.
    let r = p.evalgate(&["lift", baseline]);
    r.assert_code(0);
    for row in ["│ base ", "│ base + LLM ", "│ base + human labels "] {
        assert!(r.stdout.contains(row), "{}", r.stdout);
    }
    assert!(
        r.stdout.contains("lift (AUC, base + LLM − base): +"),
        "{}",
        r.stdout
    );
    let l = json(&p.evalgate(&["lift", baseline, "--format", "json"]).stdout);
    assert_eq!(l["cases"], 120);
    assert_eq!(
        l["classes"],
        serde_json::json!([["false", 69], ["true", 51]])
    );
    assert_eq!(l["llm_missing"], 1);
    let base_auc = l["rows"][0]["scores"]["auc"].as_f64().unwrap();
    let lift = &l["lift"];
    assert!(base_auc < 0.65, "base features are noise: {base_auc}");
    assert!(lift["delta"].as_f64().unwrap() > 0.25, "{lift}");
    assert!(lift["low"].as_f64().unwrap() > 0.15, "{lift}");
    assert!(l["ceiling_share"].as_f64().unwrap() > 0.95, "{l}");

    // The export, read by a downstream consumer: escalations concentrate where the LLM's
    // risk is high.
    let r = p.evalgate(&[
        "export",
        baseline,
        "--format",
        "csv",
        "--out",
        "features.csv",
        "--rejected",
        "rejected.jsonl",
    ]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("exported 119 of 120 cases")
            && r.stderr
                .contains("1 rejected (broke the contract or failed), listed in rejected.jsonl"),
        "{}",
        r.stderr
    );
    let rejected = json(p.read("rejected.jsonl").trim());
    assert_eq!(rejected["case_id"], "f007");
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .contains("`escalation_risk`"),
        "{rejected}"
    );
    let outcomes: std::collections::HashMap<String, bool> = p
        .read("golden/support.jsonl")
        .lines()
        .map(|l| {
            let c = json(l);
            (
                c["id"].as_str().unwrap().to_string(),
                c["outcome"]["escalated"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut reader = csv::Reader::from_path(p.path().join("features.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "case_id",
            "intent",
            "sentiment",
            "escalation_risk",
            "summary",
            "feature_version",
            "generated_at"
        ]
    );
    let (mut high, mut high_escalated, mut low, mut low_escalated) = (0, 0, 0, 0);
    for row in reader.records() {
        let row = row.unwrap();
        let risk: i64 = row[3].parse().unwrap();
        assert!(row[5].starts_with("support@") && row[5].ends_with("+stub-model"));
        assert!(row[6].starts_with("20"), "an RFC 3339 time: {}", &row[6]);
        let escalated = outcomes[&row[0]];
        if risk >= 4 {
            high += 1;
            high_escalated += usize::from(escalated);
        } else {
            low += 1;
            low_escalated += usize::from(escalated);
        }
    }
    assert_eq!(high + low, 119);
    assert!(high_escalated * 10 > high * 8, "{high_escalated}/{high}");
    assert!(low_escalated * 10 < low, "{low_escalated}/{low}");
    let jsonl = p.evalgate(&["export", baseline, "--format", "jsonl"]);
    jsonl.assert_code(0);
    assert_eq!(jsonl.stdout.lines().count(), 119);
    assert!(
        jsonl.stderr.contains("rejected f007: breaks the contract"),
        "{}",
        jsonl.stderr
    );

    // Cost per record: the answers' tokens at the model's price ($1 / $2 per million).
    let run = json(&p.read(baseline));
    let answered: Vec<&Value> = run["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "error")
        .collect();
    let paid: f64 = answered
        .iter()
        .map(|c| c["cost_usd"].as_f64().unwrap())
        .sum();
    let c = json(
        &p.evalgate(&[
            "cost",
            baseline,
            "--records",
            "2000000",
            "--refresh-days",
            "7",
            "--serving-events-per-day",
            "150000",
            "--format",
            "json",
        ])
        .stdout,
    );
    let per_record = paid / answered.len() as f64;
    assert!(
        (c["per_record"].as_f64().unwrap() - per_record).abs() < 1e-12,
        "{c}"
    );
    let batch = c["per_record_batch"].as_f64().unwrap();
    assert!((batch - per_record / 2.0).abs() < 1e-12, "{c}");
    assert!((c["backfill"]["batch"].as_f64().unwrap() - 2e6 * batch).abs() < 1e-6);
    let refresh = c["refresh_per_month"]["batch"].as_f64().unwrap();
    assert!((refresh - 2e6 * 30.0 / 7.0 * batch).abs() < 1e-6);
    let live = c["live_per_month"].as_f64().unwrap();
    assert!((live - 150_000.0 * 30.0 * per_record).abs() < 1e-6);
    // 2M records every 7 days through the Batch API is 142,857 calls a day at half price:
    // cheaper than 150,000 live calls a day.
    assert!(
        c["verdict"]
            .as_str()
            .unwrap()
            .contains("live would be cheaper below 142,857 serving events a day"),
        "{c}"
    );
    let r = p.evalgate(&[
        "cost",
        baseline,
        "--records",
        "2000000",
        "--refresh-days",
        "7",
    ]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("backfill of 2,000,000 records"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("refresh every 7 days, per month"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("119 of 120 answers met the contract"),
        "{}",
        r.stdout
    );

    // A prompt that answers the same thing for every case destroys the signal: the lift
    // gates fail, and so does the flip-rate gate.
    let prompt = p.read("prompts/support.yaml");
    p.write(
        "prompts/support.yaml",
        &prompt.replace(
            "Label the conversation.",
            "Label the conversation. ALWAYS OTHER.",
        ),
    );
    let r = p.evalgate(&["gate", "--markdown", "summary.md"]);
    r.assert_code(1);
    let line = |gate: &str| -> String {
        r.stdout
            .lines()
            .find(|l| l.contains(&format!("│ {gate} ")))
            .unwrap_or_else(|| panic!("no {gate} line in\n{}", r.stdout))
            .to_string()
    };
    assert!(line("min_lift").contains("fail"), "{}", line("min_lift"));
    assert!(
        line("min_lift").contains("against a floor of +0.100"),
        "{}",
        line("min_lift")
    );
    assert!(
        line("max_lift_drop").contains("fail"),
        "{}",
        line("max_lift_drop")
    );
    assert!(
        line("max_flip_rate").contains("`intent` changed on 119 of 119 cases (100.0%)"),
        "{}",
        line("max_flip_rate")
    );
    let md = p.read("summary.md");
    assert!(
        md.contains("| max_lift_drop | ❌ fail | downstream AUC lift +0."),
        "{md}"
    );

    // Stability of the features between the baseline and the destroyed prompt's run.
    let s = json(
        &p.evalgate(&[
            "stability",
            baseline,
            ".evalgate/gate/support.json",
            "--format",
            "json",
        ])
        .stdout,
    );
    let field = |name: &str| -> Value {
        s["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(s["paired"], 120);
    assert_eq!(field("intent")["flip_rate"], 1.0);
    // The candidate answers one value: no agreement beyond chance.
    assert_eq!(field("intent")["kappa"], 0.0);
    // Risks 1..5 evenly against a constant 3: mean |Δ| = (2 + 1 + 0 + 1 + 2) / 5.
    let risk = field("escalation_risk");
    assert!(
        (risk["mean_abs_change"].as_f64().unwrap() - 1.2).abs() < 0.02,
        "{risk}"
    );
    let r = p.evalgate(&["stability", baseline, ".evalgate/gate/support.json"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("f000 intent: \"billing\" → \"other\""),
        "{}",
        r.stdout
    );
}

#[test]
fn lift_of_the_example_run() {
    let p = example();
    let r = p.evalgate(&["lift", "golden/baselines/support-features.json"]);
    r.assert_code(0);
    crate::snapshot!("lift_example", r.stdout);
}

#[test]
fn lift_without_an_outcome_and_bad_lift_config_are_explained() {
    let stub = Stub::start(labeller);
    let p = Project::base(&stub.base_url);
    p.write("golden/support.jsonl", &golden());
    let r = p.evalgate(&["run", "support", "--out", "run.json"]);
    r.assert_code(0);
    let r = p.evalgate(&["lift", "run.json"]);
    r.assert_code(2);
    assert!(r.stderr.contains("has no `lift:` section"), "{}", r.stderr);
    assert!(r.stderr.contains("pass `--outcome KEY`"), "{}", r.stderr);
    let r = p.evalgate(&["lift", "run.json", "--outcome", "churned"]);
    r.assert_code(2);
    assert!(r.stderr.contains("no case of run"), "{}", r.stderr);

    // Too few cases of a class for the folds.
    let r = p.evalgate(&[
        "lift",
        "run.json",
        "--outcome",
        "escalated",
        "--folds",
        "60",
    ]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("too few cases per fold: the outcome `true` has 51 cases"),
        "{}",
        r.stderr
    );

    let config = p.read("evalgate.yaml");
    p.write(
        "evalgate.yaml",
        &config.replace(
            "        tolerance: 1\n",
            "        tolerance: 1\n    lift:\n      outcome: escalated\n      features: [summary, intnt]\n      folds: 1\n",
        ),
    );
    let r = p.evalgate(&["validate"]);
    r.assert_code(2);
    crate::snapshot!("lift_config_errors", r.stderr);
}
