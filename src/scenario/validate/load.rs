//! `load:`: how work arrives during a phase. Open model: a rate curve
//! (`rate`, `staircase`, `spike`, `wave`) and an arrival process. Closed
//! model: `sessions` joining along such a curve, each staying for a dwell
//! time, or a fixed population of `users`.
//!
//! Owns that syntax. Must not know about phases' timing or flows.

use std::time::Duration;

use super::super::model::{ArrivalProcess, Decay, Load, RateShape};
use super::super::units;
use super::super::yaml::{Kind, Node};
use super::cx::{self, Cx, Fields};
use super::dist;

/// The rate curves, in `load:` and in `sessions.join`.
const SHAPES: [&str; 4] = ["rate", "staircase", "spike", "wave"];
/// Everything a load may be: one of these.
const LOADS: [&str; 6] = ["rate", "staircase", "spike", "wave", "sessions", "users"];
const SHAPE_HINT: &str = "give one of `rate: 300/s`, `rate: 50/s .. 400/s`, \
`staircase: { from, to, steps }`, `spike: { base, peak, half_life | decay_over }` \
or `wave: { mean, amplitude, period, offset }` (iterations arrive at a rate), \
`sessions: { join: 50/s, dwell: 5m }` (viewers join and stay a while) \
or `users: 64` (a fixed population, each running the flow again and again)";
const JOIN_HINT: &str = "write a rate `50/s`, a ramp `10/s .. 200/s`, or a curve such as \
`{ spike: { base: 50/s, peak: 500/s, half_life: 20s } }`";
/// Largest fixed population.
const MAX_USERS: u64 = 1_000_000;

/// Check a `load:` map. `duration` is the phase's (to reject a load that
/// never starts anything).
pub fn load(cx: &mut Cx<'_>, node: &Node, path: &str, duration: Option<Duration>) -> Option<Load> {
    let mut f = Fields::of(cx, node, path, "a map such as `{ rate: 300/s }`")?;
    let given = f.present(&LOADS);
    let arrivals_entry = f.entry("arrivals");
    f.finish(cx);
    let arrivals_path = cx::join(path, "arrivals");
    match given.as_slice() {
        [] => {
            cx.at(node, path, "no load shape given", Some(SHAPE_HINT.into()));
            None
        }
        [("users", n)] => {
            if let Some(e) = arrivals_entry {
                cx.report(
                    e.key_pos,
                    &arrivals_path,
                    "`arrivals` has no meaning for `users`: the population is there from the start",
                    Some("to have viewers arrive over time, use `sessions: { join: 50/s, arrivals: poisson }`".into()),
                );
            }
            let count = users(cx, n, &cx::join(path, "users"));
            arrivals_entry
                .map_or(count, |_| None)
                .map(|count| Load::Users { count })
        }
        [("sessions", n)] => {
            if let Some(e) = arrivals_entry {
                cx.report(
                    e.key_pos,
                    &arrivals_path,
                    "for sessions, `arrivals` goes inside `sessions:`",
                    Some("write `sessions: { join: 50/s, arrivals: poisson }`".into()),
                );
            }
            let load = sessions(cx, n, &cx::join(path, "sessions"), duration);
            arrivals_entry.map_or(load, |_| None)
        }
        [(key, n)] => {
            let p = cx::join(path, key);
            let arrivals = match arrivals_entry {
                None => Some(ArrivalProcess::Uniform),
                Some(e) => arrivals(cx, &e.value, &arrivals_path),
            };
            let shape = shape(cx, key, n, &p)?;
            let arrivals = arrivals?;
            if never_starts(&shape, duration) {
                cx.at(
                    n,
                    &p,
                    "the rate is 0/s for the whole phase, so it would never start an iteration",
                    Some("give a rate above zero, e.g. `10/s`, or remove the phase".into()),
                );
                return None;
            }
            Some(Load::Open { shape, arrivals })
        }
        [(first, _), (second, n), ..] => {
            let names: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
            let hint = if [*first, *second]
                .iter()
                .any(|k| matches!(*k, "users" | "sessions"))
            {
                "`users` and `sessions` replace a rate; to shape how sessions join, \
                 write the curve under `sessions: { join: ... }`"
            } else {
                "use overlapping phases to layer a burst on base traffic"
            };
            cx.at(
                n,
                &cx::join(path, second),
                format!("a load has one shape, found {}", names.join(" and ")),
                Some(hint.into()),
            );
            None
        }
    }
}

