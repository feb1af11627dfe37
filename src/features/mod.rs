//! LLM-made features: the contracted fields of a run's answers and what they are worth
//! downstream: lift over the features the downstream model already has (`lift`), agreement
//! between two runs (`stability`), cost per record (`cost`) and the export a downstream system
//! loads (`export`).

pub mod cost;
pub mod export;
pub mod lift;
pub mod model;
pub mod stability;

use crate::status::CaseStatus;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::contract::{Contract, FieldKind, OutputFormat};
use crate::error::Error;
use crate::runfile::{CaseEntry, RunFile};
use crate::store::RunRow;

/// The features of one case: the contracted fields of its answer, or why there are none.
pub type CaseFeatures = Result<Map<String, Value>, String>;

/// A run's features, case by case (the first repeat of each case), checked again against the
/// contract the run used: a downstream system consumes only answers that meet it.
pub struct RunFeatures<'a> {
    pub run: &'a RunFile,
    pub contract: Contract,
    pub cases: BTreeMap<&'a str, (&'a CaseEntry, CaseFeatures)>,
}

impl<'a> RunFeatures<'a> {
    pub fn of(run: &'a RunFile) -> Result<Self, Error> {
        let contract = feature_contract(&run.run)?;
        let mut cases: BTreeMap<&str, (&CaseEntry, CaseFeatures)> = BTreeMap::new();
        for c in &run.cases {
            let keep = match cases.get(c.id.as_str()) {
                Some((kept, _)) => c.repeat < kept.repeat,
                None => true,
            };
            if keep {
                cases.insert(c.id.as_str(), (c, case_features(&contract, c)));
            }
        }
        Ok(RunFeatures {
            run,
            contract,
            cases,
        })
    }

    /// The fields whose values can feed a model: every contracted field but free text.
    pub fn model_fields(&self) -> Vec<String> {
        self.contract
            .fields
            .iter()
            .filter(|(_, f)| !matches!(f.kind, FieldKind::String { .. }))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// `prompt@version+model`: what a downstream table records as the features' version.
    pub fn feature_version(&self) -> String {
        feature_version(&self.run.run)
    }
}

/// `prompt@version+model`: what a downstream table records as the features' version.
pub fn feature_version(r: &RunRow) -> String {
    format!(
        "{}@{}+{}",
        r.prompt,
        crate::hash::short(&r.prompt_version),
        r.model
    )
}

/// The output contract whose fields are the run's features, or why the run has none.
pub fn feature_contract(run: &RunRow) -> Result<Contract, Error> {
    let contract: Option<Contract> = run
        .contract_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    match contract {
        Some(c) if c.format == OutputFormat::Json && !c.fields.is_empty() => Ok(c),
        _ => Err(Error::usage(
            format!(
                "run {} has no feature fields: its prompt `{}` declares no JSON output fields",
                run.id, run.prompt
            ),
            Some("features come from a prompt with `output: {format: json, fields: …}`".into()),
        )),
    }
}

/// The features of one case: its answer's contracted fields, or why it has none.
pub fn case_features(contract: &Contract, c: &CaseEntry) -> CaseFeatures {
    if c.status == CaseStatus::Error {
        return Err(format!(
            "the call failed ({}): {}",
            c.kind.map_or("error", |k| k.as_str()),
            c.message.as_deref().unwrap_or("no answer")
        ));
    }
    let Some(output) = &c.output else {
        return Err("no answer".into());
    };
    contract
        .check(output)
        .map(|mut fields| {
            fields.retain(|k, _| contract.fields.contains_key(k));
            fields
        })
        .map_err(|v| format!("breaks the contract: {v}"))
}

pub use crate::config::spec::FeatureKind;

impl FeatureKind {
    /// The kind of a feature from its values (for `base_features`, which have no contract):
    /// numbers and booleans are numeric, strings categorical, arrays of strings labels.
    pub fn infer<'v>(name: &str, values: impl Iterator<Item = &'v Value>) -> Result<Self, String> {
        let (mut numeric, mut strings, mut arrays) = (false, Vec::new(), Vec::new());
        for v in values {
            match v {
                Value::Null => {}
                Value::Number(_) | Value::Bool(_) => numeric = true,
                Value::String(s) => strings.push(s.clone()),
                Value::Array(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(s) => arrays.push(s.to_string()),
                            None => {
                                return Err(format!(
                                    "`{name}` holds an array with a non-string item {item}"
                                ));
                            }
                        }
                    }
                    arrays.push(String::new());
                }
                Value::Object(_) => return Err(format!("`{name}` holds an object")),
            }
        }
        let mixed = [numeric, !strings.is_empty(), !arrays.is_empty()]
            .iter()
            .filter(|x| **x)
            .count()
            > 1;
        if mixed {
            return Err(format!(
                "`{name}` mixes numbers, strings and arrays across cases"
            ));
        }
        let levels = |mut v: Vec<String>| {
            v.retain(|s| !s.is_empty());
            v.sort();
            v.dedup();
            v
        };
        Ok(if !strings.is_empty() {
            FeatureKind::Categorical(levels(strings))
        } else if !arrays.is_empty() {
            FeatureKind::Labels(levels(arrays))
        } else {
            FeatureKind::Numeric
        })
    }

    /// Appends this feature's columns for `value` (NaN for a missing number; all zeros for a
    /// missing category) and returns whether the value was missing.
    pub fn encode(&self, value: Option<&Value>, out: &mut Vec<f64>) -> bool {
        let value = value.filter(|v| !v.is_null());
        match self {
            FeatureKind::Numeric => {
                let x = match value {
                    Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
                    Some(v) => v.as_f64(),
                    None => None,
                };
                out.push(x.unwrap_or(f64::NAN));
                x.is_none()
            }
            FeatureKind::Categorical(levels) => {
                let s = value.and_then(Value::as_str);
                out.extend(
                    levels
                        .iter()
                        .map(|l| f64::from(u8::from(Some(l.as_str()) == s))),
                );
                s.is_none()
            }
            FeatureKind::Labels(levels) => {
                let items: Vec<&str> = value
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                out.extend(
                    levels
                        .iter()
                        .map(|l| f64::from(u8::from(items.contains(&l.as_str())))),
                );
                value.is_none()
            }
        }
    }

    /// How many columns it takes, and whether they are standardized.
    pub fn columns(&self) -> (usize, bool) {
        match self {
            FeatureKind::Numeric => (1, true),
            FeatureKind::Categorical(l) | FeatureKind::Labels(l) => (l.len(), false),
        }
    }
}

/// A value as a class or category label: strings as they are, booleans and numbers printed.
pub fn label(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
