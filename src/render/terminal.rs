//! The terminal report: tables drawn with comfy-table. Pure: renders the model it is given.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use std::fmt::Write;

use crate::report::*;

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn proportion(p: &Proportion) -> String {
    if p.total == 0 {
        return "n/a".into();
    }
    format!(
        "{} ({}/{}, 95% CI {}–{})",
        pct(p.rate),
        p.successes,
        p.total,
        pct(p.low),
        pct(p.high)
    )
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_string(), |v| format!("{v:.0} ms"))
}

fn usd(x: f64) -> String {
    if x == 0.0 {
        "$0".into()
    } else if x < 0.01 {
        format!("${x:.6}")
    } else {
        format!("${x:.4}")
    }
}

use crate::text::thousands;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    t
}

fn right(t: &mut Table, from: usize) {
    for i in from..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn short(hash: &str) -> &str {
    crate::hash::short(hash)
}

/// Renders the report of one run.
pub fn render(r: &RunReport) -> String {
    let mut out = String::new();
    render_run_header(&mut out, r);
    render_scorers(&mut out, r);
    render_judges(&mut out, r);
    for f in &r.enum_fields {
        render_enum_field(&mut out, f);
    }
    for f in &r.integer_fields {
        let _ = writeln!(
            out,
            "\nfield {}: mean absolute error {} over {} cases, exact {}",
            f.field,
            opt(f.mae, 3),
            f.n,
            proportion(&f.exact)
        );
    }
    render_usage(&mut out, r);
    render_latency(&mut out, r);
    render_failures(&mut out, r);
    out
}

/// The run's header: what ran, on what, how far, and its pass rate and case counts.
fn render_run_header(out: &mut String, r: &RunReport) {
    let h = &r.run;
    let replay = if h.provider_kind == "replay" {
        " (replayed from cassettes; latency as recorded)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "run {}  suite {}  model {} via {}{}",
        h.id, h.suite, h.model, h.provider, replay
    );
    let _ = writeln!(
        out,
        "prompt {}@{}  dataset {}@{}  {} of {} cases  {}",
        h.prompt,
        short(&h.prompt_version),
        h.dataset,
        short(&h.dataset_version),
        r.counts.cases,
        h.planned_cases,
        match &h.stop_reason {
            Some(reason) => format!("{} ({reason})", h.status),
            None => h.status.to_string(),
        }
    );
    if h.repeats > 1 {
        let _ = writeln!(
            out,
            "each case asked {} times; every answer is scored",
            h.repeats
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "pass rate  {}", proportion(&r.pass_rate));
    let _ = writeln!(
        out,
        "cases      {} pass · {} fail ({} contract) · {} error",
        r.counts.pass, r.counts.fail, r.counts.contract_violations, r.counts.error
    );
}

/// The scorers' table (with an error column only when some scorer erred).
fn render_scorers(out: &mut String, r: &RunReport) {
    if r.scorers.is_empty() {
        return;
    }
    let errors = r.scorers.iter().any(|s| s.error > 0);
    let mut header = vec!["scorer", "pass", "fail", "skip"];
    if errors {
        header.push("error");
    }
    header.push("pass rate (95% CI)");
    let mut t = table(&header);
    for s in &r.scorers {
        let mut row = vec![
            s.name.clone(),
            s.pass.to_string(),
            s.fail.to_string(),
            s.skip.to_string(),
        ];
        if errors {
            row.push(s.error.to_string());
        }
        row.push(proportion(&s.rate));
        t.add_row(row);
    }
    right(&mut t, 1);
    let _ = writeln!(out, "\n{t}");
}

/// The judges' table, then how unanimous each voting scorer's votes were.
fn render_judges(out: &mut String, r: &RunReport) {
    if r.judges.is_empty() {
        return;
    }
    let mut t = table(&[
        "judge",
        "model",
        "pass",
        "fail",
        "judge errors",
        "pass rate (95% CI)",
        "tokens in / out",
        "cost",
        "cached",
    ]);
    for j in &r.judges {
        t.add_row(vec![
            format!("{}@{}", j.judge, short(&j.judge_version)),
            j.model.clone(),
            j.pass.to_string(),
            j.fail.to_string(),
            j.errors.to_string(),
            proportion(&j.rate),
            format!(
                "{} / {}",
                thousands(j.input_tokens),
                thousands(j.output_tokens)
            ),
            usd(j.cost_usd),
            j.cache_hits.to_string(),
        ]);
    }
    right(&mut t, 2);
    let _ = writeln!(
        out,
        "\njudges (their cost is apart from the model's below; a judge error is never a pass)\n{t}"
    );
    for a in &r.agreement {
        let _ = writeln!(
            out,
            "votes of {}: unanimous in {}",
            a.scorer,
            proportion(&a.unanimous)
        );
    }
}

/// One enum field: its summary line, per-label table and confusion matrix (or top confusions).
fn render_enum_field(out: &mut String, f: &EnumFieldReport) {
    let _ = writeln!(
        out,
        "\nfield {}: accuracy {}, Cohen's kappa {}, macro-F1 {}, weighted F1 {}",
        f.field,
        proportion(&f.accuracy),
        opt(f.kappa, 3),
        opt(f.macro_f1, 3),
        opt(f.weighted_f1, 3)
    );
    let mut t = table(&["label", "precision", "recall", "f1", "support", "predicted"]);
    for m in &f.labels {
        t.add_row(vec![
            m.label.clone(),
            opt(m.precision, 3),
            opt(m.recall, 3),
            opt(m.f1, 3),
            m.support.to_string(),
            m.predicted.to_string(),
        ]);
    }
    right(&mut t, 1);
    let _ = writeln!(out, "{t}");
    // A matrix of many labels is thousands of characters wide: its largest cells off
    // the diagonal instead (the JSON and HTML reports keep the whole matrix).
    if f.confusion.labels.len() > MAX_MATRIX_LABELS {
        let _ = writeln!(out, "{}", top_confusions(&f.confusion, TOP_CONFUSIONS));
        return;
    }
    let _ = writeln!(out, "{}", confusion_table(f));
}

/// The confusion matrix of an enum field, skipping empty rows of labels never expected.
fn confusion_table(f: &EnumFieldReport) -> Table {
    let mut header: Vec<String> = vec!["expected \\ predicted".into()];
    header.extend(f.confusion.labels.iter().cloned());
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    for (i, label) in f.confusion.labels.iter().enumerate() {
        let row_total: u64 = f.confusion.counts[i].iter().sum();
        if row_total == 0 && i >= f.labels.len() {
            continue;
        }
        let mut row = vec![Cell::new(label)];
        row.extend(f.confusion.counts[i].iter().map(|n| {
            Cell::new(if *n == 0 {
                ".".to_string()
            } else {
                n.to_string()
            })
        }));
        t.add_row(row);
    }
    right(&mut t, 1);
    t
}

/// Tokens, cost (the model's, its judges' and its embeddings'), cache use, unmetered answers
/// and retries.
fn render_usage(out: &mut String, r: &RunReport) {
    let u = &r.usage;
    let cached = if u.input_tokens > 0 {
        u.cached_input_tokens as f64 / u.input_tokens as f64
    } else {
        0.0
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "tokens     {} in ({} cached, {}) · {} out",
        thousands(u.input_tokens),
        thousands(u.cached_input_tokens),
        pct(cached),
        thousands(u.output_tokens)
    );
    // The judges' cost and the embeddings' are apart from the model's (see the judges'
    // table and the embeddings line); the progress line showed them together, so the report
    // says each and their sum.
    let judges: f64 = r.judges.iter().map(|j| j.cost_usd).sum();
    if !r.embeddings.is_empty() {
        let embeddings: f64 = r.embeddings.iter().map(|e| e.cost_usd).sum();
        let _ = writeln!(
            out,
            "cost       {} the model ({} per case){} · {} its embeddings · {} in all",
            usd(u.cost_usd),
            usd(u.cost_per_case_usd),
            if judges > 0.0 {
                format!(" · {} its judges", usd(judges))
            } else {
                String::new()
            },
            usd(embeddings),
            usd(u.cost_usd + judges + embeddings)
        );
        render_embeddings(out, r);
    } else if judges > 0.0 {
        let _ = writeln!(
            out,
            "cost       {} the model ({} per case) · {} its judges · {} in all",
            usd(u.cost_usd),
            usd(u.cost_per_case_usd),
            usd(judges),
            usd(u.cost_usd + judges)
        );
    } else {
        let _ = writeln!(
            out,
            "cost       {} total · {} per case",
            usd(u.cost_usd),
            usd(u.cost_per_case_usd)
        );
    }
    if u.cache_hits > 0 {
        let share = u.cache_hits as f64 / u.answered.max(1) as f64;
        let _ = writeln!(
            out,
            "cache      {} of {} answers from the cache ({}) · paid {} · saved {}",
            u.cache_hits,
            u.answered,
            pct(share),
            usd(u.cost_paid_usd),
            usd(u.cost_saved_usd)
        );
    }
    if u.unmetered > 0 {
        let _ = writeln!(
            out,
            "warning    {} answers came without token usage (a stream without a usage chunk): their tokens and cost are not counted",
            u.unmetered
        );
    }
    if u.retried > 0 {
        let _ = writeln!(
            out,
            "retries    {} cases needed more than one attempt",
            u.retried
        );
    }
}

/// The embeddings line: each `similar` scorer's requests, tokens and cost.
fn render_embeddings(out: &mut String, r: &RunReport) {
    let each: Vec<String> = r
        .embeddings
        .iter()
        .map(|e| {
            format!(
                "{} with {}: {} requests · {} tokens · {}",
                e.scorer,
                e.model,
                thousands(e.calls),
                thousands(e.input_tokens),
                usd(e.cost_usd)
            )
        })
        .collect();
    let _ = writeln!(out, "embeddings {}", each.join("; "));
}

/// The latency line (and the time to the first token, when calls streamed).
fn render_latency(out: &mut String, r: &RunReport) {
    let (u, l) = (&r.usage, &r.latency);
    // Answers timed and HTTP requests are counted apart: a retried case is one answer from
    // several requests.
    let _ = writeln!(
        out,
        "latency    p50 {} · p95 {} · max {} ({} answers timed{})",
        ms(l.p50_ms),
        ms(l.p95_ms),
        ms(l.max_ms),
        l.n,
        if u.requests > l.n {
            format!(
                "; {} HTTP requests, retries included",
                thousands(u.requests)
            )
        } else {
            String::new()
        }
    );
    if l.ttft_n > 0 {
        let _ = writeln!(
            out,
            "first token p50 {} · p95 {} ({} streamed calls)",
            ms(l.ttft_p50_ms),
            ms(l.ttft_p95_ms),
            l.ttft_n
        );
    }
}

/// The failures and errors counted by kind, then the failing cases themselves.
fn render_failures(out: &mut String, r: &RunReport) {
    if !r.kinds.is_empty() {
        let mut t = table(&["status", "kind", "cases"]);
        for k in &r.kinds {
            t.add_row(vec![
                k.status.to_string(),
                k.kind.clone(),
                k.count.to_string(),
            ]);
        }
        right(&mut t, 2);
        let _ = writeln!(out, "\nfailures and errors by kind\n{t}");
    }
    if !r.failures.is_empty() {
        let mut t = table(&["case", "status", "kind", "detail"]);
        for f in &r.failures {
            t.add_row(vec![
                f.case_id.clone(),
                f.status.to_string(),
                f.kind.clone(),
                one_line(&f.message, 90),
            ]);
        }
        let shown = r.failures.len() as u64;
        let more = if r.failures_total > shown {
            format!(" (first {shown} of {})", r.failures_total)
        } else {
            String::new()
        };
        let _ = writeln!(out, "\nfailing cases{more}\n{t}");
    }
}

/// Renders a pairwise comparison.
pub fn render_pairwise(r: &PairwiseReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pairwise: candidate {} ({}) against base {} ({}), judged by {}@{} in both orders",
        r.candidate_run,
        r.candidate_model,
        r.base_run,
        r.base_model,
        r.judge,
        short(&r.judge_version)
    );
    let decided = r.wins.total;
    let _ = writeln!(
        out,
        "{} pairs, {} judged in both orders, {} judge errors\n",
        r.pairs, decided, r.judge_errors
    );
    let mut t = table(&["candidate", "cases", "share (95% CI)"]);
    for (label, p) in [("wins", &r.wins), ("ties", &r.ties), ("losses", &r.losses)] {
        t.add_row(vec![
            label.to_string(),
            p.successes.to_string(),
            proportion(p),
        ]);
    }
    right(&mut t, 1);
    let _ = writeln!(out, "{t}");
    let _ = writeln!(
        out,
        "position bias: {} (verdicts that flipped with the order; counted as ties)",
        proportion(&r.position_bias)
    );
    let _ = writeln!(
        out,
        "judge: {} calls ({} from the cache) · {} in / {} out tokens · {}",
        r.judge_calls,
        r.judge_cache_hits,
        thousands(r.judge_input_tokens),
        thousands(r.judge_output_tokens),
        usd(r.judge_cost_usd)
    );
    out
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn metric_value(name: &str, v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format_value(name, v))
}

/// Renders a diff, coloured (red −, green +) when `color`.
pub fn render_diff(lines: &[DiffLine], indent: &str, color: bool) -> String {
    let mut out = String::new();
    for l in lines {
        let (start, end) = match (color, l.op) {
            (true, '-') => ("\x1b[31m", "\x1b[0m"),
            (true, '+') => ("\x1b[32m", "\x1b[0m"),
            (true, '~') => ("\x1b[2m", "\x1b[0m"),
            _ => ("", ""),
        };
        let op = if l.op == '~' { ' ' } else { l.op };
        let _ = writeln!(out, "{indent}{start}{op} {}{end}", l.text);
    }
    out
}

/// Renders the comparison of two runs.
pub fn render_comparison(c: &Comparison, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compare: candidate {} ({}, {}@{}) against base {} ({}, {}@{})",
        c.candidate.id,
        c.candidate.model,
        c.candidate.prompt,
        short(&c.candidate.prompt_version),
        c.base.id,
        c.base.model,
        c.base.prompt,
        short(&c.base.prompt_version)
    );
    let _ = writeln!(
        out,
        "{} cases paired by id{}{}\n",
        c.paired,
        if c.only_base > 0 {
            format!(", {} only in the base", c.only_base)
        } else {
            String::new()
        },
        if c.only_candidate > 0 {
            format!(", {} only in the candidate", c.only_candidate)
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "{}", comparison_metrics(c));
    render_flips(&mut out, c, color);
    if !c.flaky.is_empty() {
        let _ = writeln!(
            out,
            "\nflaky in the candidate: {} passed some repeats and failed others:",
            plural(c.flaky.len(), "case")
        );
        for f in &c.flaky {
            let _ = writeln!(out, "  {} passed {} of {}", f.case_id, f.passes, f.repeats);
        }
    }
    render_prompt_change(&mut out, c, color);
    out
}

/// The table of metrics compared: both values, the change, its interval and its test.
fn comparison_metrics(c: &Comparison) -> Table {
    let mut t = table(&["metric", "base", "candidate", "Δ", "95% CI", "p", "test"]);
    for m in &c.metrics {
        t.add_row(vec![
            m.name.clone(),
            metric_value(&m.name, m.base),
            metric_value(&m.name, m.candidate),
            m.delta
                .map_or_else(|| "–".into(), |d| format_change(&m.name, d.delta)),
            m.delta.map_or_else(
                || "–".into(),
                |d| {
                    format!(
                        "{} to {}",
                        format_change(&m.name, d.low),
                        format_change(&m.name, d.high)
                    )
                },
            ),
            m.p_value
                .map_or_else(|| "–".into(), |p| crate::stats::format_p(p, None)),
            match m.resamples {
                Some(r) => format!("{} ({} resamples)", m.test, crate::text::thousands(r)),
                None => m.test.clone(),
            },
        ]);
    }
    right(&mut t, 1);
    t
}

/// The flip counts with McNemar's test, then each flipped case shown with its diff.
fn render_flips(out: &mut String, c: &Comparison, color: bool) {
    let _ = writeln!(
        out,
        "flips: {} pass → fail, {} fail → pass (McNemar exact {})",
        c.pass_to_fail,
        c.fail_to_pass,
        crate::stats::p_is(c.flip_p_value, None)
    );
    for f in &c.flipped {
        let arrow = f.arrow();
        let why = if f.failed.is_empty() {
            String::new()
        } else {
            format!(
                " ({} {})",
                if f.direction == "pass_to_fail" {
                    "now fails"
                } else {
                    "failed"
                },
                f.failed.join(", ")
            )
        };
        let _ = writeln!(out, "\n  {} {arrow}{why}", f.case_id);
        out.push_str(&render_diff(&f.diff, "    ", color));
    }
    let shown = c.flipped.len() as u64;
    if shown < c.pass_to_fail + c.fail_to_pass {
        let _ = writeln!(
            out,
            "\n  … and {} more flipped cases",
            c.pass_to_fail + c.fail_to_pass - shown
        );
    }
}

/// The prompt's diff when the two runs' prompts differ (or a note when the old text is gone).
fn render_prompt_change(out: &mut String, c: &Comparison, color: bool) {
    if c.base.prompt_version == c.candidate.prompt_version {
        return;
    }
    match &c.prompt_diff {
        Some(d) => {
            let _ = writeln!(
                out,
                "\nprompt {}@{} → {}@{}:",
                c.base.prompt,
                short(&c.base.prompt_version),
                c.candidate.prompt,
                short(&c.candidate.prompt_version)
            );
            out.push_str(&render_diff(d, "  ", color));
        }
        None => {
            let _ = writeln!(
                out,
                "\nthe prompt changed (@{} → @{}); its text was not stored with the older run",
                short(&c.base.prompt_version),
                short(&c.candidate.prompt_version)
            );
        }
    }
}

/// Renders the model matrix.
/// The output matrix's columns (each run's pass rate with its interval, cost and latency), how
/// far the runs agree, and the first cases whose status differs.
pub fn render_output_matrix(m: &crate::render::matrix::MatrixSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "output matrix of {} runs", m.columns.len());
    let mut t = table(&[
        "#",
        "run",
        "suite",
        "model",
        "prompt",
        "pass rate (95% CI)",
        "cost / case",
        "p50",
    ]);
    for (i, c) in m.columns.iter().enumerate() {
        t.add_row(vec![
            (i + 1).to_string(),
            c.run_id.to_string(),
            c.suite.clone(),
            c.model.clone(),
            format!("{}@{}", c.prompt, crate::hash::short(&c.prompt_version)),
            proportion(&c.pass_rate),
            usd(c.cost_per_case_usd),
            ms(c.latency_p50_ms),
        ]);
    }
    right(&mut t, 5);
    let _ = writeln!(out, "{t}");
    let a = &m.agreement;
    let _ = writeln!(
        out,
        "{} cases, {} in every run; the status differs on {}, the output on {}; some run did not pass {}",
        a.cases, a.in_every_run, a.status_differs, a.output_differs, a.any_failure
    );
    if !a.first.is_empty() {
        let mut head = vec!["case".to_string()];
        head.extend((1..=m.columns.len()).map(|i| format!("#{i}")));
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        let mut t = table(&head);
        for d in &a.first {
            let mut row = vec![d.case_id.clone()];
            row.extend(
                d.statuses
                    .iter()
                    .map(|s| s.map_or_else(|| "–".to_string(), |s| s.to_string())),
            );
            t.add_row(row);
        }
        let _ = writeln!(
            out,
            "\nthe first {} cases whose status differs (`--html FILE` shows every case side by side)",
            a.first.len()
        );
        let _ = writeln!(out, "{t}");
    }
    out
}

