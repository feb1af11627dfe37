//! A tier's confidence in its answer.
//!
//! Log-probabilities from a constrained decoder are not renormalised over what the grammar
//! allows (llama-cpp-python ranks forbidden tokens above the chosen one), so the probability
//! of a label is recomputed here: at each token of the answer, the chosen token's probability
//! is divided by the mass of the alternatives that keep the text on the way to some allowed
//! label (or that close it); the label's confidence is the product over its tokens.

use serde_json::Value;

use crate::provider::TokenLogprob;

/// The probability of the label `value` of `field` in `output`, renormalised over `labels`.
/// None when the tokens do not spell the output, the value cannot be found in it, or the
/// provider sent no alternatives to weigh it against.
pub fn label_probability(
    tokens: &[TokenLogprob],
    field: &str,
    value: &str,
    labels: &[String],
) -> Option<f64> {
    let text: String = tokens.iter().map(|t| t.token.as_str()).collect();
    let (start, end) = value_span(&text, field, value)?;
    let mut offset = 0;
    let mut p = 1.0;
    let mut weighed = false;
    for t in tokens {
        let (from, to) = (offset, offset + t.token.len());
        offset = to;
        // The tokens that write the value and its closing quote.
        if to <= start || from > end {
            continue;
        }
        let allowed = |alt: &str| on_the_way(&text, from, alt, start, labels);
        if !allowed(&t.token) {
            continue;
        }
        let mut mass = 0.0;
        let mut counted: Vec<&str> = Vec::new();
        for (alt, lp) in &t.top {
            if !counted.contains(&alt.as_str()) && allowed(alt) {
                counted.push(alt);
                mass += lp.exp();
            }
        }
        weighed |= !t.top.is_empty();
        if !counted.contains(&t.token.as_str()) {
            mass += t.logprob.exp();
        }
        if mass > 0.0 {
            p *= t.logprob.exp() / mass;
        }
    }
    weighed.then_some(p.clamp(0.0, 1.0))
}

/// Where the string value of `field` lies in a JSON text: the bytes between its quotes. The
/// key counts only where a colon and the quoted value follow it.
fn value_span(text: &str, field: &str, value: &str) -> Option<(usize, usize)> {
    let key = serde_json::to_string(field).ok()?;
    let quoted = serde_json::to_string(value).ok()?;
    let mut search = 0;
    while let Some(found) = text[search..].find(&key) {
        let k = search + found + key.len();
        search = k;
        let rest = text[k..].trim_start();
        let Some(after) = rest.strip_prefix(':') else {
            continue;
        };
        let after_ws = after.trim_start();
        if after_ws.starts_with(&quoted) {
            let start = text.len() - after_ws.len() + 1;
            return Some((start, start + quoted.len() - 2));
        }
    }
    None
}

/// Whether writing `alt` at byte `from` of `text` keeps the value (from byte `start`) a prefix
/// of an allowed label, or closes one. Before the value, the alternative must write what was
/// written (a different quote or spacing is another path).
fn on_the_way(text: &str, from: usize, alt: &str, start: usize, labels: &[String]) -> bool {
    if from < start {
        let written = &text[from..start];
        if !alt.starts_with(written) {
            return false;
        }
    }
    let full = format!("{}{alt}", &text[..from]);
    if full.len() <= start || !full.is_char_boundary(start) {
        return false;
    }
    let s = &full[start..];
    labels.iter().any(|l| {
        l.starts_with(s)
            || s.strip_prefix(l.as_str())
                .is_some_and(|r| r.starts_with('"'))
    })
}

/// Self-consistency: the majority answer of the samples and its share of them (unusable
/// samples count against it). Ties go to the answer seen first.
pub fn vote(samples: &[Option<String>]) -> Option<(String, f64)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in samples.iter().flatten() {
        match counts.iter_mut().find(|(a, _)| *a == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((s, 1)),
        }
    }
    let best = counts
        .iter()
        .fold(None::<(&str, usize)>, |best, &(a, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((a, n)),
        })?;
    Some((best.0.to_string(), best.1 as f64 / samples.len() as f64))
}

