//! The feature export a downstream system loads: one row per case whose answer met the
//! contract, with the contracted fields, `feature_version` and `generated_at`; the rejected
//! answers apart, each with its reason.

use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write;

use crate::error::Error;
use crate::runfile::CaseEntry;
use crate::store::RunRow;

/// The table's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// RFC 4180 CSV with a header. Strings as they are, numbers and booleans printed, label
    /// arrays as JSON (`["a","b"]`), missing optional fields empty.
    Csv,
    /// One JSON object per line, keys in column order.
    Jsonl,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub case_id: String,
    pub reason: String,
}

/// What an export wrote.
#[derive(Debug, Default)]
pub struct Exported {
    /// `case_id`, the contract's fields in declaration order, `feature_version`, `generated_at`.
    pub columns: Vec<String>,
    pub rows: u64,
    pub rejected: u64,
    /// The first rejected cases (up to `SHOWN_REJECTED`), for a message.
    pub first_rejected: Vec<Rejected>,
}

/// How many rejected cases an `Exported` keeps for a message.
pub const SHOWN_REJECTED: usize = 10;

/// The columns the export adds around the contract's fields.
const RESERVED: &[&str] = &["case_id", "feature_version", "generated_at"];

/// Where an export writes: the table, and the rejected answers (one JSON object a line) when
/// asked. A write error is returned as it is; the caller knows the file's name.
pub struct Sinks<'a> {
    pub table: &'a mut dyn Write,
    pub rejected: Option<&'a mut dyn Write>,
}

/// An export's failure: reading the cases, or writing the table or the rejected list.
#[derive(Debug)]
pub enum ExportError {
    Read(Error),
    Table(std::io::Error),
    Rejected(std::io::Error),
}

impl From<Error> for ExportError {
    fn from(e: Error) -> Self {
        ExportError::Read(e)
    }
}

/// The run's feature contract and the export's columns, or why it has none to export.
pub fn columns(run: &RunRow) -> Result<(crate::contract::Contract, Vec<String>), Error> {
    let contract = super::feature_contract(run)?;
    if let Some(clash) = contract
        .fields
        .keys()
        .find(|k| RESERVED.contains(&k.as_str()))
    {
        return Err(Error::usage(
            format!("the contract has a field `{clash}`, a column the export adds itself"),
            Some("rename the field in the prompt's output contract".into()),
        ));
    }
    let mut columns = vec!["case_id".to_string()];
    columns.extend(contract.fields.keys().cloned());
    columns.push("feature_version".into());
    columns.push("generated_at".into());
    Ok((contract, columns))
}

/// Writes the features of a run's cases, given one at a time in (case id, repeat) order:
/// one row per case (its first repeat) whose answer met the contract; the others rejected,
/// each with its reason. Memory stays flat whatever the number of cases.
pub fn export(
    run: &RunRow,
    cases: impl Iterator<Item = Result<CaseEntry, Error>>,
    format: TableFormat,
    sinks: Sinks<'_>,
) -> Result<Exported, ExportError> {
    let (contract, columns) = columns(run)?;
    let version = super::feature_version(run);
    let mut table = Table::new(format, sinks.table, &columns).map_err(ExportError::Table)?;
    let mut rejected_out = sinks.rejected;
    let mut done = Exported {
        columns: columns.clone(),
        ..Exported::default()
    };
    let mut last: Option<String> = None;
    for case in cases {
        let case = case?;
        // Cases come in (id, repeat) order: the first of an id is its first repeat.
        if last.as_deref() == Some(case.id.as_str()) {
            continue;
        }
        match super::case_features(&contract, &case) {
            Ok(fields) => {
                let mut row = Map::new();
                row.insert("case_id".into(), Value::String(case.id.clone()));
                for name in contract.fields.keys() {
                    row.insert(
                        name.clone(),
                        fields.get(name).cloned().unwrap_or(Value::Null),
                    );
                }
                row.insert("feature_version".into(), Value::String(version.clone()));
                let at = if case.finished_at.is_empty() {
                    run.started_at.clone()
                } else {
                    case.finished_at.clone()
                };
                row.insert("generated_at".into(), Value::String(at));
                table.row(&columns, &row).map_err(ExportError::Table)?;
                done.rows += 1;
            }
            Err(reason) => {
                let r = Rejected {
                    case_id: case.id.clone(),
                    reason,
                };
                if let Some(out) = rejected_out.as_mut() {
                    serde_json::to_writer(&mut **out, &r)
                        .map_err(std::io::Error::other)
                        .and_then(|()| out.write_all(b"\n"))
                        .map_err(ExportError::Rejected)?;
                }
                if done.first_rejected.len() < SHOWN_REJECTED {
                    done.first_rejected.push(r);
                }
                done.rejected += 1;
            }
        }
        last = Some(case.id);
    }
    table.finish().map_err(ExportError::Table)?;
    if let Some(out) = rejected_out {
        out.flush().map_err(ExportError::Rejected)?;
    }
    Ok(done)
}

