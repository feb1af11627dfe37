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
        html.contains("\\u003cscript\\u003ealert"),
        "the output is in the data, escaped"
    );
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
    let data: Value = serde_json::from_str(scripts[0].text().unwrap()).unwrap();
    assert_eq!(data.as_array().unwrap().len(), 3);
    let export = data
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["output"].as_str().unwrap().contains("script"))
        .unwrap();
    assert!(
        export["output"]
            .as_str()
            .unwrap()
            .contains("<script>alert('x')</script></textarea>")
    );
    assert!(doc.descendants().any(|n| n.has_tag_name("svg")), "charts");
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
