//! `capture:`: values a step takes from its response into session
//! variables (`{ json: order_id }`, `{ header: Location }`,
//! `{ regex: "o-(\\d+)", group: 1 }`), and the list of a flow's session
//! variables.
//!
//! Owns the capture syntax, naming session variables and giving them slots.
//! Must not evaluate captures against responses.

use http::HeaderName;

use super::super::model::{Capture, CaptureFrom};
use super::super::template::Scope;
use super::super::yaml::{Kind, Node};
use super::checks;
use super::cx::{self, Cx, Fields};
use super::flows::{CONTROL, MAX_NESTING};

/// Largest compiled capture pattern; a hand-written one is far smaller.
const MAX_REGEX_BYTES: usize = 1 << 20;
const SOURCE_HINT: &str = "write `{ json: order.id }`, `{ header: Location }` or \
`{ regex: \"o-(\\\\d+)\" }`";

/// The session variables of a flow: every well-formed name under a
/// `capture:` of one of its request steps, loops and branches included,
/// each once, in order of first appearance. The position of a name is its
/// slot. Problems are left for [`captures`] to report.
pub fn names(items: &[Node]) -> Vec<String> {
    let mut out = Vec::new();
    collect(items, 0, &mut out);
    out
}

fn collect(items: &[Node], depth: usize, out: &mut Vec<String>) {
    if depth > MAX_NESTING {
        return;
    }
    for item in items {
        let Kind::Map(entries) = &item.kind else {
            continue;
        };
        if entries.iter().any(|e| CONTROL.contains(&&*e.key)) {
            for e in entries.iter() {
                match (&*e.key, &e.value.kind) {
                    ("loop", Kind::Map(fields)) => {
                        for f in fields.iter().filter(|f| &*f.key == "steps") {
                            if let Kind::Seq(body) = &f.value.kind {
                                collect(body, depth + 1, out);
                            }
                        }
                    }
                    ("choose", Kind::Seq(branches)) => {
                        for b in branches.iter() {
                            let Kind::Map(fields) = &b.kind else { continue };
                            for f in fields.iter().filter(|f| &*f.key == "steps") {
                                if let Kind::Seq(body) = &f.value.kind {
                                    collect(body, depth + 1, out);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            continue;
        }
        for e in entries.iter().filter(|e| &*e.key == "capture") {
            let Kind::Map(captures) = &e.value.kind else {
                continue;
            };
            for c in captures.iter() {
                if cx::is_ident(&c.key) && !out.iter().any(|n| **n == *c.key) {
                    out.push(c.key.to_string());
                }
            }
        }
    }
}

/// A step's `capture:` map. `scope.session` holds the flow's session
/// variables (from [`names`]).
pub fn captures(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    scope: &Scope<'_>,
) -> Option<Vec<Capture>> {
    let entries = cx::entries(
        cx,
        node,
        path,
        "a map of variable names to sources, such as `{ order_id: { json: order_id } }`",
    )?;
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for e in entries {
        let p = cx::join(path, &e.key);
        let mut named = cx::check_name(cx, &e.key, e.key_pos, &p, "variable", true);
        if named && scope.vars.iter().any(|(n, _)| **n == *e.key) {
            cx.report(
                e.key_pos,
                &p,
                format!("`{}` is both a scenario variable and a capture", e.key),
                Some(format!(
                    "rename the capture: `{{{{ {} }}}}` would be ambiguous",
                    e.key
                )),
            );
            named = false;
        }
        if named && scope.feeders.iter().any(|(n, _)| **n == *e.key) {
            cx.report(
                e.key_pos,
                &p,
                format!("`{}` is both a feeder and a capture", e.key),
                Some("rename the capture".into()),
            );
            named = false;
        }
        let slot = scope.session.iter().position(|n| **n == *e.key);
        let from = source(cx, &e.value, &p);
        match (named, slot, from) {
            (true, Some(var), Some(from)) => out.push(Capture { var, from }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `{ json: PATH }`, `{ header: NAME }` or `{ regex: PATTERN, group: N }`.
fn source(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<CaptureFrom> {
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a source such as `{ json: order.id }` or `{ header: Location }`",
    )?;
    let given = f.present(&["json", "header", "regex"]);
    let group = f.get("group").map(|n| (n, f.path("group")));
    let before = cx.problems();
    f.finish(cx);
    let unknown = cx.problems() > before;
    let from = match given.as_slice() {
        // An unknown field was reported with the known ones; that says it.
        [] if unknown => return None,
        [] => {
            cx.at(
                node,
                path,
                "a capture needs `json`, `header` or `regex`",
                Some(SOURCE_HINT.into()),
            );
            return None;
        }
        [("regex", n)] => return regex(cx, n, &cx::join(path, "regex"), group),
        [("json", n)] => json(cx, n, &cx::join(path, "json")),
        [(_, n)] => header(cx, n, &cx::join(path, "header")),
        [(first, _), (second, n), ..] => {
            cx.at(
                n,
                &cx::join(path, second),
                format!("a capture has one source, found `{first}` and `{second}`"),
                Some("capture each into its own variable".into()),
            );
            None
        }
    };
    if let Some((n, p)) = group {
        cx.at(
            n,
            &p,
            "`group` goes with `regex`",
            Some("`json` and `header` take the whole value".into()),
        );
        return None;
    }
    from
}

/// A JSON body path such as `order.id` or `items[0].sku`.
fn json(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<CaptureFrom> {
    let text = cx::text(cx, node, path)?;
    match checks::json_path(text) {
        Ok(segs) => Some(CaptureFrom::Json(segs)),
        Err(msg) => {
            cx.at(
                node,
                path,
                msg,
                Some("paths look like `order_id`, `order.id` or `items[0].sku`".into()),
            );
            None
        }
    }
}

fn header(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<CaptureFrom> {
    let text = cx::text(cx, node, path)?;
    match HeaderName::from_bytes(text.as_bytes()) {
        Ok(name) => Some(CaptureFrom::Header(name)),
        Err(_) => {
            cx.at(
                node,
                path,
                format!("`{text}` is not a valid header name"),
                Some("header names are letters, digits and `-`, e.g. `Location`".into()),
            );
            None
        }
    }
}

/// A pattern over the body and which group of it to take: by default
/// group 1 if the pattern has one, else the whole match.
fn regex(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    group: Option<(&Node, String)>,
) -> Option<CaptureFrom> {
    let pattern = cx::text(cx, node, path)?;
    let re = match regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .build()
    {
        Ok(re) => re,
        Err(e) => {
            let (offset, message) = regex_problem(pattern, &e);
            cx.inside(
                node,
                offset,
                path,
                format!("invalid regular expression: {message}"),
                Some("in a double-quoted YAML string, write a backslash twice: \"o-(\\\\d+)\"; single quotes keep it as is: 'o-(\\d+)'".into()),
            );
            return None;
        }
    };
    let groups = re.captures_len();
    let group = match group {
        None => usize::from(groups > 1),
        Some((n, p)) => {
            let text = cx::text(cx, n, &p)?;
            let found = if text.bytes().all(|b| b.is_ascii_digit()) {
                text.parse::<usize>().ok().filter(|g| *g < groups)
            } else {
                re.capture_names().position(|name| name == Some(text))
            };
            let Some(g) = found else {
                let hint = match groups - 1 {
                    0 => "the pattern has no groups; `group: 0` (the default) is the whole match"
                        .to_owned(),
                    1 => "the pattern has one group: 1 (0 is the whole match)".to_owned(),
                    k => format!("the pattern has groups 1 to {k} (0 is the whole match)"),
                };
                cx.at(
                    n,
                    &p,
                    format!("the pattern has no group `{text}`"),
                    Some(hint),
                );
                return None;
            };
            g
        }
    };
    Some(CaptureFrom::Regex { re, group })
}

/// Where in the pattern a regex error is (a byte offset, 0 when it can't
/// be told) and its message without the pattern echo.
fn regex_problem(pattern: &str, e: &regex::Error) -> (usize, String) {
    let regex::Error::Syntax(text) = e else {
        return match e {
            regex::Error::CompiledTooBig(_) => (0, "the pattern is too large".to_owned()),
            other => (0, other.to_string()),
        };
    };
    let lines: Vec<&str> = text.lines().collect();
    let message = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or("it does not parse")
        .to_owned();
    // A one-line pattern is echoed indented by four, with carets below.
    let offset = match lines.as_slice() {
        [_, echo, carets, _] if echo.strip_prefix("    ") == Some(pattern) => carets
            .find('^')
            .and_then(|c| carets.get(4..c))
            .map(|lead| lead.chars().count())
            .and_then(|chars| pattern.char_indices().nth(chars))
            .map_or(0, |(i, _)| i),
        _ => 0,
    };
    (offset, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_problems_point_into_the_pattern() {
        let pattern = "o-(\\d+";
        let Err(e) = regex::Regex::new(pattern) else {
            panic!("the pattern should not compile");
        };
        assert_eq!(regex_problem(pattern, &e), (2, "unclosed group".to_owned()));
        let pattern = "[z-a]";
        let Err(e) = regex::Regex::new(pattern) else {
            panic!("the pattern should not compile");
        };
        let (offset, message) = regex_problem(pattern, &e);
        assert_eq!(offset, 1);
        assert!(message.starts_with("invalid character class range"));
    }
}
