//! Finds where a key or a value sits in a block-style YAML file, for diagnostics raised
//! after parsing (a suite naming an unknown model, say). serde_yaml gives positions only for
//! its own errors, so cross-reference checks look the position up in the text instead.
//! When a key cannot be found, the nearest enclosing key found is used.

/// A position: 1-based line and column.
pub type Pos = (usize, usize);

/// A step of a path into a YAML document: a mapping key or a list index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Consecutive key steps joined back with dots (None when one of them is an index).
pub fn joined_keys(segs: &[Seg<'_>]) -> Option<String> {
    let mut out = String::new();
    for (k, seg) in segs.iter().enumerate() {
        let Seg::Key(key) = seg else { return None };
        if k > 0 {
            out.push('.');
        }
        out.push_str(key);
    }
    Some(out)
}

/// The steps of a serde error path (`scorers[1].tolerance`, `gates.metrics.pass_rate`).
pub fn parse_path(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(close) = inner.find(']') else { break };
            if let Ok(n) = inner[..close].parse() {
                out.push(Seg::Index(n));
            }
            rest = &inner[close + 1..];
        }
    }
    out
}

/// A block of lines: `[start, end)` with the indentation of the key that owns it.
#[derive(Clone, Copy)]
struct Block {
    start: usize,
    end: usize,
    indent: isize,
}

pub struct Locator<'a> {
    lines: Vec<&'a str>,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The text of a line after its indentation and an optional list dash, with the column
/// (0-based) where that text starts.
fn strip_item(line: &str) -> (usize, &str) {
    let indent = indent_of(line);
    let rest = &line[indent..];
    match rest.strip_prefix("- ") {
        Some(r) => {
            let extra = r.len() - r.trim_start().len();
            (indent + 2 + extra, r.trim_start())
        }
        None => (indent, rest),
    }
}

