//! Small text helpers shared by messages and renderers.

/// At most `n` characters of `s`, with an ellipsis when it was cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_string()
    }
}

/// An integer with thousands separators: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn clips_on_characters_not_bytes() {
        assert_eq!(super::clip("héllo", 3), "hél…");
        assert_eq!(super::clip("abc", 3), "abc");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(1_234_567), "1,234,567");
        assert_eq!(super::thousands(999), "999");
    }
}
