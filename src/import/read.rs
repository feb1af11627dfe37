//! Reads a promptfoo project as promptfoo's documentation describes it: `promptfooconfig.yaml`
//! (`description`, `prompts`, `providers` or `targets`, `defaultTest`, `tests`), the prompt
//! files it names (text, with `---` between prompts; JSON or YAML chat arrays; JSONL), and
//! test files (CSV with promptfoo's `__expected` columns, YAML, JSON, JSONL). Every item
//! keeps where it was written. A file that cannot be read or parsed is an error at its
//! line; what is read but has no evalgate meaning is listed as left out, never dropped
//! quietly. This module only reads: `map` decides what becomes what.

use std::path::{Path, PathBuf};

use super::report::{Loc, Report};
use super::yaml::{Node, Value};
use crate::diag::Diagnostic;
use crate::prompt::Role;

/// The configuration's top-level keys that carry no evaluation (where results are written,
/// sharing): reported as not mapped, without consequence.
const INERT_KEYS: &[&str] = &[
    "outputPath",
    "sharing",
    "writeLatestResults",
    "tags",
    "metadata",
    "evaluateOptions",
    "commandLineOptions",
];

/// A promptfoo project as read.
#[derive(Debug, Default)]
pub struct Project {
    pub description: Option<String>,
    pub prompts: Vec<PromptDef>,
    pub providers: Vec<ProviderDef>,
    pub tests: Vec<TestDef>,
    /// Where `defaultTest` is, when there is one (its content is merged into `tests`).
    pub default_test: Option<Loc>,
}

/// One prompt: its messages (templates as written) and a name to give it.
#[derive(Debug, Clone)]
pub struct PromptDef {
    pub at: Loc,
    /// How the config names it (`file://prompts/x.txt`, or the start of an inline prompt).
    pub shown: String,
    pub label: Option<String>,
    /// A name from its file (stem, and its index when a file holds several).
    pub stem: Option<String>,
    pub messages: Vec<(Role, String)>,
}

/// One provider entry.
#[derive(Debug, Clone)]
pub struct ProviderDef {
    pub at: Loc,
    pub id: String,
    pub label: Option<String>,
    /// `config:` as written.
    pub config: Option<Node>,
}

/// One test (a CSV row, a YAML item, …) with `defaultTest` already merged in.
#[derive(Debug, Clone)]
pub struct TestDef {
    pub at: Loc,
    pub description: Option<String>,
    /// Variables in the order written; values as JSON.
    pub vars: Vec<(String, serde_json::Value)>,
    pub asserts: Vec<AssertDef>,
    /// `options.provider` (the grader of model-graded assertions), with where it is.
    pub grader: Option<(Loc, serde_json::Value)>,
}

/// One assertion.
#[derive(Debug, Clone)]
pub struct AssertDef {
    pub at: Loc,
    /// `type` as written, `not-` prefix included.
    pub kind: String,
    pub value: Option<serde_json::Value>,
    pub threshold: Option<f64>,
    /// `provider` of the assertion (a grader or an embedding model).
    pub provider: Option<serde_json::Value>,
    /// Keys set on it that evalgate cannot honour (`transform`, `weight`, …).
    pub unmapped_keys: Vec<String>,
}

/// The reader: the config's directory (where `file://` paths start) and what it noticed.
pub struct Reader<'r> {
    dir: PathBuf,
    pub report: &'r mut Report,
}

/// A problem that stops the import: a file that cannot be read or parsed, a value of the
/// wrong type.
pub type Fatal = Diagnostic;

fn fatal(at: &Loc, message: impl Into<String>) -> Fatal {
    Diagnostic::new(at.file.clone(), at.line, at.col, message)
}

impl<'r> Reader<'r> {
    pub fn new(config: &Path, report: &'r mut Report) -> Self {
        Reader {
            dir: config.parent().unwrap_or(Path::new(".")).to_path_buf(),
            report,
        }
    }

