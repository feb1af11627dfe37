//! The self-contained HTML reports: well-formed (parsed as XML), escaped, with the flipped
//! cases of a comparison.

use serde_json::Value;

use crate::common::Project;
use crate::common::stub::{Reply, Stub, support_labeller, user_text};

/// The export case's summary holds markup; a system prompt containing `FLIP` mislabels the
/// dashboard case, which passes otherwise.
fn labeller(body: &Value) -> Reply {
    let text = user_text(body);
    let system = body["messages"][0]["content"].as_str().unwrap_or("");
    if system.contains("FLIP") && text.contains("dashboard") {
        return Reply::Content(
            serde_json::json!({"intent": "other", "sentiment": "neutral", "escalation_risk": 2, "summary": "Changed."})
                .to_string(),
        );
    }
    if text.contains("export") {
        return Reply::Content(
            serde_json::json!({"intent": "bug", "sentiment": "neutral", "escalation_risk": 2,
                               "summary": "<script>alert('x')</script></textarea><b>bold</b> & more"})
                .to_string(),
        );
    }
    support_labeller(body)
}

/// The case table's data as the page's script reads it.
fn unpack(packed: &str) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed.trim())
        .expect("base64");
    serde_json::from_reader(flate2::read::GzDecoder::new(&bytes[..])).expect("gzip JSON")
}

fn parse(html: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(html, opts).expect("the report is well-formed")
}

#[test]
fn html_reports_are_well_formed_escaped_and_show_flips() {
    let stub = Stub::start(labeller);
    let p = Project::base(&stub.base_url);
    let base = p.evalgate(&["run", "support", "--out", "base.json"]);
    let base_id = base.run_id();
    let r = p.evalgate(&["report", &base_id, "--html", "run.html"]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("wrote HTML report run.html"),
        "{}",
        r.stderr
    );
    let html = p.read("run.html");
    assert!(!html.contains("<script>alert"), "raw markup from an output");
    assert!(!html.contains("</textarea>"));
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no external asset"
    );
    let doc = parse(&html);
    let scripts: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("script"))
        .collect();
    assert_eq!(scripts.len(), 2);
    assert!(scripts.iter().all(|s| s.attribute("src").is_none()));
    // The cases column by column, repeated values as indices into tables, as gzip-compressed
    // JSON in base64.
    let data = unpack(scripts[0].text().unwrap());
    assert_eq!(data["id"].as_array().unwrap().len(), 3);
    let outputs: Vec<&str> = data["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            data["outputs"][i.as_u64().unwrap() as usize]
                .as_str()
                .unwrap()
        })
        .collect();
    let export = outputs.iter().find(|o| o.contains("script")).unwrap();
    assert!(export.contains("<script>alert('x')</script></textarea>"));
    let statuses: Vec<&str> = data["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            data["statuses"][i.as_u64().unwrap() as usize]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(statuses.len(), 3);
    assert!(
        statuses
            .iter()
            .all(|s| ["pass", "fail", "error"].contains(s))
    );
    assert!(doc.descendants().any(|n| n.has_tag_name("svg")), "charts");
    // The page up to its charts (which hold measured latencies), one element a line.
    let start = html.find("<h1>").unwrap();
    let end = html.find("<h2>Distributions</h2>").unwrap();
    let ms = regex::Regex::new(r"\d+ ms").unwrap();
    let body = ms
        .replace_all(&html[start..end], "[MS]")
        .replace("><", ">\n<");
    crate::snapshot!("html_run_report", body);
    assert!(html.contains("Confusion matrix: intent"));

    // A comparison: the flipped cases first, side by side, with a word diff.
    let prompt = p.read("prompts/support.yaml");
    p.write(
        "prompts/support.yaml",
        &prompt.replace("Label the conversation.", "Label the conversation (FLIP)."),
    );
    let cand = p.evalgate(&["run", "support"]);
    let r = p.evalgate(&[
        "compare",
        "base.json",
        &cand.run_id(),
        "--html",
        "compare.html",
    ]);
    r.assert_code(0);
    let html = p.read("compare.html");
    let doc = parse(&html);
    let flipped: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("card flipped"))
        .collect();
    assert!(!flipped.is_empty(), "{html}");
    assert!(
        html.contains("<del>") && html.contains("<ins>"),
        "a word diff"
    );
    assert!(html.contains("Prompt diff"));
    assert!(
        html.contains("+ Label the conversation (FLIP)."),
        "the prompt diff"
    );
    assert!(!html.contains("<script>alert"));
}