pub fn render_matrix(m: &ModelMatrix) -> String {
    let mut out = String::new();
    let first = m.rows.first().map(|r| r.model.as_str()).unwrap_or_default();
    let _ = writeln!(out, "model matrix of suite {}", m.suite);
    let mut t = table(&[
        "model",
        "run",
        "pass rate (95% CI)",
        "cost / case",
        "cost / 1,000 cases",
        "p50",
        "p95",
        &format!("vs {first}"),
    ]);
    for r in &m.rows {
        t.add_row(vec![
            r.model.clone(),
            r.run_id.to_string(),
            proportion(&r.pass_rate),
            usd(r.cost_per_case_usd),
            usd(r.cost_per_case_usd * 1000.0),
            ms(r.latency_p50_ms),
            ms(r.latency_p95_ms),
            r.vs_first.as_ref().map_or_else(
                || "–".into(),
                |d| {
                    format!(
                        "{} ({})",
                        d.delta
                            .map_or_else(|| "–".into(), |x| format_change(&d.name, x.delta)),
                        d.p_value
                            .map_or_else(|| "p –".into(), |p| crate::stats::p_is(p, None))
                    )
                },
            ),
        ]);
    }
    right(&mut t, 2);
    let _ = writeln!(out, "{t}");
    for n in &m.notes {
        let _ = writeln!(out, "note: {n}");
    }
    match &m.recommended {
        Some(model) => {
            let _ = writeln!(out, "recommended: {model}: {}", m.reason);
        }
        None => {
            let _ = writeln!(out, "no recommendation: {}", m.reason);
        }
    }
    out
}

