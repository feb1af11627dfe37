//! The HTML pages: the report of a run or of a comparison of two runs, the run list, a
//! suite's history, the cascade, and the review and login pages of `serve`.
//!
//! Every page comes from a minijinja template in `templates/` (compiled into the binary), and
//! minijinja's auto-escaping does all the escaping: model outputs may contain HTML or script.
//! This module only turns the report model into what the templates draw (chart geometry,
//! table rows). Pages are self-contained (inline CSS, inline SVG charts, a little plain
//! JavaScript; no network, no external asset) and well-formed XML (scripts in CDATA sections),
//! so that a test can parse them. The per-case table is drawn by the script from an embedded
//! JSON array, a page of 100 rows at a time, so that a run of 10,000 cases stays light.
//!
//! Line breaks and indentation in the templates are layout only: the lines are joined before
//! they are compiled, so a template can be indented like the page it makes while the page
//! stays byte for byte what it was; a newline the page needs is written `{{ "\n" }}`.

use super::cases::{self, CaseColumns};
use crate::status::Outcome;
use minijinja::value::Value as Jinja;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::OnceLock;

use crate::report::{
    CascadeReport, CaseEntry, Comparison, GateResult, History, Point, ReviewAnswer, ReviewItem,
    RunFile, RunListing, RunReport, cascade_claim, cascade_sentence, cascade_thresholds,
    format_change, format_value,
};

/// A page that could not be drawn: a template of ours is wrong (the tests render each).
#[derive(Debug, thiserror::Error)]
#[error("cannot render the page `{template}`: {message}")]
pub struct RenderError {
    pub template: &'static str,
    pub message: String,
}

/// The templates, by name; `.html` and `.svg` are auto-escaped.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("run.html", include_str!("../../templates/run.html")),
    ("compare.html", include_str!("../../templates/compare.html")),
    ("runs.html", include_str!("../../templates/runs.html")),
    ("history.html", include_str!("../../templates/history.html")),
    ("login.html", include_str!("../../templates/login.html")),
    (
        "review_item.html",
        include_str!("../../templates/review_item.html"),
    ),
    (
        "review_reveal.html",
        include_str!("../../templates/review_reveal.html"),
    ),
    (
        "review_done.html",
        include_str!("../../templates/review_done.html"),
    ),
    (
        "review_index.html",
        include_str!("../../templates/review_index.html"),
    ),
    ("cascade.html", include_str!("../../templates/cascade.html")),
    ("matrix.html", include_str!("../../templates/matrix.html")),
    ("cascade.svg", include_str!("../../templates/cascade.svg")),
];

/// The pages' style and scripts, inserted as they are (not templates).
const CSS: &str = include_str!("../../templates/report.css");
const REPORT_JS: &str = include_str!("../../templates/report.js");
const REVIEW_JS: &str = include_str!("../../templates/review.js");
const MATRIX_JS: &str = include_str!("../../templates/matrix.js");
const UNPACK_JS: &str = include_str!("../../templates/unpack.js");

/// A template's lines joined, each without its indentation (see the module's comment).
fn layout(source: &str) -> String {
    source.lines().map(str::trim_start).collect()
}

