//! The output matrix: every case a row, every run (a prompt version on a model) a column, each
//! cell the run's output for that case with its status, failed scorers, cost and latency.
//!
//! The runs are read once, each in case id order (a case's repeats one after another; the
//! first repeat is shown): a merge join of N streams by case id. The page carries the cells
//! column by column as `cases::CaseColumns` does: each distinct output, list of scorers or
//! labels written once for all runs (runs of one dataset often answer alike), gzip-compressed
//! JSON in base64, drawn a page of rows at a time by `templates/matrix.js`.

use serde::Serialize;
use std::borrow::Borrow;

use super::cases::{
    MAX_CLIP, OUTPUT_BUDGET, clip_for, failed_scorers, predicted_labels, shown_output,
    status_index, tenths,
};
use crate::intern::Interner;
use crate::report::{CaseEntry, RunReport};
use crate::status::CaseStatus;

/// One run's cells, a value per row (null where the run has no such case).
#[derive(Debug, Serialize)]
pub struct RunCells {
    pub status: Vec<Option<u8>>,
    pub failed: Vec<u32>,
    pub labels: Vec<u32>,
    pub output: Vec<u32>,
    #[serde(serialize_with = "tenths")]
    pub latency_ms: Vec<Option<f64>>,
    pub cost_usd: Vec<Option<f64>>,
}

/// The matrix's cells (see the module's comment).
#[derive(Debug, Serialize)]
pub struct MatrixColumns {
    /// The length outputs are clipped to.
    pub clip: usize,
    pub statuses: Vec<&'static str>,
    /// Lists of strings (failed scorers, predicted `field=label`s).
    pub lists: Vec<Vec<String>>,
    pub outputs: Vec<String>,
    /// The case ids, in order: the rows.
    pub id: Vec<String>,
    pub runs: Vec<RunCells>,
}

/// A case where the runs do not all agree, for the terminal and JSON views.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub case_id: String,
    /// Each run's status (None where it has no such case).
    pub statuses: Vec<Option<CaseStatus>>,
}

/// How far the runs agree, case by case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Rows: the case ids of any run.
    pub cases: usize,
    /// Cases every run has.
    pub in_every_run: usize,
    /// Cases whose status differs between the runs that have them.
    pub status_differs: usize,
    /// Cases whose output differs between the runs that have them.
    pub output_differs: usize,
    /// Cases some run failed or erred on.
    pub any_failure: usize,
    /// The first cases whose status differs, in case id order.
    pub first: Vec<Disagreement>,
}

/// One column of the matrix: a run, with its report's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixColumn {
    pub run_id: crate::id::RunId,
    pub suite: String,
    pub model: String,
    pub prompt: String,
    pub prompt_version: String,
    pub pass_rate: crate::report::Proportion,
    pub cost_per_case_usd: f64,
    pub latency_p50_ms: Option<f64>,
}

/// The matrix as the terminal and `--format json` show it: the columns and how far they agree
/// (the cells are for the page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixSummary {
    pub columns: Vec<MatrixColumn>,
    pub agreement: Agreement,
}

impl MatrixSummary {
    /// The summary of the runs of `reports` (in column order) whose cells are `m`; the first
    /// `shown` cases whose status differs are listed.
    pub fn of(reports: &[RunReport], m: &MatrixColumns, shown: usize) -> MatrixSummary {
        MatrixSummary {
            columns: reports
                .iter()
                .map(|r| MatrixColumn {
                    run_id: r.run.id.clone(),
                    suite: r.run.suite.clone(),
                    model: r.run.model.clone(),
                    prompt: r.run.prompt.clone(),
                    prompt_version: r.run.prompt_version.clone(),
                    pass_rate: r.pass_rate,
                    cost_per_case_usd: r.usage.cost_per_case_usd,
                    latency_p50_ms: r.latency.p50_ms,
                })
                .collect(),
            agreement: m.agreement(shown),
        }
    }
}

