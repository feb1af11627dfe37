//! `load`: the project file read once, then a checker per section (providers, models,
//! prompts, judges, suites, datasets), each adding what it finds to one list of diagnostics
//! instead of stopping at the first, so that one `validate` shows every problem.

use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::problem::ConfigErrorKind as K;
use super::*;

/// Loads and validates the project at `root`.
pub fn load(root: &Path) -> Result<Project, Vec<Diagnostic>> {
    let display = PathBuf::from(CONFIG_FILE);
    let text = read_project_file(root, &display)?;
    // The text as a plain value (a syntax error stops here: nothing after it can be read),
    // then each entry on its own, so that one pass finds every problem (see `tolerant`).
    let plain: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Err(vec![yaml_error(&display, &text, &e)]),
    };
    let mut c = Checker {
        root,
        loc: Locator::new(&text),
        plain: &plain,
        display,
        diags: Vec::new(),
    };
    let raw = read_sections(&plain, &c.loc, &c.display, &mut c.diags);
    let providers = c.providers(raw.providers);
    let models = c.models(raw.models, &providers);
    let prompts = c.prompts();
    let judges = c.judges(&models);
    let mut suites = IndexMap::new();
    let mut dataset_users = DatasetUsers::new();
    let model_names: Vec<String> = models.names().cloned().collect();
    for (name, s) in raw.suites {
        let Some(s) = s else { continue };
        let read_cleanly = !raw.unclean_suites.contains(&name);
        let known = SuiteContext {
            prompts: &prompts,
            judges: &judges,
            models: &models,
            model_names: &model_names,
            read_cleanly,
        };
        let suite = c.suite(name.clone(), s, &known, &mut dataset_users);
        suites.insert(name, suite);
    }
    let datasets = c.datasets(dataset_users);

    if !c.diags.is_empty() {
        // In the order of the files and their lines, as a reader goes through them.
        let mut diags = c.diags;
        // A dataset's "stopped after N problems" comes last in its file, after the line it
        // stopped at.
        let key = |d: &Diagnostic| {
            let last = d.kind == Some("too-many-problems");
            (d.file.clone(), last, d.line, d.col)
        };
        diags.sort_by_key(key);
        return Err(diags);
    }
    Ok(Project {
        warnings: prompt_warnings(root, &prompts),
        judges: judges.ok,
        root: root.to_path_buf(),
        providers: providers.ok,
        models: models.ok,
        prompts,
        datasets,
        suites,
    })
}

/// The project file's text: readable, not too big or deep (`guard`), and not empty.
fn read_project_file(root: &Path, display: &Path) -> Result<String, Vec<Diagnostic>> {
    let text = match std::fs::read(root.join(CONFIG_FILE)) {
        Ok(bytes) => guard::text(display, bytes).map_err(|d| vec![d])?,
        Err(e) => {
            let kind = K::CannotReadProjectFile {
                error: e.to_string(),
                root: root.display().to_string(),
            };
            return Err(vec![kind.at(display, (0, 0))]);
        }
    };
    if text.trim().is_empty() {
        return Err(vec![K::EmptyProjectFile.at(display, (0, 0))]);
    }
    Ok(text)
}

/// What a section yielded: the entries that check out, and the names of those that do not.
/// A broken entry has been reported once; what names it is not reported again.
struct Checked<T> {
    ok: IndexMap<String, T>,
    broken: Vec<String>,
}

impl<T> Checked<T> {
    fn new() -> Self {
        Checked {
            ok: IndexMap::new(),
            broken: Vec::new(),
        }
    }

    /// Every name the section declares, checked or broken.
    fn names(&self) -> impl Iterator<Item = &String> {
        self.ok.keys().chain(self.broken.iter())
    }

    fn knows(&self, name: &str) -> bool {
        self.ok.contains_key(name) || self.broken.iter().any(|b| b == name)
    }
}

/// The suites (with their prompts) that read each dataset, for the datasets' one pass.
type DatasetUsers = BTreeMap<String, Vec<(String, Arc<Prompt>)>>;

/// What a suite's checks look names up in.
struct SuiteContext<'a> {
    prompts: &'a IndexMap<String, Arc<Prompt>>,
    judges: &'a Checked<Arc<Judge>>,
    models: &'a Checked<Model>,
    model_names: &'a [String],
    /// The suite's entry was read without a problem (no unknown key taken out).
    read_cleanly: bool,
}

