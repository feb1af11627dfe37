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
}
