//! The output contract: the allowed shape of a model's output.
//!
//! A contract lists JSON fields with a type each (enum, integer range, number range,
//! bounded string, label array from a closed set, boolean). It is declared in a prompt file,
//! turned into a JSON Schema for providers that constrain decoding, and checked against
//! every output whatever the provider did. A violation is a failure of its own kind.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The allowed shape of an output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// `json` (an object with the declared fields) or `text` (free text).
    #[serde(default)]
    pub format: OutputFormat,
    /// The fields of a JSON output, in declaration order.
    #[serde(default)]
    pub fields: IndexMap<String, Field>,
    /// Whether fields that the contract does not declare are allowed (default: no).
    #[serde(default)]
    pub allow_extra_fields: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    #[default]
    Json,
    Text,
}

/// One declared field. Checked when the prompt file is read, so a bad field reports its
/// own line and column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawField", into = "RawField")]
pub struct Field {
    pub kind: FieldKind,
    pub required: bool,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// One of a closed set of strings.
    Enum {
        values: Vec<String>,
    },
    /// An integer in `min..=max`.
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// A number in `min..=max`.
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// A string of at most `max_length` characters.
    String {
        max_length: Option<usize>,
    },
    /// An array of distinct labels from a closed set.
    Labels {
        values: Vec<String>,
        min_items: Option<usize>,
        max_items: Option<usize>,
    },
    Boolean,
}

/// The names of the field types, for messages and suggestions.
pub const FIELD_TYPES: &[&str] = &["enum", "integer", "number", "string", "labels", "boolean"];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_items: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_items: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

impl TryFrom<RawField> for Field {
    type Error = String;

    fn try_from(raw: RawField) -> Result<Self, String> {
        let ty = raw.ty.as_str();
        let allowed: &[&str] = match ty {
            "enum" => &["values"],
            "integer" | "number" => &["min", "max"],
            "string" => &["max_length"],
            "labels" => &["values", "min_items", "max_items"],
            "boolean" => &[],
            other => {
                let hint = crate::diag::suggestion(other, FIELD_TYPES, "field types");
                return Err(format!("unknown field type `{other}`\nhint: {hint}"));
            }
        };
        let given = [
            ("values", raw.values.is_some()),
            ("min", raw.min.is_some()),
            ("max", raw.max.is_some()),
            ("max_length", raw.max_length.is_some()),
            ("min_items", raw.min_items.is_some()),
            ("max_items", raw.max_items.is_some()),
        ];
        for (key, present) in given {
            if present && !allowed.contains(&key) {
                return Err(format!("`{key}` does not apply to a field of type `{ty}`"));
            }
        }
        if let (Some(min), Some(max)) = (raw.min, raw.max)
            && min > max
        {
            return Err(format!("`min` ({min}) is greater than `max` ({max})"));
        }
        let closed_set = |values: Option<Vec<String>>| -> Result<Vec<String>, String> {
            let values = values.ok_or_else(|| format!("a field of type `{ty}` needs `values`"))?;
            if values.is_empty() {
                return Err("`values` is empty".to_string());
            }
            let mut seen = std::collections::HashSet::new();
            for v in &values {
                if !seen.insert(v) {
                    return Err(format!("`values` lists `{v}` twice"));
                }
            }
            Ok(values)
        };
        let int = |v: Option<f64>, key: &str| -> Result<Option<i64>, String> {
            match v {
                Some(x) if x.fract() != 0.0 => Err(format!(
                    "`{key}` of an integer field must be an integer, not {x}"
                )),
                Some(x) => Ok(Some(x as i64)),
                None => Ok(None),
            }
        };
        let kind = match ty {
            "enum" => FieldKind::Enum {
                values: closed_set(raw.values)?,
            },
            "integer" => FieldKind::Integer {
                min: int(raw.min, "min")?,
                max: int(raw.max, "max")?,
            },
            "number" => FieldKind::Number {
                min: raw.min,
                max: raw.max,
            },
            "string" => FieldKind::String {
                max_length: raw.max_length,
            },
            "labels" => FieldKind::Labels {
                values: closed_set(raw.values)?,
                min_items: raw.min_items,
                max_items: raw.max_items,
            },
            _ => FieldKind::Boolean,
        };
        Ok(Field {
            kind,
            required: raw.required.unwrap_or(true),
            description: raw.description,
        })
    }
}

