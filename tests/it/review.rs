//! Human review of judge verdicts on the example project (its judge's verdicts are recorded):
//! a sampled batch, labels in the terminal saved one by one, calibration, and the gate on
//! `min_judge_kappa`.

use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

use crate::common::{Project, evalgate, example};

/// `evalgate review label BATCH` with these answer lines on stdin.
fn label(p: &Project, batch: &str, answers: &[&str]) -> (i32, String, String) {
    let mut child = evalgate()
        .current_dir(p.path())
        .args(["review", "label", batch, "--reviewer", "ann"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for a in answers {
            writeln!(stdin, "{a}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn review_calibrate_and_gate_on_judge_agreement() {
    let p = example();
    let run = p.evalgate(&["run", "support-features"]);
    run.assert_code(0);
    let run_id = run.run_id();
    let r = p.evalgate(&["review", "sample", "--run", &run_id, "--n", "20"]);
    r.assert_code(0);
    let batch = r
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("rv-"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert!(r.stdout.contains("20 items"), "{}", r.stdout);

    // Five answers, then the reviewer stops: five labels are kept.
    let (code, stdout, stderr) = label(&p, &batch, &["p", "f too vague", "p", "s", "f"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("5 of 20 items"), "{stdout}");
    // Blind: the judge's verdict is shown only after each answer.
    let first_prompt = stderr.find("your verdict").unwrap();
    let first_reveal = stderr.find("the judge said").unwrap();
    assert!(first_prompt < first_reveal, "{stderr}");
    // Going on labels the other fifteen.
    let rest: Vec<&str> = (0..15)
        .map(|i| if i % 2 == 0 { "p" } else { "f" })
        .collect();
    let (code, stdout, _) = label(&p, &batch, &rest);
    assert_eq!(code, 0);
    assert!(stdout.contains("20 of 20 items"), "{stdout}");

    let r = p.evalgate(&[
        "calibrate",
        "--format",
        "json",
        "--export-examples",
        "examples.jsonl",
    ]);
    r.assert_code(0);
    let c: Value = serde_json::from_str(&r.stdout).unwrap();
    let j = &c["judges"][0];
    assert_eq!(j["judge"], "summary_faithful");
    assert_eq!(j["reviewed"], 19);
    assert_eq!(j["skipped"], 1);
    let disagreements = j["disagreements"].as_array().unwrap().len();
    let agreement = j["agreement"].as_f64().unwrap();
    assert!((agreement - (19 - disagreements) as f64 / 19.0).abs() < 1e-9);
    assert_eq!(p.read("examples.jsonl").lines().count(), disagreements);
    let first: Value =
        serde_json::from_str(p.read("examples.jsonl").lines().next().unwrap()).unwrap();
    assert!(first["input"]["transcript"].is_string() && first["human_verdict"].is_string());
    let kappa = j["kappa"]["delta"].as_f64().unwrap();
    assert!(kappa < 0.5, "SmolLM2 passes nearly everything: {kappa}");
    let text = p.evalgate(&["calibrate"]).stdout;
    assert!(
        text.contains("Cohen's kappa") && text.contains("trend by ISO week"),
        "{text}"
    );
    assert!(text.contains("too vague") || disagreements == 0, "{text}");

    // The gate enforces the suite's min_judge_kappa.
    let config = p.read("evalgate.yaml");
    p.write(
        "evalgate.yaml",
        &config.replace(
            "      max_lift_drop: 0.05",
            "      max_lift_drop: 0.05\n      min_judge_kappa: 0.5",
        ),
    );
    let r = p.evalgate(&["gate", "support-features", "--all"]);
    r.assert_code(1);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("min_judge_kappa summary_faithful"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(
        line.contains("fail") && line.contains("19 items reviewed"),
        "{line}"
    );
}

/// Presses one key in the page.
async fn press(c: &fantoccini::Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    c.perform_actions(keys).await.unwrap();
}

#[test]
fn a_reviewer_labels_a_batch_of_twenty_in_the_browser() {
    let Some(driver) = crate::common::chromedriver() else {
        return;
    };
    let p = example();
    let run = p.evalgate(&["run", "support-features"]);
    let r = p.evalgate(&["review", "sample", "--run", &run.run_id(), "--n", "20"]);
    let batch = r
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("rv-"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    let server = crate::feedback::Server::start(&p, &[], &[]);
    let (mut chromedriver, port) = crate::common::start_chromedriver(&driver);
    let url = format!("{}/review/{batch}", server.url);
    let shot = p.path().join("review.png");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (hidden_before, shown_after, done, png) = rt.block_on(async {
        let c = crate::common::browser(port, "420,900").await;
        use fantoccini::Locator::Css;
        c.goto(&url).await.unwrap();
        c.find(Css("#reviewer"))
            .await
            .unwrap()
            .send_keys("ann")
            .await
            .unwrap();
        // Keys typed in a field are text, not shortcuts: leave the field.
        c.execute("document.activeElement.blur()", vec![])
            .await
            .unwrap();
        let (mut hidden_before, mut shown_after) = (0, 0);
        for i in 0..20 {
            let before = c.source().await.unwrap();
            hidden_before += usize::from(!before.contains("the judge said"));
            // The reviewer's name is remembered by the browser from the first item on.
            let name = c
                .find(Css("#reviewer"))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap();
            assert_eq!(name.as_deref(), Some("ann"), "item {i}");
            press(&c, if i % 3 == 0 { 'f' } else { 'p' }).await;
            c.wait()
                .at_most(std::time::Duration::from_secs(10))
                .for_element(Css("#reveal"))
                .await
                .unwrap_or_else(|e| panic!("item {i}: no answer page: {e}"));
            let after = c.source().await.unwrap();
            shown_after += usize::from(after.contains("the judge said"));
            if i < 19 {
                press(&c, 'n').await;
                c.wait()
                    .at_most(std::time::Duration::from_secs(10))
                    .for_element(Css("#reviewer"))
                    .await
                    .unwrap_or_else(|e| panic!("item {i}: no next item: {e}"));
            }
        }
        // A reload loses nothing: the batch is done.
        c.goto(&url).await.unwrap();
        let done = c
            .source()
            .await
            .unwrap()
            .contains("All 20 items are labelled");
        // The review home shows the batch done and the judge's kappa this week.
        c.goto(&format!(
            "{}/review",
            url.rsplit_once("/review/").unwrap().0
        ))
        .await
        .unwrap();
        let home = c.source().await.unwrap();
        assert!(
            home.contains("kappa by week") && home.contains("<circle"),
            "{home}"
        );
        let png = c.screenshot().await.unwrap();
        std::fs::write(&shot, &png).unwrap();
        c.close().await.unwrap();
        (hidden_before, shown_after, done, png)
    });
    let _ = chromedriver.kill();
    let _ = chromedriver.wait();
    assert_eq!(server.stop(), 0);
    assert_eq!(
        hidden_before, 20,
        "the judge's verdict was never shown before an answer"
    );
    assert_eq!(shown_after, 20);
    assert!(done);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let r = p.evalgate(&["calibrate", "--format", "json"]);
    let c: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(c["judges"][0]["reviewed"], 20);
}
