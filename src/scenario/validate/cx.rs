//! The validator's toolbox: the diagnostic collector, a map reader that
//! notices unknown fields, and readers for the basic value types (text,
//! names, numbers, durations, shares, lists).
//!
//! Owns how a type mismatch, a missing field or an unknown field is worded
//! and located. Must not know any scenario field by name.

use std::path::Path;
use std::time::Duration;

use super::super::diagnostic::Diagnostic;
use super::super::suggest;
use super::super::units;
use super::super::yaml::{Entry, Kind, Node, Pos, Source};

/// Most diagnostics kept for one file; a file with more is mostly noise,
/// and locating each one costs time.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Collects diagnostics while the validator walks the tree.
pub struct Cx<'a> {
    pub file: &'a Path,
    pub src: &'a Source<'a>,
    pub diags: Vec<Diagnostic>,
    /// Diagnostics not kept because of [`MAX_DIAGNOSTICS`].
    pub dropped: usize,
}

impl Cx<'_> {
    /// Problems found so far, kept or not; compare two readings to learn
    /// whether checking something found a problem.
    pub fn problems(&self) -> usize {
        self.diags.len() + self.dropped
    }

    pub fn report(
        &mut self,
        pos: Pos,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        if self.full() {
            return;
        }
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            path: path.to_owned(),
            message: message.into(),
            hint,
        });
    }

    /// Whether the list of diagnostics is full; counts the problem dropped.
    fn full(&mut self) -> bool {
        let full = self.diags.len() >= MAX_DIAGNOSTICS;
        self.dropped += usize::from(full);
        full
    }

    /// A problem with a whole node.
    pub fn at(
        &mut self,
        node: &Node,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.report(node.start, path, message, hint);
    }

    /// A problem at a byte offset inside a scalar's value.
    pub fn inside(
        &mut self,
        node: &Node,
        offset: usize,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        // Locating costs a walk over the scalar's text: skip it once the
        // list is full (a hostile file can hold thousands of bad values).
        if self.full() {
            return;
        }
        let pos = node.pos_in_scalar(self.src, offset);
        self.report(pos, path, message, hint);
    }

    pub fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let found = node.describe();
        self.at(
            node,
            path,
            format!("expected {expected}, found {found}"),
            None,
        );
    }
}

pub use super::super::diagnostic::{index, join};

/// A map whose keys are field names. Every field the validator asks for is
/// remembered; [`Fields::finish`] reports the others as unknown, with a
/// suggestion among the known ones.
pub struct Fields<'n> {
    node: &'n Node,
    entries: &'n [Entry],
    used: Vec<bool>,
    known: Vec<&'static str>,
    path: String,
}

impl<'n> Fields<'n> {
    /// Read `node` as a map of fields; `what` names it in the type error.
    pub fn of(cx: &mut Cx<'_>, node: &'n Node, path: &str, what: &str) -> Option<Self> {
        match &node.kind {
            Kind::Map(entries) => Some(Fields {
                node,
                entries,
                used: vec![false; entries.len()],
                known: Vec::new(),
                path: path.to_owned(),
            }),
            _ => {
                cx.wrong_type(node, path, what);
                None
            }
        }
    }

    pub fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The entry for `key`, if present.
    pub fn entry(&mut self, key: &'static str) -> Option<&'n Entry> {
        self.known.push(key);
        let i = self.entries.iter().position(|e| &*e.key == key)?;
        self.used[i] = true;
        Some(&self.entries[i])
    }

    /// The entry for `key`, if present, marked as dealt with but not listed
    /// among the known fields: for a field the caller reports as misplaced.
    pub fn consume(&mut self, key: &str) -> Option<&'n Entry> {
        let i = self.entries.iter().position(|e| &*e.key == key)?;
        self.used[i] = true;
        Some(&self.entries[i])
    }

    /// Which of `keys` the map has, in file order, with their values: for
    /// maps that hold exactly one of several fields.
    pub fn present(&mut self, keys: &[&'static str]) -> Vec<(&'static str, &'n Node)> {
        let mut found: Vec<(&'static str, &'n Entry)> = keys
            .iter()
            .filter_map(|&k| self.entry(k).map(|e| (k, e)))
            .collect();
        found.sort_by_key(|(_, e)| e.key_pos);
        found.into_iter().map(|(k, e)| (k, &e.value)).collect()
    }

    /// The value of an optional field.
    pub fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The value of a required field; its absence is reported at the map.
    pub fn required(&mut self, cx: &mut Cx<'_>, key: &'static str) -> Option<&'n Node> {
        let value = self.get(key);
        if value.is_none() {
            let path = self.path(key);
            cx.at(
                self.node,
                &path,
                format!("missing required field `{key}`"),
                None,
            );
        }
        value
    }

