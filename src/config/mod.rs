//! Reads the project files once, validates everything up front and cross-checks names.
//!
//! `load` returns a checked `Project` or every problem found, each as a `Diagnostic` with
//! `file:line:col` and a hint. Nothing after `load` re-parses a project file (datasets are
//! streamed again by the runner, but were fully checked here).

pub mod fingerprint;
pub mod guard;
mod load;
mod locate;
pub mod problem;
pub mod project;
pub mod raw;
pub mod spec;
mod tolerant;

pub use load::load;
pub use project::*;

use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::diag::{Diagnostic, display_path};
use crate::golden;
use crate::judge::{Judge, VerdictKind};
use crate::prompt::Prompt;
use locate::Locator;
use problem::ConfigErrorKind as K;
use raw::*;
use spec::{Expectation, SCORER_KINDS, Scorer, ScorerKind};

pub const CONFIG_FILE: &str = "evalgate.yaml";
pub const PROMPTS_DIR: &str = "prompts";
pub const GOLDEN_DIR: &str = "golden";
pub const JUDGES_DIR: &str = "judges";
/// Where the human labels of judge verdicts live (see `review::file`).
pub const REVIEWS_DIR: &str = "golden/reviews";

/// A provider's problem and the key it is at.
type KeyError = (&'static str, K);

fn check_provider(root: &Path, name: &str, p: RawProvider) -> Result<Provider, KeyError> {
    Ok(Provider {
        name: name.to_string(),
        kind: provider_kind(root, name, &p)?,
        settings: provider_settings(&p)?,
    })
}

/// A key set on a provider whose kind has no use for it.
fn not_for(p: &RawProvider, key: &'static str, present: bool) -> Result<(), KeyError> {
    if present {
        Err((
            key,
            K::KeyNotForProvider {
                key,
                kind: p.kind.clone(),
            },
        ))
    } else {
        Ok(())
    }
}

/// What the provider's `kind` makes of it, with the settings that kind reads.
fn provider_kind(root: &Path, name: &str, p: &RawProvider) -> Result<ProviderKind, KeyError> {
    Ok(match p.kind.as_str() {
        "openai" => {
            if p.base_url.is_none() {
                return Err(needs_base_url(name));
            }
            let h = check_http(
                p,
                name,
                "",
                StructuredOutput::JsonSchema,
                &["json_schema", "json_object_schema", "json_object", "none"],
            )?;
            ProviderKind::OpenAi {
                base_url: h.base_url,
                api_key_env: h.api_key_env,
                structured_output: h.structured_output,
                timeout: h.timeout,
            }
        }
        "anthropic" => {
            not_for(p, "stream", p.stream.is_some())?;
            let h = check_http(
                p,
                name,
                "https://api.anthropic.com/v1",
                StructuredOutput::Tool,
                &["tool", "none"],
            )?;
            ProviderKind::Anthropic {
                base_url: h.base_url,
                api_key_env: h.api_key_env,
                structured_output: h.structured_output,
                timeout: h.timeout,
            }
        }
        "replay" => {
            for (key, present) in [
                ("base_url", p.base_url.is_some()),
                ("api_key_env", p.api_key_env.is_some()),
                ("structured_output", p.structured_output.is_some()),
                ("timeout_secs", p.timeout_secs.is_some()),
                ("max_attempts", p.max_attempts.is_some()),
                ("retry_base_ms", p.retry_base_ms.is_some()),
                ("requests_per_minute", p.requests_per_minute.is_some()),
                ("tokens_per_minute", p.tokens_per_minute.is_some()),
                ("stream", p.stream.is_some()),
            ] {
                not_for(p, key, present)?;
            }
            let dir = p.cassettes.as_deref().unwrap_or("cassettes");
            ProviderKind::Replay {
                dir: if root == Path::new(".") {
                    PathBuf::from(dir)
                } else {
                    root.join(dir)
                },
            }
        }
        other => {
            return Err((
                "kind",
                K::UnknownProviderKind {
                    kind: other.to_string(),
                    known: PROVIDER_KINDS,
                },
            ));
        }
    })
}

fn needs_base_url(name: &str) -> KeyError {
    (
        "kind",
        K::ProviderNeedsBaseUrl {
            provider: name.to_string(),
        },
    )
}

/// The settings of an HTTP provider, checked the same way for each kind.
struct Http {
    base_url: String,
    api_key_env: Option<String>,
    structured_output: StructuredOutput,
    timeout: Duration,
}

fn check_http(
    p: &RawProvider,
    name: &str,
    default_url: &str,
    default_mode: StructuredOutput,
    modes: &'static [&'static str],
) -> Result<Http, KeyError> {
    not_for(p, "cassettes", p.cassettes.is_some())?;
    let base_url = p
        .base_url
        .clone()
        .unwrap_or_else(|| default_url.to_string());
    if base_url.is_empty() {
        return Err(needs_base_url(name));
    }
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(("base_url", K::BadBaseUrl { url: base_url }));
    }
    if let Some(var) = &p.api_key_env
        && (var.is_empty() || var.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
    {
        return Err(("api_key_env", K::ApiKeyNotAVariable { value: var.clone() }));
    }
    let structured_output = structured_output(p, default_mode, modes)?;
    let timeout = match p.timeout_secs {
        None => DEFAULT_TIMEOUT,
        Some(t) if t > 0.0 && t.is_finite() => Duration::from_secs_f64(t),
        Some(t) => {
            return Err(("timeout_secs", K::BadTimeout { value: t }));
        }
    };
    Ok(Http {
        base_url: base_url.trim_end_matches('/').to_string(),
        api_key_env: p.api_key_env.clone(),
        structured_output,
        timeout,
    })
}