/// Characters XML does not allow become U+FFFD before minijinja escapes the text.
fn xml_safe(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &Jinja,
) -> Result<(), minijinja::Error> {
    let bad = |c: char| (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t');
    if !value.is_safe()
        && let Some(s) = value.as_str()
        && s.chars().any(bad)
    {
        let clean: String = s
            .chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect();
        return minijinja::escape_formatter(out, state, &Jinja::from(clean));
    }
    minijinja::escape_formatter(out, state, value)
}

/// Dollars with as many decimals as a small amount needs (trailing zeros dropped).
fn money(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let text = if x < 0.01 {
        format!("{x:.6}")
    } else if x < 10.0 {
        format!("{x:.4}")
    } else {
        return format!("{x:.0}");
    };
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") || name.ends_with(".svg") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(xml_safe);
    env.add_global("css", Jinja::from_safe_string(CSS.into()));
    env.add_global("report_js", Jinja::from_safe_string(REPORT_JS.into()));
    env.add_global("review_js", Jinja::from_safe_string(REVIEW_JS.into()));
    env.add_global("matrix_js", Jinja::from_safe_string(MATRIX_JS.into()));
    env.add_global("unpack_js", Jinja::from_safe_string(UNPACK_JS.into()));
    // Numbers: None is shown as a dash.
    env.add_filter("pct", pct);
    env.add_filter("value", |x: Option<f64>, metric: &str| {
        x.map_or_else(|| "–".into(), |v| format_value(metric, v))
    });
    env.add_filter("change", |x: f64, metric: &str| format_change(metric, x));
    env.add_filter("fixed", |x: Option<f64>, digits: usize| {
        x.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
    });
    env.add_filter("ms", |x: Option<f64>| {
        x.map_or_else(|| "–".into(), |v| format!("{v:.0} ms"))
    });
    env.add_filter("money", money);
    env.add_filter("short", |s: &str| crate::hash::short(s).to_string());
    for (name, source) in TEMPLATES {
        env.add_template_owned(*name, layout(source))?;
    }
    Ok(env)
}

/// The templates, compiled once per process.
fn render(template: &'static str, ctx: Jinja) -> Result<String, RenderError> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    let fail = |message: String| RenderError { template, message };
    let env = ENV
        .get_or_init(|| environment().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| fail(e.clone()))?;
    env.get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| fail(format!("{e:#}")))
}

fn pct(x: f64) -> String {
    format_value("pass_rate", x)
}

/// The case table: its filters' options, and the rows as script data (inserted as they are).
fn table(r: &RunReport, columns: &CaseColumns) -> Jinja {
    let labels: Vec<Value> = r
        .enum_fields
        .iter()
        .flat_map(|f| {
            f.confusion
                .labels
                .iter()
                .filter(|l| l.as_str() != "(none)")
                .map(|l| json!({"field": f.field, "label": l}))
        })
        .collect();
    minijinja::context! {
        tags => columns.all_tags(),
        labels => Jinja::from_serialize(labels),
        comparison => columns.base.is_some(),
        clipped => (columns.clip < super::cases::MAX_CLIP).then_some(columns.clip),
        rows => Jinja::from_safe_string(columns.packed()),
    }
}

/// A confusion matrix with more labels than this is drawn as a picture of its non-empty
/// cells, so that the page grows with the cases, not with the labels squared.
const FULL_MATRIX_LABELS: usize = 30;

/// The confusion matrices as heat maps: the share of the largest count is the opacity. Up to
/// [`FULL_MATRIX_LABELS`] labels, a table of every cell; above, an SVG of the non-empty cells
/// (each with its labels and count as a tooltip) and the 20 most frequent confusions.
fn confusion(r: &RunReport) -> Value {
    let matrices: Vec<Value> = r
        .enum_fields
        .iter()
        .map(|f| {
            let c = &f.confusion;
            let max = c.counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
            if c.labels.len() > FULL_MATRIX_LABELS {
                return sparse_confusion(&f.field, c, max);
            }
            let rows: Vec<Value> = c
                .counts
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    let cells: Vec<Value> = row
                        .iter()
                        .enumerate()
                        .map(|(j, n)| json!({"n": n, "diagonal": i == j, "alpha": *n as f64 / max}))
                        .collect();
                    json!({"label": c.labels[i], "cells": cells})
                })
                .collect();
            json!({"field": f.field, "labels": c.labels, "rows": rows})
        })
        .collect();
    Value::Array(matrices)
}

fn sparse_confusion(field: &str, c: &crate::stats::Confusion, max: f64) -> Value {
    let k = c.labels.len();
    let cell = (600 / k).clamp(2, 12);
    let mut cells = Vec::new();
    let mut confusions = Vec::new();
    for (i, row) in c.counts.iter().enumerate() {
        let expected_total: u64 = row.iter().sum();
        for (j, &n) in row.iter().enumerate().filter(|(_, n)| **n > 0) {
            cells.push(json!({
                "x": j * cell, "y": i * cell, "diagonal": i == j,
                // A single case stays visible beside a diagonal of thousands.
                "alpha": (n as f64 / max).max(0.15),
                "title": format!("{} → {}: {n}", c.labels[i], c.labels[j]),
            }));
            if i != j {
                confusions.push((n, expected_total, i, j));
            }
        }
    }
    confusions.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)));
    let top: Vec<Value> = confusions
        .iter()
        .take(20)
        .map(|&(n, total, i, j)| {
            json!({"expected": c.labels[i], "predicted": c.labels[j], "n": n, "share": n as f64 / total as f64})
        })
        .collect();
    json!({
        "field": field, "labels": c.labels, "size": k * cell, "cell": cell,
        "cells": cells, "top": top,
    })
}

