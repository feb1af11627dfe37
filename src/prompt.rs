//! Prompts: messages as minijinja templates, model parameters and an output contract.
//!
//! A prompt's version is the hash of its normalized content (messages, params, contract), so
//! any change that can change what the model sees or must answer gives a new version, and a
//! change of comments or line endings does not.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::contract::Contract;
use crate::hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// A rendered chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// Whether the model is asked for free text or for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    #[default]
    Text,
    Json,
}

/// Model parameters of a prompt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Sampling temperature (default 0: the most repeatable answers).
    #[serde(default)]
    pub temperature: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// `json` asks the provider for JSON (constrained by the contract's schema where the
    /// provider supports it); the contract is checked in any case.
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// Ask for the answer tokens' log-probabilities with this many alternatives each
    /// (OpenAI `logprobs` + `top_logprobs`; at most 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
}

/// The keys of the `params` section, for suggestions.
pub const PARAM_KEYS: &[&str] = &[
    "temperature",
    "max_tokens",
    "seed",
    "top_p",
    "stop",
    "response_format",
    "logprobs",
];

/// A compiled prompt.
#[derive(Debug)]
pub struct Prompt {
    pub name: String,
    /// The file it was read from, relative to the project root.
    pub path: PathBuf,
    /// Full content hash; `hash::short` shows it.
    pub version: String,
    pub roles: Vec<Role>,
    /// The template sources, normalized (as hashed).
    pub sources: Vec<String>,
    pub params: Params,
    pub contract: Option<Contract>,
    /// Top-level variables the templates use.
    pub variables: BTreeSet<String>,
    env: Environment<'static>,
}

/// A template that failed while rendering a case (a filter error, a missing attribute).
#[derive(Debug, Clone, thiserror::Error)]
#[error("template of message {index} failed: {message}")]
pub struct RenderError {
    pub index: usize,
    pub message: String,
}

/// The environment every prompt template is compiled in: strict undefined variables (a
/// missing variable is an error, not an empty string) and no auto-escaping (minijinja would
/// otherwise pick JSON escaping from a template name ending in `.yaml`).
/// The most instructions one rendering may take: a prompt or a rubric renders in hundreds, so
/// a template that loops for minutes (from a pull request, say) fails instead of stalling.
pub const TEMPLATE_FUEL: u64 = 5_000_000;

pub fn template_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(false);
    env
}

/// The name under which message `index` is compiled.
pub fn template_name(index: usize) -> String {
    format!("message[{index}]")
}

impl Prompt {
    /// Compiles a prompt; on a template syntax error returns the message index and the error.
    pub fn compile(
        name: &str,
        path: PathBuf,
        messages: Vec<(Role, String)>,
        params: Params,
        contract: Option<Contract>,
    ) -> Result<Prompt, (usize, minijinja::Error)> {
        let mut env = template_env();
        let mut roles = Vec::new();
        let mut sources = Vec::new();
        let mut variables = BTreeSet::new();
        for (index, (role, content)) in messages.into_iter().enumerate() {
            let source = hash::normalize_text(&content);
            env.add_template_owned(template_name(index), source.clone())
                .map_err(|e| (index, e))?;
            let template = env
                .get_template(&template_name(index))
                .map_err(|e| (index, e))?;
            variables.extend(template.undeclared_variables(false));
            roles.push(role);
            sources.push(source);
        }
        let version = version_of(&roles, &sources, &params, contract.as_ref());
        Ok(Prompt {
            name: name.to_string(),
            path,
            version,
            roles,
            sources,
            params,
            contract,
            variables,
            env,
        })
    }

    pub fn short_version(&self) -> &str {
        hash::short(&self.version)
    }

    /// The prompt as text for people and diffs: each message's role and template, then the
    /// params and the output contract (what its version hashes).
    pub fn source_text(&self) -> String {
        let mut out = String::new();
        for (role, source) in self.roles.iter().zip(&self.sources) {
            let role = serde_json::to_value(role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            out.push_str(&format!("[{role}]\n{}\n\n", source.trim_end()));
        }
        out.push_str(&format!(
            "[params]\n{}\n",
            serde_json::to_string_pretty(&self.params).unwrap_or_default()
        ));
        if let Some(c) = &self.contract {
            out.push_str(&format!(
                "\n[output]\n{}\n",
                serde_json::to_string_pretty(c).unwrap_or_default()
            ));
        }
        out
    }

    /// Renders every message with a case's variables.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<Vec<Message>, RenderError> {
        let ctx = minijinja::Value::from_serialize(vars);
        let mut out = Vec::with_capacity(self.roles.len());
        for (index, role) in self.roles.iter().enumerate() {
            let template =
                self.env
                    .get_template(&template_name(index))
                    .map_err(|e| RenderError {
                        index,
                        message: e.to_string(),
                    })?;
            let content = template.render(&ctx).map_err(|e| RenderError {
                index,
                message: render_error_message(&e),
            })?;
            out.push(Message {
                role: *role,
                content,
            });
        }
        Ok(out)
    }