struct Checker<'a> {
    root: &'a Path,
    /// Where each key and value of the project file is.
    loc: Locator<'a>,
    /// The project file as a plain YAML value, for fingerprints.
    plain: &'a serde_yaml::Value,
    /// The project file's name as shown.
    display: PathBuf,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&self, pos: Option<(usize, usize)>, kind: K) -> Diagnostic {
        kind.at(&self.display, pos.unwrap_or((0, 0)))
    }

    /// An entry of the project file as written (fingerprints hash entries as written).
    fn section(&self, kind: &str, name: &str) -> serde_yaml::Value {
        self.plain
            .get(kind)
            .and_then(|s| s.get(name))
            .cloned()
            .unwrap_or_default()
    }

    fn providers(&mut self, raw: IndexMap<String, Option<RawProvider>>) -> Checked<Provider> {
        let mut out = Checked::new();
        for (name, p) in raw {
            let Some(p) = p else {
                out.broken.push(name);
                continue;
            };
            match check_provider(self.root, &name, p) {
                Ok(provider) => {
                    out.ok.insert(name, provider);
                }
                Err((key, kind)) => {
                    let d = self.at(self.loc.key(&["providers", &name, key]), kind);
                    self.diags.push(d);
                    out.broken.push(name);
                }
            }
        }
        out
    }

    fn models(
        &mut self,
        raw: IndexMap<String, Option<RawModel>>,
        providers: &Checked<Provider>,
    ) -> Checked<Model> {
        let mut out = Checked::new();
        for (name, m) in raw {
            // A model that could not be read, or whose provider could not be, is known but
            // broken: what names it is not reported again.
            match m.and_then(|m| self.model(&name, m, providers)) {
                Some(model) => {
                    out.ok.insert(name, model);
                }
                None => out.broken.push(name),
            }
        }
        out
    }

    /// One model, or `None` when it is broken (reported here unless its provider is).
    fn model(&mut self, name: &str, m: RawModel, providers: &Checked<Provider>) -> Option<Model> {
        if providers.broken.contains(&m.provider) {
            return None;
        }
        if !providers.ok.contains_key(&m.provider) {
            let d = self.at(
                self.loc.value(&["models", name, "provider"], &m.provider),
                K::UnknownProvider {
                    model: name.to_string(),
                    provider: m.provider.clone(),
                    known: providers.ok.keys().cloned().collect(),
                },
            );
            self.diags.push(d);
            return None;
        }
        let Some(price) = m.price else {
            let d = self.at(
                self.loc.key(&["models", name]),
                K::ModelWithoutPrice {
                    model: name.to_string(),
                },
            );
            self.diags.push(d);
            return None;
        };
        let price = Price {
            input: price.input,
            output: price.output,
            cached_input: price.cached_input.unwrap_or(price.input),
            batch_input: price.batch_input.unwrap_or(price.input / 2.0),
            batch_output: price.batch_output.unwrap_or(price.output / 2.0),
        };
        let all = [
            price.input,
            price.output,
            price.cached_input,
            price.batch_input,
            price.batch_output,
        ];
        if all.iter().any(|p| !p.is_finite() || *p < 0.0) {
            let d = self.at(
                self.loc.key(&["models", name, "price"]),
                K::NegativePrice {
                    model: name.to_string(),
                },
            );
            self.diags.push(d);
            return None;
        }
        let fingerprint = fingerprint::model(
            &self.section("models", name),
            &self.section("providers", &m.provider),
        );
        Some(Model {
            name: name.to_string(),
            api_name: m.name.unwrap_or_else(|| name.to_string()),
            provider: m.provider,
            price,
            fingerprint,
        })
    }

    /// Every file in prompts/, so that a broken prompt is found before a suite uses it.
    fn prompts(&mut self) -> IndexMap<String, Arc<Prompt>> {
        let mut prompts = IndexMap::new();
        for path in list_files(&self.root.join(PROMPTS_DIR), &["yaml", "yml"]) {
            let Some(name) = file_stem(&path) else {
                continue;
            };
            match load_prompt(self.root, &name, &path) {
                Ok(p) => {
                    prompts.insert(name, Arc::new(p));
                }
                Err(d) => self.diags.extend(d),
            }
        }
        prompts
    }

    /// Every file in judges/, checked like prompts, each naming a known model.
    fn judges(&mut self, models: &Checked<Model>) -> Checked<Arc<Judge>> {
        let mut out = Checked::new();
        for path in list_files(&self.root.join(JUDGES_DIR), &["yaml", "yml"]) {
            let Some(name) = file_stem(&path) else {
                continue;
            };
            match load_judge(self.root, &name, &path, &models.ok, &models.broken) {
                Ok(Some(j)) => {
                    out.ok.insert(name, Arc::new(j));
                }
                // It names a broken model: known, but broken.
                Ok(None) => out.broken.push(name),
                Err(d) => {
                    self.diags.extend(d);
                    out.broken.push(name);
                }
            }
        }
        out
    }

    fn suite(
        &mut self,
        name: String,
        s: RawSuite,
        known: &SuiteContext<'_>,
        dataset_users: &mut DatasetUsers,
    ) -> Suite {
        let before = self.diags.len();
        let prompt = known.prompts.get(&s.prompt).cloned();
        self.suite_references(&name, &s, known);
        let (scorers, broken_scorers) =
            self.suite_scorers(&name, s.scorers, prompt.as_deref(), known);
        if scorers.is_empty()
            && self.diags.len() == before
            && broken_scorers == 0
            && known.read_cleanly
        {
            let d = self.at(
                self.loc.key(&["suites", &name]),
                K::SuiteWithoutScorers {
                    suite: name.clone(),
                },
            );
            self.diags.push(d);
        }
        let gates = match s.gates {
            Some(g) => check_gates(
                &name,
                g,
                Known {
                    prompt: prompt.as_deref(),
                    scorers: &scorers,
                    // A misspelled `scorers` key leaves the suite without its scorers too.
                    every_scorer: broken_scorers == 0 && known.read_cleanly,
                },
                &self.loc,
                &self.display,
                &mut self.diags,
            ),
            None => Gates::default(),
        };
        self.suite_limits(&name, s.max_error_rate, s.max_judge_error_rate, s.max_cost);
        let lift = s.lift.map(|l| {
            check_lift(
                &name,
                l,
                prompt.as_deref(),
                &self.loc,
                &self.display,
                &mut self.diags,
            )
        });
        let cascade = s.cascade.map(|c| {
            check_cascade(
                &name,
                c,
                prompt.as_deref(),
                known.model_names,
                self.root,
                &self.loc,
                &self.display,
                &mut self.diags,
            )
        });
        self.sections_for_gates(&name, &gates, lift.is_some(), cascade.is_some());
        let concurrency = s.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            let d = self.at(
                self.loc.key(&["suites", &name, "concurrency"]),
                K::ZeroConcurrency,
            );
            self.diags.push(d);
        }
        if let Some(p) = &prompt {
            self.use_datasets(&name, &s.dataset, p, cascade.as_ref(), dataset_users);
        }
        let fingerprint = self.suite_fingerprint(&name, &gates, &scorers);
        Suite {
            fingerprint,
            name,
            description: s.description,
            prompt: s.prompt,
            dataset: s.dataset,
            models: s.models,
            scorers,
            gates,
            concurrency,
            max_cost: s.max_cost,
            max_error_rate: s.max_error_rate,
            max_judge_error_rate: s
                .max_judge_error_rate
                .unwrap_or(DEFAULT_MAX_JUDGE_ERROR_RATE),
            lift,
            cascade,
        }
    }

    /// The prompt, dataset and models a suite names exist.
    fn suite_references(&mut self, name: &str, s: &RawSuite, known: &SuiteContext<'_>) {
        let prompts_dir = self.root.join(PROMPTS_DIR);
        if !known.prompts.contains_key(&s.prompt)
            // A prompt file that exists but is broken has been reported as such.
            && !prompts_dir.join(format!("{}.yaml", s.prompt)).exists()
        {
            let d = self.at(
                self.loc.value(&["suites", name, "prompt"], &s.prompt),
                K::UnknownPrompt {
                    suite: name.to_string(),
                    prompt: s.prompt.clone(),
                    known: known.prompts.keys().cloned().collect(),
                },
            );
            self.diags.push(d);
        }
        let golden = self.root.join(GOLDEN_DIR);
        if !golden.join(format!("{}.jsonl", s.dataset)).exists() {
            let names: Vec<String> = list_files(&golden, &["jsonl"])
                .iter()
                .filter_map(|p| file_stem(p))
                .collect();
            let d = self.at(
                self.loc.value(&["suites", name, "dataset"], &s.dataset),
                K::MissingDataset {
                    suite: name.to_string(),
                    dataset: s.dataset.clone(),
                    known: names,
                },
            );
            self.diags.push(d);
        }
        if s.models.is_empty() {
            let d = self.at(
                self.loc.key(&["suites", name, "models"]),
                K::SuiteWithoutModels {
                    suite: name.to_string(),
                },
            );
            self.diags.push(d);
        }
        for m in &s.models {
            if !known.models.knows(m) {
                let d = self.at(
                    self.loc.value(&["suites", name, "models"], m),
                    K::UnknownModel {
                        suite: name.to_string(),
                        model: m.clone(),
                        known: known.models.ok.keys().cloned().collect(),
                    },
                );
                self.diags.push(d);
            }
        }
    }

    /// The suite's scorers that check out, and how many did not.
    fn suite_scorers(
        &mut self,
        name: &str,
        raw: Vec<RawScorer>,
        prompt: Option<&Prompt>,
        known: &SuiteContext<'_>,
    ) -> (Vec<Scorer>, usize) {
        let path = ["suites", name, "scorers"];
        let refs = super::ScorerRefs {
            judges: &known.judges.ok,
            broken_judges: &known.judges.broken,
            models: &known.models.ok,
            broken_models: &known.models.broken,
        };
        let mut scorers: Vec<Scorer> = Vec::new();
        let mut broken = 0;
        for (i, rs) in raw.into_iter().enumerate() {
            match check_scorer(rs, prompt, &refs) {
                Ok(scorer) => {
                    if scorers.iter().any(|x| x.name == scorer.name) {
                        let d = self.at(
                            self.loc.item(&path, i),
                            K::DuplicateScorerName {
                                suite: name.to_string(),
                                scorer: scorer.name.clone(),
                            },
                        );
                        self.diags.push(d);
                    }
                    scorers.push(scorer);
                }
                Err((key, kind)) => {
                    broken += 1;
                    // No kind: the scorer names a judge whose own file has the problem.
                    let Some(kind) = kind else {
                        continue;
                    };
                    let pos = match key {
                        Some(k) => self.loc.item_key(&path, i, k),
                        None => self.loc.item(&path, i),
                    };
                    self.diags.push(self.at(pos, kind));
                }
            }
        }
        (scorers, broken)
    }

    /// The run limits are shares between 0 and 1, and a positive amount.
    fn suite_limits(
        &mut self,
        name: &str,
        max_error_rate: Option<f64>,
        max_judge_error_rate: Option<f64>,
        max_cost: Option<f64>,
    ) {
        for (key, rate) in [
            ("max_error_rate", max_error_rate),
            ("max_judge_error_rate", max_judge_error_rate),
        ] {
            if let Some(r) = rate
                && !(0.0..=1.0).contains(&r)
            {
                let d = self.at(
                    self.loc.key(&["suites", name, key]),
                    K::RateOutOfRange { key, value: r },
                );
                self.diags.push(d);
            }
        }
        if let Some(c) = max_cost
            && !(c > 0.0 && c.is_finite())
        {
            let d = self.at(
                self.loc.key(&["suites", name, "max_cost"]),
                K::BadMaxCost { value: c },
            );
            self.diags.push(d);
        }
    }

    /// Lift and cascade gates need the section they read.
    fn sections_for_gates(&mut self, name: &str, gates: &Gates, lift: bool, cascade: bool) {
        let pos = self.loc.key(&["suites", name, "gates"]);
        if !lift && (gates.min_lift.is_some() || gates.max_lift_drop.is_some()) {
            let d = self.at(
                pos,
                K::LiftGatesWithoutLift {
                    suite: name.to_string(),
                },
            );
            self.diags.push(d);
        }
        if !cascade
            && (gates.cascade_min_quality_retained.is_some()
                || gates.cascade_max_cost_per_1k.is_some())
        {
            let d = self.at(
                pos,
                K::CascadeGatesWithoutCascade {
                    suite: name.to_string(),
                },
            );
            self.diags.push(d);
        }
    }

    /// Records that the suite reads `dataset` with `prompt`, and so does each proxy pool of
    /// its cascade (a pool is run with the suite's prompt too).
    fn use_datasets(
        &self,
        name: &str,
        dataset: &str,
        prompt: &Arc<Prompt>,
        cascade: Option<&spec::CascadeSpec>,
        users: &mut DatasetUsers,
    ) {
        users
            .entry(dataset.to_string())
            .or_default()
            .push((name.to_string(), prompt.clone()));
        let golden = self.root.join(GOLDEN_DIR);
        let pools = cascade
            .iter()
            .flat_map(|c| &c.tiers)
            .filter_map(|t| t.proxy.as_ref())
            .map(|x| x.pool.clone())
            .filter(|pool| golden.join(format!("{pool}.jsonl")).is_file());
        for pool in pools {
            let users = users.entry(pool).or_default();
            if !users.iter().any(|(n, _)| n == name) {
                users.push((name.to_string(), prompt.clone()));
            }
        }
    }

    /// What decides the suite's verdict, part by part.
    fn suite_fingerprint(
        &self,
        name: &str,
        gates: &Gates,
        scorers: &[Scorer],
    ) -> BTreeMap<String, String> {
        let mut fingerprint = fingerprint::suite_parts(&self.section("suites", name));
        // The human labels the `min_judge_kappa` gate reads decide its verdict too.
        if gates.min_judge_kappa.is_some() {
            for scorer in scorers {
                if let spec::ScorerKind::Judge { judges, .. } = &scorer.kind {
                    for j in judges {
                        let labels = self.root.join(REVIEWS_DIR).join(format!("{j}.jsonl"));
                        fingerprint.insert(format!("reviews {j}"), fingerprint::file(&labels));
                    }
                }
            }
        }
        fingerprint
    }

    /// One streaming pass over each dataset, checking the variables of every prompt that
    /// uses it.
    fn datasets(&mut self, users: DatasetUsers) -> IndexMap<String, golden::Dataset> {
        let mut datasets = IndexMap::new();
        for (name, users) in users {
            let path = self.root.join(GOLDEN_DIR).join(format!("{name}.jsonl"));
            if !path.exists() {
                continue;
            }
            let shown = display_path(self.root, &path);
            let (dataset, problems) = golden::validate(&name, &path, &shown, |case, line| {
                users
                    .iter()
                    .find_map(|(suite, prompt)| missing_variable(&shown, line, case, suite, prompt))
            });
            self.diags.extend(problems);
            if let Some(d) = dataset {
                datasets.insert(name, d);
            }
        }
        datasets
    }
}

