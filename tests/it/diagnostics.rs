//! One fixture per kind of configuration problem (`ConfigErrorKind`, and a dataset's
//! `DatasetErrorKind`): a small bad project, `evalgate validate` on it (snapshotted, all in
//! one snapshot), and a check that the kind named is among the diagnostics `config::load`
//! returns. A kind without a fixture fails `every_kind_has_a_fixture`.
//!
//! The failures outside the project files (run not found, a busy or corrupt run log, a
//! store that cannot open or write, a bad database URL) have theirs in `errors.rs`.

use std::collections::BTreeSet;

use crate::common::Project;
use crate::snapshot;
use evalgate::config::problem::ConfigErrorKind;
use evalgate::golden::DatasetErrorKind;

/// Where the base suite's scorers end: keys appended here belong to suite `support`.
const SUITE_END: &str = "        tolerance: 1\n";

fn replace(p: &Project, file: &str, from: &str, to: &str) {
    let text = p.read(file);
    assert!(text.contains(from), "{file} has no `{from}`");
    p.write(file, &text.replacen(from, to, 1));
}

fn config(p: &Project, from: &str, to: &str) {
    replace(p, "evalgate.yaml", from, to);
}

/// Appends `text` (keys at four spaces, or scorers at six) to suite `support`.
fn suite(p: &Project, text: &str) {
    config(p, SUITE_END, &format!("{SUITE_END}{text}"));
}

const CASCADE: &str = "    cascade:\n      field: intent\n      tiers:\n        - {model: stub-model, confidence: logprobs}\n        - {model: keyed-model}\n";

/// A cascade section with `from` replaced by `to`.
fn cascade(p: &Project, from: &str, to: &str) {
    assert!(CASCADE.contains(from), "{from}");
    suite(p, &CASCADE.replacen(from, to, 1));
}

/// Judge `name` with `body` in place of the valid judge's lines from `from`.
fn judge(p: &Project, name: &str, from: &str, to: &str) {
    let valid = "model: stub-model\nverdict: {kind: pass_fail}\nrubric:\n  - role: user\n    content: \"Judge {{ output }}\"\n";
    assert!(valid.contains(from), "{from}");
    p.write(&format!("judges/{name}.yaml"), &valid.replacen(from, to, 1));
}

fn golden_line(p: &Project, line: &str) {
    let text = p.read("golden/support.jsonl");
    p.write("golden/support.jsonl", &format!("{text}{line}\n"));
}

type Setup = fn(&Project);

