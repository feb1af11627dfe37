//! promptfoo → evalgate: providers become providers and models, prompts become prompt files
//! and one suite each, tests become golden cases, assertions become scorers, judges and gates.
//!
//! promptfoo attaches assertions to each test; an evalgate suite has one list of scorers for
//! all its cases. So each kind of assertion (its type and settings) becomes a scorer, and
//! what a test compares with goes into that case's `expected`, under the scorer's name (the
//! scorer skips a case without it). The n-th assertion of one kind in a test becomes a
//! scorer of its own (`contains`, `contains_2`). A value that every case shares is written
//! into the scorer instead. Nothing here reads or writes a file.

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::read::{AssertDef, Project, PromptDef, ProviderDef, TestDef};
use super::report::{Loc, Report};

/// An evalgate project, as the files will hold it.
#[derive(Debug, Default)]
pub struct Imported {
    pub providers: IndexMap<String, Value>,
    pub models: IndexMap<String, Value>,
    pub suites: IndexMap<String, Value>,
    /// `prompts/NAME.yaml`.
    pub prompts: IndexMap<String, Value>,
    /// `judges/NAME.yaml`.
    pub judges: IndexMap<String, Value>,
    /// `golden/NAME.jsonl`.
    pub dataset: String,
    pub cases: Vec<Value>,
}

const OPENAI_URL: &str = "https://api.openai.com/v1";
const ANTHROPIC_URL: &str = "https://api.anthropic.com/v1";
/// promptfoo's default embedding model, used by `similar` when no provider is named.
const DEFAULT_EMBEDDING: &str = "text-embedding-3-large";

/// A model mapped from a promptfoo provider id.
struct MappedModel {
    key: String,
    /// The provider's params (temperature, max_tokens…), as a prompt's `params` holds them.
    params: Map<String, Value>,
}

/// What an assertion becomes.
#[derive(Debug, Clone)]
enum Check {
    /// A scorer: its settings (kind and options, no value), a base name, and what this case
    /// compares with.
    Scorer {
        base: String,
        settings: Map<String, Value>,
        value: Option<CaseValue>,
    },
    /// A judge scorer: the judge file's kind, its model, and the case's rubric or criterion.
    Judge {
        base: &'static str,
        model: String,
        text: String,
    },
    /// A gate of the suite: `cost` (USD per case) or `latency` (ms).
    Gate { cost: bool, threshold: f64 },
}

/// What a case compares with.
#[derive(Debug, Clone, PartialEq)]
enum CaseValue {
    Text(String),
    List(Vec<String>),
    Pattern(String),
}

impl CaseValue {
    fn json(&self) -> Value {
        match self {
            CaseValue::Text(s) | CaseValue::Pattern(s) => Value::String(s.clone()),
            CaseValue::List(v) => json!(v),
        }
    }

    /// The scorer key a value shared by every case is written under.
    fn literal_key(&self) -> &'static str {
        match self {
            CaseValue::Text(_) => "value",
            CaseValue::List(_) => "values",
            CaseValue::Pattern(_) => "pattern",
        }
    }
}

/// A scorer of the suites: one kind of check at one position among a test's checks of that
/// kind, with each case's value.
struct Slot {
    name: String,
    signature: String,
    check: Check,
    /// Case index → value (for judges: the rubric).
    values: IndexMap<usize, Value>,
    /// Where its assertions are written (the first few are shown).
    places: Vec<Loc>,
    /// The promptfoo types it comes from.
    types: Vec<String>,
}

pub struct Mapper<'r> {
    pub report: &'r mut Report,
    out: Imported,
    /// promptfoo provider id (and config) → model key, for graders and embedders.
    by_id: IndexMap<String, String>,
    slots: Vec<Slot>,
    cost_gate: Option<f64>,
    latency_gate: Option<f64>,
}

impl<'r> Mapper<'r> {
    pub fn new(report: &'r mut Report) -> Self {
        Mapper {
            report,
            out: Imported::default(),
            by_id: IndexMap::new(),
            slots: Vec::new(),
            cost_gate: None,
            latency_gate: None,
        }
    }

    /// Maps the whole project. `Err` with a message when nothing runnable would come of it.
    pub fn map(mut self, p: &Project, dataset: &str) -> Result<Imported, String> {
        self.out.dataset = dataset.to_string();
        let targets = self.targets(&p.providers);
        if targets.is_empty() {
            return Err("no provider could be mapped: evalgate runs OpenAI-compatible and Anthropic models (see the left-out list)".into());
        }
        let params = self.shared_params(&targets, &p.providers);
        let prompts = self.prompts(&p.prompts, &params);
        if prompts.is_empty() {
            return Err("no prompt could be mapped (see the left-out list)".into());
        }
        let model_keys: Vec<String> = targets.iter().map(|m| m.key.clone()).collect();
        let cases = self.cases(&p.tests, &prompts, &model_keys[0]);
        self.out.cases = cases;
        let scorers = self.scorers();
        if scorers.is_empty() {
            return Err("no assertion could be mapped to a scorer, and an evalgate suite needs one (see the left-out list)".into());
        }
        let mut gates = Map::new();
        if let Some(c) = self.cost_gate {
            gates.insert("metrics".into(), json!({"cost_per_case": {"max": c}}));
        }
        if let Some(l) = self.latency_gate {
            gates.insert("max_latency_p95_ms".into(), json!(l));
        }
        for (name, _) in &prompts {
            let mut suite = Map::new();
            if let Some(d) = &p_description(p) {
                suite.insert("description".into(), json!(d));
            }
            suite.insert("prompt".into(), json!(name));
            suite.insert("dataset".into(), json!(dataset));
            suite.insert("models".into(), json!(model_keys));
            suite.insert("scorers".into(), Value::Array(scorers.clone()));
            if !gates.is_empty() {
                suite.insert("gates".into(), Value::Object(gates.clone()));
            }
            self.out.suites.insert(name.clone(), Value::Object(suite));
        }
        Ok(self.out)
    }

