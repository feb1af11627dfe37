//! What decides a suite's verdict, hashed part by part, so that `evalgate gate` runs a suite
//! whenever any of it differs from its baseline's and says which part: the prompt, the
//! dataset, the model (its API id, prices and endpoint), each judge, the scorers, the gates,
//! the lift and cascade sections and the error budget.
//!
//! The suite's own parts are hashed as written in evalgate.yaml (canonical JSON of the YAML
//! value), so that a new evalgate release does not change them; a description, the
//! concurrency or the spend limit change no verdict and are left out.

use std::collections::BTreeMap;

/// The keys of a suite whose values decide its verdict, besides its prompt, dataset, models
/// and judges (hashed with their own versions).
pub const SUITE_PARTS: &[&str] = &[
    "scorers",
    "gates",
    "lift",
    "cascade",
    "max_error_rate",
    "max_judge_error_rate",
];

/// The hash of a part a suite does not set. A baseline that predates a part has none: the
/// part counts as unchanged while the suite leaves it unset.
pub fn unset() -> String {
    hash(&serde_yaml::Value::Null)
}

/// The keys of a provider that change its answers (not its key variable, timeouts, retries
/// or limits).
const PROVIDER_PARTS: &[&str] = &["kind", "base_url", "structured_output", "cassettes"];

/// Every number as a float: `25` and `25.0` are one threshold.
fn numbers_as_floats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(numbers_as_floats),
        serde_json::Value::Object(map) => map.values_mut().for_each(numbers_as_floats),
        _ => {}
    }
}

/// Canonical hash of a YAML value.
fn hash(value: &serde_yaml::Value) -> String {
    match serde_json::to_value(value) {
        Ok(mut v) => {
            numbers_as_floats(&mut v);
            crate::hash::json_hash(&v)
        }
        // A mapping with keys that are not strings: hash its YAML text instead.
        Err(_) => {
            crate::hash::sha256_hex(serde_yaml::to_string(value).unwrap_or_default().as_bytes())
        }
    }
}

fn get<'v>(value: &'v serde_yaml::Value, key: &str) -> &'v serde_yaml::Value {
    static NULL: serde_yaml::Value = serde_yaml::Value::Null;
    value.get(key).unwrap_or(&NULL)
}

/// The hashes of a suite's own parts (`SUITE_PARTS`), from its YAML mapping.
pub fn suite_parts(suite: &serde_yaml::Value) -> BTreeMap<String, String> {
    SUITE_PARTS
        .iter()
        .map(|k| (k.to_string(), hash(get(suite, k))))
        .collect()
}

/// The hash of a file's lines as written (line endings and trailing spaces aside), or of
/// its absence.
pub fn file(path: &std::path::Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => crate::hash::sha256_hex(crate::hash::normalize_text(&text).as_bytes()),
        Err(_) => "absent".to_string(),
    }
}

/// The hash of a model as it answers: its mapping (API id, prices) and the parts of its
/// provider that change answers.
pub fn model(model: &serde_yaml::Value, provider: &serde_yaml::Value) -> String {
    let mut provider_parts = serde_yaml::Mapping::new();
    for k in PROVIDER_PARTS {
        provider_parts.insert(serde_yaml::Value::from(*k), get(provider, k).clone());
    }
    let mut both = serde_yaml::Mapping::new();
    both.insert("model".into(), model.clone());
    both.insert(
        "provider".into(),
        serde_yaml::Value::Mapping(provider_parts),
    );
    hash(&serde_yaml::Value::Mapping(both))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn a_gates_only_edit_changes_the_gates_part_and_nothing_else() {
        let before = suite_parts(&yaml(
            "prompt: p\nscorers: [{kind: contract}]\ngates: {metrics: {pass_rate: {min: 0.5}}}\n",
        ));
        let after = suite_parts(&yaml(
            "prompt: p\nscorers: [{kind: contract}]\ngates: {metrics: {pass_rate: {min: 0.5}}, min_judge_kappa: 0.5}\n",
        ));
        let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
        assert_eq!(changed, ["gates"]);
    }

    #[test]
    fn layout_comments_and_key_order_do_not_count() {
        let a = suite_parts(&yaml(
            "gates:\n  max_cost_increase: 10   # percent\n  metrics: {pass_rate: {min: 0.5}}\n",
        ));
        let b = suite_parts(&yaml(
            "gates: {metrics: {pass_rate: {min: 0.50}}, max_cost_increase: 10.0}\n",
        ));
        assert_eq!(a, b);
        let c = suite_parts(&yaml(
            "description: other\nconcurrency: 8\nmax_cost: 1\ngates: {metrics: {pass_rate: {min: 0.5}}, max_cost_increase: 10}\n",
        ));
        assert_eq!(
            a, c,
            "description, concurrency and the spend limit decide no verdict"
        );
    }

    #[test]
    fn a_model_changes_with_its_prices_and_endpoint_not_its_key_variable() {
        let m = yaml("{provider: p, price: {input: 1, output: 2}}");
        let p = yaml("{kind: openai, base_url: http://a/v1, api_key_env: A, timeout_secs: 5}");
        let base = model(&m, &p);
        assert_eq!(
            base,
            model(
                &m,
                &yaml("{kind: openai, base_url: http://a/v1, api_key_env: B}")
            )
        );
        assert_ne!(
            base,
            model(&m, &yaml("{kind: openai, base_url: http://b/v1}"))
        );
        assert_ne!(
            base,
            model(&yaml("{provider: p, price: {input: 1, output: 3}}"), &p)
        );
    }
}
