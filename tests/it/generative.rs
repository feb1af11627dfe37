//! Generated inputs for the loaders and the server (proptest): mutated project files, golden
//! lines, feedback events, templates and request bodies. Whatever comes in, evalgate does not
//! panic, answers within a generous bound (a blow-up, not a benchmark), and says where a bad
//! file is wrong (exit 2 with `file:line`).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::common::{Project, repo};

/// Far above what any of these inputs takes (milliseconds): only a runaway trips it.
const BOUND: Duration = Duration::from_secs(10);

/// Pieces that YAML, JSON and templates are made of, to splice into files.
const PIECES: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ":",
    ": ",
    "- ",
    "-",
    "'",
    "\"",
    "#",
    "|",
    ">",
    "&a",
    "*a",
    "!!str",
    "\t",
    "  ",
    "\n",
    "\n  ",
    "\n    - ",
    "null",
    "~",
    "1e999",
    "-0",
    "0x1F",
    "true",
    "\u{0}",
    "\u{feff}",
    "é",
    "🙂",
    "\\",
    "{{",
    "}}",
    "{%",
    "%}",
    "{{ transcript }}",
    "{% for x in y %}",
    "{% endfor %}",
    "kind: judge",
    "scorers:",
    "gates:",
    "models: [",
    "price: {input: 1}",
    "<<: *a",
    "? ",
];