    // ── Providers and models ────────────────────────────────────────────────

    /// The models under test, from `providers` (the others are reported).
    fn targets(&mut self, providers: &[ProviderDef]) -> Vec<MappedModel> {
        let mut out = Vec::new();
        for p in providers {
            match self.model(p, false) {
                Ok(m) => out.push(m),
                Err(why) => self
                    .report
                    .left_out(p.at.clone(), format!("provider `{}`", p.id), why),
            }
        }
        out
    }

    /// A provider id as an evalgate model (its provider added when new).
    fn model(&mut self, p: &ProviderDef, embedding: bool) -> Result<MappedModel, String> {
        let (kind, api_name) = parse_id(&p.id, embedding)?;
        let config = p.config.as_ref();
        let get = |k: &str| config.and_then(|c| c.get(k));
        let mut params = Map::new();
        let mut unmapped = Vec::new();
        for (k, v) in config.map(|c| c.entries()).unwrap_or_default() {
            match k.as_str() {
                "apiBaseUrl" | "apiHost" | "apiKey" | "apiKeyEnvar" | "cost" => {}
                "temperature" | "max_tokens" | "top_p" | "seed" => {
                    params.insert(k.clone(), v.to_json());
                }
                "stop" => {
                    let stop = match v.to_json() {
                        Value::String(s) => json!([s]),
                        other => other,
                    };
                    params.insert("stop".into(), stop);
                }
                "response_format"
                    if v.get("type").and_then(|t| t.as_str()) == Some("json_object") =>
                {
                    params.insert("response_format".into(), json!("json"));
                }
                _ => unmapped.push((k.clone(), v.line, v.col)),
            }
        }
        let file = p.at.file.clone();
        for (k, line, col) in unmapped {
            self.report.left_out(
                Loc::new(file.clone(), line, col),
                format!("provider `{}`: `config.{k}`", p.id),
                "evalgate has no counterpart of this setting",
            );
        }
        let default_url = if kind == "anthropic" {
            ANTHROPIC_URL
        } else {
            OPENAI_URL
        };
        let base_url = match (
            get("apiBaseUrl").and_then(|v| v.as_str()),
            get("apiHost").and_then(|v| v.as_str()),
        ) {
            (Some(u), _) => u.trim_end_matches('/').to_string(),
            (None, Some(h)) => format!("https://{}/v1", h.trim_end_matches('/')),
            (None, None) => default_url.to_string(),
        };
        let default_var = if kind == "anthropic" {
            "ANTHROPIC_API_KEY"
        } else {
            "OPENAI_API_KEY"
        };
        let literal_key = get("apiKey");
        let key_env = match get("apiKeyEnvar").and_then(|v| v.as_str()) {
            Some(v) if is_var_name(v) => Some(v.to_string()),
            _ if literal_key.is_some() || base_url == default_url => Some(default_var.to_string()),
            _ => None,
        };
        if let Some(k) = literal_key {
            self.report.note(
                Some(Loc::new(file.clone(), k.line, k.col)),
                format!("provider `{}`: `config.apiKey`", p.id),
                format!(
                    "a key written in the config is not copied into the project (evalgate reads keys from the environment only): export `{}`",
                    key_env.as_deref().unwrap_or(default_var)
                ),
            );
        }
        let provider = self.provider(kind, &base_url, key_env.as_deref());
        let key = unique(&slug(p.label.as_deref().unwrap_or(&api_name)), |k| {
            self.out.models.contains_key(k)
        });
        let mut model = Map::new();
        model.insert("provider".into(), json!(provider));
        if key != api_name {
            model.insert("name".into(), json!(api_name));
        }
        match get("cost").and_then(|v| v.as_f64()) {
            Some(per_token) => {
                let per_million = per_token * 1_000_000.0;
                model.insert(
                    "price".into(),
                    json!({"input": per_million, "output": per_million}),
                );
            }
            None => {
                model.insert("price".into(), json!({"input": 0, "output": 0}));
                self.report.note(
                    Some(p.at.clone()),
                    format!("model `{key}`"),
                    "price unknown (promptfoo keeps its own price list): set `price` in evalgate.yaml, USD per million tokens; until then costs read 0",
                );
            }
        }
        self.out.models.insert(key.clone(), Value::Object(model));
        self.by_id.insert(p.id.clone(), key.clone());
        let role = if embedding { "embeddings" } else { "model" };
        self.report.mapped(
            Some(p.at.clone()),
            format!("provider `{}`", p.id),
            format!("{role} `{key}` (provider `{provider}`, {base_url})"),
        );
        Ok(MappedModel { key, params })
    }

