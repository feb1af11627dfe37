//! Small text helpers shared by messages and renderers.

/// At most `n` characters of `s`, with an ellipsis when it was cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clips_on_characters_not_bytes() {
        assert_eq!(super::clip("héllo", 3), "hél…");
        assert_eq!(super::clip("abc", 3), "abc");
    }
}
