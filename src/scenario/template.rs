//! Template strings: `{{ expr }}` holes in paths, headers and bodies.
//!
//! Owns the template language (parse and render). Rendering is on the hot
//! path: it writes into caller-provided buffers and draws randomness only
//! from the per-iteration generator it is handed. Must not do I/O.
//!
//! STUB: interface only; the implementation replaces this file.

use rand_pcg::Pcg64Mcg;

use super::feeder::Feeder;

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
    text: String,
}

impl Template {
    /// A template without holes.
    pub fn literal(text: impl Into<String>) -> Self {
        Template { text: text.into() }
    }

    /// The text, if the template has no holes.
    pub fn as_literal(&self) -> Option<&str> {
        Some(&self.text)
    }

    /// Append the rendered text to `out`.
    pub fn render(&self, _ctx: &mut RenderCtx<'_>, out: &mut String) {
        out.push_str(&self.text);
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
    /// Append the rendered JSON document to `out`.
    pub fn render(&self, _ctx: &mut RenderCtx<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"null");
    }
}
