//! Region profile files: `name`, `about`, `upstream`, `downstream` and the
//! optional `degraded` overlay, each direction a map of `latency` with at
//! most one spread (`jitter`, `stdev` or `pareto`), `loss` and `bandwidth`.
//!
//! Owns the profile syntax and merging the overlay over the base. Must not
//! know about scenarios or regions.

use std::path::Path;
use std::time::Duration;

use super::super::diagnostic::Diagnostic;
use super::super::profile::{Link, Profile};
use super::super::units;
use super::super::yaml::{Document, Kind, Node, Source};
use super::cx::{self, Cx, Fields};
use crate::netem::{Delay, Loss};

/// How a direction's delay varies around its latency.
#[derive(Debug, Clone, Copy)]
enum Spread {
    Jitter(Duration),
    Stdev(Duration),
    Pareto(f64),
}

/// A direction as written: everything optional, so the same reader serves
/// the base (which must give `latency`) and the overlay.
#[derive(Debug, Clone, Copy, Default)]
struct LinkSpec {
    latency: Option<Duration>,
    spread: Option<Spread>,
    loss: Option<Loss>,
    bandwidth: Option<u64>,
}

const SPREADS: [&str; 3] = ["jitter", "stdev", "pareto"];

/// Check a profile document.
pub fn profile(file: &Path, src: &Source<'_>, doc: Document) -> Result<Profile, Vec<Diagnostic>> {
    let (mut cx, root) = super::open(
        file,
        src,
        doc,
        "a profile needs `name`, `upstream` and `downstream`",
    );
    let Some(root) = root else {
        return Err(cx.diags);
    };
    let Some(mut top) = Fields::of(
        &mut cx,
        &root,
        "",
        "a map of profile fields (`name`, `upstream`, `downstream`, ...)",
    ) else {
        return Err(cx.diags);
    };
    let name = top.required(&mut cx, "name").and_then(|n| {
        let t = cx::text(&mut cx, n, "name")?;
        cx::check_name(&mut cx, t, n.start, "name", "profile", false).then(|| t.to_owned())
    });
    let body = body(&mut cx, &mut top, "");
    top.finish(&mut cx);
    if !cx.diags.is_empty() || cx.dropped > 0 {
        return Err(cx.diags);
    }
    match (name, body) {
        (Some(name), Some(p)) => Ok(Profile { name, ..p }),
        _ => Err(cx.diags),
    }
}

/// A profile written inside a scenario (`regions.<name>.profile: {...}`):
/// the same fields as a file, without `name` (the region's is used).
pub fn inline(cx: &mut Cx<'_>, node: &Node, path: &str, name: &str) -> Option<Profile> {
    let before = cx.problems();
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a profile name, a profile file, or a map with `upstream` and `downstream`",
    )?;
    let body = body(cx, &mut f, path);
    f.finish(cx);
    let p = body.filter(|_| cx.problems() == before)?;
    Some(Profile {
        name: name.to_owned(),
        ..p
    })
}

/// Everything but the name; `path` prefixes field paths.
fn body(cx: &mut Cx<'_>, top: &mut Fields<'_>, path: &str) -> Option<Profile> {
    let before = cx.problems();
    let about = top
        .get("about")
        .and_then(|n| cx::text(cx, n, &cx::join(path, "about")))
        .map(str::to_owned);
    let up = top
        .required(cx, "upstream")
        .and_then(|n| base(cx, n, &cx::join(path, "upstream")));
    let down = top
        .required(cx, "downstream")
        .and_then(|n| base(cx, n, &cx::join(path, "downstream")));
    let degraded = top
        .get("degraded")
        .map(|n| overlay(cx, n, &cx::join(path, "degraded")));
    let ((up_spec, up), (down_spec, down)) = (up?, down?);
    let degraded = match degraded {
        None => None,
        Some(Some((o_up, o_down))) => Some((merge(up_spec, o_up), merge(down_spec, o_down))),
        Some(None) => return None,
    };
    (cx.problems() == before).then(|| Profile {
        name: String::new(),
        about,
        upstream: up,
        downstream: down,
        degraded,
    })
}

