//! What a region's proxy should carry at a moment of the run: the toxics
//! that express its profile (or the degraded overlay), plus those of every
//! chaos event active then, scaled by ramps and switched by flapping.
//!
//! Owns the translation from profiles and events to toxics and the moments
//! at which that set changes. Must not talk to a proxy or sleep: it is a
//! pure function of time, so the timeline and its tests agree exactly.

use std::time::Duration;

use crate::netem::{Delay, Loss};
use crate::scenario::profile::{Link, Profile};
use crate::scenario::{ChaosAction, ChaosEvent, Directions, Impairment, PartitionMode};

/// One toxic, as the Toxiproxy API takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicSpec {
    /// Unique within the proxy.
    pub name: String,
    pub kind: String,
    pub upstream: bool,
    pub toxicity: f32,
    /// Whole numbers only, as every Toxiproxy client expects.
    pub attributes: Vec<(String, u64)>,
}

impl ToxicSpec {
    fn new(name: String, kind: &str, upstream: bool, attributes: &[(&str, u64)]) -> Self {
        ToxicSpec {
            name,
            kind: kind.to_owned(),
            upstream,
            toxicity: 1.0,
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        }
    }

    pub fn stream(&self) -> &'static str {
        if self.upstream {
            "upstream"
        } else {
            "downstream"
        }
    }

    /// The body of `POST /proxies/{p}/toxics`, with `ttl` (ms) added when
    /// given.
    pub fn to_json(&self, ttl: Option<Duration>) -> serde_json::Value {
        let mut attrs = serde_json::Map::new();
        for (k, v) in &self.attributes {
            attrs.insert(k.clone(), (*v).into());
        }
        if let Some(ttl) = ttl {
            attrs.insert("ttl".into(), ms(ttl).into());
        }
        serde_json::json!({
            "name": self.name,
            "type": self.kind,
            "stream": self.stream(),
            "toxicity": self.toxicity,
            "attributes": attrs,
        })
    }
}

/// Every toxic a region's proxy should carry, in chain order.
pub type Desired = Vec<ToxicSpec>;

/// How far an event has come at `t`: `None` while it is not in effect
/// (not started, over, or in the off half of a flap), else the ramp's
/// progress in (0, 1].
pub fn strength(ev: &ChaosEvent, t: Duration) -> Option<f64> {
    if t < ev.at || ev.until().is_some_and(|u| t >= u) {
        return None;
    }
    let since = t - ev.at;
    if let Some(f) = ev.flap {
        let cycle = (f.on + f.off).as_nanos();
        if cycle > 0 && since.as_nanos() % cycle >= f.on.as_nanos() {
            return None;
        }
    }
    Some(match ev.ramp {
        Some(r) if !r.is_zero() => (since.as_secs_f64() / r.as_secs_f64()).clamp(0.0, 1.0),
        _ => 1.0,
    })
}

/// The toxics of region `region` at `t`.
pub fn desired(
    profile: Option<&Profile>,
    region: usize,
    events: &[ChaosEvent],
    t: Duration,
) -> Desired {
    let active: Vec<(&ChaosEvent, f64)> = events
        .iter()
        .filter(|e| e.regions.contains(&region))
        .filter_map(|e| strength(e, t).map(|s| (e, s)))
        .collect();
    let mut out = Vec::new();
    if let Some(p) = profile {
        let degrade = active
            .iter()
            .filter(|(e, _)| e.action == ChaosAction::Degrade)
            .map(|(_, s)| *s)
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        let (up, down) = match (degrade, &p.degraded) {
            (Some(s), Some((du, dd))) => (blend(&p.upstream, du, s), blend(&p.downstream, dd, s)),
            _ => (p.upstream.clone(), p.downstream.clone()),
        };
        let rtt = up.delay.mean() + down.delay.mean();
        // A new connection costs the viewer a handshake, one round trip,
        // before its first request leaves; the proxy accepts locally, so
        // the dial to the platform waits instead.
        if rtt >= Duration::from_millis(1) {
            out.push(ToxicSpec::new(
                "profile-connect".into(),
                "connect_delay",
                true,
                &[("delay", ms(rtt)), ("jitter", 0)],
            ));
        }
        link_toxics(&mut out, "profile", &up, true, rtt);
        link_toxics(&mut out, "profile", &down, false, rtt);
    }
    for (e, s) in active {
        match &e.action {
            ChaosAction::Degrade => {}
            ChaosAction::Impair(i) => impair(&mut out, &e.name, i, s, profile),
            ChaosAction::Partition(mode) => partition(&mut out, &e.name, *mode),
            ChaosAction::Toxic(raw) => out.push(ToxicSpec {
                name: format!("{}-{}", e.name, if raw.upstream { "up" } else { "down" }),
                kind: raw.kind.clone(),
                upstream: raw.upstream,
                toxicity: raw.toxicity,
                attributes: raw.attributes.clone(),
            }),
        }
    }
    out
}

