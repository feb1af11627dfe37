//! What `evalgate serve` and the runner protect against: secrets echoed by a provider, hostile
//! requests from browsers (foreign origins, rebinding hosts, forged forms), pages that could
//! be framed or sniffed, and a token that must not end up in links.

use std::path::Path;

use crate::common::Project;
use crate::common::stub::{Reply, Stub};

/// Every file under `dir`, as text (lossy), with its path.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

/// A provider that answers 401 and echoes the key it was sent (as OpenAI's "Incorrect API
/// key provided: …" does) and an Authorization header: neither reaches a file, the terminal or
/// a report.
#[test]
fn a_key_echoed_by_the_provider_is_written_nowhere() {
    let secret = "sk-live-Echo1234567890abcdef";
    let stub = Stub::start(move |_| {
        Reply::Status(
            401,
            serde_json::json!({"error": {"message": format!("Incorrect API key provided: {secret}. You sent: Authorization: Bearer {secret}")}}).to_string(),
        )
    });
    let p = Project::base(&stub.base_url);
    let run = p.evalgate_env(
        &[
            "run",
            "support",
            "--model",
            "keyed-model",
            "--out",
            "run.json",
        ],
        &[("STUB_API_KEY", secret), ("EVALGATE_NO_RETRY_DELAY", "1")],
    );
    run.assert_code(3);
    assert!(
        run.stderr
            .contains("Incorrect API key provided: [redacted]"),
        "{}",
        run.stderr
    );
    let id = {
        let file: serde_json::Value = serde_json::from_str(&p.read("run.json")).unwrap();
        file["run"]["id"].as_str().unwrap().to_string()
    };
    let report = p.evalgate(&["report", &id, "--html", "report.html"]);
    report.assert_code(0);
    for (what, text) in [
        ("stdout", run.stdout.as_str()),
        ("stderr", run.stderr.as_str()),
        ("report", report.stdout.as_str()),
    ] {
        assert!(!text.contains(secret), "{what} holds the key:\n{text}");
    }
    let written = files(p.path());
    assert!(written.iter().any(|(p, _)| p.ends_with("evalgate.db")));
    assert!(written.iter().any(|(p, _)| p.ends_with("report.html")));
    for (path, text) in &written {
        assert!(!text.contains(secret), "{} holds the key", path.display());
        assert!(
            !text.contains("Echo1234567890"),
            "{} holds part of the key",
            path.display()
        );
    }
}