/// A histogram of `values` in a 320 × 120 plot: 20 bars and the range's ends.
fn histogram(title: &str, values: &[f64], label: impl Fn(f64) -> String) -> Value {
    let (w, h, bins) = (320.0, 120.0, 20usize);
    if values.is_empty() {
        return json!({"title": title, "bars": []});
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let mut counts = vec![0usize; bins];
    for v in values {
        let b = (((v - lo) / span) * bins as f64) as usize;
        counts[b.min(bins - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bw = w / bins as f64;
    let bars: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let bh = *n as f64 / max * (h - 10.0);
            json!({"x": i as f64 * bw + 1.0, "y": h - bh, "width": bw - 2.0, "height": bh, "n": n})
        })
        .collect();
    json!({"title": title, "bars": bars, "low": label(lo), "high": label(hi)})
}

fn histograms(columns: &CaseColumns) -> Value {
    let (latencies, costs) = columns.latencies_and_costs();
    json!([
        histogram("latency per case", &latencies, |v| format!("{v:.0} ms")),
        histogram("cost per case", &costs, |v| format!("${v:.6}")),
    ])
}

/// The page of one run (with the gates evaluated on it, if any).
pub fn render_run(run: &RunFile, gate_results: &[GateResult]) -> Result<String, RenderError> {
    let columns = cases::run_columns(&run.report, run.cases.iter().map(Ok::<_, Infallible>))
        .unwrap_or_else(|e| match e {});
    render_run_page(&run.report, gate_results, &columns)
}

/// The page of one run from its report and its cases' columns (`cases::run_columns`, which
/// reads the cases once, in any order).
pub fn render_run_page(
    r: &RunReport,
    gate_results: &[GateResult],
    columns: &CaseColumns,
) -> Result<String, RenderError> {
    render(
        "run.html",
        minijinja::context! {
            title => format!("evalgate run {} · {}", r.run.id, r.run.suite),
            r => Jinja::from_serialize(r),
            gates => Jinja::from_serialize(gate_results),
            confusion => Jinja::from_serialize(confusion(r)),
            histograms => Jinja::from_serialize(histograms(columns)),
            table => table(r, columns),
        },
    )
}

/// Word-level diff of two texts: the removed words, the added ones and the rest, in order.
fn word_diff(a: &str, b: &str) -> Vec<Value> {
    similar::TextDiff::from_words(a, b)
        .iter_all_changes()
        .map(|change| {
            let op = match change.tag() {
                similar::ChangeTag::Delete => "delete",
                similar::ChangeTag::Insert => "insert",
                similar::ChangeTag::Equal => "equal",
            };
            json!({"op": op, "text": change.value()})
        })
        .collect()
}

fn pretty(c: Option<&CaseEntry>) -> String {
    let Some(c) = c else {
        return "(not in this run)".into();
    };
    match (&c.parsed, &c.output) {
        (Some(p), _) => serde_json::to_string_pretty(p).unwrap_or_default(),
        (None, Some(o)) => o.clone(),
        (None, None) => format!(
            "({}: {})",
            c.kind.map_or("error", |k| k.as_str()),
            c.message.as_deref().unwrap_or("no answer")
        ),
    }
}

/// The scores of a case that did not pass, with why.
fn reasons(c: Option<&CaseEntry>) -> Vec<Value> {
    c.map(|c| {
        c.scores
            .iter()
            .filter(|s| s.outcome != Outcome::Pass)
            .map(|s| json!({"scorer": s.scorer, "outcome": s.outcome, "detail": s.detail.as_deref().unwrap_or("")}))
            .collect()
    })
    .unwrap_or_default()
}

/// The page of a comparison of two runs held whole.
pub fn render_comparison(
    base: &RunFile,
    cand: &RunFile,
    c: &Comparison,
    gate_results: &[GateResult],
) -> Result<String, RenderError> {
    // The cases in id order, as `compared_columns` reads them.
    fn sorted(run: &RunFile) -> Vec<&CaseEntry> {
        let mut cases: Vec<&CaseEntry> = run.cases.iter().collect();
        cases.sort_by(|a, b| a.id.cmp(&b.id).then(a.repeat.cmp(&b.repeat)));
        cases
    }
    let wanted: HashSet<&str> = c.flipped.iter().map(|f| f.case_id.as_str()).collect();
    let data = cases::compared_columns(
        &cand.report,
        sorted(base).into_iter().map(Ok::<_, Infallible>),
        sorted(cand).into_iter().map(Ok::<_, Infallible>),
        &wanted,
    )
    .unwrap_or_else(|e| match e {});
    render_comparison_page(c, &cand.report, gate_results, &data)
}

/// The page of a comparison: the flipped cases first, with both outputs side by side and a
/// word-level diff, then the metrics, the prompt diff and the candidate's cases
/// (`cases::compared_columns`, which reads both runs once, in case id order).
pub fn render_comparison_page(
    c: &Comparison,
    candidate: &RunReport,
    gate_results: &[GateResult],
    data: &cases::Compared,
) -> Result<String, RenderError> {
    let flips: Vec<Value> = c
        .flipped
        .iter()
        .map(|f| {
            let b = data.base.get(&f.case_id);
            let k = data.candidate.get(&f.case_id);
            let vars = k
                .or(b)
                .map(|x| serde_json::to_string_pretty(&x.vars).unwrap_or_default())
                .unwrap_or_default();
            let (bt, kt) = (pretty(b), pretty(k));
            json!({
                "id": f.case_id,
                "class": if f.direction == "pass_to_fail" { "fail" } else { "pass" },
                "arrow": f.arrow(),
                "failed": f.failed.join(", "),
                "vars": vars,
                "base_reasons": reasons(b),
                "candidate_reasons": reasons(k),
                "diff": word_diff(&bt, &kt),
                "base": bt,
                "candidate": kt,
            })
        })
        .collect();
    render(
        "compare.html",
        minijinja::context! {
            title => format!("evalgate compare {} → {}", c.base.id, c.candidate.id),
            c => Jinja::from_serialize(c),
            candidate => Jinja::from_serialize(candidate),
            gates => Jinja::from_serialize(gate_results),
            flips => Jinja::from_serialize(flips),
            confusion => Jinja::from_serialize(confusion(candidate)),
            histograms => Jinja::from_serialize(histograms(&data.columns)),
            table => table(candidate, &data.columns),
        },
    )
}

/// The output matrix of several runs (`matrix::matrix_columns`): their pass rates with
/// intervals, cost and latency, then every case a row and every run a column. `links`: the
/// run ids link to the server's run pages.
pub fn render_matrix(
    reports: &[RunReport],
    m: &super::matrix::MatrixColumns,
    links: bool,
) -> Result<String, RenderError> {
    let names: Vec<String> = reports
        .iter()
        .map(|r| {
            format!(
                "{}@{}",
                r.run.model,
                crate::hash::short(&r.run.prompt_version)
            )
        })
        .collect();
    render(
        "matrix.html",
        minijinja::context! {
            title => format!("evalgate matrix · {}", names.join(" · ")),
            columns => Jinja::from_serialize(reports),
            a => Jinja::from_serialize(m.agreement(0)),
            labels => m.all_labels(),
            links => links,
            clipped => (m.clip < super::cases::MAX_CLIP).then_some(m.clip),
            data => Jinja::from_safe_string(m.packed()),
        },
    )
}

/// The list of stored runs, newest first, each linking to its page, its suite's history and
/// the comparison with the suite's previous run. `q` is appended to every link.
pub fn render_runs(runs: &[RunListing], q: &str) -> Result<String, RenderError> {
    let rows: Vec<Value> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let previous = runs[i + 1..].iter().find(|p| p.suite == r.suite);
            let mut row = json!(r);
            row["previous"] = json!(previous.map(|p| &p.id));
            row
        })
        .collect();
    render(
        "runs.html",
        minijinja::context! { title => "evalgate runs", runs => Jinja::from_serialize(rows), q => q },
    )
}

