//! Template strings: `{{ expr }}` holes in paths, headers and bodies.
//!
//! Owns the template language (parse and render). Parsing resolves every
//! name against a [`Scope`] once, so rendering never looks anything up by
//! name. Rendering is on the hot path: it writes into caller-provided
//! buffers, allocates nothing itself and draws randomness only from the
//! per-iteration generator it is handed. Must not do I/O.
//!
//! Expressions: `uuid()`, `seq()`, `int(A, B)`, `pick(listvar)`,
//! `pick("a", "b", ...)`, a variable name, `feeder.column`, and a quoted
//! string (`{{ "{{" }}` writes a literal `{{`).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use rand::{Rng, RngCore};
use rand_pcg::Pcg64Mcg;

use super::feeder::Feeder;
use super::suggest;

/// What a template may read while rendering one flow iteration.
pub struct RenderCtx<'a> {
    /// Run-wide sequence number of this iteration (0, 1, 2, ...).
    pub seq: u64,
    /// Seed of this iteration, derived from the scenario seed and `seq`;
    /// feeders pick their row from it so every step of an iteration sees the
    /// same row.
    pub iter_seed: u64,
    /// The iteration's own random stream.
    pub rng: &'a mut Pcg64Mcg,
    pub feeders: &'a [Feeder],
}

/// A parsed template string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The template as written.
    source: String,
    /// Literal runs and holes, adjacent literals merged.
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(Box<str>),
    Uuid,
    Seq,
    /// Inclusive bounds, `lo <= hi`.
    Int {
        lo: i64,
        hi: i64,
    },
    /// Never empty.
    Pick(Arc<[String]>),
    Column {
        feeder: usize,
        column: usize,
    },
}

/// A named value templates may use.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    One(String),
    List(Arc<[String]>),
}

/// A feeder as templates see it: its name and its columns (`None` when the
/// feeder failed to load, in which case any column is accepted so one
/// broken file does not cascade).
pub type FeederColumns = (String, Option<Vec<String>>);

/// The names a template may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub vars: &'a [(String, VarValue)],
    /// Feeders in [`Scenario::feeders`](super::Scenario::feeders) order.
    pub feeders: &'a [FeederColumns],
}

impl Scope<'static> {
    /// A scope with no variables and no feeders.
    pub const EMPTY: Self = Scope {
        vars: &[],
        feeders: &[],
    };
}

/// One problem in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset into the template text.
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Most problems reported for one template.
const MAX_ERRORS: usize = 10;

const FUNCTIONS: [&str; 4] = ["uuid", "seq", "int", "pick"];
const EXPR_HINT: &str = "a hole holds uuid(), seq(), int(A, B), pick(list) or pick(\"a\", \"b\"), \
     a variable name, feeder.column, or a quoted string such as \"{{\"";

impl Template {
    /// A template without holes.
    pub fn literal(text: impl Into<String>) -> Self {
        let source = text.into();
        let parts = if source.is_empty() {
            Vec::new()
        } else {
            vec![Part::Lit(source.clone().into_boxed_str())]
        };
        Template { source, parts }
    }