/// Every kind, with the project change that produces it.
fn fixtures() -> Vec<(&'static str, Setup)> {
    vec![
        // Reading the files.
        ("cannot-read-project-file", |p| {
            std::fs::remove_file(p.path().join("evalgate.yaml")).unwrap()
        }),
        ("empty-project-file", |p| p.write("evalgate.yaml", "\n")),
        ("cannot-read-file", |p| {
            // A path that is a file but cannot be read from its start, even by root.
            std::os::unix::fs::symlink("/proc/self/mem", p.path().join("prompts/mem.yaml")).unwrap()
        }),
        ("file-too-large", |p| {
            p.write("prompts/big.yaml", &"#".repeat(4 * 1024 * 1024 + 1))
        }),
        ("not-utf8", |p| {
            std::fs::write(
                p.path().join("prompts/latin1.yaml"),
                b"messages:\n  - role: user\n    content: caf\xe9\n",
            )
            .unwrap()
        }),
        ("too-deep", |p| {
            let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
            config(p, "suites:\n", &format!("deep: {deep}\nsuites:\n"))
        }),
        // The YAML and its shape.
        ("yaml-syntax", |p| {
            config(p, "    concurrency: 2\n", "    concurrency: [2\n")
        }),
        ("project-not-a-mapping", |p| {
            p.write("evalgate.yaml", "- providers\n- models\n")
        }),
        ("unknown-field", |p| {
            config(p, "suites:\n", "suits: {}\nsuites:\n")
        }),
        ("section-not-a-mapping", |p| {
            p.write("evalgate.yaml", "providers: [stub]\n")
        }),
        ("unknown-key", |p| {
            config(
                p,
                "    concurrency: 2\n",
                "    concurrency: 2\n    concurency: 3\n",
            )
        }),
        ("missing-key", |p| config(p, "    prompt: support\n", "")),
        ("invalid-value", |p| {
            config(p, "concurrency: 2", "concurrency: many")
        }),
        // Providers.
        ("key-not-for-provider", |p| {
            config(
                p,
                "    cassettes: cassettes\n",
                "    cassettes: cassettes\n    stream: true\n",
            )
        }),
        ("unknown-provider-kind", |p| {
            config(p, "kind: replay", "kind: replai")
        }),
        ("provider-needs-base-url", |p| {
            config(
                p,
                "    base_url: http://127.0.0.1:9/v1\n    api_key_env",
                "    api_key_env",
            )
        }),
        ("bad-base-url", |p| {
            config(
                p,
                "base_url: http://127.0.0.1:9/v1",
                "base_url: 127.0.0.1:9/v1",
            )
        }),
        ("api-key-not-a-variable", |p| {
            config(p, "api_key_env: STUB_API_KEY", "api_key_env: sk-123")
        }),
        ("bad-timeout", |p| {
            config(p, "timeout_secs: 5", "timeout_secs: -1")
        }),
        ("structured-output-not-for-kind", |p| {
            config(
                p,
                "structured_output: json_object_schema",
                "structured_output: tool",
            )
        }),
        ("unknown-structured-output", |p| {
            config(
                p,
                "structured_output: json_object_schema",
                "structured_output: json_shema",
            )
        }),
        ("zero-max-attempts", |p| {
            config(p, "timeout_secs: 5", "timeout_secs: 5\n    max_attempts: 0")
        }),
        ("zero-rate-limit", |p| {
            config(
                p,
                "timeout_secs: 5",
                "timeout_secs: 5\n    requests_per_minute: 0",
            )
        }),
        ("zero-max-concurrency", |p| {
            config(
                p,
                "timeout_secs: 5",
                "timeout_secs: 5\n    max_concurrency: 0",
            )
        }),
        // Models.
        ("unknown-provider", |p| {
            config(p, "provider: keyed", "provider: keyd")
        }),
        ("model-without-price", |p| {
            config(
                p,
                "    provider: tape\n    name: stub-1\n    price: {input: 1.0, output: 2.0}\n",
                "    provider: tape\n    name: stub-1\n",
            )
        }),
        ("negative-price", |p| {
            config(
                p,
                "    provider: tape\n    name: stub-1\n    price: {input: 1.0",
                "    provider: tape\n    name: stub-1\n    price: {input: -1.0",
            )
        }),
        // Suites.
        ("unknown-prompt", |p| {
            config(p, "prompt: support", "prompt: suport")
        }),
        ("missing-dataset", |p| {
            config(p, "dataset: support", "dataset: suport")
        }),
        ("suite-without-models", |p| {
            config(p, "models: [stub-model]", "models: []")
        }),
        ("unknown-model", |p| {
            config(p, "models: [stub-model]", "models: [stub-modl]")
        }),
        ("suite-without-scorers", |p| {
            let text = p.read("evalgate.yaml");
            let (head, _) = text.split_once("    scorers:\n").unwrap();
            p.write("evalgate.yaml", &format!("{head}    scorers: []\n"))
        }),
        ("duplicate-scorer-name", |p| {
            suite(p, "      - kind: contract\n")
        }),
        ("zero-concurrency", |p| {
            config(p, "concurrency: 2", "concurrency: 0")
        }),
        ("rate-out-of-range", |p| {
            suite(p, "    max_error_rate: 1.5\n")
        }),
        ("bad-max-cost", |p| suite(p, "    max_cost: -1\n")),
        ("lift-gates-without-lift", |p| {
            suite(p, "    gates:\n      min_lift: 0.1\n")
        }),
        ("cascade-gates-without-cascade", |p| {
            suite(p, "    gates:\n      cascade_min_quality_retained: 0.9\n")
        }),
        // Scorers.
        ("unknown-scorer-kind", |p| suite(p, "      - kind: equal\n")),
        ("key-not-for-scorer", |p| {
            suite(p, "      - kind: is_json\n        pattern: x\n")
        }),
        ("field-not-in-contract", |p| {
            suite(p, "      - kind: json_field\n        field: intnt\n")
        }),
        ("value-and-expected", |p| {
            suite(
                p,
                "      - kind: equals\n        value: a\n        expected: b\n",
            )
        }),
        ("regex-needs-pattern", |p| suite(p, "      - kind: regex\n")),
        ("invalid-regex", |p| {
            suite(p, "      - kind: regex\n        pattern: '(a'\n")
        }),
        ("pattern-and-expected", |p| {
            suite(
                p,
                "      - kind: regex\n        pattern: a\n        expected: re\n",
            )
        }),
        ("empty-values", |p| {
            suite(p, "      - kind: contains_any\n        values: []\n")
        }),
        ("similar-needs-model", |p| {
            suite(p, "      - kind: similar\n        value: a\n")
        }),
        ("unknown-scorer-model", |p| {
            suite(p, "      - kind: similar\n        model: embedder\n")
        }),
        ("similarity-out-of-range", |p| {
            suite(
                p,
                "      - kind: similar\n        model: stub-model\n        threshold: 1.5\n",
            )
        }),
        ("judge-and-judges", |p| {
            judge(p, "j", "", "");
            suite(
                p,
                "      - kind: judge\n        judge: j\n        judges: [j]\n",
            )
        }),
        ("judge-scorer-needs-judge", |p| {
            suite(p, "      - kind: judge\n")
        }),
        ("pairwise-judge-as-scorer", |p| {
            judge(p, "pair", "{kind: pass_fail}", "{kind: pairwise}");
            replace(
                p,
                "judges/pair.yaml",
                "{{ output }}",
                "{{ output_a }} {{ output_b }}",
            );
            suite(p, "      - kind: judge\n        judge: pair\n")
        }),
        ("unknown-judge", |p| {
            suite(p, "      - kind: judge\n        judge: nope\n")
        }),
        ("judge-listed-twice", |p| {
            judge(p, "j", "", "");
            suite(p, "      - kind: judge\n        judges: [j, j]\n")
        }),
        ("zero-repeat", |p| {
            judge(p, "j", "", "");
            suite(
                p,
                "      - kind: judge\n        judge: j\n        repeat: 0\n",
            )
        }),
        ("contract-scorer-without-contract", |p| {
            let text = p.read("prompts/support.yaml");
            let (head, _) = text.split_once("output:\n").unwrap();
            p.write("prompts/support.yaml", head)
        }),
        ("json-field-needs-field", |p| {
            suite(p, "      - kind: json_field\n")
        }),
        ("negative-tolerance", |p| {
            config(p, "tolerance: 1", "tolerance: -1")
        }),
        // Gates.
        ("resamples-out-of-range", |p| {
            suite(p, "    gates:\n      bootstrap_resamples: 10\n")
        }),
        ("unknown-metric", |p| {
            suite(
                p,
                "    gates:\n      metrics:\n        pass_rte: {min: 0.5}\n",
            )
        }),
        ("alpha-out-of-range", |p| {
            suite(
                p,
                "    gates:\n      metrics:\n        pass_rate: {min: 0.5, alpha: 2}\n",
            )
        }),
        ("unreachable-alpha", |p| {
            suite(
                p,
                "    gates:\n      metrics:\n        field.escalation_risk.mae: {max_drop: 0.1, significant: true, alpha: 0.0005}\n",
            )
        }),
        // Lift.
        ("lift-feature-free-text", |p| {
            suite(
                p,
                "    lift:\n      outcome: escalated\n      features: [summary]\n",
            )
        }),
        ("lift-feature-not-in-contract", |p| {
            suite(
                p,
                "    lift:\n      outcome: escalated\n      features: [urgency]\n",
            )
        }),
        ("too-few-folds", |p| {
            suite(p, "    lift: {outcome: escalated, folds: 1}\n")
        }),
        ("bad-regularization", |p| {
            suite(p, "    lift: {outcome: escalated, regularization: 0}\n")
        }),
        // Cascades.
        ("cascade-field-not-in-contract", |p| {
            cascade(p, "field: intent", "field: intnt")
        }),
        ("bad-cascade-target", |p| {
            cascade(p, "field: intent\n", "field: intent\n      target: 2\n")
        }),
        ("too-few-tiers", |p| {
            cascade(
                p,
                "        - {model: stub-model, confidence: logprobs}\n",
                "",
            )
        }),
        ("too-many-tiers", |p| {
            let tier = "        - {model: stub-model, confidence: logprobs}\n";
            cascade(p, tier, &tier.repeat(5))
        }),
        ("tier-needs-model-or-proxy", |p| {
            cascade(
                p,
                "{model: stub-model, confidence: logprobs}",
                "{confidence: logprobs}",
            )
        }),
        ("unknown-tier-model", |p| {
            cascade(p, "{model: stub-model,", "{model: stub-modl,")
        }),
        ("proxy-pool-not-a-dataset", |p| {
            cascade(
                p,
                "{model: stub-model, confidence: logprobs}",
                "{proxy: {embeddings: stub-model, pool: nope, labeller: keyed-model}}",
            )
        }),
        ("proxy-last-tier", |p| {
            cascade(
                p,
                "{model: keyed-model}",
                "{proxy: {embeddings: stub-model, pool: support, labeller: keyed-model}}",
            )
        }),
        ("proxy-confidence", |p| {
            cascade(
                p,
                "{model: stub-model, confidence: logprobs}",
                "{proxy: {embeddings: stub-model, pool: support, labeller: keyed-model}, confidence: logprobs}",
            )
        }),
        ("last-tier-confidence", |p| {
            cascade(
                p,
                "{model: keyed-model}",
                "{model: keyed-model, confidence: logprobs}",
            )
        }),
        ("logprobs-needs-enum", |p| {
            cascade(p, "field: intent", "field: summary")
        }),
        ("confidence-field-not-in-contract", |p| {
            cascade(
                p,
                "confidence: logprobs",
                "confidence: field, confidence_field: sure",
            )
        }),
        ("unknown-confidence", |p| {
            cascade(p, "confidence: logprobs", "confidence: vibes")
        }),
        ("tier-needs-confidence", |p| {
            cascade(
                p,
                "{model: stub-model, confidence: logprobs}",
                "{model: stub-model}",
            )
        }),
        ("too-few-samples", |p| {
            cascade(
                p,
                "confidence: logprobs",
                "confidence: self_consistency, samples: 1",
            )
        }),
        ("bad-sample-temperature", |p| {
            cascade(
                p,
                "confidence: logprobs",
                "confidence: self_consistency, temperature: 5",
            )
        }),
        ("partly-pinned", |p| {
            cascade(
                p,
                "{model: stub-model, confidence: logprobs}",
                "{model: stub-model, confidence: logprobs, threshold: 0.9}\n        - {model: stub-model, confidence: logprobs}",
            )
        }),
        // Prompts and judges.
        ("prompt-without-messages", |p| {
            p.write("prompts/empty.yaml", "messages: []\n")
        }),
        ("template-syntax", |p| {
            p.write(
                "prompts/broken.yaml",
                "messages:\n  - role: user\n    content: \"Hello {{ name \"\n",
            )
        }),
        ("variables-before-static", |p| {
            let static_text = "Label the conversation with its intent and sentiment. ".repeat(3);
            p.write("prompts/late.yaml", &format!("messages:\n  - role: user\n    content: |\n      {{{{ transcript }}}}\n      {static_text}\n"))
        }),
        ("unknown-judge-model", |p| {
            judge(p, "j", "model: stub-model", "model: stub-modl")
        }),
        ("bad-score-scale", |p| {
            judge(
                p,
                "j",
                "{kind: pass_fail}",
                "{kind: score, min: 5, max: 1, pass_at: 3}",
            )
        }),
        ("pass-at-outside-scale", |p| {
            judge(
                p,
                "j",
                "{kind: pass_fail}",
                "{kind: score, min: 1, max: 5, pass_at: 9}",
            )
        }),
        ("judge-without-rubric", |p| {
            judge(
                p,
                "j",
                "rubric:\n  - role: user\n    content: \"Judge {{ output }}\"\n",
                "rubric: []\n",
            )
        }),
        ("rubric-undefined-variable", |p| {
            judge(p, "j", "{{ output }}", "{{ output }} {{ verdict }}")
        }),
        ("rubric-without-output", |p| {
            judge(p, "j", "{{ output }}", "{{ expected }}")
        }),
        // Datasets and labels.
        ("missing-variable", |p| {
            golden_line(
                p,
                r#"{"id": "c4", "vars": {"transcrpt": "Customer: hello"}}"#,
            )
        }),
        ("bad-review-label", |p| {
            judge(p, "j", "", "");
            p.write("golden/reviews/j.jsonl", "not json\n")
        }),
        ("cannot-read-labels", |p| {
            judge(p, "j", "", "");
            std::fs::create_dir_all(p.path().join("golden/reviews")).unwrap();
            std::os::unix::fs::symlink("/proc/self/mem", p.path().join("golden/reviews/j.jsonl"))
                .unwrap()
        }),
        ("bad-case", |p| {
            golden_line(p, "{\"id\": \"c4\", \"vars\": }")
        }),
        ("empty-case-id", |p| {
            golden_line(p, r#"{"id": " ", "vars": {"transcript": "x"}}"#)
        }),
        ("cannot-read-dataset", |p| {
            // A socket exists, but opening it as a file fails.
            let path = p.path().join("golden/support.jsonl");
            std::fs::remove_file(&path).unwrap();
            std::mem::forget(std::os::unix::net::UnixListener::bind(&path).unwrap());
        }),
        ("cannot-read-line", |p| {
            let mut bytes = std::fs::read(p.path().join("golden/support.jsonl")).unwrap();
            bytes.extend_from_slice(b"{\"id\": \"caf\xe9\"}\n");
            std::fs::write(p.path().join("golden/support.jsonl"), bytes).unwrap()
        }),
        ("duplicate-case-id", |p| {
            golden_line(
                p,
                r#"{"id": "c1", "vars": {"transcript": "Customer: again"}}"#,
            )
        }),
        ("too-many-problems", |p| {
            for _ in 0..25 {
                golden_line(p, "not json");
            }
        }),
        ("empty-dataset", |p| p.write("golden/support.jsonl", "")),
    ]
}

/// The kinds of every diagnostic found in the project: `config::load`'s problems (or
/// warnings) and the review labels files', as `validate` checks them.
fn kinds_found(p: &Project) -> BTreeSet<&'static str> {
    let mut found = BTreeSet::new();
    match evalgate::config::load(p.path()) {
        Ok(project) => found.extend(project.warnings.iter().filter_map(|d| d.kind)),
        Err(diags) => found.extend(diags.iter().filter_map(|d| d.kind)),
    }
    if let Err(problems) = evalgate::review::file::reviewed(p.path(), Vec::new())
        && let evalgate::error::Error::Invalid(diags) =
            evalgate::workflow::labels_file_error(problems)
    {
        found.extend(diags.iter().filter_map(|d| d.kind));
    }
    found
}