/// Renders the gates of one suite and its verdict.
pub fn render_verdict(v: &SuiteVerdict) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "gate {}: {} ({})",
        v.suite,
        v.status.as_str().to_uppercase(),
        v.reason
    );
    if !v.gates.is_empty() {
        let mut t = table(&["gate", "result", "numbers"]);
        for g in &v.gates {
            t.add_row(vec![g.gate.clone(), g.status.to_string(), g.detail.clone()]);
        }
        let _ = writeln!(out, "{t}");
    }
    out
}

/// At most `n` characters on one line (line breaks become spaces).
fn one_line(s: &str, n: usize) -> String {
    crate::text::clip(&s.replace(['\n', '\r'], " "), n)
}

/// Renders a lift analysis: the three models, the lift with its interval, the ceiling share.
pub fn render_lift(r: &crate::report::LiftReport) -> String {
    let mut out = String::new();
    let classes: Vec<String> = r.classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    let _ = writeln!(
        out,
        "downstream lift of run {} ({}) on outcome `{}`",
        r.run_id, r.feature_version, r.outcome
    );
    let _ = writeln!(
        out,
        "{} cases ({}); logistic regression, α = {}, stratified {}-fold cross-validation, seed {}",
        r.cases,
        classes.join(", "),
        r.regularization,
        r.folds,
        r.seed
    );
    let base = if r.base_features.is_empty() {
        "none".to_string()
    } else {
        r.base_features.join(", ")
    };
    let _ = writeln!(out, "base features: {base}");
    let _ = writeln!(out, "LLM features:  {}", r.llm_features.join(", "));
    for (why, n) in &r.excluded {
        let _ = writeln!(out, "left out: {n} cases with {why}");
    }
    let auc_header = match &r.positive_class {
        Some(c) => format!("AUC ({} = {c})", r.outcome),
        None => "AUC (macro, one-vs-rest)".into(),
    };
    let mut t = table(&["features", &auc_header, "log loss", "accuracy"]);
    for row in &r.rows {
        t.add_row(vec![
            row.features.clone(),
            opt(row.scores.auc, 3),
            format!("{:.3}", row.scores.log_loss),
            pct(row.scores.accuracy),
        ]);
    }
    right(&mut t, 1);
    let _ = writeln!(out, "{t}");
    match &r.lift {
        Some(l) => {
            let _ = writeln!(
                out,
                "lift (AUC, base + LLM − base): {} (95% CI {} to {}, p = {:.3})",
                format_signed(l.delta),
                format_signed(l.low),
                format_signed(l.high),
                l.p_value
            );
        }
        None => {
            let _ = writeln!(out, "lift: not computable (a class has no case left)");
        }
    }
    if let Some(c) = r.ceiling_lift {
        let reach = match r.ceiling_share {
            Some(s) if s > 0.0 => format!("the LLM features reach {:.0}% of it", s * 100.0),
            Some(_) => "the LLM features reach none of it (their lift is not above zero)".into(),
            None => "there is no ceiling to reach".into(),
        };
        let _ = writeln!(
            out,
            "human-label ceiling: {} over base; {reach}",
            format_signed(c)
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// Renders the stability of features between two runs.
pub fn render_stability(r: &crate::report::StabilityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stability of features: run {} ({}) against run {} ({}), {} cases in common",
        r.run_a, r.version_a, r.run_b, r.version_b, r.paired
    );
    let mut t = table(&[
        "field",
        "compared",
        "flipped",
        "flip rate",
        "kappa",
        "mean |Δ|",
    ]);
    for f in &r.fields {
        t.add_row(vec![
            f.field.clone(),
            f.compared.to_string(),
            f.flipped.to_string(),
            f.flip_rate.map_or_else(|| "–".into(), pct),
            opt(f.kappa, 3),
            opt(f.mean_abs_change, 3),
        ]);
    }
    right(&mut t, 1);
    let _ = writeln!(out, "{t}");
    if r.flips_total > 0 {
        let _ = writeln!(out, "flipped values ({}):", r.flips_total);
        for f in &r.flips {
            let _ = writeln!(out, "  {} {}: {} → {}", f.case_id, f.field, f.a, f.b);
        }
        if r.flips_total > r.flips.len() as u64 {
            let _ = writeln!(
                out,
                "  … and {} more (`--format json` lists the first {})",
                r.flips_total - r.flips.len() as u64,
                crate::report::MAX_FLIPS_SHOWN
            );
        }
    }
    out
}

/// Renders the cost per record and the projections.
pub fn render_cost(r: &crate::report::CostReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cost of features of run {} ({}), measured on {} answers: {:.0} input and {:.0} output tokens on average",
        r.run_id, r.feature_version, r.metered, r.mean_input_tokens, r.mean_output_tokens
    );
    let mut t = table(&["", "normal price", "Batch API"]);
    t.add_row(vec![
        "per record".to_string(),
        usd(r.per_record),
        usd(r.per_record_batch),
    ]);
    t.add_row(vec![
        "per 1,000 records".to_string(),
        usd(r.per_record * 1000.0),
        usd(r.per_record_batch * 1000.0),
    ]);
    let w = &r.workload;
    if let (Some(b), Some(n)) = (&r.backfill, w.records) {
        t.add_row(vec![
            format!("backfill of {} records", thousands(n)),
            usd(b.normal),
            usd(b.batch),
        ]);
    }
    if let (Some(m), Some(d)) = (&r.refresh_per_month, w.refresh_days) {
        t.add_row(vec![
            format!("refresh every {d} days, per month"),
            usd(m.normal),
            usd(m.batch),
        ]);
    }
    if let (Some(l), Some(e)) = (r.live_per_month, w.serving_events_per_day) {
        t.add_row(vec![
            format!(
                "live on {} serving events a day, per month",
                thousands(e.round() as u64)
            ),
            usd(l),
            "–".into(),
        ]);
    }
    right(&mut t, 1);
    let _ = writeln!(out, "{t}");
    if r.usable < r.answered {
        let _ = writeln!(
            out,
            "{} of {} answers met the contract: {} per usable record",
            r.usable,
            r.answered,
            r.per_usable_record.map_or_else(|| "–".into(), usd)
        );
    }
    if let Some(v) = &r.verdict {
        let _ = writeln!(out, "{v}");
    }
    out
}

/// Renders a triage of production feedback.
pub fn render_triage(r: &crate::report::TriageReport) -> String {
    let mut out = String::new();
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let _ = writeln!(
        out,
        "{} interactions, {} with a negative signal ({}); {} negative signals{}",
        thousands(r.interactions),
        thousands(r.bad),
        pct(share(r.bad, r.interactions)),
        thousands(r.negative_signals),
        if r.orphan_signals > 0 {
            format!(
                "; {} signals about interactions not stored",
                thousands(r.orphan_signals)
            )
        } else {
            String::new()
        }
    );
    if r.bad_in_golden > 0 {
        let _ = writeln!(
            out,
            "{} bad interactions have an input already in golden",
            r.bad_in_golden
        );
    }
    if !r.groups.is_empty() {
        let _ = writeln!(
            out,
            "\nnegative signals by prompt version, model and signal"
        );
        let mut t = table(&[
            "prompt",
            "version",
            "model",
            "signal",
            "signals",
            "interactions",
        ]);
        for g in r.groups.iter().take(15) {
            t.add_row(vec![
                g.prompt.clone(),
                crate::text::clip(&g.prompt_version, 12),
                g.model.clone(),
                g.signal.clone(),
                g.signals.to_string(),
                g.interactions.to_string(),
            ]);
        }
        right(&mut t, 4);
        let _ = writeln!(out, "{t}");
    }
    if !r.conditions.is_empty() {
        let _ = writeln!(out, "\nwhat comes with bad answers");
        for c in &r.conditions {
            let _ = writeln!(
                out,
                "  {} of bad answers follow a {} (against {} of the others)",
                pct(c.bad_share),
                c.name,
                pct(c.other_share)
            );
        }
    }
    render_clusters(&mut out, "bad answers by signal kind", &r.by_kind);
    render_clusters(&mut out, "by tag", &r.by_tag);
    let shown: Vec<_> = r.by_text.iter().take(10).cloned().collect();
    render_clusters(
        &mut out,
        "by similar inputs (TF-IDF cosine); promote one with `evalgate feedback promote --cluster N --to golden/NAME.jsonl`",
        &shown,
    );
    if r.by_text.len() > shown.len() {
        let _ = writeln!(
            out,
            "… and {} more text clusters with bad answers (`--format json` lists them)",
            r.by_text.len() - shown.len()
        );
    }
    out
}

/// A table of feedback clusters under its title (nothing when there are none).
fn render_clusters(out: &mut String, title: &str, clusters: &[crate::report::Cluster]) {
    if clusters.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    let mut t = table(&[
        "#",
        "cluster",
        "interactions",
        "bad",
        "bad share",
        "with it",
        "in golden",
        "examples",
    ]);
    for c in clusters {
        t.add_row(vec![
            c.id.to_string(),
            crate::text::clip(&c.label, 40),
            c.interactions.to_string(),
            c.bad.to_string(),
            pct(c.bad_share),
            c.top_condition
                .as_ref()
                .map_or_else(|| "–".into(), |(n, s)| format!("{} {n}", pct(*s))),
            c.in_golden.to_string(),
            c.examples.join(" "),
        ]);
    }
    right(&mut t, 2);
    let _ = writeln!(out, "{t}");
}

/// Renders how a golden dataset grew.
pub fn render_growth(g: &crate::report::Growth) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "golden/{}.jsonl: {} cases",
        g.dataset,
        thousands(g.cases)
    );
    let mut header: Vec<&str> = vec!["month"];
    header.extend(g.kinds.iter().map(String::as_str));
    header.push("added");
    header.push("total");
    let mut t = table(&header);
    let mut total = 0u64;
    for (month, counts) in &g.months {
        let added: u64 = counts.iter().sum();
        total += added;
        let mut row = vec![month.clone()];
        row.extend(counts.iter().map(|n| n.to_string()));
        row.push(added.to_string());
        row.push(total.to_string());
        t.add_row(row);
    }
    right(&mut t, 1);
    let _ = writeln!(out, "{t}");
    if g.needs_label > 0 {
        let _ = writeln!(
            out,
            "{} cases wait for a human label (needs_label)",
            g.needs_label
        );
    }
    out
}