/// Every moment in `[0, end)` at which some region's set may change, sorted
/// and without duplicates (ramps in at most [`RAMP_STEPS`] steps). Capped
/// at [`MAX_POINTS`].
pub fn change_points(events: &[ChaosEvent], end: Duration) -> Vec<Duration> {
    let mut pts = vec![Duration::ZERO];
    for e in events {
        let stop = e.until().unwrap_or(end).min(end);
        pts.push(e.at);
        if stop < end {
            pts.push(stop);
        }
        if let Some(r) = e.ramp {
            let steps = ((r.as_millis() / RAMP_STEP.as_millis()).max(1) as u32).min(RAMP_STEPS);
            for i in 1..=steps {
                pts.push(e.at + r * i / steps);
            }
        }
        if let Some(f) = e.flap {
            let mut t = e.at;
            while t < stop && pts.len() < MAX_POINTS {
                pts.push(t);
                pts.push(t + f.on);
                t += f.on + f.off;
            }
        }
    }
    pts.retain(|p| *p < end);
    pts.sort_unstable();
    pts.dedup();
    pts.truncate(MAX_POINTS);
    pts
}

/// Most steps a ramp is applied in, and the shortest step.
pub const RAMP_STEPS: u32 = 20;
const RAMP_STEP: Duration = Duration::from_millis(250);

/// Most change points of a timeline.
pub const MAX_POINTS: usize = 100_000;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn dir(upstream: bool) -> &'static str {
    if upstream {
        "up"
    } else {
        "down"
    }
}

/// The toxics of one direction of a path: its delay, loss (stalls sized by
/// the path's round trip) and bandwidth.
fn link_toxics(out: &mut Desired, prefix: &str, l: &Link, upstream: bool, rtt: Duration) {
    let d = dir(upstream);
    match l.delay {
        Delay::Uniform { latency, jitter } if !latency.is_zero() || !jitter.is_zero() => {
            out.push(ToxicSpec::new(
                format!("{prefix}-latency-{d}"),
                "latency",
                upstream,
                &[("latency", ms(latency)), ("jitter", ms(jitter))],
            ));
        }
        Delay::Uniform { .. } => {}
        Delay::Normal { latency, stdev } => out.push(ToxicSpec::new(
            format!("{prefix}-latency-{d}"),
            "latency_normal",
            upstream,
            &[("latency", ms(latency)), ("stdev", ms(stdev))],
        )),
        Delay::Pareto { base, shape } => out.push(ToxicSpec::new(
            format!("{prefix}-latency-{d}"),
            "latency_pareto",
            upstream,
            &[
                ("latency", ms(base)),
                ("shape_x100", (shape * 100.0).round() as u64),
            ],
        )),
    }
    if let Some(loss) = l.loss {
        push_loss(out, format!("{prefix}-loss-{d}"), loss, 1.0, upstream, rtt);
    }
    if let Some(bw) = l.bandwidth {
        out.push(bandwidth(format!("{prefix}-bandwidth-{d}"), bw, upstream));
    }
}

fn bandwidth(name: String, bytes_per_s: u64, upstream: bool) -> ToxicSpec {
    // The toxic counts in KB/s (1000 bytes).
    let kb = (bytes_per_s / 1000).max(1);
    ToxicSpec::new(name, "bandwidth", upstream, &[("rate", kb)])
}

fn push_loss(out: &mut Desired, name: String, l: Loss, scale: f64, upstream: bool, rtt: Duration) {
    let rate = (l.mean() * scale).clamp(0.0, 1.0);
    let ppm = (rate * 1e6).round() as u64;
    if ppm == 0 {
        return;
    }
    let burst = match l {
        Loss::Bernoulli { .. } => 1,
        Loss::GilbertElliott { to_good, .. } if to_good > 0.0 => (1.0 / to_good).round() as u64,
        Loss::GilbertElliott { .. } => 1,
    };
    out.push(ToxicSpec::new(
        name,
        "loss",
        upstream,
        &[
            ("rate_ppm", ppm),
            ("burst", burst.max(1)),
            ("rtt", ms(rtt).max(1)),
            ("rtt_var", ms(rtt / 8)),
            ("mss", 0),
        ],
    ));
}

