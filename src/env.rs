//! Every environment variable evalgate reads, documented once.
//!
//! Secrets (API keys) are read only here, only from the variable a provider names, and only
//! at the moment a request is built. They are never stored, logged or written to a file.

/// Database URL. Unset: SQLite at `.evalgate/evalgate.db` under the project root.
/// `postgres://…` selects PostgreSQL; `sqlite://…` another SQLite file.
pub const DATABASE_URL: &str = "EVALGATE_DATABASE_URL";

/// Disables colour in terminal output when set to anything (the `NO_COLOR` convention).
pub const NO_COLOR: &str = "NO_COLOR";

/// GitHub Actions' job summary file: `evalgate gate` appends its markdown summary to it.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// The bearer token `evalgate serve` requires on its POST endpoints. Required when the
/// server listens beyond loopback.
pub const SERVER_TOKEN: &str = "EVALGATE_SERVER_TOKEN";

/// Reads a secret from the environment variable a provider names, and remembers its value so
/// that no text evalgate writes carries it (`secrets::redact`).
pub fn secret(var: &str) -> Option<String> {
    let value = std::env::var(var).ok().filter(|v| !v.is_empty())?;
    crate::secrets::remember(&value);
    Some(value)
}

/// Reads a non-secret setting.
pub fn setting(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Test-only: when set, retries happen without waiting (the backoff and `Retry-After` are
/// computed but not slept), so fault-injection tests run fast and deterministically.
pub const NO_RETRY_DELAY: &str = "EVALGATE_NO_RETRY_DELAY";