/// A confidence field of the output: a number in 0..1 (clamped), or None.
pub fn field_confidence(parsed: &Value, field: &str) -> Option<f64> {
    parsed
        .get(field)?
        .as_f64()
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(token: &str, logprob: f64, top: &[(&str, f64)]) -> TokenLogprob {
        TokenLogprob {
            token: token.into(),
            logprob,
            top: top.iter().map(|(t, l)| (t.to_string(), *l)).collect(),
        }
    }

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn forbidden_tokens_do_not_count_against_the_label() {
        // As measured on llama-cpp-python with a grammar: the chosen `b` (−3.3) is ranked
        // below a forbidden `B` (−1.07). Over the allowed labels, `b`illing against
        // `f`eature_request: p = e^−3.3 / (e^−3.3 + e^−4.0).
        let tokens = vec![
            tok("{\"intent\": \"", -0.01, &[]),
            tok(
                "b",
                -3.3,
                &[("B", -1.07), ("b", -3.3), ("f", -4.0), ("x", -2.0)],
            ),
            tok(
                "illing",
                -0.2,
                &[("illing", -0.2), ("ug", -0.5), ("ogus", -1.5)],
            ),
            tok("\"", -0.05, &[("\"", -0.05), ("s", -3.0)]),
            tok("}", -0.01, &[]),
        ];
        let l = labels(&["billing", "bug", "feature_request"]);
        let p = label_probability(&tokens, "intent", "billing", &l).unwrap();
        let first = (-3.3f64).exp() / ((-3.3f64).exp() + (-4.0f64).exp());
        // `illing` against `ug` (both allowed), `ogus` is not a label.
        let second = (-0.2f64).exp() / ((-0.2f64).exp() + (-0.5f64).exp());
        // The closing quote: `s` would make `billings`, not a label.
        let third = 1.0;
        assert!((p - first * second * third).abs() < 1e-12, "{p}");
        assert!(p > 0.3 && p < 0.5, "{p}");
    }

    #[test]
    fn a_label_that_is_a_prefix_of_another_is_decided_at_the_quote() {
        // `card` or `card_lost`: after `card`, the quote (−0.7) competes with `_lost` (−0.7).
        let tokens = vec![
            tok("{\"intent\":\"", 0.0, &[]),
            tok("card", -0.1, &[("card", -0.1)]),
            tok("\"", -0.7, &[("\"", -0.7), ("_lost", -0.7), ("!", -0.1)]),
            tok("}", 0.0, &[]),
        ];
        let l = labels(&["card", "card_lost"]);
        let p = label_probability(&tokens, "intent", "card", &l).unwrap();
        assert!((p - 0.5).abs() < 1e-12, "{p}");
        // A value that is not in the text: no confidence.
        assert!(label_probability(&tokens, "intent", "card_lost", &l).is_none());
        assert!(label_probability(&tokens, "sentiment", "card", &l).is_none());
    }

    #[test]
    fn self_consistency_votes() {
        let s = |v: &[Option<&str>]| -> Vec<Option<String>> {
            v.iter().map(|x| x.map(str::to_string)).collect()
        };
        assert_eq!(
            vote(&s(&[Some("a"), Some("b"), Some("a"), None, Some("a")])),
            Some(("a".into(), 0.6))
        );
        // A tie goes to the first answer seen.
        assert_eq!(
            vote(&s(&[Some("b"), Some("a"), Some("a"), Some("b")])),
            Some(("b".into(), 0.5))
        );
        assert_eq!(vote(&s(&[None, None])), None);
        assert_eq!(
            field_confidence(&serde_json::json!({"confidence": 1.4}), "confidence"),
            Some(1.0)
        );
        assert_eq!(
            field_confidence(&serde_json::json!({"confidence": "high"}), "confidence"),
            None
        );
    }

    #[test]
    fn a_token_that_opens_the_value_competes_only_with_the_same_opening() {
        // ` "b` opens the value; ` 'b` and ` b` write something else before it.
        let tokens = vec![
            tok("{\"intent\":", 0.0, &[]),
            tok(
                " \"b",
                -1.0,
                &[(" \"b", -1.0), (" 'b", -0.1), (" b", -0.2), (" \"f", -1.0)],
            ),
            tok("ug\"}", 0.0, &[("ug\"}", 0.0)]),
        ];
        let l = labels(&["bug", "feature_request"]);
        let p = label_probability(&tokens, "intent", "bug", &l).unwrap();
        assert!((p - 0.5).abs() < 1e-12, "{p}");
        // Without any alternative there is nothing to weigh: no confidence.
        let bare: Vec<TokenLogprob> = tokens
            .iter()
            .map(|t| tok(&t.token, t.logprob, &[]))
            .collect();
        assert!(label_probability(&bare, "intent", "bug", &l).is_none());
        // The key as a value elsewhere is not the field.
        let tricky = vec![
            tok("{\"note\": \"intent\", \"intent\": \"", 0.0, &[]),
            tok("bug", -0.1, &[("bug", -0.1), ("feature_request", -0.1)]),
            tok("\"}", 0.0, &[("\"}", 0.0)]),
        ];
        let p = label_probability(&tricky, "intent", "bug", &l).unwrap();
        assert!((p - 0.5).abs() < 1e-12, "{p}");
    }
}