/// The provider's `structured_output`: one of the modes its kind supports.
fn structured_output(
    p: &RawProvider,
    default_mode: StructuredOutput,
    modes: &'static [&'static str],
) -> Result<StructuredOutput, KeyError> {
    let Some(s) = p.structured_output.as_deref() else {
        return Ok(default_mode);
    };
    match StructuredOutput::parse(s) {
        Some(m) if modes.contains(&s) => Ok(m),
        Some(_) => Err((
            "structured_output",
            K::StructuredOutputNotForKind {
                mode: s.to_string(),
                kind: p.kind.clone(),
                modes,
            },
        )),
        None => Err((
            "structured_output",
            K::UnknownStructuredOutput {
                mode: s.to_string(),
                known: STRUCTURED_OUTPUT_MODES,
            },
        )),
    }
}

/// Retries, rate limits, concurrency and streaming of a provider.
fn provider_settings(p: &RawProvider) -> Result<ProviderSettings, KeyError> {
    let mut retry = spec::RetryPolicy::default();
    if let Some(n) = p.max_attempts {
        if n == 0 {
            return Err(("max_attempts", K::ZeroMaxAttempts));
        }
        retry.max_attempts = n;
    }
    if let Some(ms) = p.retry_base_ms {
        retry.base_delay = Duration::from_millis(ms);
    }
    for (key, value) in [
        ("requests_per_minute", p.requests_per_minute),
        ("tokens_per_minute", p.tokens_per_minute),
    ] {
        if value == Some(0) {
            return Err((key, K::ZeroRateLimit { key }));
        }
    }
    if p.max_concurrency == Some(0) {
        return Err(("max_concurrency", K::ZeroMaxConcurrency));
    }
    Ok(ProviderSettings {
        retry,
        requests_per_minute: p.requests_per_minute,
        tokens_per_minute: p.tokens_per_minute,
        max_concurrency: p.max_concurrency,
        stream: p.stream.unwrap_or(false),
    })
}

/// A scorer's problem and the key it is at (no kind: the scorer names a judge whose own
/// file has the problem, reported there).
type ScorerError = (Option<&'static str>, Option<K>);

/// What a scorer may name: the project's judges and models, checked or known but broken
/// (whose own problems are reported where they are).
pub(crate) struct ScorerRefs<'a> {
    pub judges: &'a IndexMap<String, Arc<Judge>>,
    pub broken_judges: &'a [String],
    pub models: &'a IndexMap<String, Model>,
    pub broken_models: &'a [String],
}

fn check_scorer(
    rs: RawScorer,
    prompt: Option<&Prompt>,
    refs: &ScorerRefs<'_>,
) -> Result<Scorer, ScorerError> {
    check_scorer_keys(&rs)?;
    let ignore_case = rs.ignore_case.unwrap_or(false);
    let (default_name, kind) = match rs.kind.as_str() {
        "equals" => (
            "equals".to_string(),
            ScorerKind::Equals {
                expected: expectation(&rs)?,
                trim: rs.trim.unwrap_or(true),
                ignore_case,
            },
        ),
        "contains" => (
            "contains".to_string(),
            ScorerKind::Contains {
                expected: expectation(&rs)?,
                ignore_case,
            },
        ),
        "starts_with" => (
            "starts_with".to_string(),
            ScorerKind::StartsWith {
                expected: expectation(&rs)?,
                ignore_case,
            },
        ),
        "contains_any" => (
            "contains_any".to_string(),
            ScorerKind::ContainsAny {
                expected: list_expectation(&rs)?,
                ignore_case,
            },
        ),
        "contains_all" => (
            "contains_all".to_string(),
            ScorerKind::ContainsAll {
                expected: list_expectation(&rs)?,
                ignore_case,
            },
        ),
        "levenshtein" => (
            "levenshtein".to_string(),
            ScorerKind::Levenshtein {
                expected: expectation(&rs)?,
                max_distance: rs.max_distance.unwrap_or(spec::DEFAULT_MAX_DISTANCE),
            },
        ),
        "similar" => ("similar".to_string(), similar_scorer(&rs, refs)?),
        "regex" => ("regex".to_string(), regex_scorer(&rs)?),
        "is_json" => ("is_json".to_string(), ScorerKind::IsJson),
        "contains_json" => ("contains_json".to_string(), ScorerKind::ContainsJson),
        "judge" => judge_scorer(&rs, refs.judges, refs.broken_judges)?,
        "contract" => ("contract".to_string(), contract_scorer(prompt)?),
        "json_field" => json_field_scorer(&rs, prompt)?,
        _ => numeric_scorer(&rs, prompt)?,
    };
    let only_with = match kind {
        ScorerKind::IsJson | ScorerKind::ContainsJson => rs.expected.clone(),
        _ => None,
    };
    Ok(Scorer {
        name: rs.name.unwrap_or(default_name),
        kind,
        negate: rs.negate.unwrap_or(false),
        only_with,
    })
}