#[test]
fn every_kind_has_a_fixture() {
    let fixtures = fixtures();
    let covered: Vec<&str> = fixtures.iter().map(|(k, _)| *k).collect();
    let covered_set: BTreeSet<&str> = covered.iter().copied().collect();
    assert_eq!(covered.len(), covered_set.len(), "a kind has two fixtures");
    let all: BTreeSet<&str> = ConfigErrorKind::ALL_NAMES
        .iter()
        .chain(DatasetErrorKind::ALL_NAMES)
        .copied()
        .collect();
    assert_eq!(
        ConfigErrorKind::ALL_NAMES.len() + DatasetErrorKind::ALL_NAMES.len(),
        all.len(),
        "two kinds share a name"
    );
    let missing: Vec<&&str> = all.difference(&covered_set).collect();
    let unknown: Vec<&&str> = covered_set.difference(&all).collect();
    assert!(missing.is_empty(), "kinds without a fixture: {missing:?}");
    assert!(unknown.is_empty(), "fixtures of no kind: {unknown:?}");

    let mut transcripts = String::new();
    for (kind, setup) in fixtures {
        let p = Project::base("http://127.0.0.1:9/v1");
        setup(&p);
        let found = kinds_found(&p);
        assert!(found.contains(kind), "{kind}: found {found:?}");
        let run = p.evalgate(&["validate"]);
        let expected = if kind == "variables-before-static" {
            0
        } else {
            2
        };
        assert_eq!(run.code, expected, "{kind}: {}", run.transcript());
        assert!(!run.stderr.contains("panicked"), "{kind}: {}", run.stderr);
        transcripts.push_str(&format!("## {kind}\n{}\n", run.transcript()));
    }
    snapshot!("diagnostics", transcripts);
}
