//! `expect:`: what makes a response a success — accepted status codes and
//! checks on the JSON body.
//!
//! Owns the check syntax: `201`, `2xx`, `[201, 409]`, or
//! `{ status: ..., json: { "order.id": { exists: true }, status: placed } }`.
//! Must not evaluate checks (the model's `JsonCheck::holds` does).

use super::super::model::{Expect, JsonCheck, JsonCond, JsonPathSeg};
use super::super::yaml::{Kind, Node};
use super::cx::{self, Cx, Fields};
use super::json;

const STATUS_HINT: &str =
    "write a code such as `201`, a class such as `2xx`, or a list such as `[201, 409]`";

/// Check an `expect:` value.
pub fn expect(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Expect> {
    match &node.kind {
        Kind::Map(_) => {
            let mut f = Fields::of(cx, node, path, "a map")?;
            let status = match f.get("status") {
                Some(n) => statuses(cx, n, &f.path("status")),
                None => Some(Expect::default().status),
            };
            let checks = match f.get("json") {
                Some(n) => json_checks(cx, n, &f.path("json")),
                None => Some(Vec::new()),
            };
            f.finish(cx);
            Some(Expect {
                status: status?,
                json: checks?,
            })
        }
        _ => statuses(cx, node, path).map(|status| Expect {
            status,
            json: Vec::new(),
        }),
    }
}

/// One status or a list of them.
fn statuses(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<(u16, u16)>> {
    match &node.kind {
        Kind::Seq(items) => {
            if items.is_empty() {
                cx.at(
                    node,
                    path,
                    "the list of accepted statuses is empty",
                    Some(STATUS_HINT.into()),
                );
                return None;
            }
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match status(cx, item, &cx::index(path, i)) {
                    Some(s) => out.push(s),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        _ => status(cx, node, path).map(|s| vec![s]),
    }
}

/// `201` or `2xx`, as an inclusive range.
pub(super) fn status(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<(u16, u16)> {
    let Some(text) = node.as_scalar() else {
        cx.wrong_type(node, path, "a status code");
        return None;
    };
    let t = text.trim();
    if let Ok(code) = t.parse::<u16>() {
        if (100..=599).contains(&code) {
            return Some((code, code));
        }
    }
    if let [d @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] = t.as_bytes() {
        let base = u16::from(d - b'0') * 100;
        return Some((base, base + 99));
    }
    cx.at(
        node,
        path,
        format!("`{t}` is not an HTTP status (100-599) or class (`2xx`)"),
        Some(STATUS_HINT.into()),
    );
    None
}

/// `json: { PATH: VALUE | { equals: VALUE } | { exists: true } }`.
pub fn json_checks(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<JsonCheck>> {
    let entries = cx::entries(cx, node, path, "a map of JSON paths to expected values")?;
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for e in entries {
        let p = cx::join(path, &e.key);
        let segs = match json_path(&e.key) {
            Ok(segs) => Some(segs),
            Err(msg) => {
                cx.report(
                    e.key_pos,
                    &p,
                    msg,
                    Some("paths look like `order.id` or `items[0].sku`".into()),
                );
                None
            }
        };
        let cond = match &e.value.kind {
            Kind::Map(_) => condition(cx, &e.value, &p),
            _ => Some(JsonCond::Equals(json::value(&e.value))),
        };
        match (segs, cond) {
            (Some(path), Some(cond)) => out.push(JsonCheck {
                path_text: e.key.to_string(),
                path,
                cond,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `{ equals: VALUE }` or `{ exists: true }`.
fn condition(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<JsonCond> {
    let mut f = Fields::of(cx, node, path, "a map")?;
    let equals = f.entry("equals");
    let exists = f.entry("exists");
    f.finish(cx);
    match (equals, exists) {
        (Some(e), None) => Some(JsonCond::Equals(json::value(&e.value))),
        (None, Some(e)) => match e.value.as_scalar() {
            Some("true") => Some(JsonCond::Exists),
            _ => {
                cx.at(
                    &e.value,
                    &cx::join(path, "exists"),
                    format!("expected `true`, found {}", e.value.describe()),
                    Some("only `exists: true` is supported".into()),
                );
                None
            }
        },
        (Some(_), Some(later)) => {
            cx.report(
                later.key_pos,
                &cx::join(path, "exists"),
                "a check is either `equals` or `exists`, not both",
                None,
            );
            None
        }
        (None, None) => {
            cx.at(
                node,
                path,
                "a check needs `equals: VALUE` or `exists: true`",
                Some("to compare with a whole object, write `{ equals: { ... } }`".into()),
            );
            None
        }
    }
}

/// `order.items[0].sku` → keys and indexes.
pub fn json_path(text: &str) -> Result<Vec<JsonPathSeg>, String> {
    let mut segs = Vec::new();
    for (n, part) in text.split('.').enumerate() {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && (n > 0 || rest.is_empty()) {
            return Err(format!("`{text}` has an empty segment"));
        }
        if !key.is_empty() {
            segs.push(JsonPathSeg::Key(key.to_owned()));
        }
        while !rest.is_empty() {
            let Some(close) = rest.find(']') else {
                return Err(format!("`{text}` has an unclosed `[`"));
            };
            let index = rest[1..close]
                .parse::<usize>()
                .map_err(|_| format!("`{}` is not a list index in `{text}`", &rest[1..close]))?;
            segs.push(JsonPathSeg::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("`{text}` needs a `.` after `]`"));
            }
        }
    }
    Ok(segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_mix_keys_and_indexes() {
        use JsonPathSeg::{Index, Key};
        assert_eq!(
            json_path("order.items[0].sku").unwrap(),
            vec![
                Key("order".into()),
                Key("items".into()),
                Index(0),
                Key("sku".into())
            ]
        );
        assert_eq!(json_path("[2][0]").unwrap(), vec![Index(2), Index(0)]);
        assert!(json_path("a..b").is_err());
        assert!(json_path("a[x]").is_err());
        assert!(json_path("a[1").is_err());
        assert!(json_path("a[1]b").is_err());
        assert!(json_path("").is_err());
    }
}