impl MatrixColumns {
    /// The columns as JSON, gzip-compressed, in base64 (what the page embeds).
    pub fn packed(&self) -> String {
        super::cases::pack(self)
    }

    /// Every label some run predicted (`field=label`), sorted.
    pub fn all_labels(&self) -> Vec<String> {
        super::cases::union_of(
            &self.lists,
            self.runs.iter().flat_map(|r| r.labels.iter().copied()),
        )
    }

    /// How far the runs agree; the first `shown` cases whose status differs are listed.
    pub fn agreement(&self, shown: usize) -> Agreement {
        let mut a = Agreement {
            cases: self.id.len(),
            in_every_run: 0,
            status_differs: 0,
            output_differs: 0,
            any_failure: 0,
            first: Vec::new(),
        };
        let pass = status_index(CaseStatus::Pass);
        for row in 0..self.id.len() {
            let present: Vec<&RunCells> = self
                .runs
                .iter()
                .filter(|r| r.status[row].is_some())
                .collect();
            if present.len() == self.runs.len() {
                a.in_every_run += 1;
            }
            let differs = |f: &dyn Fn(&RunCells) -> Option<u32>| {
                present.windows(2).any(|w| f(w[0]) != f(w[1]))
            };
            let status_differs = differs(&|r| r.status[row].map(u32::from));
            if status_differs {
                a.status_differs += 1;
                if a.first.len() < shown {
                    a.first.push(Disagreement {
                        case_id: self.id[row].clone(),
                        statuses: self
                            .runs
                            .iter()
                            .map(|r| r.status[row].map(|s| CaseStatus::ALL[s as usize]))
                            .collect(),
                    });
                }
            }
            if differs(&|r| Some(r.output[row])) {
                a.output_differs += 1;
            }
            if present.iter().any(|r| r.status[row] != Some(pass)) {
                a.any_failure += 1;
            }
        }
        a
    }
}