fn is_key(text: &str, key: &str) -> bool {
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|k| {
        text.starts_with(k.as_str())
            && (text.len() == k.len() || text[k.len()..].starts_with([' ', '\t']))
    })
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Locator {
            lines: text.lines().collect(),
        }
    }

    fn root(&self) -> Block {
        Block {
            start: 0,
            end: self.lines.len(),
            indent: -1,
        }
    }

    /// The block under the key found at line `i`.
    fn block_after(&self, i: usize, indent: usize) -> Block {
        let mut end = i + 1;
        while end < self.lines.len() {
            let l = self.lines[end];
            if is_content(l)
                && indent_of(l) <= indent
                && !(indent_of(l) == indent && l.trim_start().starts_with("- "))
            {
                break;
            }
            end += 1;
        }
        Block {
            start: i + 1,
            end,
            indent: indent as isize,
        }
    }

    fn find_key(&self, block: Block, key: &str) -> Option<(usize, usize)> {
        (block.start..block.end).find_map(|i| {
            let line = self.lines[i];
            if !is_content(line)
                || (indent_of(line) as isize) <= block.indent
                    && !line.trim_start().starts_with("- ")
            {
                return None;
            }
            let (col, text) = strip_item(line);
            is_key(text, key).then_some((i, col))
        })
    }

    /// The position of the key at `path` (or of the deepest prefix of it that exists).
    pub fn key(&self, path: &[&str]) -> Option<Pos> {
        let mut block = self.root();
        let mut found = None;
        for key in path {
            match self.find_key(block, key) {
                Some((i, col)) => {
                    found = Some((i + 1, col + 1));
                    block = self.block_after(i, col);
                    // A key's block includes its own line for inline values.
                    block.start = i;
                    block.indent = col as isize;
                }
                None => break,
            }
        }
        found
    }

    /// The position of `value` written under the key at `path` (a list item or an inline
    /// value), or of the key itself.
    pub fn value(&self, path: &[&str], value: &str) -> Option<Pos> {
        let (line, col) = self.key(path)?;
        let i = line - 1;
        let block = self.block_after(i, col - 1);
        for j in i..block.end.max(i + 1) {
            let l = self.lines[j];
            let search_from = if j == i {
                col - 1 + path.last().map_or(0, |k| k.len())
            } else {
                0
            };
            if let Some(pos) = find_word(&l[search_from.min(l.len())..], value) {
                return Some((j + 1, search_from + pos + 1));
            }
        }
        Some((line, col))
    }

    /// The position of list item `index` under the key at `path`.
    pub fn item(&self, path: &[&str], index: usize) -> Option<Pos> {
        let (line, col) = self.key(path)?;
        let block = self.block_after(line - 1, col - 1);
        let is_dash = |l: &str| l.trim_start().starts_with("- ") || l.trim() == "-";
        let first_indent = (block.start..block.end)
            .map(|j| self.lines[j])
            .find(|l| is_dash(l))
            .map(indent_of);
        let mut n = 0;
        for j in block.start..block.end {
            let l = self.lines[j];
            if is_dash(l) && Some(indent_of(l)) == first_indent {
                if n == index {
                    return Some((j + 1, indent_of(l) + 1));
                }
                n += 1;
            }
        }
        Some((line, col))
    }

    /// The position of `key` inside list item `index` under `path`.
    pub fn item_key(&self, path: &[&str], index: usize, key: &str) -> Option<Pos> {
        let (line, col) = self.item(path, index)?;
        let i = line - 1;
        let block = self.block_after(i, col - 1);
        let item_block = Block {
            start: i,
            end: block.end,
            indent: col as isize - 2,
        };
        match self.find_key(item_block, key) {
            Some((j, c)) => Some((j + 1, c + 1)),
            None => Some((line, col)),
        }
    }

    /// The position of the key or list item at the end of `path` (keys and list indexes, as
    /// in serde's error paths: `suites.a.scorers[1].field`), or of the deepest part of it
    /// that exists.
    pub fn path(&self, path: &[Seg<'_>]) -> Option<Pos> {
        let mut block = self.root();
        let mut found = None;
        let mut i = 0;
        while i < path.len() {
            match path[i] {
                Seg::Key(_) => {
                    // A key may hold dots (`scorer.faithful`), which the path split: the
                    // shortest run of parts that names a key wins.
                    let Some((used, (line, col))) = (i..path.len())
                        .map_while(|j| joined_keys(&path[i..=j]).map(|k| (j, k)))
                        .find_map(|(j, k)| self.find_key(block, &k).map(|at| (j - i + 1, at)))
                    else {
                        break;
                    };
                    found = Some((line + 1, col + 1));
                    block = self.block_after(line, col);
                    block.start = line;
                    block.indent = col as isize;
                    i += used;
                }
                Seg::Index(n) => match self.nth_item(block, n) {
                    Some(item) => {
                        found = Some((item.start + 1, (item.indent + 2).max(1) as usize));
                        block = item;
                        i += 1;
                    }
                    None => break,
                },
            }
        }
        found
    }

    /// List item `n` of a block: its lines, from its dash to the next item at the same
    /// indentation (or the end of the list), with an indentation that lets `find_key` see
    /// the keys written after the dash.
    fn nth_item(&self, block: Block, n: usize) -> Option<Block> {
        let is_dash = |l: &str| l.trim_start().starts_with("- ") || l.trim() == "-";
        let dash_indent = (block.start..block.end)
            .map(|j| self.lines[j])
            .find(|l| is_dash(l) && indent_of(l) as isize >= block.indent)
            .map(indent_of)?;
        let starts: Vec<usize> = (block.start..block.end)
            .filter(|&j| is_dash(self.lines[j]) && indent_of(self.lines[j]) == dash_indent)
            .collect();
        let start = *starts.get(n)?;
        let mut end = start + 1;
        while end < block.end {
            let l = self.lines[end];
            if is_content(l) && indent_of(l) <= dash_indent {
                break;
            }
            end += 1;
        }
        Some(Block {
            start,
            end,
            indent: dash_indent as isize - 1,
        })
    }

    /// The first occurrence of `word` (as a whole word) at or after `line`, within 200 lines.
    pub fn word_after(&self, line: usize, word: &str) -> Option<Pos> {
        let start = line.saturating_sub(1);
        (start..self.lines.len().min(start + 200))
            .find_map(|i| find_word(self.lines[i], word).map(|c| (i + 1, c + 1)))
    }

    /// Where the text of a string value starts: the line after `key: |` for a block scalar,
    /// or the same line for an inline one. Returns (line, column) of the first character.
    pub fn scalar_start(&self, key_pos: Pos) -> Pos {
        let (line, col) = key_pos;
        let l = self.lines.get(line - 1).copied().unwrap_or("");
        let after = l[(col - 1).min(l.len())..]
            .split_once(':')
            .map(|(_, v)| v)
            .unwrap_or("");
        let v = after.trim();
        if v.starts_with('|') || v.starts_with('>') || v.is_empty() {
            let next = self.lines.get(line).copied().unwrap_or("");
            (line + 1, indent_of(next) + 1)
        } else {
            let offset = l.len() - after.trim_start().len();
            let quote = usize::from(v.starts_with('"') || v.starts_with('\''));
            (line, offset + quote + 1)
        }
    }
}