/// Renders a suite's history.
pub fn render_history(h: &crate::report::History) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "history of suite {} ({} runs, oldest first)",
        h.suite,
        h.rows.len()
    );
    let mut t = table(&[
        "run",
        "started",
        "prompt",
        "commit",
        "model",
        "status",
        "pass rate (95% CI)",
        "cost / case",
        "p95",
        "vs previous version",
    ]);
    for r in &h.rows {
        t.add_row(vec![
            r.run_id.to_string(),
            crate::text::clip(&r.started_at, 16)
                .trim_end_matches('…')
                .replace('T', " "),
            format!("{}@{}", r.prompt, short(&r.prompt_version)),
            r.git_commit.clone().unwrap_or_else(|| "–".into()),
            r.model.clone(),
            r.status.to_string(),
            proportion(&r.pass_rate),
            usd(r.cost_per_case_usd),
            ms(r.latency_p95_ms),
            r.vs_previous.map_or_else(
                || "–".into(),
                |(d, p)| format!("{} (p = {p:.3})", format_change("pass_rate", d)),
            ),
        ]);
    }
    let _ = writeln!(out, "{t}");
    for g in &h.regressions {
        let _ = writeln!(
            out,
            "worse: {}@{} (run {}, model {}) lowered the pass rate by {} (p = {:.3}); the last good version is {}@{} (run {}{})",
            g.prompt,
            short(&g.version),
            g.run_id,
            g.model,
            format_change("pass_rate", -g.pass_rate_change).trim_start_matches('+'),
            g.p_value,
            g.prompt,
            short(&g.last_good_version),
            g.last_good_run,
            g.last_good_commit
                .as_ref()
                .map(|c| format!(
                    ", commit {c}: `git checkout {} -- prompts/{}.yaml` restores it",
                    c.trim_end_matches("-dirty"),
                    g.prompt
                ))
                .unwrap_or_default()
        );
    }
    if h.regressions.is_empty() && h.rows.len() > 1 {
        let _ = writeln!(
            out,
            "no prompt change made the pass rate significantly worse"
        );
    }
    out
}

