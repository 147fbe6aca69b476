//! Secrets in scenario text: `${env:NAME}` (an environment variable) and
//! `${file:PATH}` (a file's contents, trailing newline removed), resolved
//! once when the scenario is loaded, so tokens need not be written into
//! files that get committed and shared.
//!
//! A resolved value lives only in the typed model ([`Secret`]), whose
//! `Debug` prints `***`; the template's source text keeps the reference,
//! so reports, diagnostics and logs that show templates show
//! `${env:NAME}`, never the value.
//!
//! Owns the reference syntax and reading the values. Must not keep values
//! anywhere else or print them.

use std::fmt;
use std::sync::Arc;

/// Largest `${file:...}` read: a token or a certificate, not a data file.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// A resolved secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A piece of scenario text: plain text, or a secret reference with its
/// byte span in the text.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'t> {
    Text(&'t str),
    Ref {
        kind: &'t str,
        name: &'t str,
        at: usize,
    },
}

/// Split `text` into plain runs and `${env:...}` / `${file:...}`
/// references. `$${` is a literal `${`. A reference to another source
/// (`${vault:key}`, `${ENV:X}`) is an error rather than text, so a
/// mistyped secret is never sent as its own name; any other `${` is plain
/// text. An unclosed reference is an error at its `$`.
pub fn split(text: &str) -> Result<Vec<Piece<'_>>, (usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(rel) = text[i..].find("${") {
        let at = i + rel;
        let rest = &text[at + 2..];
        if at > i && text.as_bytes().get(at - 1) == Some(&b'$') {
            // `$${`: the text before the escaping `$`, then `${` itself.
            out.push(Piece::Text(&text[i..at - 1]));
            out.push(Piece::Text(&text[at..at + 2]));
            i = at + 2;
            continue;
        }
        let kind = ["env:", "file:"].into_iter().find(|k| rest.starts_with(k));
        let Some(kind) = kind else {
            if let Some(source) = other_source(rest) {
                return Err((
                    at,
                    format!(
                        "unknown secret source `{source}`: references are `${{env:NAME}}` \
                         and `${{file:PATH}}` (write `$${{` for a literal `${{`)"
                    ),
                ));
            }
            out.push(Piece::Text(&text[i..at + 2]));
            i = at + 2;
            continue;
        };
        let Some(close) = rest.find('}') else {
            return Err((at, format!("`${{{kind}` is not closed with `}}`")));
        };
        let name = rest[kind.len()..close].trim();
        if name.is_empty() {
            return Err((at, format!("`${{{kind}}}` names nothing")));
        }
        if at > i {
            out.push(Piece::Text(&text[i..at]));
        }
        out.push(Piece::Ref {
            kind: &kind[..kind.len() - 1],
            name,
            at,
        });
        i = at + 2 + close + 1;
    }
    if i < text.len() {
        out.push(Piece::Text(&text[i..]));
    }
    Ok(out)
}

/// The source word of a reference-shaped `${word:...}` (letters first,
/// then letters, digits, `_` or `-`, closed by `}` later on), if `rest`
/// (what follows `${`) is one.
fn other_source(rest: &str) -> Option<&str> {
    let colon = rest.find(':')?;
    let word = &rest[..colon];
    let mut bytes = word.bytes();
    let first = bytes.next()?;
    let shaped = first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (shaped && rest[colon..].contains('}')).then_some(word)
}

/// The value of one reference, or why there is none (the message never
/// contains a value).
pub fn resolve(kind: &str, name: &str) -> Result<Secret, String> {
    let value = match kind {
        "env" => std::env::var(name).map_err(|e| match e {
            std::env::VarError::NotPresent => format!("environment variable `{name}` is not set"),
            std::env::VarError::NotUnicode(_) => {
                format!("environment variable `{name}` is not valid UTF-8")
            }
        })?,
        _ => {
            let meta = std::fs::metadata(name).map_err(|e| format!("cannot read `{name}`: {e}"))?;
            if meta.len() > MAX_FILE_BYTES {
                return Err(format!(
                    "`{name}` is {} bytes; secret files are limited to {} KiB",
                    meta.len(),
                    MAX_FILE_BYTES / 1024
                ));
            }
            let text =
                std::fs::read_to_string(name).map_err(|e| format!("cannot read `{name}`: {e}"))?;
            text.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_owned()
        }
    };
    Ok(Secret(value.into()))
}

/// `text` with every reference replaced by its value (for places that are
/// not templates, such as a feeder's path). The error carries the byte
/// offset of the reference.
pub fn interpolate(text: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    for piece in split(text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref { kind, name, at } => {
                out.push_str(resolve(kind, name).map_err(|e| (at, e))?.expose());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_other_dollars_left_alone() {
        let p = split("Bearer ${env:TOKEN} costs $5 and ${other} ${file: /k }").unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Text("Bearer "),
                Piece::Ref {
                    kind: "env",
                    name: "TOKEN",
                    at: 7
                },
                Piece::Text(" costs $5 and ${"),
                Piece::Text("other} "),
                Piece::Ref {
                    kind: "file",
                    name: "/k",
                    at: 42
                },
            ]
        );
        assert_eq!(split("x ${env:A").unwrap_err().0, 2);
        assert_eq!(split("${env:}").unwrap_err().0, 0);
    }

    #[test]
    fn a_reference_to_an_unknown_source_is_an_error_and_an_escaped_one_is_text() {
        let (at, msg) = split("Bearer ${vault:shop/key}").unwrap_err();
        assert_eq!(at, 7);
        assert!(msg.starts_with("unknown secret source `vault`"), "{msg}");
        assert_eq!(split("${ENV:TOKEN}").unwrap_err().0, 0);
        // Escaped: the literal text, nothing resolved.
        let text: String = split("a $${vault:x} and $${env:Y} b")
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Ref { .. } => panic!("resolved an escaped reference"),
            })
            .collect();
        assert_eq!(text, "a ${vault:x} and ${env:Y} b");
        // Not reference-shaped: plain text.
        assert!(split("${ not a ref: x}").is_ok());
        assert!(split("price ${9:99}").is_ok());
        assert!(split("${open: never closed").is_ok());
    }

    #[test]
    fn values_resolve_and_never_show_in_debug_or_errors() {
        let dir = std::env::temp_dir().join(format!("flashcrowd-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "s3cr3t-file\n").unwrap();
        let s = resolve("file", f.to_str().unwrap()).unwrap();
        assert_eq!(s.expose(), "s3cr3t-file");
        assert_eq!(format!("{s:?}"), "***");
        let e = resolve("env", "FLASHCROWD_SURELY_UNSET_VAR").unwrap_err();
        assert!(e.contains("not set"));
        let path = format!("/data/${{file:{}}}/x", f.display());
        assert_eq!(interpolate(&path).unwrap(), "/data/s3cr3t-file/x");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