/// `a` moved a share `s` of the way to `b`: delays, loss rates and the time
/// per byte are interpolated; the spread's kind follows the nearer end.
fn blend(a: &Link, b: &Link, s: f64) -> Link {
    if s >= 1.0 {
        return b.clone();
    }
    let lerp = |x: Duration, y: Duration| x.mul_f64(1.0 - s) + y.mul_f64(s);
    let near = if s < 0.5 { a } else { b };
    let delay = match (a.delay, b.delay) {
        (
            Delay::Uniform {
                latency: la,
                jitter: ja,
            },
            Delay::Uniform {
                latency: lb,
                jitter: jb,
            },
        ) => Delay::Uniform {
            latency: lerp(la, lb),
            jitter: lerp(ja, jb),
        },
        _ => match near.delay {
            Delay::Uniform { jitter, .. } => Delay::Uniform {
                latency: lerp(a.delay.mean(), b.delay.mean()),
                jitter,
            },
            Delay::Normal { stdev, .. } => Delay::Normal {
                latency: lerp(a.delay.mean(), b.delay.mean()),
                stdev,
            },
            other => other,
        },
    };
    let loss_rate = |l: &Option<Loss>| l.map_or(0.0, |l| l.mean());
    let rate = loss_rate(&a.loss) * (1.0 - s) + loss_rate(&b.loss) * s;
    let loss = near.loss.or(a.loss).or(b.loss).map(|model| match model {
        Loss::Bernoulli { .. } => Loss::Bernoulli { p: rate },
        Loss::GilbertElliott { to_good, .. } => {
            Loss::bursts(rate, 1.0 / to_good.max(1e-9)).unwrap_or(Loss::Bernoulli { p: rate })
        }
    });
    let per_byte = |bw: Option<u64>| bw.map_or(0.0, |b| 1.0 / b.max(1) as f64);
    let t = per_byte(a.bandwidth) * (1.0 - s) + per_byte(b.bandwidth) * s;
    Link {
        delay,
        loss: loss.filter(|_| rate > 0.0),
        bandwidth: (t > 0.0).then(|| (1.0 / t).round() as u64),
    }
}

fn impair(out: &mut Desired, name: &str, i: &Impairment, s: f64, profile: Option<&Profile>) {
    let both = i.directions == Directions::Both;
    // Added round-trip latency: half each way when both directions suffer.
    let share = if both { 0.5 } else { 1.0 };
    let rtt = profile.map_or(Duration::ZERO, Profile::base_rtt) + i.latency.mul_f64(s);
    for upstream in [true, false] {
        let on = if upstream {
            i.directions.upstream()
        } else {
            i.directions.downstream()
        };
        if !on {
            continue;
        }
        let d = dir(upstream);
        if !i.latency.is_zero() || !i.jitter.is_zero() {
            out.push(ToxicSpec::new(
                format!("{name}-latency-{d}"),
                "latency",
                upstream,
                &[
                    ("latency", ms(i.latency.mul_f64(share * s))),
                    ("jitter", ms(i.jitter.mul_f64(share * s))),
                ],
            ));
        }
        if let Some(l) = i.loss {
            push_loss(out, format!("{name}-loss-{d}"), l, s, upstream, rtt);
        }
        if let Some(bw) = i.bandwidth {
            // Time per byte grows with the ramp: from unlimited to `bw`.
            let rate = (bw as f64 / s.max(1e-3)).round() as u64;
            out.push(bandwidth(format!("{name}-bandwidth-{d}"), rate, upstream));
        }
    }
}

fn partition(out: &mut Desired, name: &str, mode: PartitionMode) {
    match mode {
        PartitionMode::Refuse => {
            out.push(ToxicSpec::new(
                format!("{name}-refuse"),
                "refuse",
                false,
                &[],
            ));
            out.push(ToxicSpec::new(format!("{name}-reset"), "reset", false, &[]));
        }
        PartitionMode::Reset => {
            out.push(ToxicSpec::new(format!("{name}-reset"), "reset", false, &[]));
        }
        PartitionMode::Blackhole(dirs) => {
            for upstream in [true, false] {
                let on = if upstream {
                    dirs.upstream()
                } else {
                    dirs.downstream()
                };
                if on {
                    out.push(ToxicSpec::new(
                        format!("{name}-blackhole-{}", dir(upstream)),
                        "blackhole",
                        upstream,
                        &[],
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