/// Renders the versions of a prompt with their diffs.
pub fn render_prompt_log(
    name: &str,
    versions: &[crate::report::PromptVersion],
    color: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "prompt {name}: {} versions, oldest first",
        versions.len()
    );
    for v in versions {
        let _ = writeln!(
            out,
            "\n{name}@{}{}{}",
            short(&v.version),
            v.first_run_at
                .as_ref()
                .map(|t| format!("  first run {}", t.replace('T', " ")))
                .unwrap_or_else(|| "  never run".into()),
            if v.current { "  (current)" } else { "" }
        );
        for (id, suite, model, commit) in &v.runs {
            let _ = writeln!(
                out,
                "  run {id}  suite {suite}  model {model}{}",
                commit
                    .as_ref()
                    .map(|c| format!("  commit {c}"))
                    .unwrap_or_default()
            );
        }
        if !v.diff.is_empty() {
            out.push_str(&render_diff(&v.diff, "  ", color));
        }
    }
    out
}

/// Renders judge–human agreement.
pub fn render_calibration(c: &crate::report::Calibration) -> String {
    let mut out = String::new();
    for j in &c.judges {
        let _ = writeln!(
            out,
            "judge {}@{}: {} items reviewed ({} skipped), agreement {}, Cohen's kappa {}",
            j.judge,
            short(&j.judge_version),
            j.reviewed,
            j.skipped,
            pct(j.agreement),
            j.kappa.map_or_else(
                || "n/a (one verdict only)".into(),
                |k| format!("{:.3} (95% CI {:.3} to {:.3})", k.delta, k.low, k.high)
            )
        );
        let mut t = table(&["human ↓ / judge →", "pass", "fail"]);
        for (i, label) in j.confusion.labels.iter().enumerate() {
            let mut row = vec![label.clone()];
            row.extend(j.confusion.counts[i].iter().map(|n| n.to_string()));
            t.add_row(row);
        }
        right(&mut t, 1);
        let _ = writeln!(out, "{t}");
        if let Some(verdict) = &j.constant_verdict {
            let _ = writeln!(
                out,
                "the judge said {verdict} on every reviewed item: kappa is 0 however people answer, and the agreement only counts how often they said {verdict} too"
            );
        }
        let mut t = table(&["week", "reviewed", "agreement", "kappa"]);
        for w in &j.weeks {
            t.add_row(vec![
                w.week.clone(),
                w.reviewed.to_string(),
                pct(w.agreement),
                opt(w.kappa, 3),
            ]);
        }
        right(&mut t, 1);
        let _ = writeln!(out, "trend by ISO week\n{t}");
        if !j.disagreements.is_empty() {
            let _ = writeln!(out, "disagreements ({}):", j.disagreements.len());
            for d in &j.disagreements {
                let _ = writeln!(
                    out,
                    "  {} (run {}): judge {}, {} says {}{}{}",
                    d.case_id,
                    d.run_id,
                    d.judge_verdict,
                    d.reviewer,
                    d.human_verdict,
                    d.note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default(),
                    d.judge_reason
                        .as_ref()
                        .map(|r| format!("; judge's reason: {}", crate::text::clip(r, 120)))
                        .unwrap_or_default()
                );
            }
        }
        out.push('\n');
    }
    out
}

