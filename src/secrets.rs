//! Keeping secrets out of what evalgate writes. Every secret evalgate reads from the
//! environment (a provider's API key, the server's token) is remembered here when it is read,
//! and `redact` takes it out of any text before that text is stored, logged or rendered: a
//! provider that answers 401 with "Incorrect API key provided: sk-…" echoes the key, and the
//! message would otherwise reach the database, run files and reports. Strings shaped like
//! credentials (`Bearer …`, `sk-…`) are taken out too, whoever they belong to.

use std::sync::{Mutex, OnceLock};

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for (a one-character "key" would blank out
/// every occurrence of that character); the server refuses such tokens anyway.
const MIN_SECRET_LEN: usize = 6;

fn known() -> &'static Mutex<Vec<String>> {
    static KNOWN: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers a secret's value, so that `redact` takes it out of text from now on.
pub fn remember(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    if let Ok(mut known) = known().lock()
        && !known.iter().any(|k| k == secret)
    {
        known.push(secret.to_string());
        // Longest first: a secret that contains another is taken out whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// The text without any remembered secret and without credential-shaped strings.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(known) = known().lock() {
        for k in known.iter() {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), REDACTED);
            }
        }
    }
    let bearer = out
        .as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"bearer"));
    if !(bearer || out.contains("sk-")) {
        return out;
    }
    for re in shapes() {
        out = re.replace_all(&out, REDACTED_SHAPE).into_owned();
    }
    out
}

/// `$1` keeps what comes before the credential (`Bearer `).
const REDACTED_SHAPE: &str = "${1}[redacted]";

fn shapes() -> &'static [regex::Regex] {
    static SHAPES: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        [
            // An Authorization value: `Bearer <token>` (any case).
            r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{6,}",
            // OpenAI- and Anthropic-style keys: sk-…, sk-proj-…, sk-ant-….
            r"()\bsk-[A-Za-z0-9_\-]{8,}",
        ]
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_values_and_credential_shapes_are_taken_out() {
        remember("s3cret-value-42");
        remember("x");
        let text = "HTTP 401: Incorrect API key provided: s3cret-value-42. Header: Authorization: Bearer abcdef123456; other key sk-proj-AbC123dEf456GhI; x stays";
        let out = redact(text);
        assert!(!out.contains("s3cret-value-42"), "{out}");
        assert!(!out.contains("abcdef123456"), "{out}");
        assert!(!out.contains("sk-proj-AbC123dEf456GhI"), "{out}");
        assert!(out.contains("Bearer [redacted]"), "{out}");
        assert!(
            out.contains("x stays"),
            "a short value is not a secret: {out}"
        );
        assert_eq!(redact("nothing to hide"), "nothing to hide");
        assert_eq!(redact("a task-list and sk-"), "a task-list and sk-");
    }
}
