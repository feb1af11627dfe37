//! Content hashes of normalized inputs (prompts, datasets, requests) and their short form.
//!
//! Every version in evalgate is a SHA-256 of normalized content, stored in full and shown
//! short like a git hash. Normalization removes what an editor or an operating system may
//! change without changing meaning: CR before LF and trailing whitespace on a line.

use sha2::{Digest, Sha256};

/// Number of hex digits shown for a version or a hash.
pub const SHORT_LEN: usize = 8;

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Normalizes text before hashing: LF line endings, no trailing whitespace on any line,
/// no trailing blank lines.
pub fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    out
}

/// Hash of a JSON value in canonical form (object keys sorted, no insignificant whitespace).
/// `serde_json::Value` keeps objects in a `BTreeMap`, so serializing it is canonical.
pub fn json_hash(value: &serde_json::Value) -> String {
    sha256_hex(value.to_string().as_bytes())
}

/// The short display form of a full hash.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(SHORT_LEN)]
}

/// An incremental hasher for content read line by line (a large dataset).
#[derive(Default)]
pub struct LineHasher {
    inner: Sha256,
}

impl LineHasher {
    /// Adds one line (without its terminator). Blank lines do not change the hash.
    pub fn add_line(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        self.inner.update(line.as_bytes());
        self.inner.update(b"\n");
    }

    pub fn finish(self) -> String {
        let digest = self.inner.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_ignores_crlf_and_trailing_space() {
        assert_eq!(normalize_text("a  \r\nb\r\n\n"), "a\nb");
        assert_eq!(normalize_text("a\nb"), "a\nb");
    }

    #[test]
    fn sha256_of_empty_string_is_the_known_value() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn line_hasher_ignores_blank_lines_and_crlf() {
        let mut a = LineHasher::default();
        a.add_line("x");
        a.add_line("");
        a.add_line("y\r");
        let mut b = LineHasher::default();
        b.add_line("x");
        b.add_line("y");
        assert_eq!(a.finish(), b.finish());
    }
}
