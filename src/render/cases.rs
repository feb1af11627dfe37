//! The case table of a page as script data, column by column, so that a run of 100,000 cases
//! makes a page of a few megabytes that a browser opens at once.
//!
//! Each column holds one value a case: its id, latency and cost as they are, and everything
//! that repeats (a status, the list of failed scorers, the tags, the predicted labels, the
//! output) as an index into a table where each distinct value is written once. The script
//! (`templates/report.js`) filters and sorts the indices and draws one page of rows.
//!
//! The page carries the columns as JSON compressed with gzip, in base64: the browser unpacks
//! them with its own `DecompressionStream`, and real outputs shrink to a third or less.
//!
//! Outputs are clipped to 4,000 characters; when the distinct outputs would still take more
//! than [`OUTPUT_BUDGET`] bytes, they are clipped shorter (never under [`MIN_CLIP`]), and the
//! page says to what, so that the page's size follows the number of cases, not their length.

use serde::Serialize;
use std::collections::HashMap;

use crate::intern::Interner;
use crate::report::{CaseEntry, RunReport};
use crate::status::{CaseStatus, Outcome};
use std::borrow::Borrow;
use std::collections::HashSet;

/// What the distinct outputs of a page may take, in bytes before compression.
pub const OUTPUT_BUDGET: usize = 24_000_000;
/// The longest output shown.
pub const MAX_CLIP: usize = 4000;
/// Outputs are never clipped shorter than this to stay in the budget.
pub const MIN_CLIP: usize = 100;

/// The data the script reads (see the module's comment); `base` only on a comparison.
#[derive(Serialize)]
pub struct CaseColumns {
    /// The length outputs are clipped to.
    pub clip: usize,
    pub statuses: Vec<&'static str>,
    /// Lists of strings (failed scorers, tags, predicted `field=label`s).
    pub lists: Vec<Vec<String>>,
    pub outputs: Vec<String>,
    pub id: Vec<String>,
    pub status: Vec<u8>,
    /// The base run's status of the same case, or null where the base has no such case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Vec<Option<u8>>>,
    pub failed: Vec<u32>,
    pub tags: Vec<u32>,
    pub labels: Vec<u32>,
    pub output: Vec<u32>,
    /// Written in milliseconds to a tenth.
    #[serde(serialize_with = "tenths")]
    pub latency_ms: Vec<Option<f64>>,
    pub cost_usd: Vec<f64>,
}

pub(super) fn tenths<S: serde::Serializer>(
    values: &[Option<f64>],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for v in values {
        seq.serialize_element(&v.map(|ms| (ms * 10.0).round() / 10.0))?;
    }
    seq.end()
}

pub(super) fn status_index(s: CaseStatus) -> u8 {
    CaseStatus::ALL.iter().position(|x| *x == s).unwrap_or(0) as u8
}

