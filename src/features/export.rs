//! The feature export a downstream system loads: one row per case whose answer met the
//! contract, with the contracted fields, `feature_version` and `generated_at`; the rejected
//! answers apart, each with its reason.

use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write;

use super::RunFeatures;
use crate::error::Error;
use crate::runfile::RunFile;

pub struct Export {
    /// `case_id`, the contract's fields in declaration order, `feature_version`, `generated_at`.
    pub columns: Vec<String>,
    pub rows: Vec<Map<String, Value>>,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub case_id: String,
    pub reason: String,
}

/// The columns the export adds around the contract's fields.
const RESERVED: &[&str] = &["case_id", "feature_version", "generated_at"];

pub fn export(run: &RunFile) -> Result<Export, Error> {
    let features = RunFeatures::of(run)?;
    if let Some(clash) = features
        .contract
        .fields
        .keys()
        .find(|k| RESERVED.contains(&k.as_str()))
    {
        return Err(Error::usage(
            format!("the contract has a field `{clash}`, a column the export adds itself"),
            Some("rename the field in the prompt's output contract".into()),
        ));
    }
    let version = features.feature_version();
    let mut columns = vec!["case_id".to_string()];
    columns.extend(features.contract.fields.keys().cloned());
    columns.push("feature_version".into());
    columns.push("generated_at".into());
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    for (id, (entry, feats)) in &features.cases {
        match feats {
            Ok(fields) => {
                let mut row = Map::new();
                row.insert("case_id".into(), Value::String(id.to_string()));
                for name in features.contract.fields.keys() {
                    row.insert(
                        name.clone(),
                        fields.get(name).cloned().unwrap_or(Value::Null),
                    );
                }
                row.insert("feature_version".into(), Value::String(version.clone()));
                let at = if entry.finished_at.is_empty() {
                    run.run.started_at.clone()
                } else {
                    entry.finished_at.clone()
                };
                row.insert("generated_at".into(), Value::String(at));
                rows.push(row);
            }
            Err(reason) => rejected.push(Rejected {
                case_id: id.to_string(),
                reason: reason.clone(),
            }),
        }
    }
    Ok(Export {
        columns,
        rows,
        rejected,
    })
}

impl Export {
    /// One JSON object per line, keys in column order.
    pub fn write_jsonl(&self, out: &mut impl Write) -> std::io::Result<()> {
        for row in &self.rows {
            out.write_all(b"{")?;
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, c)?;
                out.write_all(b":")?;
                serde_json::to_writer(&mut *out, row.get(c).unwrap_or(&Value::Null))?;
            }
            out.write_all(b"}\n")?;
        }
        Ok(())
    }

    /// RFC 4180 CSV with a header. Strings as they are, numbers and booleans printed, label
    /// arrays as JSON (`["a","b"]`), missing optional fields empty.
    pub fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(&self.columns)?;
        for row in &self.rows {
            w.write_record(self.columns.iter().map(|c| match row.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            }))?;
        }
        w.flush()
    }

    /// The rejected answers, one JSON object per line.
    pub fn write_rejected(&self, out: &mut impl Write) -> std::io::Result<()> {
        for r in &self.rejected {
            serde_json::to_writer(&mut *out, r)?;
            out.write_all(b"\n")?;
        }
        Ok(())
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
        let e = export(&run).unwrap();
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
        assert_eq!(e.rows.len(), 2);
        assert_eq!(e.rejected.len(), 2);
        assert!(
            e.rejected[0].reason.contains("`intent`"),
            "{:?}",
            e.rejected
        );
        assert!(e.rejected[1].reason.contains("timeout"), "{:?}", e.rejected);
        let mut csv = Vec::new();
        e.write_csv(&mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(
            text,
            "case_id,intent,tags,note,feature_version,generated_at\n\
             1,a,\"[\"\"x\"\",\"\"y\"\"]\",\"said \"\"hi\"\", left\",p@v+m,2026-11-23T10:00:01Z\n\
             4,b,[],,p@v+m,2026-11-23T10:00:01Z\n"
        );
        let mut jsonl = Vec::new();
        e.write_jsonl(&mut jsonl).unwrap();
        let text = String::from_utf8(jsonl).unwrap();
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
