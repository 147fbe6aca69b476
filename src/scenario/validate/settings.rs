//! Scenario-wide settings: `target`, `vars`, `feeders`, `defaults` and
//! `demo`.
//!
//! Owns checking those sections and building what templates may refer to.
//! Must not read files itself: feeder bytes come through the reader the
//! loader hands in.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::super::feeder::{FeedOrder, Feeder};
use super::super::model::{DemoSettings, SlowViewers, Target};
use super::super::template::{FeederColumns, Scope, Template, VarValue};
use super::super::yaml::{Kind, Node, Pos};
use super::cx::{self, Cx, Fields};
use super::step;
use super::ReadFile;

/// `target: embedded` or `target: http://host:port[/prefix]`.
pub fn target(cx: &mut Cx<'_>, node: Option<&Node>) -> Option<Target> {
    const HINT: &str = "write `embedded` for the built-in demo platform, or a base URL such as `http://localhost:8080`";
    let Some(node) = node else {
        return Some(Target::Embedded);
    };
    let t = cx::text(cx, node, "target")?.trim();
    if t == "embedded" {
        return Some(Target::Embedded);
    }
    if !(t.starts_with("http://") || t.starts_with("https://")) {
        cx.at(
            node,
            "target",
            format!("expected `embedded` or an http:// URL, found `{t}`"),
            Some(HINT.into()),
        );
        return None;
    }
    match url::Url::parse(t) {
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            cx.at(node, "target", "the URL has no host", Some(HINT.into()));
            None
        }
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            cx.at(
                node,
                "target",
                "a base URL can't have a query or fragment",
                Some("put query strings on each step's path".into()),
            );
            None
        }
        Ok(u) => Some(Target::Url(u)),
        Err(e) => {
            cx.at(
                node,
                "target",
                format!("invalid URL: {e}"),
                Some(HINT.into()),
            );
            None
        }
    }
}

/// `vars:`: names mapped to text or lists of text.
pub fn vars(cx: &mut Cx<'_>, node: Option<&Node>) -> Vec<(String, VarValue)> {
    let mut out = Vec::new();
    let Some(node) = node else { return out };
    let Some(entries) = cx::entries(cx, node, "vars", "a map of variable names to values") else {
        return out;
    };
    for e in entries {
        let path = cx::join("vars", &e.key);
        cx::check_name(cx, &e.key, e.key_pos, &path, "variable", true);
        let value = match &e.value.kind {
            Kind::Scalar { text, .. } => VarValue::One(text.to_string()),
            Kind::Seq(items) => {
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(t) = cx::text(cx, item, &cx::index(&path, i)) {
                        values.push(t.to_owned());
                    }
                }
                if items.is_empty() {
                    cx.at(
                        &e.value,
                        &path,
                        "an empty list has nothing to pick from",
                        None,
                    );
                }
                VarValue::List(Arc::from(values))
            }
            Kind::Map(_) => {
                cx.wrong_type(&e.value, &path, "text or a list of text");
                continue;
            }
        };
        out.push((e.key.to_string(), value));
    }
    out
}

/// `feeders:`: CSV or JSON tables. Returns the template scope entries (columns, or
/// `None` for a feeder that failed) and the loaded tables.
pub fn feeders(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    base_dir: &Path,
    read: &mut ReadFile<'_>,
) -> (Vec<FeederColumns>, Vec<Feeder>) {
    let mut scope = Vec::new();
    let mut loaded = Vec::new();
    let Some(node) = node else {
        return (scope, loaded);
    };
    let Some(entries) = cx::entries(cx, node, "feeders", "a map of feeder names to files") else {
        return (scope, loaded);
    };
    for e in entries {
        let path = cx::join("feeders", &e.key);
        cx::check_name(cx, &e.key, e.key_pos, &path, "feeder", true);
        let feeder = Fields::of(cx, &e.value, &path, "a map with `file` and `order`")
            .and_then(|f| feeder(cx, f, &e.key, base_dir, read));
        scope.push((
            e.key.to_string(),
            feeder.as_ref().map(|f| f.columns.clone()),
        ));
        loaded.extend(feeder);
    }
    (scope, loaded)
}