/// A suite's history: the pass rate of each run with its interval as a trend chart (760 ×
/// 200, 30 of padding), then the table, and the prompt versions that made things worse.
/// `links`: the query string of links to the server's pages (a token, or empty), or None for
/// a standalone file without links.
pub fn render_history(h: &History, links: Option<&str>) -> Result<String, RenderError> {
    let (w, ht, pad) = (760.0, 200.0, 30.0);
    let n = h.rows.len().max(1) as f64;
    let x = |i: usize| pad + (w - 2.0 * pad) * if n > 1.0 { i as f64 / (n - 1.0) } else { 0.5 };
    let y = |v: f64| ht - pad - v * (ht - 2.0 * pad);
    let points: Vec<String> = h
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(r.pass_rate.rate)))
        .collect();
    let runs: Vec<Value> = h
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let worse = h.regressions.iter().any(|g| g.run_id == r.run_id);
            json!({
                "x": x(i),
                "low": y(r.pass_rate.low),
                "high": y(r.pass_rate.high),
                "y": y(r.pass_rate.rate),
                "color": if worse { "#b42318" } else { "#5b7bd5" },
                "title": format!(
                    "{} {}@{}: {}",
                    r.run_id,
                    r.prompt,
                    crate::hash::short(&r.prompt_version),
                    pct(r.pass_rate.rate)
                ),
            })
        })
        .collect();
    render(
        "history.html",
        minijinja::context! {
            title => format!("evalgate history · {}", h.suite),
            h => Jinja::from_serialize(h),
            chart => minijinja::context! { points => points.join(" "), runs => Jinja::from_serialize(runs) },
            links => links.is_some(),
            q => links.unwrap_or(""),
        },
    )
}