    /// Parse `text`, resolving names in `scope`. All problems are reported.
    pub fn parse(text: &str, scope: &Scope<'_>) -> Result<Template, Vec<TemplateError>> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut errors = Vec::new();
        let mut i = 0;
        while let Some(rel) = text[i..].find("{{") {
            let open = i + rel;
            lit.push_str(&text[i..open]);
            let mut p = HoleParser {
                text,
                pos: open + 2,
                scope,
            };
            match p.hole() {
                Ok((value, end)) => {
                    match value {
                        Value::Text(t) => lit.push_str(&t),
                        Value::Part(part) => {
                            if !lit.is_empty() {
                                parts.push(Part::Lit(std::mem::take(&mut lit).into_boxed_str()));
                            }
                            parts.push(part);
                        }
                    }
                    i = end;
                }
                Err(e) => {
                    errors.push(e);
                    if errors.len() == MAX_ERRORS {
                        break;
                    }
                    i = match text[open + 2..].find("}}") {
                        Some(r) => open + 2 + r + 2,
                        None => text.len(),
                    };
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        lit.push_str(&text[i..]);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit.into_boxed_str()));
        }
        Ok(Template {
            source: text.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text, if the template has no holes (variables and quoted strings
    /// are resolved when parsing, so they count as text).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// The runs of literal text between holes (variables and quoted strings
    /// included), e.g. to check that a path has no spaces.
    pub fn literal_runs(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Lit(s) => Some(&**s),
            _ => None,
        })
    }

    /// Append the rendered text to `out`.
    pub fn render(&self, ctx: &mut RenderCtx<'_>, out: &mut String) {
        self.write_to(ctx, out);
    }

    fn write_to<W: fmt::Write>(&self, ctx: &mut RenderCtx<'_>, w: &mut W) {
        // Writers here never fail (String, Vec<u8> adapters).
        for part in &self.parts {
            let _ = match part {
                Part::Lit(s) => w.write_str(s),
                Part::Uuid => write_uuid(ctx.rng, w),
                Part::Seq => write!(w, "{}", ctx.seq),
                Part::Int { lo, hi } if lo <= hi => {
                    write!(w, "{}", ctx.rng.random_range(*lo..=*hi))
                }
                Part::Int { .. } => Ok(()),
                Part::Pick(list) if !list.is_empty() => {
                    let i = ctx.rng.random_range(0..list.len());
                    w.write_str(&list[i])
                }
                Part::Pick(_) => Ok(()),
                Part::Column { feeder, column } => {
                    let value = ctx
                        .feeders
                        .get(*feeder)
                        .and_then(|f| f.row_for(*feeder, ctx.seq, ctx.iter_seed))
                        .and_then(|row| row.get(*column));
                    w.write_str(value.map_or("", String::as_str))
                }
            };
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A random (version 4) UUID from the iteration's generator.
fn write_uuid<W: fmt::Write>(rng: &mut Pcg64Mcg, w: &mut W) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut buf = [0u8; 36];
    let mut j = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf[j] = b'-';
            j += 1;
        }
        buf[j] = HEX[usize::from(b >> 4)];
        buf[j + 1] = HEX[usize::from(b & 0x0f)];
        j += 2;
    }
    w.write_str(std::str::from_utf8(&buf).unwrap_or_default())
}

/// What a hole resolved to at parse time.
enum Value {
    /// Known now: a variable's value or a quoted string.
    Text(String),
    Part(Part),
}

enum Arg {
    Str(String),
    Int(i64),
    Name(String),
}

struct HoleParser<'a, 's> {
    text: &'a str,
    pos: usize,
    scope: &'a Scope<'s>,
}

fn terr(offset: usize, message: impl Into<String>, hint: Option<String>) -> TemplateError {
    TemplateError {
        offset,
        message: message.into(),
        hint,
    }
}

impl<'a> HoleParser<'a, '_> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<(usize, String)> {
        let start = self.pos;
        let r = self.rest();
        let first = r.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let n = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(r.len());
        self.pos += n;
        Some((start, r[..n].to_owned()))
    }

    /// A quoted string; the cursor is on the opening quote.
    fn string(&mut self) -> Result<String, TemplateError> {
        let start = self.pos;
        let Some(quote) = self.rest().chars().next() else {
            return Err(terr(start, "expected a quoted string", None));
        };
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err(terr(
            start,
            "this string has no closing quote",
            Some(format!("end it with {quote}")),
        ))
    }

    /// `{{ expr }}` after the opening braces: the value and the byte offset
    /// just past the closing braces.
    fn hole(&mut self) -> Result<(Value, usize), TemplateError> {
        let open = self.pos - 2;
        self.skip_ws();
        let value = self.expr(open)?;
        self.skip_ws();
        if !self.eat("}}") {
            if self.rest().is_empty() {
                return Err(terr(
                    open,
                    "`{{` is never closed with `}}`",
                    Some("to write a literal `{{`, use {{ \"{{\" }}".into()),
                ));
            }
            return Err(terr(
                self.pos,
                "expected `}}` to end the expression",
                Some(EXPR_HINT.into()),
            ));
        }
        Ok((value, self.pos))
    }

    fn expr(&mut self, open: usize) -> Result<Value, TemplateError> {
        let r = self.rest();
        if r.starts_with('"') || r.starts_with('\'') {
            return self.string().map(Value::Text);
        }
        if r.is_empty() {
            return Err(terr(
                open,
                "`{{` is never closed with `}}`",
                Some("to write a literal `{{`, use {{ \"{{\" }}".into()),
            ));
        }
        let Some((start, name)) = self.ident() else {
            if r.starts_with("}}") {
                return Err(terr(open, "empty `{{ }}`", Some(EXPR_HINT.into())));
            }
            return Err(terr(
                self.pos,
                "expected a function, a variable or `feeder.column`",
                Some(EXPR_HINT.into()),
            ));
        };
        let save = self.pos;
        self.skip_ws();
        if self.eat("(") {
            let args = self.args()?;
            return self.call(start, &name, args).map(Value::Part);
        }
        self.pos = save;
        if self.eat(".") {
            let cstart = self.pos;
            let Some((_, column)) = self.ident() else {
                return Err(terr(
                    cstart,
                    format!("expected a column name after `{name}.`"),
                    None,
                ));
            };
            return self.column(start, &name, cstart, &column).map(Value::Part);
        }
        self.var(start, &name)
    }