/// The scorer's kind is known and each key it sets applies to that kind.
fn check_scorer_keys(rs: &RawScorer) -> Result<(), ScorerError> {
    let kind = rs.kind.as_str();
    let allowed: &[&str] = match kind {
        "equals" => &["expected", "value", "trim", "ignore_case", "negate"],
        "contains" | "starts_with" => &["expected", "value", "ignore_case", "negate"],
        "contains_any" | "contains_all" => &["expected", "values", "ignore_case", "negate"],
        "levenshtein" => &["expected", "value", "max_distance", "negate"],
        "similar" => &["expected", "value", "model", "threshold", "negate"],
        "regex" => &["pattern", "expected", "negate"],
        "is_json" | "contains_json" => &["expected", "negate"],
        "contract" => &[],
        "json_field" => &["field", "expected", "trim", "ignore_case"],
        "numeric" => &["field", "expected", "tolerance", "relative"],
        "judge" => &["judge", "judges", "repeat", "expected"],
        other => {
            return Err((
                Some("kind"),
                Some(K::UnknownScorerKind {
                    kind: other.to_string(),
                    known: SCORER_KINDS,
                }),
            ));
        }
    };
    let given: [(&'static str, bool); 17] = [
        ("judge", rs.judge.is_some()),
        ("judges", rs.judges.is_some()),
        ("repeat", rs.repeat.is_some()),
        ("field", rs.field.is_some()),
        ("expected", rs.expected.is_some()),
        ("value", rs.value.is_some()),
        ("values", rs.values.is_some()),
        ("pattern", rs.pattern.is_some()),
        ("ignore_case", rs.ignore_case.is_some()),
        ("trim", rs.trim.is_some()),
        ("tolerance", rs.tolerance.is_some()),
        ("relative", rs.relative.is_some()),
        ("max_distance", rs.max_distance.is_some()),
        ("model", rs.model.is_some()),
        ("threshold", rs.threshold.is_some()),
        ("negate", rs.negate.is_some()),
        ("name", false),
    ];
    for (key, present) in given {
        if present && !allowed.contains(&key) {
            return Err((
                Some(key),
                Some(K::KeyNotForScorer {
                    key,
                    kind: kind.to_string(),
                }),
            ));
        }
    }
    Ok(())
}

/// What a `contains_any` or `contains_all` scorer looks for: the literal `values` (at least
/// one) or an `expected` key (default `answer`).
fn list_expectation(rs: &RawScorer) -> Result<spec::ListExpectation, ScorerError> {
    match (&rs.values, &rs.expected) {
        (Some(_), Some(_)) => Err((Some("values"), Some(K::ValueAndExpected))),
        (Some(v), None) if v.is_empty() => Err((Some("values"), Some(K::EmptyValues))),
        (Some(v), None) => Ok(spec::ListExpectation::Literal(v.clone())),
        (None, Some(k)) => Ok(spec::ListExpectation::Key(k.clone())),
        (None, None) => Ok(spec::ListExpectation::Key("answer".into())),
    }
}

/// A `similar` scorer: a known model to embed with, and a cosine threshold in -1..1.
fn similar_scorer(rs: &RawScorer, refs: &ScorerRefs<'_>) -> Result<ScorerKind, ScorerError> {
    let Some(model) = rs.model.clone() else {
        return Err((Some("kind"), Some(K::SimilarNeedsModel)));
    };
    if refs.broken_models.contains(&model) {
        // Known, but its entry has a problem of its own (reported there).
        return Err((None, None));
    }
    if !refs.models.contains_key(&model) {
        return Err((
            Some("model"),
            Some(K::UnknownScorerModel {
                model,
                known: refs.models.keys().cloned().collect(),
            }),
        ));
    }
    let threshold = rs.threshold.unwrap_or(spec::DEFAULT_SIMILARITY);
    if !(-1.0..=1.0).contains(&threshold) {
        return Err((
            Some("threshold"),
            Some(K::SimilarityOutOfRange { value: threshold }),
        ));
    }
    Ok(ScorerKind::Similar {
        expected: expectation(rs)?,
        model,
        threshold,
    })
}

/// A field a scorer reads must be in the prompt's contract (when it has fields).
fn check_contract_field(prompt: Option<&Prompt>, field: &str) -> Result<(), ScorerError> {
    if let Some(c) = prompt.and_then(|p| p.contract.as_ref())
        && !c.fields.is_empty()
        && !c.fields.contains_key(field)
    {
        return Err((
            Some("field"),
            Some(K::FieldNotInContract {
                field: field.to_string(),
                prompt: prompt.map_or(String::new(), |p| p.name.clone()),
                known: c.fields.keys().cloned().collect(),
            }),
        ));
    }
    Ok(())
}

/// What an `equals` or `contains` scorer compares with: a literal `value` or an `expected` key.
fn expectation(rs: &RawScorer) -> Result<Expectation, ScorerError> {
    match (&rs.value, &rs.expected) {
        (Some(_), Some(_)) => Err((Some("value"), Some(K::ValueAndExpected))),
        (Some(v), None) => Ok(Expectation::Literal(v.clone())),
        (None, Some(k)) => Ok(Expectation::Key(k.clone())),
        (None, None) => Ok(Expectation::Key("answer".into())),
    }
}

fn regex_scorer(rs: &RawScorer) -> Result<ScorerKind, ScorerError> {
    let pattern = match (rs.pattern.as_deref(), &rs.expected) {
        (Some(_), Some(_)) => return Err((Some("expected"), Some(K::PatternAndExpected))),
        (None, Some(key)) => {
            return Ok(ScorerKind::Regex {
                pattern: spec::PatternSource::Key(key.clone()),
            });
        }
        (None, None) => return Err((Some("kind"), Some(K::RegexNeedsPattern))),
        (Some(p), None) => p,
    };
    let re = regex::Regex::new(pattern).map_err(|e| {
        let msg = e.to_string();
        // The regex crate's last line reads `error: unclosed group`; the kind's message
        // already says what failed.
        let last = msg.lines().last().unwrap_or("").trim();
        let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
        (Some("pattern"), Some(K::InvalidRegex { error: last }))
    })?;
    Ok(ScorerKind::Regex {
        pattern: spec::PatternSource::Literal(re),
    })
}

/// A `judge` scorer: known, distinct, non-pairwise judges asked `repeat` times.
fn judge_scorer(
    rs: &RawScorer,
    judges: &IndexMap<String, Arc<Judge>>,
    broken_judges: &[String],
) -> Result<(String, ScorerKind), ScorerError> {
    let names: Vec<String> = match (rs.judge.clone(), rs.judges.clone()) {
        (Some(_), Some(_)) => {
            return Err((Some("judges"), Some(K::JudgeAndJudges)));
        }
        (Some(one), None) => vec![one],
        (None, Some(many)) if !many.is_empty() => many,
        _ => {
            return Err((Some("kind"), Some(K::JudgeScorerNeedsJudge)));
        }
    };
    let key = if rs.judge.is_some() {
        "judge"
    } else {
        "judges"
    };
    for name in &names {
        if judges
            .get(name)
            .is_some_and(|j| j.verdict == VerdictKind::Pairwise)
        {
            return Err((
                Some(key),
                Some(K::PairwiseJudgeAsScorer {
                    judge: name.clone(),
                }),
            ));
        }
        if !judges.contains_key(name) && broken_judges.contains(name) {
            // Known, but its file has a problem of its own (reported there).
            return Err((None, None));
        }
        if !judges.contains_key(name) {
            return Err((
                Some(key),
                Some(K::UnknownJudge {
                    judge: name.clone(),
                    known: judges.keys().cloned().collect(),
                }),
            ));
        }
    }
    if names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n))
    {
        return Err((Some("judges"), Some(K::JudgeListedTwice)));
    }
    let repeat = rs.repeat.unwrap_or(1);
    if repeat == 0 {
        return Err((Some("repeat"), Some(K::ZeroRepeat)));
    }
    let name = if names.len() == 1 {
        names[0].clone()
    } else {
        "judges".to_string()
    };
    Ok((
        name,
        ScorerKind::Judge {
            judges: names,
            repeat,
            expected: rs.expected.clone(),
        },
    ))
}

