//! Template strings: `{{ expr }}` holes in paths, headers and bodies.
//!
//! Owns the template language (parse and render). Parsing resolves every
//! name against a [`Scope`] once, so rendering never looks anything up by
//! name. Rendering is on the hot path: it writes into caller-provided
//! buffers, allocates nothing itself and draws randomness only from the
//! per-iteration generator it is handed. Must not do I/O.
//!
//! Expressions: `uuid()`, `seq()`, `int(A, B)`, `pick(listvar)`,
//! `pick("a", "b", ...)`, a variable name (a scenario variable, else a
//! session variable the flow captures), `feeder.column`, and a quoted
//! string (`{{ "{{" }}` writes a literal `{{`). Outside holes,
//! `${env:NAME}` and `${file:PATH}` are secrets, read once by
//! `scenario::secrets` when the template is parsed (the only I/O a
//! template causes); the source text keeps the reference, never the value.
//!
//! A value that is not there when rendering (a session variable not
//! captured yet, a `unique` feeder out of rows) writes nothing and counts in
//! [`RenderCtx::unresolved`]; the caller decides what an unresolved request
//! means.

mod json;
mod parse;

use std::fmt;
use std::sync::Arc;

use rand::{Rng, RngCore};
use rand_pcg::Pcg64Mcg;

use super::feeder::Feeder;

pub use json::JsonTemplate;

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
    /// The session's captured values, by slot of
    /// [`Flow::vars`](super::Flow::vars); `None` (or a slot past the end)
    /// is not captured yet.
    pub session: &'a [Option<String>],
    /// Holes rendered without a value since this was last reset: session
    /// variables not captured yet, feeder rows that ran out. Rendering only
    /// ever increments it.
    pub unresolved: u32,
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
    /// A session variable, by slot.
    Session(usize),
    /// A `${env:...}` or `${file:...}` value, resolved when loading.
    Secret(super::secrets::Secret),
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
    /// Session variables of the flow being checked, by slot (its
    /// [`Flow::vars`](super::Flow::vars)); empty outside flows.
    pub session: &'a [String],
}

impl Scope<'static> {
    /// A scope with no variables, no feeders and no session variables.
    pub const EMPTY: Self = Scope {
        vars: &[],
        feeders: &[],
        session: &[],
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

    /// Parse `text`, resolving names in `scope`. All problems are reported
    /// (up to ten per template).
    pub fn parse(text: &str, scope: &Scope<'_>) -> Result<Template, Vec<TemplateError>> {
        parse::parse(text, scope)
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

    /// Slots of the session variables this template reads, in order of
    /// appearance (repeats included).
    pub fn session_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Session(slot) => Some(*slot),
            _ => None,
        })
    }

    /// Append the rendered text to `out`. Holes without a value write
    /// nothing and add one to `ctx.unresolved` each.
    pub fn render(&self, ctx: &mut RenderCtx<'_>, out: &mut String) {
        self.write_to(ctx, out);
    }

    fn write_to<W: fmt::Write>(&self, ctx: &mut RenderCtx<'_>, w: &mut W) {
        // Writers here never fail (String, Vec<u8> adapters).
        for part in &self.parts {
            let _ = match part {
                Part::Lit(s) => w.write_str(s),
                Part::Secret(s) => w.write_str(s.expose()),
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
                    match value {
                        Some(v) => w.write_str(v),
                        None => {
                            ctx.unresolved = ctx.unresolved.saturating_add(1);
                            Ok(())
                        }
                    }
                }
                Part::Session(slot) => match ctx.session.get(*slot) {
                    Some(Some(v)) => w.write_str(v),
                    _ => {
                        ctx.unresolved = ctx.unresolved.saturating_add(1);
                        Ok(())
                    }
                },
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

#[cfg(test)]
pub(super) mod tests {
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

    pub(super) fn feeders() -> Vec<Feeder> {
        vec![Feeder::from_csv(
            "users",
            FeedOrder::Sequential,
            b"id,name\nu0,A\nu1,B\nu2,C\n",
        )
        .unwrap()]
    }

    pub(super) fn with_scope<R>(f: impl FnOnce(&Scope<'_>) -> R) -> R {
        let vars = scope_vars();
        let feeders = vec![(
            "users".to_owned(),
            Some(vec!["id".to_owned(), "name".to_owned()]),
        )];
        f(&Scope {
            vars: &vars,
            feeders: &feeders,
            session: &[],
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
            session: &[],
            unresolved: 0,
        };
        let mut out = String::new();
        t.render(&mut ctx, &mut out);
        out
    }

    pub(super) fn parse(text: &str) -> Result<Template, Vec<TemplateError>> {
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

    /// Render with the session values given, answering the text and how
    /// many holes were unresolved.
    fn render_session(
        t: &Template,
        feeders: &[Feeder],
        seq: u64,
        session: &[Option<String>],
    ) -> (String, u32) {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let mut ctx = RenderCtx {
            seq,
            iter_seed: 5,
            rng: &mut rng,
            feeders,
            session,
            unresolved: 0,
        };
        let mut out = String::new();
        t.render(&mut ctx, &mut out);
        (out, ctx.unresolved)
    }

    #[test]
    fn session_variables_render_by_slot_and_missing_ones_are_counted() {
        let vars = scope_vars();
        // `room` is also a scenario variable, which wins (the validator
        // refuses such a capture anyway).
        let session = ["order_id".to_owned(), "room".to_owned()];
        let scope = Scope {
            vars: &vars,
            feeders: &[],
            session: &session,
        };
        let t = Template::parse("/o/{{ order_id }}/{{room}}/{{ order_id }}", &scope).unwrap();
        assert_eq!(t.session_slots().collect::<Vec<_>>(), [0, 0]);
        assert_eq!(t.as_literal(), None);
        let set = [Some("o-7".to_owned()), None];
        assert_eq!(
            render_session(&t, &[], 0, &set),
            ("/o/o-7/main/o-7".into(), 0)
        );
        assert_eq!(render_session(&t, &[], 0, &[None]), ("/o//main/".into(), 2));
        assert_eq!(render_session(&t, &[], 0, &[]), ("/o//main/".into(), 2));

        let e = Template::parse("{{ pick(order_id) }}", &scope).unwrap_err();
        assert!(e[0].message.contains("captured session value"), "{e:?}");
        let e = Template::parse("{{ order_ud }}", &scope).unwrap_err();
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `order_id`?"));
        let e = Template::parse("{{ order_id.x }}", &scope).unwrap_err();
        assert!(e[0].hint.as_deref().unwrap().contains("no columns"));
        // Outside the flow that captures it, the name is unknown.
        let e = Template::parse("{{ order_id }}", &Scope::EMPTY).unwrap_err();
        assert_eq!(e[0].message, "unknown variable `order_id`");
    }

    #[test]
    fn a_unique_feeder_gives_each_iteration_its_own_row_until_it_runs_out() {
        let mut feeders = feeders();
        feeders[0].order = FeedOrder::Unique;
        let t = parse("{{ users.id }}:{{ users.name }}").unwrap();
        assert_eq!(render_session(&t, &feeders, 0, &[]), ("u0:A".into(), 0));
        assert_eq!(render_session(&t, &feeders, 2, &[]), ("u2:C".into(), 0));
        assert_eq!(render_session(&t, &feeders, 3, &[]), (":".into(), 2));
        assert_eq!(render_session(&t, &feeders, u64::MAX, &[]), (":".into(), 2));
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
}
