//! `ledger:` and `retry:` on an HTTP step, and the scenario's top-level
//! `invariants:` block.
//!
//! Owns their syntax, defaults and cross-checks (a checkout needs its key
//! header; an invariant needs the ledger steps it judges). Must not know
//! how histories are recorded or how the platform is read.

use std::time::Duration;

use http::HeaderName;

use super::super::model::{
    Flow, InvariantKind, Invariants, JsonPathSeg, LedgerOp, Retry, RetryOn, StepKind,
};
use super::super::yaml::{Kind, Node};
use super::checks;
use super::cx::{self, Cx, Fields};

const OPS: [&str; 3] = ["checkout", "track", "comment"];

/// Most retries a step may ask for: beyond this a retry storm is the
/// scenario's bug, not a rehearsal.
const MAX_RETRIES: u64 = 20;

/// `ledger: checkout` or `ledger: { op: checkout, sku: ..., ... }`.
/// `headers` are the step's request headers (the checkout's key must be
/// one of them).
pub fn ledger(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    headers: &[HeaderName],
) -> Option<LedgerOp> {
    let (op, mut fields, op_path) = match &node.kind {
        Kind::Map(_) => {
            let mut f = Fields::of(cx, node, path, "a ledger operation")?;
            let op_node = f.required(cx, "op")?;
            let p = f.path("op");
            let op = cx::text(cx, op_node, &p)?.to_owned();
            (op, Some(f), (op_node, p))
        }
        _ => {
            let op = cx::text(cx, node, path)?.to_owned();
            (op, None, (node, path.to_owned()))
        }
    };
    let mut field =
        |cx: &mut Cx<'_>, key: &'static str, default: &str| -> Option<Vec<JsonPathSeg>> {
            match fields
                .as_mut()
                .and_then(|f| f.get(key).map(|n| (n, f.path(key))))
            {
                None => checks::json_path(default).ok(),
                Some((n, p)) => {
                    let text = cx::text(cx, n, &p)?;
                    match checks::json_path(text) {
                        Ok(segs) => Some(segs),
                        Err(msg) => {
                            cx.at(
                                n,
                                &p,
                                msg,
                                Some("paths look like `order_id` or `order.id`".into()),
                            );
                            None
                        }
                    }
                }
            }
        };
    let out = match op.as_str() {
        "checkout" => {
            let sku = field(cx, "sku", "sku");
            let order_id = field(cx, "order_id", "order_id");
            let key_header = match fields
                .as_mut()
                .and_then(|f| f.get("key_header").map(|n| (n, f.path("key_header"))))
            {
                None => Some(HeaderName::from_static("idempotency-key")),
                Some((n, p)) => {
                    let text = cx::text(cx, n, &p)?;
                    match HeaderName::from_bytes(text.as_bytes()) {
                        Ok(h) => Some(h),
                        Err(_) => {
                            cx.at(n, &p, format!("`{text}` is not a valid header name"), None);
                            None
                        }
                    }
                }
            };
            if let Some(h) = &key_header {
                if !headers.contains(h) {
                    cx.at(
                        node,
                        path,
                        format!("a checkout ledger step needs its `{h}` request header: it is the operation's logical key"),
                        Some("add e.g. `headers: { Idempotency-Key: \"{{ uuid() }}\" }`".into()),
                    );
                    return None;
                }
            }
            Some(LedgerOp::Checkout {
                key_header: key_header?,
                sku: sku?,
                order_id: order_id?,
            })
        }
        "track" => {
            let order_id = field(cx, "order_id", "order_id");
            let status = field(cx, "status", "status");
            Some(LedgerOp::Track {
                order_id: order_id?,
                status: status?,
            })
        }
        "comment" => field(cx, "id", "id").map(|id| LedgerOp::Comment { id }),
        other => {
            let (n, p) = op_path;
            cx.at(
                n,
                &p,
                format!("unknown ledger operation `{other}`"),
                cx::name_hint(other, OPS, "ledger operations"),
            );
            None
        }
    };
    if let Some(f) = fields {
        f.finish(cx);
    }
    out
}

/// `retry: { on: [timeout, reset, 503], max: 3, same_key: true, backoff: 100ms }`.
pub fn retry(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Retry> {
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a map such as `{ on: [timeout, 503], max: 3 }`",
    )?;
    let on = f
        .required(cx, "on")
        .and_then(|n| retry_on(cx, n, &f.path("on")));
    let max = match f.get("max") {
        None => Some(3),
        Some(n) => {
            let p = f.path("max");
            cx::uint(cx, n, &p).and_then(|m| {
                if (1..=MAX_RETRIES).contains(&m) {
                    u32::try_from(m).ok()
                } else {
                    cx.at(n, &p, format!("retries must be 1 to {MAX_RETRIES}"), None);
                    None
                }
            })
        }
    };
    let same_key = match f.get("same_key") {
        None => Some(true),
        Some(n) => cx::boolean(cx, n, &f.path("same_key")),
    };
    let backoff = match f.get("backoff") {
        None => Some(Duration::from_millis(100)),
        Some(n) => cx::duration(cx, n, &f.path("backoff"), false),
    };
    f.finish(cx);
    Some(Retry {
        on: on?,
        max: max?,
        same_key: same_key?,
        backoff: backoff?,
    })
}

