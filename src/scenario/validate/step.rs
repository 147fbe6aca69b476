//! Steps: one HTTP request with its headers, body, checks, timeout, funnel
//! `chance` and `capture`s, and the templates in them; WebSocket steps
//! share the name, timeout and chance and leave the rest to `ws`.
//!
//! Owns checking a step's fields and parsing its templates. Must not know
//! where the step sits in its flow's program (loops, branches): the caller
//! names and numbers it.

use http::{HeaderName, Method};

use super::super::model::{Body, Expect, Request, Step, StepKind};
use super::super::template::{Scope, Template};
use super::super::yaml::{Node, Pos};
use super::capture;
use super::checks;
use super::cx::{self, Cx, Fields};
use super::json;
use super::ledger;
use super::settings::Defaults;
use super::ws;

/// Timeout of a step when neither it nor `defaults` sets one.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub const METHODS: [(&str, Method); 6] = [
    ("get", Method::GET),
    ("post", Method::POST),
    ("put", Method::PUT),
    ("patch", Method::PATCH),
    ("delete", Method::DELETE),
    ("head", Method::HEAD),
];

/// Every field a step may have, HTTP or WebSocket.
pub const STEP_FIELDS: [&str; 23] = [
    "name",
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "head",
    "headers",
    "json",
    "body",
    "expect",
    "timeout",
    "chance",
    "capture",
    "ws",
    "send",
    "await",
    "close",
    "room",
    "track",
    "reconnect",
    "ledger",
    "retry",
];

/// A checked request step: its name (and where it is written; `None` if
/// the name is invalid), the step if nothing about it was wrong, and its
/// funnel chance (1 unless `chance` says otherwise).
pub struct Checked {
    pub name: Option<(String, Pos)>,
    pub step: Option<Step>,
    pub chance: Option<f64>,
}

/// Check one request step; `default_name` is its name unless it sets one.
/// `scope.session` holds the flow's session variables.
pub fn step(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    default_name: String,
    scope: &Scope<'_>,
    defaults: &Defaults,
) -> Checked {
    let before = cx.problems();
    let Some(mut f) = Fields::of(cx, node, path, "a step (a map such as `{ get: /path }`)") else {
        return Checked {
            name: None,
            step: None,
            chance: None,
        };
    };
    let name = match f.get("name") {
        None => Some((default_name, node.start)),
        Some(n) => cx::text(cx, n, &f.path("name")).and_then(|t| {
            cx::check_name(cx, t, n.start, &f.path("name"), "step", false)
                .then(|| (t.to_owned(), n.start))
        }),
    };

    let chance = match f.get("chance") {
        None => Some(1.0),
        Some(n) => cx::share(cx, n, &f.path("chance")),
    };
    let timeout = match f.get("timeout") {
        None => Some(defaults.timeout.unwrap_or(DEFAULT_TIMEOUT)),
        Some(n) => cx::duration(cx, n, &f.path("timeout"), true),
    };
    let ws_given = f.present(&ws::KINDS);
    if !ws_given.is_empty() {
        let kind = ws::step(cx, &mut f, path, &ws_given, scope);
        f.finish(cx);
        let clean = cx.problems() == before;
        let step = match (&name, kind, timeout) {
            (Some((name, _)), Some(kind), Some(timeout)) if clean => Some(Step {
                name: name.clone(),
                timeout,
                kind: StepKind::Ws(kind),
            }),
            _ => None,
        };
        return Checked { name, step, chance };
    }

    let mut requests = Vec::new();
    for (key, method) in &METHODS {
        if let Some(e) = f.entry(key) {
            requests.push((key, method.clone(), e));
        }
    }
    let headers_node = f.get("headers");
    let json_entry = f.entry("json");
    let body_entry = f.entry("body");
    let expect_node = f.get("expect");
    let ledger_node = f.get("ledger");
    let retry_node = f.get("retry");
    let captures = match f.get("capture") {
        None => Some(Vec::new()),
        Some(n) => capture::captures(cx, n, &f.path("capture"), scope),
    };
    for key in ws::CONNECT_FIELDS {
        if let Some(e) = f.consume(key) {
            cx.report(
                e.key_pos,
                &cx::join(path, key),
                format!("`{key}` belongs to a `ws:` step, not to an HTTP request"),
                None,
            );
        }
    }
    // `GET: /x` is reported once, as an unknown field suggesting `get`.
    let miscased = METHODS.iter().any(|(m, _)| f.has_key_ignoring_case(m));
    f.finish(cx);

    let request = match requests.as_slice() {
        [] if miscased => None,
        [] => {
            cx.at(
                node,
                path,
                "a step needs a method and a path",
                Some("write e.g. `get: /api/products/sku-1`; methods are get, post, put, patch, delete, head; WebSocket steps are ws, send, await, close".into()),
            );
            None
        }
        [(key, method, e)] => {
            let p = cx::join(path, key);
            self::path(cx, &e.value, &p, scope).map(|t| (method.clone(), t))
        }
        [(first, ..), (second, _, e), ..] => {
            let p = cx::join(path, second);
            cx.report(
                e.key_pos,
                &p,
                format!("a step makes one request, but both `{first}` and `{second}` are set"),
                Some("split it into two steps".into()),
            );
            None
        }
    };

    let mut headers = match headers_node {
        Some(n) => self::headers(cx, n, &cx::join(path, "headers"), scope),
        None => Vec::new(),
    };
    let mut merged: Vec<(HeaderName, Template)> = defaults
        .headers
        .iter()
        .filter(|(name, _)| !headers.iter().any(|(h, _)| h == name))
        .cloned()
        .collect();
    merged.append(&mut headers);

    let body = match (json_entry, body_entry) {
        (Some(j), Some(b)) => {
            let later = if b.key_pos > j.key_pos { b } else { j };
            cx.report(
                later.key_pos,
                &cx::join(path, &later.key),
                "a step sends either `json` or `body`, not both",
                None,
            );
            None
        }
        (Some(j), None) => json::body(cx, &j.value, &cx::join(path, "json"), scope).map(Body::Json),
        (None, Some(b)) => template(cx, &b.value, &cx::join(path, "body"), scope).map(Body::Text),
        (None, None) => None,
    };

    let expect = match expect_node {
        None => Some(Expect::default()),
        Some(n) => checks::expect(cx, n, &cx::join(path, "expect")),
    };
    let header_names: Vec<HeaderName> = merged.iter().map(|(h, _)| h.clone()).collect();
    let ledger = match ledger_node {
        None => Some(None),
        Some(n) => ledger::ledger(cx, n, &cx::join(path, "ledger"), &header_names).map(Some),
    };
    let retry = match retry_node {
        None => Some(None),
        Some(n) => ledger::retry(cx, n, &cx::join(path, "retry")).map(Some),
    };

    // Build the step only if checking it found nothing wrong.
    let clean = cx.problems() == before;
    let step = match (&name, request, expect, timeout, captures, ledger.zip(retry)) {
        (
            Some((name, _)),
            Some((method, path)),
            Some(expect),
            Some(timeout),
            Some(captures),
            Some((ledger, retry)),
        ) if clean => Some(Step {
            name: name.clone(),
            timeout,
            kind: StepKind::Http(Request {
                method,
                path,
                headers: merged,
                body,
                expect,
                captures,
                ledger,
                retry,
            }),
        }),
        _ => None,
    };
    Checked { name, step, chance }
}

