//! JUnit XML for CI test reporters: one test suite per gated suite, one test case per
//! case × scorer of the candidate run, and one per gate. Pure: renders what it is given.

use crate::status::{CaseStatus, GateStatus, Outcome};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::RunFile;
use crate::report::SuiteVerdict;

struct Case {
    name: String,
    /// `None` pass, else what kind of problem, with its message.
    outcome: Option<(Problem, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Failure,
    Error,
    Skipped,
}

fn cases(v: &SuiteVerdict, run: Option<&RunFile>) -> Vec<Case> {
    let mut out = Vec::new();
    for g in &v.gates {
        out.push(Case {
            name: format!("gate: {}", g.gate),
            outcome: match g.status {
                GateStatus::Fail => Some((Problem::Failure, g.detail.clone())),
                GateStatus::Skipped => Some((Problem::Skipped, g.detail.clone())),
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
                    Problem::Error,
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
                    Outcome::Fail => Some((Problem::Failure, detail)),
                    Outcome::Error => Some((Problem::Error, detail)),
                    Outcome::Skip => Some((Problem::Skipped, detail)),
                    Outcome::Pass => None,
                },
            });
        }
    }
    out
}

/// Renders the JUnit XML document of a gate run, through quick-junit (as cargo-nextest
/// writes its reports): it escapes the text and drops the control characters XML 1.0 cannot
/// carry. The suites' counts are quick-junit's own, so they always match the cases.
pub fn render(suites: &[(&SuiteVerdict, Option<&RunFile>)]) -> Result<String, String> {
    let mut report = Report::new("evalgate");
    for (v, run) in suites {
        let mut suite = TestSuite::new(v.suite.as_str());
        for c in cases(v, *run) {
            let status = match c.outcome {
                None => TestCaseStatus::success(),
                Some((kind, message)) => {
                    let mut status = match kind {
                        Problem::Skipped => TestCaseStatus::skipped(),
                        Problem::Failure => TestCaseStatus::non_success(NonSuccessKind::Failure),
                        Problem::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
                    };
                    status.set_message(message.as_str());
                    if kind != Problem::Skipped {
                        status.set_description(message);
                    }
                    status
                }
            };
            let mut case = TestCase::new(c.name, status);
            case.set_classname(v.suite.as_str());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::SuiteStatus;

    #[test]
    fn markup_is_escaped_and_control_characters_dropped() {
        let v = SuiteVerdict {
            suite: "a<b>&\"c'".into(),
            status: SuiteStatus::Fail,
            candidate: None,
            comparison: None,
            gates: vec![crate::report::GateResult {
                gate: "pass_rate min".into(),
                status: GateStatus::Fail,
                detail: "x\u{1}y <0.8> & \"z\"".into(),
            }],
            reason: String::new(),
            html: None,
        };
        let xml = render(&[(&v, None)]).unwrap();
        assert!(
            xml.contains(r#"name="a&lt;b&gt;&amp;&quot;c&apos;""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"message="xy &lt;0.8&gt; &amp; &quot;z&quot;""#),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}'));
        assert!(
            xml.contains(r#"tests="1" skipped="0" failures="1" errors="0""#),
            "{xml}"
        );
    }
}