/// Whether a curve is zero over the whole phase. Without a valid duration,
/// judge it over a second: a curve that is zero there is zero everywhere
/// for every shape but a late staircase, which the real duration catches
/// once it is fixed.
fn never_starts(shape: &RateShape, duration: Option<Duration>) -> bool {
    let span = duration.map_or(1.0, |d| d.as_secs_f64());
    shape.cumulative(span, span) <= 0.0
}

/// One of the curves in [`SHAPES`], under its key.
fn shape(cx: &mut Cx<'_>, key: &str, node: &Node, path: &str) -> Option<RateShape> {
    match key {
        "rate" => rate_or_ramp(cx, node, path),
        "staircase" => staircase(cx, node, path),
        "spike" => spike(cx, node, path),
        _ => wave(cx, node, path),
    }
}

/// `users: 64`.
fn users(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<u32> {
    let n = cx::uint(cx, node, path)?;
    match u32::try_from(n) {
        Ok(n @ 1..) if u64::from(n) <= MAX_USERS => Some(n),
        _ => {
            cx.at(
                node,
                path,
                format!("a population has between 1 and {MAX_USERS} users, found {n}"),
                None,
            );
            None
        }
    }
}

/// `sessions: { join, arrivals, dwell }`.
fn sessions(cx: &mut Cx<'_>, node: &Node, path: &str, duration: Option<Duration>) -> Option<Load> {
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a map such as `{ join: 50/s, dwell: { exponential: 5m } }`",
    )?;
    let join_node = f.required(cx, "join");
    let join_path = f.path("join");
    let join = join_node.and_then(|n| join(cx, n, &join_path));
    let arrivals = match f.get("arrivals") {
        None => Some(ArrivalProcess::Uniform),
        Some(n) => arrivals(cx, n, &f.path("arrivals")),
    };
    let dwell = match f.get("dwell") {
        None => Some(None),
        Some(n) => {
            let p = f.path("dwell");
            dist::dist(cx, n, &p).and_then(|d| {
                if d.mean().is_zero() {
                    cx.at(
                        n,
                        &p,
                        "a dwell time of zero ends every session as soon as it joins",
                        Some("give how long viewers stay, e.g. `5m` or `{ exponential: 90s }`; without `dwell` a session stays until its flow ends".into()),
                    );
                    return None;
                }
                Some(Some(d))
            })
        }
    };
    f.finish(cx);
    let (join, arrivals, dwell) = (join?, arrivals?, dwell?);
    if never_starts(&join, duration) {
        if let Some(n) = join_node {
            cx.at(
                n,
                &join_path,
                "the join rate is 0/s for the whole phase, so no session would ever join",
                Some("give a rate above zero, e.g. `10/s`, or remove the phase".into()),
            );
        }
        return None;
    }
    Some(Load::Sessions {
        join,
        arrivals,
        dwell,
    })
}