pub fn render_cascade(r: &crate::report::CascadeReport) -> String {
    let mut out = String::new();
    let f = &r.frontier;
    let _ = writeln!(
        out,
        "cascade {}: answer `{}`, {} cases, target {:.0}% of the top tier's accuracy",
        r.suite,
        r.field,
        r.cases,
        f.target * 100.0
    );
    let _ = writeln!(out, "{}", cascade_tiers(r));
    let mut t = table(&[
        "thresholds",
        "answered by tier",
        "accuracy (95% CI)",
        "retained",
        "$ / 1,000 cases",
        "cost share",
        "latency p50 / p95",
    ]);
    for p in &f.frontier {
        t.add_row(cascade_point_row(r, p));
    }
    right(&mut t, 1);
    let _ = writeln!(
        out,
        "frontier: {} of {} operating points are not beaten on both cost and accuracy",
        f.frontier.len(),
        thousands(f.explored as u64)
    );
    let _ = writeln!(out, "{t}");
    render_cascade_choices(&mut out, r);
    out
}

/// The table of the cascade's tiers: model, accuracy, cost, latency and confidence.
fn cascade_tiers(r: &crate::report::CascadeReport) -> Table {
    let mut t = table(&[
        "tier",
        "model",
        "confidence",
        "usable",
        "accuracy (95% CI)",
        "$ / 1,000 cases",
        "p50",
        "confidence right / wrong",
    ]);
    for (k, tier) in r.tiers.iter().enumerate() {
        t.add_row(vec![
            (k + 1).to_string(),
            tier.model.clone(),
            tier.confidence.clone(),
            pct(tier.usable),
            format!(
                "{} ({}–{})",
                pct(tier.accuracy),
                pct(tier.accuracy_low),
                pct(tier.accuracy_high)
            ),
            usd(tier.cost_per_1k),
            ms(Some(tier.latency_p50_ms)),
            if k + 1 == r.tiers.len() {
                "–".into()
            } else {
                format!(
                    "{} / {}",
                    opt(tier.confidence_right, 2),
                    opt(tier.confidence_wrong, 2)
                )
            },
        ]);
    }
    right(&mut t, 3);
    t
}

