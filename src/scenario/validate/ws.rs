//! WebSocket steps: `ws:` (connect), `send:`, `await:` and `close:`, with
//! the fields each kind takes (`headers`, `room`, `track`, `reconnect` for a
//! connect; `capture` for an await).
//!
//! Owns the syntax of those four kinds and which shared step fields they
//! accept. Must not read the step's name, timeout or chance (`step` does)
//! nor know where the step sits in its flow.

use std::time::Duration;

use super::super::model::{CaptureFrom, Reconnect, WsAwait, WsConnect, WsSend, WsStep};
use super::super::template::Scope;
use super::super::yaml::{Kind, Node};
use super::capture;
use super::checks;
use super::cx::{self, Cx, Fields};
use super::json;
use super::step::{self, METHODS};

/// The keys that make a step a WebSocket step, one per kind.
pub const KINDS: [&str; 4] = ["ws", "send", "await", "close"];
/// Fields only a `ws:` connect step takes.
pub const CONNECT_FIELDS: [&str; 4] = ["room", "track", "reconnect", "read_delay"];
/// Default name of the tracking field.
pub const DEFAULT_TRACK: &str = "fc";
/// Longest back-off between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

const RECONNECT_HINT: &str =
    "write `reconnect: none`, `reconnect: immediate` or `reconnect: { backoff: 200ms, max: 10s }`";

/// Check the WebSocket part of a step whose kind keys are `given` (file
/// order); the caller has taken `name`, `timeout` and `chance` from `f`.
pub fn step(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    path: &str,
    given: &[(&'static str, &Node)],
    scope: &Scope<'_>,
) -> Option<WsStep> {
    let (kind, value) = match given {
        [one] => *one,
        [(first, _), (second, n), ..] => {
            cx.at(
                n,
                &cx::join(path, second),
                format!("a step does one thing, but both `{first}` and `{second}` are set"),
                Some("give each its own list item".into()),
            );
            return None;
        }
        [] => return None,
    };
    // An HTTP method next to a WebSocket kind is one step doing two things.
    for (m, _) in &METHODS {
        if let Some(e) = f.consume(m) {
            cx.report(
                e.key_pos,
                &cx::join(path, m),
                format!("a step does one thing, but both `{kind}` and `{m}` are set"),
                Some("give each its own list item".into()),
            );
        }
    }
    let allowed: &[&str] = match kind {
        "ws" => &["headers", "room", "track", "reconnect", "read_delay"],
        "await" => &["capture"],
        _ => &[],
    };
    for key in ["headers", "json", "body", "expect", "capture"]
        .into_iter()
        .chain(CONNECT_FIELDS)
        .filter(|k| !allowed.contains(k))
    {
        if let Some(e) = f.consume(key) {
            cx.report(
                e.key_pos,
                &cx::join(path, key),
                format!("`{key}` does not belong to a `{kind}` step"),
                Some(where_it_goes(key).into()),
            );
        }
    }
    let kpath = cx::join(path, kind);
    match kind {
        "ws" => connect(cx, f, value, &kpath, scope).map(WsStep::Connect),
        "send" => send(cx, value, &kpath, scope).map(WsStep::Send),
        "await" => wait(cx, f, value, &kpath, scope).map(WsStep::Await),
        _ => close(cx, value, &kpath).then_some(WsStep::Close),
    }
}

fn where_it_goes(key: &str) -> &'static str {
    match key {
        "json" | "body" => "a WebSocket message goes in `send:`, e.g. `send: { type: comment, text: hi }`",
        "expect" => "checks on a message go in `await:`, e.g. `await: { type: welcome }`",
        "capture" => "values are captured from HTTP responses or from an `await:` step's message",
        _ => "`headers`, `room`, `track`, `reconnect` and `read_delay` belong to the `ws:` step that opens the socket",
    }
}

fn connect(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    value: &Node,
    path: &str,
    scope: &Scope<'_>,
) -> Option<WsConnect> {
    let before = cx.problems();
    let target = step::path(cx, value, path, scope);
    let headers = match f.get("headers") {
        Some(n) => step::headers(cx, n, &f.path("headers"), scope),
        None => Vec::new(),
    };
    let room = match f.get("room") {
        Some(n) => step::template(cx, n, &f.path("room"), scope).map(Some),
        None => Some(None),
    };
    let track = match f.get("track") {
        None => Some(DEFAULT_TRACK.to_owned()),
        Some(n) => track(cx, n, &f.path("track")),
    };
    let reconnect = match f.get("reconnect") {
        None => Some(Reconnect::Never),
        Some(n) => reconnect(cx, n, &f.path("reconnect")),
    };
    let read_delay = match f.get("read_delay") {
        None => Some(None),
        Some(n) => cx::duration(cx, n, &f.path("read_delay"), true).map(Some),
    };
    if cx.problems() != before {
        return None;
    }
    Some(WsConnect {
        read_delay: read_delay?,
        path: target?,
        headers,
        room: room?,
        track: track?,
        reconnect: reconnect?,
    })
}

/// A tracking field name: a JSON key receivers look for, so it must be
/// plain (letters, digits, `_`, `-`).
fn track(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    let t = cx::text(cx, node, path)?;
    let ok = !t.is_empty()
        && t.len() <= 32
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        cx.at(
            node,
            path,
            format!("`{t}` is not a usable field name"),
            Some("use 1 to 32 letters, digits, `_` or `-`, e.g. `fc`".into()),
        );
        return None;
    }
    Some(t.to_owned())
}