    /// The evalgate provider for an endpoint: one per kind, address and key variable.
    fn provider(&mut self, kind: &str, base_url: &str, key_env: Option<&str>) -> String {
        let mut entry = Map::new();
        entry.insert("kind".into(), json!(kind));
        if !(kind == "anthropic" && base_url == ANTHROPIC_URL) {
            entry.insert("base_url".into(), json!(base_url));
        }
        if let Some(var) = key_env {
            entry.insert("api_key_env".into(), json!(var));
        }
        let entry = Value::Object(entry);
        if let Some((name, _)) = self.out.providers.iter().find(|(_, e)| **e == entry) {
            return name.clone();
        }
        let base = if base_url == OPENAI_URL {
            "openai".to_string()
        } else if base_url == ANTHROPIC_URL {
            "anthropic".to_string()
        } else {
            let host = base_url
                .split("://")
                .nth(1)
                .unwrap_or(base_url)
                .split(['/', ':'])
                .next()
                .unwrap_or("api");
            if host == "localhost" || host.starts_with("127.") {
                "local".to_string()
            } else {
                slug(host.split('.').next().unwrap_or(host))
            }
        };
        let name = unique(&base, |k| self.out.providers.contains_key(k));
        self.out.providers.insert(name.clone(), entry);
        name
    }

    /// The model a promptfoo provider value names (a grader or an embedder): an id, or
    /// `{id, config}`; mapped once per id.
    fn named_model(&mut self, at: &Loc, value: &Value, embedding: bool) -> Result<String, String> {
        let (id, config) = match value {
            Value::String(s) => (s.clone(), None),
            Value::Object(o) => {
                // `provider: {embedding: …}` / `{text: …}`: promptfoo's per-purpose graders.
                let inner = if embedding {
                    o.get("embedding")
                } else {
                    o.get("text")
                };
                if let Some(inner) = inner {
                    return self.named_model(at, inner, embedding);
                }
                let Some(id) = o.get("id").and_then(Value::as_str) else {
                    return Err("a provider without an `id`".into());
                };
                (id.to_string(), o.get("config").cloned())
            }
            _ => return Err("a provider is an id or a mapping".into()),
        };
        let memo = format!(
            "{id}|{}",
            config.as_ref().map_or(String::new(), Value::to_string)
        );
        if let Some(k) = self.by_id.get(&memo) {
            return Ok(k.clone());
        }
        let def = ProviderDef {
            at: at.clone(),
            id: id.clone(),
            label: None,
            config: config.map(|c| json_node(&c, at)),
        };
        let m = self.model(&def, embedding)?;
        self.by_id.insert(memo, m.key.clone());
        Ok(m.key)
    }

    /// The params every model under test shares become the prompts' params; params that
    /// differ between models cannot be set per model in evalgate, and are reported.
    fn shared_params(
        &mut self,
        targets: &[MappedModel],
        defs: &[ProviderDef],
    ) -> Map<String, Value> {
        let first = targets[0].params.clone();
        if targets.iter().all(|m| m.params == first) {
            return first;
        }
        for d in defs {
            if let Some(c) = &d.config {
                self.report.left_out(
                    Loc::new(d.at.file.clone(), c.line, c.col),
                    format!("provider `{}`: sampling settings", d.id),
                    "the models' settings differ, and evalgate sets them per prompt: the prompts use the defaults (temperature 0)",
                );
            }
        }
        Map::new()
    }

    // ── Prompts ─────────────────────────────────────────────────────────────