/// An edit of a text: what it does, at a relative position.
#[derive(Debug, Clone)]
enum Edit {
    Insert(f64, String),
    DeleteLine(f64),
    DuplicateLine(f64),
    Truncate(f64),
    Nest(f64, usize),
    Byte(f64, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop::sample::select(PIECES).prop_map(str::to_string);
    let junk = "[ -~]{0,12}";
    prop_oneof![
        (0.0..1.0, prop_oneof![piece, junk.prop_map(String::from)])
            .prop_map(|(at, s)| Edit::Insert(at, s)),
        (0.0..1.0).prop_map(Edit::DeleteLine),
        (0.0..1.0).prop_map(Edit::DuplicateLine),
        (0.0..1.0).prop_map(Edit::Truncate),
        (0.0..1.0, 1usize..400).prop_map(|(at, n)| Edit::Nest(at, n)),
        (0.0..1.0, any::<u8>()).prop_map(|(at, b)| Edit::Byte(at, b)),
    ]
}

/// Applies edits to bytes (a file may end up not UTF-8).
fn apply(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
        match e {
            Edit::Insert(f, s) => {
                let i = at(*f, bytes.len());
                bytes.splice(i..i, s.bytes());
            }
            Edit::DeleteLine(f) | Edit::DuplicateLine(f) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.is_empty() {
                    continue;
                }
                let i = at(*f, lines.len() - 1);
                if matches!(e, Edit::DeleteLine(_)) {
                    lines.remove(i);
                } else {
                    lines.insert(i, lines[i]);
                }
                bytes = (lines.join("\n") + "\n").into_bytes();
            }
            Edit::Truncate(f) => bytes.truncate(at(*f, bytes.len())),
            Edit::Nest(f, n) => {
                let i = at(*f, bytes.len());
                let deep = format!("{}{}", "[".repeat(*n), "]".repeat(*n));
                bytes.splice(i..i, deep.bytes());
            }
            Edit::Byte(f, b) => {
                if !bytes.is_empty() {
                    let i = at(*f, bytes.len() - 1);
                    bytes[i] = *b;
                }
            }
        }
    }
    bytes
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Mutated evalgate.yaml, prompt and judge files, through the loader (many cases): no panic,
/// a bounded time, and every problem placed in a file (with a line when it has one).
#[test]
fn mutated_project_files_get_located_problems() {
    let p = Project::base("http://127.0.0.1:9/v1");
    p.write(
        "judges/faithful.yaml",
        "model: stub-model\nverdict: {kind: score, min: 0, max: 1, pass_at: 0.5}\nrubric:\n  - role: user\n    content: \"Grade {{ output }}\"\n",
    );
    let files = [
        "evalgate.yaml",
        "prompts/support.yaml",
        "judges/faithful.yaml",
    ];
    let originals: Vec<String> = files.iter().map(|f| p.read(f)).collect();
    let cases = std::cell::Cell::new(0usize);
    runner(1000)
        .run(
            &(0..files.len(), prop::collection::vec(edit(), 1..5)),
            |(which, edits)| {
                cases.set(cases.get() + 1);
                let bytes = apply(&originals[which], &edits);
                std::fs::write(p.path().join(files[which]), &bytes).unwrap();
                let started = Instant::now();
                let loaded = evalgate::config::load(p.path());
                prop_assert!(
                    started.elapsed() < BOUND,
                    "{:?} took {:?}",
                    edits,
                    started.elapsed()
                );
                if let Err(diags) = loaded {
                    prop_assert!(!diags.is_empty());
                    for d in &diags {
                        let shown = d.to_string();
                        prop_assert!(
                            files.iter().any(|f| shown.starts_with(f))
                                || shown.starts_with("golden/"),
                            "a problem placed nowhere: {shown}"
                        );
                    }
                }
                std::fs::write(p.path().join(files[which]), &originals[which]).unwrap();
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(cases.get(), 1000);
}

/// The same through the binary, fewer cases: exit 0 or 2, never a panic, and a bad file's
/// first problem as `file:line:col` (or `file:` for the whole file).
#[test]
fn validate_answers_mutated_files_with_exit_2_and_a_place() {
    let p = Project::base("http://127.0.0.1:9/v1");
    let original = p.read("evalgate.yaml");
    let placed = regex::Regex::new(r"^[\w./-]+(:\d+:\d+)?: ").unwrap();
    let cases = std::cell::Cell::new(0usize);
    runner(150)
        .run(&prop::collection::vec(edit(), 1..4), |edits| {
            cases.set(cases.get() + 1);
            std::fs::write(p.path().join("evalgate.yaml"), apply(&original, &edits)).unwrap();
            let started = Instant::now();
            let r = p.evalgate(&["validate"]);
            prop_assert!(started.elapsed() < BOUND);
            prop_assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
            prop_assert!(r.code == 0 || r.code == 2, "{}", r.transcript());
            if r.code == 2 {
                let first = r.stderr.lines().next().unwrap_or("");
                prop_assert!(placed.is_match(first), "not placed: {first}");
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), 150);
}

/// Golden lines: valid cases cut, spliced and corrupted. The loader reports each bad line with
/// its number and never panics.
#[test]
fn mutated_golden_lines_are_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.jsonl");
    let original =
        std::fs::read_to_string(repo().join("tests/fixtures/base/golden/support.jsonl")).unwrap();
    let cases = std::cell::Cell::new(0usize);
    runner(1000)
        .run(&prop::collection::vec(edit(), 1..5), |edits| {
            cases.set(cases.get() + 1);
            std::fs::write(&path, apply(&original, &edits)).unwrap();
            let started = Instant::now();
            let (_, problems) = evalgate::golden::validate(
                "g",
                &path,
                std::path::Path::new("golden/g.jsonl"),
                |_, _| None,
            );
            prop_assert!(started.elapsed() < BOUND);
            for d in problems {
                prop_assert!(d.to_string().starts_with("golden/g.jsonl"), "{d}");
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), 1000);
}

/// Any JSON value as a feedback event: parsed or refused with a reason, never a panic.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::from),
        prop::sample::select(
            &[
                "event_id",
                "interaction",
                "signal",
                "explicit",
                "implicit",
                "2026-11-20T10:00:00Z",
                "thumbs_down",
                "not a time",
            ][..]
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(
                    &[
                        "type",
                        "event_id",
                        "interaction_id",
                        "timestamp",
                        "kind",
                        "name",
                        "value",
                        "prompt",
                        "vars",
                        "output",
                        "model",
                        "context",
                        "x",
                    ][..]
                )
                .prop_map(String::from),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn any_json_is_an_event_or_a_reason() {
    let cases = std::cell::Cell::new(0usize);
    runner(3000)
        .run(
            &(
                json(),
                prop::option::of(prop::sample::select(&["interaction", "signal"][..])),
            ),
            |(v, default)| {
                cases.set(cases.get() + 1);
                if let Err(reason) = evalgate::feedback::Event::parse(v, default) {
                    prop_assert!(!reason.is_empty());
                }
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(cases.get(), 3000);
}

/// Templates spliced from template syntax, compiled and rendered with generated variables:
/// an error or a text, in bounded time (rendering runs on fuel).
#[test]
fn generated_templates_compile_and_render_or_fail_cleanly() {
    let fragments = prop::collection::vec(
        prop_oneof![
            prop::sample::select(
                &[
                    "{{ transcript }}",
                    "{{ x|upper }}",
                    "{{ x ~ y }}",
                    "{% if x %}",
                    "{% endif %}",
                    "{% for i in range(1000) %}",
                    "{% for j in range(1000) %}",
                    "{% endfor %}",
                    "{{",
                    "}}",
                    "{%",
                    "%}",
                    "{#",
                    "#}",
                    "{{ loop.index }}",
                    "{{ x[0] }}",
                    "{{ 1/0 }}",
                    "{% set y = x * 100000 %}",
                    "{{ y|length }}",
                    "{% raw %}",
                    "{% endraw %}",
                ][..]
            )
            .prop_map(String::from),
            "[ -~]{0,6}".prop_map(String::from),
        ],
        0..12,
    )
    .prop_map(|v| v.concat());
    let vars = prop::collection::btree_map(
        prop::sample::select(&["transcript", "x", "y", "i"][..]).prop_map(String::from),
        json(),
        0..4,
    );
    let cases = std::cell::Cell::new(0usize);
    runner(1500)
        .run(&(fragments, vars), |(template, vars)| {
            cases.set(cases.get() + 1);
            let started = Instant::now();
            let compiled = evalgate::prompt::Prompt::compile(
                "p",
                "prompts/p.yaml".into(),
                vec![(evalgate::prompt::Role::User, template.clone())],
                evalgate::prompt::Params::default(),
                None,
            );
            if let Ok(prompt) = compiled {
                let vars: serde_json::Map<String, Value> = vars.into_iter().collect();
                let _ = prompt.render(&vars);
            }
            prop_assert!(
                started.elapsed() < BOUND,
                "{template:?} took {:?}",
                started.elapsed()
            );
            Ok(())
        })
        .map_err(|e: proptest::test_runner::TestError<_>| TestCaseError::fail(e.to_string()))
        .unwrap();
    assert_eq!(cases.get(), 1500);
}

/// Request bodies of every shape posted to the API: an answer the API documents (never a 5xx),
/// in bounded time, and the server stays up and stops cleanly.
#[test]
fn generated_request_bodies_get_documented_answers() {
    let p = Project::empty();
    let server = crate::feedback::Server::start(&p, &["--max-body-bytes", "65536"], &[]);
    let url = server.url.clone();
    let bodies = prop_oneof![
        json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
        (json(), prop::collection::vec(edit(), 1..4))
            .prop_map(|(v, edits)| apply(&v.to_string(), &edits)),
        (1usize..5000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
        (1usize..100_000)
            .prop_map(|n| format!("{{\"event_id\": \"{}\"}}", "x".repeat(n)).into_bytes()),
    ];
    let rt = crate::feedback::runtime();
    let _in_runtime = rt.enter();
    let http = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let cases = std::cell::Cell::new(0usize);
    runner(600)
        .run(&(bodies, any::<bool>()), |(body, interactions)| {
            cases.set(cases.get() + 1);
            let path = if interactions {
                "/v1/interactions"
            } else {
                "/v1/feedback"
            };
            let status = rt
                .block_on(
                    http.post(format!("{url}{path}"))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send(),
                )
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?
                .status()
                .as_u16();
            prop_assert!(
                [200, 400, 409, 413, 422].contains(&status),
                "{status} for {:?}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), 600);
    let health = rt
        .block_on(http.get(format!("{url}/healthz")).send())
        .unwrap()
        .status();
    assert_eq!(health, 200);
    assert_eq!(server.stop(), 0);
}