/// One review item, blind: the input, the output, the expected values and the rubric, a form
/// to answer pass / fail / skip with a note; no judge verdict. Keys: p, f, s.
pub struct ReviewView<'a> {
    pub batch: &'a str,
    pub item: &'a ReviewItem,
    pub position: usize,
    pub total: usize,
    pub labelled: usize,
    pub vars: &'a Value,
    pub output: &'a str,
    pub expected: &'a Value,
    pub rubric: &'a str,
    /// The CSRF token the form carries (the browser's `evalgate_csrf` cookie).
    pub csrf: &'a str,
    /// Why the last answer was not taken.
    pub problem: Option<&'a str>,
}

/// The login page of a server with a token: the token, once, for a session cookie, then the
/// page asked for (`next`).
pub fn render_login(next: &str, csrf: &str, problem: Option<&str>) -> Result<String, RenderError> {
    render(
        "login.html",
        minijinja::context! { title => "evalgate · log in", next => next, csrf => csrf, problem => problem },
    )
}

pub fn render_review_item(v: &ReviewView<'_>) -> Result<String, RenderError> {
    render(
        "review_item.html",
        minijinja::context! {
            title => format!("evalgate review {}", v.batch),
            batch => v.batch,
            item => Jinja::from_serialize(v.item),
            position => v.position,
            total => v.total,
            labelled => v.labelled,
            vars => serde_json::to_string_pretty(v.vars).unwrap_or_default(),
            output => v.output,
            expected => serde_json::to_string_pretty(v.expected).unwrap_or_default(),
            rubric => v.rubric,
            csrf => v.csrf,
            problem => v.problem,
        },
    )
}

/// After an answer: the judge's verdict and reason (or, for a case that needed a label, what
/// went to the golden file), and the way on (key n).
pub fn render_review_reveal(
    batch: &str,
    item: &ReviewItem,
    answer: &ReviewAnswer,
    next: Option<i64>,
    query: &str,
) -> Result<String, RenderError> {
    render(
        "review_reveal.html",
        minijinja::context! {
            title => format!("evalgate review {batch}"),
            batch => batch,
            item => Jinja::from_serialize(item),
            answer => Jinja::from_serialize(answer),
            next => next,
            query => query.replacen('?', "&", 1),
        },
    )
}