/// One operating point of the frontier as a row of its table.
fn cascade_point_row(r: &crate::report::CascadeReport, p: &crate::report::Point) -> Vec<String> {
    vec![
        crate::report::cascade_thresholds(r, p),
        p.answered
            .iter()
            .map(|a| format!("{:.0}%", a * 100.0))
            .collect::<Vec<_>>()
            .join(" · "),
        format!(
            "{} ({}–{})",
            pct(p.accuracy),
            pct(p.accuracy_low),
            pct(p.accuracy_high)
        ),
        pct(p.quality_retained),
        usd(p.cost_per_1k),
        pct(p.cost_share),
        format!("{:.0} / {:.0} ms", p.latency_p50_ms, p.latency_p95_ms),
    ]
}

/// The top tier alone, the notes, the recommended operating point and the pinned one.
fn render_cascade_choices(out: &mut String, r: &crate::report::CascadeReport) {
    let f = &r.frontier;
    let top = r.tiers.last().map_or("the top tier", |t| t.model.as_str());
    let _ = writeln!(
        out,
        "always {top}: accuracy {} at {} per 1,000 cases",
        pct(f.top.accuracy),
        usd(f.top.cost_per_1k)
    );
    // The notes first: a weak top tier changes how every "keeps N%" below reads.
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    match &f.recommended {
        Some(p) => {
            let _ = writeln!(
                out,
                "recommended for ≥ {:.0}% of {top}'s accuracy at the lowest cost: {}, which {} ({} per 1,000 cases, accuracy {})",
                f.target * 100.0,
                crate::report::cascade_thresholds(r, p),
                crate::report::cascade_sentence(p),
                usd(p.cost_per_1k),
                pct(p.accuracy)
            );
            if let Some(v) = &r.recommended_vs_top {
                let _ = writeln!(out, "  {}", crate::report::cascade_claim(v, f.target));
            }
        }
        None => {
            let _ = writeln!(out, "no operating point reaches the target");
        }
    }
    if let Some(p) = &r.pinned {
        let _ = writeln!(
            out,
            "the suite's pinned thresholds ({}) {} ({} per 1,000 cases, accuracy {})",
            crate::report::cascade_thresholds(r, p),
            crate::report::cascade_sentence(p),
            usd(p.cost_per_1k),
            pct(p.accuracy)
        );
        if let Some(v) = &r.pinned_vs_top {
            let _ = writeln!(out, "  {}", crate::report::cascade_claim(v, f.target));
        }
    }
}

