//! The HTML report: one self-contained page (inline CSS, inline SVG charts, a little plain
//! JavaScript; no network, no external asset) for a run or a comparison of two runs.
//!
//! Everything shown is escaped: model outputs may contain HTML or script. The page is also
//! well-formed XML (scripts in CDATA sections), so that a test can parse it. The per-case
//! table is rendered by the script from an embedded JSON array, a page of 100 rows at a time,
//! so that a run of 10,000 cases stays light.

use serde_json::{Value, json};
use std::fmt::Write;

use crate::report::{CaseEntry, RunFile};
use crate::report::{Comparison, DiffLine, GateResult, RunReport, format_change, format_value};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML does not allow.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` element and a CDATA section: `<`, `>` and `&` escaped.
fn script_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:16px 20px 48px}
h1{font-size:20px;margin:8px 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
.meta{color:#556;font-size:13px}.meta code{background:#eef0f4;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;background:#fff;font-size:13px}td,th{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;cursor:default}th.sort{cursor:pointer}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#0a7a32;font-weight:600}.fail{color:#b42318;font-weight:600}.error{color:#a15c00;font-weight:600}.skipped{color:#667}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 12px;margin:10px 0}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:10px}@media(max-width:800px){.sides{grid-template-columns:1fr}}
pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f3f4f7;padding:6px;border-radius:4px}
del{background:#fdd;text-decoration:line-through}ins{background:#d4f5dc;text-decoration:none}
.controls{margin:8px 0;display:flex;gap:8px;flex-wrap:wrap;align-items:center}
.controls input,.controls select,.controls button{font:inherit;padding:3px 6px}
.charts{display:flex;gap:16px;flex-wrap:wrap}svg text{font-size:10px;fill:#556}
"#;

/// The page script: filtering, sorting and paging of the case table.
const SCRIPT: &str = r#"
(function(){
  var data = JSON.parse(document.getElementById('cases-data').textContent);
  var state = {status: 'all', tag: 'all', label: 'all', q: '', key: 'id', dir: 1, page: 0};
  var size = 100;
  function matches(c){
    if (state.status !== 'all' && c.status !== state.status) return false;
    if (state.tag !== 'all' && c.tags.indexOf(state.tag) === -1) return false;
    if (state.label !== 'all' && c.labels.indexOf(state.label) === -1) return false;
    if (state.q) {
      var text = (c.id + ' ' + c.failed.join(' ') + ' ' + c.output).toLowerCase();
      if (text.indexOf(state.q.toLowerCase()) === -1) return false;
    }
    return true;
  }
  function cell(tr, text, cls){
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  function render(){
    var rows = data.filter(matches);
    rows.sort(function(a, b){
      var x = a[state.key], y = b[state.key];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x > y ? 1 : -1) * state.dir;
    });
    var pages = Math.max(1, Math.ceil(rows.length / size));
    if (state.page >= pages) state.page = pages - 1;
    var body = document.getElementById('cases-body');
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.slice(state.page * size, (state.page + 1) * size).forEach(function(c){
      var tr = document.createElement('tr');
      cell(tr, c.id);
      cell(tr, c.status, c.status);
      if (c.base_status !== undefined) cell(tr, c.base_status || '-', c.base_status);
      cell(tr, c.failed.join(', '));
      cell(tr, c.tags.join(', '));
      cell(tr, c.latency_ms === null ? '-' : Math.round(c.latency_ms) + ' ms', 'num');
      cell(tr, '$' + c.cost_usd.toFixed(6), 'num');
      var td = document.createElement('td');
      var pre = document.createElement('pre');
      pre.textContent = c.output;
      td.appendChild(pre);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    document.getElementById('cases-count').textContent = rows.length + ' of ' + data.length + ' cases';
    document.getElementById('page').textContent = 'page ' + (state.page + 1) + ' of ' + pages;
  }
  document.getElementById('f-status').addEventListener('change', function(e){ state.status = e.target.value; state.page = 0; render(); });
  document.getElementById('f-tag').addEventListener('change', function(e){ state.tag = e.target.value; state.page = 0; render(); });
  document.getElementById('f-label').addEventListener('change', function(e){ state.label = e.target.value; state.page = 0; render(); });
  document.getElementById('f-q').addEventListener('input', function(e){ state.q = e.target.value; state.page = 0; render(); });
  document.getElementById('prev').addEventListener('click', function(){ if (state.page > 0) { state.page--; render(); } });
  document.getElementById('next').addEventListener('click', function(){ state.page++; render(); });
  Array.prototype.forEach.call(document.querySelectorAll('th.sort'), function(th){
    th.addEventListener('click', function(){
      var key = th.getAttribute('data-key');
      state.dir = state.key === key ? -state.dir : 1;
      state.key = key;
      render();
    });
  });
  render();
})();
"#;

/// The case rows the script renders. Outputs are clipped to 4,000 characters.
fn case_rows(run: &RunFile, base: Option<&RunFile>) -> Value {
    let base_status = |id: &str| -> Option<String> {
        base.and_then(|b| b.cases.iter().find(|c| c.id == id && c.repeat == 0))
            .map(|c| c.status.clone())
    };
    let enum_fields: Vec<&str> = run
        .report
        .enum_fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    let rows: Vec<Value> = run
        .cases
        .iter()
        .map(|c| {
            let failed: Vec<String> = c
                .scores
                .iter()
                .filter(|s| s.outcome != "pass" && s.outcome != "skip")
                .map(|s| s.scorer.clone())
                .chain(c.kind.clone().filter(|_| c.status == "error"))
                .collect();
            let tags: Vec<String> = c
                .tags
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let output = c
                .output
                .clone()
                .or_else(|| c.message.clone())
                .unwrap_or_default();
            // The predicted value of each enum field, as `field=value`, for the label filter.
            let labels: Vec<String> = enum_fields
                .iter()
                .filter_map(|f| {
                    let v = c.parsed.as_ref()?.get(f)?.as_str()?;
                    Some(format!("{f}={v}"))
                })
                .collect();
            let mut row = json!({
                "labels": labels,
                "id": if c.repeat > 0 { format!("{} #{}", c.id, c.repeat) } else { c.id.clone() },
                "status": c.status,
                "failed": failed,
                "tags": tags,
                "latency_ms": c.latency_ms,
                "cost_usd": c.cost_usd,
                "output": crate::text::clip(&output, 4000),
            });
            if base.is_some() {
                row["base_status"] = json!(base_status(&c.id));
            }
            row
        })
        .collect();
    Value::Array(rows)
}

/// A histogram of `values` as an inline SVG.
fn histogram(title: &str, values: &[f64], label: impl Fn(f64) -> String) -> String {
    let (w, h, bins) = (320.0, 120.0, 20usize);
    let mut out = format!(
        r#"<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{}" role="img" aria-label="{}">"#,
        escape(title),
        h + 20.0,
        escape(title)
    );
    if values.is_empty() {
        out.push_str(r#"<text x="10" y="60">no values</text></svg></figure>"#);
        return out;
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
    for (i, n) in counts.iter().enumerate() {
        let bh = *n as f64 / max * (h - 10.0);
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#5b7bd5"><title>{n}</title></rect>"##,
            i as f64 * bw + 1.0,
            h - bh,
            bw - 2.0,
            bh
        );
    }
    let _ = write!(
        out,
        r#"<text x="0" y="{}">{}</text><text x="{w}" y="{}" text-anchor="end">{}</text></svg></figure>"#,
        h + 14.0,
        escape(&label(lo)),
        h + 14.0,
        escape(&label(hi))
    );
    out
}

fn pct(x: f64) -> String {
    format_value("pass_rate", x)
}

fn header(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/><title>{}</title><style>/*<![CDATA[*/{CSS}/*]]>*/</style></head><body><main>"#,
        escape(title)
    );
}

fn footer(out: &mut String, rows: &Value) {
    let _ = write!(
        out,
        r#"<script type="application/json" id="cases-data">{}</script><script>//<![CDATA[
{SCRIPT}//]]></script></main></body></html>
"#,
        script_json(rows)
    );
}

fn run_meta(out: &mut String, r: &RunReport) {
    let h = &r.run;
    let _ = write!(
        out,
        r#"<p class="meta">suite <code>{}</code> · model <code>{}</code> via {} · prompt <code>{}@{}</code> · dataset <code>{}@{}</code> · {} · started {} · {}</p>"#,
        escape(&h.suite),
        escape(&h.model),
        escape(&h.provider),
        escape(&h.prompt),
        escape(crate::hash::short(&h.prompt_version)),
        escape(&h.dataset),
        escape(crate::hash::short(&h.dataset_version)),
        escape(&h.status),
        escape(&h.started_at),
        escape(&format!(
            "cost ${:.6} ({} per case)",
            r.usage.cost_usd,
            format_value("cost_per_case", r.usage.cost_per_case_usd)
        )),
    );
    if !r.judges.is_empty() {
        out.push_str(r#"<p class="meta">judges: "#);
        for j in &r.judges {
            let _ = write!(
                out,
                "<code>{}@{}</code> ({}) ",
                escape(&j.judge),
                escape(crate::hash::short(&j.judge_version)),
                escape(&j.model)
            );
        }
        out.push_str("</p>");
    }
}

/// A metrics row of a proportion: the value, its 95% interval and n. `label` is HTML.
fn proportion_row(out: &mut String, label: &str, p: &crate::stats::Proportion) {
    let _ = write!(
        out,
        r#"<tr><td>{label}</td><td class="num">{}</td><td class="num">{} – {}</td><td class="num">{}</td></tr>"#,
        pct(p.rate),
        pct(p.low),
        pct(p.high),
        p.total
    );
}

fn metrics(out: &mut String, r: &RunReport) {
    out.push_str(
        "<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th></tr>",
    );
    proportion_row(out, "pass rate", &r.pass_rate);
    for s in &r.scorers {
        proportion_row(out, &format!("scorer {}", escape(&s.name)), &s.rate);
    }
    for f in &r.enum_fields {
        let num = |v: Option<f64>| v.map_or_else(|| "–".into(), |k| format!("{k:.3}"));
        proportion_row(
            out,
            &format!(
                "field {} accuracy (kappa {}, macro-F1 {}, weighted F1 {})",
                escape(&f.field),
                num(f.kappa),
                num(f.macro_f1),
                num(f.weighted_f1)
            ),
            &f.accuracy,
        );
    }
    for f in &r.integer_fields {
        let _ = write!(
            out,
            r#"<tr><td>field {} mean absolute error</td><td class="num">{}</td><td class="num">exact {}</td><td class="num">{}</td></tr>"#,
            escape(&f.field),
            f.mae.map_or_else(|| "–".into(), |m| format!("{m:.3}")),
            pct(f.exact.rate),
            f.n
        );
    }
    let _ = write!(
        out,
        r#"<tr><td>latency p50 / p95</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr></table>"#,
        r.latency
            .p50_ms
            .map_or_else(|| "–".into(), |v| format!("{v:.0} ms")),
        r.latency
            .p95_ms
            .map_or_else(|| "–".into(), |v| format!("{v:.0} ms")),
        r.latency.n
    );
}

/// The confusion matrices as heat maps.
fn confusion(out: &mut String, r: &RunReport) {
    for f in &r.enum_fields {
        let c = &f.confusion;
        let max = c.counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
        let _ = write!(
            out,
            r#"<h2>Confusion matrix: {}</h2><table><tr><th>expected ↓ / predicted →</th>"#,
            escape(&f.field)
        );
        for l in &c.labels {
            let _ = write!(out, "<th>{}</th>", escape(l));
        }
        out.push_str("</tr>");
        for (i, row) in c.counts.iter().enumerate() {
            let _ = write!(out, "<tr><th>{}</th>", escape(&c.labels[i]));
            for (j, n) in row.iter().enumerate() {
                let a = *n as f64 / max;
                let (r_, g, b) = if i == j { (10, 122, 50) } else { (180, 35, 24) };
                let _ = write!(
                    out,
                    r#"<td class="num" style="background:rgba({r_},{g},{b},{a:.2})">{n}</td>"#
                );
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
}

fn charts(out: &mut String, run: &RunFile) {
    let latencies: Vec<f64> = run.cases.iter().filter_map(|c| c.latency_ms).collect();
    let costs: Vec<f64> = run
        .cases
        .iter()
        .filter(|c| c.status != "error")
        .map(|c| c.cost_usd)
        .collect();
    out.push_str(r#"<h2>Distributions</h2><div class="charts">"#);
    out.push_str(&histogram("latency per case", &latencies, |v| {
        format!("{v:.0} ms")
    }));
    out.push_str(&histogram("cost per case", &costs, |v| format!("${v:.6}")));
    out.push_str("</div>");
}

fn case_table(out: &mut String, run: &RunFile, comparison: bool) {
    let mut tags: Vec<String> = run
        .cases
        .iter()
        .filter_map(|c| c.tags.as_array())
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    tags.sort();
    tags.dedup();
    out.push_str(r#"<h2>Cases</h2><div class="controls"><label>status <select id="f-status"><option value="all">all</option><option value="pass">pass</option><option value="fail">fail</option><option value="error">error</option></select></label><label>tag <select id="f-tag"><option value="all">all</option>"#);
    for t in &tags {
        let _ = write!(out, r#"<option value="{0}">{0}</option>"#, escape(t));
    }
    out.push_str(r#"</select></label><label>predicted <select id="f-label"><option value="all">all</option>"#);
    for f in &run.report.enum_fields {
        for l in &f.confusion.labels {
            if l == "(none)" {
                continue;
            }
            let _ = write!(
                out,
                r#"<option value="{0}={1}">{0} = {1}</option>"#,
                escape(&f.field),
                escape(l)
            );
        }
    }
    out.push_str(r#"</select></label><input id="f-q" type="search" placeholder="search id, scorer, output"/><span id="cases-count"></span><button id="prev" type="button">‹</button><span id="page"></span><button id="next" type="button">›</button></div><table><thead><tr><th class="sort" data-key="id">case</th><th class="sort" data-key="status">status</th>"#);
    if comparison {
        out.push_str(r#"<th class="sort" data-key="base_status">base</th>"#);
    }
    out.push_str(r#"<th>failed</th><th>tags</th><th class="sort" data-key="latency_ms">latency</th><th class="sort" data-key="cost_usd">cost</th><th>output</th></tr></thead><tbody id="cases-body"></tbody></table>"#);
}

fn gates(out: &mut String, gates: &[GateResult]) {
    if gates.is_empty() {
        return;
    }
    out.push_str("<h2>Gates</h2><table><tr><th>gate</th><th>result</th><th>numbers</th></tr>");
    for g in gates {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="{}">{}</td><td>{}</td></tr>"#,
            escape(&g.gate),
            escape(&g.status),
            escape(&g.status),
            escape(&g.detail)
        );
    }
    out.push_str("</table>");
}

/// The page of one run (with the gates evaluated on it, if any).
pub fn render_run(run: &RunFile, gate_results: &[GateResult]) -> String {
    let r = &run.report;
    let mut out = String::new();
    header(
        &mut out,
        &format!("evalgate run {} · {}", r.run.id, r.run.suite),
    );
    let _ = write!(
        out,
        "<h1>Run {} of suite {}</h1>",
        escape(&r.run.id),
        escape(&r.run.suite)
    );
    run_meta(&mut out, r);
    gates(&mut out, gate_results);
    metrics(&mut out, r);
    confusion(&mut out, r);
    charts(&mut out, run);
    case_table(&mut out, run, false);
    footer(&mut out, &case_rows(run, None));
    out
}

/// Word-level diff of two texts: removed words in `<del>`, added ones in `<ins>`.
fn word_diff(a: &str, b: &str) -> String {
    let diff = similar::TextDiff::from_words(a, b);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let text = escape(change.value());
        match change.tag() {
            similar::ChangeTag::Delete => {
                let _ = write!(out, "<del>{text}</del>");
            }
            similar::ChangeTag::Insert => {
                let _ = write!(out, "<ins>{text}</ins>");
            }
            similar::ChangeTag::Equal => out.push_str(&text),
        }
    }
    out
}

fn first<'a>(run: &'a RunFile, id: &str) -> Option<&'a CaseEntry> {
    run.cases.iter().find(|c| c.id == id && c.repeat == 0)
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
            c.kind.as_deref().unwrap_or("error"),
            c.message.as_deref().unwrap_or("no answer")
        ),
    }
}

fn reasons(c: Option<&CaseEntry>) -> String {
    let mut out = String::new();
    if let Some(c) = c {
        for s in c.scores.iter().filter(|s| s.outcome != "pass") {
            let _ = write!(
                out,
                "<li><b>{}</b> {}: {}</li>",
                escape(&s.scorer),
                escape(&s.outcome),
                escape(s.detail.as_deref().unwrap_or(""))
            );
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("<ul>{out}</ul>")
    }
}

fn diff_lines(lines: &[DiffLine]) -> String {
    let mut out = String::from("<pre>");
    for l in lines {
        let text = escape(&l.text);
        match l.op {
            '-' => {
                let _ = writeln!(out, "<del>- {text}</del>");
            }
            '+' => {
                let _ = writeln!(out, "<ins>+ {text}</ins>");
            }
            _ => {
                let _ = writeln!(out, "  {text}");
            }
        }
    }
    out.push_str("</pre>");
    out
}

/// The page of a comparison: the flipped cases first, with both outputs side by side and a
/// word-level diff, then the metrics, the prompt diff and the candidate's cases.
pub fn render_comparison(
    base: &RunFile,
    cand: &RunFile,
    c: &Comparison,
    gate_results: &[GateResult],
) -> String {
    let mut out = String::new();
    header(
        &mut out,
        &format!("evalgate compare {} → {}", c.base.id, c.candidate.id),
    );
    let _ = write!(
        out,
        "<h1>Candidate {} against base {}</h1>",
        escape(&c.candidate.id),
        escape(&c.base.id)
    );
    run_meta(&mut out, &cand.report);
    let _ = write!(
        out,
        r#"<p class="meta">{} cases paired · <span class="fail">{} pass → fail</span> · <span class="pass">{} fail → pass</span> · McNemar exact p = {:.3}</p>"#,
        c.paired, c.pass_to_fail, c.fail_to_pass, c.flip_p_value
    );
    gates(&mut out, gate_results);
    out.push_str("<h2>Flipped cases</h2>");
    if c.flipped.is_empty() {
        out.push_str("<p>No case changed between pass and fail.</p>");
    }
    for f in &c.flipped {
        let b = first(base, &f.case_id);
        let k = first(cand, &f.case_id);
        let vars = k
            .or(b)
            .map(|x| serde_json::to_string_pretty(&x.vars).unwrap_or_default())
            .unwrap_or_default();
        let (bt, kt) = (pretty(b), pretty(k));
        let cls = if f.direction == "pass_to_fail" {
            "fail"
        } else {
            "pass"
        };
        let _ = write!(
            out,
            r#"<div class="card flipped" data-case="{id}"><b>{id}</b> <span class="{cls}">{arrow}</span> {failed}<details><summary>input</summary><pre>{vars}</pre></details><div class="sides"><div><b>base</b><pre>{bt}</pre>{br}</div><div><b>candidate</b><pre>{kt}</pre>{kr}</div></div><b>diff</b><pre>{diff}</pre></div>"#,
            id = escape(&f.case_id),
            arrow = escape(f.arrow()),
            failed = escape(&f.failed.join(", ")),
            vars = escape(&vars),
            bt = escape(&bt),
            kt = escape(&kt),
            br = reasons(b),
            kr = reasons(k),
            diff = word_diff(&bt, &kt),
        );
    }
    out.push_str(r#"<h2>Metrics</h2><table><tr><th>metric</th><th>base</th><th>candidate</th><th>Δ</th><th>95% CI</th><th>p</th><th>test</th></tr>"#);
    for m in &c.metrics {
        let v = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format_value(&m.name, v));
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            escape(&m.name),
            escape(&v(m.base)),
            escape(&v(m.candidate)),
            escape(
                &m.delta
                    .map_or_else(|| "–".into(), |d| format_change(&m.name, d.delta))
            ),
            escape(&m.delta.map_or_else(
                || "–".into(),
                |d| format!(
                    "{} to {}",
                    format_change(&m.name, d.low),
                    format_change(&m.name, d.high)
                )
            )),
            m.p_value.map_or_else(|| "–".into(), |p| format!("{p:.3}")),
            escape(&m.test)
        );
    }
    out.push_str("</table>");
    if let Some(d) = &c.prompt_diff {
        out.push_str("<h2>Prompt diff</h2>");
        out.push_str(&diff_lines(d));
    }
    confusion(&mut out, &cand.report);
    charts(&mut out, cand);
    case_table(&mut out, cand, true);
    footer(&mut out, &case_rows(cand, Some(base)));
    out
}

/// A plain page around some body HTML (no script).
fn page(title: &str, body: &str) -> String {
    let mut out = String::new();
    header(&mut out, title);
    out.push_str(body);
    out.push_str("</main></body></html>\n");
    out
}

/// The list of stored runs, newest first, each linking to its page, its suite's history and
/// the comparison with the suite's previous run. `q` is appended to every link (a token).
pub fn render_runs(runs: &[crate::report::RunListing], q: &str) -> String {
    let mut body = String::from(
        "<h1>Runs</h1><table><tr><th>run</th><th>started</th><th>suite</th><th>model</th><th>prompt</th><th>status</th><th>against the previous run</th></tr>",
    );
    for (i, r) in runs.iter().enumerate() {
        let previous = runs[i + 1..].iter().find(|p| p.suite == r.suite);
        let _ = write!(
            body,
            r#"<tr><td><a href="/runs/{id}{q}">{id}</a></td><td>{}</td><td><a href="/suites/{suite}/history{q}">{suite}</a></td><td>{}</td><td>{}@{}</td><td class="{st}">{st}</td><td>{}</td></tr>"#,
            escape(&r.started_at),
            escape(&r.model),
            escape(&r.prompt),
            escape(crate::hash::short(&r.prompt_version)),
            previous.map_or_else(String::new, |p| format!(
                r#"<a href="/compare/{}/{}{q}">compare with {}</a>"#,
                escape(&p.id),
                escape(&r.id),
                escape(&p.id)
            )),
            id = escape(&r.id),
            suite = escape(&r.suite),
            st = escape(&r.status),
            q = escape(q),
        );
    }
    body.push_str("</table>");
    page("evalgate runs", &body)
}

/// A suite's history: the pass rate of each run with its interval as a trend chart, then the
/// table, and the prompt versions that made things worse. `links`: the query string of links
/// to the server's pages (a token, or empty), or None for a standalone file without links.
pub fn render_history(h: &crate::report::History, links: Option<&str>) -> String {
    let q = links.unwrap_or("");
    let mut body = format!("<h1>History of suite {}</h1>", escape(&h.suite));
    let (w, ht, pad) = (760.0, 200.0, 30.0);
    let n = h.rows.len().max(1) as f64;
    let x = |i: usize| pad + (w - 2.0 * pad) * if n > 1.0 { i as f64 / (n - 1.0) } else { 0.5 };
    let y = |v: f64| ht - pad - v * (ht - 2.0 * pad);
    let _ = write!(
        body,
        r##"<figure><figcaption>pass rate by run, with its 95% interval (red: a prompt version that made it significantly worse)</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{ht}" role="img" aria-label="pass rate trend"><line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="#ccd"/><text x="2" y="{}">100%</text><text x="2" y="{}">0%</text>"##,
        y(0.0),
        w - pad,
        y(0.0),
        y(1.0) + 4.0,
        y(0.0)
    );
    let points: Vec<String> = h
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(r.pass_rate.rate)))
        .collect();
    let _ = write!(
        body,
        r##"<polyline points="{}" fill="none" stroke="#5b7bd5" stroke-width="2"/>"##,
        points.join(" ")
    );
    for (i, r) in h.rows.iter().enumerate() {
        let worse = h.regressions.iter().any(|g| g.run_id == r.run_id);
        let color = if worse { "#b42318" } else { "#5b7bd5" };
        let _ = write!(
            body,
            r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="{color}"/><circle cx="{0:.1}" cy="{3:.1}" r="4" fill="{color}"><title>{4}</title></circle>"##,
            x(i),
            y(r.pass_rate.low),
            y(r.pass_rate.high),
            y(r.pass_rate.rate),
            escape(&format!(
                "{} {}@{}: {}",
                r.run_id,
                r.prompt,
                crate::hash::short(&r.prompt_version),
                pct(r.pass_rate.rate)
            ))
        );
    }
    body.push_str("</svg></figure>");
    body.push_str("<table><tr><th>run</th><th>started</th><th>prompt</th><th>commit</th><th>model</th><th>pass rate (95% CI)</th><th>cost / case</th><th>p95</th><th>vs previous version</th></tr>");
    for (i, r) in h.rows.iter().enumerate() {
        let compare = (i > 0 && links.is_some()).then(|| {
            format!(
                r#" <a href="/compare/{}/{}{}">compare</a>"#,
                escape(&h.rows[i - 1].run_id),
                escape(&r.run_id),
                escape(q)
            )
        });
        let _ = write!(
            body,
            r#"<tr><td>{run}</td><td>{}</td><td>{}@{}</td><td>{}</td><td>{}</td><td class="num">{} ({} – {})</td><td class="num">{}</td><td class="num">{}</td><td>{}{}</td></tr>"#,
            escape(&r.started_at),
            escape(&r.prompt),
            escape(crate::hash::short(&r.prompt_version)),
            escape(r.git_commit.as_deref().unwrap_or("–")),
            escape(&r.model),
            pct(r.pass_rate.rate),
            pct(r.pass_rate.low),
            pct(r.pass_rate.high),
            escape(&format_value("cost_per_case", r.cost_per_case_usd)),
            r.latency_p95_ms
                .map_or_else(|| "–".into(), |v| format!("{v:.0} ms")),
            r.vs_previous
                .map_or_else(String::new, |(d, p)| escape(&format!(
                    "{} (p = {p:.3})",
                    format_change("pass_rate", d)
                ))),
            compare.unwrap_or_default(),
            run = if links.is_some() {
                format!(
                    r#"<a href="/runs/{id}{q}">{id}</a>"#,
                    id = escape(&r.run_id),
                    q = escape(q)
                )
            } else {
                escape(&r.run_id)
            },
        );
    }
    body.push_str("</table>");
    for g in &h.regressions {
        let _ = write!(
            body,
            r#"<p class="fail">worse: {}@{} (run {}) lowered the pass rate by {} (p = {:.3}); the last good version is {}@{} (run {}{})</p>"#,
            escape(&g.prompt),
            escape(crate::hash::short(&g.version)),
            escape(&g.run_id),
            escape(format_change("pass_rate", -g.pass_rate_change).trim_start_matches('+')),
            g.p_value,
            escape(&g.prompt),
            escape(crate::hash::short(&g.last_good_version)),
            escape(&g.last_good_run),
            g.last_good_commit
                .as_ref()
                .map(|c| escape(&format!(", commit {c}")))
                .unwrap_or_default()
        );
    }
    page(&format!("evalgate history · {}", h.suite), &body)
}

/// One review item, blind: the input, the output, the expected values and the rubric, a form
/// to answer pass / fail / skip with a note; no judge verdict. Keys: p, f, s.
pub struct ReviewView<'a> {
    pub batch: &'a str,
    pub item: &'a crate::report::ReviewItem,
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

const REVIEW_SCRIPT: &str = r#"
(function(){
  var name = document.getElementById('reviewer');
  if (name) {
    name.value = localStorage.getItem('evalgate-reviewer') || '';
    name.addEventListener('input', function(){ localStorage.setItem('evalgate-reviewer', name.value); });
  }
  var answer = document.getElementById('answer');
  document.addEventListener('keydown', function(e){
    var t = e.target.tagName;
    if (t === 'INPUT' || t === 'TEXTAREA') {
      // Enter in the right-answer field answers fail with it.
      if (e.key === 'Enter' && e.target === answer) {
        e.preventDefault();
        document.querySelector('[data-key="f"]').click();
      }
      return;
    }
    var k = e.key.toLowerCase();
    // A fail of a case that needs a label needs the right answer first.
    if (k === 'f' && answer && !answer.value) { e.preventDefault(); answer.focus(); return; }
    var b = document.querySelector('[data-key="' + k + '"]');
    if (b) { e.preventDefault(); b.click(); }
  });
})();
"#;

fn review_page(title: &str, body: &str) -> String {
    let mut out = String::new();
    header(&mut out, title);
    out.push_str(body);
    let _ = write!(
        out,
        "<script>//<![CDATA[\n{REVIEW_SCRIPT}//]]></script></main></body></html>\n"
    );
    out
}

/// The hidden CSRF field of a form (see `serve::guard`).
fn csrf_field(csrf: &str) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}"/>"#,
        escape(csrf)
    )
}

/// The login page of a server with a token: the token, once, for a session cookie, then the
/// page asked for (`next`).
pub fn render_login(next: &str, csrf: &str, problem: Option<&str>) -> String {
    let mut body = String::from(
        "<h1>evalgate</h1><p class=\"meta\">This server needs its token once; your browser then keeps a session (a cookie) for 12 hours.</p>",
    );
    if let Some(p) = problem {
        let _ = write!(body, r#"<p class="fail" id="problem">{}</p>"#, escape(p));
    }
    let _ = write!(
        body,
        r#"<form method="post" action="/login" class="card"><div class="controls"><label>token <input id="token" name="token" type="password" required="required" autocomplete="current-password"/></label><button type="submit">log in</button></div><input type="hidden" name="next" value="{}"/>{}</form>"#,
        escape(next),
        csrf_field(csrf)
    );
    let mut out = String::new();
    header(&mut out, "evalgate · log in");
    out.push_str(&body);
    out.push_str("</main></body></html>\n");
    out
}

pub fn render_review_item(v: &ReviewView<'_>) -> String {
    let labelling = v.item.kind == "label";
    let what = if labelling {
        "needs a label (from production feedback): is the output right? A pass makes it the expected value in the golden file; a fail takes the right answer".to_string()
    } else {
        format!(
            "scorer <code>{}</code> · judge <code>{}</code> (its verdict is shown after you answer)",
            escape(&v.item.scorer),
            escape(&v.item.judge),
        )
    };
    let mut body = format!(
        r#"<h1>Review {batch}</h1><p class="meta">item {} of {} · {} labelled · case <code>{}</code> · {what}</p>"#,
        v.position + 1,
        v.total,
        v.labelled,
        escape(&v.item.case_id),
        batch = escape(v.batch),
    );
    if let Some(p) = v.problem {
        let _ = write!(body, r#"<p class="fail" id="problem">{}</p>"#, escape(p));
    }
    let _ = write!(
        body,
        r#"<div class="card"><b>input</b><pre>{}</pre></div><div class="card"><b>output</b><pre id="output">{}</pre></div>"#,
        escape(&serde_json::to_string_pretty(v.vars).unwrap_or_default()),
        escape(v.output),
    );
    if !labelling {
        let _ = write!(
            body,
            r#"<div class="card"><b>expected</b><pre>{}</pre></div><details class="card"><summary>rubric</summary><pre>{}</pre></details>"#,
            escape(&serde_json::to_string_pretty(v.expected).unwrap_or_default()),
            escape(v.rubric),
        );
    }
    let note = if labelling {
        r#"<label>right answer (for fail) <input id="answer" name="note" size="40" placeholder="field=value, …"/></label>"#
    } else {
        r#"<label>note <input name="note" size="40"/></label>"#
    };
    let _ = write!(
        body,
        r#"<form method="post" action="/review/{batch}/{item}" class="card"><div class="controls"><label>reviewer <input id="reviewer" name="reviewer" required="required" autocomplete="name"/></label>{note}</div><div class="controls"><button type="submit" name="verdict" value="pass" data-key="p">pass (p)</button><button type="submit" name="verdict" value="fail" data-key="f">fail (f)</button><button type="submit" name="verdict" value="skip" data-key="s">skip (s)</button></div>{token}</form>"#,
        batch = escape(v.batch),
        item = v.item.item,
        token = csrf_field(v.csrf),
    );
    review_page(&format!("evalgate review {}", v.batch), &body)
}

/// After an answer: the judge's verdict and reason (or, for a case that needed a label, what
/// went to the golden file), and the way on (key n).
pub fn render_review_reveal(
    batch: &str,
    item: &crate::report::ReviewItem,
    label: &crate::report::ReviewAnswer,
    next: Option<i64>,
    query: &str,
) -> String {
    let human = label.verdict.as_str();
    let said = if item.kind == "label" {
        let case = escape(&item.case_id);
        match (human, &label.note) {
            ("skip", _) => format!("you skipped <code>{case}</code>: it still needs a label"),
            ("fail", Some(answer)) => format!(
                "you said <b class=\"fail\">fail</b>: <code>{}</code> is now the expected value of <code>{case}</code> in the golden file",
                escape(answer)
            ),
            _ => format!(
                "you said <b class=\"pass\">pass</b>: the output is now the expected value of <code>{case}</code> in the golden file"
            ),
        }
    } else {
        let agree = human == item.judge_outcome;
        format!(
            "you said <b class=\"{h}\">{h}</b>; the judge said <b class=\"{j}\">{j}</b>{}",
            if human == "skip" {
                ""
            } else if agree {
                " · you agree"
            } else {
                " · you disagree"
            },
            h = escape(human),
            j = escape(&item.judge_outcome),
        )
    };
    let mut body = format!(
        r#"<h1>Review {}</h1><div class="card" id="reveal"><p>{said}</p>{}</div>"#,
        escape(batch),
        item.judge_reason
            .as_ref()
            .map(|r| format!("<pre>{}</pre>", escape(r)))
            .unwrap_or_default(),
    );
    match next {
        Some(n) => {
            let _ = write!(
                body,
                r#"<p><a href="/review/{}?item={n}{}" data-key="n">next item (n)</a></p>"#,
                escape(batch),
                escape(&query.replacen('?', "&", 1))
            );
        }
        None => body.push_str(
            "<p>The batch is done. <code>evalgate calibrate</code> shows the agreement.</p>",
        ),
    }
    review_page(&format!("evalgate review {batch}"), &body)
}

/// A batch with every item labelled.
pub fn render_review_reveal_done(batch: &str, n: usize) -> String {
    page(
        &format!("evalgate review {batch}"),
        &format!(
            "<h1>Review {}</h1><p>All {n} items are labelled. <code>evalgate calibrate</code> shows the agreement.</p>",
            escape(batch)
        ),
    )
}

/// The review home: the batches with their progress, and the weekly kappa of each judge.
pub fn render_review_index(
    batches: &[(String, usize, usize)],
    calibration: &crate::report::Calibration,
    query: &str,
) -> String {
    let mut body = String::from(
        "<h1>Review</h1><table><tr><th>batch</th><th>items</th><th>labelled</th></tr>",
    );
    for (b, n, done) in batches {
        let _ = write!(
            body,
            r#"<tr><td><a href="/review/{b}{q}">{b}</a></td><td class="num">{n}</td><td class="num">{done}</td></tr>"#,
            b = escape(b),
            q = escape(query),
        );
    }
    body.push_str("</table>");
    for j in &calibration.judges {
        let _ = write!(
            body,
            "<h2>{}@{}: kappa by week</h2>",
            escape(&j.judge),
            escape(crate::hash::short(&j.judge_version))
        );
        if let Some(verdict) = &j.constant_verdict {
            let _ = write!(
                body,
                "<p>The judge said {v} on every reviewed item: kappa is 0 however people answer.</p>",
                v = escape(verdict)
            );
        }
        let (w, h, pad) = (480.0, 140.0, 24.0);
        let n = j.weeks.len().max(1) as f64;
        // Room on the sides for the week labels, centred under their points.
        let padx = 48.0;
        let x =
            |i: usize| padx + (w - 2.0 * padx) * if n > 1.0 { i as f64 / (n - 1.0) } else { 0.5 };
        // kappa from -1 to 1.
        let y = |k: f64| h - pad - (k + 1.0) / 2.0 * (h - 2.0 * pad);
        let _ = write!(
            body,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="kappa by week"><line x1="{pad}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ccd"/><text x="0" y="{2:.1}">1</text><text x="0" y="{0:.1}">0</text>"##,
            y(0.0),
            w - pad,
            y(1.0) + 4.0
        );
        let pts: Vec<String> = j
            .weeks
            .iter()
            .enumerate()
            .filter_map(|(i, wk)| Some(format!("{:.1},{:.1}", x(i), y(wk.kappa?))))
            .collect();
        let _ = write!(
            body,
            r##"<polyline points="{}" fill="none" stroke="#5b7bd5" stroke-width="2"/>"##,
            pts.join(" ")
        );
        for (i, wk) in j.weeks.iter().enumerate() {
            if let Some(k) = wk.kappa {
                let _ = write!(
                    body,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#5b7bd5"><title>{}</title></circle>"##,
                    x(i),
                    y(k),
                    escape(&format!(
                        "{}: kappa {k:.3} over {} items",
                        wk.week, wk.reviewed
                    ))
                );
            } else {
                let _ = write!(
                    body,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#889"><title>{}</title>n/a</text>"##,
                    x(i),
                    y(0.0) - 8.0,
                    escape(&format!(
                        "{}: kappa undefined over {} items (one verdict only)",
                        wk.week, wk.reviewed
                    ))
                );
            }
            let _ = write!(
                body,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                x(i),
                h - 6.0,
                escape(&wk.week)
            );
        }
        body.push_str("</svg>");
    }
    page("evalgate review", &body)
}

/// The cascade's frontier as a standalone SVG: accuracy against cost per 1,000 cases, the
/// frontier as a step line, the top tier alone as a square, the recommendation ringed.
pub fn render_cascade_svg(r: &crate::report::CascadeReport) -> String {
    let f = &r.frontier;
    let (w, h) = (640.0, 380.0);
    let (left, right, top, bottom) = (64.0, 24.0, 36.0, 52.0);
    let mut points: Vec<&crate::report::Point> = f.frontier.iter().collect();
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
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="cascade frontier: accuracy against cost"><rect width="{w}" height="{h}" fill="#fff"/><text x="{left}" y="20" font-size="14" font-weight="600">{}: accuracy against cost per 1,000 cases</text>"##,
        escape(&r.suite)
    );
    // Axes and grid.
    let mut a = lo;
    while a <= hi + 1e-9 {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e6ee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}%</text>"##,
            w - right,
            left - 6.0,
            y(a) + 4.0,
            a * 100.0,
            y = y(a)
        );
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
    let mut c = 0.0;
    while c <= max_cost * 1.05 + 1e-15 {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">${}</text>"##,
            x(c),
            h - bottom + 18.0,
            escape(&money(c))
        );
        c += step;
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{:.1}" stroke="#889"/><line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#889"/><text x="{:.1}" y="{:.1}" text-anchor="middle">cost per 1,000 cases (USD)</text>"##,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 12.0
    );
    // The frontier as steps: cheaper points hold their accuracy until the next.
    let mut path = String::new();
    for (i, p) in f.frontier.iter().enumerate() {
        if i == 0 {
            let _ = write!(path, "M{:.1},{:.1}", x(p.cost_per_1k), y(p.accuracy));
        } else {
            let _ = write!(path, " H{:.1} V{:.1}", x(p.cost_per_1k), y(p.accuracy));
        }
    }
    let _ = write!(
        s,
        r##"<path d="{path}" fill="none" stroke="#5b7bd5" stroke-width="2"/>"##
    );
    for p in &f.frontier {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#5b7bd5"><title>{}</title></circle>"##,
            x(p.cost_per_1k),
            y(p.accuracy),
            escape(&format!(
                "{}: accuracy {:.1}%, ${} per 1,000 cases, {:.0}% reach the top tier",
                crate::report::cascade_thresholds(r, p),
                p.accuracy * 100.0,
                money(p.cost_per_1k),
                p.reach_top * 100.0
            ))
        );
    }
    let top_name = r.tiers.last().map_or("top tier", |t| t.model.as_str());
    let _ = write!(
        s,
        r##"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="#c0392b"><title>{} alone</title></rect><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#c0392b">always {}</text>"##,
        x(f.top.cost_per_1k) - 5.0,
        y(f.top.accuracy) - 5.0,
        escape(top_name),
        x(f.top.cost_per_1k) - 8.0,
        y(f.top.accuracy) - 10.0,
        escape(top_name)
    );
    if let Some(p) = &f.recommended {
        let (cx, cy) = (x(p.cost_per_1k), y(p.accuracy));
        let anchor = if cx > w / 2.0 { "end" } else { "start" };
        let dx = if cx > w / 2.0 { -12.0 } else { 12.0 };
        let _ = write!(
            s,
            r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="9" fill="none" stroke="#1e8449" stroke-width="2.5"/><text x="{:.1}" y="{:.1}" text-anchor="{anchor}" fill="#1e8449">recommended: {:.0}% of the accuracy at {:.0}% of the cost</text>"##,
            cx + dx,
            cy + 22.0,
            p.quality_retained * 100.0,
            p.cost_share * 100.0
        );
    }
    s.push_str("</svg>\n");
    s
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

/// The cascade as a page: the tiers, the frontier table, the recommendation and the chart.
pub fn render_cascade(r: &crate::report::CascadeReport, svg: &str) -> String {
    let f = &r.frontier;
    let mut body = format!(
        "<h1>Cascade {}</h1><p class=\"meta\">answer <code>{}</code> · {} cases · target {:.0}% of the top tier's accuracy</p>",
        escape(&r.suite),
        escape(&r.field),
        r.cases,
        f.target * 100.0
    );
    // The notes first: a weak top tier changes how every "keeps N%" below reads.
    for n in &r.notes {
        let _ = write!(body, "<p class=\"meta\">note: {}</p>", escape(n));
    }
    if let Some(p) = &f.recommended {
        let _ = write!(
            body,
            r#"<p class="pass" id="recommendation">Recommended: {}, which {} (${} per 1,000 cases, accuracy {}).</p>"#,
            escape(&crate::report::cascade_thresholds(r, p)),
            escape(&crate::report::cascade_sentence(p)),
            escape(&money(p.cost_per_1k)),
            pct(p.accuracy)
        );
        if let Some(v) = &r.recommended_vs_top {
            let _ = write!(
                body,
                r#"<p class="meta">{}</p>"#,
                escape(&crate::report::cascade_claim(v, f.target))
            );
        }
    }
    // The point the gates hold the cascade to, when the suite pins one.
    if let Some(p) = &r.pinned {
        let _ = write!(
            body,
            r#"<p id="pinned">The suite's pinned thresholds ({}) {} (${} per 1,000 cases, accuracy {}).</p>"#,
            escape(&crate::report::cascade_thresholds(r, p)),
            escape(&crate::report::cascade_sentence(p)),
            escape(&money(p.cost_per_1k)),
            pct(p.accuracy)
        );
        if let Some(v) = &r.pinned_vs_top {
            let _ = write!(
                body,
                r#"<p class="meta">{}</p>"#,
                escape(&crate::report::cascade_claim(v, f.target))
            );
        }
    }
    // The chart is ours and carries no script; it is inlined as is.
    body.push_str(svg.trim_end());
    body.push_str("<h2>Tiers</h2><table><tr><th>tier</th><th>model</th><th>confidence</th><th>usable</th><th>accuracy</th><th>$ / 1,000</th><th>p50 ms</th></tr>");
    for (k, t) in r.tiers.iter().enumerate() {
        let _ = write!(
            body,
            r#"<tr><td class="num">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{} ({}–{})</td><td class="num">{}</td><td class="num">{:.0}</td></tr>"#,
            k + 1,
            escape(&t.model),
            escape(&t.confidence),
            pct(t.usable),
            pct(t.accuracy),
            pct(t.accuracy_low),
            pct(t.accuracy_high),
            escape(&money(t.cost_per_1k)),
            t.latency_p50_ms
        );
    }
    body.push_str("</table><h2>Frontier</h2><table><tr><th>thresholds</th><th>answered by tier</th><th>accuracy</th><th>retained</th><th>$ / 1,000</th><th>cost share</th><th>p50 / p95 ms</th></tr>");
    for p in &f.frontier {
        let _ = write!(
            body,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{} ({}–{})</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{:.0} / {:.0}</td></tr>"#,
            escape(&crate::report::cascade_thresholds(r, p)),
            p.answered
                .iter()
                .map(|a| format!("{:.0}%", a * 100.0))
                .collect::<Vec<_>>()
                .join(" · "),
            pct(p.accuracy),
            pct(p.accuracy_low),
            pct(p.accuracy_high),
            pct(p.quality_retained),
            escape(&money(p.cost_per_1k)),
            pct(p.cost_share),
            p.latency_p50_ms,
            p.latency_p95_ms
        );
    }
    body.push_str("</table>");
    page(&format!("evalgate cascade · {}", r.suite), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\"\u{1}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;\u{FFFD}"
        );
        let j = script_json(&json!({"o": "</script><b>&"}));
        assert!(!j.contains('<') && !j.contains('&'), "{j}");
        assert_eq!(
            serde_json::from_str::<Value>(&j).unwrap()["o"],
            "</script><b>&"
        );
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
        let html = render_run(&run, &[]);
        // The rows are data for the script (a page of 100 is drawn at a time), not markup.
        assert!(html.len() < 2_500_000, "{} bytes", html.len());
        assert_eq!(html.matches("case-0").count(), 10_000);
        assert!(!html.contains("<tr><td>case-"));
    }

    #[test]
    fn word_diff_marks_words() {
        assert_eq!(
            word_diff("the risk is 2", "the risk is 5"),
            "the risk is <del>2</del><ins>5</ins>"
        );
    }
}