    fn args(&mut self) -> Result<Vec<(usize, Arg)>, TemplateError> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            self.skip_ws();
            let at = self.pos;
            let r = self.rest();
            let arg = if r.starts_with('"') || r.starts_with('\'') {
                Arg::Str(self.string()?)
            } else if r.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                let n = r[1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(r.len(), |i| i + 1);
                let num = &r[..n];
                self.pos += n;
                Arg::Int(num.parse().map_err(|_| {
                    terr(at, format!("`{num}` is not a whole number in range"), None)
                })?)
            } else if let Some((_, name)) = self.ident() {
                Arg::Name(name)
            } else if r.is_empty() || r.starts_with("}}") {
                return Err(terr(at, "missing `)` to close the argument list", None));
            } else {
                return Err(terr(
                    at,
                    "expected an argument: a number, a quoted string or a variable name",
                    None,
                ));
            };
            args.push((at, arg));
            self.skip_ws();
            if self.eat(")") {
                return Ok(args);
            }
            if !self.eat(",") {
                return Err(terr(self.pos, "expected `,` or `)`", None));
            }
        }
    }

    fn call(&self, at: usize, name: &str, args: Vec<(usize, Arg)>) -> Result<Part, TemplateError> {
        let arity = |n: usize, usage: &str| {
            if args.len() == n {
                Ok(())
            } else {
                Err(terr(
                    at,
                    format!(
                        "{name}() takes {n} argument{}",
                        if n == 1 { "" } else { "s" }
                    ),
                    Some(format!("write `{usage}`")),
                ))
            }
        };
        match name {
            "uuid" => arity(0, "uuid()").map(|()| Part::Uuid),
            "seq" => arity(0, "seq()").map(|()| Part::Seq),
            "int" => {
                arity(2, "int(1, 100)")?;
                match (&args[0], &args[1]) {
                    ((_, Arg::Int(lo)), (_, Arg::Int(hi))) if lo <= hi => {
                        Ok(Part::Int { lo: *lo, hi: *hi })
                    }
                    ((_, Arg::Int(_)), (_, Arg::Int(_))) => {
                        Err(terr(at, "int(A, B) needs A <= B", None))
                    }
                    _ => Err(terr(
                        at,
                        "int(A, B) takes two whole numbers",
                        Some("write e.g. `int(1, 100)`".into()),
                    )),
                }
            }
            "pick" => self.pick(at, args),
            _ => Err(terr(
                at,
                format!("unknown function `{name}`"),
                Some(match suggest::did_you_mean(name, FUNCTIONS) {
                    Some(dym) => format!("{dym} functions are uuid(), seq(), int(A, B), pick(...)"),
                    None => "functions are uuid(), seq(), int(A, B), pick(...)".into(),
                }),
            )),
        }
    }

    fn pick(&self, at: usize, args: Vec<(usize, Arg)>) -> Result<Part, TemplateError> {
        if let [(arg_at, Arg::Name(var))] = args.as_slice() {
            return match self.lookup(var) {
                Some(VarValue::List(list)) => Ok(Part::Pick(list.clone())),
                Some(VarValue::One(_)) => Err(terr(
                    *arg_at,
                    format!("pick({var}) needs a list, but `{var}` is a single value"),
                    Some(format!("use `{{{{ {var} }}}}` for its value")),
                )),
                None => Err(self.unknown_var(*arg_at, var)),
            };
        }
        if args.is_empty() {
            return Err(terr(
                at,
                "pick() needs a list variable or at least one value",
                Some("write `pick(skus)` or `pick(\"a\", \"b\")`".into()),
            ));
        }
        let mut values = Vec::with_capacity(args.len());
        for (arg_at, arg) in args {
            match arg {
                Arg::Str(s) => values.push(s),
                Arg::Int(n) => values.push(n.to_string()),
                Arg::Name(_) => {
                    return Err(terr(
                        arg_at,
                        "pick() takes either one list variable or quoted values",
                        Some("quote literal values: pick(\"a\", \"b\")".into()),
                    ))
                }
            }
        }
        Ok(Part::Pick(values.into()))
    }

    fn lookup(&self, name: &str) -> Option<&VarValue> {
        self.scope
            .vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn unknown_var(&self, at: usize, name: &str) -> TemplateError {
        let hint = if FUNCTIONS.contains(&name) {
            format!("`{name}` is a function: write `{name}(...)`")
        } else {
            let names = self.scope.vars.iter().map(|(n, _)| n.as_str());
            match suggest::did_you_mean(name, names) {
                Some(dym) => dym,
                None => "define it under `vars:`".into(),
            }
        };
        terr(at, format!("unknown variable `{name}`"), Some(hint))
    }

    fn var(&self, at: usize, name: &str) -> Result<Value, TemplateError> {
        match self.lookup(name) {
            Some(VarValue::One(v)) => Ok(Value::Text(v.clone())),
            Some(VarValue::List(_)) => Err(terr(
                at,
                format!("`{name}` is a list"),
                Some(format!("use `pick({name})` for one of its values")),
            )),
            None if self.scope.feeders.iter().any(|(f, _)| f == name) => Err(terr(
                at,
                format!("`{name}` is a feeder; name a column"),
                Some(format!("write `{name}.COLUMN`")),
            )),
            None => Err(self.unknown_var(at, name)),
        }
    }

    fn column(
        &self,
        at: usize,
        feeder: &str,
        cat: usize,
        column: &str,
    ) -> Result<Part, TemplateError> {
        let Some(index) = self.scope.feeders.iter().position(|(f, _)| f == feeder) else {
            let hint = if self.lookup(feeder).is_some() {
                format!("`{feeder}` is a variable; variables have no columns")
            } else {
                let names = self.scope.feeders.iter().map(|(n, _)| n.as_str());
                suggest::did_you_mean(feeder, names)
                    .unwrap_or_else(|| "define it under `feeders:`".into())
            };
            return Err(terr(at, format!("unknown feeder `{feeder}`"), Some(hint)));
        };
        let Some(columns) = &self.scope.feeders[index].1 else {
            return Ok(Part::Column {
                feeder: index,
                column: 0,
            });
        };
        match columns.iter().position(|c| c == column) {
            Some(c) => Ok(Part::Column {
                feeder: index,
                column: c,
            }),
            None => {
                let list = columns.join(", ");
                let hint = match suggest::did_you_mean(column, columns.iter().map(String::as_str)) {
                    Some(dym) => format!("{dym} columns: {list}"),
                    None => format!("columns: {list}"),
                };
                Err(terr(
                    cat,
                    format!("feeder `{feeder}` has no column `{column}`"),
                    Some(hint),
                ))
            }
        }
    }
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Append the rendered JSON document to `out`. Template strings stay
    /// JSON strings, escaped as needed.
    pub fn render(&self, ctx: &mut RenderCtx<'_>, out: &mut Vec<u8>) {
        match self {
            JsonTemplate::Null => out.extend_from_slice(b"null"),
            JsonTemplate::Bool(true) => out.extend_from_slice(b"true"),
            JsonTemplate::Bool(false) => out.extend_from_slice(b"false"),
            JsonTemplate::Number(n) => {
                let _ = write!(Raw(out), "{n}");
            }
            JsonTemplate::String(t) => {
                out.push(b'"');
                t.write_to(ctx, &mut Escaped(out));
                out.push(b'"');
            }
            JsonTemplate::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.render(ctx, out);
                }
                out.push(b']');
            }
            JsonTemplate::Object(entries) => {
                out.push(b'{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'"');
                    let _ = Escaped(out).write_str(key);
                    out.extend_from_slice(b"\":");
                    value.render(ctx, out);
                }
                out.push(b'}');
            }
        }
    }
}