impl From<Field> for RawField {
    fn from(field: Field) -> RawField {
        let mut raw = RawField {
            required: (!field.required).then_some(false),
            description: field.description,
            ..RawField::default()
        };
        match field.kind {
            FieldKind::Enum { values } => {
                raw.ty = "enum".into();
                raw.values = Some(values);
            }
            FieldKind::Integer { min, max } => {
                raw.ty = "integer".into();
                raw.min = min.map(|v| v as f64);
                raw.max = max.map(|v| v as f64);
            }
            FieldKind::Number { min, max } => {
                raw.ty = "number".into();
                raw.min = min;
                raw.max = max;
            }
            FieldKind::String { max_length } => {
                raw.ty = "string".into();
                raw.max_length = max_length;
            }
            FieldKind::Labels {
                values,
                min_items,
                max_items,
            } => {
                raw.ty = "labels".into();
                raw.values = Some(values);
                raw.min_items = min_items;
                raw.max_items = max_items;
            }
            FieldKind::Boolean => raw.ty = "boolean".into(),
        }
        raw
    }
}

/// Why an output breaks its contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The field concerned, when there is one.
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "`{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn violation(field: Option<&str>, message: impl Into<String>) -> Violation {
    Violation {
        field: field.map(str::to_string),
        message: message.into(),
    }
}

/// Parses a model's output as JSON. A single surrounding markdown code fence (```json … ```)
/// is tolerated because many models add one whatever they are told; nothing else is.
pub fn parse_json_output(output: &str) -> Result<Value, String> {
    let trimmed = output.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim()).map_err(|e| format!("output is not valid JSON: {e}"))
}

impl Contract {
    /// Checks an output; returns the parsed fields (an empty map for a text contract).
    pub fn check(&self, output: &str) -> Result<Map<String, Value>, Violation> {
        if self.format == OutputFormat::Text {
            return Ok(Map::new());
        }
        let value = parse_json_output(output).map_err(|e| violation(None, e))?;
        let Value::Object(object) = value else {
            return Err(violation(
                None,
                format!("output is JSON but not an object: {}", type_name(&value)),
            ));
        };
        for (name, field) in &self.fields {
            match object.get(name) {
                None | Some(Value::Null) if field.required => {
                    return Err(violation(Some(name), "missing required field"));
                }
                None | Some(Value::Null) => {}
                Some(value) => field.check(name, value)?,
            }
        }
        if !self.allow_extra_fields
            && let Some(extra) = object.keys().find(|k| !self.fields.contains_key(*k))
        {
            return Err(violation(Some(extra), "field is not in the contract"));
        }
        Ok(object)
    }

    /// The JSON Schema of a JSON contract, for providers that constrain decoding.
    pub fn json_schema(&self) -> Option<Value> {
        if self.format != OutputFormat::Json || self.fields.is_empty() {
            return None;
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        for (name, field) in &self.fields {
            properties.insert(name.clone(), field.json_schema());
            if field.required {
                required.push(Value::String(name.clone()));
            }
        }
        Some(json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": self.allow_extra_fields,
        }))
    }

    /// The enum fields, in declaration order, with their labels.
    pub fn enum_fields(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.fields.iter().filter_map(|(name, f)| match &f.kind {
            FieldKind::Enum { values } => Some((name.as_str(), values.as_slice())),
            _ => None,
        })
    }

    /// The labels of an enum field; None for a field that is not an enum (or not there).
    pub fn labels(&self, field: &str) -> Option<&[String]> {
        match &self.fields.get(field)?.kind {
            FieldKind::Enum { values } => Some(values),
            _ => None,
        }
    }

    /// The integer fields, in declaration order.
    pub fn integer_fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter_map(|(name, f)| {
            matches!(f.kind, FieldKind::Integer { .. }).then_some(name.as_str())
        })
    }
}