/// A request path: a template starting with `/`, without spaces.
pub fn path(cx: &mut Cx<'_>, node: &Node, path: &str, scope: &Scope<'_>) -> Option<Template> {
    let text = cx::text(cx, node, path)?;
    if !text.starts_with('/') {
        cx.at(
            node,
            path,
            format!("the path must start with `/`, found {}", node.describe()),
            Some("the target's base URL goes in `target:`; steps give the path, e.g. `/api/inventory`".into()),
        );
        return None;
    }
    let t = template(cx, node, path, scope)?;
    if t.literal_runs()
        .any(|run| run.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        cx.at(
            node,
            path,
            "the path contains a space or control character",
            Some("percent-encode it, e.g. `%20` for a space".into()),
        );
        return None;
    }
    Some(t)
}

/// A map of header names to value templates.
pub fn headers(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    scope: &Scope<'_>,
) -> Vec<(HeaderName, Template)> {
    let mut out: Vec<(HeaderName, Template)> = Vec::new();
    let Some(entries) = cx::entries(cx, node, path, "a map of header names to values") else {
        return out;
    };
    for e in entries {
        let p = cx::join(path, &e.key);
        let name = match HeaderName::from_bytes(e.key.as_bytes()) {
            Ok(n) => Some(n),
            Err(_) => {
                cx.report(
                    e.key_pos,
                    &p,
                    format!("`{}` is not a valid header name", e.key),
                    Some("header names are letters, digits and `-`, e.g. `Idempotency-Key`".into()),
                );
                None
            }
        };
        if let Some(n) = &name {
            if out.iter().any(|(h, _)| h == n) {
                cx.report(
                    e.key_pos,
                    &p,
                    format!("header `{}` is set twice (names ignore case)", e.key),
                    None,
                );
                continue;
            }
        }
        let Some(text) = cx::text(cx, &e.value, &p) else {
            continue;
        };
        if let Some(bad) = text.find(|c: char| (c.is_control() && c != '\t') || c == '\u{7f}') {
            cx.inside(
                &e.value,
                bad,
                &p,
                "header values can't contain line breaks or control characters",
                None,
            );
            continue;
        }
        if let (Some(name), Some(t)) = (name, template(cx, &e.value, &p, scope)) {
            out.push((name, t));
        }
    }
    out
}

/// Parse a scalar as a template, reporting each problem at its character.
pub fn template(cx: &mut Cx<'_>, node: &Node, path: &str, scope: &Scope<'_>) -> Option<Template> {
    let text = cx::text(cx, node, path)?;
    match Template::parse(text, scope) {
        Ok(t) => Some(t),
        Err(errors) => {
            for e in errors {
                cx.inside(node, e.offset, path, e.message, e.hint);
            }
            None
        }
    }
}
