//! A YAML document as a tree whose every node knows its line and column, so that the importer
//! can say `file:line` of each prompt, test and assertion it maps or leaves out (serde_yaml's
//! values keep no positions). Built from yaml-rust2's parser events; anchors, aliases and
//! merge keys (`<<: *defaults`, common in promptfoo configs) are resolved here.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A value of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in the order written (a later duplicate replaces the earlier one).
    Map(Vec<(String, Node)>),
}

/// A value with where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub col: usize,
}

/// A syntax error: where and what.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Node {
    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn is_null(&self) -> bool {
        self.value == Value::Null
    }

    /// A scalar as text, the way a template or a comparison sees it (`4`, `true`, `0.5`).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => {
                Some(serde_json::Number::from_f64(*f).map_or(f.to_string(), |n| n.to_string()))
            }
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value as JSON (positions dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A short name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses the first document of `text` (an empty text is `Null`).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        line: e.marker().line(),
        col: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        line: 1,
        col: 1,
    }))
}

/// A container being filled: its node, and for a mapping the key waiting for its value.
enum Open {
    Seq(Node, usize),
    Map(Node, usize, Option<(String, Node)>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<SyntaxError>,
    /// Documents seen: only the first is read.
    documents: usize,
}

fn position(mark: Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

/// A plain scalar resolved as YAML 1.2's core schema does (js-yaml, which promptfoo uses,
/// reads the same); quoted and block scalars are strings.
fn scalar(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(i) = text.parse::<i64>() {
                Value::Int(i)
            } else if looks_numeric(&text)
                && let Ok(f) = text.parse::<f64>()
            {
                Value::Float(f)
            } else {
                Value::Str(text)
            }
        }
    }
}

/// Whether a plain scalar is a YAML float (not `inf`, `nan` or `1_000`, which Rust parses
/// differently or not at all).
fn looks_numeric(t: &str) -> bool {
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: impl Into<String>) {
        if self.error.is_none() {
            let (line, col) = position(mark);
            self.error = Some(SyntaxError {
                line,
                col,
                message: message.into(),
            });
        }
    }

    /// Puts a finished node into the open container (or makes it the root).
    fn insert(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Open::Map(map, _, pending)) => match pending.take() {
                None => {
                    let key = match &node.value {
                        Value::Str(s) => s.clone(),
                        Value::Null => String::new(),
                        _ => match node.scalar_text() {
                            Some(t) => t,
                            None => {
                                let mark = (node.line, node.col);
                                self.error.get_or_insert(SyntaxError {
                                    line: mark.0,
                                    col: mark.1,
                                    message: "a mapping key must be a scalar".into(),
                                });
                                return;
                            }
                        },
                    };
                    *pending = Some((key, node));
                }
                Some((key, _key_node)) => {
                    if let Value::Map(entries) = &mut map.value {
                        if key == "<<" {
                            merge(entries, node);
                        } else if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
                            slot.1 = node;
                        } else {
                            entries.push((key, node));
                        }
                    }
                }
            },
        }
    }
}

/// A merge key: the entries of the merged mapping (or of each mapping of a list) that the
/// mapping does not set itself.
fn merge(entries: &mut Vec<(String, Node)>, merged: Node) {
    let sources = match merged.value {
        Value::Seq(items) => items,
        _ => vec![merged],
    };
    for source in sources {
        if let Value::Map(more) = source.value {
            for (k, v) in more {
                if !entries.iter().any(|(e, _)| *e == k) {
                    entries.push((k, v));
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let (line, col) = position(mark);
        let node = |value| Node { value, line, col };
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(text, style, anchor, _) => {
                if self.documents <= 1 {
                    self.insert(node(scalar(text, style)), anchor);
                }
            }
            Event::SequenceStart(anchor, _) => {
                self.stack
                    .push(Open::Seq(node(Value::Seq(Vec::new())), anchor));
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Open::Map(node(Value::Map(Vec::new())), anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq(n, anchor)) | Some(Open::Map(n, anchor, _)) => {
                    if self.documents <= 1 {
                        self.insert(n, anchor);
                    }
                }
                None => self.fail(mark, "unbalanced collection"),
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut n) => {
                    // The alias is used where it is written.
                    (n.line, n.col) = (line, col);
                    self.insert(n, 0);
                }
                None => self.fail(mark, "an alias to an unknown anchor"),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_lines_in_block_and_flow_style() {
        let text = "prompts:\n  - 'Hi {{name}}'\ntests:\n  - vars: {name: Ann, n: 3}\n    assert: [{type: contains, value: Ann}]\n";
        let doc = parse(text).unwrap();
        let prompts = doc.get("prompts").unwrap();
        let Value::Seq(items) = &prompts.value else {
            panic!()
        };
        assert_eq!(items[0].as_str(), Some("Hi {{name}}"));
        assert_eq!((items[0].line, items[0].col), (2, 5));
        let Value::Seq(tests) = &doc.get("tests").unwrap().value else {
            panic!()
        };
        assert_eq!(tests[0].line, 4);
        let vars = tests[0].get("vars").unwrap();
        assert_eq!(vars.get("n").unwrap().value, Value::Int(3));
        let Value::Seq(asserts) = &tests[0].get("assert").unwrap().value else {
            panic!()
        };
        assert_eq!(asserts[0].line, 5);
        assert_eq!(asserts[0].get("type").unwrap().as_str(), Some("contains"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_resolve() {
        let text = "base: &b\n  type: equals\n  value: x\nuse:\n  <<: *b\n  value: y\nagain: *b\n";
        let doc = parse(text).unwrap();
        let used = doc.get("use").unwrap();
        assert_eq!(used.get("type").unwrap().as_str(), Some("equals"));
        assert_eq!(used.get("value").unwrap().as_str(), Some("y"));
        assert_eq!(doc.get("again").unwrap().line, 7);
        assert_eq!(
            doc.get("again").unwrap().get("value").unwrap().as_str(),
            Some("x")
        );
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2_and_quotes_keep_strings() {
        let doc = parse("a: 0.5\nb: '4'\nc: yes\nd: ~\ne: 1e3\nf: inf\n").unwrap();
        assert_eq!(doc.get("a").unwrap().value, Value::Float(0.5));
        assert_eq!(doc.get("b").unwrap().value, Value::Str("4".into()));
        assert_eq!(doc.get("c").unwrap().value, Value::Str("yes".into()));
        assert_eq!(doc.get("d").unwrap().value, Value::Null);
        assert_eq!(doc.get("e").unwrap().value, Value::Float(1000.0));
        assert_eq!(doc.get("f").unwrap().value, Value::Str("inf".into()));
    }

    #[test]
    fn a_syntax_error_says_where() {
        let e = parse("tests:\n  - vars: {a: 1\n  - x\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(!e.message.is_empty());
    }
}