fn contract_scorer(prompt: Option<&Prompt>) -> Result<ScorerKind, ScorerError> {
    // Without a loaded prompt its own error is already reported.
    if prompt.is_some_and(|p| p.contract.is_none()) {
        return Err((
            Some("kind"),
            Some(K::ContractScorerWithoutContract {
                prompt: prompt.map(|p| p.name.clone()),
            }),
        ));
    }
    Ok(ScorerKind::Contract)
}

fn json_field_scorer(
    rs: &RawScorer,
    prompt: Option<&Prompt>,
) -> Result<(String, ScorerKind), ScorerError> {
    let Some(field) = rs.field.clone() else {
        return Err((Some("kind"), Some(K::JsonFieldNeedsField)));
    };
    check_contract_field(prompt, &field)?;
    let expected_key = rs.expected.clone().unwrap_or_else(|| field.clone());
    Ok((
        field.clone(),
        ScorerKind::JsonField {
            field,
            expected_key,
            trim: rs.trim.unwrap_or(true),
            ignore_case: rs.ignore_case.unwrap_or(false),
        },
    ))
}

fn numeric_scorer(
    rs: &RawScorer,
    prompt: Option<&Prompt>,
) -> Result<(String, ScorerKind), ScorerError> {
    if let Some(f) = &rs.field {
        check_contract_field(prompt, f)?;
    }
    let tolerance = rs.tolerance.unwrap_or(0.0);
    if !(tolerance >= 0.0 && tolerance.is_finite()) {
        return Err((
            Some("tolerance"),
            Some(K::NegativeTolerance { value: tolerance }),
        ));
    }
    let expected_key = rs
        .expected
        .clone()
        .or_else(|| rs.field.clone())
        .unwrap_or_else(|| "answer".into());
    Ok((
        rs.field.clone().unwrap_or_else(|| "numeric".into()),
        ScorerKind::Numeric {
            field: rs.field.clone(),
            expected_key,
            tolerance,
            relative: rs.relative.unwrap_or(false),
        },
    ))
}

/// The metric names a gate can use: `pass_rate`, `error_rate`, `cost_per_case`,
/// `latency_p95_ms`, `scorer.NAME`, `field.NAME.accuracy|kappa|mae`.
fn known_metrics(prompt: Option<&Prompt>, scorers: &[Scorer]) -> Vec<String> {
    let mut out: Vec<String> = ["pass_rate", "error_rate", "cost_per_case", "latency_p95_ms"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    out.extend(scorers.iter().map(|s| format!("scorer.{}", s.name)));
    if let Some(c) = prompt.and_then(|p| p.contract.as_ref()) {
        for (name, _) in c.enum_fields() {
            out.push(format!("field.{name}.accuracy"));
            out.push(format!("field.{name}.kappa"));
        }
        for name in c.integer_fields() {
            out.push(format!("field.{name}.mae"));
        }
    }
    out
}

/// What a suite's gates may name: the metrics of its prompt's contract (unknown while the
/// prompt cannot be read: its own problem is reported) and of its scorers (unknown while
/// one of them is broken).
struct Known<'a> {
    prompt: Option<&'a Prompt>,
    scorers: &'a [Scorer],
    every_scorer: bool,
}

