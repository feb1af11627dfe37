//! Checks a project file before the YAML parser sees it: its size, its encoding and how deep
//! it nests. `gate` reads files from pull requests, and the parser's time grows with the
//! square of the nesting (`zz: [[[…]]]` 100,000 deep took 15 s), so a file that nests deeper
//! than any project needs is refused at once, at its line, as is a file that is not UTF-8
//! (with the line and column of its first bad byte) or larger than any project file should be.

use std::path::Path;

use super::problem::ConfigErrorKind;
use crate::diag::Diagnostic;

/// The largest project file (evalgate.yaml, a prompt, a judge) read.
pub const MAX_FILE_BYTES: usize = 4 << 20;

/// The deepest nesting of mappings and lists a project file may have.
pub const MAX_DEPTH: usize = 64;

/// The file's text, or why it cannot be read as a project file.
pub fn text(display: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ConfigErrorKind::FileTooLarge {
            bytes: bytes.len(),
            limit: MAX_FILE_BYTES,
        }
        .at(display, (0, 0)));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = bytes[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            // The column in characters, as editors count them.
            let col = String::from_utf8_lossy(&bytes[line_start..at])
                .chars()
                .count()
                + 1;
            return Err(ConfigErrorKind::NotUtf8 { byte: bytes[at] }.at(display, (line, col)));
        }
    };
    if let Some(line) = too_deep(&text, MAX_DEPTH) {
        return Err(ConfigErrorKind::TooDeep { max: MAX_DEPTH }.at(display, (line, 1)));
    }
    Ok(text)
}

/// Where JSON nests deeper than `max` (the byte offset of the bracket too many), if it does:
/// a request body is checked before it is parsed.
pub fn json_too_deep(bytes: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The first line where the YAML nests deeper than `max` (flow brackets and block
/// indentation together), if any. Quoted strings, comments and block scalars (`|`, `>`) are
/// text, not structure. An estimate that may count a level too many, never too few.
pub fn too_deep(text: &str, max: usize) -> Option<usize> {
    // Indentations of the open block levels.
    let mut block: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    // The indentation a block scalar's lines are deeper than, while in one.
    let mut scalar: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim();
        if let Some(at) = scalar {
            if content.is_empty() || indent > at {
                continue;
            }
            scalar = None;
        }
        let mut depth_here = 0;
        if quote.is_none() && flow == 0 && !content.is_empty() && !content.starts_with('#') {
            while block.last().is_some_and(|&b| b >= indent) {
                block.pop();
            }
            block.push(indent);
            // `- - x`: each dash opens a list inside the last.
            let mut rest = content;
            let mut dashes = 0;
            while let Some(r) = rest
                .strip_prefix("- ")
                .or_else(|| (rest == "-").then_some(""))
            {
                dashes += 1;
                rest = r.trim_start();
            }
            depth_here = block.len() + dashes;
        }
        let mut chars = line.chars().peekable();
        let mut prev = ' ';
        while let Some(c) = chars.next() {
            match quote {
                Some('\'') if c == '\'' => {
                    // '' is an escaped quote inside a single-quoted string.
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some('"') if c == '"' => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    '\'' | '"' if matches!(prev, ' ' | '[' | '{' | ',' | ':' | '-') => {
                        quote = Some(c)
                    }
                    '[' | '{' => flow += 1,
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
            if depth_here.max(block.len()) + flow > max {
                return Some(n + 1);
            }
        }
        if depth_here > max {
            return Some(n + 1);
        }
        // A block scalar starts after `key: |` or `- >-`.
        if quote.is_none() && flow == 0 {
            let tail = content
                .split(" #")
                .next()
                .unwrap_or("")
                .trim_end()
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
            if tail.ends_with(": |")
                || tail.ends_with(": >")
                || tail == "|"
                || tail == ">"
                || tail.ends_with("- |")
                || tail.ends_with("- >")
            {
                scalar = Some(indent);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_and_block_nesting_are_found_at_their_line() {
        let deep_flow = format!("a: 1\nzz: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        assert_eq!(too_deep(&deep_flow, MAX_DEPTH), Some(2));
        let mut deep_block = String::new();
        for i in 0..200 {
            deep_block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert_eq!(too_deep(&deep_block, MAX_DEPTH), Some(MAX_DEPTH + 1));
        let dashes = format!("x:\n  {}y\n", "- ".repeat(100));
        assert_eq!(too_deep(&dashes, MAX_DEPTH), Some(2));
        assert!(started.elapsed().as_secs() < 2);
    }

    #[test]
    fn ordinary_files_pass() {
        let text = "providers:\n  p: {kind: openai, base_url: 'http://x/[v1'}\nsuites:\n  s:\n    scorers:\n      - kind: regex\n        pattern: \"^[a-z{]+$\"   # a [ in a comment\n    prompt: |\n      {{{{{{ deep text }}}}}} [[[[[[[[\n          indented text\n    x: [1, [2, {a: [3]}]]\n";
        assert_eq!(too_deep(text, 8), None);
        assert_eq!(
            text_of(include_str!("../../evalgate.yaml")),
            None,
            "the example project passes"
        );
    }

    fn text_of(t: &str) -> Option<usize> {
        too_deep(t, MAX_DEPTH)
    }

    #[test]
    fn deep_json_is_found_and_strings_do_not_count() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(json_too_deep(deep.as_bytes(), 64), Some(64));
        let flat = r#"{"a": "[[[[[[[[[[[[[[[[[[[[[\"[[[[", "b": [[1], {"c": [2]}]}"#;
        assert_eq!(json_too_deep(flat.as_bytes(), 4), None);
        assert_eq!(json_too_deep(flat.as_bytes(), 3), Some(54));
    }

    #[test]
    fn a_bad_byte_is_found_at_its_line_and_column() {
        let mut bytes = b"a: 1\nb: caf".to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(b"\n");
        let d = text(Path::new("evalgate.yaml"), bytes).unwrap_err();
        assert_eq!((d.line, d.col), (2, 7));
        assert!(d.message.contains("0xff"), "{}", d.message);
        let big = vec![b'a'; MAX_FILE_BYTES + 1];
        assert!(
            text(Path::new("x.yaml"), big)
                .unwrap_err()
                .message
                .contains("over the limit")
        );
    }
}
