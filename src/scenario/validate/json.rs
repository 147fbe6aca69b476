//! JSON written as YAML: request bodies (`json:`), whose strings are
//! templates, and the expected values of response checks.
//!
//! Owns how a YAML scalar becomes a JSON value: plain `null`/`~`, `true`,
//! `false` and JSON numbers keep their type; everything else, and every
//! quoted scalar, is a string. Must not know which step it belongs to.

use super::super::template::{JsonTemplate, Scope};
use super::super::yaml::{Kind, Node, Style};
use super::cx::{self, Cx};
use super::step::template;

/// The typed value of a plain scalar, or `None` if it is a string.
fn typed(text: &str, style: Style) -> Option<serde_json::Value> {
    if style != Style::Plain {
        return None;
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Some(serde_json::Value::Null),
        "true" | "True" | "TRUE" => Some(serde_json::Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(serde_json::Value::Bool(false)),
        _ => serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .map(serde_json::Value::Number),
    }
}

/// A `json:` request body.
pub fn body(cx: &mut Cx<'_>, node: &Node, path: &str, scope: &Scope<'_>) -> Option<JsonTemplate> {
    match &node.kind {
        Kind::Scalar { text, style } => match typed(text, *style) {
            Some(serde_json::Value::Null) => Some(JsonTemplate::Null),
            Some(serde_json::Value::Bool(b)) => Some(JsonTemplate::Bool(b)),
            Some(serde_json::Value::Number(n)) => Some(JsonTemplate::Number(n)),
            _ => template(cx, node, path, scope).map(JsonTemplate::String),
        },
        Kind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match body(cx, item, &cx::index(path, i), scope) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            ok.then_some(JsonTemplate::Array(out))
        }
        Kind::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            let mut ok = true;
            for e in entries.iter() {
                let p = cx::join(path, &e.key);
                if e.key.contains("{{") {
                    cx.report(
                        e.key_pos,
                        &p,
                        "JSON keys are sent as written; templates work only in values",
                        None,
                    );
                    ok = false;
                    continue;
                }
                match body(cx, &e.value, &p, scope) {
                    Some(v) => out.push((e.key.to_string(), v)),
                    None => ok = false,
                }
            }
            ok.then_some(JsonTemplate::Object(out))
        }
    }
}

/// A fixed JSON value (no templates), e.g. what a check expects.
pub fn value(node: &Node) -> serde_json::Value {
    match &node.kind {
        Kind::Scalar { text, style } => {
            typed(text, *style).unwrap_or_else(|| serde_json::Value::String(text.to_string()))
        }
        Kind::Seq(items) => serde_json::Value::Array(items.iter().map(value).collect()),
        Kind::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|e| (e.key.to_string(), value(&e.value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_keep_json_types_and_quoted_ones_are_strings() {
        assert_eq!(typed("1", Style::Plain), Some(serde_json::json!(1)));
        assert_eq!(typed("1.5", Style::Plain), Some(serde_json::json!(1.5)));
        assert_eq!(typed("true", Style::Plain), Some(serde_json::json!(true)));
        assert_eq!(typed("~", Style::Plain), Some(serde_json::Value::Null));
        assert_eq!(typed("1", Style::DoubleQuoted), None);
        assert_eq!(typed("01234", Style::Plain), None);
        assert_eq!(typed("drop-1", Style::Plain), None);
    }
}
