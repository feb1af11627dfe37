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
    // Start with no labels (the example commits some: see the test of them below).
    std::fs::remove_dir_all(p.path().join("golden/reviews")).ok();
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
    // Every label is a line of the judge's labels file, in git.
    let file = p.read("golden/reviews/summary_faithful.jsonl");
    assert_eq!(file.lines().count(), 20, "{file}");
    let first: Value = serde_json::from_str(file.lines().next().unwrap()).unwrap();
    assert_eq!(first["batch"], batch.as_str());
    assert_eq!(first["human"], "pass");
    assert_eq!(first["reviewer"], "ann");
    assert!(
        first["judge_version"].as_str().unwrap().len() == 64,
        "{first}"
    );

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
    // The recorded judge passed all 20 sampled items: kappa says nothing, and the report says so.
    assert!(
        text.contains(
            "the judge said pass on every reviewed item: kappa is 0 however people answer"
        ),
        "{text}"
    );

    // The gate enforces the suite's min_judge_kappa.
    let config = p.read("evalgate.yaml");
    p.write(
        "evalgate.yaml",
        &config.replace("      min_judge_kappa: 0.0", "      min_judge_kappa: 0.5"),
    );
    let r = p.evalgate(&["calibrate"]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("drift: judge summary_faithful@")
            && r.stderr
                .contains("below min_judge_kappa 0.5 of suite support-features"),
        "{}",
        r.stderr
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

    // A fresh clone in CI: no database, the labels file only. The gate still evaluates them.
    std::fs::remove_dir_all(p.path().join(".evalgate")).unwrap();
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

/// In Chromium, on a server with a token: log in once, then label twenty items by keyboard.
#[test]
fn a_reviewer_labels_a_batch_of_twenty_in_the_browser() {
    let Some(driver) = crate::common::chromedriver() else {
        return;
    };
    let p = example();
    std::fs::remove_dir_all(p.path().join("golden/reviews")).ok();
    let run = p.evalgate(&["run", "support-features"]);
    let r = p.evalgate(&["review", "sample", "--run", &run.run_id(), "--n", "20"]);
    let batch = r
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("rv-"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    // A server with a token: the reviewer gives it once, on the login page.
    let token = "browser-token-0123456789abcdef";
    let server = crate::feedback::Server::start(&p, &[], &[("EVALGATE_SERVER_TOKEN", token)]);
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
        c.find(Css("#token"))
            .await
            .unwrap_or_else(|e| panic!("no login page: {e}"))
            .send_keys(token)
            .await
            .unwrap();
        c.find(Css("form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .at_most(std::time::Duration::from_secs(10))
            .for_element(Css("#reviewer"))
            .await
            .unwrap_or_else(|e| panic!("the login did not lead to the batch: {e}"));
        assert_eq!(c.current_url().await.unwrap().as_str(), url.as_str());
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
        // No page the reviewer saw carried the token.
        assert!(!home.contains(token));
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
    // The page wrote each label into the judge's labels file too.
    let file = p.read("golden/reviews/summary_faithful.jsonl");
    assert_eq!(file.lines().count(), 20, "{file}");
    assert!(file.contains("\"reviewer\":\"ann\""), "{file}");
}

/// Answers like the support labeller, but puts a transcript's HTML into the summary (a model
/// output can carry anything).
fn echoing_labeller(body: &Value) -> crate::common::stub::Reply {
    let text = crate::common::stub::user_text(body);
    if let Some(start) = text.find("<script>") {
        let end = text.find("</script>").map_or(text.len(), |e| e + 9);
        return crate::common::stub::Reply::Content(
            serde_json::json!({"intent": "other", "sentiment": "neutral", "escalation_risk": 2,
                               "summary": &text[start..end]})
            .to_string(),
        );
    }
    crate::common::stub::support_labeller(body)
}

#[test]
fn cases_that_need_a_label_get_their_expected_value_from_the_review() {
    use serde_json::json;
    let stub = crate::common::stub::Stub::start(echoing_labeller);
    let p = Project::base(&stub.base_url);
    let event = |id: &str, transcript: &str| {
        json!({"type": "interaction", "event_id": id, "timestamp": "2026-11-20T10:00:00Z",
               "prompt": "support", "vars": {"transcript": transcript}, "output": "{}"})
        .to_string()
    };
    p.write(
        "events.jsonl",
        &[
            event("i1", "Customer: please refund the double charge on my card"),
            event("i2", "Customer: the export is slow"),
            event(
                "i3",
                "Customer: <script>window.pwned = 1</script> thanks for nothing",
            ),
        ]
        .join("\n"),
    );
    p.evalgate(&["feedback", "ingest", "events.jsonl"])
        .assert_code(0);
    p.evalgate(&[
        "feedback",
        "promote",
        "i1",
        "i2",
        "i3",
        "--to",
        "golden/support.jsonl",
    ])
    .assert_code(0);
    let run = p.evalgate(&["run", "support"]);
    let r = p.evalgate(&["review", "sample", "--run", &run.run_id()]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("3 items")
            && r.stdout
                .contains("3 cases that need a label (their answers go to the golden file)"),
        "{}",
        r.stdout
    );
    let batch = batch_of(&r.stdout);

    // i1: the output is right. i2: a fail without the right answer is asked again, then
    // the answer's fields replace the output's. i3: skipped.
    let (code, stdout, stderr) = label(
        &p,
        &batch,
        &["p", "f", "f intent=bug, escalation_risk=4", "s"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("3 of 3 items"), "{stdout}");
    assert!(
        stderr.contains("a fail needs the right answer, as `field=value, …` or a JSON object (the dataset expects escalation_risk, intent, sentiment)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("saved. fb-i1 now expects") && stderr.contains("in golden/support.jsonl"),
        "{stderr}"
    );
    let cases: Vec<Value> = p
        .read("golden/support.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let case = |id: &str| cases.iter().find(|c| c["id"] == id).unwrap().clone();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let i1 = case("fb-i1");
    assert_eq!(
        i1["expected"],
        json!({"intent": "billing", "sentiment": "neutral", "escalation_risk": 2}),
        "only the fields the dataset expects"
    );
    assert_eq!(i1["source"]["labelled_by"], "ann");
    assert_eq!(i1["source"]["labelled_at"], today.as_str());
    assert_eq!(i1["source"]["review_batch"], batch.as_str());
    assert_eq!(i1["source"]["event_id"], "i1", "the provenance stays");
    assert!(i1["source"].get("needs_label").is_none());
    assert!(
        !i1["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("needs_label"))
    );
    assert_eq!(case("fb-i2")["expected"]["intent"], "bug");
    assert_eq!(case("fb-i2")["expected"]["escalation_risk"], 4);
    assert_eq!(case("fb-i2")["expected"]["sentiment"], "neutral");
    assert_eq!(case("fb-i3")["source"]["needs_label"], true);
    p.evalgate(&["validate"]).assert_code(0);
    let stats = p.evalgate(&["golden", "stats", "support"]);
    assert!(
        stats
            .stdout
            .contains("1 cases wait for a human label (needs_label)")
            || stats.stdout.contains("1 case waits for a human label"),
        "{}",
        stats.stdout
    );
    // Label items are not judge verdicts: nothing to calibrate.
    p.evalgate(&["calibrate"]).assert_code(2);

    // In the browser page: the case left over, whose output holds a <script>.
    let r = p.evalgate(&["review", "sample", "--run", &run.run_id()]);
    assert!(r.stdout.contains("1 items"), "{}", r.stdout);
    let batch = batch_of(&r.stdout);
    let server = crate::feedback::Server::start(&p, &[], &[]);
    let url = format!("{}/review/{batch}", server.url);
    let rt = crate::feedback::runtime();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let first = http.get(&url).send().await.unwrap();
        let headers = first.headers().clone();
        let page = first.text().await.unwrap();
        assert!(
            page.contains("&lt;script&gt;window.pwned = 1&lt;&#x2f;script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>window.pwned"), "{page}");
        // The form carries the CSRF token its cookie holds.
        let browser = crate::common::Browser::from_page(&headers, &page);
        assert_eq!(browser.csrf.len(), 64, "{page}");
        // A fail without the right answer: the page again, with why.
        let post = |form: Vec<(&'static str, &'static str)>| {
            let mut form: Vec<(&str, &str)> = form;
            form.push(("csrf", browser.csrf.as_str()));
            http.post(format!("{}/review/{batch}/0", server.url))
                .header("cookie", browser.cookie())
                .form(&form)
                .send()
        };
        let r = post(vec![("verdict", "fail"), ("reviewer", "bo")])
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422);
        let page = r.text().await.unwrap();
        assert!(
            page.contains(r#"id="problem""#) && page.contains("a fail needs the right answer"),
            "{page}"
        );
        let r = post(vec![
            ("verdict", "fail"),
            ("reviewer", "bo"),
            ("note", "intent=feature_request, sentiment=negative"),
        ])
        .await
        .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let page = r.text().await.unwrap();
        assert!(
            page.contains("is now the expected value of <code>fb-i3</code>"),
            "{page}"
        );
    });
    if let Some(driver) = crate::common::chromedriver() {
        // The real browser shows the script as text and never runs it.
        let (mut chromedriver, port) = crate::common::start_chromedriver(&driver);
        rt.block_on(async {
            let c = crate::common::browser(port, "1280,900").await;
            c.goto(&format!("{url}?item=0")).await.unwrap();
            let text = c
                .find(fantoccini::Locator::Css("#output"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(text.contains("<script>window.pwned = 1</script>"), "{text}");
            let ran = c
                .execute("return window.pwned !== undefined", vec![])
                .await
                .unwrap();
            assert_eq!(ran, json!(false));
            c.close().await.unwrap();
        });
        let _ = chromedriver.kill();
        let _ = chromedriver.wait();
    }
    assert_eq!(server.stop(), 0);
    let cases = p.read("golden/support.jsonl");
    let i3: Value =
        serde_json::from_str(cases.lines().find(|l| l.contains("\"fb-i3\"")).unwrap()).unwrap();
    assert_eq!(i3["expected"]["intent"], "feature_request");
    assert_eq!(i3["source"]["labelled_by"], "bo");
    p.evalgate(&["validate"]).assert_code(0);
}

fn batch_of(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("rv-"))
        .unwrap()
        .trim_end_matches(':')
        .to_string()
}

/// A labels file that cannot be written fails `review label` with the reason (the OS error),
/// as `evalgate serve` says it, not only with the file's name.
#[test]
fn an_unwritable_labels_file_says_why() {
    let p = example();
    std::fs::remove_dir_all(p.path().join("golden/reviews")).ok();
    let run = p.evalgate(&["run", "support-features"]);
    run.assert_code(0);
    let r = p.evalgate(&["review", "sample", "--run", &run.run_id(), "--n", "2"]);
    r.assert_code(0);
    // A file where the labels directory should be.
    p.write("golden/reviews", "not a directory");
    let (code, _, stderr) = label(&p, &batch_of(&r.stdout), &["p"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot read or write `golden/reviews/summary_faithful.jsonl`: ")
            && stderr.contains("os error"),
        "{stderr}"
    );
}