impl Field {
    fn check(&self, name: &str, value: &Value) -> Result<(), Violation> {
        let err = |m: String| Err(violation(Some(name), m));
        match &self.kind {
            FieldKind::Enum { values } => match value.as_str() {
                Some(s) if values.iter().any(|v| v == s) => Ok(()),
                Some(s) => err(format!("`{s}` is not one of {}", list(values))),
                None => err(format!(
                    "expected one of {}, got {}",
                    list(values),
                    type_name(value)
                )),
            },
            FieldKind::Integer { min, max } => {
                let Some(n) = value.as_i64().or_else(|| {
                    value
                        .as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f as i64)
                }) else {
                    return err(format!("expected an integer, got {}", short_json(value)));
                };
                if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                    return err(format!(
                        "{n} is outside {}",
                        range(min.map(|v| v as f64), max.map(|v| v as f64))
                    ));
                }
                Ok(())
            }
            FieldKind::Number { min, max } => {
                let Some(n) = value.as_f64() else {
                    return err(format!("expected a number, got {}", short_json(value)));
                };
                if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                    return err(format!("{n} is outside {}", range(*min, *max)));
                }
                Ok(())
            }
            FieldKind::String { max_length } => {
                let Some(s) = value.as_str() else {
                    return err(format!("expected a string, got {}", type_name(value)));
                };
                let len = s.chars().count();
                match max_length {
                    Some(max) if len > *max => {
                        err(format!("{len} characters, more than the maximum {max}"))
                    }
                    _ => Ok(()),
                }
            }
            FieldKind::Labels {
                values,
                min_items,
                max_items,
            } => {
                let Some(items) = value.as_array() else {
                    return err(format!(
                        "expected an array of labels, got {}",
                        type_name(value)
                    ));
                };
                let mut seen = std::collections::HashSet::new();
                for item in items {
                    match item.as_str() {
                        Some(s) if values.iter().any(|v| v == s) => {
                            if !seen.insert(s) {
                                return err(format!("label `{s}` appears twice"));
                            }
                        }
                        Some(s) => {
                            return err(format!("label `{s}` is not one of {}", list(values)));
                        }
                        None => {
                            return err(format!("labels must be strings, got {}", type_name(item)));
                        }
                    }
                }
                if min_items.is_some_and(|m| items.len() < m)
                    || max_items.is_some_and(|m| items.len() > m)
                {
                    return err(format!(
                        "{} labels, outside {}",
                        items.len(),
                        range(min_items.map(|v| v as f64), max_items.map(|v| v as f64))
                    ));
                }
                Ok(())
            }
            FieldKind::Boolean => match value {
                Value::Bool(_) => Ok(()),
                other => err(format!("expected true or false, got {}", type_name(other))),
            },
        }
    }

    fn json_schema(&self) -> Value {
        let mut schema = match &self.kind {
            FieldKind::Enum { values } => json!({"type": "string", "enum": values}),
            FieldKind::Integer { min, max } => {
                let mut s = json!({"type": "integer"});
                if let Some(m) = min {
                    s["minimum"] = json!(m);
                }
                if let Some(m) = max {
                    s["maximum"] = json!(m);
                }
                s
            }
            FieldKind::Number { min, max } => {
                let mut s = json!({"type": "number"});
                if let Some(m) = min {
                    s["minimum"] = json!(m);
                }
                if let Some(m) = max {
                    s["maximum"] = json!(m);
                }
                s
            }
            FieldKind::String { max_length } => {
                let mut s = json!({"type": "string"});
                if let Some(m) = max_length {
                    s["maxLength"] = json!(m);
                }
                s
            }
            FieldKind::Labels {
                values,
                min_items,
                max_items,
            } => {
                let mut s = json!({"type": "array", "items": {"type": "string", "enum": values}, "uniqueItems": true});
                if let Some(m) = min_items {
                    s["minItems"] = json!(m);
                }
                if let Some(m) = max_items {
                    s["maxItems"] = json!(m);
                }
                s
            }
            FieldKind::Boolean => json!({"type": "boolean"}),
        };
        if let Some(d) = &self.description {
            schema["description"] = json!(d);
        }
        schema
    }
}