/// A batch with every item labelled.
pub fn render_review_reveal_done(batch: &str, n: usize) -> Result<String, RenderError> {
    render(
        "review_done.html",
        minijinja::context! { title => format!("evalgate review {batch}"), batch => batch, n => n },
    )
}

/// The review home: the batches with their progress, and the weekly kappa of each judge,
/// charted in 480 × 140 from -1 (bottom) to 1 (top).
pub fn render_review_index(
    batches: &[(String, usize, usize)],
    calibration: &crate::report::Calibration,
    query: &str,
) -> Result<String, RenderError> {
    #[derive(Serialize)]
    struct Batch<'a> {
        batch: &'a str,
        items: usize,
        labelled: usize,
    }
    let (w, h, pad, padx) = (480.0, 140.0, 24.0, 48.0);
    let judges: Vec<Value> = calibration
        .judges
        .iter()
        .map(|j| {
            let n = j.weeks.len().max(1) as f64;
            let x = |i: usize| {
                padx + (w - 2.0 * padx) * if n > 1.0 { i as f64 / (n - 1.0) } else { 0.5 }
            };
            let y = |k: f64| h - pad - (k + 1.0) / 2.0 * (h - 2.0 * pad);
            let points: Vec<String> = j
                .weeks
                .iter()
                .enumerate()
                .filter_map(|(i, wk)| Some(format!("{:.1},{:.1}", x(i), y(wk.kappa?))))
                .collect();
            let weeks: Vec<Value> = j
                .weeks
                .iter()
                .enumerate()
                .map(|(i, wk)| {
                    json!({"x": x(i), "y": wk.kappa.map(y), "kappa": wk.kappa, "week": wk.week, "reviewed": wk.reviewed})
                })
                .collect();
            json!({
                "judge": j.judge,
                "judge_version": j.judge_version,
                "constant_verdict": j.constant_verdict,
                "points": points.join(" "),
                "weeks": weeks,
            })
        })
        .collect();
    let batches: Vec<Batch<'_>> = batches
        .iter()
        .map(|(b, n, done)| Batch {
            batch: b,
            items: *n,
            labelled: *done,
        })
        .collect();
    render(
        "review_index.html",
        minijinja::context! {
            title => "evalgate review",
            batches => Jinja::from_serialize(batches),
            judges => Jinja::from_serialize(judges),
            q => query,
        },
    )
}

