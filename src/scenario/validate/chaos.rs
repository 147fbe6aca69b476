//! `chaos:`: the backend that carries the regions' traffic and the timeline
//! of network events (`at`, `for`, `ramp`, `flap`, and one action each:
//! `partition`, `degrade`, added `latency`/`loss`/`bandwidth`, or a raw
//! `toxic`).
//!
//! Owns the event syntax, resolving `at: phase+offset` to an offset from
//! the start of the run, and refusing what the chosen backend cannot do.
//! Must not apply anything.

use std::time::Duration;

use super::super::model::Phase;
use super::super::profile::Link;
use super::super::regions::{
    Chaos, ChaosAction, ChaosBackend, ChaosEvent, Directions, Flap, Impairment, PartitionMode,
    RawToxic, Region, ToxiproxyServers,
};
use super::super::units;
use super::super::yaml::{Kind, Node};
use super::cx::{self, Cx, Fields};
use crate::netem::{Delay, Loss};

/// Toxic types Toxiproxy itself has.
pub const STANDARD_TOXICS: [&str; 8] = [
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
];

/// Toxic types only flashcrowd's proxy has.
pub const EXTENSION_TOXICS: [&str; 7] = [
    "latency_normal",
    "latency_pareto",
    "loss",
    "connect_delay",
    "blackhole",
    "reset",
    "refuse",
];

/// Most events a timeline may hold.
const MAX_EVENTS: usize = 256;

/// Shortest half of a flapping cycle: each switch is an API call per region.
const MIN_FLAP: Duration = Duration::from_millis(100);

const ACTIONS: [&str; 7] = [
    "partition",
    "degrade",
    "latency",
    "loss",
    "bandwidth",
    "toxic",
    "jitter",
];

/// Check `chaos:` (a map, or just a list of events).
pub fn chaos(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    regions: &[Region],
    regions_node: Option<&Node>,
    phases: &[Phase],
) -> Chaos {
    let mut out = Chaos::default();
    let Some(node) = node else { return out };
    if regions_node.is_none() {
        cx.at(
            node,
            "chaos",
            "chaos acts on regions, and the scenario names none",
            Some("add e.g. `regions: { local: { share: 100% } }`".into()),
        );
        return out;
    }
    let events_node = match &node.kind {
        Kind::Seq(_) => Some((node, "chaos".to_owned())),
        _ => {
            let Some(mut f) = Fields::of(
                cx,
                node,
                "chaos",
                "a list of events, or a map with `backend` and `events`",
            ) else {
                return out;
            };
            out.backend = backend(cx, &mut f, regions);
            if let ChaosBackend::Toxiproxy(_) = out.backend {
                check_standard(cx, node, regions);
            }
            out.ttl = f
                .get("ttl")
                .and_then(|n| cx::duration(cx, n, &f.path("ttl"), true));
            let ev = f.get("events").map(|n| (n, f.path("events")));
            f.finish(cx);
            ev
        }
    };
    let Some((events_node, path)) = events_node else {
        return out;
    };
    let Some(items) = cx::list(cx, events_node, &path, "a list of chaos events") else {
        return out;
    };
    if items.len() > MAX_EVENTS {
        cx.at(
            events_node,
            &path,
            format!("{} events; at most {MAX_EVENTS} are allowed", items.len()),
            None,
        );
        return out;
    }
    let end = phases
        .iter()
        .map(|p| p.start + p.duration)
        .max()
        .unwrap_or_default();
    let mut seen = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = cx::index(&path, i);
        if let Some(ev) = event(cx, item, &p, i, regions, phases, end, &out.backend) {
            cx::unique(cx, &mut seen, &ev.name, item.start, &p, "chaos event");
            out.events.push(ev);
        }
    }
    out
}