fn list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn range(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}..={b}"),
        (Some(a), None) => format!(">= {a}"),
        (None, Some(b)) => format!("<= {b}"),
        (None, None) => "any".into(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn short_json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn support() -> Contract {
        serde_yaml::from_str(
            r#"
fields:
  intent: {type: enum, values: [billing, bug, feature_request, other]}
  escalation_risk: {type: integer, min: 1, max: 5}
  summary: {type: string, max_length: 10}
  tags: {type: labels, values: [a, b], max_items: 1, required: false}
"#,
        )
        .unwrap()
    }

    #[test]
    fn accepts_a_conforming_output_and_a_code_fence() {
        let c = support();
        let out = c
            .check(r#"{"intent":"bug","escalation_risk":3,"summary":"short"}"#)
            .unwrap();
        assert_eq!(out["intent"], "bug");
        assert!(
            c.check("```json\n{\"intent\":\"bug\",\"escalation_risk\":3,\"summary\":\"s\"}\n```")
                .is_ok()
        );
    }

    #[test]
    fn reports_each_kind_of_violation() {
        let c = support();
        let cases = [
            ("not json", None, "output is not valid JSON"),
            ("[1]", None, "not an object"),
            (
                r#"{"escalation_risk":3,"summary":"s"}"#,
                Some("intent"),
                "missing required field",
            ),
            (
                r#"{"intent":"sales","escalation_risk":3,"summary":"s"}"#,
                Some("intent"),
                "`sales` is not one of",
            ),
            (
                r#"{"intent":"bug","escalation_risk":9,"summary":"s"}"#,
                Some("escalation_risk"),
                "9 is outside 1..=5",
            ),
            (
                r#"{"intent":"bug","escalation_risk":2.5,"summary":"s"}"#,
                Some("escalation_risk"),
                "expected an integer",
            ),
            (
                r#"{"intent":"bug","escalation_risk":2,"summary":"far too long"}"#,
                Some("summary"),
                "12 characters",
            ),
            (
                r#"{"intent":"bug","escalation_risk":2,"summary":"s","tags":["c"]}"#,
                Some("tags"),
                "label `c`",
            ),
            (
                r#"{"intent":"bug","escalation_risk":2,"summary":"s","tags":["a","b"]}"#,
                Some("tags"),
                "2 labels",
            ),
            (
                r#"{"intent":"bug","escalation_risk":2,"summary":"s","x":1}"#,
                Some("x"),
                "not in the contract",
            ),
        ];
        for (output, field, needle) in cases {
            let v = c.check(output).unwrap_err();
            assert_eq!(v.field.as_deref(), field, "{output}");
            assert!(v.message.contains(needle), "{output}: {}", v.message);
        }
    }

    #[test]
    fn unknown_type_is_rejected_with_a_suggestion() {
        let err = serde_yaml::from_str::<Contract>("fields:\n  a: {type: integr}\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field type `integr`\nhint: did you mean `integer`?"),
            "{err}"
        );
        assert_eq!(err.location().unwrap().line(), 2);
    }

    #[test]
    fn derives_a_json_schema() {
        let schema = support().json_schema().unwrap();
        assert_eq!(schema["properties"]["intent"]["enum"][1], "bug");
        assert_eq!(schema["properties"]["escalation_risk"]["maximum"], 5);
        assert_eq!(
            schema["required"],
            json!(["intent", "escalation_risk", "summary"])
        );
        assert_eq!(schema["additionalProperties"], false);
    }
}