fn find_word(haystack: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = haystack[from..].find(word) {
        let start = from + pos;
        let end = start + word.len();
        let ok_before = haystack[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '-');
        let ok_after = haystack[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '-');
        if ok_before && ok_after {
            return Some(start);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# comment
providers:
  local:
    kind: openai
suites:
  a:
    prompt: p1
    models: [m1, m2]
    scorers:
      - kind: contract
      - kind: json_field
        field: intent
  b:
    prompt: p2
    models:
      - m3
      - m4
";

    #[test]
    fn finds_keys_values_and_items() {
        let l = Locator::new(TEXT);
        assert_eq!(l.key(&["providers", "local", "kind"]), Some((4, 5)));
        assert_eq!(l.key(&["suites", "b", "prompt"]), Some((14, 5)));
        assert_eq!(l.value(&["suites", "a", "models"], "m2"), Some((8, 18)));
        assert_eq!(l.value(&["suites", "b", "models"], "m4"), Some((17, 9)));
        assert_eq!(l.item(&["suites", "a", "scorers"], 1), Some((11, 7)));
        assert_eq!(
            l.item_key(&["suites", "a", "scorers"], 1, "field"),
            Some((12, 9))
        );
        // A missing key falls back to the deepest key found.
        assert_eq!(l.key(&["suites", "a", "nope"]), Some((6, 3)));
    }

    #[test]
    fn follows_paths_of_keys_and_list_items() {
        let l = Locator::new(TEXT);
        let at = |p: &str| {
            let mut segs = vec![Seg::Key("suites")];
            segs.extend(parse_path(p));
            l.path(&segs)
        };
        assert_eq!(at("a.scorers[1]"), Some((11, 7)));
        assert_eq!(at("a.scorers[1].field"), Some((12, 9)));
        assert_eq!(at("a.scorers[0].kind"), Some((10, 9)));
        assert_eq!(at("a.scorers[1].kind"), Some((11, 9)));
        assert_eq!(at("b.models[1]"), Some((17, 7)));
        // Missing parts fall back to the deepest part found.
        assert_eq!(at("a.scorers[5].field"), Some((9, 5)));
        assert_eq!(at("a.nope"), Some((6, 3)));
        assert_eq!(
            parse_path("x.tiers[2].proxy.pool"),
            [
                Seg::Key("x"),
                Seg::Key("tiers"),
                Seg::Index(2),
                Seg::Key("proxy"),
                Seg::Key("pool")
            ]
        );
    }

    #[test]
    fn finds_where_a_block_scalar_starts() {
        let text = "messages:\n  - role: user\n    content: |\n      Hello {{ x }}\n";
        let l = Locator::new(text);
        let key = l.item_key(&["messages"], 0, "content").unwrap();
        assert_eq!(key, (3, 5));
        assert_eq!(l.scalar_start(key), (4, 7));
        let inline = Locator::new("messages:\n  - role: user\n    content: \"Hi {{ x\"\n");
        let key = inline.item_key(&["messages"], 0, "content").unwrap();
        assert_eq!(inline.scalar_start(key), (3, 15));
    }
}