fn check_gates(
    suite: &str,
    g: RawGates,
    known: Known<'_>,
    loc: &Locator<'_>,
    display: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Gates {
    let names = known_metrics(known.prompt, known.scorers);
    let resamples = g
        .bootstrap_resamples
        .unwrap_or(crate::stats::BOOTSTRAP_RESAMPLES);
    if !(MIN_RESAMPLES..=MAX_RESAMPLES).contains(&resamples) {
        let pos = loc
            .key(&["suites", suite, "gates", "bootstrap_resamples"])
            .unwrap_or((0, 0));
        let kind = K::ResamplesOutOfRange {
            min: MIN_RESAMPLES,
            max: MAX_RESAMPLES,
            value: resamples,
        };
        diags.push(kind.at(display, pos));
    }
    let mut metrics = IndexMap::new();
    for (metric, m) in g.metrics {
        let pos = loc
            .key(&["suites", suite, "gates", "metrics", &metric])
            .unwrap_or((0, 0));
        // A name that cannot be checked now (its prompt or a scorer is broken) is not an
        // error of its own.
        let unknowable = (metric.starts_with("field.") && known.prompt.is_none())
            || (metric.starts_with("scorer.") && !known.every_scorer);
        if !names.contains(&metric) && !unknowable {
            let kind = K::UnknownMetric {
                metric,
                known: names.clone(),
            };
            diags.push(kind.at(display, pos));
            continue;
        }
        let alpha = m.alpha.unwrap_or(0.05);
        if !(alpha > 0.0 && alpha < 1.0) {
            diags.push(K::AlphaOutOfRange { alpha }.at(display, pos));
        } else if m.significant
            && bootstrap_tested(&metric)
            && alpha <= crate::stats::smallest_p(resamples)
        {
            // The bootstrap's p-value is never below 1 / resamples: such a gate could never
            // call a drop significant.
            let needed = ((10.0 / alpha).ceil() as usize).clamp(MIN_RESAMPLES, MAX_RESAMPLES);
            let kind = K::UnreachableAlpha {
                alpha,
                metric: metric.clone(),
                resamples,
                smallest_p: crate::stats::smallest_p(resamples),
                needed,
            };
            diags.push(kind.at(display, pos));
        }
        metrics.insert(
            metric,
            MetricGate {
                min: m.min,
                max: m.max,
                max_drop: m.max_drop,
                significant: m.significant,
                alpha,
            },
        );
    }

    Gates {
        metrics,
        max_cost_increase: g.max_cost_increase,
        max_latency_p95_ms: g.max_latency_p95_ms,
        min_judge_kappa: g.min_judge_kappa,
        min_lift: g.min_lift,
        max_lift_drop: g.max_lift_drop,
        max_flip_rate: g.max_flip_rate,
        cascade_min_quality_retained: g.cascade_min_quality_retained,
        cascade_max_cost_per_1k: g.cascade_max_cost_per_1k,
        bootstrap_resamples: resamples,
    }
}

/// Bounds of `gates.bootstrap_resamples`.
const MIN_RESAMPLES: usize = 200;
const MAX_RESAMPLES: usize = 1_000_000;

/// Whether a gate metric's p-value comes from the paired bootstrap (the others are pass/fail
/// metrics, tested by McNemar's exact test).
fn bootstrap_tested(metric: &str) -> bool {
    metric.ends_with(".kappa")
        || metric.ends_with(".mae")
        || metric == "cost_per_case"
        || metric == "latency_p95_ms"
}

/// A suite's `lift:` section: the fields it names must be model-usable fields of the prompt's
/// contract, and the numbers in range. (The outcome key is checked against the golden cases
/// when the analysis runs.)
fn check_lift(
    suite: &str,
    l: RawLift,
    prompt: Option<&Prompt>,
    loc: &Locator<'_>,
    display: &Path,
    diags: &mut Vec<Diagnostic>,
) -> spec::LiftSpec {
    use spec::LiftSpec;
    let at = |key: &str, kind: K| {
        kind.at(
            display,
            loc.key(&["suites", suite, "lift", key]).unwrap_or((0, 0)),
        )
    };
    if let (Some(features), Some(contract)) =
        (&l.features, prompt.and_then(|p| p.contract.as_ref()))
    {
        let usable: Vec<String> = contract
            .fields
            .iter()
            .filter(|(_, f)| spec::FeatureKind::of_field(&f.kind).is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for f in features {
            if !usable.contains(f) {
                let (feature, usable) = (f.clone(), usable.clone());
                let kind = if contract.fields.contains_key(f) {
                    K::LiftFeatureFreeText { feature, usable }
                } else {
                    K::LiftFeatureNotInContract { feature, usable }
                };
                diags.push(at("features", kind));
            }
        }
    }
    let folds = l.folds.unwrap_or(spec::DEFAULT_FOLDS);
    if folds < 2 {
        diags.push(at("folds", K::TooFewFolds { folds }));
    }
    let regularization = l.regularization.unwrap_or(spec::DEFAULT_REGULARIZATION);
    if !(regularization > 0.0 && regularization.is_finite()) {
        diags.push(at(
            "regularization",
            K::BadRegularization {
                value: regularization,
            },
        ));
    }
    LiftSpec {
        outcome: l.outcome,
        features: l.features,
        base_features: l.base_features,
        folds,
        seed: l.seed.unwrap_or(spec::DEFAULT_SEED),
        regularization,
    }
}

/// A suite's `cascade:` section: at least two tiers of known models, the answer field in the
/// prompt's contract (a closed set of labels when a tier reads log-probabilities), and a
/// confidence source for every tier but the last.
#[expect(
    clippy::too_many_arguments,
    reason = "the section, its context in the project and where to report, like the other checks"
)]
fn check_cascade(
    suite: &str,
    c: RawCascade,
    prompt: Option<&Prompt>,
    models: &[String],
    root: &Path,
    loc: &Locator<'_>,
    display: &Path,
    diags: &mut Vec<Diagnostic>,
) -> spec::CascadeSpec {
    let contract = prompt.and_then(|p| p.contract.as_ref());
    let mut check = CascadeCheck {
        suite,
        field: &c.field,
        contract,
        enum_field: contract.and_then(|k| k.labels(&c.field)).is_some(),
        models,
        root,
        loc,
        display,
        last: c.tiers.len().saturating_sub(1),
        diags,
    };
    let target = check.section(c.target, c.tiers.len());
    let tiers: Vec<spec::Tier> = c
        .tiers
        .into_iter()
        .enumerate()
        .map(|(i, t)| check.tier(i, t))
        .collect();
    check.pinned(&tiers);
    spec::CascadeSpec {
        field: c.field,
        target,
        tiers,
    }
}