    /// Prompt files (and their names and variables) from the prompts that compile.
    fn prompts(
        &mut self,
        defs: &[PromptDef],
        params: &Map<String, Value>,
    ) -> Vec<(String, crate::prompt::Prompt)> {
        let mut out = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            let base = d
                .label
                .as_deref()
                .or(d.stem.as_deref())
                .map(slug)
                .unwrap_or_else(|| format!("prompt_{}", i + 1));
            let name = unique(&base, |k| self.out.prompts.contains_key(k));
            let compiled = crate::prompt::Prompt::compile(
                &name,
                std::path::PathBuf::from(format!("prompts/{name}.yaml")),
                d.messages.clone(),
                serde_json::from_value(Value::Object(params.clone())).unwrap_or_default(),
                None,
            );
            match compiled {
                Ok(p) => {
                    let messages: Vec<Value> = d
                        .messages
                        .iter()
                        .map(|(role, content)| json!({"role": role, "content": content}))
                        .collect();
                    let mut file = Map::new();
                    file.insert(
                        "description".into(),
                        json!(format!("Imported from promptfoo: {}", d.shown)),
                    );
                    file.insert("messages".into(), Value::Array(messages));
                    if !params.is_empty() {
                        file.insert("params".into(), Value::Object(params.clone()));
                    }
                    self.out.prompts.insert(name.clone(), Value::Object(file));
                    self.report.mapped(
                        Some(d.at.clone()),
                        format!("prompt `{}`", d.shown),
                        format!("prompts/{name}.yaml, suite `{name}`"),
                    );
                    out.push((name, p));
                }
                Err((_, e)) => self.report.left_out(
                    d.at.clone(),
                    format!("prompt `{}`", d.shown),
                    format!("its template does not compile as minijinja: {}", e.kind()),
                ),
            }
        }
        out
    }

    // ── Tests and assertions ────────────────────────────────────────────────

    /// The golden cases; fills the slots (scorers) and gates as it goes.
    fn cases(
        &mut self,
        tests: &[TestDef],
        prompts: &[(String, crate::prompt::Prompt)],
        first_model: &str,
    ) -> Vec<Value> {
        let mut cases = Vec::new();
        let mut ids = std::collections::HashSet::new();
        let mut filled: IndexMap<String, (Loc, usize)> = IndexMap::new();
        for test in tests {
            for vars in expand(&test.vars) {
                let index = cases.len();
                let mut vars = vars;
                for (_, p) in prompts {
                    for v in &p.variables {
                        if !vars.contains_key(v) {
                            vars.insert(v.clone(), json!(""));
                            let e = filled.entry(v.clone()).or_insert((test.at.clone(), 0));
                            e.1 += 1;
                        }
                    }
                }
                let mut expected = Map::new();
                let mut seen: IndexMap<String, usize> = IndexMap::new();
                for a in &test.asserts {
                    let check = match self.check(a, test, &vars, first_model) {
                        Ok(c) => c,
                        Err(why) => {
                            // A test expanded from list variables repeats its assertions:
                            // report each once.
                            if !self
                                .report
                                .left_out
                                .iter()
                                .any(|e| e.at.as_ref() == Some(&a.at))
                            {
                                self.report.left_out(
                                    a.at.clone(),
                                    format!("assertion `{}`", a.kind),
                                    why,
                                );
                            }
                            continue;
                        }
                    };
                    if let Check::Gate { cost, threshold } = check {
                        let gate = if cost {
                            &mut self.cost_gate
                        } else {
                            &mut self.latency_gate
                        };
                        *gate = Some(gate.map_or(threshold, |g: f64| g.min(threshold)));
                        continue;
                    }
                    let signature = signature(&check);
                    let n = seen.entry(signature.clone()).or_insert(0);
                    *n += 1;
                    let slot = self.slot(&signature, *n, &check);
                    let value = match &check {
                        Check::Scorer { value, .. } => value.as_ref().map(CaseValue::json),
                        Check::Judge { text, .. } => Some(json!(text)),
                        Check::Gate { .. } => None,
                    };
                    let s = &mut self.slots[slot];
                    if s.places.len() < 3 && !s.places.contains(&a.at) {
                        s.places.push(a.at.clone());
                    }
                    if !s.types.contains(&a.kind) {
                        s.types.push(a.kind.clone());
                    }
                    // A check with no value marks its cases with `true`.
                    let v = value.unwrap_or(Value::Bool(true));
                    s.values.insert(index, v.clone());
                    expected.insert(s.name.clone(), v);
                }
                let base = test
                    .description
                    .as_deref()
                    .map(slug)
                    .unwrap_or_else(|| "case".into());
                let hash = crate::hash::json_hash(&Value::Object(vars.clone()));
                let id = unique(&format!("{base}-{}", &hash[..8]), |k| ids.contains(k));
                ids.insert(id.clone());
                let mut source = Map::new();
                source.insert("kind".into(), json!("promptfoo"));
                source.insert("file".into(), json!(test.at.file));
                source.insert("line".into(), json!(test.at.line));
                if let Some(d) = &test.description {
                    source.insert("description".into(), json!(d));
                }
                cases.push(json!({"id": id, "vars": vars, "expected": expected, "source": source}));
            }
        }
        for (var, (at, n)) in filled {
            self.report.note(
                Some(at),
                format!("variable `{var}`"),
                format!("a prompt uses it and {n} case(s) lack it: set to \"\" in those cases, as promptfoo renders a missing variable empty (evalgate would fail the case)"),
            );
        }
        let first = tests.first().map(|t| t.at.clone());
        let last = tests.last().map(|t| t.at.clone());
        if let (Some(f), Some(l)) = (first, last) {
            let span = if f.file == l.file {
                format!("{} to line {}", f, l.line)
            } else {
                format!("{f} to {l}")
            };
            self.report.mapped(
                None,
                format!("{} test(s), {span}", tests.len()),
                format!("golden/{}.jsonl, {} case(s)", self.out.dataset, cases.len()),
            );
        }
        cases
    }

    /// The slot of the n-th check of this signature in a test (made on first use).
    fn slot(&mut self, signature: &str, n: usize, check: &Check) -> usize {
        let key = format!("{signature}#{n}");
        if let Some(i) = self.slots.iter().position(|s| s.signature == key) {
            return i;
        }
        let base = match check {
            Check::Scorer { base, .. } => base.clone(),
            Check::Judge { base, .. } => base.to_string(),
            Check::Gate { .. } => "gate".into(),
        };
        let name = unique(&base, |k| self.slots.iter().any(|s| s.name == k));
        self.slots.push(Slot {
            name,
            signature: key,
            check: check.clone(),
            values: IndexMap::new(),
            places: Vec::new(),
            types: Vec::new(),
        });
        self.slots.len() - 1
    }

    /// The suites' scorers from the slots; values every case shares go into the scorer, the
    /// others stay in the cases. Judge slots get their judge files.
    fn scorers(&mut self) -> Vec<Value> {
        let cases = self.out.cases.len();
        let mut out = Vec::new();
        let slots = std::mem::take(&mut self.slots);
        for s in &slots {
            let places: Vec<String> = s.places.iter().map(ToString::to_string).collect();
            let from = format!(
                "`{}` at {}{} ({} case(s))",
                s.types.join("`, `"),
                places.join(", "),
                if s.places.len() == 3 { ", …" } else { "" },
                s.values.len()
            );
            match &s.check {
                Check::Scorer {
                    settings, value, ..
                } => {
                    let mut scorer = settings.clone();
                    let default_name = settings.get("kind").and_then(Value::as_str).unwrap_or("");
                    if s.name != default_name {
                        scorer.insert("name".into(), json!(s.name));
                    }
                    let first = s.values.values().next().cloned().unwrap_or(Value::Null);
                    let shared = s.values.len() == cases && s.values.values().all(|v| *v == first);
                    let how = match value {
                        None if s.values.len() == cases => {
                            for case in &mut self.out.cases {
                                if let Some(e) =
                                    case.get_mut("expected").and_then(Value::as_object_mut)
                                {
                                    e.remove(&s.name);
                                }
                            }
                            "every case".to_string()
                        }
                        None => {
                            // Checks with no value apply to the cases marked in `expected`.
                            scorer.insert("expected".into(), json!(s.name));
                            format!("the cases whose `expected.{}` is set", s.name)
                        }
                        Some(v) if shared => {
                            scorer.insert(v.literal_key().into(), first.clone());
                            for case in &mut self.out.cases {
                                if let Some(e) =
                                    case.get_mut("expected").and_then(Value::as_object_mut)
                                {
                                    e.remove(&s.name);
                                }
                            }
                            format!("`{}` shared by every case", v.literal_key())
                        }
                        Some(_) => {
                            scorer.insert("expected".into(), json!(s.name));
                            format!("each case's `expected.{}`", s.name)
                        }
                    };
                    let kind = scorer.get("kind").cloned().unwrap_or(Value::Null);
                    let opts: Vec<String> = scorer
                        .iter()
                        .filter(|(k, _)| {
                            !["kind", "name", "value", "values", "pattern", "expected"]
                                .contains(&k.as_str())
                        })
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect();
                    let opts = if opts.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", opts.join(", "))
                    };
                    self.report.mapped(
                        None,
                        from,
                        format!(
                            "scorer `{}` (kind {}{opts}; {how})",
                            s.name,
                            kind.as_str().unwrap_or("")
                        ),
                    );
                    out.push(Value::Object(scorer));
                }
                Check::Judge { base, model, .. } => {
                    self.out
                        .judges
                        .insert(s.name.clone(), judge_file(base, &s.name, model));
                    out.push(json!({"kind": "judge", "judge": s.name, "expected": s.name}));
                    self.report.mapped(
                        None,
                        from,
                        format!(
                            "judge scorer `{0}` (judges/{0}.yaml, model `{model}`; each case's `expected.{0}`)",
                            s.name
                        ),
                    );
                }
                Check::Gate { .. } => {}
            }
        }
        if let Some(c) = self.cost_gate {
            self.report.mapped(
                None,
                "`cost` assertions",
                format!("gate `cost_per_case: {{max: {c}}}` (promptfoo holds each call to it; evalgate the run's mean cost per case, under `evalgate gate`)"),
            );
        }
        if let Some(l) = self.latency_gate {
            self.report.mapped(
                None,
                "`latency` assertions",
                format!("gate `max_latency_p95_ms: {l}` (promptfoo holds each call to it; evalgate the run's 95th percentile, under `evalgate gate`)"),
            );
        }
        out
    }

    /// What one assertion of a test becomes, or why it cannot be mapped.
    fn check(
        &mut self,
        a: &AssertDef,
        test: &TestDef,
        vars: &Map<String, Value>,
        first_model: &str,
    ) -> Result<Check, String> {
        if let Some(k) = a.unmapped_keys.first() {
            return Err(format!(
                "its `{k}` changes what is checked or how it counts, which evalgate cannot express"
            ));
        }
        let (negate, kind) = match a.kind.strip_prefix("not-") {
            Some(k) => (true, k),
            None => (false, a.kind.as_str()),
        };
        let value = a.value.as_ref().map(|v| render(v, vars)).transpose()?;
        if let Some(check) = deterministic(a, kind, negate, &value) {
            return check;
        }
        Ok(match kind {
            "similar" => {
                let model = self.embedder(a, test)?;
                let threshold = a.threshold.unwrap_or(0.75);
                scorer_of(
                    a,
                    negate,
                    "similar",
                    &[("model", json!(model)), ("threshold", json!(threshold))],
                    Some(CaseValue::Text(value_text(a, &value)?)),
                )
            }
            "cost" | "latency" if !negate => match a.threshold {
                Some(t) => Check::Gate {
                    cost: kind == "cost",
                    threshold: t,
                },
                None => return Err("without a `threshold` it only records a metric".into()),
            },
            "llm-rubric" | "model-graded-closedqa" if !negate => {
                if a.threshold.is_some() {
                    return Err("a score `threshold`: the imported judge gives pass or fail".into());
                }
                let model = self.grader(a, test, first_model)?;
                Check::Judge {
                    base: if kind == "llm-rubric" {
                        "llm_rubric"
                    } else {
                        "closedqa"
                    },
                    model,
                    text: value_text(a, &value)?,
                }
            }
            "javascript" | "python" | "ruby" | "webhook" => {
                return Err(
                    "code (or a web hook) decides it: evalgate runs no code from a project".into(),
                );
            }
            _ if negate => return Err(format!("evalgate has no negated form of `{kind}`")),
            _ => return Err("evalgate has no scorer of this kind".into()),
        })
    }

    /// The judge model of a model-graded assertion: its `provider`, the test's
    /// `options.provider`, else the first model under test (said in the report).
    fn grader(
        &mut self,
        a: &AssertDef,
        test: &TestDef,
        first_model: &str,
    ) -> Result<String, String> {
        let named = a
            .provider
            .clone()
            .map(|p| (a.at.clone(), p))
            .or_else(|| test.grader.clone());
        match named {
            Some((at, p)) => self
                .named_model(&at, &p, false)
                .map_err(|why| format!("its grader cannot be mapped: {why}")),
            None => {
                if !self
                    .report
                    .notes
                    .iter()
                    .any(|n| n.what == "model-graded assertions")
                {
                    self.report.note(
                        None,
                        "model-graded assertions",
                        format!("no grader named (`provider` or `defaultTest.options.provider`): the judges use `{first_model}`, promptfoo would use its default grader; change `model:` in judges/*.yaml"),
                    );
                }
                Ok(first_model.to_string())
            }
        }
    }

    /// The embedding model of a `similar` assertion: its `provider`, the test's
    /// `options.provider` (its `embedding`), else promptfoo's default, OpenAI's
    /// `text-embedding-3-large`.
    fn embedder(&mut self, a: &AssertDef, test: &TestDef) -> Result<String, String> {
        if let Some(p) = &a.provider {
            return self
                .named_model(&a.at, p, true)
                .map_err(|why| format!("its embedding model cannot be mapped: {why}"));
        }
        // The test's grader serves embeddings when it names an embedding model.
        if let Some((at, p)) = &test.grader
            && let Ok(key) = self.named_model(at, p, true)
        {
            return Ok(key);
        }
        let default = json!(format!("openai:embedding:{DEFAULT_EMBEDDING}"));
        self.named_model(&a.at, &default, true)
            .map_err(|why| format!("its embedding model cannot be mapped: {why}"))
    }
}

