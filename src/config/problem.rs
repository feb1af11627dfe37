//! Every problem the project checks report, as one kind each: its name, the data its message
//! needs, its message and its hint, written once (see `diag::error_kinds!`). The checks in
//! `config` build a kind and place it (`ConfigErrorKind::at`); nothing else words a
//! configuration diagnostic. A dataset's own lines are `golden::DatasetErrorKind`, one layer
//! down.
//!
//! Every kind has a fixture in `tests/it/diagnostics.rs`, which fails when one is missing.
//! This module knows no project types: only names, numbers and texts, and base helpers.

use crate::diag::{did_you_mean, error_kinds, suggestion, suggestion_of};

use super::{GOLDEN_DIR, JUDGES_DIR, PROMPTS_DIR};

/// `a`, `b`, `c`: names in backticks.
fn ticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `path: message`, or the message alone for an entry's own problem.
fn at_path(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

/// The hint for a serde_yaml message: the nearest known name, a missing key to add, the
/// syntax to check.
pub(super) fn hint_for(message: &str) -> Option<String> {
    unknown_name_hint(message).or_else(|| {
        if message.contains("missing field `price`") {
            Some("add `price: {input: …, output: …}` in USD per million tokens; use 0 for a free local model".to_string())
        } else if message.contains("missing field") {
            Some("add the missing key".to_string())
        } else if message.contains("did not find expected") || message.contains("mapping values are not allowed") || message.contains("while scanning") {
            Some("check the indentation, brackets, quotes and `key: value` syntax on this line and the one before".to_string())
        } else {
            None
        }
    })
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant"), the
/// nearest expected name.
fn unknown_name_hint(message: &str) -> Option<String> {
    let start = message
        .find("unknown field `")
        .map(|i| i + 15)
        .or_else(|| message.find("unknown variant `").map(|i| i + 17))?;
    let rest = &message[start..];
    let (unknown, after) = rest.split_once('`')?;
    let expected: Vec<&str> = after.split('`').skip(1).step_by(2).collect();
    if expected.is_empty() {
        return Some("remove this key".to_string());
    }
    Some(match did_you_mean(unknown, expected.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("expected one of {}", ticked(&expected)),
    })
}

/// The hint of a message from serde: its own (after "\nhint: ") or one read from it.
fn serde_hint(message: &str, own_hint: &Option<String>) -> Option<String> {
    own_hint.clone().or_else(|| hint_for(message))
}

const PROJECT_SHAPE_HINT: &str =
    "declare `providers`, `models` and `suites`; `evalgate init` writes an example";

error_kinds! {
    /// A problem in the project files (evalgate.yaml, prompts, judges, review labels).
    pub enum ConfigErrorKind {
        // Reading the files.
        CannotReadProjectFile { error: String, root: String } = "cannot-read-project-file"
            => format!("cannot read the project file: {error}"),
            Some(format!("run `evalgate init` to create a project, or pass `--project DIR` (looked in `{root}`)"));
        EmptyProjectFile = "empty-project-file"
            => "the project file is empty".to_string(),
            Some(PROJECT_SHAPE_HINT.to_string());
        CannotReadFile { what: &'static str, error: String } = "cannot-read-file"
            => format!("cannot read {what}: {error}"),
            None;
        FileTooLarge { bytes: usize, limit: usize } = "file-too-large"
            => format!("the file is {bytes} bytes, over the limit of {limit} for a project file"),
            Some("keep large data in golden JSONL files, which are read line by line".to_string());
        NotUtf8 { byte: u8 } = "not-utf8"
            => format!("the file is not UTF-8: byte 0x{byte:02x} here does not belong to a character"),
            Some("save the file as UTF-8".to_string());
        TooDeep { max: usize } = "too-deep"
            => format!("the file nests mappings and lists more than {max} levels deep"),
            Some("no project file needs this much nesting: look for runaway brackets or indentation".to_string());

        // The YAML and its shape.
        YamlSyntax { message: String, own_hint: Option<String> } = "yaml-syntax"
            => message.clone(),
            serde_hint(message, own_hint);
        ProjectNotAMapping = "project-not-a-mapping"
            => "the project file is not a mapping".to_string(),
            Some(PROJECT_SHAPE_HINT.to_string());
        UnknownField { field: String, expected: &'static [&'static str] } = "unknown-field"
            => format!("unknown field `{field}`, expected one of {}", ticked(expected)),
            did_you_mean(field, expected.iter().copied()).map(|near| format!("did you mean `{near}`?"));
        SectionNotAMapping { section: String } = "section-not-a-mapping"
            => format!("`{section}` is a mapping of names to their settings"),
            Some(format!("write `{section}:` then one `NAME:` per entry, indented"));
        UnknownKey { path: String, message: String, own_hint: Option<String> } = "unknown-key"
            => at_path(path, message),
            serde_hint(message, own_hint);
        MissingKey { path: String, message: String, own_hint: Option<String> } = "missing-key"
            => at_path(path, message),
            serde_hint(message, own_hint);
        InvalidValue { path: String, message: String, own_hint: Option<String> } = "invalid-value"
            => at_path(path, message),
            serde_hint(message, own_hint);

        // Providers.
        KeyNotForProvider { key: &'static str, kind: String } = "key-not-for-provider"
            => format!("`{key}` does not apply to a provider of kind `{kind}`"),
            None;
        UnknownProviderKind { kind: String, known: &'static [&'static str] } = "unknown-provider-kind"
            => format!("unknown provider kind `{kind}`"),
            Some(suggestion(kind, known, "kinds"));
        ProviderNeedsBaseUrl { provider: String } = "provider-needs-base-url"
            => format!("provider `{provider}` needs a `base_url`"),
            Some("for example `base_url: https://api.openai.com/v1`".to_string());
        BadBaseUrl { url: String } = "bad-base-url"
            => format!("`base_url` must start with http:// or https://, got `{url}`"),
            None;
        ApiKeyNotAVariable { value: String } = "api-key-not-a-variable"
            => format!("`api_key_env` must name an environment variable, got `{value}`"),
            Some("write the variable's name (such as `OPENAI_API_KEY`), never the key itself".to_string());
        BadTimeout { value: f64 } = "bad-timeout"
            => format!("`timeout_secs` must be positive, got {value}"),
            None;
        StructuredOutputNotForKind { mode: String, kind: String, modes: &'static [&'static str] } = "structured-output-not-for-kind"
            => format!("structured output mode `{mode}` does not apply to a provider of kind `{kind}`"),
            Some(format!("use one of {}", ticked(modes)));
        UnknownStructuredOutput { mode: String, known: &'static [&'static str] } = "unknown-structured-output"
            => format!("unknown structured output mode `{mode}`"),
            Some(suggestion(mode, known, "modes"));
        ZeroMaxAttempts = "zero-max-attempts"
            => "`max_attempts` counts the first attempt, so it must be at least 1".to_string(),
            None;
        ZeroRateLimit { key: &'static str } = "zero-rate-limit"
            => format!("`{key}` must be at least 1 (leave it out for no limit)"),
            None;
        ZeroMaxConcurrency = "zero-max-concurrency"
            => "`max_concurrency` must be at least 1".to_string(),
            None;

        // Models.
        UnknownProvider { model: String, provider: String, known: Vec<String> } = "unknown-provider"
            => format!("model `{model}` names an unknown provider `{provider}`"),
            Some(suggestion_of(provider, known, "providers"));
        ModelWithoutPrice { model: String } = "model-without-price"
            => format!("model `{model}` has no prices"),
            Some("add `price: {input: …, output: …}` in USD per million tokens (`cached_input` defaults to `input`); use 0 for a free local model".to_string());
        NegativePrice { model: String } = "negative-price"
            => format!("model `{model}` has a negative price"),
            None;

        // Suites.
        UnknownPrompt { suite: String, prompt: String, known: Vec<String> } = "unknown-prompt"
            => format!("suite `{suite}` names an unknown prompt `{prompt}`"),
            Some(format!("{} (prompts are read from `{PROMPTS_DIR}/NAME.yaml`)", suggestion_of(prompt, known, "prompts")));
        MissingDataset { suite: String, dataset: String, known: Vec<String> } = "missing-dataset"
            => format!("suite `{suite}` names a missing dataset `{dataset}`"),
            Some(format!("{} (datasets are read from `{GOLDEN_DIR}/NAME.jsonl`)", suggestion_of(dataset, known, "datasets")));
        SuiteWithoutModels { suite: String } = "suite-without-models"
            => format!("suite `{suite}` lists no models"),
            Some("name at least one model from `models`".to_string());
        UnknownModel { suite: String, model: String, known: Vec<String> } = "unknown-model"
            => format!("suite `{suite}` names an unknown model `{model}`"),
            Some(suggestion_of(model, known, "models"));
        SuiteWithoutScorers { suite: String } = "suite-without-scorers"
            => format!("suite `{suite}` has no scorers"),
            Some("add at least one, for example `scorers: [{kind: contract}]`".to_string());
        DuplicateScorerName { suite: String, scorer: String } = "duplicate-scorer-name"
            => format!("suite `{suite}` has two scorers named `{scorer}`"),
            Some("give one of them a distinct `name`".to_string());
        ZeroConcurrency = "zero-concurrency"
            => "`concurrency` must be at least 1".to_string(),
            None;
        RateOutOfRange { key: &'static str, value: f64 } = "rate-out-of-range"
            => format!("`{key}` is a share between 0 and 1, got {value}"),
            None;
        BadMaxCost { value: f64 } = "bad-max-cost"
            => format!("`max_cost` is a positive amount in USD, got {value}"),
            None;
        LiftGatesWithoutLift { suite: String } = "lift-gates-without-lift"
            => format!("suite `{suite}` has lift gates but no `lift:` section"),
            Some("add `lift: {outcome: KEY}`, KEY being a key of the golden cases' `outcome`".to_string());
        CascadeGatesWithoutCascade { suite: String } = "cascade-gates-without-cascade"
            => format!("suite `{suite}` has cascade gates but no `cascade:` section"),
            Some("add `cascade: {field: FIELD, tiers: [{model: CHEAP, confidence: logprobs}, {model: BIG}]}`".to_string());

        // Scorers.
        UnknownScorerKind { kind: String, known: &'static [&'static str] } = "unknown-scorer-kind"
            => format!("unknown scorer kind `{kind}`"),
            Some(suggestion(kind, known, "scorer kinds"));
        KeyNotForScorer { key: &'static str, kind: String } = "key-not-for-scorer"
            => format!("`{key}` does not apply to a scorer of kind `{kind}`"),
            None;
        FieldNotInContract { field: String, prompt: String, known: Vec<String> } = "field-not-in-contract"
            => format!("field `{field}` is not in the contract of prompt `{prompt}`"),
            Some(suggestion_of(field, known, "fields"));
        ValueAndExpected = "value-and-expected"
            => "give either `value` or `expected`, not both".to_string(),
            None;
        RegexNeedsPattern = "regex-needs-pattern"
            => "a `regex` scorer needs a `pattern`, or the `expected` key holding each case's pattern".to_string(),
            None;
        PatternAndExpected = "pattern-and-expected"
            => "give either `pattern` (one for every case) or `expected` (each case's own), not both".to_string(),
            None;
        EmptyValues = "empty-values"
            => "`values` is empty: a `contains_any` or `contains_all` scorer needs at least one string".to_string(),
            None;
        SimilarNeedsModel = "similar-needs-model"
            => "a `similar` scorer needs a `model` to embed with (a model of evalgate.yaml whose provider serves `/embeddings`)".to_string(),
            None;
        UnknownScorerModel { model: String, known: Vec<String> } = "unknown-scorer-model"
            => format!("the scorer names an unknown model `{model}`"),
            Some(suggestion_of(model, known, "models"));
        SimilarityOutOfRange { value: f64 } = "similarity-out-of-range"
            => format!("`threshold` is a cosine similarity, from -1 to 1, got {value}"),
            None;
        InvalidRegex { error: String } = "invalid-regex"
            => format!("invalid regular expression: {error}"),
            None;
        JudgeAndJudges = "judge-and-judges"
            => "give either `judge` or `judges`, not both".to_string(),
            None;
        JudgeScorerNeedsJudge = "judge-scorer-needs-judge"
            => "a `judge` scorer needs a `judge` (the name of a file in `judges/`) or a list of `judges`".to_string(),
            None;
        PairwiseJudgeAsScorer { judge: String } = "pairwise-judge-as-scorer"
            => format!("judge `{judge}` is pairwise: it compares two runs, not one output"),
            Some(format!("run it with `evalgate pairwise BASE CAND --judge {judge}`"));
        UnknownJudge { judge: String, known: Vec<String> } = "unknown-judge"
            => format!("unknown judge `{judge}`"),
            Some(format!("{} (judges are read from `{JUDGES_DIR}/NAME.yaml`)", suggestion_of(judge, known, "judges")));
        JudgeListedTwice = "judge-listed-twice"
            => "`judges` lists a judge twice; use `repeat` to ask a judge several times".to_string(),
            None;
        ZeroRepeat = "zero-repeat"
            => "`repeat` must be at least 1".to_string(),
            None;
        ContractScorerWithoutContract { prompt: Option<String> } = "contract-scorer-without-contract"
            => format!(
                "a `contract` scorer needs a contract, and prompt{} declares no `output`",
                prompt.as_ref().map_or(String::new(), |p| format!(" `{p}`"))
            ),
            Some("add an `output:` section with `fields` to the prompt".to_string());
        JsonFieldNeedsField = "json-field-needs-field"
            => "a `json_field` scorer needs a `field`".to_string(),
            None;
        NegativeTolerance { value: f64 } = "negative-tolerance"
            => format!("`tolerance` must be zero or positive, got {value}"),
            None;

        // Gates.
        ResamplesOutOfRange { min: usize, max: usize, value: usize } = "resamples-out-of-range"
            => format!("`bootstrap_resamples` is between {min} and {max}, got {value}"),
            None;
        UnknownMetric { metric: String, known: Vec<String> } = "unknown-metric"
            => format!("gate names an unknown metric `{metric}`"),
            Some(suggestion_of(metric, known, "metrics"));
        AlphaOutOfRange { alpha: f64 } = "alpha-out-of-range"
            => format!("`alpha` must be between 0 and 1, got {alpha}"),
            None;
        UnreachableAlpha { alpha: f64, metric: String, resamples: usize, smallest_p: f64, needed: usize } = "unreachable-alpha"
            => format!(
                "`alpha` {alpha} cannot be reached: `{metric}` is tested by a bootstrap of {resamples} resamples, whose smallest p-value is {smallest_p}"
            ),
            Some(format!("set `bootstrap_resamples: {needed}` under the suite's `gates` (or raise `alpha`)"));

        // Lift.
        LiftFeatureFreeText { feature: String, usable: Vec<String> } = "lift-feature-free-text"
            => format!("lift feature `{feature}` is free text, which a logistic regression cannot use"),
            Some(suggestion_of(feature, usable, "usable fields"));
        LiftFeatureNotInContract { feature: String, usable: Vec<String> } = "lift-feature-not-in-contract"
            => format!("lift feature `{feature}` is not a field of the prompt's output contract"),
            Some(suggestion_of(feature, usable, "usable fields"));
        TooFewFolds { folds: usize } = "too-few-folds"
            => format!("`folds` must be at least 2, got {folds}"),
            None;
        BadRegularization { value: f64 } = "bad-regularization"
            => format!("`regularization` must be a positive number, got {value}"),
            None;

        // Cascades.
        CascadeFieldNotInContract { field: String, known: Vec<String> } = "cascade-field-not-in-contract"
            => format!("cascade field `{field}` is not a field of the prompt's output contract"),
            Some(suggestion_of(field, known, "fields"));
        BadCascadeTarget { target: f64 } = "bad-cascade-target"
            => format!("`target` is a share in (0, 1], got {target}"),
            None;
        TooFewTiers { tiers: usize } = "too-few-tiers"
            => format!("a cascade needs at least two tiers, got {tiers}"),
            Some("list the tiers cheapest first; the last one always answers".to_string());
        TooManyTiers { max: usize, tiers: usize } = "too-many-tiers"
            => format!("a cascade has at most {max} tiers, got {tiers}"),
            Some("every combination of thresholds is replayed: compare fewer tiers at a time".to_string());
        TierNeedsModelOrProxy { tier: usize } = "tier-needs-model-or-proxy"
            => format!("cascade tier {tier} needs either `model` or `proxy`"),
            Some("`model: NAME` for a model, `proxy: {embeddings: MODEL, pool: DATASET, labeller: MODEL}` for a classifier over embeddings".to_string());
        UnknownTierModel { tier: usize, model: String, known: Vec<String> } = "unknown-tier-model"
            => format!("cascade tier {tier} names an unknown model `{model}`"),
            Some(suggestion_of(model, known, "models"));
        ProxyPoolNotADataset { pool: String } = "proxy-pool-not-a-dataset"
            => format!("the proxy's pool `{pool}` is not a dataset (`{GOLDEN_DIR}/{pool}.jsonl`)"),
            None;
        ProxyLastTier = "proxy-last-tier"
            => "a proxy cannot be the last tier: the last tier always answers, and a proxy is the cheap first guess".to_string(),
            None;
        ProxyConfidence = "proxy-confidence"
            => "a proxy's confidence is its predicted probability (`confidence: probability`, the default)".to_string(),
            None;
        LastTierConfidence = "last-tier-confidence"
            => "the last tier always answers: it takes no `confidence`".to_string(),
            None;
        LogprobsNeedsEnum { field: String } = "logprobs-needs-enum"
            => format!("`confidence: logprobs` needs the cascade field `{field}` to be an enum in the contract (its labels renormalise the probabilities)"),
            Some("use `confidence: self_consistency` for a field without a closed set of labels".to_string());
        ConfidenceFieldNotInContract { field: String } = "confidence-field-not-in-contract"
            => format!("confidence field `{field}` is not a field of the prompt's output contract"),
            None;
        UnknownConfidence { confidence: String } = "unknown-confidence"
            => format!("unknown confidence `{confidence}`"),
            Some("one of `logprobs`, `self_consistency`, `field`".to_string());
        TierNeedsConfidence { tier: usize } = "tier-needs-confidence"
            => format!("cascade tier {tier} needs a `confidence` (only the last tier always answers)"),
            Some("one of `logprobs`, `self_consistency`, `field`".to_string());
        TooFewSamples { samples: u32 } = "too-few-samples"
            => format!("self-consistency needs at least 2 `samples`, got {samples}"),
            None;
        BadSampleTemperature { temperature: f64 } = "bad-sample-temperature"
            => format!("samples need a `temperature` in (0, 2], got {temperature}"),
            None;
        PartlyPinned { pinned: usize, before_last: usize } = "partly-pinned"
            => format!("{pinned} of the {before_last} tiers before the last pin a `threshold`: pin all of them or none"),
            Some("the gates hold the cascade to its pinned point, which needs every threshold; without any, to the recommended point".to_string());

        // Prompts and judges.
        PromptWithoutMessages { prompt: String } = "prompt-without-messages"
            => format!("prompt `{prompt}` has no messages"),
            None;
        TemplateSyntax { list: &'static str, index: usize, error: String, detail: Option<String> } = "template-syntax"
            => match detail {
                Some(detail) => format!("template syntax error in `{list}[{index}]`: {error}: {detail}"),
                None => format!("template syntax error in `{list}[{index}]`: {error}"),
            },
            Some("see the minijinja syntax: `{{ variable }}`, `{% if … %}…{% endif %}`".to_string());
        VariablesBeforeStatic { prompt: String, before: usize, after: usize } = "variables-before-static"
            => format!("prompt `{prompt}` puts case variables before {after} characters of static instructions ({before} come first)"),
            Some("providers cache the longest common prefix of requests: put static instructions first and case variables last".to_string());
        UnknownJudgeModel { judge: String, model: String, known: Vec<String> } = "unknown-judge-model"
            => format!("judge `{judge}` names an unknown model `{model}`"),
            Some(suggestion_of(model, known, "models"));
        BadScoreScale { min: f64, max: f64 } = "bad-score-scale"
            => format!("a score scale needs finite numbers with `min` below `max`, got {min}..={max}"),
            None;
        PassAtOutsideScale { pass_at: f64, min: f64, max: f64 } = "pass-at-outside-scale"
            => format!("`pass_at` ({pass_at}) must lie within `min`..=`max` ({min}..={max})"),
            None;
        JudgeWithoutRubric { judge: String } = "judge-without-rubric"
            => format!("judge `{judge}` has no rubric messages"),
            None;
        RubricUndefinedVariable { judge: String, var: String } = "rubric-undefined-variable"
            => format!("the rubric of judge `{judge}` uses `{var}`, which is not defined"),
            Some("a rubric sees `vars` (the case's inputs, as `vars.NAME`), `expected` and `output`".to_string());
        RubricWithoutOutput { judge: String, var: &'static str } = "rubric-without-output"
            => format!("the rubric of judge `{judge}` never shows `{var}`"),
            Some(format!("put `{{{{ {var} }}}}` where the judged output belongs: it is inserted fenced, as data"));

        // Datasets and labels, against the project.
        MissingVariable { case: Box<str>, var: Box<str>, prompt: Box<str>, suite: Box<str>, known: Vec<String> } = "missing-variable"
            => format!("case `{case}` lacks variable `{var}` used by prompt `{prompt}`"),
            // Its texts are boxed to keep every kind small (clippy's `result_large_err`).
            Some(match did_you_mean(var, known.iter().map(String::as_str)) {
                Some(near) => format!("the case has `{near}`; did you mean `{var}`?"),
                None => format!("add `\"{var}\"` to the case's `vars` (used by suite `{suite}`)"),
            });
        BadReviewLabel { message: String } = "bad-review-label"
            => format!("not a review label: {message}"),
            None;
        CannotReadLabels { error: String } = "cannot-read-labels"
            => format!("cannot read or write the labels file: {error}"),
            None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_hint_suggests_the_nearest_key() {
        let h = unknown_name_hint(
            "suites.a: unknown field `scorer`, expected one of `prompt`, `scorers`, `gates`",
        );
        assert_eq!(h.as_deref(), Some("did you mean `scorers`?"));
        let h = unknown_name_hint(
            "unknown variant `sytem`, expected one of `system`, `user`, `assistant`",
        );
        assert_eq!(h.as_deref(), Some("did you mean `system`?"));
    }

    #[test]
    fn names_are_kebab_case_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for name in ConfigErrorKind::ALL_NAMES {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(seen.insert(name), "{name} twice");
        }
    }

    #[test]
    fn a_kind_renders_where_it_is() {
        let d = ConfigErrorKind::UnknownField {
            field: "suits".into(),
            expected: &["providers", "models", "suites"],
        }
        .at("evalgate.yaml", (3, 1));
        assert_eq!(d.kind, Some("unknown-field"));
        assert_eq!(
            d.to_string(),
            "evalgate.yaml:3:1: unknown field `suits`, expected one of `providers`, `models`, `suites`\n  hint: did you mean `suites`?"
        );
    }
}
