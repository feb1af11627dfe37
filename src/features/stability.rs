//! Stability of features between two runs of the same cases (a rerun, another prompt version,
//! another model): per field, how often the value flips, Cohen's kappa between the runs and,
//! for numbers, the mean absolute change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FeatureKind, RunFeatures};
use crate::error::Error;
use crate::runfile::RunFile;
use crate::stats::Confusion;

/// At most this many flipped cases are listed (the rates cover all of them).
pub const MAX_FLIPS_SHOWN: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StabilityReport {
    pub run_a: crate::id::RunId,
    pub run_b: crate::id::RunId,
    pub version_a: String,
    pub version_b: String,
    /// Cases both runs have.
    pub paired: u64,
    pub fields: Vec<FieldStability>,
    /// The first flipped values, in case id order.
    pub flips: Vec<Flip>,
    pub flips_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldStability {
    pub field: String,
    /// Cases where both runs gave the field a value.
    pub compared: u64,
    pub flipped: u64,
    pub flip_rate: Option<f64>,
    /// Cohen's kappa between the runs' values (categories, labels sets and integers taken as
    /// categories).
    pub kappa: Option<f64>,
    /// Mean |b − a| for numeric fields.
    pub mean_abs_change: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flip {
    pub case_id: String,
    pub field: String,
    pub a: Value,
    pub b: Value,
}

/// Compares the features of two runs, field by field, on the cases both answered within
/// their contracts. The fields are those of run A's contract that run B's also declares
/// (free text excluded: it almost always differs).
pub fn compare(a: &RunFile, b: &RunFile) -> Result<StabilityReport, Error> {
    let fa = RunFeatures::of(a)?;
    let fb = RunFeatures::of(b)?;
    let fields: Vec<(String, FeatureKind)> = fa
        .contract
        .fields
        .iter()
        .filter(|(name, _)| fb.contract.fields.contains_key(*name))
        .filter_map(|(name, f)| Some((name.clone(), FeatureKind::of_field(&f.kind)?)))
        .collect();
    if fields.is_empty() {
        return Err(Error::usage(
            format!(
                "runs {} and {} share no feature field (free text is not compared)",
                a.run.id, b.run.id
            ),
            None,
        ));
    }
    let pairs: Vec<(&str, &super::CaseFeatures, &super::CaseFeatures)> = fa
        .cases
        .iter()
        .filter_map(|(id, (_, x))| Some((*id, x, &fb.cases.get(id)?.1)))
        .collect();
    if pairs.is_empty() {
        return Err(Error::usage(
            format!(
                "runs {} and {} have no case id in common",
                a.run.id, b.run.id
            ),
            Some("compare runs of the same dataset".into()),
        ));
    }
    let mut out = Vec::new();
    let mut flips = Vec::new();
    for (field, kind) in &fields {
        let mut values: Vec<(String, String)> = Vec::new();
        let mut abs_change = Vec::new();
        let mut flipped = 0u64;
        for (id, x, y) in &pairs {
            let (Ok(x), Ok(y)) = (x, y) else { continue };
            let (Some(vx), Some(vy)) = (
                x.get(field).filter(|v| !v.is_null()),
                y.get(field).filter(|v| !v.is_null()),
            ) else {
                continue;
            };
            if same(vx, vy) {
                values.push((canonical(vx), canonical(vx)));
            } else {
                flipped += 1;
                values.push((canonical(vx), canonical(vy)));
                flips.push(Flip {
                    case_id: id.to_string(),
                    field: field.clone(),
                    a: vx.clone(),
                    b: vy.clone(),
                });
            }
            if *kind == FeatureKind::Numeric
                && let (Some(p), Some(q)) = (number(vx), number(vy))
            {
                abs_change.push((q - p).abs());
            }
        }
        let compared = values.len() as u64;
        let confusion = Confusion::from_pairs(
            &labels(&values),
            values.iter().map(|(p, q)| (p.as_str(), q.as_str())),
        );
        out.push(FieldStability {
            field: field.clone(),
            compared,
            flipped,
            flip_rate: (compared > 0).then(|| flipped as f64 / compared as f64),
            kappa: confusion.kappa(),
            mean_abs_change: (!abs_change.is_empty())
                .then(|| abs_change.iter().sum::<f64>() / abs_change.len() as f64),
        });
    }
    flips.sort_by(|p, q| p.case_id.cmp(&q.case_id).then(p.field.cmp(&q.field)));
    let flips_total = flips.len() as u64;
    flips.truncate(MAX_FLIPS_SHOWN);
    Ok(StabilityReport {
        run_a: a.run.id.clone(),
        run_b: b.run.id.clone(),
        version_a: fa.feature_version(),
        version_b: fb.feature_version(),
        paired: pairs.len() as u64,
        fields: out,
        flips,
        flips_total,
    })
}

impl StabilityReport {
    /// The field that flips most, with its rate.
    pub fn worst(&self) -> Option<(&str, f64)> {
        self.fields
            .iter()
            .filter_map(|f| Some((f.field.as_str(), f.flip_rate?)))
            .max_by(|x, y| x.1.total_cmp(&y.1))
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => v.as_f64(),
    }
}

/// Equal as features: numbers by value (5 and 5.0), label sets whatever their order.
fn same(x: &Value, y: &Value) -> bool {
    canonical(x) == canonical(y)
}

fn canonical(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let mut labels: Vec<String> = items.iter().map(canonical).collect();
            labels.sort();
            labels.join("|")
        }
        Value::Number(_) => number(v).map_or_else(|| v.to_string(), |n| n.to_string()),
        other => other.to_string(),
    }
}