fn retry_on(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<RetryOn> {
    let items: Vec<(usize, &Node)> = match &node.kind {
        Kind::Seq(items) => items.iter().enumerate().collect(),
        _ => vec![(0, node)],
    };
    let mut on = RetryOn::default();
    let mut ok = true;
    for (i, item) in items {
        let p = if matches!(node.kind, Kind::Seq(_)) {
            cx::index(path, i)
        } else {
            path.to_owned()
        };
        match item.as_scalar().map(str::trim) {
            Some("timeout") => on.timeout = true,
            Some("reset") => on.reset = true,
            Some("connect") => on.connect = true,
            Some(t) if t.starts_with(|c: char| c.is_ascii_digit()) => {
                match checks::status(cx, item, &p) {
                    Some(s) => on.status.push(s),
                    None => ok = false,
                }
            }
            _ => {
                cx.at(
                    item,
                    &p,
                    format!("cannot retry on {}", item.describe()),
                    Some("retry on `timeout`, `reset`, `connect`, a status such as `503` or a class such as `5xx`".into()),
                );
                ok = false;
            }
        }
    }
    ok.then_some(on)
}

/// The top-level `invariants:`: a list of names, or a map with `check`
/// and the reading settings. `flows` are the validated flows (their
/// ledger steps are what the invariants judge); unless `flows_complete`,
/// some were left out for their own problems, so a missing ledger step is
/// not reported again here.
pub fn invariants(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    flows: &[Flow],
    flows_complete: bool,
) -> Invariants {
    let mut out = Invariants::default();
    let Some(node) = node else {
        return out;
    };
    let path = "invariants";
    let check_node = match &node.kind {
        Kind::Map(_) => {
            let Some(mut f) = Fields::of(cx, node, path, "a list of invariants or a map") else {
                return out;
            };
            let check = f.required(cx, "check");
            if let Some(n) = f.get("settle") {
                if let Some(d) = cx::duration(cx, n, &f.path("settle"), false) {
                    out.settle = d;
                }
            }
            for (key, slot, holes) in [
                ("inventory", &mut out.inventory, &["{sku}"][..]),
                ("orders", &mut out.orders, &["{sku}", "{after}"][..]),
                ("comments", &mut out.comments, &["{room}", "{after}"][..]),
            ] {
                if let Some(n) = f.get(key) {
                    if let Some(t) = read_path(cx, n, &f.path(key), holes) {
                        *slot = Some(t);
                    }
                }
            }
            if let Some(n) = f.get("room") {
                if let Some(t) = cx::text(cx, n, &f.path("room")) {
                    out.room = t.to_owned();
                }
            }
            if let Some(n) = f.get("tracking_order") {
                let p = f.path("tracking_order");
                if let Some(items) = cx::list(cx, n, &p, "a list of statuses, first to last") {
                    let names: Vec<String> = items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| cx::text(cx, s, &cx::index(&p, i)).map(str::to_owned))
                        .collect();
                    if names.len() < 2 {
                        cx.at(n, &p, "a tracking order needs at least two statuses", None);
                    } else {
                        out.tracking_order = Some(names);
                    }
                }
            }
            f.finish(cx);
            check
        }
        _ => Some(node),
    };
    let Some(check_node) = check_node else {
        return out;
    };
    let check_path = if matches!(node.kind, Kind::Map(_)) {
        cx::join(path, "check")
    } else {
        path.to_owned()
    };
    let Some(items) = cx::list(cx, check_node, &check_path, "a list of invariant names") else {
        return out;
    };
    let ops = |f: fn(&LedgerOp) -> bool| {
        flows.iter().any(|fl| {
            fl.steps.iter().any(|s| match &s.kind {
                StepKind::Http(r) => r.ledger.as_ref().is_some_and(f),
                StepKind::Ws(_) => false,
            })
        })
    };
    let has_checkout = ops(|l| matches!(l, LedgerOp::Checkout { .. }));
    let has_track = ops(|l| matches!(l, LedgerOp::Track { .. }));
    let has_comment = ops(|l| matches!(l, LedgerOp::Comment { .. }));
    for (i, item) in items.iter().enumerate() {
        let p = cx::index(&check_path, i);
        let Some(name) = cx::text(cx, item, &p) else {
            continue;
        };
        let Some(kind) = InvariantKind::from_name(name) else {
            cx.at(
                item,
                &p,
                format!("unknown invariant `{name}`"),
                cx::name_hint(
                    name,
                    InvariantKind::ALL.map(InvariantKind::name),
                    "invariants",
                ),
            );
            continue;
        };
        if out.check.contains(&kind) {
            cx.at(item, &p, format!("`{name}` is listed twice"), None);
            continue;
        }
        let (needed, op) = match kind {
            InvariantKind::MonotonicTracking => (has_track, "track"),
            InvariantKind::ExactlyOnceComments => (has_comment, "comment"),
            _ => (has_checkout, "checkout"),
        };
        if !needed && flows_complete {
            cx.at(
                item,
                &p,
                format!("`{name}` judges `{op}` operations, and no step is `ledger: {op}`"),
                Some(format!("mark the step that does it with `ledger: {op}`")),
            );
            continue;
        }
        out.check.push(kind);
    }
    out
}

/// A read path: starts with `/`, has no spaces, and every placeholder it
/// uses is one of `holes`.
fn read_path(cx: &mut Cx<'_>, node: &Node, path: &str, holes: &[&str]) -> Option<String> {
    let text = cx::text(cx, node, path)?;
    if !text.starts_with('/') || text.contains(char::is_whitespace) {
        cx.at(
            node,
            path,
            "a read path starts with `/` and has no spaces",
            None,
        );
        return None;
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c + 1);
        let hole = close.map_or(&rest[open..], |c| &rest[open..c]);
        if !holes.contains(&hole) {
            cx.inside(
                node,
                text.len() - rest.len() + open,
                path,
                format!("unknown placeholder `{hole}`"),
                Some(format!("this path may use {}", holes.join(" and "))),
            );
            return None;
        }
        rest = close.map_or("", |c| &rest[c..]);
    }
    Some(text.to_owned())
}