/// The table being written, row by row.
enum Table<'a> {
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
    Jsonl(std::io::BufWriter<&'a mut dyn Write>),
}

impl<'a> Table<'a> {
    fn new(
        format: TableFormat,
        out: &'a mut dyn Write,
        columns: &[String],
    ) -> std::io::Result<Self> {
        Ok(match format {
            TableFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(columns)?;
                Table::Csv(Box::new(w))
            }
            TableFormat::Jsonl => Table::Jsonl(std::io::BufWriter::with_capacity(1 << 16, out)),
        })
    }

    fn row(&mut self, columns: &[String], row: &Map<String, Value>) -> std::io::Result<()> {
        match self {
            Table::Csv(w) => Ok(w.write_record(columns.iter().map(|c| match row.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            }))?),
            Table::Jsonl(out) => {
                out.write_all(b"{")?;
                for (i, c) in columns.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *out, c)?;
                    out.write_all(b":")?;
                    serde_json::to_writer(&mut *out, row.get(c).unwrap_or(&Value::Null))?;
                }
                out.write_all(b"}\n")
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Table::Csv(mut w) => w.flush(),
            Table::Jsonl(mut w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfile::testing::run_file;
    use serde_json::json;

    #[test]
    fn only_answers_within_the_contract_are_exported() {
        let run = run_file(
            "r",
            r#"{"fields":{"intent":{"type":"enum","values":["a","b"]},"tags":{"type":"labels","values":["x","y"]},"note":{"type":"string","required":false}}}"#,
            vec![
                json!({"id": "1", "status": "pass", "output": r#"{"intent":"a","tags":["x","y"],"note":"said \"hi\", left"}"#}),
                json!({"id": "2", "status": "fail", "output": r#"{"intent":"z","tags":[]}"#}),
                json!({"id": "3", "status": "error", "kind": "timeout", "message": "no answer in 30 s"}),
                json!({"id": "4", "status": "pass", "output": r#"{"intent":"b","tags":[]}"#}),
            ],
        );
        let write = |format| {
            let (mut table, mut rejected) = (Vec::new(), Vec::new());
            let sinks = Sinks {
                table: &mut table,
                rejected: Some(&mut rejected),
            };
            let cases = run.cases.iter().map(|c| Ok(c.clone()));
            let e = export(&run.run, cases, format, sinks).unwrap();
            let text = |b| String::from_utf8(b).unwrap();
            (e, text(table), text(rejected))
        };
        let (e, text, rejected) = write(TableFormat::Csv);
        assert_eq!(
            e.columns,
            [
                "case_id",
                "intent",
                "tags",
                "note",
                "feature_version",
                "generated_at"
            ]
        );
        assert_eq!((e.rows, e.rejected), (2, 2));
        let r = &e.first_rejected;
        assert!(r[0].reason.contains("`intent`"), "{r:?}");
        assert!(r[1].reason.contains("timeout"), "{r:?}");
        assert_eq!(rejected.lines().count(), 2);
        assert!(
            rejected.starts_with(r#"{"case_id":"2","reason":"#),
            "{rejected}"
        );
        assert_eq!(
            text,
            "case_id,intent,tags,note,feature_version,generated_at\n\
             1,a,\"[\"\"x\"\",\"\"y\"\"]\",\"said \"\"hi\"\", left\",p@v+m,2026-11-23T10:00:01Z\n\
             4,b,[],,p@v+m,2026-11-23T10:00:01Z\n"
        );
        let (_, text, _) = write(TableFormat::Jsonl);
        let line = text.lines().next().unwrap();
        assert!(
            line.starts_with(r#"{"case_id":"1","intent":"a","tags":["x","y"],"note":"#),
            "{line}"
        );
        let first: Value = serde_json::from_str(line).unwrap();
        assert_eq!(first["tags"], json!(["x", "y"]));
        assert_eq!(first["feature_version"], "p@v+m");
    }
}