    /// Whether some key equals `key` ignoring ASCII case (to word errors
    /// about `GET:` and the like).
    pub fn has_key_ignoring_case(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// Report every field nobody asked for.
    pub fn finish(self, cx: &mut Cx<'_>) {
        for (e, used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let hint = if &*e.key == "<<" {
                Some("merge keys (`<<`) are not supported; shared headers and timeouts go under `defaults:`".into())
            } else {
                let dym = suggest::did_you_mean(&e.key, self.known.iter().copied());
                let list = self.known.join(", ");
                Some(match dym {
                    Some(d) => d,
                    None => format!("known fields here: {list}"),
                })
            };
            let path = join(&self.path, &e.key);
            cx.report(e.key_pos, &path, format!("unknown field `{}`", e.key), hint);
        }
    }
}

/// Any scalar, as text.
pub fn text<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str) -> Option<&'n str> {
    match &node.kind {
        Kind::Scalar { text, .. } => Some(text),
        _ => {
            cx.wrong_type(node, path, "text");
            None
        }
    }
}

/// A map's entries, for maps whose keys are names chosen by the user.
pub fn entries<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str, what: &str) -> Option<&'n [Entry]> {
    match &node.kind {
        Kind::Map(entries) => Some(entries),
        _ => {
            cx.wrong_type(node, path, what);
            None
        }
    }
}

/// A list's items.
pub fn list<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str, what: &str) -> Option<&'n [Node]> {
    match &node.kind {
        Kind::Seq(items) => Some(items),
        _ => {
            cx.wrong_type(node, path, what);
            None
        }
    }
}

/// Names used in templates (variables, feeders): a letter or `_`, then
/// letters, digits, `_` or `-`.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Names of phases, flows and steps (used in SLO selectors and reports):
/// letters, digits, `_`, `-`, `.` and `:`.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// Check a user-chosen name; `ident` selects the template-name rule.
pub fn check_name(
    cx: &mut Cx<'_>,
    name: &str,
    pos: Pos,
    path: &str,
    what: &str,
    ident: bool,
) -> bool {
    let ok = if ident {
        is_ident(name)
    } else {
        is_label(name)
    };
    if !ok {
        let rule = if ident {
            "start with a letter or `_`, then letters, digits, `_` or `-`"
        } else {
            "use letters, digits, `_`, `-`, `.` and `:`"
        };
        let shown = if name.is_empty() { "(empty)" } else { name };
        cx.report(
            pos,
            path,
            format!("`{shown}` is not a valid {what} name"),
            Some(format!("{what} names {rule}")),
        );
    }
    ok
}

/// `true` or `false`.
pub fn boolean(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<bool> {
    match node.as_scalar().map(str::trim) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => {
            cx.at(
                node,
                path,
                format!("expected true or false, found {}", node.describe()),
                None,
            );
            None
        }
    }
}

/// A non-negative whole number.
pub fn uint(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<u64> {
    let t = text(cx, node, path)?;
    match t.parse::<u64>() {
        Ok(n) if t.bytes().all(|b| b.is_ascii_digit()) => Some(n),
        _ => {
            cx.at(
                node,
                path,
                format!("expected a whole number, found {}", node.describe()),
                if t.starts_with('-') {
                    Some("it can't be negative".into())
                } else {
                    None
                },
            );
            None
        }
    }
}

/// A scalar read by one of the `units` parsers; a parse error points at
/// the offending character inside the value.
pub fn unit<T>(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    parse: impl FnOnce(&str) -> Result<T, units::UnitError>,
) -> Option<T> {
    let t = text(cx, node, path)?;
    match parse(t) {
        Ok(v) => Some(v),
        Err(e) => {
            cx.inside(node, e.offset, path, e.message, e.hint);
            None
        }
    }
}

/// A duration such as `10s` or `1m30s`; `positive` rejects zero.
pub fn duration(cx: &mut Cx<'_>, node: &Node, path: &str, positive: bool) -> Option<Duration> {
    let d = unit(cx, node, path, units::parse_duration)?;
    if positive && d.is_zero() {
        cx.at(node, path, "must be longer than zero", None);
        return None;
    }
    Some(d)
}

/// A share of a whole: `15%` or `0.15`, above zero and at most 100%.
pub fn share(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<f64> {
    unit(cx, node, path, units::parse_share)
}

/// Report a name used twice; `seen` holds the names met so far with their
/// positions.
pub fn unique(
    cx: &mut Cx<'_>,
    seen: &mut Vec<(String, Pos)>,
    name: &str,
    pos: Pos,
    path: &str,
    what: &str,
) {
    if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
        let line = first.line;
        cx.report(
            pos,
            path,
            format!("duplicate {what} name `{name}`"),
            Some(format!("`{name}` is first used on line {line}")),
        );
    } else {
        seen.push((name.to_owned(), pos));
    }
}

/// "did you mean `x`?" or a list of the valid names.
pub fn name_hint<'a>(
    word: &str,
    names: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> Option<String> {
    if let Some(d) = suggest::did_you_mean(word, names.clone()) {
        return Some(d);
    }
    let all: Vec<&str> = names.into_iter().collect();
    if all.is_empty() {
        return None;
    }
    let shown: Vec<&str> = all.iter().take(12).copied().collect();
    let more = if all.len() > shown.len() { ", ..." } else { "" };
    Some(format!("{what} are: {}{more}", shown.join(", ")))
}
