//! `load:`: a phase's rate curve and arrival process.
//!
//! Owns the shape syntax (`rate`, `staircase`, `spike`, `wave`) and the
//! `arrivals` field. Must not know about phases' timing or flows.

use std::time::Duration;

use super::super::model::{ArrivalProcess, Decay, Load, RateShape};
use super::super::units;
use super::super::yaml::Node;
use super::cx::{self, Cx, Fields};

const SHAPES: [&str; 4] = ["rate", "staircase", "spike", "wave"];
const SHAPE_HINT: &str = "give one of `rate: 300/s`, `rate: 50/s .. 400/s`, \
`staircase: { from, to, steps }`, `spike: { base, peak, half_life | decay_over }` \
or `wave: { mean, amplitude, period, offset }`";

/// Check a `load:` map. `duration` is the phase's (to reject a load that
/// never starts anything).
pub fn load(cx: &mut Cx<'_>, node: &Node, path: &str, duration: Option<Duration>) -> Option<Load> {
    let mut f = Fields::of(cx, node, path, "a map such as `{ rate: 300/s }`")?;
    let given: Vec<(&'static str, &Node)> = SHAPES
        .iter()
        .filter_map(|&k| f.get(k).map(|n| (k, n)))
        .collect();
    let arrivals = match f.get("arrivals") {
        None => Some(ArrivalProcess::Uniform),
        Some(n) => arrivals(cx, n, &f.path("arrivals")),
    };
    let shape = match given.as_slice() {
        [] => {
            cx.at(node, path, "no load shape given", Some(SHAPE_HINT.into()));
            None
        }
        [(key, n)] => {
            let p = f.path(key);
            match *key {
                "rate" => rate_or_ramp(cx, n, &p),
                "staircase" => staircase(cx, n, &p),
                "spike" => spike(cx, n, &p),
                _ => wave(cx, n, &p),
            }
        }
        [_, (second, n), ..] => {
            let names: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
            cx.at(
                n,
                &f.path(second),
                format!("a load has one shape, found {}", names.join(" and ")),
                Some("use overlapping phases to layer a burst on base traffic".into()),
            );
            None
        }
    };
    // A zero curve is reported at the shape itself (`load.rate`), where the
    // number to change is.
    let (at_node, at_path) = match given.first() {
        Some((key, n)) => (*n, f.path(key)),
        None => (node, path.to_owned()),
    };
    f.finish(cx);
    let (shape, arrivals) = (shape?, arrivals?);
    // Without a valid duration, judge the shape over a second: a curve that
    // is zero there is zero everywhere for every shape but a late staircase,
    // which the real duration catches once it is fixed.
    let span = duration.map_or(1.0, |d| d.as_secs_f64());
    if crate::schedule::cumulative(&shape, span, span) <= 0.0 {
        cx.at(
            at_node,
            &at_path,
            "the rate is 0/s for the whole phase, so it would never start an iteration",
            Some("give a rate above zero, e.g. `10/s`, or remove the phase".into()),
        );
        return None;
    }
    Some(Load::Open { shape, arrivals })
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
    let t = cx::text(cx, node, path)?;
    match units::parse_rate_shape(t) {
        Ok(shape) => Some(shape),
        Err(e) => {
            cx.inside(node, e.offset, path, e.message, e.hint);
            None
        }
    }
}

/// One rate such as `300/s`.
fn rate(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<f64> {
    let t = cx::text(cx, node, path)?;
    match units::parse_rate(t) {
        Ok(r) => Some(r),
        Err(e) => {
            cx.inside(node, e.offset, path, e.message, e.hint);
            None
        }
    }
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
