//! JSON request bodies whose strings are templates.
//!
//! Owns writing valid JSON: strings escaped as they are rendered, straight
//! into the caller's buffer. Must not parse YAML or templates.

use std::fmt::{self, Write as _};

use super::{RenderCtx, Template};

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
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    use super::super::tests::{feeders, parse, with_scope};
    use super::super::Scope;
    use super::*;

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
            session: &[],
            unresolved: 0,
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

    #[test]
    fn session_values_are_escaped_and_missing_ones_counted() {
        let names = ["order_id".to_owned()];
        let scope = Scope {
            vars: &[],
            feeders: &[],
            session: &names,
        };
        let body = JsonTemplate::Object(vec![(
            "order".into(),
            JsonTemplate::String(Template::parse("{{ order_id }}", &scope).unwrap()),
        )]);
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let session = [Some("o-\"1\"".to_owned())];
        let mut ctx = RenderCtx {
            seq: 0,
            iter_seed: 1,
            rng: &mut rng,
            feeders: &[],
            session: &session,
            unresolved: 0,
        };
        let mut out = Vec::new();
        body.render(&mut ctx, &mut out);
        assert_eq!(out, br#"{"order":"o-\"1\""}"#);
        assert_eq!(ctx.unresolved, 0);
        ctx.session = &[None];
        out.clear();
        body.render(&mut ctx, &mut out);
        assert_eq!(out, br#"{"order":""}"#);
        assert_eq!(ctx.unresolved, 1);
    }
}