#[test]
fn serve_shows_runs_comparisons_and_history() {
    use crate::feedback::{Server, runtime};
    let stub = Stub::start(labeller);
    let p = Project::base(&stub.base_url);
    let a = p.evalgate(&["run", "support"]).run_id();
    let prompt = p.read("prompts/support.yaml");
    p.write(
        "prompts/support.yaml",
        &prompt.replace("Label the conversation.", "Label the conversation (FLIP)."),
    );
    let b = p.evalgate(&["run", "support"]).run_id();
    let token = "tok-0123456789abcdef";
    let server = Server::start(&p, &[], &[("EVALGATE_SERVER_TOKEN", token)]);
    let url = server.url.clone();
    runtime().block_on(async move {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // Without the token: the login page.
        let r = http.get(format!("{url}/runs")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains(r#"action="/login""#));
        // `?token=` once: a session cookie and the same page without the token.
        let r = http
            .get(format!("{url}/runs?token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/runs");
        let mut browser = crate::common::Browser {
            cookies: Vec::new(),
            csrf: String::new(),
        };
        browser.take_cookies(r.headers());
        assert!(
            browser.cookie().contains("evalgate_session="),
            "{:?}",
            r.headers()
        );
        let get = |path: String| {
            http.get(format!("{url}{path}"))
                .header("cookie", browser.cookie())
                .send()
        };
        for path in [
            "/runs".to_string(),
            format!("/runs/{a}"),
            format!("/compare/{a}/{b}"),
            "/suites/support/history".to_string(),
        ] {
            let r = get(path.clone()).await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let body = r.text().await.unwrap();
            parse(&body);
            assert!(!body.contains("<script>alert"), "{path}");
            // Links carry no token (a shared link must not carry it).
            assert!(!body.contains(token), "{path}");
            if path == "/runs" {
                assert!(body.contains(&format!(r#"href="/runs/{b}""#)), "{body}");
                assert!(
                    body.contains(&format!(r#"href="/compare/{a}/{b}""#)),
                    "{body}"
                );
            }
            if path.starts_with("/suites") {
                assert!(body.contains("<svg"), "a trend chart");
            }
        }
        let r = get("/runs/nope".into()).await.unwrap();
        assert_eq!(r.status(), 404);
    });
    assert_eq!(server.stop(), 0);
}

#[test]
fn the_html_report_filters_in_a_real_browser() {
    let Some(driver) = crate::common::chromedriver() else {
        return;
    };
    let stub = Stub::start(labeller);
    let p = Project::base(&stub.base_url);
    let run = p.evalgate(&["run", "support"]);
    p.evalgate(&["report", &run.run_id(), "--html", "run.html"])
        .assert_code(0);
    let (mut chromedriver, port) = crate::common::start_chromedriver(&driver);
    let page = format!("file://{}", p.path().join("run.html").display());
    let shot = p.path().join("report.png");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = rt.block_on(async {
        let c = crate::common::browser(port, "1280,1400").await;
        c.goto(&page).await.unwrap();
        use fantoccini::Locator::Css;
        let count = |c: fantoccini::Client| async move {
            c.find(Css("#cases-count"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        };
        // The table is drawn once the browser has unpacked its data.
        c.wait()
            .for_element(Css("#cases-count[data-drawn-ms]"))
            .await
            .unwrap();
        assert_eq!(count(c.clone()).await, "3 of 3 cases");
        // A search reads the ids, the failed scorers and the outputs.
        let search = c.find(Css("#f-q")).await.unwrap();
        search.send_keys("BOLD").await.unwrap();
        let searched = count(c.clone()).await;
        search.clear().await.unwrap();
        search.send_keys("C2").await.unwrap();
        let by_id = count(c.clone()).await;
        search.clear().await.unwrap();
        search.send_keys(" ").await.unwrap();
        search.clear().await.unwrap();
        // A click on the column the table is sorted by turns the order.
        let sort = c.find(Css("th[data-key=id]")).await.unwrap();
        sort.click().await.unwrap();
        let first_id = c
            .find(Css("#cases-body tr td"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        c.find(Css("#f-status"))
            .await
            .unwrap()
            .select_by_value("fail")
            .await
            .unwrap();
        let failing = count(c.clone()).await;
        let rows = c.find_all(Css("#cases-body tr")).await.unwrap().len();
        // The markup in an output is shown as text, not run.
        let export = c
            .find(Css("#cases-body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(&shot, &png).unwrap();
        c.close().await.unwrap();
        (failing, rows, export, png, searched, by_id, first_id)
    });
    let _ = chromedriver.kill();
    let _ = chromedriver.wait();
    let (failing, rows, text, png, searched, by_id, first_id) = outcome;
    assert_eq!(searched, "1 of 3 cases");
    assert_eq!(by_id, "1 of 3 cases");
    assert_eq!(first_id, "c3");
    // c1 and c2 fail (sentiment), c3 passes.
    assert_eq!(failing, "2 of 3 cases");
    assert_eq!(rows, 2);
    assert!(
        text.contains("<script>alert('x')</script></textarea><b>bold</b>"),
        "{text}"
    );
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn the_output_matrix_shows_runs_side_by_side() {
    use crate::feedback::{Server, runtime};
    let stub = Stub::start(labeller);
    let p = Project::base(&stub.base_url);
    let a = p.evalgate(&["run", "support", "--out", "a.json"]).run_id();
    let prompt = p.read("prompts/support.yaml");
    p.write(
        "prompts/support.yaml",
        &prompt.replace("Label the conversation.", "Label the conversation (FLIP)."),
    );
    let b = p.evalgate(&["run", "support"]).run_id();
    // A run file and a stored run, side by side.
    let r = p.evalgate(&["report", "--matrix", "a.json", &b, "--format", "json"]);
    r.assert_code(0);
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["columns"][0]["run_id"], a.as_str());
    assert_eq!(summary["columns"][1]["run_id"], b.as_str());
    let agreement = &summary["agreement"];
    assert_eq!(agreement["cases"], 3);
    assert_eq!(agreement["in_every_run"], 3);
    assert_eq!(agreement["status_differs"], 1, "{agreement}");
    assert_eq!(
        agreement["first"][0]["statuses"],
        serde_json::json!(["pass", "fail"])
    );
    let r = p.evalgate(&["report", "--matrix", &a, &b, "--html", "matrix.html"]);
    r.assert_code(0);
    assert!(r.stdout.contains("output matrix of 2 runs"), "{}", r.stdout);
    assert!(r.stdout.contains("the status differs on 1"), "{}", r.stdout);
    let html = p.read("matrix.html");
    let doc = parse(&html);
    let data = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("matrix-data"))
        .and_then(|n| n.text())
        .map(unpack)
        .unwrap();
    assert_eq!(data["id"].as_array().unwrap().len(), 3);
    assert_eq!(data["runs"].as_array().unwrap().len(), 2);
    assert!(!html.contains("<script>alert"));
    // One run is not a matrix; `--out` does not go with it.
    p.evalgate(&["report", "--matrix", &a]).assert_code(2);
    p.evalgate(&["report", &a, &b]).assert_code(2);

    // The server's /matrix: stored runs only, never a file.
    let server = Server::start(&p, &[], &[]);
    let url = server.url.clone();
    runtime().block_on(async move {
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{url}/matrix?runs={a},{b}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        parse(&body);
        assert!(body.contains(&format!(r#"href="/runs/{a}""#)));
        for bad in ["a.json,a.json", &a] {
            let r = http
                .get(format!("{url}/matrix?runs={bad}"))
                .send()
                .await
                .unwrap();
            assert!(
                r.status() == 404 || r.status() == 400,
                "{bad}: {}",
                r.status()
            );
        }
    });
    assert_eq!(server.stop(), 0);
}
