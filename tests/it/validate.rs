//! `evalgate validate`: the example project is valid, and every kind of bad input gets a
//! precise `file:line:col` diagnostic, exit code 2, and nothing written.

use crate::common::{Project, copy_dir, repo};
use crate::snapshot;

#[test]
fn the_example_project_is_valid() {
    let p = Project::empty();
    for item in ["evalgate.yaml", "prompts", "golden", "judges"] {
        let from = repo().join(item);
        if from.is_dir() {
            copy_dir(&from, &p.path().join(item));
        } else {
            std::fs::copy(&from, p.path().join(item)).unwrap();
        }
    }
    let run = p.evalgate(&["validate"]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("suite support-features: prompt support_features@"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(90 cases)"), "{}", run.stderr);
}

/// A project from `tests/fixtures/base` with the files of `tests/fixtures/invalid/NAME` laid
/// over it (and the files listed in its `DELETE` removed).
fn invalid_project(name: &str) -> Project {
    let p = Project::base("http://127.0.0.1:9/v1");
    let overlay = repo().join("tests/fixtures/invalid").join(name);
    copy_dir(&overlay, p.path());
    if let Ok(list) = std::fs::read_to_string(overlay.join("DELETE")) {
        for rel in list.lines().filter(|l| !l.trim().is_empty()) {
            std::fs::remove_file(p.path().join(rel.trim())).unwrap();
        }
        std::fs::remove_file(p.path().join("DELETE")).unwrap();
    }
    p
}

#[test]
fn every_kind_of_bad_input_gets_a_located_error_and_exit_2() {
    let dir = repo().join("tests/fixtures/invalid");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "at least ten kinds of bad input");
    let located = regex::Regex::new(r"^[\w./-]+:\d+:\d+: ").unwrap();
    for name in names {
        let p = invalid_project(&name);
        let run = p.evalgate(&["validate"]);
        assert_eq!(run.code, 2, "{name}: {}", run.transcript());
        let first = run.stderr.lines().next().unwrap_or("");
        if name != "missing_config" {
            assert!(
                located.is_match(first),
                "{name}: first line has no file:line:col: {first}"
            );
        }
        assert!(
            run.stderr.contains("hint:"),
            "{name}: no hint\n{}",
            run.stderr
        );
        snapshot!(format!("invalid_{name}"), run.transcript());

        // `run` performs the same checks first and writes nothing.
        let run = p.evalgate(&["run", "support"]);
        assert_eq!(run.code, 2, "{name}: {}", run.transcript());
        assert!(
            !p.path().join(".evalgate").exists(),
            "{name}: run wrote a database"
        );
    }
}

/// A significance gate on a bootstrap-tested metric at an α its resamples cannot reach is
/// refused, with the resamples that would reach it; setting them makes it valid.
#[test]
fn an_alpha_the_bootstrap_cannot_reach_is_refused() {
    let p = Project::base("http://127.0.0.1:9/v1");
    let config = p.read("evalgate.yaml");
    let gated = config.replace(
        "        tolerance: 1\n",
        "        tolerance: 1\n    gates:\n      metrics:\n        field.escalation_risk.mae: {max_drop: 0.1, significant: true, alpha: 0.0005}\n",
    );
    p.write("evalgate.yaml", &gated);
    let run = p.evalgate(&["validate"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("`alpha` 0.0005 cannot be reached: `field.escalation_risk.mae` is tested by a bootstrap of 2000 resamples, whose smallest p-value is 0.0005"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: set `bootstrap_resamples: 20000` under the suite's `gates`"),
        "{}",
        run.stderr
    );
    p.write(
        "evalgate.yaml",
        &gated.replace(
            "    gates:\n",
            "    gates:\n      bootstrap_resamples: 20000\n",
        ),
    );
    p.evalgate(&["validate"]).assert_code(0);
}
