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
//! The same scan notes where flow collections first nest deeper than the
//! tree's depth cap: the parser refuses flow nesting past 255 levels
//! before producing any event, so only this scan can say where the depth
//! cap was crossed.
//!
//! Owns that scan only. It errs on the side of not finding a collection:
//! `[` or `{` counts only where a node can start (anchors and tags before
//! it are looked through), quotes are skipped, block scalars (`|`, `>`)
//! are skipped by indentation, and lines end where the parser ends them
//! (`\n`, `\r\n` or a lone `\r`). Must not judge anything else about
//! the YAML.

use super::yaml::{Pos, Source};

/// Longest flow collection accepted, in bytes.
pub const MAX_FLOW_BYTES: usize = 128 << 10;

/// What the scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flows {
    /// Where the first over-long flow collection starts.
    pub too_long: Option<Pos>,
    /// The first `[` or `{` nested more than `max_depth` flow levels deep
    /// (before any over-long collection).
    pub too_deep: Option<Pos>,
}

/// Scan for over-long collections and for flow nesting past `max_depth`.
/// Stops at the first over-long collection.
pub fn scan(text: &str, max_depth: usize) -> Flows {
    let mut found = Flows::default();
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
            // A lone `\r` ends a line for the parser too; if this scan
            // missed it, a comment could hide a collection from it.
            b'\n' | b'\r' => {
                at_line_start = true;
                prev = b'\n';
                i += 1;
                continue;
            }
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') => {
                i = next_line(b, i);
                at_line_start = true;
                prev = b'\n';
                continue;
            }
            // An anchor or a tag belongs to the node after it, which may
            // be a collection: skip it and leave `prev` as it was.
            b'&' | b'!' if node_start(prev) => {
                i = skip_property(b, i);
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
                if depth > max_depth && found.too_deep.is_none() {
                    found.too_deep = Some(pos_of(text, i));
                }
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
            }
            _ => {}
        }
        if depth > 0 && i - start > MAX_FLOW_BYTES {
            found.too_long = Some(pos_of(text, start));
            return found;
        }
        prev = c;
        i += 1;
    }
    found
}

/// Whether a node may start after this byte.
fn node_start(prev: u8) -> bool {
    matches!(prev, b'\n' | b'[' | b'{' | b',' | b':' | b'-' | b'?')
}

/// Past the next line break (`\n` or `\r`; the `\n` of a `\r\n` then
/// reads as a blank line).
fn next_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(b.len(), |p| i + p + 1)
}

/// Past the anchor (`&name`) or tag (`!name`) starting at `i`: up to the
/// next blank or flow indicator.
fn skip_property(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|c| {
            matches!(
                c,
                b' ' | b'\t' | b'\n' | b'\r' | b',' | b'[' | b']' | b'{' | b'}'
            )
        })
        .map_or(b.len(), |p| i + p)
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
    Source::pos_of_byte(text.as_bytes(), byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_long_flow(text: &str) -> Option<Pos> {
        scan(text, usize::MAX).too_long
    }

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
    fn a_lone_carriage_return_ends_a_comment() {
        // The parser ends the comment at `\r`; so must the scan, or the
        // list after it escapes the length check.
        let text = format!("a: 1\r# c\r{}\r", long_list(20_000));
        assert_eq!(first_long_flow(&text), Some(Pos { line: 3, col: 1 }));
        let crlf = format!("a: 1\r\n# c\r\nb: {}\r\n", long_list(20_000));
        assert_eq!(first_long_flow(&crlf), Some(Pos { line: 3, col: 4 }));
    }

    #[test]
    fn anchors_and_tags_do_not_hide_a_collection() {
        // Missed, the parser would hold ~470 MB of tokens for a 4 MiB list.
        for prefix in ["&a ", "!t ", "!!seq ", "&a !t ", "a: &a ", "- !t "] {
            let text = format!("{prefix}{}\n", long_list(20_000));
            let col = prefix.len() + 1;
            assert_eq!(
                first_long_flow(&text),
                Some(Pos { line: 1, col }),
                "{prefix:?}"
            );
        }
        // `&` and `!` inside a plain scalar are text.
        let text = format!("a: b&c !d\nvars: [{}]\n", "x, ".repeat(10));
        assert_eq!(first_long_flow(&text), None);
    }

    #[test]
    fn deep_flow_nesting_is_found_at_the_level_past_the_cap() {
        let text = format!("a:\n  b: {}{}\n", "[".repeat(300), "]".repeat(300));
        let found = scan(&text, 64);
        assert_eq!(
            found.too_deep,
            Some(Pos {
                line: 2,
                col: 6 + 64
            })
        );
        assert_eq!(found.too_long, None);
        assert_eq!(scan("a: [[1], {b: [2]}]\n", 64).too_deep, None);
        // Brackets in quoted text are not nesting.
        let quoted = format!("a: \"{}\"\n", "[".repeat(300));
        assert_eq!(scan(&quoted, 64).too_deep, None);
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