/// A cascade section being checked, with where its problems go.
struct CascadeCheck<'a> {
    suite: &'a str,
    field: &'a str,
    contract: Option<&'a crate::contract::Contract>,
    /// The cascade field is an enum of the contract (log-probabilities can be renormalised).
    enum_field: bool,
    models: &'a [String],
    root: &'a Path,
    loc: &'a Locator<'a>,
    display: &'a Path,
    /// The index of the last tier, which always answers.
    last: usize,
    diags: &'a mut Vec<Diagnostic>,
}

impl CascadeCheck<'_> {
    /// Reports `kind` at a key of the section.
    fn at(&mut self, path: &[&str], kind: K) {
        let mut full = vec!["suites", self.suite, "cascade"];
        full.extend_from_slice(path);
        let pos = self.loc.key(&full).unwrap_or((0, 0));
        self.diags.push(kind.at(self.display, pos));
    }

    /// Reports `kind` at a key of tier `i` (or at the tier, without that key).
    fn tier_at(&mut self, i: usize, key: &str, kind: K) {
        let tiers = ["suites", self.suite, "cascade", "tiers"];
        let pos = self
            .loc
            .item_key(&tiers, i, key)
            .or_else(|| self.loc.item(&tiers, i))
            .unwrap_or((0, 0));
        self.diags.push(kind.at(self.display, pos));
    }

    /// The section's field, target and number of tiers; returns the target.
    fn section(&mut self, target: Option<f64>, tiers: usize) -> f64 {
        if let Some(k) = self.contract
            && !k.fields.contains_key(self.field)
        {
            let kind = K::CascadeFieldNotInContract {
                field: self.field.to_string(),
                known: k.fields.keys().cloned().collect(),
            };
            self.at(&["field"], kind);
        }
        let target = target.unwrap_or(spec::DEFAULT_TARGET);
        if !(target > 0.0 && target <= 1.0) {
            self.at(&["target"], K::BadCascadeTarget { target });
        }
        if tiers < 2 {
            self.at(&["tiers"], K::TooFewTiers { tiers });
        }
        if tiers > spec::MAX_TIERS {
            let kind = K::TooManyTiers {
                max: spec::MAX_TIERS,
                tiers,
            };
            self.at(&["tiers"], kind);
        }
        target
    }

    fn tier(&mut self, i: usize, mut t: RawTier) -> spec::Tier {
        let proxy = match (&t.model, t.proxy.take()) {
            (Some(m), None) => {
                self.known_model(i, "model", m);
                None
            }
            (None, Some(p)) => Some(self.proxy(i, p)),
            (Some(_), Some(_)) | (None, None) => {
                self.tier_at(i, "model", K::TierNeedsModelOrProxy { tier: i + 1 });
                None
            }
        };
        let model = match (&proxy, &t.model) {
            (Some(p), _) => format!("proxy({})", p.embeddings),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        };
        let confidence = self.confidence(i, &t, proxy.is_some());
        spec::Tier {
            model,
            proxy,
            confidence,
            threshold: t.threshold.filter(|_| i != self.last),
        }
    }

    fn known_model(&mut self, i: usize, key: &str, m: &str) {
        if !self.models.iter().any(|x| x == m) {
            let kind = K::UnknownTierModel {
                tier: i + 1,
                model: m.to_string(),
                known: self.models.to_vec(),
            };
            self.tier_at(i, key, kind);
        }
    }

    /// A proxy tier: its models and pool exist, it is not last, its regularization is positive.
    fn proxy(&mut self, i: usize, p: RawProxy) -> spec::ProxySpec {
        self.known_model(i, "proxy", &p.embeddings);
        self.known_model(i, "proxy", &p.labeller);
        let pool = self.root.join(GOLDEN_DIR).join(format!("{}.jsonl", p.pool));
        if !pool.is_file() {
            let kind = K::ProxyPoolNotADataset {
                pool: p.pool.clone(),
            };
            self.tier_at(i, "proxy", kind);
        }
        if i == self.last {
            self.tier_at(i, "proxy", K::ProxyLastTier);
        }
        let regularization = p.regularization.unwrap_or(1.0);
        if !(regularization > 0.0 && regularization.is_finite()) {
            let kind = K::BadRegularization {
                value: regularization,
            };
            self.tier_at(i, "proxy", kind);
        }
        spec::ProxySpec {
            embeddings: p.embeddings,
            pool: p.pool,
            labeller: p.labeller,
            input: p.input,
            regularization,
        }
    }

    /// How sure a tier is of its answer: a proxy's probability, nothing for the last tier,
    /// else what `confidence` names.
    fn confidence(&mut self, i: usize, t: &RawTier, proxy: bool) -> spec::Confidence {
        use spec::Confidence;
        if proxy {
            if t.confidence.as_deref().is_some_and(|c| c != "probability") {
                self.tier_at(i, "confidence", K::ProxyConfidence);
            }
            return Confidence::Probability;
        }
        if i == self.last {
            if t.confidence.is_some() {
                self.tier_at(i, "confidence", K::LastTierConfidence);
            }
            return Confidence::Final;
        }
        match t.confidence.as_deref() {
            Some("logprobs") => {
                // A field missing from the contract is reported once, by `section`.
                let missing = self
                    .contract
                    .is_some_and(|k| !k.fields.contains_key(self.field));
                if !self.enum_field && !missing {
                    let kind = K::LogprobsNeedsEnum {
                        field: self.field.to_string(),
                    };
                    self.tier_at(i, "confidence", kind);
                }
                Confidence::Logprobs
            }
            Some("self_consistency") => self.self_consistency(i, t),
            Some("field") => {
                let f = t
                    .confidence_field
                    .clone()
                    .unwrap_or_else(|| "confidence".into());
                if let Some(k) = self.contract
                    && !k.fields.contains_key(&f)
                {
                    let kind = K::ConfidenceFieldNotInContract { field: f.clone() };
                    self.tier_at(i, "confidence_field", kind);
                }
                Confidence::Field(f)
            }
            other => {
                let kind = match other {
                    Some(o) => K::UnknownConfidence {
                        confidence: o.to_string(),
                    },
                    None => K::TierNeedsConfidence { tier: i + 1 },
                };
                self.tier_at(i, "confidence", kind);
                Confidence::Logprobs
            }
        }
    }

    fn self_consistency(&mut self, i: usize, t: &RawTier) -> spec::Confidence {
        let samples = t.samples.unwrap_or(spec::DEFAULT_SAMPLES);
        if samples < 2 {
            self.tier_at(i, "samples", K::TooFewSamples { samples });
        }
        let temperature = t.temperature.unwrap_or(spec::DEFAULT_SAMPLE_TEMPERATURE);
        if !(temperature > 0.0 && temperature <= 2.0) {
            self.tier_at(i, "temperature", K::BadSampleTemperature { temperature });
        }
        spec::Confidence::SelfConsistency {
            samples,
            temperature,
        }
    }

    /// The pinned operating point needs a threshold on every tier but the last.
    fn pinned(&mut self, tiers: &[spec::Tier]) {
        let pinned = tiers[..tiers.len().saturating_sub(1)]
            .iter()
            .filter(|t| t.threshold.is_some())
            .count();
        if pinned > 0 && pinned + 1 < tiers.len() {
            let kind = K::PartlyPinned {
                pinned,
                before_last: tiers.len() - 1,
            };
            self.at(&["tiers"], kind);
        }
    }
}