fn p_description(p: &Project) -> Option<String> {
    p.description.clone()
}

/// The assertion's value as text (a number or boolean as written).
fn value_text(a: &AssertDef, value: &Option<Value>) -> Result<String, String> {
    match value {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(Value::Array(_) | Value::Object(_)) => {
            Err(format!("`{}` with a list or object value", a.kind))
        }
        _ => Err("it has no `value`".to_string()),
    }
}

/// A scorer check: the evalgate kind with its settings (`negate` for a `not-` type), named
/// after the promptfoo type.
fn scorer_of(
    a: &AssertDef,
    negate: bool,
    kind: &str,
    extra: &[(&str, Value)],
    value: Option<CaseValue>,
) -> Check {
    let mut settings = Map::new();
    settings.insert("kind".into(), json!(kind));
    for (k, v) in extra {
        settings.insert((*k).into(), v.clone());
    }
    if negate {
        settings.insert("negate".into(), json!(true));
    }
    let base = if negate {
        format!(
            "not_{}",
            a.kind.trim_start_matches("not-").replace('-', "_")
        )
    } else {
        a.kind.replace('-', "_")
    };
    Check::Scorer {
        base,
        settings,
        value,
    }
}

/// The deterministic checks (text, lists, patterns, JSON, edit distance); None for the
/// other types.
fn deterministic(
    a: &AssertDef,
    kind: &str,
    negate: bool,
    value: &Option<Value>,
) -> Option<Result<Check, String>> {
    let value = value.clone();
    let check = (|| -> Result<Option<Check>, String> {
        Ok(Some(match kind {
            "equals" => scorer_of(
                a,
                negate,
                "equals",
                &[("trim", json!(false))],
                Some(CaseValue::Text(value_text(a, &value)?)),
            ),
            "contains" => scorer_of(
                a,
                negate,
                "contains",
                &[],
                Some(CaseValue::Text(value_text(a, &value)?)),
            ),
            "icontains" => scorer_of(
                a,
                negate,
                "contains",
                &[("ignore_case", json!(true))],
                Some(CaseValue::Text(value_text(a, &value)?)),
            ),
            "starts-with" => scorer_of(
                a,
                negate,
                "starts_with",
                &[],
                Some(CaseValue::Text(value_text(a, &value)?)),
            ),
            "contains-any" | "contains-all" | "icontains-any" | "icontains-all" => {
                let list = match &value {
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect(),
                    Some(Value::String(s)) => split_commas(s),
                    _ => return Err("it needs a list of strings as its `value`".into()),
                };
                let ic = kind.starts_with('i');
                let evalgate = if kind.ends_with("any") {
                    "contains_any"
                } else {
                    "contains_all"
                };
                let extra: &[(&str, Value)] = if ic {
                    &[("ignore_case", Value::Bool(true))]
                } else {
                    &[]
                };
                scorer_of(a, negate, evalgate, extra, Some(CaseValue::List(list)))
            }
            "regex" => {
                let pattern = value_text(a, &value)?;
                if let Err(e) = regex::Regex::new(&pattern) {
                    let msg = e.to_string();
                    let last = msg.lines().last().unwrap_or("").trim();
                    return Err(format!(
                        "the pattern is not valid in evalgate's regex syntax (no look-around or backreferences): {}",
                        last.strip_prefix("error: ").unwrap_or(last)
                    ));
                }
                scorer_of(a, negate, "regex", &[], Some(CaseValue::Pattern(pattern)))
            }
            "is-json" | "contains-json" => {
                if value
                    .as_ref()
                    .is_some_and(|v| !v.is_null() && *v != json!(""))
                {
                    return Err("a JSON schema check: evalgate has no JSON Schema scorer (a prompt's `output` contract checks fields)".into());
                }
                let evalgate = if kind == "is-json" {
                    "is_json"
                } else {
                    "contains_json"
                };
                scorer_of(a, negate, evalgate, &[], None)
            }
            "levenshtein" => {
                let max = a.threshold.unwrap_or(5.0);
                if !(max >= 0.0 && max.is_finite()) {
                    return Err("its threshold must be a number of edits".into());
                }
                scorer_of(
                    a,
                    negate,
                    "levenshtein",
                    &[("max_distance", json!(max.floor() as u64))],
                    Some(CaseValue::Text(value_text(a, &value)?)),
                )
            }
            _ => return Ok(None),
        }))
    })();
    check.transpose()
}

