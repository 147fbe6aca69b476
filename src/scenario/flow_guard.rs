//! A pre-parse guard against very long flow collections (`[...]`, `{...}`).
//!
//! The YAML parser cannot tell whether a flow collection is a mapping key
//! until it has read to its end, so it tokenizes the whole collection
//! before producing any event, holding every token in memory (about 170
//! bytes per input byte). A 4 MiB one-line list would cost ~700 MB and most
//! of a second. This module finds each outermost flow collection with a
//! light byte scan and refuses one that spans more than
//! [`MAX_FLOW_BYTES`]; long lists belong in block style or a CSV feeder.
//!
//! Owns that scan only. It errs on the side of not finding a collection:
//! `[` or `{` counts only where a node can start, quotes are skipped, and
//! block scalars (`|`, `>`) are skipped by indentation. Must not judge
//! anything else about the YAML.

use super::yaml::Pos;

/// Longest flow collection accepted, in bytes.
pub const MAX_FLOW_BYTES: usize = 128 << 10;

/// Where the first over-long flow collection starts, if any.
pub fn first_long_flow(text: &str) -> Option<Pos> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    let mut start = 0usize;
    // The previous significant byte (`\n` at the start of a line).
    let mut prev = b'\n';
    let mut line_indent = 0usize;
    let mut at_line_start = true;
    // Inside a block scalar: skip lines indented more than this.
    let mut block_parent: Option<usize> = None;
    while i < b.len() {
        if at_line_start {
            let indent = b[i..].iter().take_while(|&&c| c == b' ').count();
            let rest = &b[i + indent..];
            let blank = rest.first().is_none_or(|&c| c == b'\n' || c == b'\r');
            if let Some(parent) = block_parent {
                if blank || indent > parent {
                    i = next_line(b, i);
                    continue;
                }
                block_parent = None;
            }
            line_indent = indent;
            at_line_start = false;
            i += indent;
            continue;
        }
        let c = b[i];
        match c {
            b'\n' => {
                at_line_start = true;
                prev = b'\n';
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n') => {
                i = next_line(b, i);
                at_line_start = true;
                prev = b'\n';
                continue;
            }
            b'"' | b'\'' if node_start(prev) => {
                i = skip_quoted(b, i);
                prev = c;
                continue;
            }
            b'|' | b'>' if depth == 0 && node_start(prev) => {
                block_parent = Some(line_indent);
                i = next_line(b, i);
                at_line_start = true;
                prev = b'\n';
                continue;
            }
            b'[' | b'{' if depth > 0 || node_start(prev) => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
            }
            _ => {}
        }
        if depth > 0 && i - start > MAX_FLOW_BYTES {
            return Some(pos_of(text, start));
        }
        prev = c;
        i += 1;
    }
    None
}

/// Whether a node may start after this byte.
fn node_start(prev: u8) -> bool {
    matches!(prev, b'\n' | b'[' | b'{' | b',' | b':' | b'-' | b'?')
}

fn next_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p + 1)
}

/// Past the closing quote of the quoted scalar starting at `i`.
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if q == b'"' => j += 2,
            c if c == q => {
                if q == b'\'' && b.get(j + 1) == Some(&b'\'') {
                    j += 2;
                } else {
                    return j + 1;
                }
            }
            _ => j += 1,
        }
    }
    b.len()
}

fn pos_of(text: &str, byte: usize) -> Pos {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    Pos {
        line,
        col: before[line_start..].chars().count() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_list(items: usize) -> String {
        let body: Vec<String> = (0..items).map(|i| format!("sku-{i}")).collect();
        format!("[{}]", body.join(", "))
    }

    #[test]
    fn long_flow_lists_are_found_where_they_start() {
        let text = format!("name: x\nvars:\n  skus: {}\n", long_list(20_000));
        assert_eq!(first_long_flow(&text), Some(Pos { line: 3, col: 9 }));
        assert_eq!(
            first_long_flow(&long_list(20_000)),
            Some(Pos { line: 1, col: 1 })
        );
    }

    #[test]
    fn ordinary_files_pass() {
        assert_eq!(first_long_flow(&format!("a: {}\n", long_list(100))), None);
        let block: String = (0..20_000).map(|i| format!("- sku-{i}\n")).collect();
        assert_eq!(first_long_flow(&block), None);
        // Braces inside plain and quoted scalars are text.
        let holes = "get: /api/{{ seq() }}\n".repeat(10_000);
        assert_eq!(first_long_flow(&holes), None);
        let quoted = format!("a: \"[{}\"\nb: '[it''s'\n", "x".repeat(200_000));
        assert_eq!(first_long_flow(&quoted), None);
        // A block scalar's text is skipped by indentation.
        let body = format!(
            "body: |\n  [ not a list\n{}\nc: [1]\n",
            "  text\n".repeat(30_000)
        );
        assert_eq!(first_long_flow(&body), None);
        // A comment is not a list.
        let comment = format!("# [{}\na: 1\n", "x".repeat(200_000));
        assert_eq!(first_long_flow(&comment), None);
    }
}