/// `join: 50/s`, `join: 10/s .. 200/s` or `join: { spike: { ... } }` (any
/// curve of an open load).
fn join(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<RateShape> {
    if let Kind::Scalar { .. } = node.kind {
        return rate_or_ramp(cx, node, path);
    }
    if let Kind::Seq(_) = node.kind {
        cx.at(
            node,
            path,
            format!("expected a rate or a curve, found {}", node.describe()),
            Some(JOIN_HINT.into()),
        );
        return None;
    }
    let mut f = Fields::of(cx, node, path, "a rate or a curve")?;
    let given = f.present(&SHAPES);
    f.finish(cx);
    match given.as_slice() {
        [] => {
            cx.at(node, path, "no join curve given", Some(JOIN_HINT.into()));
            None
        }
        [(key, n)] => shape(cx, key, n, &cx::join(path, key)),
        [(first, _), (second, n), ..] => {
            cx.at(
                n,
                &cx::join(path, second),
                format!("a join rate has one curve, found {first} and {second}"),
                Some("use overlapping phases to layer a burst of joins on a base rate".into()),
            );
            None
        }
    }
}

fn arrivals(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<ArrivalProcess> {
    match cx::text(cx, node, path)? {
        "uniform" => Some(ArrivalProcess::Uniform),
        "poisson" => Some(ArrivalProcess::Poisson),
        other => {
            cx.at(
                node,
                path,
                format!("unknown arrival process `{other}`"),
                Some(
                    "use `uniform` (evenly spaced, the default) or `poisson` (random, seeded gaps)"
                        .into(),
                ),
            );
            None
        }
    }
}

fn rate_or_ramp(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<RateShape> {
    cx::unit(cx, node, path, units::parse_rate_shape)
}

/// One rate such as `300/s`.
fn rate(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<f64> {
    cx::unit(cx, node, path, units::parse_rate)
}

fn required_rate(cx: &mut Cx<'_>, f: &mut Fields<'_>, key: &'static str) -> Option<f64> {
    let n = f.required(cx, key)?;
    rate(cx, n, &f.path(key))
}

fn staircase(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<RateShape> {
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a map such as `{ from: 100/s, to: 400/s, steps: 4 }`",
    )?;
    let from = required_rate(cx, &mut f, "from");
    let to = required_rate(cx, &mut f, "to");
    let steps = f.required(cx, "steps").and_then(|n| {
        let p = f.path("steps");
        match cx::uint(cx, n, &p)? {
            s @ 1..=10_000 => Some(s as u32),
            _ => {
                cx.at(n, &p, "a staircase has between 1 and 10000 steps", None);
                None
            }
        }
    });
    f.finish(cx);
    Some(RateShape::Staircase {
        from: from?,
        to: to?,
        steps: steps?,
    })
}

fn spike(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<RateShape> {
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a map such as `{ base: 100/s, peak: 2000/s, half_life: 10s }`",
    )?;
    let base = required_rate(cx, &mut f, "base");
    let peak = required_rate(cx, &mut f, "peak");
    let half_life = f.get("half_life").map(|n| (n, f.path("half_life")));
    let over = f.get("decay_over").map(|n| (n, f.path("decay_over")));
    let decay = match (half_life, over) {
        (Some((n, p)), None) => {
            cx::duration(cx, n, &p, true).map(|half_life| Decay::Exponential { half_life })
        }
        (None, Some((n, p))) => cx::duration(cx, n, &p, true).map(|over| Decay::Linear { over }),
        (Some(_), Some((n, p))) => {
            cx.at(n, &p, "give `half_life` or `decay_over`, not both", None);
            None
        }
        (None, None) => {
            cx.at(
                node,
                path,
                "a spike needs to say how it decays",
                Some("add `half_life: 10s` (exponential) or `decay_over: 30s` (linear)".into()),
            );
            None
        }
    };
    if let (Some(b), Some(p)) = (base, peak) {
        if p < b {
            cx.at(
                node,
                path,
                format!("the peak ({p}/s) is below the base ({b}/s)"),
                None,
            );
        }
    }
    f.finish(cx);
    Some(RateShape::Spike {
        base: base?,
        peak: peak.filter(|p| *p >= base.unwrap_or(0.0))?,
        decay: decay?,
    })
}

fn wave(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<RateShape> {
    let mut f = Fields::of(
        cx,
        node,
        path,
        "a map such as `{ mean: 300/s, amplitude: 200/s, period: 24h }`",
    )?;
    let mean = required_rate(cx, &mut f, "mean");
    let amplitude = f.required(cx, "amplitude").and_then(|n| {
        let p = f.path("amplitude");
        let a = rate(cx, n, &p)?;
        match mean {
            Some(m) if a > m => {
                cx.at(
                    n,
                    &p,
                    format!("the amplitude ({a}/s) is above the mean ({m}/s), so the rate would go negative"),
                    None,
                );
                None
            }
            _ => Some(a),
        }
    });
    let period = f
        .required(cx, "period")
        .and_then(|n| cx::duration(cx, n, &f.path("period"), true));
    let offset = match f.get("offset") {
        None => Some(Duration::ZERO),
        Some(n) => cx::duration(cx, n, &f.path("offset"), false),
    };
    f.finish(cx);
    Some(RateShape::Wave {
        mean: mean?,
        amplitude: amplitude?,
        period: period?,
        offset: offset?,
    })
}