/// Reads a whole YAML file as `T`, with every unknown key and the first other problem (see
/// `tolerant`).
fn read_yaml<T: serde::de::DeserializeOwned>(
    display: &Path,
    text: &str,
) -> Result<T, Vec<Diagnostic>> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| vec![yaml_error(display, text, &e)])?;
    let loc = Locator::new(text);
    let at = tolerant::At {
        display,
        loc: &loc,
        path: Vec::new(),
    };
    match tolerant::entry(value, &at) {
        (Some(t), d) if d.is_empty() => Ok(t),
        (_, d) => Err(d),
    }
}

/// A project file's text and the path to show for it.
fn read_text(
    root: &Path,
    path: &Path,
    what: &'static str,
) -> Result<(PathBuf, String), Vec<Diagnostic>> {
    let display = display_path(root, path);
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = guard::text(&display, bytes).map_err(|d| vec![d])?;
            Ok((display, text))
        }
        Err(e) => {
            let kind = K::CannotReadFile {
                what,
                error: e.to_string(),
            };
            Err(vec![kind.at(&display, (0, 0))])
        }
    }
}

fn load_prompt(root: &Path, name: &str, path: &Path) -> Result<Prompt, Vec<Diagnostic>> {
    let (display, text) = read_text(root, path, "prompt")?;
    let raw: RawPrompt = read_yaml(&display, &text)?;
    if raw.messages.is_empty() {
        let pos = Locator::new(&text).key(&["messages"]).unwrap_or((1, 1));
        let kind = K::PromptWithoutMessages {
            prompt: name.to_string(),
        };
        return Err(vec![kind.at(&display, pos)]);
    }
    let messages = raw
        .messages
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect();
    let _ = raw.description;
    Prompt::compile(name, display.clone(), messages, raw.params, raw.output).map_err(
        |(index, err)| {
            vec![template_error(
                &display,
                &Locator::new(&text),
                "messages",
                index,
                &err,
            )]
        },
    )
}

/// A template syntax error in message `index` of the list under `list` (`messages` of a
/// prompt, `rubric` of a judge), located in the YAML file.
fn template_error(
    display: &Path,
    loc: &Locator<'_>,
    list: &'static str,
    index: usize,
    err: &minijinja::Error,
) -> Diagnostic {
    let key = loc.item_key(&[list], index, "content").unwrap_or((1, 1));
    let (start_line, start_col) = loc.scalar_start(key);
    let line = start_line + err.line().unwrap_or(1).saturating_sub(1);
    let kind = K::TemplateSyntax {
        list,
        index,
        error: err.kind().to_string(),
        detail: err.detail().map(str::to_string),
    };
    kind.at(display, (line, start_col))
}

/// Reads and compiles a judge. `Ok(None)` when its model is one whose own problem was
/// already reported.
fn load_judge(
    root: &Path,
    name: &str,
    path: &Path,
    models: &IndexMap<String, Model>,
    broken_models: &[String],
) -> Result<Option<Judge>, Vec<Diagnostic>> {
    let (display, text) = read_text(root, path, "judge")?;
    let raw: RawJudge = read_yaml(&display, &text)?;
    load_judge_checked(name, &display, &text, raw, models, broken_models).map_err(|d| vec![d])
}

