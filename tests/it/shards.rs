//! Shards past one machine: N `evalgate run --shard K/N` processes writing into one
//! PostgreSQL database at once, two of them killed part way and resumed, merged into a run
//! equal case for case to the unsharded one; and the sharded CI workflow's commands, run as
//! the workflow runs them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::stub::{Stub, support_labeller};
use crate::common::{Project, evalgate, json_file, postgres_schema, postgres_url, results};

const CASES: usize = 400;
const SHARDS: u32 = 4;

/// 400 cases of four kinds, so that the runs hold passes and failures of several labels.
fn cases() -> String {
    let texts = [
        ("please refund the double charge", "billing"),
        ("the app shows an error and crashes", "bug"),
        ("it would be great to export to csv", "feature_request"),
        ("where is your office", "billing"),
    ];
    (0..CASES)
        .map(|i| {
            let (text, intent) = texts[i % texts.len()];
            format!(
                r#"{{"id": "s{i:04}", "vars": {{"transcript": "Customer: case {i}: {text}"}}, "expected": {{"intent": "{intent}", "sentiment": "neutral", "escalation_risk": 2}}}}"#
            ) + "\n"
        })
        .collect()
}

fn spawn_shard(p: &Project, url: &str, k: u32) -> Child {
    let mut cmd: Command = evalgate();
    cmd.current_dir(p.path())
        .env("EVALGATE_DATABASE_URL", url)
        .args([
            "run",
            "support",
            "--shard",
            &format!("{k}/{SHARDS}"),
            "--out",
            &format!("s{k}.json"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

fn stderr_of(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn four_shards_into_one_postgres_at_once_equal_the_unsharded_run() {
    let Some(base) = postgres_url() else { return };
    let url = postgres_schema(&base);
    let stub = Stub::start(support_labeller);
    let p = Project::base(&stub.base_url);
    p.write("golden/support.jsonl", &cases());

    // The reference: the whole suite in one process, in its own SQLite database.
    p.evalgate(&["run", "support", "--out", "full.json", "--no-cache"])
        .assert_code(0);
    let full = json_file(&p, "full.json");
    assert_eq!(full["cases"].as_array().unwrap().len(), CASES);
    let before = stub.count_path("/v1/chat/completions");
    assert_eq!(before, CASES);

    // Four shard processes into one PostgreSQL database at once; shards 2 and 3 are killed
    // (SIGKILL) once a quarter of the suite has been answered.
    stub.set_latency(Duration::from_millis(40));
    let mut children: Vec<Option<Child>> = (1..=SHARDS)
        .map(|k| Some(spawn_shard(&p, &url, k)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while stub.count_path("/v1/chat/completions") < before + CASES / 4 {
        assert!(Instant::now() < deadline, "the shards never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    for k in [2, 3] {
        let mut child = children[k - 1].take().unwrap();
        child.kill().unwrap();
        let (code, stderr) = stderr_of(child);
        assert_eq!(code, None, "shard {k} ended before it was killed: {stderr}");
    }
    for (k, child) in children.into_iter().enumerate() {
        if let Some(child) = child {
            let (code, stderr) = stderr_of(child);
            assert_eq!(code, Some(0), "shard {}: {stderr}", k + 1);
        }
    }
    assert!(!p.path().join("s2.json").exists() && !p.path().join("s3.json").exists());
    stub.set_latency(Duration::ZERO);

    // Each killed shard's `--resume` finds its own run, though the other's is unfinished
    // too and newer or older.
    let env = [("EVALGATE_DATABASE_URL", url.as_str())];
    for k in ["3", "2"] {
        let shard = format!("{k}/{SHARDS}");
        let out = format!("s{k}.json");
        let r = p.evalgate_env(
            &[
                "run", "support", "--shard", &shard, "--resume", "--out", &out,
            ],
            &env,
        );
        r.assert_code(0);
        assert!(r.stderr.contains("resuming run "), "{}", r.stderr);
        // (Had it taken the other shard's run, that shard's resume would find none, or
        // the merge below would refuse the overlap.)
    }
    // No stored case was asked twice. What a kill loses is only what was not stored yet: the
    // requests in flight and the answers of the group being committed, at most twice a
    // shard's concurrency (2) for each of the two killed shards.
    let asked = stub.count_path("/v1/chat/completions") - before;
    assert!(
        (CASES..=CASES + 2 * (2 * 2)).contains(&asked),
        "the shards asked {asked} questions for {CASES} cases"
    );

    // Merged from the run files, and from the stored runs: equal case for case to the
    // unsharded run, each case once.
    let files: Vec<String> = (1..=SHARDS).map(|k| format!("s{k}.json")).collect();
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--out", "merged.json"]);
    p.evalgate(&args).assert_code(0);
    assert_eq!(results(&json_file(&p, "merged.json")), results(&full));

    let ids: Vec<String> = files
        .iter()
        .map(|f| json_file(&p, f)["run"]["id"].as_str().unwrap().to_string())
        .collect();
    let mut args = vec!["merge"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--out", "merged-db.json"]);
    let r = p.evalgate_env(&args, &env);
    r.assert_code(0);
    assert!(
        r.stderr.contains(&format!("merged 4 runs ({CASES} cases)")),
        "{}",
        r.stderr
    );
    assert_eq!(results(&json_file(&p, "merged-db.json")), results(&full));
}

/// The `run:` commands of one job of a workflow that call evalgate, as a shell runs them.
fn evalgate_steps(workflow: &Value, job: &str) -> Vec<String> {
    workflow["jobs"][job]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.starts_with("evalgate "))
        .map(str::to_string)
        .collect()
}

fn read_workflow(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// The repository's sharded workflow, run as GitHub runs it: each matrix job's `evalgate`
/// commands with its `matrix.shard` and `strategy.job-total`, then the last job's merge and
/// gate, on the example project (offline: it replays recorded answers). The merged run gates
/// like the unsharded one: PASS against the committed baseline.
#[test]
fn the_sharded_workflow_runs_as_written_and_gates_the_merged_run() {
    let workflow =
        read_workflow(&crate::common::repo().join(".github/workflows/evalgate-sharded.yml"));
    let suite = workflow["env"]["SUITE"].as_str().unwrap().to_string();
    let shards = workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .clone();
    assert!(shards.len() >= 2, "{shards:?}");
    assert_eq!(workflow["jobs"]["gate"]["needs"], "shard");
    let p = crate::common::example();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_evalgate"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = |script: &str| {
        let mut cmd = Command::new("sh");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("EVALGATE_") || key == "CI" {
                cmd.env_remove(key);
            }
        }
        let out = cmd
            .current_dir(p.path())
            .env("PATH", &path)
            .env("SUITE", &suite)
            .args(["-c", script])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{script}: {stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    let shard_steps = evalgate_steps(&workflow, "shard");
    assert!(
        shard_steps.iter().any(|s| s.contains("--shard")),
        "{shard_steps:?}"
    );
    for k in &shards {
        for step in &shard_steps {
            let step = step
                .replace("${{ matrix.shard }}", &k.to_string())
                .replace("${{ strategy.job-total }}", &shards.len().to_string());
            assert!(!step.contains("${{"), "{step}");
            sh(&step);
        }
        // Each job is a fresh machine: only its run file travels.
        std::fs::remove_dir_all(p.path().join(".evalgate")).unwrap();
    }
    let gate_steps = evalgate_steps(&workflow, "gate");
    assert_eq!(gate_steps.len(), 2, "{gate_steps:?}");
    let (_, merged) = sh(&gate_steps[0]);
    assert!(
        merged.contains(&format!("merged {} runs", shards.len())),
        "{merged}"
    );
    let (gated, _) = sh(&gate_steps[1]);
    assert!(gated.contains(&format!("gate {suite}: PASS")), "{gated}");
    // The merged run holds every case of the suite once.
    let cases = json_file(&p, "merged.json")["cases"]
        .as_array()
        .unwrap()
        .len();
    let golden = p.read("golden/support.jsonl").lines().count();
    assert_eq!(cases, golden);
}

/// `init --sharded` writes the sharded workflow instead of the single-job one; its commands
/// are the repository's, for the suite `init` writes.
#[test]
fn init_sharded_writes_the_sharded_workflow() {
    let p = Project::empty();
    p.evalgate(&["init", "--sharded", "."]).assert_code(0);
    assert!(!p.path().join(".github/workflows/evalgate.yml").exists());
    let written = read_workflow(&p.path().join(".github/workflows/evalgate-sharded.yml"));
    let own = read_workflow(&crate::common::repo().join(".github/workflows/evalgate-sharded.yml"));
    for job in ["shard", "gate"] {
        assert_eq!(evalgate_steps(&written, job), evalgate_steps(&own, job));
        assert_eq!(written["jobs"][job]["needs"], own["jobs"][job]["needs"]);
    }
    assert_eq!(
        written["jobs"]["shard"]["strategy"],
        own["jobs"]["shard"]["strategy"]
    );
    let suite = written["env"]["SUITE"].as_str().unwrap();
    assert!(
        p.read("evalgate.yaml").contains(&format!("\n  {suite}:\n")),
        "{suite}"
    );
    p.evalgate(&["validate"]).assert_code(0);
    let r = p.evalgate(&["run", suite, "--shard", "1/4", "--dry-run"]);
    r.assert_code(0);
}