/// A base direction: `latency` is required.
fn base(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<(LinkSpec, Link)> {
    let spec = link(cx, node, path, true)?;
    let built = build(spec)?;
    Some((spec, built))
}

/// `degraded: { upstream: {...}, downstream: {...} }`, both optional.
fn overlay(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<(LinkSpec, LinkSpec)> {
    let mut f = Fields::of(cx, node, path, "a map with `upstream` and/or `downstream`")?;
    let up = match f.get("upstream") {
        Some(n) => link(cx, n, &cx::join(path, "upstream"), false),
        None => Some(LinkSpec::default()),
    };
    let down = match f.get("downstream") {
        Some(n) => link(cx, n, &cx::join(path, "downstream"), false),
        None => Some(LinkSpec::default()),
    };
    f.finish(cx);
    Some((up?, down?))
}

fn link(cx: &mut Cx<'_>, node: &Node, path: &str, needs_latency: bool) -> Option<LinkSpec> {
    let before = cx.problems();
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a map such as `{ latency: 90ms, jitter: 8ms, loss: 0.1% }`",
    )?;
    let latency = match f.get("latency") {
        Some(n) => cx::duration(cx, n, &f.path("latency"), false),
        None if needs_latency => {
            f.required(cx, "latency");
            None
        }
        None => None,
    };
    let spreads = f.present(&SPREADS);
    let spread = match spreads.as_slice() {
        [] => None,
        [(key, n)] => {
            let p = f.path(key);
            match *key {
                "jitter" => cx::duration(cx, n, &p, false).map(Spread::Jitter),
                "stdev" => cx::duration(cx, n, &p, false).map(Spread::Stdev),
                _ => pareto(cx, n, &p).map(Spread::Pareto),
            }
        }
        [(first, _), (second, n), ..] => {
            cx.at(
                n,
                path,
                format!("a delay has one of `jitter`, `stdev` or `pareto`, found `{first}` and `{second}`"),
                Some("`jitter` spreads it evenly, `stdev` normally, `pareto` with a long tail".into()),
            );
            None
        }
    };
    let loss = f.get("loss").and_then(|n| loss(cx, n, &f.path("loss")));
    let bandwidth = f
        .get("bandwidth")
        .and_then(|n| cx::unit(cx, n, &f.path("bandwidth"), units::parse_bandwidth));
    f.finish(cx);
    (cx.problems() == before).then_some(LinkSpec {
        latency,
        spread,
        loss,
        bandwidth,
    })
}

/// A Pareto tail's shape: above 1 (a finite mean).
fn pareto(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<f64> {
    let shape = node.as_scalar().and_then(|t| t.trim().parse::<f64>().ok());
    match shape {
        Some(s) if s.is_finite() && s > 1.0 && s <= 100.0 => Some(s),
        _ => {
            cx.at(
                node,
                path,
                format!("expected a Pareto shape above 1, found {}", node.describe()),
                Some("2 to 3 gives a realistic long tail; `latency` is then the minimum".into()),
            );
            None
        }
    }
}

/// `loss: 0.1%` (independent) or `loss: { mean: 15%, burst: 4 }`.
pub(super) fn loss(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Loss> {
    if let Kind::Scalar { .. } = node.kind {
        let p = cx::share(cx, node, path)?;
        return Some(Loss::Bernoulli { p });
    }
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a share such as `0.5%`, or `{ mean: 15%, burst: 4 }`",
    )?;
    let mean = f
        .required(cx, "mean")
        .and_then(|n| cx::share(cx, n, &f.path("mean")));
    let burst_node = f.required(cx, "burst");
    let burst = burst_node.and_then(|n| {
        n.as_scalar()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|b| b.is_finite() && *b >= 1.0)
            .or_else(|| {
                cx.at(
                    n,
                    &f.path("burst"),
                    format!(
                        "expected a mean burst length of at least 1 segment, found {}",
                        n.describe()
                    ),
                    None,
                );
                None
            })
    });
    f.finish(cx);
    let (mean, burst) = (mean?, burst?);
    match Loss::bursts(mean, burst) {
        Ok(l) => Some(l),
        Err(e) => {
            cx.at(node, path, e.to_string(), None);
            None
        }
    }
}

fn build(spec: LinkSpec) -> Option<Link> {
    let latency = spec.latency?;
    let delay = match spec.spread {
        None => Delay::Uniform {
            latency,
            jitter: Duration::ZERO,
        },
        Some(Spread::Jitter(jitter)) => Delay::Uniform { latency, jitter },
        Some(Spread::Stdev(stdev)) => Delay::Normal { latency, stdev },
        Some(Spread::Pareto(shape)) => Delay::Pareto {
            base: latency,
            shape,
        },
    };
    Some(Link {
        delay,
        loss: spec.loss,
        bandwidth: spec.bandwidth,
    })
}

/// The base with every field the overlay gives replaced.
fn merge(base: LinkSpec, over: LinkSpec) -> Link {
    let merged = LinkSpec {
        latency: over.latency.or(base.latency),
        spread: over.spread.or(base.spread),
        loss: over.loss.or(base.loss),
        bandwidth: over.bandwidth.or(base.bandwidth),
    };
    // The base had a latency (checked), so the merge does too.
    build(merged).unwrap_or(Link {
        delay: Delay::Uniform {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
        },
        loss: None,
        bandwidth: None,
    })
}