    /// Where case variables come before static instructions: the message index of the first
    /// template expression, with the static characters before and after it. Providers cache
    /// the longest common prefix of requests, so static text after a variable is paid in full
    /// on every call. `None` when no static text follows the first variable.
    pub fn variables_before_static(&self) -> Option<(usize, usize, usize)> {
        let expr = regex::Regex::new(r"(?s)\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}").ok()?;
        let mut before = 0;
        let mut first: Option<usize> = None;
        let mut after = 0;
        for (i, source) in self.sources.iter().enumerate() {
            match (first, expr.find(source)) {
                (None, Some(m)) => {
                    first = Some(i);
                    before += source[..m.start()].trim().chars().count();
                    after += expr
                        .replace_all(&source[m.end()..], "")
                        .trim()
                        .chars()
                        .count();
                }
                (None, None) => before += source.trim().chars().count(),
                (Some(_), _) => after += expr.replace_all(source, "").trim().chars().count(),
            }
        }
        let index = first?;
        (after > before.max(50)).then_some((index, before, after))
    }

    /// Index of the first message that uses a case variable, and of the last message
    /// without any: used to warn when variables come before static instructions.
    pub fn first_variable_message(&self) -> Option<usize> {
        (0..self.roles.len()).find(|&i| {
            self.env
                .get_template(&template_name(i))
                .map(|t| !t.undeclared_variables(false).is_empty())
                .unwrap_or(false)
        })
    }
}

fn render_error_message(e: &minijinja::Error) -> String {
    let mut msg = e.kind().to_string();
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (template line {line})"));
    }
    msg
}

fn version_of(
    roles: &[Role],
    sources: &[String],
    params: &Params,
    contract: Option<&Contract>,
) -> String {
    let messages: Vec<Value> = roles
        .iter()
        .zip(sources)
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let normalized = json!({
        "messages": messages,
        "params": serde_json::to_value(params).unwrap_or(Value::Null),
        "output": contract.map(|c| serde_json::to_value(c).unwrap_or(Value::Null)),
    });
    hash::json_hash(&normalized)
}

/// One chat request, independent of the backend that serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model id sent to the API.
    pub model: String,
    pub messages: Vec<Message>,
    pub params: Params,
    /// JSON Schema of the expected output, derived from the prompt's contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

impl ChatRequest {
    /// The request hash: the same logical request has the same hash whichever provider
    /// serves it, so a cassette recorded against a live server replays offline.
    pub fn hash(&self) -> String {
        crate::hash::json_hash(&serde_json::json!({
            "model": self.model,
            "messages": self.messages,
            "params": self.params,
            "schema": self.schema,
        }))
    }

    /// A rough token count of the input (4 characters a token), for rate limits and
    /// estimates before a run. Never used for cost: that comes from the provider's usage.
    pub fn estimated_input_tokens(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| m.content.chars().count() as u64 / 4 + 4)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let p = Prompt::compile(
            "p",
            "prompts/p.yaml".into(),
            vec![(
                Role::User,
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                    .into(),
            )],
            Params::default(),
            None,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let e = p.render(&Map::new()).unwrap_err();
        assert!(e.message.contains("fuel"), "{}", e.message);
        assert!(started.elapsed().as_secs() < 10);
    }

    fn prompt(system: &str, user: &str, temperature: f64) -> Prompt {
        let params = Params {
            temperature,
            ..Params::default()
        };
        Prompt::compile(
            "p",
            "prompts/p.yaml".into(),
            vec![(Role::System, system.into()), (Role::User, user.into())],
            params,
            None,
        )
        .unwrap()
    }

    #[test]
    fn renders_variables_and_lists_them() {
        let p = prompt("Label it.", "Text: {{ transcript }} ({{ meta.lang }})", 0.0);
        assert_eq!(
            p.variables.iter().collect::<Vec<_>>(),
            ["meta", "transcript"]
        );
        let vars = json!({"transcript": "<b>hi</b>", "meta": {"lang": "en"}});
        let msgs = p.render(vars.as_object().unwrap()).unwrap();
        // No escaping: the model sees the text as written.
        assert_eq!(msgs[1].content, "Text: <b>hi</b> (en)");
        assert_eq!(p.first_variable_message(), Some(1));
    }

    #[test]
    fn warns_when_variables_come_before_static_instructions() {
        let long =
            "Label the conversation with intent and sentiment, and answer in JSON only. ".repeat(2);
        let bad = prompt("{{ transcript }}", &long, 0.0);
        assert_eq!(
            bad.variables_before_static().map(|(i, b, _)| (i, b)),
            Some((0, 0))
        );
        let good = prompt(&long, "Conversation: {{ transcript }}", 0.0);
        assert_eq!(good.variables_before_static(), None);
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let p = prompt("s", "{{ transcript }}", 0.0);
        let err = p.render(&Map::new()).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.message.contains("undefined"), "{}", err.message);
    }

    #[test]
    fn version_changes_with_content_and_params_but_not_line_endings() {
        let a = prompt("Label it.", "{{ x }}", 0.0);
        let b = prompt("Label it.  \r\n", "{{ x }}\n", 0.0);
        let c = prompt("Label it!", "{{ x }}", 0.0);
        let d = prompt("Label it.", "{{ x }}", 0.7);
        assert_eq!(a.version, b.version);
        assert_ne!(a.version, c.version);
        assert_ne!(a.version, d.version);
        assert_eq!(a.short_version().len(), 8);
    }

    #[test]
    fn a_syntax_error_names_the_message() {
        let err = Prompt::compile(
            "p",
            "p.yaml".into(),
            vec![
                (Role::System, "ok".into()),
                (Role::User, "line\n{{ x ".into()),
            ],
            Params::default(),
            None,
        )
        .unwrap_err();
        assert_eq!(err.0, 1);
        assert_eq!(err.1.line(), Some(2));
    }
}