/// Writes text as is into a byte buffer.
struct Raw<'a>(&'a mut Vec<u8>);

impl fmt::Write for Raw<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes text into a byte buffer as the inside of a JSON string.
struct Escaped<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            self.0.extend_from_slice(&bytes[start..i]);
            if esc.is_empty() {
                let u = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ];
                self.0.extend_from_slice(&u);
            } else {
                self.0.extend_from_slice(esc);
            }
            start = i + 1;
        }
        self.0.extend_from_slice(&bytes[start..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    use super::super::feeder::FeedOrder;

    fn scope_vars() -> Vec<(String, VarValue)> {
        vec![
            ("room".into(), VarValue::One("main".into())),
            (
                "skus".into(),
                VarValue::List(vec!["sku-1".to_owned(), "sku-2".to_owned()].into()),
            ),
        ]
    }

    fn feeders() -> Vec<Feeder> {
        vec![Feeder::from_csv(
            "users",
            FeedOrder::Sequential,
            b"id,name\nu0,A\nu1,B\nu2,C\n",
        )
        .unwrap()]
    }

    fn with_scope<R>(f: impl FnOnce(&Scope<'_>) -> R) -> R {
        let vars = scope_vars();
        let feeders = vec![(
            "users".to_owned(),
            Some(vec!["id".to_owned(), "name".to_owned()]),
        )];
        f(&Scope {
            vars: &vars,
            feeders: &feeders,
        })
    }

    fn render(t: &Template, seed: u64, seq: u64) -> String {
        let feeders = feeders();
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let mut ctx = RenderCtx {
            seq,
            iter_seed: seed,
            rng: &mut rng,
            feeders: &feeders,
        };
        let mut out = String::new();
        t.render(&mut ctx, &mut out);
        out
    }

    fn parse(text: &str) -> Result<Template, Vec<TemplateError>> {
        with_scope(|s| Template::parse(text, s))
    }

    #[test]
    fn literals_and_variables_are_resolved_at_parse_time() {
        let t = parse("/api/rooms/{{room}}/comments").unwrap();
        assert_eq!(t.as_literal(), Some("/api/rooms/main/comments"));
        assert_eq!(t.source(), "/api/rooms/{{room}}/comments");
        let t = parse("a {{ \"{{\" }} b }}").unwrap();
        assert_eq!(t.as_literal(), Some("a {{ b }}"));
        assert_eq!(Template::literal("x").as_literal(), Some("x"));
        assert_eq!(parse("{{ seq() }}").unwrap().as_literal(), None);
    }

    #[test]
    fn rendering_is_deterministic_per_seed_and_seq() {
        let t = parse("{{uuid()}} {{ seq() }} {{ int(1, 6) }} {{ pick(skus) }} {{ pick('x', 2) }} {{ users.id }}")
            .unwrap();
        let a = render(&t, 42, 7);
        assert_eq!(a, render(&t, 42, 7));
        assert_ne!(a, render(&t, 43, 7));
        let words: Vec<&str> = a.split(' ').collect();
        assert_eq!(words[0].len(), 36);
        assert_eq!(&words[0][14..15], "4");
        assert!(matches!(&words[0][19..20], "8" | "9" | "a" | "b"));
        assert_eq!(words[1], "7");
        assert!((1..=6).contains(&words[2].parse::<i64>().unwrap()));
        assert!(words[3] == "sku-1" || words[3] == "sku-2");
        assert!(words[4] == "x" || words[4] == "2");
        assert_eq!(words[5], "u1");
    }

    #[test]
    fn errors_point_at_the_offending_name() {
        let e = parse("/p/{{ uid() }}").unwrap_err();
        assert_eq!(e[0].offset, 6);
        assert_eq!(e[0].message, "unknown function `uid`");
        assert!(e[0]
            .hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `uuid`?"));
        let e = parse("{{ users.nam }} {{ rom }} {{ skus }}").unwrap_err();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].offset, 9);
        assert_eq!(e[0].message, "feeder `users` has no column `nam`");
        assert_eq!(e[1].message, "unknown variable `rom`");
        assert_eq!(e[1].hint.as_deref(), Some("did you mean `room`?"));
        assert_eq!(e[2].message, "`skus` is a list");
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(parse("{{ int(5, 1) }}").unwrap_err()[0]
            .message
            .contains("A <= B"));
        assert!(parse("{{ pick(room) }}").unwrap_err()[0]
            .message
            .contains("single value"));
        assert!(parse("{{ seq(1) }}").is_err());
        assert!(parse("{{ 'open }}").is_err());
        assert!(parse("{{ seq() ").unwrap_err()[0]
            .message
            .contains("never closed"));
        assert!(parse("{{ }}").is_err());
        assert!(parse("{{ seq() + 1 }}").is_err());
        assert!(parse("{{ uuid }}").unwrap_err()[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("uuid(...)"));
    }

    #[test]
    fn json_bodies_escape_rendered_strings() {
        let t = with_scope(|s| Template::parse("say \"{{ users.name }}\"\n", s)).unwrap();
        let body = JsonTemplate::Object(vec![
            ("text".into(), JsonTemplate::String(t)),
            ("n".into(), JsonTemplate::Number(3.into())),
            (
                "list".into(),
                JsonTemplate::Array(vec![JsonTemplate::Null, JsonTemplate::Bool(true)]),
            ),
            (
                "id".into(),
                JsonTemplate::String(parse("{{ seq() }}").unwrap()),
            ),
        ]);
        let feeders = feeders();
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut ctx = RenderCtx {
            seq: 0,
            iter_seed: 1,
            rng: &mut rng,
            feeders: &feeders,
        };
        let mut out = Vec::new();
        body.render(&mut ctx, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"text":"say \"A\"\n","n":3,"list":[null,true],"id":"0"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["text"], "say \"A\"\n");
    }
}