/// The first variable of `prompt` that `case` lacks, as a diagnostic at its line.
fn missing_variable(
    shown: &Path,
    line: usize,
    case: &golden::Case,
    suite: &str,
    prompt: &Prompt,
) -> Option<Diagnostic> {
    let var = prompt
        .variables
        .iter()
        .find(|v| !case.vars.contains_key(*v))?;
    let kind = K::MissingVariable {
        case: case.id.as_str().into(),
        var: var.as_str().into(),
        prompt: prompt.name.as_str().into(),
        suite: suite.into(),
        known: case.vars.keys().cloned().collect(),
    };
    Some(kind.at(shown, (line, 1)))
}

/// Prompts that put case variables before static instructions defeat providers' prefix
/// caches: a warning, not an error.
fn prompt_warnings(root: &Path, prompts: &IndexMap<String, Arc<Prompt>>) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    for prompt in prompts.values() {
        if let Some((index, before, after)) = prompt.variables_before_static() {
            let text = std::fs::read_to_string(root.join(&prompt.path)).unwrap_or_default();
            let loc = Locator::new(&text);
            let (line, col) = loc
                .item_key(&["messages"], index, "content")
                .unwrap_or((1, 1));
            let kind = K::VariablesBeforeStatic {
                prompt: prompt.name.clone(),
                before,
                after,
            };
            warnings.push(kind.at(&prompt.path, (line, col)));
        }
    }
    warnings
}

fn file_stem(path: &Path) -> Option<String> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
}