/// `backend: embedded` (default) or `backend: toxiproxy` with `toxiproxy:`
/// (one `host:port`, or one per region) and an optional `upstream:`.
fn backend(cx: &mut Cx<'_>, f: &mut Fields<'_>, regions: &[Region]) -> ChaosBackend {
    let kind = f
        .get("backend")
        .and_then(|n| cx::text(cx, n, &f.path("backend")).map(|t| (n, t.trim())));
    let servers = f.get("toxiproxy");
    let upstream = f
        .get("upstream")
        .and_then(|n| host_port(cx, n, &f.path("upstream")));
    match kind {
        None | Some((_, "embedded")) => {
            if let Some(n) = servers {
                cx.at(
                    n,
                    &f.path("toxiproxy"),
                    "servers are only used with `backend: toxiproxy`",
                    None,
                );
            }
            ChaosBackend::Embedded
        }
        Some((n, "toxiproxy")) => {
            let Some(servers) = servers else {
                cx.at(
                    n,
                    &f.path("backend"),
                    "`backend: toxiproxy` needs `toxiproxy:` with the servers' API address",
                    Some("e.g. `toxiproxy: 10.0.0.5:8474`, or one per region: `toxiproxy: { eu: ..., sea: ... }`".into()),
                );
                return ChaosBackend::Embedded;
            };
            let path = f.path("toxiproxy");
            let api = match &servers.kind {
                Kind::Scalar { .. } => host_port(cx, servers, &path)
                    .map(|a| vec![a; regions.len()])
                    .unwrap_or_default(),
                _ => per_region(cx, servers, &path, regions),
            };
            ChaosBackend::Toxiproxy(ToxiproxyServers { api, upstream })
        }
        Some((n, other)) => {
            cx.at(
                n,
                &f.path("backend"),
                format!("unknown chaos backend `{other}`"),
                Some("use `embedded` (flashcrowd's own proxy) or `toxiproxy`".into()),
            );
            ChaosBackend::Embedded
        }
    }
}

fn per_region(cx: &mut Cx<'_>, node: &Node, path: &str, regions: &[Region]) -> Vec<String> {
    let mut api = vec![String::new(); regions.len()];
    let Some(entries) = cx::entries(
        cx,
        node,
        path,
        "an address, or a map of regions to addresses",
    ) else {
        return Vec::new();
    };
    for e in entries {
        let p = cx::join(path, &e.key);
        match regions.iter().position(|r| r.name == *e.key) {
            Some(i) => {
                if let Some(a) = host_port(cx, &e.value, &p) {
                    api[i] = a;
                }
            }
            None => cx.report(
                e.key_pos,
                &p,
                format!("no region is named `{}`", e.key),
                cx::name_hint(&e.key, regions.iter().map(|r| r.name.as_str()), "regions"),
            ),
        }
    }
    for (r, a) in regions.iter().zip(&api) {
        if a.is_empty() {
            cx.at(
                node,
                path,
                format!("region `{}` has no server", r.name),
                None,
            );
        }
    }
    api
}

/// `host:port` (an `http://` prefix is allowed and dropped).
fn host_port(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    let t = cx::text(cx, node, path)?.trim();
    let t = t.strip_prefix("http://").unwrap_or(t).trim_end_matches('/');
    let ok = t
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !ok {
        cx.at(
            node,
            path,
            format!("expected `host:port`, found `{t}`"),
            None,
        );
        return None;
    }
    Some(t.to_owned())
}

#[allow(clippy::too_many_arguments)]
fn event(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    index: usize,
    regions: &[Region],
    phases: &[Phase],
    end: Duration,
    backend: &ChaosBackend,
) -> Option<ChaosEvent> {
    let before = cx.problems();
    let mut f = Fields::of(
        cx,
        node,
        path,
        "an event (a map with `region`, `at` and an action such as `partition`)",
    )?;
    let name = match f.get("name") {
        Some(n) => cx::text(cx, n, &f.path("name")).and_then(|t| {
            cx::check_name(cx, t, n.start, &f.path("name"), "chaos event", false)
                .then(|| t.to_owned())
        }),
        None => Some(format!("chaos-{}", index + 1)),
    };
    let targets = f
        .required(cx, "region")
        .and_then(|n| event_regions(cx, n, &f.path("region"), regions));
    let at = f
        .required(cx, "at")
        .and_then(|n| at(cx, n, &f.path("at"), phases, end));
    let length = f
        .get("for")
        .and_then(|n| cx::duration(cx, n, &f.path("for"), true));
    let ramp_node = f.get("ramp");
    let ramp = ramp_node.and_then(|n| cx::duration(cx, n, &f.path("ramp"), true));
    let flap_node = f.get("flap");
    let flap = flap_node.and_then(|n| flap(cx, n, &f.path("flap")));
    let action = action(cx, &mut f, node, path, backend);
    f.finish(cx);
    if cx.problems() != before {
        return None;
    }
    let (name, regions_idx, at, action) = (name?, targets?, at?, action?);
    if let (Some(n), Some(_)) = (flap_node, ramp) {
        cx.at(
            n,
            &cx::join(path, "flap"),
            "an event either ramps or flaps, not both",
            Some("split it into two events".into()),
        );
        return None;
    }
    if let (Some(n), Some(r), Some(l)) = (ramp_node, ramp, length) {
        if r > l {
            cx.at(
                n,
                &cx::join(path, "ramp"),
                "the ramp is longer than the event (`for`)",
                None,
            );
            return None;
        }
    }
    if ramp.is_some() && matches!(action, ChaosAction::Partition(_) | ChaosAction::Toxic(_)) {
        cx.at(
            ramp_node.unwrap_or(node),
            &cx::join(path, "ramp"),
            "only `degrade` and added `latency`, `loss` or `bandwidth` can ramp",
            None,
        );
        return None;
    }
    if matches!(action, ChaosAction::Degrade) {
        for &r in &regions_idx {
            let region = &regions[r];
            if region.profile.as_ref().is_none_or(|p| p.degraded.is_none()) {
                cx.at(
                    node,
                    path,
                    format!(
                        "region `{}` has no profile with a `degraded` overlay to switch to",
                        region.name
                    ),
                    Some("give the region such a profile, or add `latency`/`loss` instead".into()),
                );
                return None;
            }
        }
    }
    Some(ChaosEvent {
        name,
        regions: regions_idx,
        at,
        length,
        ramp,
        flap,
        action,
    })
}