/// The kind and model of a provider id evalgate can call.
fn parse_id(id: &str, embedding: bool) -> Result<(&'static str, String), String> {
    let parts: Vec<&str> = id.splitn(3, ':').collect();
    let not = || {
        if id.starts_with("file://")
            || id.starts_with("exec:")
            || id.starts_with("python:")
            || id.starts_with("http")
        {
            "a custom provider (code or an HTTP endpoint of its own): evalgate calls OpenAI-compatible and Anthropic APIs".to_string()
        } else {
            "evalgate calls OpenAI-compatible and Anthropic APIs (give an OpenAI-compatible server as `openai:chat:MODEL` with `config.apiBaseUrl`)".to_string()
        }
    };
    match parts.as_slice() {
        ["openai", "embedding" | "embeddings", m] if embedding => Ok(("openai", m.to_string())),
        ["openai", "chat", m] if !embedding => Ok(("openai", m.to_string())),
        ["openai", "chat" | "embedding" | "embeddings", _] => Err(if embedding {
            "not an embedding model (`openai:embedding:MODEL`)".into()
        } else {
            "an embedding model is not a model under test".into()
        }),
        ["openai", api, _] => Err(format!(
            "OpenAI's `{api}` API: evalgate calls chat completions (`openai:chat:MODEL`)"
        )),
        ["openai", m] if !m.is_empty() => Ok(("openai", m.to_string())),
        ["anthropic", "messages", m] if !embedding => Ok(("anthropic", m.to_string())),
        ["anthropic", api, _] => Err(format!(
            "Anthropic's `{api}` API: evalgate calls the Messages API (`anthropic:messages:MODEL`)"
        )),
        _ => Err(not()),
    }
}