/// One feeder: `{ file, order }`, read and parsed: JSON when the file name
/// ends in `.json`, CSV otherwise.
fn feeder(
    cx: &mut Cx<'_>,
    mut f: Fields<'_>,
    name: &str,
    base_dir: &Path,
    read: &mut ReadFile<'_>,
) -> Option<Feeder> {
    let order = match f.get("order") {
        None => Some(FeedOrder::Sequential),
        Some(n) => match cx::text(cx, n, &f.path("order")) {
            Some("sequential") => Some(FeedOrder::Sequential),
            Some("random") => Some(FeedOrder::Random),
            Some("unique") => Some(FeedOrder::Unique),
            Some(other) => {
                cx.at(
                    n,
                    &f.path("order"),
                    format!("unknown order `{other}`"),
                    Some(
                        "use `sequential` (row after row, wrapping around), `random` \
                         or `unique` (each iteration its own row, never reused)"
                            .into(),
                    ),
                );
                None
            }
            None => None,
        },
    };
    let file = f.required(cx, "file");
    let path = f.path("file");
    f.finish(cx);
    let (file, order) = (file?, order?);
    let file_name = cx::text(cx, file, &path)?;
    // `${env:DATA_DIR}/buyers.csv`; messages show the path as written.
    let resolved = match crate::scenario::secrets::interpolate(file_name) {
        Ok(r) => r,
        Err((at, msg)) => {
            cx.inside(file, at, &path, msg, None);
            return None;
        }
    };
    let bytes = match read(&base_dir.join(&resolved)) {
        Ok(bytes) => bytes,
        Err(reason) => {
            let hint = "feeder files are found relative to the scenario file's folder";
            cx.at(
                file,
                &path,
                format!("{file_name}: {reason}"),
                Some(hint.into()),
            );
            return None;
        }
    };
    let is_json = Path::new(&resolved)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        Feeder::from_json(name, order, &bytes)
    } else {
        Feeder::from_csv(name, order, &bytes)
    };
    match parsed {
        Ok(feeder) => Some(feeder),
        Err(e) => {
            cx.at(file, &path, format!("{file_name}: {}", e.message), e.hint);
            None
        }
    }
}

/// Report a variable and a feeder sharing a name.
pub fn check_scope_names(cx: &mut Cx<'_>, vars_node: Option<&Node>, scope: &Scope<'_>) {
    let Some(Kind::Map(entries)) = vars_node.map(|n| &n.kind) else {
        return;
    };
    for e in entries.iter() {
        if scope.feeders.iter().any(|(f, _)| **f == *e.key) {
            let path = cx::join("vars", &e.key);
            cx.report(
                e.key_pos,
                &path,
                format!("`{}` is both a variable and a feeder", e.key),
                Some("rename one of them".into()),
            );
        }
    }
}

/// Settings every step inherits.
#[derive(Default)]
pub struct Defaults {
    pub timeout: Option<Duration>,
    pub headers: Vec<(HeaderName, Template)>,
}

/// `defaults: { timeout, headers }`.
pub fn defaults(cx: &mut Cx<'_>, node: Option<&Node>, scope: &Scope<'_>) -> Defaults {
    let mut out = Defaults::default();
    let Some(node) = node else { return out };
    let Some(mut f) = Fields::of(cx, node, "defaults", "a map with `timeout` and `headers`") else {
        return out;
    };
    if let Some(n) = f.get("timeout") {
        out.timeout = cx::duration(cx, n, &f.path("timeout"), true);
    }
    if let Some(n) = f.get("headers") {
        out.headers = step::headers(cx, n, &f.path("headers"), scope);
    }
    f.finish(cx);
    out
}

/// Largest `demo.ws.queue`; the demo refuses more (its room rings would
/// cost megabytes each).
const MAX_WS_QUEUE: u64 = 65_536;