/// The cascade's frontier as a standalone SVG (640 × 380; 64, 24, 36 and 52 of margin):
/// accuracy against cost per 1,000 cases.
pub fn render_cascade_svg(r: &CascadeReport) -> Result<String, RenderError> {
    let f = &r.frontier;
    let (w, h) = (640.0, 380.0);
    let (left, right, top, bottom) = (64.0, 24.0, 36.0, 52.0);
    let mut points: Vec<&Point> = f.frontier.iter().collect();
    points.push(&f.top);
    let max_cost = points
        .iter()
        .map(|p| p.cost_per_1k)
        .fold(0.0, f64::max)
        .max(1e-12);
    let min_acc = points.iter().map(|p| p.accuracy).fold(1.0, f64::min);
    let max_acc = points.iter().map(|p| p.accuracy).fold(0.0, f64::max);
    // The accuracy axis covers the points with a margin, on tenths.
    let lo = ((min_acc - 0.05).max(0.0) * 10.0).floor() / 10.0;
    let hi = (((max_acc + 0.05).min(1.0) * 10.0).ceil() / 10.0).max(lo + 0.1);
    let x = |c: f64| left + (w - left - right) * c / (max_cost * 1.05);
    let y = |a: f64| h - bottom - (h - top - bottom) * (a - lo) / (hi - lo);
    let mut grid = Vec::new();
    let mut a = lo;
    while a <= hi + 1e-9 {
        grid.push(json!({"y": y(a), "percent": a * 100.0}));
        a += 0.1;
    }
    // Round ticks: 1, 2 or 5 times a power of ten, about four of them.
    let raw = max_cost * 1.05 / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let mut ticks = Vec::new();
    let mut c = 0.0;
    while c <= max_cost * 1.05 + 1e-15 {
        ticks.push(json!({"x": x(c), "label": money(c)}));
        c += step;
    }
    // The frontier as steps: cheaper points hold their accuracy until the next.
    let path: Vec<String> = f
        .frontier
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                format!("M{:.1},{:.1}", x(p.cost_per_1k), y(p.accuracy))
            } else {
                format!(" H{:.1} V{:.1}", x(p.cost_per_1k), y(p.accuracy))
            }
        })
        .collect();
    let frontier: Vec<Value> = f
        .frontier
        .iter()
        .map(|p| {
            json!({
                "x": x(p.cost_per_1k),
                "y": y(p.accuracy),
                "title": format!(
                    "{}: accuracy {:.1}%, ${} per 1,000 cases, {:.0}% reach the top tier",
                    cascade_thresholds(r, p),
                    p.accuracy * 100.0,
                    money(p.cost_per_1k),
                    p.reach_top * 100.0
                ),
            })
        })
        .collect();
    let top_name = r.tiers.last().map_or("top tier", |t| t.model.as_str());
    let recommended = f.recommended.as_ref().map(|p| {
        let (cx, cy) = (x(p.cost_per_1k), y(p.accuracy));
        let right_half = cx > w / 2.0;
        json!({
            "x": cx,
            "y": cy,
            "label_x": if right_half { cx - 12.0 } else { cx + 12.0 },
            "anchor": if right_half { "end" } else { "start" },
            "kept": p.quality_retained,
            "share": p.cost_share,
        })
    });
    render(
        "cascade.svg",
        minijinja::context! {
            suite => &r.suite,
            grid => Jinja::from_serialize(grid),
            ticks => Jinja::from_serialize(ticks),
            path => path.concat(),
            points => Jinja::from_serialize(frontier),
            top => minijinja::context! { x => x(f.top.cost_per_1k), y => y(f.top.accuracy), name => top_name },
            recommended => Jinja::from_serialize(recommended),
        },
    )
}