/// The checks of a judge file that parsed.
fn load_judge_checked(
    name: &str,
    display: &Path,
    text: &str,
    raw: RawJudge,
    models: &IndexMap<String, Model>,
    broken_models: &[String],
) -> Result<Option<Judge>, Diagnostic> {
    let display = display.to_path_buf();
    let text = text.to_string();
    let loc = Locator::new(&text);
    let at = |pos: Option<(usize, usize)>, kind: K| kind.at(&display, pos.unwrap_or((1, 1)));
    if broken_models.contains(&raw.model) {
        return Ok(None);
    }
    if !models.contains_key(&raw.model) {
        let kind = K::UnknownJudgeModel {
            judge: name.to_string(),
            model: raw.model.clone(),
            known: models.keys().cloned().collect(),
        };
        return Err(at(loc.value(&["model"], &raw.model), kind));
    }
    if let VerdictKind::Score { min, max, pass_at } = raw.verdict {
        if ![min, max, pass_at].iter().all(|v| v.is_finite()) || min >= max {
            return Err(at(loc.key(&["verdict"]), K::BadScoreScale { min, max }));
        }
        if !(min <= pass_at && pass_at <= max) {
            let kind = K::PassAtOutsideScale { pass_at, min, max };
            return Err(at(loc.key(&["verdict"]), kind));
        }
    }
    if raw.rubric.is_empty() {
        let kind = K::JudgeWithoutRubric {
            judge: name.to_string(),
        };
        return Err(at(loc.key(&["rubric"]), kind));
    }
    let messages = raw
        .rubric
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect();
    let _ = raw.description;
    let judge = Judge::compile(
        name,
        display.clone(),
        raw.model,
        messages,
        raw.params,
        raw.verdict,
    )
    .map_err(|(index, err)| template_error(&display, &loc, "rubric", index, &err))?;
    if let Some(var) = judge.unknown_variables().first() {
        let kind = K::RubricUndefinedVariable {
            judge: name.to_string(),
            var: var.to_string(),
        };
        return Err(at(loc.key(&["rubric"]), kind));
    }
    let needed: &[&str] = if judge.verdict == VerdictKind::Pairwise {
        &["output_a", "output_b"]
    } else {
        &["output"]
    };
    for var in needed {
        if !rubric_mentions(&text, var) {
            let kind = K::RubricWithoutOutput {
                judge: name.to_string(),
                var,
            };
            return Err(at(loc.key(&["rubric"]), kind));
        }
    }
    Ok(Some(judge))
}

fn rubric_mentions(text: &str, var: &str) -> bool {
    regex::Regex::new(&format!(r"\{{\{{-?\s*{var}\s*-?\}}\}}"))
        .map(|re| re.is_match(text))
        .unwrap_or(true)
}

/// Turns a serde_yaml error into a diagnostic: its location, its message without the
/// location suffix, and a hint for unknown names (the nearest known one) and missing keys.
fn yaml_error(display: &Path, text: &str, e: &serde_yaml::Error) -> Diagnostic {
    let full = e.to_string();
    // The location goes in front; drop it (and libyaml's inner ones) from the text.
    let message = regex::Regex::new(r" at line \d+ column \d+")
        .map_or(full.clone(), |re| re.replace_all(&full, "").into_owned());
    // A conversion error may carry its own hint after "\nhint: ".
    let (message, own_hint) = match message.split_once("\nhint: ") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (message, None),
    };
    let (mut line, mut col) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    // Errors raised while converting a value (an unknown field type, say) carry the position
    // of the enclosing mapping; point at the offending value instead when it can be found.
    let precise = message.contains("missing field") || message.contains("unknown field `");
    if !precise
        && line > 0
        && let Some(token) = message.split('`').nth(1).filter(|t| !t.is_empty())
        && let Some(pos) = Locator::new(text).word_after(line, token)
    {
        (line, col) = pos;
    }
    K::YamlSyntax { message, own_hint }.at(display, (line, col))
}

/// The entries of evalgate.yaml, each read on its own: None for an entry that could not be
/// read (its problems are in `diags`).
#[derive(Default)]
struct Sections {
    providers: IndexMap<String, Option<RawProvider>>,
    models: IndexMap<String, Option<RawModel>>,
    suites: IndexMap<String, Option<RawSuite>>,
    /// Suites read with a problem (an unknown key taken out): what follows from it is not
    /// reported again.
    unclean_suites: std::collections::HashSet<String>,
}

fn read_sections(
    doc: &serde_yaml::Value,
    loc: &Locator<'_>,
    display: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Sections {
    let mut out = Sections::default();
    let name_of = |k: &serde_yaml::Value| match k {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    let Some(top) = doc.as_mapping() else {
        diags.push(K::ProjectNotAMapping.at(display, (1, 1)));
        return out;
    };
    for (key, value) in top {
        let key = name_of(key);
        if !CONFIG_KEYS.contains(&key.as_str()) {
            let pos = loc.key(&[&key]).unwrap_or((0, 0));
            let kind = K::UnknownField {
                field: key,
                expected: CONFIG_KEYS,
            };
            diags.push(kind.at(display, pos));
            continue;
        }
        let entries = match value {
            serde_yaml::Value::Null => continue,
            serde_yaml::Value::Mapping(m) => m,
            _ => {
                let pos = loc.key(&[&key]).unwrap_or((0, 0));
                diags.push(K::SectionNotAMapping { section: key }.at(display, pos));
                continue;
            }
        };
        for (name, entry) in entries {
            let name = name_of(name);
            let at = tolerant::At {
                display,
                loc,
                path: vec![key.clone(), name.clone()],
            };
            match key.as_str() {
                "providers" => {
                    let (e, d) = tolerant::entry(entry.clone(), &at);
                    diags.extend(d);
                    out.providers.insert(name, e);
                }
                "models" => {
                    let (e, d) = tolerant::entry(entry.clone(), &at);
                    diags.extend(d);
                    out.models.insert(name, e);
                }
                _ => {
                    let (e, d) = tolerant::entry(entry.clone(), &at);
                    if !d.is_empty() {
                        out.unclean_suites.insert(name.clone());
                    }
                    diags.extend(d);
                    out.suites.insert(name, e);
                }
            }
        }
    }
    out
}

fn list_files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    files.sort();
    files
}