/// The tags of a case, as strings.
pub fn tags(c: &CaseEntry) -> Vec<String> {
    c.tags
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `data` as JSON, gzip-compressed, in base64: what a page's script unpacks.
pub(super) fn pack(data: &impl Serialize) -> String {
    use base64::Engine;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to memory cannot fail, and serializing strings and numbers neither.
    let _ = serde_json::to_writer(&mut gz, data);
    let bytes = gz.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The strings of the `lists` named by `used`, sorted, each once.
pub(super) fn union_of(lists: &[Vec<String>], used: impl Iterator<Item = u32>) -> Vec<String> {
    let mut seen = vec![false; lists.len()];
    for i in used {
        seen[i as usize] = true;
    }
    let mut all: Vec<String> = seen
        .iter()
        .zip(lists)
        .filter(|(seen, _)| **seen)
        .flat_map(|(_, l)| l.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The scorers a case did not pass, and its error's kind when it is an error.
pub(super) fn failed_scorers(c: &CaseEntry) -> Vec<String> {
    c.scores
        .iter()
        .filter(|s| s.outcome != Outcome::Pass && s.outcome != Outcome::Skip)
        .map(|s| s.scorer.clone())
        .chain(
            c.kind
                .filter(|_| c.status == CaseStatus::Error)
                .map(|k| k.to_string()),
        )
        .collect()
}

/// The predicted value of each enum field, as `field=value`, for the label filter.
pub(super) fn predicted_labels(enum_fields: &[String], c: &CaseEntry) -> Vec<String> {
    enum_fields
        .iter()
        .filter_map(|f| {
            let v = c.parsed.as_ref()?.get(f)?.as_str()?;
            Some(format!("{f}={v}"))
        })
        .collect()
}

/// What a case's row shows as its output: the answer, or the error's message.
pub(super) fn shown_output(c: &CaseEntry) -> &str {
    c.output.as_deref().or(c.message.as_deref()).unwrap_or("")
}

/// The longest clip that keeps the distinct outputs (with their lengths in characters and
/// bytes) within `budget` bytes, between `MIN_CLIP` and `MAX_CLIP` characters.
pub(super) fn clip_for(outputs: &[String], budget: usize) -> usize {
    let bytes_at = |clip: usize| -> usize {
        outputs
            .iter()
            .map(|o| {
                o.char_indices()
                    .nth(clip)
                    .map_or(o.len(), |(at, _)| at + '…'.len_utf8())
            })
            .sum()
    };
    if bytes_at(MAX_CLIP) <= budget {
        return MAX_CLIP;
    }
    // The bytes grow with the clip: the longest clip within the budget, by bisection.
    let (mut lo, mut hi) = (MIN_CLIP, MAX_CLIP);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if bytes_at(mid) <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

impl CaseColumns {
    /// The columns as JSON, gzip-compressed, in base64 (what the page embeds).
    pub fn packed(&self) -> String {
        pack(self)
    }

    /// Every tag of the cases, sorted.
    pub fn all_tags(&self) -> Vec<String> {
        union_of(&self.lists, self.tags.iter().copied())
    }

    /// The latency of each case that has one, and the cost of each case that did not fail
    /// with an error: what the page's histograms show.
    pub fn latencies_and_costs(&self) -> (Vec<f64>, Vec<f64>) {
        let error = status_index(CaseStatus::Error);
        let latencies = self.latency_ms.iter().flatten().copied().collect();
        let costs = self
            .cost_usd
            .iter()
            .zip(&self.status)
            .filter(|(_, s)| **s != error)
            .map(|(c, _)| *c)
            .collect();
        (latencies, costs)
    }
}

/// Builds the columns a case at a time.
pub struct Builder {
    enum_fields: Vec<String>,
    budget: usize,
    lists: Interner<Vec<String>>,
    outputs: Interner<String>,
    t: CaseColumns,
}

impl Builder {
    /// Columns for cases whose predicted labels are the values of `enum_fields`; with
    /// `comparison`, each case's status in the base run too.
    pub fn new(enum_fields: Vec<String>, comparison: bool) -> Builder {
        Builder::with_budget(enum_fields, comparison, OUTPUT_BUDGET)
    }

    fn with_budget(enum_fields: Vec<String>, comparison: bool, budget: usize) -> Builder {
        Builder {
            enum_fields,
            budget,
            lists: Interner::default(),
            outputs: Interner::default(),
            t: CaseColumns {
                clip: MAX_CLIP,
                statuses: CaseStatus::ALL.iter().map(|s| s.as_str()).collect(),
                lists: Vec::new(),
                outputs: Vec::new(),
                id: Vec::new(),
                status: Vec::new(),
                base: comparison.then(Vec::new),
                failed: Vec::new(),
                tags: Vec::new(),
                labels: Vec::new(),
                output: Vec::new(),
                latency_ms: Vec::new(),
                cost_usd: Vec::new(),
            },
        }
    }

    /// Adds a case; `base` is the base run's status of it (None where it has none), read
    /// only on a comparison.
    pub fn push(&mut self, c: &CaseEntry, base: Option<CaseStatus>) {
        let failed = failed_scorers(c);
        let labels = predicted_labels(&self.enum_fields, c);
        let output = shown_output(c);
        let t = &mut self.t;
        t.id.push(if c.repeat > 0 {
            format!("{} #{}", c.id, c.repeat)
        } else {
            c.id.clone()
        });
        t.status.push(status_index(c.status));
        if let Some(column) = &mut t.base {
            column.push(base.map(status_index));
        }
        t.failed.push(self.lists.id(failed));
        t.tags.push(self.lists.id(tags(c)));
        t.labels.push(self.lists.id(labels));
        t.output
            .push(self.outputs.id(crate::text::clip(output, MAX_CLIP)));
        t.latency_ms.push(c.latency_ms);
        t.cost_usd.push(c.cost_usd);
    }

    pub fn finish(self) -> CaseColumns {
        let mut t = self.t;
        t.lists = self.lists.into_values();
        t.outputs = self.outputs.into_values();
        t.clip = clip_for(&t.outputs, self.budget);
        if t.clip < MAX_CLIP {
            for o in &mut t.outputs {
                if o.chars().count() > t.clip {
                    *o = crate::text::clip(o, t.clip);
                }
            }
        }
        t
    }
}

/// The enum fields of a run's report (whose predictions the label filter offers).
pub fn enum_fields(report: &RunReport) -> Vec<String> {
    report.enum_fields.iter().map(|f| f.field.clone()).collect()
}

/// The columns of a run's cases, read once in any order.
pub fn run_columns<C: Borrow<CaseEntry>, E>(
    report: &RunReport,
    cases: impl Iterator<Item = Result<C, E>>,
) -> Result<CaseColumns, E> {
    let mut b = Builder::new(enum_fields(report), false);
    for c in cases {
        b.push(c?.borrow(), None);
    }
    Ok(b.finish())
}

/// A comparison's page data: the candidate's columns (with the base status of each case) and
/// the first repeat of the cases named in `wanted` (the flipped ones) in each run.
pub struct Compared {
    pub columns: CaseColumns,
    pub base: HashMap<String, CaseEntry>,
    pub candidate: HashMap<String, CaseEntry>,
}

/// Reads the two runs' cases once, each in case id order (a case's repeats one after another,
/// as `compare::compare_cases` reads them): a merge join by id.
pub fn compared_columns<C: Borrow<CaseEntry>, E>(
    report: &RunReport,
    base_cases: impl Iterator<Item = Result<C, E>>,
    cand_cases: impl Iterator<Item = Result<C, E>>,
    wanted: &HashSet<&str>,
) -> Result<Compared, E> {
    let mut b = Builder::new(enum_fields(report), true);
    let mut out = Compared {
        columns: CaseColumns::empty(),
        base: HashMap::new(),
        candidate: HashMap::new(),
    };
    let mut base_cases = base_cases.peekable();
    // The base case last read, and its status (of its first repeat).
    let mut last: Option<(String, CaseStatus)> = None;
    for c in cand_cases {
        let c = c?;
        let c = c.borrow();
        // Read the base up to this case's id.
        while last
            .as_ref()
            .is_none_or(|(id, _)| id.as_str() < c.id.as_str())
        {
            let Some(x) = base_cases.next().transpose()? else {
                break;
            };
            let x = x.borrow();
            if x.repeat == 0 || last.as_ref().is_none_or(|(id, _)| *id != x.id) {
                last = Some((x.id.clone(), x.status));
            }
            if x.repeat == 0 && wanted.contains(x.id.as_str()) {
                out.base.insert(x.id.clone(), x.clone());
            }
        }
        let status = last.as_ref().filter(|(id, _)| *id == c.id).map(|(_, s)| *s);
        b.push(c, status);
        if c.repeat == 0 && wanted.contains(c.id.as_str()) {
            out.candidate.insert(c.id.clone(), c.clone());
        }
    }
    // The flipped cases of the base after the candidate's last.
    for x in base_cases {
        let x = x?;
        let x = x.borrow();
        if x.repeat == 0 && wanted.contains(x.id.as_str()) {
            out.base.insert(x.id.clone(), x.clone());
        }
    }
    out.columns = b.finish();
    Ok(out)
}

impl CaseColumns {
    fn empty() -> CaseColumns {
        Builder::new(Vec::new(), false).finish()
    }
}

/// What the page's script does with the packed columns: base64, then gunzip, then JSON.
#[cfg(test)]
pub(crate) fn unpack(packed: &str) -> serde_json::Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .unwrap();
    serde_json::from_reader(flate2::read::GzDecoder::new(&bytes[..])).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunFile;
    use serde_json::json;

    fn run(outputs: &[&str]) -> RunFile {
        let cases = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| json!({"id": format!("c{i}"), "status": if i % 2 == 0 { "pass" } else { "fail" }, "output": o, "tags": ["t"], "latency_ms": 12.345}))
            .collect();
        crate::runfile::testing::run_file(
            "r",
            r#"{"fields":{"intent":{"type":"enum","values":["billing","bug"]}}}"#,
            cases,
        )
    }

    fn columns(r: &RunFile, budget: usize) -> CaseColumns {
        let mut b = Builder::with_budget(enum_fields(&r.report), false, budget);
        for c in &r.cases {
            b.push(c, None);
        }
        b.finish()
    }

    #[test]
    fn repeated_values_are_written_once() {
        let r = run(&[
            r#"{"intent":"bug"}"#,
            r#"{"intent":"bug"}"#,
            r#"{"intent":"billing"}"#,
        ]);
        let t = run_columns(&r.report, r.cases.iter().map(Ok::<_, ()>)).unwrap();
        assert_eq!(t.id, ["c0", "c1", "c2"]);
        assert_eq!(t.outputs.len(), 2);
        assert_eq!(t.output, [0, 0, 1]);
        assert_eq!(
            t.status
                .iter()
                .map(|s| t.statuses[*s as usize])
                .collect::<Vec<_>>(),
            ["pass", "fail", "pass"]
        );
        assert_eq!(t.lists[t.tags[2] as usize], ["t"]);
        assert_eq!(t.all_tags(), ["t"]);
        assert!(t.base.is_none());
        assert_eq!(t.clip, MAX_CLIP);
        let data = unpack(&t.packed());
        assert_eq!(data["latency_ms"], json!([12.3, 12.3, 12.3]));
        assert_eq!(data["id"], json!(t.id));
        assert_eq!(data["outputs"], json!(t.outputs));
        // The histograms read the latencies as they are.
        assert_eq!(t.latencies_and_costs().0, [12.345; 3]);
    }

    #[test]
    fn a_comparison_carries_the_base_status_by_case_id_and_the_wanted_cases() {
        let cand = run(&["a", "b", "c", "d"]);
        let mut base = run(&["x", "y", "z", "w", "v"]);
        // The base lacks c2, has c1 twice (repeats) and a case after the candidate's last.
        base.cases.remove(2);
        let mut again = base.cases[1].clone();
        again.repeat = 1;
        again.status = CaseStatus::Pass;
        base.cases.insert(2, again);
        let wanted: HashSet<&str> = ["c1", "c4", "c3"].into();
        let got = compared_columns(
            &cand.report,
            base.cases.iter().map(Ok::<_, ()>),
            cand.cases.iter().map(Ok::<_, ()>),
            &wanted,
        )
        .unwrap();
        let t = &got.columns;
        let shown: Vec<Option<&str>> = t
            .base
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.map(|s| t.statuses[s as usize]))
            .collect();
        assert_eq!(shown, [Some("pass"), Some("fail"), None, Some("fail")]);
        let mut ids: Vec<&String> = got.base.keys().collect();
        ids.sort();
        assert_eq!(ids, ["c1", "c3", "c4"]);
        assert_eq!(got.base["c1"].repeat, 0);
        assert_eq!(got.base["c4"].output.as_deref(), Some("v"));
        let mut ids: Vec<&String> = got.candidate.keys().collect();
        ids.sort();
        assert_eq!(ids, ["c1", "c3"]);
    }

    #[test]
    fn long_distinct_outputs_are_clipped_to_stay_in_the_budget() {
        let long: Vec<String> = (0..100)
            .map(|i| format!("{i:03}{}", "é".repeat(995)))
            .collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        let r = run(&refs);
        // 100 outputs of 1,998 bytes do not fit in 50,000 bytes: about 250 characters each.
        let t = columns(&r, 50_000);
        let bytes: usize = t.outputs.iter().map(String::len).sum();
        assert!(bytes <= 50_000, "{bytes}");
        assert!(t.clip > 200 && t.clip < 260, "{}", t.clip);
        assert!(t.outputs.iter().all(|o| o.chars().count() == t.clip + 1));
        assert!(t.outputs[7].starts_with("007é"));
        // Within the budget, nothing is clipped.
        let t = columns(&r, 1_000_000);
        assert_eq!((t.clip, t.outputs[0].chars().count()), (MAX_CLIP, 998));
        // The floor holds even when the budget cannot.
        assert_eq!(columns(&r, 10).clip, MIN_CLIP);
    }
}