fn labels(values: &[(String, String)]) -> Vec<String> {
    let mut all: Vec<String> = values
        .iter()
        .flat_map(|(p, q)| [p.clone(), q.clone()])
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfile::testing::run_file;
    use serde_json::json;

    const CONTRACT: &str = r#"{"fields":{"intent":{"type":"enum","values":["a","b"]},"risk":{"type":"integer","min":1,"max":5},"summary":{"type":"string"}}}"#;

    fn run(id: &str, answers: &[(&str, Option<&str>)]) -> RunFile {
        run_file(
            id,
            CONTRACT,
            answers
                .iter()
                .map(|(case, out)| match out {
                    Some(o) => json!({"id": case, "status": "pass", "output": o}),
                    None => json!({"id": case, "status": "error", "kind": "timeout"}),
                })
                .collect(),
        )
    }

    #[test]
    fn flip_rate_kappa_and_mean_change_by_hand() {
        let a = run(
            "A",
            &[
                ("1", Some(r#"{"intent":"a","risk":1,"summary":"x"}"#)),
                ("2", Some(r#"{"intent":"a","risk":2,"summary":"x"}"#)),
                ("3", Some(r#"{"intent":"b","risk":3,"summary":"x"}"#)),
                ("4", Some(r#"{"intent":"b","risk":4,"summary":"x"}"#)),
                ("5", Some(r#"{"intent":"b","risk":4,"summary":"x"}"#)),
                ("6", None),
            ],
        );
        let b = run(
            "B",
            &[
                ("1", Some(r#"{"intent":"a","risk":1,"summary":"y"}"#)),
                ("2", Some(r#"{"intent":"b","risk":4,"summary":"y"}"#)),
                ("3", Some(r#"{"intent":"b","risk":3,"summary":"y"}"#)),
                ("4", Some(r#"{"intent":"b","risk":5,"summary":"y"}"#)),
                ("5", Some(r#"{"intent":"bogus","risk":4,"summary":"y"}"#)),
                ("6", Some(r#"{"intent":"a","risk":1,"summary":"y"}"#)),
                ("7", Some(r#"{"intent":"a","risk":1,"summary":"y"}"#)),
            ],
        );
        let r = compare(&a, &b).unwrap();
        // Cases 1–6 are in both runs; 5 breaks B's contract and 6 failed in A: 4 compared.
        assert_eq!(r.paired, 6);
        let intent = &r.fields[0];
        assert_eq!(
            (intent.field.as_str(), intent.compared, intent.flipped),
            ("intent", 4, 1)
        );
        assert_eq!(intent.flip_rate, Some(0.25));
        // A: a a b b, B: a b b b. Observed agreement 3/4; expected (2·1 + 2·3)/16 = 1/2;
        // kappa = (0.75 − 0.5) / (1 − 0.5) = 0.5.
        assert!((intent.kappa.unwrap() - 0.5).abs() < 1e-12);
        let risk = &r.fields[1];
        assert_eq!((risk.compared, risk.flipped), (4, 2));
        // |1−1| + |4−2| + |3−3| + |5−4| = 3 over 4 cases.
        assert_eq!(risk.mean_abs_change, Some(0.75));
        assert_eq!(r.fields.len(), 2, "free text is not compared");
        assert_eq!(r.flips_total, 3);
        assert_eq!(r.flips[0].case_id, "2");
        assert_eq!(r.worst(), Some(("risk", 0.5)));
    }

    #[test]
    fn runs_without_common_cases_are_refused() {
        let a = run(
            "A",
            &[("1", Some(r#"{"intent":"a","risk":1,"summary":""}"#))],
        );
        let b = run(
            "B",
            &[("2", Some(r#"{"intent":"a","risk":1,"summary":""}"#))],
        );
        assert!(
            compare(&a, &b)
                .unwrap_err()
                .to_string()
                .contains("no case id in common")
        );
    }
}