/// Toxiproxy has no loss and only uniform jitter: refuse profiles that need
/// more rather than emulate them wrongly.
fn check_standard(cx: &mut Cx<'_>, node: &Node, regions: &[Region]) {
    for r in regions {
        let Some(p) = &r.profile else { continue };
        let mut links = vec![&p.upstream, &p.downstream];
        if let Some((u, d)) = &p.degraded {
            links.extend([u, d]);
        }
        if let Some(why) = links.into_iter().find_map(standard_only) {
            cx.at(
                node,
                "chaos.backend",
                format!(
                    "Toxiproxy cannot emulate region `{}`'s profile `{}`: {why}",
                    r.name, p.name
                ),
                Some(
                    "use `backend: embedded`, or a profile with uniform jitter and no loss".into(),
                ),
            );
        }
    }
}

/// Why a link needs flashcrowd's own proxy, if it does.
pub fn standard_only(l: &Link) -> Option<&'static str> {
    if l.loss.is_some() {
        return Some("loss is a flashcrowd extension");
    }
    match l.delay {
        Delay::Uniform { .. } => None,
        _ => Some("normal and Pareto delays are flashcrowd extensions"),
    }
}

/// `region: eu`, `region: [eu, sea]` or `region: all`.
fn event_regions(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    regions: &[Region],
) -> Option<Vec<usize>> {
    let names: Vec<(&Node, &str)> = match &node.kind {
        Kind::Scalar { text, .. } if text.trim() == "all" => {
            return Some((0..regions.len()).collect())
        }
        Kind::Scalar { text, .. } => vec![(node, text.trim())],
        Kind::Seq(items) => items
            .iter()
            .filter_map(|n| cx::text(cx, n, path).map(|t| (n, t.trim())))
            .collect(),
        _ => {
            cx.wrong_type(node, path, "a region name, a list of them, or `all`");
            return None;
        }
    };
    let mut out = Vec::new();
    for (n, name) in names {
        match regions.iter().position(|r| r.name == name) {
            Some(i) if !out.contains(&i) => out.push(i),
            Some(_) => {}
            None => cx.at(
                n,
                path,
                format!("no region is named `{name}`"),
                cx::name_hint(name, regions.iter().map(|r| r.name.as_str()), "regions"),
            ),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `at: 30s`, `at: link-drop` or `at: link-drop+5s`, as an offset from the
/// start of the run.
fn at(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    phases: &[Phase],
    end: Duration,
) -> Option<Duration> {
    let t = cx::text(cx, node, path)?.trim();
    let starts_with_digit = t.starts_with(|c: char| c.is_ascii_digit());
    let offset = if starts_with_digit && !phases.iter().any(|p| p.name == t) {
        cx::duration(cx, node, path, false)?
    } else {
        let (name, plus) = match t.split_once('+') {
            Some((n, o)) => (n.trim(), Some(o.trim())),
            None => (t, None),
        };
        let Some(phase) = phases.iter().find(|p| p.name == name) else {
            cx.at(
                node,
                path,
                format!("no phase is named `{name}`"),
                cx::name_hint(name, phases.iter().map(|p| p.name.as_str()), "phases").map(|h| {
                    format!("{h}; write `PHASE`, `PHASE+OFFSET` or an offset such as `30s`")
                }),
            );
            return None;
        };
        let extra = match plus {
            None => Duration::ZERO,
            Some(o) => match units::parse_duration(o) {
                Ok(d) => d,
                Err(e) => {
                    cx.at(node, path, e.message, e.hint);
                    return None;
                }
            },
        };
        phase.start + extra
    };
    if offset >= end {
        cx.at(
            node,
            path,
            format!(
                "the event starts at {:.1} s, after the timeline ends ({:.1} s)",
                offset.as_secs_f64(),
                end.as_secs_f64()
            ),
            None,
        );
        return None;
    }
    Some(offset)
}

fn flap(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Flap> {
    let mut f = Fields::of(cx, node, path, "a map such as `{ on: 5s, off: 10s }`")?;
    let on = f
        .required(cx, "on")
        .and_then(|n| cx::duration(cx, n, &f.path("on"), true));
    let off = f
        .required(cx, "off")
        .and_then(|n| cx::duration(cx, n, &f.path("off"), true));
    f.finish(cx);
    let (on, off) = (on?, off?);
    if on < MIN_FLAP || off < MIN_FLAP {
        cx.at(
            node,
            path,
            format!(
                "each half of a flap lasts at least {} ms",
                MIN_FLAP.as_millis()
            ),
            None,
        );
        return None;
    }
    Some(Flap { on, off })
}

/// Exactly one action: `partition`, `degrade`, `toxic`, or any of
/// `latency`/`jitter`/`loss`/`bandwidth` (with `direction`).
fn action(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    node: &Node,
    path: &str,
    backend: &ChaosBackend,
) -> Option<ChaosAction> {
    let present = f.present(&ACTIONS);
    let impair = present
        .iter()
        .any(|(k, _)| matches!(*k, "latency" | "jitter" | "loss" | "bandwidth"));
    let kinds = present
        .iter()
        .filter(|(k, _)| !matches!(*k, "latency" | "jitter" | "loss" | "bandwidth"))
        .count()
        + usize::from(impair);
    let direction_node = f.get("direction");
    let directions = match direction_node {
        None => Directions::Both,
        Some(n) => match cx::text(cx, n, &f.path("direction"))?.trim() {
            "both" => Directions::Both,
            "upstream" => Directions::Upstream,
            "downstream" => Directions::Downstream,
            other => {
                cx.at(
                    n,
                    &f.path("direction"),
                    format!("unknown direction `{other}`"),
                    Some("use `both`, `upstream` (viewer → platform) or `downstream`".into()),
                );
                return None;
            }
        },
    };
    if kinds != 1 {
        cx.at(
            node,
            path,
            if kinds == 0 {
                "the event does nothing".to_owned()
            } else {
                "an event has one action".to_owned()
            },
            Some(
                "give one of `partition`, `degrade`, `latency`/`loss`/`bandwidth`, or `toxic`"
                    .into(),
            ),
        );
        return None;
    }
    let toxiproxy = matches!(backend, ChaosBackend::Toxiproxy(_));
    if impair {
        fn get<'n>(f: &mut Fields<'n>, k: &'static str) -> Option<(&'n Node, String)> {
            f.get(k).map(|n| (n, f.path(k)))
        }
        let latency = get(f, "latency").and_then(|(n, p)| cx::duration(cx, n, &p, true));
        let jitter = get(f, "jitter").and_then(|(n, p)| cx::duration(cx, n, &p, false));
        let loss_node = get(f, "loss");
        let loss = loss_node
            .as_ref()
            .and_then(|(n, p)| super::profile::loss(cx, n, p));
        let bandwidth =
            get(f, "bandwidth").and_then(|(n, p)| cx::unit(cx, n, &p, units::parse_bandwidth));
        if let (Some((n, p)), true) = (&loss_node, toxiproxy) {
            cx.at(
                n,
                p,
                "Toxiproxy cannot emulate loss; it is a flashcrowd extension",
                Some("use `backend: embedded`".into()),
            );
            return None;
        }
        return Some(ChaosAction::Impair(Impairment {
            directions,
            latency: latency.unwrap_or_default(),
            jitter: jitter.unwrap_or_default(),
            loss: loss.filter(|l: &Loss| l.mean() > 0.0),
            bandwidth,
        }));
    }
    let (key, n) = present[0];
    let p = f.path(key);
    match key {
        "degrade" => match n.as_scalar().map(str::trim) {
            Some("true") => Some(ChaosAction::Degrade),
            _ => {
                cx.at(n, &p, "write `degrade: true`", None);
                None
            }
        },
        "partition" => {
            let mode = match cx::text(cx, n, &p)?.trim() {
                "refuse" => PartitionMode::Refuse,
                "reset" => PartitionMode::Reset,
                "blackhole" => PartitionMode::Blackhole(Directions::Both),
                "half-open" => PartitionMode::Blackhole(match directions {
                    Directions::Both => Directions::Upstream,
                    d => d,
                }),
                other => {
                    cx.at(
                        n,
                        &p,
                        format!("unknown partition mode `{other}`"),
                        Some("use `refuse` (connections refused), `blackhole` (bytes vanish), `reset` or `half-open` (one direction, with `direction`)".into()),
                    );
                    return None;
                }
            };
            if direction_node.is_some() && !matches!(mode, PartitionMode::Blackhole(_)) {
                cx.at(
                    n,
                    &p,
                    "`direction` only applies to `blackhole` and `half-open` partitions",
                    None,
                );
                return None;
            }
            let mode = match mode {
                PartitionMode::Blackhole(Directions::Both) => PartitionMode::Blackhole(directions),
                m => m,
            };
            Some(ChaosAction::Partition(mode))
        }
        _ => raw_toxic(cx, n, &p, toxiproxy).map(ChaosAction::Toxic),
    }
}

/// `toxic: { type, stream, toxicity, attributes }`, as Toxiproxy takes it.
fn raw_toxic(cx: &mut Cx<'_>, node: &Node, path: &str, toxiproxy: bool) -> Option<RawToxic> {
    let before = cx.problems();
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a toxic such as `{ type: latency, stream: downstream, attributes: { latency: 300 } }`",
    )?;
    let kind = f.required(cx, "type").and_then(|n| {
        let t = cx::text(cx, n, &f.path("type"))?.trim();
        let known = STANDARD_TOXICS.contains(&t) || EXTENSION_TOXICS.contains(&t);
        if !known {
            cx.at(
                n,
                &f.path("type"),
                format!("unknown toxic type `{t}`"),
                cx::name_hint(
                    t,
                    STANDARD_TOXICS.iter().chain(&EXTENSION_TOXICS).copied(),
                    "toxic types",
                ),
            );
            return None;
        }
        if toxiproxy && EXTENSION_TOXICS.contains(&t) {
            cx.at(
                n,
                &f.path("type"),
                format!("`{t}` is a flashcrowd extension that Toxiproxy does not have"),
                Some("use `backend: embedded`".into()),
            );
            return None;
        }
        Some(t.to_owned())
    });
    let upstream = match f.get("stream") {
        None => Some(false),
        Some(n) => match cx::text(cx, n, &f.path("stream"))?.trim() {
            "upstream" => Some(true),
            "downstream" => Some(false),
            other => {
                cx.at(
                    n,
                    &f.path("stream"),
                    format!("unknown stream `{other}`"),
                    Some("use `upstream` or `downstream`".into()),
                );
                None
            }
        },
    };
    let toxicity = match f.get("toxicity") {
        None => Some(1.0),
        Some(n) => {
            cx::text(cx, n, &f.path("toxicity")).and_then(|t| match t.trim().parse::<f32>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Some(v),
                _ => {
                    cx.at(
                        n,
                        &f.path("toxicity"),
                        format!("expected a toxicity between 0 and 1, found `{t}`"),
                        None,
                    );
                    None
                }
            })
        }
    };
    let mut attributes = Vec::new();
    if let Some(n) = f.get("attributes") {
        let p = f.path("attributes");
        if let Some(entries) = cx::entries(cx, n, &p, "a map of attribute names to whole numbers") {
            for e in entries {
                if let Some(v) = cx::uint(cx, &e.value, &cx::join(&p, &e.key)) {
                    attributes.push((e.key.to_string(), v));
                }
            }
        }
    }
    f.finish(cx);
    if cx.problems() != before {
        return None;
    }
    Some(RawToxic {
        kind: kind?,
        upstream: upstream?,
        toxicity: toxicity?,
        attributes,
    })
}