/// Past this many labels the terminal shows the top confusions instead of the matrix.
const MAX_MATRIX_LABELS: usize = 12;

/// How many confusions that list shows.
const TOP_CONFUSIONS: usize = 15;

/// The most frequent (expected, predicted) pairs that differ, as a list.
fn top_confusions(c: &crate::stats::Confusion, n: usize) -> String {
    let mut pairs: Vec<(u64, usize, usize)> = Vec::new();
    for (i, row) in c.counts.iter().enumerate() {
        for (j, k) in row.iter().enumerate() {
            if i != j && *k > 0 {
                pairs.push((*k, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let wrong: u64 = pairs.iter().map(|p| p.0).sum();
    let mut out = format!(
        "{} labels: the confusion matrix is in the JSON and HTML reports; the {} most frequent confusions of {wrong} wrong answers:",
        c.labels.len(),
        n.min(pairs.len())
    );
    for (k, i, j) in pairs.iter().take(n) {
        let _ = write!(
            out,
            "\n  {k:>5}  expected {} → predicted {}",
            c.labels[*i], c.labels[*j]
        );
    }
    if pairs.len() > n {
        let rest: u64 = pairs[n..].iter().map(|p| p.0).sum();
        let _ = write!(
            out,
            "\n  and {rest} more in {} other pairs",
            pairs.len() - n
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_labels_give_a_list_of_confusions_not_a_wide_matrix() {
        let labels: Vec<String> = (0..150).map(|i| format!("intent_{i:03}")).collect();
        let pairs: Vec<(String, String)> = (0..600)
            .map(|k| {
                let e = k % 150;
                let p = if k % 4 == 0 { (e + 1) % 150 } else { e };
                (labels[e].clone(), labels[p].clone())
            })
            .collect();
        let c = crate::stats::Confusion::from_pairs(
            &labels,
            pairs.iter().map(|(e, p)| (e.as_str(), p.as_str())),
        );
        let text = top_confusions(&c, 15);
        assert!(text.lines().all(|l| l.chars().count() < 200), "{text}");
        assert_eq!(text.lines().count(), 17, "{text}");
        assert!(
            text.contains("the 15 most frequent confusions of 150 wrong answers"),
            "{text}"
        );
        assert!(
            text.contains("expected intent_000 → predicted intent_001"),
            "{text}"
        );
        assert!(text.ends_with("and 120 more in 60 other pairs"), "{text}");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(0.000123), "$0.000123");
        assert_eq!(usd(1.5), "$1.5000");
    }
}