/// `none`, `immediate` or `{ backoff: 200ms, max: 10s }`.
fn reconnect(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Reconnect> {
    if let Kind::Scalar { text, .. } = &node.kind {
        return match &**text {
            "none" => Some(Reconnect::Never),
            "immediate" => Some(Reconnect::Immediate),
            other => {
                cx.at(
                    node,
                    path,
                    format!("unknown reconnect policy `{other}`"),
                    Some(RECONNECT_HINT.into()),
                );
                None
            }
        };
    }
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a policy such as `{ backoff: 200ms, max: 10s }`",
    )?;
    let base = f
        .required(cx, "backoff")
        .and_then(|n| cx::duration(cx, n, &f.path("backoff"), true));
    let max_node = f.get("max");
    let max = match max_node {
        None => base.map(|b| (b * 32).min(MAX_BACKOFF)),
        Some(n) => cx::duration(cx, n, &f.path("max"), true),
    };
    f.finish(cx);
    let (base, max) = (base?, max?);
    if let Some(n) = max_node {
        if max < base || max > MAX_BACKOFF {
            cx.at(
                n,
                &cx::join(path, "max"),
                format!(
                    "`max` must be between `backoff` and {} s",
                    MAX_BACKOFF.as_secs()
                ),
                Some(RECONNECT_HINT.into()),
            );
            return None;
        }
    }
    Some(Reconnect::Backoff { base, max })
}

/// A map is a tracked JSON object; a string is sent as written.
fn send(cx: &mut Cx<'_>, node: &Node, path: &str, scope: &Scope<'_>) -> Option<WsSend> {
    match &node.kind {
        Kind::Map(_) => json::body(cx, node, path, scope).map(WsSend::Tracked),
        Kind::Scalar { .. } => step::template(cx, node, path, scope).map(WsSend::Text),
        _ => {
            cx.at(
                node,
                path,
                format!(
                    "expected a JSON object or a text, found {}",
                    node.describe()
                ),
                Some("write e.g. `send: { type: comment, text: \"hi {{ seq() }}\" }`".into()),
            );
            None
        }
    }
}

/// `await: { PATH: VALUE, ... }` (`{}`: any message).
fn wait(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    node: &Node,
    path: &str,
    scope: &Scope<'_>,
) -> Option<WsAwait> {
    let checks = checks::json_checks(cx, node, path);
    let capture_node = f.get("capture");
    let captures = match capture_node {
        None => Vec::new(),
        Some(n) => capture::captures(cx, n, &f.path("capture"), scope)?,
    };
    // Every capture was valid, so they pair with the map's entries.
    let entries = capture_node.map(capture_nodes).unwrap_or_default();
    let mut headers = false;
    for (c, n) in captures.iter().zip(entries) {
        if matches!(c.from, CaptureFrom::Header(_)) {
            headers = true;
            cx.at(
                n,
                &f.path("capture"),
                "a message has no headers to capture from",
                Some("capture with `json:` or `regex:`".into()),
            );
        }
    }
    if headers {
        return None;
    }
    Some(WsAwait {
        checks: checks?,
        captures,
    })
}

fn capture_nodes(node: &Node) -> Vec<&Node> {
    match &node.kind {
        Kind::Map(entries) => entries.iter().map(|e| &e.value).collect(),
        _ => Vec::new(),
    }
}

/// `close: true`.
fn close(cx: &mut Cx<'_>, node: &Node, path: &str) -> bool {
    match &node.kind {
        Kind::Scalar { text, .. } if &**text == "true" => true,
        _ => {
            cx.at(
                node,
                path,
                format!("expected `true`, found {}", node.describe()),
                Some("write `- close: true`".into()),
            );
            false
        }
    }
}
