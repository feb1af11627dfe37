//! `evalgate init` writes a project that `evalgate validate` accepts, and never overwrites.

use crate::common::Project;
use crate::snapshot;

#[test]
fn init_writes_a_valid_project_and_refuses_to_overwrite() {
    let p = Project::empty();
    p.evalgate(&["init", "evals"]).assert_code(0);
    for file in [
        "evalgate.yaml",
        "prompts/triage.yaml",
        "golden/tickets.jsonl",
        "judges/README.md",
        ".github/workflows/evalgate.yml",
    ] {
        assert!(
            p.path().join("evals").join(file).is_file(),
            "{file} missing"
        );
    }
    let run = p.evalgate(&["-C", "evals", "validate"]);
    run.assert_code(0);
    assert!(run.stderr.contains("ok: 1 suite"), "{}", run.stderr);

    let again = p.evalgate(&["init", "evals"]);
    again.assert_code(2);
    snapshot!("init_refuses_to_overwrite", again.transcript());
}

#[test]
fn help_teaches() {
    let p = Project::empty();
    snapshot!("help", p.evalgate(&["--help"]).transcript());
    snapshot!("run_help", p.evalgate(&["run", "--help"]).transcript());
    snapshot!("lift_help", p.evalgate(&["lift", "--help"]).transcript());
    snapshot!("cost_help", p.evalgate(&["cost", "--help"]).transcript());
    snapshot!(
        "export_help",
        p.evalgate(&["export", "--help"]).transcript()
    );
    // Every other command's help, so that a change to what it teaches is seen in review.
    for command in [
        "init",
        "validate",
        "report",
        "runs",
        "score",
        "pairwise",
        "compare",
        "gate",
        "baseline",
        "merge",
        "stability",
        "cascade",
        "feedback",
        "serve",
        "golden",
        "history",
        "prompt",
        "review",
        "calibrate",
    ] {
        let help = p.evalgate(&[command, "--help"]);
        assert_eq!(help.code, 0, "{command}");
        snapshot!(format!("{command}_help"), help.transcript());
    }
}

/// The workflow `init` writes watches the same paths as this repository's own, and builds
/// evalgate from its source instead of installing an unpublished crate.
#[test]
fn the_init_workflow_matches_the_repository_s_own() {
    let p = Project::empty();
    p.evalgate(&["init", "."]).assert_code(0);
    let written = p.read(".github/workflows/evalgate.yml");
    let own = std::fs::read_to_string(crate::common::repo().join(".github/workflows/evalgate.yml"))
        .unwrap();
    let paths = |w: &str| {
        w.lines()
            .find(|l| l.trim_start().starts_with("paths:"))
            .map(|l| l.trim().to_string())
    };
    assert_eq!(paths(&written), paths(&own));
    assert!(paths(&written).unwrap().contains("cassettes/**"));
    assert!(!written.contains("cargo install"), "{written}");
    assert!(
        written.contains("cargo build --release --locked"),
        "{written}"
    );
    assert!(own.contains("cargo build --release"), "{own}");
}

/// `init .` prints commands that run as they are, here.
#[test]
fn init_here_prints_a_usable_next_step() {
    let p = Project::empty();
    let r = p.evalgate(&["init", "."]);
    r.assert_code(0);
    assert!(
        r.stderr
            .contains("next: evalgate validate && evalgate run ticket-triage --dry-run"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("cd ."), "{}", r.stderr);
    p.evalgate(&["validate"]).assert_code(0);
    p.evalgate(&["run", "ticket-triage", "--dry-run"])
        .assert_code(0);
}