/// Reads the runs' cases once, each stream in case id order (a case's repeats one after
/// another), into the matrix: a row per case id of any run, the first repeat of each.
/// `reports` are the runs' reports, in the streams' order (their enum fields name the
/// predicted labels).
pub fn matrix_columns<C: Borrow<CaseEntry>, E, I: Iterator<Item = Result<C, E>>>(
    reports: &[&RunReport],
    streams: Vec<I>,
) -> Result<MatrixColumns, E> {
    let enum_fields: Vec<Vec<String>> = reports
        .iter()
        .map(|r| super::cases::enum_fields(r))
        .collect();
    let mut lists: Interner<Vec<String>> = Interner::default();
    let mut outputs: Interner<String> = Interner::default();
    let none = lists.id(Vec::new());
    let mut m = MatrixColumns {
        clip: MAX_CLIP,
        statuses: CaseStatus::ALL.iter().map(|s| s.as_str()).collect(),
        lists: Vec::new(),
        outputs: Vec::new(),
        id: Vec::new(),
        runs: streams
            .iter()
            .map(|_| RunCells {
                status: Vec::new(),
                failed: Vec::new(),
                labels: Vec::new(),
                output: Vec::new(),
                latency_ms: Vec::new(),
                cost_usd: Vec::new(),
            })
            .collect(),
    };
    let empty = outputs.id(String::new());
    let mut streams: Vec<std::iter::Peekable<I>> =
        streams.into_iter().map(Iterator::peekable).collect();
    loop {
        // The smallest case id at the head of a stream; an error ends the reading.
        let mut next: Option<String> = None;
        for s in &mut streams {
            match s.peek() {
                Some(Ok(c)) => {
                    let id = &c.borrow().id;
                    if next.as_ref().is_none_or(|n| id < n) {
                        next = Some(id.clone());
                    }
                }
                Some(Err(_)) => {
                    if let Some(Err(e)) = s.next() {
                        return Err(e);
                    }
                }
                None => {}
            }
        }
        let Some(id) = next else { break };
        for (k, s) in streams.iter_mut().enumerate() {
            let cells = &mut m.runs[k];
            let mut first = true;
            while let Some(Ok(c)) = s.peek() {
                let c = c.borrow();
                if c.id != id {
                    break;
                }
                if first {
                    first = false;
                    cells.status.push(Some(status_index(c.status)));
                    cells.failed.push(lists.id(failed_scorers(c)));
                    cells
                        .labels
                        .push(lists.id(predicted_labels(&enum_fields[k], c)));
                    cells
                        .output
                        .push(outputs.id(crate::text::clip(shown_output(c), MAX_CLIP)));
                    cells.latency_ms.push(c.latency_ms);
                    cells.cost_usd.push(Some(c.cost_usd));
                }
                s.next();
            }
            if first {
                cells.status.push(None);
                cells.failed.push(none);
                cells.labels.push(none);
                cells.output.push(empty);
                cells.latency_ms.push(None);
                cells.cost_usd.push(None);
            }
        }
        m.id.push(id);
    }
    m.lists = lists.into_values();
    m.outputs = outputs.into_values();
    m.clip = clip_for(&m.outputs, OUTPUT_BUDGET);
    if m.clip < MAX_CLIP {
        for o in &mut m.outputs {
            if o.chars().count() > m.clip {
                *o = crate::text::clip(o, m.clip);
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunFile;
    use serde_json::json;

    fn run(cases: &[(&str, i64, &str, &str)]) -> RunFile {
        let cases = cases
            .iter()
            .map(|(id, repeat, status, output)| json!({"id": id, "repeat": repeat, "status": status, "output": output}))
            .collect();
        crate::runfile::testing::run_file(
            "r",
            r#"{"fields":{"intent":{"type":"enum","values":["billing","bug"]}}}"#,
            cases,
        )
    }

    #[test]
    fn runs_are_joined_by_case_id_with_their_first_repeat() {
        let a = run(&[
            ("c1", 0, "pass", "x"),
            ("c2", 0, "fail", "y"),
            ("c3", 0, "pass", "z"),
        ]);
        let b = run(&[
            ("c1", 0, "pass", "x"),
            ("c1", 1, "fail", "other"),
            ("c3", 0, "fail", "w"),
            ("c4", 0, "pass", "v"),
        ]);
        let m = matrix_columns(
            &[&a.report, &b.report],
            vec![
                a.cases.iter().map(Ok::<_, ()>),
                b.cases.iter().map(Ok::<_, ()>),
            ],
        )
        .unwrap();
        assert_eq!(m.id, ["c1", "c2", "c3", "c4"]);
        let status = |k: usize| -> Vec<Option<&str>> {
            m.runs[k]
                .status
                .iter()
                .map(|s| s.map(|s| m.statuses[s as usize]))
                .collect()
        };
        assert_eq!(status(0), [Some("pass"), Some("fail"), Some("pass"), None]);
        assert_eq!(status(1), [Some("pass"), None, Some("fail"), Some("pass")]);
        // "x" is written once for both runs.
        assert_eq!(m.runs[0].output[0], m.runs[1].output[0]);
        assert_eq!(m.outputs[m.runs[1].output[2] as usize], "w");
        assert_eq!(m.runs[1].cost_usd[1], None);
        let agreement = m.agreement(10);
        assert_eq!(
            (
                agreement.cases,
                agreement.in_every_run,
                agreement.status_differs,
                agreement.output_differs,
                agreement.any_failure
            ),
            (4, 2, 1, 1, 2)
        );
        assert_eq!(agreement.first[0].case_id, "c3");
        assert_eq!(
            agreement.first[0].statuses,
            [Some(CaseStatus::Pass), Some(CaseStatus::Fail)]
        );
        let data = super::super::cases::unpack(&m.packed());
        assert_eq!(data["runs"][1]["status"][1], serde_json::Value::Null);
    }
}
