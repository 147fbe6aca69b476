//! A small YAML node tree that remembers where every node came from.
//!
//! Owns turning text into maps, lists and scalars with their positions, using
//! `saphyr-parser`'s events, and defending against hostile input: a nesting
//! depth cap, a budget on nodes and scalar bytes that counts alias
//! expansions (so an alias bomb is refused early, with bounded memory), one
//! document per file, no duplicate keys. Must not know what a scenario is:
//! scalars stay text, typing is the validator's job.

use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

use super::diagnostic::{index, join};
use super::flow_guard;

/// Deepest nesting of maps and lists accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may expand to, aliases included. Far above any
/// hand-written scenario; it bounds the work validation can be made to do.
pub const MAX_NODES: usize = 200_000;
/// Most scalar bytes a document may expand to, aliases included.
pub const MAX_SCALAR_BYTES: usize = 16 << 20;

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn of(m: Marker) -> Pos {
        Pos {
            line: m.line().max(1),
            col: m.col() + 1,
        }
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>` block scalars.
    Block,
}

/// One node. Cloning is cheap: children and text are shared, which is
/// how an alias re-uses its anchor without copying it.
#[derive(Debug, Clone)]
pub struct Node {
    pub start: Pos,
    /// End of the node (exclusive); used to find characters inside scalars.
    pub end: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar { text: Rc<str>, style: Style },
    Seq(Rc<[Node]>),
    Map(Rc<[Entry]>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Rc<str>,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    /// A short description for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Map(_) => "a map".into(),
            Kind::Seq(_) => "a list".into(),
            Kind::Scalar { text, style } if text.is_empty() && *style == Style::Plain => {
                "nothing".into()
            }
            Kind::Scalar { text, .. } => {
                let short: String = text.chars().take(40).collect();
                if short.len() < text.len() {
                    format!("`{short}…`")
                } else {
                    format!("`{short}`")
                }
            }
        }
    }

    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Where the character at `offset` (a byte offset into the scalar's
    /// value) sits in the file. Exact for single-line plain and quoted
    /// scalars; other nodes answer with their start.
    pub fn pos_in_scalar(&self, src: &Source<'_>, offset: usize) -> Pos {
        let Kind::Scalar { text, style } = &self.kind else {
            return self.start;
        };
        if self.start.line != self.end.line || *style == Style::Block {
            return self.start;
        }
        let Some(raw) = src.slice(self.start, self.end) else {
            return self.start;
        };
        let value_chars = text.get(..offset).map_or(0, |s| s.chars().count());
        let skipped = match style {
            Style::Plain => {
                // The span may start at an anchor or tag before the value.
                let total = text.chars().count();
                raw.chars().count().saturating_sub(total) + value_chars
            }
            Style::SingleQuoted | Style::DoubleQuoted => {
                let single = *style == Style::SingleQuoted;
                let quote = if single { '\'' } else { '"' };
                let mut chars = raw.chars().peekable();
                let mut i = 0;
                // Up to and including the opening quote.
                for c in chars.by_ref() {
                    i += 1;
                    if c == quote {
                        break;
                    }
                }
                // Each value character is one raw character, or an escape.
                for _ in 0..value_chars {
                    let Some(c) = chars.next() else { break };
                    let extra = match (single, c, chars.peek()) {
                        (true, '\'', Some('\'')) => 1,
                        (false, '\\', Some('x')) => 3,
                        (false, '\\', Some('u')) => 5,
                        (false, '\\', Some('U')) => 9,
                        (false, '\\', Some(_)) => 1,
                        _ => 0,
                    };
                    for _ in 0..extra {
                        chars.next();
                    }
                    i += 1 + extra;
                }
                i
            }
            Style::Block => 0,
        };
        Pos {
            line: self.start.line,
            col: self.start.col + skipped,
        }
    }
}

/// Byte offsets where lines start after the first, counting line breaks
/// as YAML does: `\n`, `\r\n` and a lone `\r`. The parser numbers lines
/// this way, so every position computed from the text must too, or a file
/// saved with old Mac line endings gets columns past the end of its lines.
pub fn line_starts(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.iter().enumerate().filter_map(|(i, &b)| {
        let breaks = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
        breaks.then_some(i + 1)
    })
}

/// The file's text with an index of line starts, to map positions back to
/// bytes.
pub struct Source<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(line_starts(text.as_bytes()));
        Source {
            text,
            line_starts: starts,
        }
    }

    fn byte_of(&self, p: Pos) -> Option<usize> {
        let start = *self.line_starts.get(p.line.checked_sub(1)?)?;
        let end = self.text[start..]
            .find(['\n', '\r'])
            .map_or(self.text.len(), |i| start + i);
        let line = &self.text[start..end];
        let mut chars = line.char_indices();
        let off = match chars.nth(p.col.checked_sub(1)?) {
            Some((i, _)) => i,
            None => line.len(),
        };
        Some(start + off)
    }

    /// The text between two positions on one line.
    fn slice(&self, from: Pos, to: Pos) -> Option<&'a str> {
        let (a, b) = (self.byte_of(from)?, self.byte_of(to)?);
        self.text.get(a..b)
    }

    /// The position of a byte offset (used for invalid UTF-8 and the like).
    pub fn pos_of_byte(bytes: &[u8], offset: usize) -> Pos {
        let before = &bytes[..offset.min(bytes.len())];
        // A `\r` just before `offset` may be the first half of a `\r\n`.
        let starts = line_starts(bytes).take_while(|&s| s <= before.len());
        let (breaks, line_start) = starts.fold((0, 0), |(n, _), s| (n + 1, s));
        let col = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Pos {
            line: breaks + 1,
            col,
        }
    }
}

/// A problem found while building the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub pos: Pos,
    /// Field path of the node concerned (empty when unknown).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

fn issue(m: Marker, path: &str, message: impl Into<String>, hint: Option<&str>) -> Issue {
    Issue {
        pos: Pos::of(m),
        path: path.to_owned(),
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

fn too_deep(pos: Pos, path: &str) -> Issue {
    Issue {
        pos,
        path: path.to_owned(),
        message: format!("nesting is deeper than {MAX_DEPTH} levels"),
        hint: Some("a scenario needs a few levels of maps and lists, never this many".into()),
    }
}

/// A hint for the parser's most common complaints.
fn syntax_hint(info: &str) -> Option<&'static str> {
    if info.contains("tab") || info.contains("cannot start any token") {
        Some(
            "YAML indents with spaces, never tabs; quote values that start with `@` or a backquote",
        )
    } else if info.contains("flow") {
        Some("a `{` or `[` above may be missing its closing bracket, or a value needs quotes")
    } else if info.contains("mapping values are not allowed") {
        Some("quote values that contain `: `")
    } else if info.contains("indentation") || info.contains("did not find expected") {
        Some("check the indentation: items of one map or list line up")
    } else {
        None
    }
}

/// The result of reading a document: the tree (`None` for an empty file)
/// and the problems that did not stop reading (duplicate keys, tags).
#[derive(Debug)]
pub struct Document {
    pub root: Option<Node>,
    pub issues: Vec<Issue>,
}

/// Read one YAML document. `Err` is a problem after which nothing else in
/// the file can be trusted (syntax, size, depth, a second document).
pub fn parse(text: &str) -> Result<Document, Issue> {
    let flows = flow_guard::scan(text, MAX_DEPTH);
    if let Some(pos) = flows.too_long {
        return Err(Issue {
            pos,
            path: String::new(),
            message: format!(
                "this `[...]` or `{{...}}` collection is longer than {} KiB",
                flow_guard::MAX_FLOW_BYTES >> 10
            ),
            hint: Some(
                "write long lists one `- item` per line, or put the data in a CSV feeder".into(),
            ),
        });
    }
    let end = EndOfText::of(text);
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| {
            let marker = end.clamp(*e.marker());
            let info = e.info();
            // The parser's own flow-depth limit (255) trips before our
            // cap would see an event: say it our way, at the level that
            // crossed our cap.
            if info.contains("recursion limit") {
                let at = flows.too_deep.unwrap_or_else(|| Pos::of(marker));
                return too_deep(at, "");
            }
            issue(
                marker,
                "",
                format!("invalid YAML: {info}"),
                syntax_hint(info),
            )
        })?;
        match ev {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(issue(
                        span.start,
                        "",
                        "a scenario file holds one YAML document, and a second one starts here",
                        Some("remove the `---` line, or split the file in two"),
                    ));
                }
            }
            Event::StreamEnd => break,
            ev => b.event(ev, end.clamp(span.start), end.clamp(span.end))?,
        }
    }
    Ok(Document {
        root: b.root,
        issues: b.issues,
    })
}

/// Where the text ends, as a parser marker. The parser places the end of
/// a file without a final line break on the line after the last one;
/// positions are pulled back to the last character's end, so every
/// diagnostic points at a place the file has.
struct EndOfText {
    index: usize,
    line: usize,
    /// 0-based, as markers count columns.
    col: usize,
}

impl EndOfText {
    fn of(text: &str) -> EndOfText {
        let (lines, last) = line_starts(text.as_bytes()).fold((1, 0), |(n, _), s| (n + 1, s));
        EndOfText {
            index: text.chars().count(),
            line: lines,
            col: text[last..].chars().count(),
        }
    }

    fn clamp(&self, m: Marker) -> Marker {
        if (m.line(), m.col()) > (self.line, self.col) {
            Marker::new(self.index, self.line, self.col)
        } else {
            m
        }
    }
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// Index of each key in `entries`, for duplicate detection.
        seen: HashMap<Rc<str>, usize>,
        /// The key waiting for its value: `Some(None)` for a key that was
        /// not plain text (reported, its entry dropped).
        key: Option<Option<(Rc<str>, Pos)>>,
    },
}

struct Frame {
    kind: FrameKind,
    path: String,
    start: Marker,
    anchor: usize,
    nodes_at_start: usize,
    bytes_at_start: usize,
}

#[derive(Default)]
struct Builder {
    frames: Vec<Frame>,
    root: Option<Node>,
    issues: Vec<Issue>,
    /// Anchored nodes with what expanding them costs (nodes, bytes).
    anchors: HashMap<usize, (Node, usize, usize)>,
    nodes: usize,
    bytes: usize,
}

impl Builder {
    /// Field path of the node about to be attached.
    fn child_path(&self) -> String {
        let Some(frame) = self.frames.last() else {
            return String::new();
        };
        match &frame.kind {
            FrameKind::Seq(items) => index(&frame.path, items.len()),
            FrameKind::Map {
                key: Some(Some((k, _))),
                ..
            } => join(&frame.path, k),
            FrameKind::Map { .. } => frame.path.clone(),
        }
    }

    fn charge(&mut self, at: Marker, nodes: usize, bytes: usize) -> Result<(), Issue> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES || self.bytes > MAX_SCALAR_BYTES {
            return Err(issue(
                at,
                &self.child_path(),
                format!(
                    "the document expands to more than {MAX_NODES} nodes or {} MiB of text",
                    MAX_SCALAR_BYTES >> 20
                ),
                Some("aliases (`*name`) count once per use; an alias bomb looks like this"),
            ));
        }
        Ok(())
    }

    fn event(&mut self, ev: Event<'_>, start: Marker, end: Marker) -> Result<(), Issue> {
        let is_seq = matches!(ev, Event::SequenceStart(..));
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                if tag.is_some() {
                    self.issues.push(issue(
                        start,
                        &self.child_path(),
                        "YAML tags (`!something`) are not supported",
                        Some("remove the tag; quote the value if it must stay text"),
                    ));
                }
                self.charge(start, 1, text.len())?;
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                let node = Node {
                    start: Pos::of(start),
                    end: Pos::of(end),
                    kind: Kind::Scalar {
                        text: Rc::from(text.as_ref()),
                        style,
                    },
                };
                if anchor > 0 {
                    let bytes = node.as_scalar().map_or(0, str::len);
                    self.anchors.insert(anchor, (node.clone(), 1, bytes));
                }
                self.attach(node);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let path = self.child_path();
                if tag.is_some() {
                    self.issues.push(issue(
                        start,
                        &path,
                        "YAML tags (`!something`) are not supported",
                        Some("remove the tag"),
                    ));
                }
                if self.frames.len() >= MAX_DEPTH {
                    return Err(too_deep(Pos::of(start), &path));
                }
                self.charge(start, 1, 0)?;
                let kind = if is_seq {
                    FrameKind::Seq(Vec::new())
                } else {
                    FrameKind::Map {
                        entries: Vec::new(),
                        seen: HashMap::new(),
                        key: None,
                    }
                };
                self.frames.push(Frame {
                    kind,
                    path,
                    start,
                    anchor,
                    nodes_at_start: self.nodes - 1,
                    bytes_at_start: self.bytes,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.frames.pop() else {
                    return Ok(());
                };
                let kind = match frame.kind {
                    FrameKind::Seq(items) => Kind::Seq(items.into()),
                    FrameKind::Map { entries, .. } => Kind::Map(entries.into()),
                };
                let node = Node {
                    start: Pos::of(frame.start),
                    end: Pos::of(end),
                    kind,
                };
                if frame.anchor > 0 {
                    let nodes = self.nodes - frame.nodes_at_start;
                    let bytes = self.bytes - frame.bytes_at_start;
                    self.anchors
                        .insert(frame.anchor, (node.clone(), nodes, bytes));
                }
                self.attach(node);
            }
            Event::Alias(id) => {
                let Some(&(_, nodes, bytes)) = self.anchors.get(&id) else {
                    return Err(issue(
                        start,
                        &self.child_path(),
                        "this alias refers to a node that contains it",
                        Some("an anchored node can't include itself"),
                    ));
                };
                // Charge the full expansion: validation walks every copy.
                self.charge(start, nodes, bytes)?;
                let Some((node, _, _)) = self.anchors.get(&id) else {
                    return Ok(());
                };
                let mut node = node.clone(); // shares the anchor's children
                                             // Point at the alias: that is where the value is used.
                node.start = Pos::of(start);
                node.end = Pos::of(end);
                self.attach(node);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// Hang a finished node on its parent.
    fn attach(&mut self, node: Node) {
        let Some(frame) = self.frames.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, seen, key } => match key.take() {
                None => {
                    *key = Some(match node.kind {
                        Kind::Scalar { text, .. } => Some((text, node.start)),
                        _ => {
                            self.issues.push(Issue {
                                pos: node.start,
                                path: frame.path.clone(),
                                message: "map keys must be plain text".into(),
                                hint: None,
                            });
                            None
                        }
                    });
                }
                Some(None) => {}
                Some(Some((k, key_pos))) => {
                    if let Some(&first) = seen.get(&k) {
                        let first_line = entries[first].key_pos.line;
                        self.issues.push(Issue {
                            pos: key_pos,
                            path: join(&frame.path, &k),
                            message: format!("duplicate key `{k}`"),
                            hint: Some(format!("`{k}` is first set on line {first_line}")),
                        });
                    } else {
                        seen.insert(Rc::clone(&k), entries.len());
                        entries.push(Entry {
                            key: k,
                            key_pos,
                            value: node,
                        });
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).unwrap().root.unwrap()
    }

    #[test]
    fn maps_keep_key_and_value_positions() {
        let n = root("a: 1\nb:\n  - x\n  - 'y'\n");
        let Kind::Map(entries) = &n.kind else {
            panic!("not a map")
        };
        assert_eq!(&*entries[1].key, "b");
        assert_eq!(entries[1].key_pos, Pos { line: 2, col: 1 });
        let Kind::Seq(items) = &entries[1].value.kind else {
            panic!("not a list")
        };
        assert_eq!(items[1].start, Pos { line: 4, col: 5 });
        assert_eq!(items[1].as_scalar(), Some("y"));
    }

    #[test]
    fn positions_inside_scalars_follow_quotes_and_escapes() {
        let text = "a: x {{ y }}\nb: \"\\t{{ y }}\"\nc: 'it''s {{ y }}'\nd: &k v{{ y }}\n";
        let src = Source::new(text);
        let n = root(text);
        let Kind::Map(e) = &n.kind else { panic!() };
        let at = |i: usize| {
            let t = e[i].value.as_scalar().unwrap();
            e[i].value.pos_in_scalar(&src, t.find("{{").unwrap())
        };
        assert_eq!(at(0), Pos { line: 1, col: 6 });
        assert_eq!(at(1), Pos { line: 2, col: 7 });
        assert_eq!(at(2), Pos { line: 3, col: 11 });
        assert_eq!(at(3), Pos { line: 4, col: 8 });
    }

    #[test]
    fn duplicate_keys_are_reported_and_the_first_kept() {
        let doc = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(doc.issues.len(), 1);
        assert_eq!(doc.issues[0].pos, Pos { line: 3, col: 1 });
        assert_eq!(doc.issues[0].message, "duplicate key `a`");
        assert_eq!(doc.issues[0].path, "a");
        let Kind::Map(e) = doc.root.unwrap().kind else {
            panic!()
        };
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].value.as_scalar(), Some("1"));
    }

    #[test]
    fn aliases_expand_and_count_against_the_budget() {
        let n = root("a: &x [1, 2]\nb: *x\n");
        let Kind::Map(e) = &n.kind else { panic!() };
        assert!(matches!(&e[1].value.kind, Kind::Seq(v) if v.len() == 2));
        assert_eq!(e[1].value.start, Pos { line: 2, col: 4 });

        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            bomb.push_str(&format!("{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("expands to more than"), "{e:?}");
    }

    #[test]
    fn recursion_depth_and_documents_are_capped() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&deep).unwrap_err().message.contains("deeper"));
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 1 });
        assert!(parse("a: &x [1, *x]\n").is_err());
    }

    #[test]
    fn flow_nesting_past_the_parsers_own_limit_is_refused_at_our_cap() {
        // Past 255 flow levels the parser stops before any event; the
        // problem is still said as the depth cap, where it was crossed.
        for n in [300, 10_000] {
            let text = format!("x: {}{}\n", "[".repeat(n), "]".repeat(n));
            let e = parse(&text).unwrap_err();
            assert_eq!(e.message, "nesting is deeper than 64 levels");
            assert_eq!(
                e.pos,
                Pos {
                    line: 1,
                    col: 4 + 64
                }
            );
            assert!(e.hint.is_some());
        }
        let unclosed = "{a: ".repeat(10_000);
        let e = parse(&unclosed).unwrap_err();
        assert_eq!(e.message, "nesting is deeper than 64 levels");
        assert_eq!(
            e.pos,
            Pos {
                line: 1,
                col: 1 + 4 * 64
            }
        );
    }

    #[test]
    fn lines_break_at_lf_crlf_and_a_lone_cr_as_the_parser_counts_them() {
        let text = "a: 1\r\nb: 2\rc: [\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.pos.line, 4);
        assert_eq!(
            line_starts(text.as_bytes()).collect::<Vec<_>>(),
            [6, 11, 16]
        );
        assert_eq!(
            Source::pos_of_byte(b"ab\r\ncd\ref", 8),
            Pos { line: 3, col: 2 }
        );
        // Positions inside a scalar on a line after a lone `\r`.
        let text = "a: 1\rb: x {{ y }}\r";
        let src = Source::new(text);
        let n = root(text);
        let Kind::Map(e) = &n.kind else { panic!() };
        let v = &e[1].value;
        let at = v.pos_in_scalar(&src, v.as_scalar().unwrap().find("{{").unwrap());
        assert_eq!(at, Pos { line: 2, col: 6 });
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
    }

    #[test]
    fn an_error_at_the_end_of_a_file_without_a_final_newline_stays_on_its_last_line() {
        assert_eq!(parse("[").unwrap_err().pos, Pos { line: 1, col: 2 });
        assert_eq!(
            parse("a: 1\nb: [x").unwrap_err().pos,
            Pos { line: 2, col: 6 }
        );
        // With a final newline the end is the start of the empty last line.
        assert_eq!(parse("[\n").unwrap_err().pos, Pos { line: 2, col: 1 });
    }

    #[test]
    fn empty_documents_have_no_root() {
        assert!(parse("").unwrap().root.is_none());
        assert!(parse("# only a comment\n").unwrap().root.is_none());
    }
}
