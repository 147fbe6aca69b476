//! The scenario's `telemetry:` block: what a run exports over OpenTelemetry
//! and which requests carry trace context.
//!
//! Owns its syntax, defaults and limits. Must not know where exports go
//! (flags and `OTEL_*` variables say that) or how they are built.

use std::time::Duration;

use super::super::telemetry::{HistogramKind, Telemetry, Temporality, TraceSampling};
use super::super::yaml::Node;
use super::cx::{self, Cx, Fields};

/// Shortest export period: the run's figures close once a second, so a
/// shorter period would only repeat them.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Most explicit buckets: more buys no precision a backend keeps.
const MAX_BUCKETS: usize = 64;

/// Most slowest-request trace ids kept per step.
const MAX_SLOWEST: u64 = 100;

/// `telemetry:`; absent, the defaults.
pub fn telemetry(cx: &mut Cx<'_>, node: Option<&Node>) -> Telemetry {
    let mut out = Telemetry::default();
    let Some(node) = node else {
        return out;
    };
    let path = "telemetry";
    let Some(mut f) = Fields::of(
        cx,
        node,
        path,
        "a map such as `{ interval: 5s, trace: { sample: 1% } }`",
    ) else {
        return out;
    };
    for (key, slot) in [
        ("metrics", &mut out.metrics),
        ("chaos", &mut out.chaos),
        ("logs", &mut out.logs),
    ] {
        if let Some(n) = f.get(key) {
            if let Some(b) = cx::boolean(cx, n, &f.path(key)) {
                *slot = b;
            }
        }
    }
    if let Some(n) = f.get("interval") {
        let p = f.path("interval");
        if let Some(d) = cx::duration(cx, n, &p, true) {
            if d < MIN_INTERVAL {
                cx.at(
                    n,
                    &p,
                    "the export interval must be at least 1s",
                    Some("the run's figures close once a second".into()),
                );
            } else {
                out.interval = Some(d);
            }
        }
    }
    let histogram_node = f.get("histogram");
    if let Some(n) = histogram_node {
        let p = f.path("histogram");
        match cx::text(cx, n, &p).map(str::trim) {
            Some("exponential") => out.histogram = HistogramKind::Exponential,
            Some("explicit") => out.histogram = HistogramKind::Explicit,
            Some(other) => cx.at(
                n,
                &p,
                format!("unknown histogram kind `{other}`"),
                cx::name_hint(other, ["exponential", "explicit"], "histogram kinds"),
            ),
            None => {}
        }
    }
    if let Some(n) = f.get("buckets") {
        let p = f.path("buckets");
        if out.histogram != HistogramKind::Explicit {
            cx.at(
                n,
                &p,
                "buckets apply to explicit histograms only",
                Some("add `histogram: explicit`, or drop `buckets`".into()),
            );
        } else if let Some(b) = buckets(cx, n, &p) {
            out.buckets = b;
        }
    }
    if let Some(n) = f.get("temporality") {
        let p = f.path("temporality");
        match cx::text(cx, n, &p).map(str::trim) {
            Some("cumulative") => out.temporality = Temporality::Cumulative,
            Some("delta") => out.temporality = Temporality::Delta,
            Some(other) => cx.at(
                n,
                &p,
                format!("unknown temporality `{other}`"),
                cx::name_hint(other, ["cumulative", "delta"], "temporalities"),
            ),
            None => {}
        }
    }
    if let Some(n) = f.get("attributes") {
        out.attributes = attributes(cx, n, &f.path("attributes"));
    }
    if let Some(n) = f.get("trace") {
        out.trace = trace(cx, n, &f.path("trace"));
    }
    f.finish(cx);
    out
}

/// Explicit bucket bounds: durations, strictly ascending.
fn buckets(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<Duration>> {
    let items = cx::list(
        cx,
        node,
        path,
        "a list of durations such as `[1ms, 10ms, 100ms]`",
    )?;
    if items.is_empty() || items.len() > MAX_BUCKETS {
        cx.at(
            node,
            path,
            format!("give 1 to {MAX_BUCKETS} bucket bounds"),
            None,
        );
        return None;
    }
    let mut out: Vec<Duration> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let p = cx::index(path, i);
        let Some(d) = cx::duration(cx, item, &p, true) else {
            ok = false;
            continue;
        };
        if let Some(prev) = out.last().filter(|prev| d <= **prev) {
            cx.at(
                item,
                &p,
                format!("bucket bounds must go up: {d:?} follows {prev:?}"),
                None,
            );
            ok = false;
            continue;
        }
        out.push(d);
    }
    ok.then_some(out)
}

/// Resource attributes: a map of names to text. flashcrowd's own names
/// are not the scenario's to set.
fn attributes(cx: &mut Cx<'_>, node: &Node, path: &str) -> Vec<(String, String)> {
    let Some(entries) = cx::entries(cx, node, path, "a map of attribute names to values") else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries.iter() {
        let p = cx::join(path, &e.key);
        let key = e.key.trim();
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '=' || c == ',') {
            cx.report(
                e.key_pos,
                &p,
                format!("`{key}` is not an attribute name"),
                Some("names look like `deployment.environment`".into()),
            );
            continue;
        }
        if key == "service.name" || key.starts_with("flashcrowd.") {
            cx.report(
                e.key_pos,
                &p,
                format!("`{key}` is set by flashcrowd itself"),
                Some("every export carries `service.name=flashcrowd` and the run's own `flashcrowd.*` attributes".into()),
            );
            continue;
        }
        if let Some(v) = cx::text(cx, &e.value, &p) {
            out.push((key.to_owned(), v.to_owned()));
        }
    }
    out
}

/// `trace: { sample: 1%, baggage: true, slowest: 5 }`.
fn trace(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<TraceSampling> {
    let mut f = Fields::of(cx, node, path, "a map such as `{ sample: 1% }`")?;
    let mut out = TraceSampling::default();
    let sample = f
        .required(cx, "sample")
        .and_then(|n| sample(cx, n, &f.path("sample")));
    if let Some(n) = f.get("baggage") {
        if let Some(b) = cx::boolean(cx, n, &f.path("baggage")) {
            out.baggage = b;
        }
    }
    if let Some(n) = f.get("slowest") {
        let p = f.path("slowest");
        match cx::uint(cx, n, &p) {
            Some(k) if k <= MAX_SLOWEST => out.slowest = k as usize,
            Some(_) => cx.at(n, &p, format!("keep at most {MAX_SLOWEST} per step"), None),
            None => {}
        }
    }
    f.finish(cx);
    out.sample = sample?;
    Some(out)
}

/// A share from 0 (no request) to 100% (every one): `1%`, `0.01`, `0`.
fn sample(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<f64> {
    let text = cx::text(cx, node, path)?;
    let body = text.trim().trim_end_matches('%').trim_end();
    if !body.is_empty() && body.bytes().all(|b| b == b'0' || b == b'.') && body.contains('0') {
        return Some(0.0);
    }
    cx::share(cx, node, path)
}