/// `demo: { stock, payment: { slots, latency }, ws: { queue, slow_policy,
/// max_viewers } }`.
pub fn demo(cx: &mut Cx<'_>, node: Option<&Node>) -> DemoSettings {
    let mut out = DemoSettings::default();
    let Some(node) = node else { return out };
    let what = "a map with `stock`, `payment`, `ws` and `tracking_step`";
    let Some(mut f) = Fields::of(cx, node, "demo", what) else {
        return out;
    };
    if let Some(n) = f.get("stock") {
        let path = f.path("stock");
        if let Some(entries) = cx::entries(cx, n, &path, "a map of SKUs to units in stock") {
            for e in entries {
                let p = cx::join(&path, &e.key);
                check_sku(cx, &e.key, e.key_pos, &p);
                if let Some(units) = cx::uint(cx, &e.value, &p) {
                    out.stock.push((e.key.to_string(), units));
                }
            }
        }
    }
    if let Some(n) = f.get("payment") {
        let path = f.path("payment");
        if let Some(mut p) = Fields::of(cx, n, &path, "a map with `slots` and `latency`") {
            if let Some(s) = p.get("slots") {
                let path = p.path("slots");
                match cx::uint(cx, s, &path) {
                    Some(0) => cx.at(
                        s,
                        &path,
                        "must be at least 1",
                        Some("with no payment slot every checkout would wait forever".into()),
                    ),
                    Some(v) => out.payment_slots = usize::try_from(v).unwrap_or(usize::MAX),
                    None => {}
                }
            }
            if let Some(l) = p.get("latency") {
                if let Some(d) = cx::duration(cx, l, &p.path("latency"), false) {
                    out.payment_latency = d;
                }
            }
            p.finish(cx);
        }
    }
    if let Some(n) = f.get("ws") {
        demo_ws(cx, n, &f.path("ws"), &mut out);
    }
    if let Some(n) = f.get("tracking_step") {
        if let Some(d) = cx::duration(cx, n, &f.path("tracking_step"), true) {
            out.tracking_step = d;
        }
    }
    f.finish(cx);
    out
}

/// `demo.ws`: the live rooms' viewer queue, slow-viewer policy and bound.
fn demo_ws(cx: &mut Cx<'_>, node: &Node, path: &str, out: &mut DemoSettings) {
    let what = "a map with `queue`, `slow_policy` and `max_viewers`";
    let Some(mut w) = Fields::of(cx, node, path, what) else {
        return;
    };
    if let Some(n) = w.get("queue") {
        let p = w.path("queue");
        match cx::uint(cx, n, &p) {
            Some(q @ 1..=MAX_WS_QUEUE) => out.ws_queue = usize::try_from(q).unwrap_or(1),
            Some(q) => cx.at(
                n,
                &p,
                format!("a viewer queue of {q} messages is out of range"),
                Some(format!("use 1 to {MAX_WS_QUEUE} messages")),
            ),
            None => {}
        }
    }
    if let Some(n) = w.get("slow_policy") {
        let p = w.path("slow_policy");
        match cx::text(cx, n, &p) {
            Some("lag") => out.ws_slow_policy = SlowViewers::Lag,
            Some("disconnect") => out.ws_slow_policy = SlowViewers::Disconnect,
            Some(other) => cx.at(
                n,
                &p,
                format!("unknown slow-viewer policy `{other}`"),
                Some("write `lag` (skip what the viewer missed) or `disconnect` (close it with 1008)".into()),
            ),
            None => {}
        }
    }
    if let Some(n) = w.get("max_viewers") {
        let p = w.path("max_viewers");
        match cx::uint(cx, n, &p) {
            Some(0) => cx.at(
                n,
                &p,
                "must be at least 1",
                Some("the demo would refuse every viewer".into()),
            ),
            Some(m) => out.ws_max_viewers = usize::try_from(m).unwrap_or(usize::MAX),
            None => {}
        }
    }
    w.finish(cx);
}

fn check_sku(cx: &mut Cx<'_>, sku: &str, pos: Pos, path: &str) {
    let ok = !sku.is_empty()
        && sku.len() <= 64
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        cx.report(
            pos,
            path,
            format!("`{sku}` is not a valid SKU"),
            Some(
                "SKUs are 1-64 letters, digits, `-`, `_` or `.`, so they fit in a URL path".into(),
            ),
        );
    }
}

/// `allow_targets: [host, host:port, ...]`: hosts off this machine the run
/// may send to.
pub fn allow_targets(cx: &mut Cx<'_>, node: Option<&Node>) -> Vec<crate::safety::Allowed> {
    let Some(node) = node else {
        return Vec::new();
    };
    let Some(items) = cx::list(
        cx,
        node,
        "allow_targets",
        "a list of hosts, e.g. `[staging.example.com, \"10.0.0.5:8080\"]`",
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = cx::index("allow_targets", i);
        let Some(t) = cx::text(cx, item, &p) else {
            continue;
        };
        match crate::safety::Allowed::parse(t) {
            Some(a) => out.push(a),
            None => cx.at(
                item,
                &p,
                format!("`{t}` is not a host or host:port"),
                Some("write a host name or address, optionally with a port: `staging.example.com`, `10.0.0.5:8080`, `[fd00::1]:443`".into()),
            ),
        }
    }
    out
}