/// The cascade as a page: the tiers, the frontier table, the recommendation and the chart.
pub fn render_cascade(r: &CascadeReport, svg: &str) -> Result<String, RenderError> {
    let f = &r.frontier;
    let point = |p: &Point, versus: Option<&crate::report::VersusTop>| {
        json!({
            "thresholds": cascade_thresholds(r, p),
            "sentence": cascade_sentence(p),
            "cost": money(p.cost_per_1k),
            "accuracy": p.accuracy,
            "claim": versus.map(|v| cascade_claim(v, f.target)),
        })
    };
    let frontier: Vec<Value> = f
        .frontier
        .iter()
        .map(|p| json!({"thresholds": cascade_thresholds(r, p), "point": p}))
        .collect();
    render(
        "cascade.html",
        minijinja::context! {
            title => format!("evalgate cascade · {}", r.suite),
            r => Jinja::from_serialize(r),
            recommended => Jinja::from_serialize(f.recommended.as_ref().map(|p| point(p, r.recommended_vs_top.as_ref()))),
            pinned => Jinja::from_serialize(r.pinned.as_ref().map(|p| point(p, r.pinned_vs_top.as_ref()))),
            // The chart is ours and carries no script; it is inlined as is.
            svg => Jinja::from_safe_string(svg.trim_end().to_string()),
            frontier => Jinja::from_serialize(frontier),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_control_characters_replaced() {
        let page = render_login(
            "/runs?a=1&b=<x>",
            "c'srf\u{1}",
            Some("<script>alert('x')</script>"),
        )
        .unwrap();
        assert!(
            page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt;"),
            "{page}"
        );
        assert!(
            page.contains(r#"value="&#x2f;runs?a=1&amp;b=&lt;x&gt;""#),
            "{page}"
        );
        assert!(page.contains("c&#x27;srf\u{FFFD}"), "{page}");
    }

    #[test]
    fn every_template_compiles() {
        let env = environment().unwrap();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
        // Layout only: the lines are joined without their indentation.
        assert_eq!(layout("<p>\n  <b>x</b>\n</p>\n"), "<p><b>x</b></p>");
    }

    #[test]
    fn ten_thousand_cases_stay_light() {
        let output = r#"{"intent": "billing", "risk": 2}"#;
        let cases = (0..10_000)
            .map(|i| json!({"id": format!("case-{i:05}"), "status": if i % 7 == 0 { "fail" } else { "pass" }, "output": output, "tags": ["refund", "web"], "latency_ms": 800.0 + (i % 300) as f64}))
            .collect();
        let run = crate::runfile::testing::run_file(
            "r",
            r#"{"fields":{"intent":{"type":"enum","values":["billing","bug"]},"risk":{"type":"integer"}}}"#,
            cases,
        );
        let html = render_run(&run, &[]).unwrap();
        // The rows are data for the script (a page of 100 is drawn at a time), not markup.
        assert!(html.len() < 200_000, "{} bytes", html.len());
        assert!(!html.contains("<tr><td>case-"));
        let data = super::super::cases::unpack(embedded(&html));
        assert_eq!(data["id"].as_array().unwrap().len(), 10_000);
        assert_eq!(data["id"][9_999], "case-09999");
        assert_eq!(data["outputs"], json!([output]));
    }

    fn embedded(html: &str) -> &str {
        let start = html.find(r#"id="cases-data""#).unwrap();
        let start = start + html[start..].find('>').unwrap() + 1;
        &html[start..start + html[start..].find('<').unwrap()]
    }

    #[test]
    fn a_matrix_of_many_labels_grows_with_the_cases_not_the_labels_squared() {
        let labels: Vec<String> = (0..151).map(|i| format!("label_{i:03}")).collect();
        let contract = json!({"fields": {"intent": {"type": "enum", "values": labels}}});
        let cases = (0..1000)
            .map(|i| {
                // Nine in ten right, the rest one label off.
                let expected = &labels[i % 151];
                let predicted = if i % 10 == 0 { &labels[(i + 1) % 151] } else { expected };
                json!({"id": format!("c{i:04}"), "status": if i % 10 == 0 { "fail" } else { "pass" },
                       "expected": {"intent": expected},
                       "output": json!({"intent": predicted}).to_string()})
            })
            .collect();
        let mut run = crate::runfile::testing::run_file("r", &contract.to_string(), cases);
        let pairs: Vec<(String, String)> = (0..1000)
            .map(|i| {
                let p = if i % 10 == 0 { (i + 1) % 151 } else { i % 151 };
                (labels[i % 151].clone(), labels[p].clone())
            })
            .collect();
        let confusion = crate::stats::Confusion::from_pairs(
            &labels,
            pairs.iter().map(|(e, p)| (e.as_str(), p.as_str())),
        );
        run.report.enum_fields = vec![
            serde_json::from_value(json!({
                "field": "intent", "accuracy": run.report.pass_rate, "kappa": null,
                "labels": [], "confusion": confusion,
            }))
            .unwrap(),
        ];
        let html = render_run(&run, &[]).unwrap();
        // 151 × 151 cells as a table took 1.6 MB; the non-empty ones, a few hundred.
        assert!(html.len() < 250_000, "{} bytes", html.len());
        assert_eq!(html.matches("fill-opacity=").count(), 151 + 100);
        assert!(
            html.contains("<title>label_000 → label_001: 1</title>"),
            "{html}"
        );
        assert!(html.contains("Most frequent confusions"));
        assert!(!html.contains("expected ↓ / predicted →"));
    }

    #[test]
    fn word_diff_marks_words() {
        let ops: Vec<(String, String)> = word_diff("the risk is 2", "the risk is 5")
            .iter()
            .map(|d| {
                (
                    d["op"].as_str().unwrap().into(),
                    d["text"].as_str().unwrap().into(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("equal", "the"),
            ("equal", " "),
            ("equal", "risk"),
            ("equal", " "),
            ("equal", "is"),
            ("equal", " "),
            ("delete", "2"),
            ("insert", "5"),
        ]
        .iter()
        .map(|(o, t)| (o.to_string(), t.to_string()))
        .collect();
        assert_eq!(ops, expected);
    }
}
