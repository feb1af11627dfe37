//! A suite's history across three prompt versions (one of them a regression), with the git
//! commit of each run, and the prompt's log and diffs.

use serde_json::Value;
use std::process::Command;

use crate::common::Project;
use crate::common::stub::{Reply, Stub, support_labeller, user_text};

/// A system prompt containing `WORSE` mislabels every other case.
fn labeller(body: &Value) -> Reply {
    let system = body["messages"][0]["content"].as_str().unwrap_or("");
    let odd = user_text(body)
        .split("case ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n % 2 == 1);
    if system.contains("WORSE") && odd {
        return Reply::Content(
            serde_json::json!({"intent": "feature_request", "sentiment": "neutral", "escalation_risk": 2, "summary": "S."})
                .to_string(),
        );
    }
    support_labeller(body)
}

fn git(p: &Project, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(p.path())
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

fn set_system(p: &Project, text: &str) {
    let prompt = p.read("prompts/support.yaml");
    let start = prompt.find("Label the conversation").unwrap();
    let end = start + prompt[start..].find('\n').unwrap();
    p.write(
        "prompts/support.yaml",
        &format!("{}{text}{}", &prompt[..start], &prompt[end..]),
    );
}

#[test]
fn history_names_the_prompt_version_that_made_things_worse() {
    let stub = Stub::start(labeller);
    let p = Project::base(&stub.base_url);
    let cases: String = (0..40)
        .map(|i| format!(r#"{{"id": "h{i:02}", "vars": {{"transcript": "Customer: case {i}: please refund the double charge"}}, "expected": {{"intent": "billing", "sentiment": "neutral", "escalation_risk": 2}}}}"#) + "\n")
        .collect();
    p.write("golden/support.jsonl", &cases);
    p.write(".gitignore", ".evalgate/\n");
    git(&p, &["init", "-q"]);
    git(&p, &["add", "."]);
    git(&p, &["commit", "-q", "-m", "v1"]);
    p.evalgate(&["run", "support"]).assert_code(0);

    set_system(
        &p,
        "Label the conversation. Answer with JSON only, briefly.",
    );
    git(&p, &["commit", "-q", "-am", "v2"]);
    p.evalgate(&["run", "support"]).assert_code(0);

    set_system(&p, "Label the conversation (WORSE). Answer with JSON only.");
    git(&p, &["commit", "-q", "-am", "v3"]);
    p.evalgate(&["run", "support"]).assert_code(0);
    // A rerun of the same version is not a new change.
    p.evalgate(&["run", "support", "--no-cache"]).assert_code(0);

    let r = p.evalgate(&["history", "support", "--format", "json"]);
    r.assert_code(0);
    let h: Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = h["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let commits: Vec<&str> = rows
        .iter()
        .map(|r| r["git_commit"].as_str().unwrap())
        .collect();
    assert!(
        commits
            .iter()
            .all(|c| c.len() == 12 && !c.contains("dirty")),
        "{commits:?}"
    );
    assert_ne!(commits[0], commits[1]);
    assert_eq!(commits[2], commits[3]);
    assert!(rows[1]["vs_previous"].is_array());
    assert!(
        rows[3]["vs_previous"].is_null(),
        "a rerun is not compared again"
    );
    let regressions = h["regressions"].as_array().unwrap();
    assert_eq!(regressions.len(), 1, "{regressions:?}");
    let g = &regressions[0];
    assert_eq!(g["run_id"], rows[2]["run_id"]);
    assert_eq!(g["last_good_version"], rows[1]["prompt_version"]);
    assert_eq!(g["last_good_commit"], commits[1]);
    assert!(
        (g["pass_rate_change"].as_f64().unwrap() + 0.5).abs() < 1e-9,
        "{g}"
    );

    let r = p.evalgate(&["history", "support"]);
    assert!(
        r.stdout.contains("lowered the pass rate by 50.0 pt"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "`git checkout {} -- prompts/support.yaml` restores it",
            commits[1]
        )),
        "{}",
        r.stdout
    );

    // The prompt's log: three versions, the last one current, each with its diff.
    let r = p.evalgate(&["prompt", "log", "support"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("prompt support: 3 versions"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("(current)"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("+ Label the conversation (WORSE). Answer with JSON only."),
        "{}",
        r.stdout
    );
    let v1 = rows[0]["prompt_version"].as_str().unwrap()[..8].to_string();
    let r = p.evalgate(&["prompt", "diff", &v1, "support"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("- Label the conversation. Answer with JSON only."),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("+ Label the conversation (WORSE). Answer with JSON only."),
        "{}",
        r.stdout
    );
    let r = p.evalgate(&["prompt", "diff", "ffffffff", "support"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("neither a prompt of the project nor the version of a stored run"),
        "{}",
        r.stderr
    );
    let r = p.evalgate(&["history", "nope"]);
    r.assert_code(2);
}