/// Groups checks that become one scorer: the kind and settings (and the judge's kind and
/// model), not the value.
fn signature(check: &Check) -> String {
    match check {
        Check::Scorer { base, settings, .. } => {
            format!("{base}|{}", Value::Object(settings.clone()))
        }
        Check::Judge { base, model, .. } => format!("judge|{base}|{model}"),
        Check::Gate { cost, .. } => format!("gate|{cost}"),
    }
}

/// An assertion value with the test's variables filled in (promptfoo renders values as
/// templates, a missing variable as empty).
fn render(value: &Value, vars: &Map<String, Value>) -> Result<Value, String> {
    match value {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let env = minijinja::Environment::new();
            env.render_str(s, vars)
                .map(Value::String)
                .map_err(|e| format!("its value does not render as a template: {}", e.kind()))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| render(v, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// The test's variables, one set per combination of its list values (promptfoo runs a test
/// once for each value of a list variable, and for each combination of several).
fn expand(vars: &[(String, Value)]) -> Vec<Map<String, Value>> {
    let mut out = vec![Map::new()];
    for (k, v) in vars {
        match v {
            Value::Array(items) if !items.is_empty() => {
                out = out
                    .into_iter()
                    .flat_map(|m| {
                        items.iter().map(move |item| {
                            let mut m = m.clone();
                            m.insert(k.clone(), item.clone());
                            m
                        })
                    })
                    .collect();
            }
            _ => out.iter_mut().for_each(|m| {
                m.insert(k.clone(), v.clone());
            }),
        }
    }
    out
}

/// `a, b, "c, d"`: promptfoo's comma-separated list (quotes keep a comma).
fn split_commas(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// A judge file for `llm-rubric` or `model-graded-closedqa`: the case's rubric (criterion)
/// is its `expected.NAME`.
fn judge_file(base: &str, name: &str, model: &str) -> Value {
    let (description, system, user) = if base == "llm_rubric" {
        (
            "promptfoo's llm-rubric, imported: does the output satisfy the case's rubric?",
            "You grade an output against a rubric. The output passes when what the rubric asks holds for it, and fails otherwise.\nAnswer with one JSON object: {\"verdict\": \"pass\" or \"fail\", \"reason\": \"one short sentence\"}.\n".to_string(),
            format!("Rubric:\n{{{{ expected.{name} }}}}\n\nOutput:\n{{{{ output }}}}\n"),
        )
    } else {
        (
            "promptfoo's model-graded-closedqa, imported: does the answer meet the case's criterion?",
            "You assess a submitted answer to a task against a criterion. It passes when it meets the criterion, and fails when it does not.\nAnswer with one JSON object: {\"verdict\": \"pass\" or \"fail\", \"reason\": \"one short sentence\"}.\n".to_string(),
            format!("Task inputs:\n{{% for key, value in vars|items %}}{{{{ key }}}}: {{{{ value }}}}\n{{% endfor %}}\nSubmission:\n{{{{ output }}}}\n\nCriterion:\n{{{{ expected.{name} }}}}\n"),
        )
    };
    json!({
        "description": description,
        "model": model,
        "verdict": {"kind": "pass_fail"},
        "params": {"temperature": 0, "max_tokens": 200},
        "rubric": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
    })
}

/// A name for a file or a key: lowercase letters, digits, `_` and `-`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(48).collect();
    let out = out.trim_end_matches('-').replace('.', "-");
    if out.is_empty() { "x".into() } else { out }
}

/// `base`, or `base_2`, `base_3`… the first that is not taken.
fn unique(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}_{n}"))
        .find(|k| !taken(k))
        .unwrap_or_default()
}

fn is_var_name(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A JSON value as a YAML node at `at` (for a grader's config given inline).
fn json_node(v: &Value, at: &Loc) -> super::yaml::Node {
    use super::yaml::{Node, Value as Y};
    let value = match v {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or(Y::Float(n.as_f64().unwrap_or(0.0)), Y::Int),
        Value::String(s) => Y::Str(s.clone()),
        Value::Array(items) => Y::Seq(items.iter().map(|i| json_node(i, at)).collect()),
        Value::Object(o) => Y::Map(
            o.iter()
                .map(|(k, i)| (k.clone(), json_node(i, at)))
                .collect(),
        ),
    };
    Node {
        value,
        line: at.line,
        col: at.col,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids() {
        assert_eq!(
            parse_id("openai:gpt-4o-mini", false).unwrap().1,
            "gpt-4o-mini"
        );
        assert_eq!(
            parse_id("openai:chat:m", false).unwrap(),
            ("openai", "m".to_string())
        );
        assert_eq!(
            parse_id("anthropic:messages:claude-3-5-haiku-latest", false).unwrap(),
            ("anthropic", "claude-3-5-haiku-latest".to_string())
        );
        assert!(parse_id("openai:completion:m", false).is_err());
        assert!(parse_id("file://provider.py", false).is_err());
        assert!(parse_id("vertex:gemini-pro", false).is_err());
        assert_eq!(parse_id("openai:embedding:e", true).unwrap().1, "e");
    }

    #[test]
    fn list_variables_expand_into_combinations() {
        let vars = vec![
            ("lang".to_string(), json!(["fr", "de"])),
            ("n".to_string(), json!([1, 2])),
            ("q".to_string(), json!("hi")),
        ];
        let all = expand(&vars);
        assert_eq!(all.len(), 4);
        assert_eq!(all[3]["lang"], json!("de"));
        assert_eq!(all[3]["n"], json!(2));
        assert_eq!(all[3]["q"], json!("hi"));
    }

    #[test]
    fn names_and_lists() {
        assert_eq!(slug("Capital of France?"), "capital-of-france");
        assert_eq!(slug("gpt-4o.mini"), "gpt-4o-mini");
        assert_eq!(split_commas(r#"a, b ,"c, d""#), vec!["a", "b", "c, d"]);
        assert_eq!(unique("x", |k| k == "x" || k == "x_2"), "x_3");
    }
}
