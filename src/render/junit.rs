//! JUnit XML for CI test reporters: one test suite per gated suite, one test case per
//! case × scorer of the candidate run, and one per gate. Pure: renders what it is given.

use crate::status::{CaseStatus, GateStatus, Outcome};
use std::fmt::Write;

use crate::report::RunFile;
use crate::report::SuiteVerdict;

/// Escapes text for an XML attribute or element.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no representation for most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

struct Case {
    name: String,
    /// `None` pass, else (`failure` | `error` | `skipped`, message).
    outcome: Option<(&'static str, String)>,
}

fn cases(v: &SuiteVerdict, run: Option<&RunFile>) -> Vec<Case> {
    let mut out = Vec::new();
    for g in &v.gates {
        out.push(Case {
            name: format!("gate: {}", g.gate),
            outcome: match g.status {
                GateStatus::Fail => Some(("failure", g.detail.clone())),
                GateStatus::Skipped => Some(("skipped", g.detail.clone())),
                GateStatus::Pass => None,
            },
        });
    }
    let Some(run) = run else { return out };
    let repeats = run.cases.iter().any(|c| c.repeat > 0);
    for c in &run.cases {
        let id = if repeats {
            format!("{} #{}", c.id, c.repeat)
        } else {
            c.id.clone()
        };
        if c.status == CaseStatus::Error {
            out.push(Case {
                name: format!("{id} · run"),
                outcome: Some((
                    "error",
                    format!(
                        "{}: {}",
                        c.kind.map_or("error", |k| k.as_str()),
                        c.message.as_deref().unwrap_or("")
                    ),
                )),
            });
            continue;
        }
        for s in &c.scores {
            let detail = s.detail.clone().unwrap_or_default();
            out.push(Case {
                name: format!("{id} · {}", s.scorer),
                outcome: match s.outcome {
                    Outcome::Fail => Some(("failure", detail)),
                    Outcome::Error => Some(("error", detail)),
                    Outcome::Skip => Some(("skipped", detail)),
                    Outcome::Pass => None,
                },
            });
        }
    }
    out
}

/// Renders the JUnit XML document of a gate run.
pub fn render(suites: &[(&SuiteVerdict, Option<&RunFile>)]) -> String {
    let mut body = String::new();
    let (mut total, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    for (v, run) in suites {
        let cases = cases(v, *run);
        let count = |kind: &str| {
            cases
                .iter()
                .filter(|c| c.outcome.as_ref().is_some_and(|(k, _)| *k == kind))
                .count()
        };
        let (f, e, s) = (count("failure"), count("error"), count("skipped"));
        total += cases.len();
        failures += f;
        errors += e;
        skipped += s;
        let _ = writeln!(
            body,
            r#"  <testsuite name="{}" tests="{}" failures="{f}" errors="{e}" skipped="{s}">"#,
            escape(&v.suite),
            cases.len()
        );
        for c in &cases {
            let name = escape(&c.name);
            let class = escape(&v.suite);
            match &c.outcome {
                None => {
                    let _ = writeln!(body, r#"    <testcase classname="{class}" name="{name}"/>"#);
                }
                Some((kind, message)) => {
                    let _ = writeln!(body, r#"    <testcase classname="{class}" name="{name}">"#);
                    let m = escape(message);
                    if *kind == "skipped" {
                        let _ = writeln!(body, r#"      <skipped message="{m}"/>"#);
                    } else {
                        let _ = writeln!(body, r#"      <{kind} message="{m}">{m}</{kind}>"#);
                    }
                    let _ = writeln!(body, "    </testcase>");
                }
            }
        }
        let _ = writeln!(body, "  </testsuite>");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"evalgate\" tests=\"{total}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n{body}</testsuites>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\n"), "x\u{FFFD}y\n");
    }
}
