//! The markdown summary of `evalgate gate` (a GitHub job summary or a pull-request comment).
//! Pure: renders the model it is given.

use crate::status::SuiteStatus;
use std::fmt::Write;

use crate::report::*;

fn short(hash: &str) -> &str {
    crate::hash::short(hash)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn icon(status: &str) -> &'static str {
    match status {
        "pass" => "✅",
        "fail" => "❌",
        "error" => "⚠️",
        "unchanged" => "⏭️",
        _ => "➖",
    }
}

fn diff_block(out: &mut String, lines: &[DiffLine]) {
    let _ = writeln!(out, "```diff");
    for l in lines {
        let op = if l.op == '~' { ' ' } else { l.op };
        let _ = writeln!(out, "{op} {}", l.text.replace("```", "ˋˋˋ"));
    }
    let _ = writeln!(out, "```");
}

/// At most this many flipped cases are shown per suite (with their diffs).
const FLIPS_SHOWN: usize = 10;

/// Renders the verdicts of a gate run.
pub fn render(verdicts: &[SuiteVerdict]) -> String {
    let mut out = String::new();
    render_summary(&mut out, verdicts);
    for v in verdicts {
        if v.gates.is_empty() && v.comparison.is_none() {
            continue;
        }
        render_suite(&mut out, v);
    }
    out
}

/// The overall heading and the table of every suite's verdict.
fn render_summary(out: &mut String, verdicts: &[SuiteVerdict]) {
    let failed = verdicts
        .iter()
        .filter(|v| v.status == SuiteStatus::Fail)
        .count();
    let errored = verdicts
        .iter()
        .filter(|v| v.status == SuiteStatus::Error)
        .count();
    let overall = if errored > 0 {
        "error"
    } else if failed > 0 {
        "fail"
    } else {
        "pass"
    };
    let _ = writeln!(
        out,
        "## {} evalgate: {}\n",
        icon(overall),
        match (overall, verdicts.len()) {
            ("fail", 1) => "the suite regressed".to_string(),
            ("fail", n) => format!("{failed} of {n} suites regressed"),
            ("error", 1) => "the suite could not be evaluated".to_string(),
            ("error", n) => format!("{errored} of {n} suites could not be evaluated"),
            (_, 1) => "the suite passes".to_string(),
            (_, n) => format!("all {n} suites pass"),
        }
    );
    let _ = writeln!(out, "| suite | verdict | why |\n| --- | --- | --- |");
    for v in verdicts {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} |",
            cell(&v.suite),
            icon(v.status.as_str()),
            v.status,
            cell(&v.reason)
        );
    }
}

/// One suite's section: its run, its HTML report, its gates and its comparison.
fn render_suite(out: &mut String, v: &SuiteVerdict) {
    let _ = writeln!(
        out,
        "\n### {} {}\n",
        icon(v.status.as_str()),
        cell(&v.suite)
    );
    if let Some(r) = &v.candidate {
        let _ = writeln!(
            out,
            "Run `{}`: model `{}`, prompt `{}@{}`, dataset `{}@{}`, {} cases.\n",
            r.run.id,
            r.run.model,
            r.run.prompt,
            short(&r.run.prompt_version),
            r.run.dataset,
            short(&r.run.dataset_version),
            r.counts.cases
        );
    }
    if let Some(html) = &v.html {
        let _ = writeln!(
            out,
            "HTML report (flipped cases side by side, diffs, charts): `{}` in the `evalgate` artifact of this run.\n",
            cell(html)
        );
    }
    if !v.gates.is_empty() {
        let _ = writeln!(out, "| gate | result | numbers |\n| --- | --- | --- |");
        for g in &v.gates {
            let _ = writeln!(
                out,
                "| {} | {} {} | {} |",
                cell(&g.gate),
                icon(g.status.as_str()),
                g.status,
                cell(&g.detail)
            );
        }
    }
    if let Some(c) = &v.comparison {
        render_metrics(out, c);
        render_flips(out, c);
    }
}

/// The folded table of metrics against the baseline run.
fn render_metrics(out: &mut String, c: &Comparison) {
    let _ = writeln!(
        out,
        "\n<details><summary>Metrics against the baseline run <code>{}</code> ({} paired cases)</summary>\n",
        c.base.id, c.paired
    );
    let _ = writeln!(
        out,
        "| metric | base | candidate | Δ | 95% CI | p |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for m in &c.metrics {
        let val = |x: Option<f64>| x.map_or("–".to_string(), |x| format_value(&m.name, x));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            m.name,
            val(m.base),
            val(m.candidate),
            m.delta
                .map_or("–".into(), |d| format_change(&m.name, d.delta)),
            m.delta.map_or("–".into(), |d| format!(
                "{} to {}",
                format_change(&m.name, d.low),
                format_change(&m.name, d.high)
            )),
            m.p_value
                .map_or("–".into(), |p| format!("{p:.3} ({})", m.test)),
        );
    }
    let _ = writeln!(out, "\n</details>\n");
}

/// The flips (the first few with their diffs), the flaky cases and the prompt's diff.
fn render_flips(out: &mut String, c: &Comparison) {
    let _ = writeln!(
        out,
        "**Flips:** {} pass → fail, {} fail → pass (McNemar exact p = {:.3}).\n",
        c.pass_to_fail, c.fail_to_pass, c.flip_p_value
    );
    for f in c.flipped.iter().take(FLIPS_SHOWN) {
        let arrow = f.arrow();
        let why = if f.failed.is_empty() {
            String::new()
        } else {
            format!(" — {}", f.failed.join(", "))
        };
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> {arrow}{why}</summary>\n",
            cell(&f.case_id)
        );
        diff_block(out, &f.diff);
        let _ = writeln!(out, "\n</details>");
    }
    let total = (c.pass_to_fail + c.fail_to_pass) as usize;
    if total > FLIPS_SHOWN.min(c.flipped.len()) {
        let _ = writeln!(
            out,
            "\n… and {} more flipped cases (see the run file).",
            total - FLIPS_SHOWN.min(c.flipped.len())
        );
    }
    if !c.flaky.is_empty() {
        let _ = writeln!(
            out,
            "\n**Flaky:** {} cases passed some repeats and failed others: {}.",
            c.flaky.len(),
            c.flaky
                .iter()
                .map(|f| format!("`{}` ({}/{})", f.case_id, f.passes, f.repeats))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(d) = &c.prompt_diff {
        let _ = writeln!(
            out,
            "\n<details><summary>Prompt <code>{}@{}</code> → <code>{}@{}</code></summary>\n",
            c.base.prompt,
            short(&c.base.prompt_version),
            c.candidate.prompt,
            short(&c.candidate.prompt_version)
        );
        diff_block(out, d);
        let _ = writeln!(out, "\n</details>");
    }
}