    /// A file as the report shows it: relative to the config's directory.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn loc(&self, path: &Path, node: &Node) -> Loc {
        Loc::new(self.shown(path), node.line, node.col)
    }

    /// Reads a file named in the project (a `file://` reference, relative to the config).
    fn text(&self, path: &Path, from: &Loc) -> Result<String, Fatal> {
        std::fs::read_to_string(path)
            .map_err(|e| fatal(from, format!("cannot read `{}`: {e}", self.shown(path))))
    }

    /// Reads and parses a YAML (or JSON) file.
    fn yaml_file(&self, path: &Path, from: &Loc) -> Result<Node, Fatal> {
        let text = self.text(path, from)?;
        super::yaml::parse(&text).map_err(|e| {
            Diagnostic::new(
                self.shown(path),
                e.line,
                e.col,
                format!("invalid YAML: {}", e.message),
            )
        })
    }

    /// The paths a `file://` reference names: one file, or the files a `*` in its last part
    /// matches (sorted). A reference that matches nothing is an error.
    fn resolve(&self, reference: &str, from: &Loc) -> Result<Vec<PathBuf>, Fatal> {
        let rel = reference.strip_prefix("file://").unwrap_or(reference);
        let path = self.dir.join(rel);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !name.contains('*') {
            return Ok(vec![path]);
        }
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        let (head, tail) = name.split_once('*').unwrap_or((&name, ""));
        let mut found: Vec<PathBuf> = std::fs::read_dir(&parent)
            .map_err(|e| fatal(from, format!("cannot list `{}`: {e}", self.shown(&parent))))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.len() >= head.len() + tail.len() && n.starts_with(head) && n.ends_with(tail)
                })
            })
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(fatal(from, format!("`{reference}` matches no file")));
        }
        Ok(found)
    }

    /// Reads `promptfooconfig.yaml` and everything it names.
    pub fn project(&mut self, config: &Path) -> Result<Project, Fatal> {
        let shown = self.shown(config);
        let top = Loc::new(shown.clone(), 0, 0);
        let doc = self.yaml_file(config, &top)?;
        if !matches!(doc.value, Value::Map(_)) {
            return Err(fatal(
                &self.loc(config, &doc),
                format!("a promptfoo config is a mapping, not {}", doc.type_name()),
            ));
        }
        let mut project = Project::default();
        let mut default_test = None;
        for (key, node) in doc.entries() {
            let at = self.loc(config, node);
            match key.as_str() {
                "description" => project.description = node.scalar_text(),
                "prompts" => project.prompts = self.prompts(config, node)?,
                "providers" | "targets" => project.providers = self.providers(config, node)?,
                "tests" => {}
                "defaultTest" => {
                    project.default_test = Some(at.clone());
                    default_test = Some(self.default_test(config, node)?);
                }
                k if INERT_KEYS.contains(&k) => self.report.left_out(
                    at,
                    format!("`{k}`"),
                    "says how promptfoo stores or shows results, which evalgate does its own way",
                ),
                "scenarios" => self.report.left_out(
                    at,
                    "`scenarios`",
                    "evalgate has no scenarios: write their combinations as tests",
                ),
                "env" => self.report.left_out(
                    at,
                    "`env`",
                    "evalgate reads settings and keys from the environment, not from the project",
                ),
                k => self.report.left_out(
                    at,
                    format!("`{k}`"),
                    "evalgate has no counterpart of this key",
                ),
            }
        }
        if let Some(tests) = doc.get("tests") {
            project.tests = self.tests(config, tests, default_test.as_ref())?;
        } else if let Some(d) = &default_test {
            // promptfoo runs a config without tests once, with the default test.
            project.tests = vec![d.clone()];
        }
        Ok(project)
    }

    // ── Prompts ─────────────────────────────────────────────────────────────

    fn prompts(&mut self, config: &Path, node: &Node) -> Result<Vec<PromptDef>, Fatal> {
        let mut out = Vec::new();
        match &node.value {
            Value::Str(_) => self.prompt_item(config, node, None, &mut out)?,
            Value::Seq(items) => {
                for item in items {
                    match &item.value {
                        Value::Str(_) => self.prompt_item(config, item, None, &mut out)?,
                        Value::Map(_) => {
                            let label = item.get("label").and_then(Node::scalar_text);
                            let body = item.get("raw").or_else(|| item.get("id"));
                            match body {
                                Some(b) if b.as_str().is_some() => {
                                    self.prompt_item(config, b, label, &mut out)?
                                }
                                _ => self.report.left_out(
                                    self.loc(config, item),
                                    "a prompt",
                                    "a prompt object needs `raw` or `id` text",
                                ),
                            }
                        }
                        _ => {
                            return Err(fatal(
                                &self.loc(config, item),
                                format!("a prompt is text or a mapping, not {}", item.type_name()),
                            ));
                        }
                    }
                }
            }
            // `{file://path: label}`: promptfoo's older form.
            Value::Map(entries) => {
                for (path, label) in entries {
                    let key = Node {
                        value: Value::Str(path.clone()),
                        line: label.line,
                        col: label.col,
                    };
                    self.prompt_item(config, &key, label.scalar_text(), &mut out)?;
                }
            }
            _ => {
                return Err(fatal(
                    &self.loc(config, node),
                    format!("`prompts` is a list, not {}", node.type_name()),
                ));
            }
        }
        Ok(out)
    }

    /// One entry of `prompts`: inline text, or a `file://` reference.
    fn prompt_item(
        &mut self,
        config: &Path,
        node: &Node,
        label: Option<String>,
        out: &mut Vec<PromptDef>,
    ) -> Result<(), Fatal> {
        let at = self.loc(config, node);
        let text = node.as_str().unwrap_or_default();
        let Some(reference) = text.strip_prefix("file://") else {
            out.push(PromptDef {
                at,
                shown: clip_line(text),
                label,
                stem: None,
                messages: messages_of_text(text),
            });
            return Ok(());
        };
        if reference.contains(':') && !reference.ends_with(':') && !has_drive(reference) {
            self.report.left_out(
                at,
                format!("prompt `{text}`"),
                "a prompt made by a function: evalgate runs no code from a project",
            );
            return Ok(());
        }
        for path in self.resolve(text, &at)? {
            let ext = extension(&path);
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("prompt")
                .to_string();
            let shown = format!("file://{}", self.shown(&path));
            let file_at = Loc::new(self.shown(&path), 1, 1);
            match ext.as_str() {
                "js" | "cjs" | "mjs" | "ts" | "py" | "rb" => self.report.left_out(
                    at.clone(),
                    format!("prompt `{shown}`"),
                    "a prompt made by a script: evalgate runs no code from a project",
                ),
                "json" | "yaml" | "yml" => {
                    let doc = self.yaml_file(&path, &at)?;
                    match chat_messages(&doc) {
                        Some(messages) => out.push(PromptDef {
                            at: file_at,
                            shown,
                            label: label.clone(),
                            stem: Some(stem),
                            messages,
                        }),
                        None => self.report.left_out(
                            file_at,
                            format!("prompt `{shown}`"),
                            "not a chat array of `{role, content}` messages",
                        ),
                    }
                }
                "jsonl" => {
                    let body = self.text(&path, &at)?;
                    for (i, line) in body
                        .lines()
                        .enumerate()
                        .filter(|(_, l)| !l.trim().is_empty())
                    {
                        let line_at = Loc::new(self.shown(&path), i + 1, 1);
                        match super::yaml::parse(line)
                            .ok()
                            .as_ref()
                            .and_then(chat_messages)
                        {
                            Some(messages) => out.push(PromptDef {
                                at: line_at,
                                shown: shown.clone(),
                                label: label.clone(),
                                stem: Some(format!("{stem}_{}", i + 1)),
                                messages,
                            }),
                            None => {
                                return Err(fatal(
                                    &line_at,
                                    "a line of a JSONL prompt file must be a chat array of `{role, content}` messages",
                                ));
                            }
                        }
                    }
                }
                _ => {
                    // Text (.txt, .md, .j2, none): prompts separated by a line `---`.
                    let body = self.text(&path, &at)?;
                    let parts = split_prompts(&body);
                    let many = parts.len() > 1;
                    for (i, (line, part)) in parts.into_iter().enumerate() {
                        out.push(PromptDef {
                            at: Loc::new(self.shown(&path), line, 1),
                            shown: shown.clone(),
                            label: label.clone(),
                            stem: Some(if many {
                                format!("{stem}_{}", i + 1)
                            } else {
                                stem.clone()
                            }),
                            messages: messages_of_text(&part),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    // ── Providers ───────────────────────────────────────────────────────────

    fn providers(&mut self, config: &Path, node: &Node) -> Result<Vec<ProviderDef>, Fatal> {
        let mut out = Vec::new();
        let items: Vec<Node> = match &node.value {
            Value::Seq(items) => items.clone(),
            Value::Str(_) => vec![node.clone()],
            // `{id: options}`.
            Value::Map(entries) => entries
                .iter()
                .map(|(id, options)| {
                    let mut m = vec![(
                        "id".to_string(),
                        Node {
                            value: Value::Str(id.clone()),
                            line: options.line,
                            col: options.col,
                        },
                    )];
                    m.extend(options.entries().iter().cloned());
                    Node {
                        value: Value::Map(m),
                        line: options.line,
                        col: options.col,
                    }
                })
                .collect(),
            _ => {
                return Err(fatal(
                    &self.loc(config, node),
                    format!("`providers` is a list, not {}", node.type_name()),
                ));
            }
        };
        for item in &items {
            let at = self.loc(config, item);
            match &item.value {
                Value::Str(id) => out.push(ProviderDef {
                    at,
                    id: id.clone(),
                    label: None,
                    config: None,
                }),
                Value::Map(_) => {
                    let Some(id) = item.get("id").and_then(Node::as_str) else {
                        self.report
                            .left_out(at, "a provider", "a provider object needs an `id`");
                        continue;
                    };
                    for (k, v) in item.entries() {
                        if !["id", "label", "config"].contains(&k.as_str()) {
                            self.report.left_out(
                                self.loc(config, v),
                                format!("provider `{id}`: `{k}`"),
                                "evalgate has no counterpart of this provider option",
                            );
                        }
                    }
                    out.push(ProviderDef {
                        at,
                        id: id.to_string(),
                        label: item.get("label").and_then(Node::scalar_text),
                        config: item.get("config").cloned(),
                    });
                }
                _ => {
                    return Err(fatal(
                        &at,
                        format!("a provider is an id or a mapping, not {}", item.type_name()),
                    ));
                }
            }
        }
        Ok(out)
    }

    // ── Tests ───────────────────────────────────────────────────────────────

    /// `defaultTest`: inline, or a `file://` YAML file.
    fn default_test(&mut self, config: &Path, node: &Node) -> Result<TestDef, Fatal> {
        if let Some(reference) = node.as_str() {
            let at = self.loc(config, node);
            let paths = self.resolve(reference, &at)?;
            let path = &paths[0];
            let doc = self.yaml_file(path, &at)?;
            return self.test(path, &doc, None);
        }
        self.test(config, node, None)
    }

    /// `tests`: a file reference, or a list of tests and file references.
    fn tests(
        &mut self,
        config: &Path,
        node: &Node,
        default: Option<&TestDef>,
    ) -> Result<Vec<TestDef>, Fatal> {
        let mut out = Vec::new();
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Str(_) => vec![node],
            Value::Null => Vec::new(),
            _ => {
                return Err(fatal(
                    &self.loc(config, node),
                    format!("`tests` is a list or a file, not {}", node.type_name()),
                ));
            }
        };
        for item in items {
            match &item.value {
                Value::Str(reference) => {
                    let at = self.loc(config, item);
                    if reference.starts_with("http://") || reference.starts_with("https://") {
                        self.report.left_out(
                            at,
                            format!("tests `{reference}`"),
                            "a remote sheet: download it as CSV and name the file",
                        );
                        continue;
                    }
                    for path in self.resolve(reference, &at)? {
                        out.extend(self.test_file(&path, &at, default)?);
                    }
                }
                Value::Map(_) => out.push(self.test(config, item, default)?),
                _ => {
                    return Err(fatal(
                        &self.loc(config, item),
                        format!("a test is a mapping, not {}", item.type_name()),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The tests of a file, by its extension.
    fn test_file(
        &mut self,
        path: &Path,
        from: &Loc,
        default: Option<&TestDef>,
    ) -> Result<Vec<TestDef>, Fatal> {
        match extension(path).as_str() {
            "csv" => self.csv_tests(path, from, default),
            "yaml" | "yml" | "json" => {
                let doc = self.yaml_file(path, from)?;
                match &doc.value {
                    Value::Seq(items) => {
                        items.iter().map(|t| self.test(path, t, default)).collect()
                    }
                    Value::Map(_) => Ok(vec![self.test(path, &doc, default)?]),
                    _ => Err(fatal(
                        &self.loc(path, &doc),
                        format!("a test file holds a list of tests, not {}", doc.type_name()),
                    )),
                }
            }
            "jsonl" => {
                let body = self.text(path, from)?;
                let mut out = Vec::new();
                for (i, line) in body
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    let mut doc = super::yaml::parse(line).map_err(|e| {
                        Diagnostic::new(
                            self.shown(path),
                            i + 1,
                            e.col,
                            format!("invalid JSON: {}", e.message),
                        )
                    })?;
                    relocate(&mut doc, i + 1);
                    out.push(self.test(path, &doc, default)?);
                }
                Ok(out)
            }
            other => {
                self.report.left_out(
                    from.clone(),
                    format!("tests `{}`", self.shown(path)),
                    format!(
                        "tests in `.{other}` files cannot be read (CSV, YAML, JSON and JSONL can)"
                    ),
                );
                Ok(Vec::new())
            }
        }
    }

    /// One test mapping, with `default` merged in (its vars under the test's, its
    /// assertions first).
    fn test(
        &mut self,
        file: &Path,
        node: &Node,
        default: Option<&TestDef>,
    ) -> Result<TestDef, Fatal> {
        let at = self.loc(file, node);
        if !matches!(node.value, Value::Map(_)) {
            return Err(fatal(
                &at,
                format!("a test is a mapping, not {}", node.type_name()),
            ));
        }
        let mut test = match default {
            Some(d) => TestDef {
                at: at.clone(),
                description: None,
                ..d.clone()
            },
            None => TestDef {
                at: at.clone(),
                description: None,
                vars: Vec::new(),
                asserts: Vec::new(),
                grader: None,
            },
        };
        for (key, value) in node.entries() {
            let key_at = self.loc(file, value);
            match key.as_str() {
                "description" => test.description = value.scalar_text(),
                "vars" => {
                    let vars = self.vars(file, value)?;
                    for (k, v) in vars {
                        match test.vars.iter_mut().find(|(name, _)| *name == k) {
                            Some(slot) => slot.1 = v,
                            None => test.vars.push((k, v)),
                        }
                    }
                }
                "assert" => match &value.value {
                    Value::Seq(items) => {
                        for item in items {
                            if let Some(a) = self.assertion(file, item)? {
                                test.asserts.push(a);
                            }
                        }
                    }
                    Value::Null => {}
                    _ => {
                        return Err(fatal(
                            &key_at,
                            format!("`assert` is a list, not {}", value.type_name()),
                        ));
                    }
                },
                "options" => self.options(file, value, &mut test),
                "threshold" => self.report.left_out(
                    key_at,
                    "a test's `threshold`",
                    "promptfoo passes a test whose weighted score reaches it; an evalgate case passes when every scorer passes",
                ),
                "metadata" => self.report.left_out(
                    key_at,
                    "a test's `metadata`",
                    "filters promptfoo's views; evalgate keeps no test metadata",
                ),
                "providers" | "prompts" | "provider" => self.report.left_out(
                    key_at,
                    format!("a test's `{key}`"),
                    "an evalgate suite runs every case on each of its models: the case runs on all",
                ),
                k => self.report.left_out(
                    key_at,
                    format!("a test's `{k}`"),
                    "evalgate has no counterpart of this key",
                ),
            }
        }
        Ok(test)
    }

    /// `vars`: a mapping (values: scalars, lists, objects, or `file://` text files).
    fn vars(
        &mut self,
        file: &Path,
        node: &Node,
    ) -> Result<Vec<(String, serde_json::Value)>, Fatal> {
        let at = self.loc(file, node);
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return Ok(Vec::new()),
            _ => {
                return Err(fatal(
                    &at,
                    format!("`vars` is a mapping, not {}", node.type_name()),
                ));
            }
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let value = match v.as_str().and_then(|s| s.strip_prefix("file://")) {
                Some(_) => self.var_file(file, v)?,
                None => v.to_json(),
            };
            out.push((k.clone(), value));
        }
        Ok(out)
    }

    /// A variable read from a file: text as it is, JSON and YAML parsed. A script is
    /// refused (an error: the test cannot be run without it).
    fn var_file(&mut self, file: &Path, node: &Node) -> Result<serde_json::Value, Fatal> {
        let at = self.loc(file, node);
        let reference = node.as_str().unwrap_or_default();
        let path = self.dir.join(reference.trim_start_matches("file://"));
        match extension(&path).as_str() {
            "js" | "cjs" | "mjs" | "ts" | "py" | "rb" => Err(fatal(
                &at,
                format!(
                    "variable `{reference}` is computed by a script, which evalgate does not run; write its value in the test"
                ),
            )),
            "json" | "yaml" | "yml" => Ok(self.yaml_file(&path, &at)?.to_json()),
            _ => Ok(serde_json::Value::String(self.text(&path, &at)?)),
        }
    }

    /// A test's `options`: `provider` (the grader) is kept; the rest is listed as not mapped.
    fn options(&mut self, file: &Path, node: &Node, test: &mut TestDef) {
        for (k, v) in node.entries() {
            let at = self.loc(file, v);
            match k.as_str() {
                "provider" => test.grader = Some((at, v.to_json())),
                _ => self.report.left_out(
                    at,
                    format!("`options.{k}`"),
                    "evalgate has no counterpart of this option (it changes the prompt or the output before the check)",
                ),
            }
        }
    }

    /// One assertion mapping. `None` when it cannot be read (reported).
    fn assertion(&mut self, file: &Path, node: &Node) -> Result<Option<AssertDef>, Fatal> {
        let at = self.loc(file, node);
        let Some(kind) = node.get("type").and_then(Node::as_str) else {
            return Err(fatal(&at, "an assertion needs a `type`"));
        };
        let mut a = AssertDef {
            at,
            kind: kind.to_string(),
            value: node.get("value").map(Node::to_json),
            threshold: node.get("threshold").and_then(Node::as_f64),
            provider: node.get("provider").map(Node::to_json),
            unmapped_keys: Vec::new(),
        };
        for (k, v) in node.entries() {
            match k.as_str() {
                "type" | "value" | "threshold" | "provider" => {}
                // A weight of 1 is the default; `metric` only names a score in promptfoo's view.
                "weight" if v.as_f64() == Some(1.0) => {}
                "metric" => {}
                _ => a.unmapped_keys.push(k.clone()),
            }
        }
        if let Some(v) = node.get("value").and_then(Node::as_str)
            && v.starts_with("file://")
        {
            let path = self.dir.join(v.trim_start_matches("file://"));
            match extension(&path).as_str() {
                "js" | "cjs" | "mjs" | "ts" | "py" | "rb" => {}
                "json" | "yaml" | "yml" => {
                    a.value = Some(self.yaml_file(&path, &a.at)?.to_json());
                }
                _ => {
                    a.value = Some(serde_json::Value::String(self.text(&path, &a.at)?));
                }
            }
        }
        Ok(Some(a))
    }

    /// The tests of a CSV file: each column a variable, except promptfoo's special columns:
    /// `__expected…` (an assertion written as `type: value`, `type(threshold): value`, or a
    /// plain value to equal), `__description`, and the others, listed as not mapped.
    fn csv_tests(
        &mut self,
        path: &Path,
        from: &Loc,
        default: Option<&TestDef>,
    ) -> Result<Vec<TestDef>, Fatal> {
        let shown = self.shown(path);
        let body = self.text(path, from)?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(body.as_bytes());
        let csv_error = |e: csv::Error| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("a row of {len} fields where the header has {expected_len}"),
                csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
                _ => e.to_string(),
            };
            Diagnostic::new(shown.clone(), line, 0, format!("invalid CSV: {message}"))
        };
        let headers: Vec<String> = reader
            .headers()
            .map_err(csv_error)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut noted = std::collections::HashSet::new();
        let mut out = Vec::new();
        for record in reader.records() {
            let record = record.map_err(csv_error)?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let at = Loc::new(shown.clone(), line, 1);
            let mut test = match default {
                Some(d) => TestDef {
                    at: at.clone(),
                    description: None,
                    ..d.clone()
                },
                None => TestDef {
                    at: at.clone(),
                    description: None,
                    vars: Vec::new(),
                    asserts: Vec::new(),
                    grader: None,
                },
            };
            for (header, field) in headers.iter().zip(record.iter()) {
                if header.starts_with("__expected") {
                    if !field.trim().is_empty() {
                        test.asserts.push(assertion_from_string(field, at.clone()));
                    }
                } else if header == "__description" {
                    test.description = Some(field.to_string());
                } else if header.starts_with("__") {
                    if noted.insert(header.clone()) {
                        self.report.left_out(
                            Loc::new(shown.clone(), 1, 1),
                            format!("CSV column `{header}`"),
                            "evalgate has no counterpart of this column",
                        );
                    }
                } else {
                    let value = serde_json::Value::String(field.to_string());
                    match test.vars.iter_mut().find(|(k, _)| k == header) {
                        Some(slot) => slot.1 = value,
                        None => test.vars.push((header.clone(), value)),
                    }
                }
            }
            out.push(test);
        }
        Ok(out)
    }
}

/// An assertion written in a CSV cell, read as promptfoo reads it: `javascript:`/`fn:`,
/// `python:`, `grade:`/`llm-rubric:`, then `[not-]type[(threshold)][:value]` for a known
/// assertion type, else a value the output must equal.
pub fn assertion_from_string(cell: &str, at: Loc) -> AssertDef {
    let assertion = |kind: &str, value: Option<String>, threshold: Option<f64>| AssertDef {
        at: at.clone(),
        kind: kind.to_string(),
        value: value.map(serde_json::Value::String),
        threshold,
        provider: None,
        unmapped_keys: Vec::new(),
    };
    for (prefix, kind) in [
        ("javascript:", "javascript"),
        ("fn:", "javascript"),
        ("eval:", "javascript"),
        ("python:", "python"),
        ("grade:", "llm-rubric"),
        ("llm-rubric:", "llm-rubric"),
    ] {
        if let Some(rest) = cell.strip_prefix(prefix) {
            let rest = if kind == "llm-rubric" {
                rest
            } else {
                rest.trim()
            };
            return assertion(kind, Some(rest.to_string()), None);
        }
    }
    let re =
        regex::Regex::new(r"^(not-)?([a-z][a-z0-9-]*?)(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$");
    if let Some(c) = re.ok().as_ref().and_then(|re| re.captures(cell))
        && CSV_TYPES.contains(&&c[2])
    {
        let kind = format!("{}{}", c.get(1).map_or("", |m| m.as_str()), &c[2]);
        let threshold = c.get(3).and_then(|m| m.as_str().parse::<f64>().ok());
        // Values are trimmed (as promptfoo does), but a JSON schema is kept as written.
        let raw = matches!(&c[2], "is-json" | "contains-json");
        let value = c
            .get(4)
            .map(|m| if raw { m.as_str() } else { m.as_str().trim() }.to_string());
        let mut a = assertion(&kind, value, threshold);
        if matches!(
            &c[2],
            "contains-any" | "contains-all" | "icontains-any" | "icontains-all"
        ) && let Some(serde_json::Value::String(v)) = &a.value
        {
            a.value = Some(serde_json::Value::Array(
                v.split(',')
                    .map(|s| serde_json::Value::String(s.trim().to_string()))
                    .collect(),
            ));
        }
        // A threshold in parentheses: promptfoo's default for the types that take one.
        if a.threshold.is_none() && THRESHOLD_TYPES.contains(&&c[2]) {
            a.threshold = Some(if &c[2] == "similar" { 0.8 } else { 0.75 });
        }
        return a;
    }
    assertion("equals", Some(cell.to_string()), None)
}

/// Assertion types a CSV cell may name (promptfoo's base types that evalgate maps, and the
/// common ones it does not, so that they are reported by name rather than read as text).
const CSV_TYPES: &[&str] = &[
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "icontains-any",
    "icontains-all",
    "regex",
    "is-json",
    "contains-json",
    "starts-with",
    "levenshtein",
    "similar",
    "cost",
    "latency",
    "llm-rubric",
    "model-graded-closedqa",
    "javascript",
    "python",
    "webhook",
    "rouge-n",
    "bleu",
    "answer-relevance",
    "factuality",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "classifier",
    "perplexity",
    "perplexity-score",
    "is-valid-openai-function-call",
    "is-valid-openai-tools-call",
    "is-xml",
    "contains-xml",
    "is-sql",
    "contains-sql",
    "moderation",
    "g-eval",
    "finish-reason",
    "word-count",
];

/// Types whose CSV form takes a threshold in parentheses (promptfoo's `csv.ts`).
const THRESHOLD_TYPES: &[&str] = &[
    "answer-relevance",
    "classifier",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "cost",
    "latency",
    "levenshtein",
    "perplexity-score",
    "perplexity",
    "rouge-n",
    "similar",
    "starts-with",
];

/// Messages of a prompt written as text: a JSON chat array when it is one (promptfoo reads
/// such text as a conversation), else one user message.
fn messages_of_text(text: &str) -> Vec<(Role, String)> {
    let trimmed = text.trim();
    if trimmed.starts_with('[')
        && let Ok(doc) = super::yaml::parse(trimmed)
        && let Some(m) = chat_messages(&doc)
    {
        return m;
    }
    vec![(Role::User, text.to_string())]
}

/// A chat array `[{role, content}, …]` with roles system, user or assistant.
fn chat_messages(doc: &Node) -> Option<Vec<(Role, String)>> {
    let Value::Seq(items) = &doc.value else {
        return None;
    };
    let mut out = Vec::new();
    for m in items {
        let role = match m.get("role")?.as_str()? {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => return None,
        };
        out.push((role, m.get("content")?.scalar_text()?));
    }
    (!out.is_empty()).then_some(out)
}

/// A text file's prompts: split at lines that are `---`, with the line each starts on.
fn split_prompts(body: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in body.lines().enumerate() {
        if line.trim_end() == "---" {
            out.push((start, std::mem::take(&mut current)));
            start = i + 2;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    out.push((start, current));
    out.into_iter()
        .map(|(l, p)| (l, p.trim_end_matches('\n').to_string()))
        .filter(|(_, p)| !p.trim().is_empty())
        .collect()
}

/// Moves a node parsed from one line of a JSONL file onto that line.
fn relocate(node: &mut Node, line: usize) {
    node.line = line;
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| relocate(n, line)),
        Value::Map(entries) => entries.iter_mut().for_each(|(_, n)| relocate(n, line)),
        _ => {}
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// A Windows drive letter (`C:\…`), not a function name after a colon.
fn has_drive(reference: &str) -> bool {
    reference.len() > 2
        && reference.as_bytes()[1] == b':'
        && reference.as_bytes()[0].is_ascii_alphabetic()
}

/// The first line of an inline prompt, short enough for the report.
fn clip_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let clipped = crate::text::clip(first, 50);
    if clipped.len() < text.trim_end().len() && !clipped.ends_with('…') {
        format!("{clipped}…")
    } else {
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Loc {
        Loc::new("t.csv".into(), 2, 1)
    }

    #[test]
    fn csv_cells_read_as_promptfoo_reads_them() {
        let a = assertion_from_string("icontains: paris", at());
        assert_eq!(
            (a.kind.as_str(), a.value),
            ("icontains", Some("paris".into()))
        );
        let a = assertion_from_string("not-contains:x", at());
        assert_eq!(a.kind, "not-contains");
        let a = assertion_from_string("similar(0.9):The sky is blue", at());
        assert_eq!((a.kind.as_str(), a.threshold), ("similar", Some(0.9)));
        let a = assertion_from_string("levenshtein:hello", at());
        assert_eq!(a.threshold, Some(0.75));
        let a = assertion_from_string("contains-any: red, blue", at());
        assert_eq!(a.value, Some(serde_json::json!(["red", "blue"])));
        let a = assertion_from_string("grade: is polite", at());
        assert_eq!(
            (a.kind.as_str(), a.value),
            ("llm-rubric", Some(" is polite".into()))
        );
        let a = assertion_from_string("fn: output.length < 5", at());
        assert_eq!(a.kind, "javascript");
        let a = assertion_from_string("Paris", at());
        assert_eq!((a.kind.as_str(), a.value), ("equals", Some("Paris".into())));
        let a = assertion_from_string("is-json", at());
        assert_eq!((a.kind.as_str(), a.value), ("is-json", None));
    }

    #[test]
    fn text_files_split_at_dashes_with_their_lines() {
        let parts = split_prompts("Hello {{a}}\n---\nBye {{b}}\nsee you\n");
        assert_eq!(
            parts,
            vec![
                (1, "Hello {{a}}".to_string()),
                (3, "Bye {{b}}\nsee you".to_string())
            ]
        );
        let m = messages_of_text(
            r#"[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "{{q}}"}]"#,
        );
        assert_eq!(
            m,
            vec![
                (Role::System, "Be brief".into()),
                (Role::User, "{{q}}".into())
            ]
        );
    }
}
