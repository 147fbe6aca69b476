//! `flashcrowd plan`: print the resolved timeline; sends nothing.
//!
//! Owns the plan's text layout. The numbers come from `schedule`.

use std::fmt::Write as _;

use super::{exit, PlanArgs};
use crate::report::terminal::num;
use crate::scenario::{Action, ChaosBackend, Load, Scenario, Target};
use crate::schedule::{PhaseSchedule, Schedule, Segment};
use crate::slo::Objectives;

pub(super) fn run(args: &PlanArgs) -> u8 {
    let Some(mut scenario) = super::validate::load_or_report(&args.file) else {
        return exit::INVALID_INPUT;
    };
    if let Some(seed) = args.reshape.seed {
        scenario.seed = seed;
    }
    let schedule = Schedule::new(
        &scenario.phases,
        scenario.seed,
        args.reshape.scale,
        args.reshape.duration,
    );
    print!("{}", render(&scenario, &schedule, args.reshape.scale));
    if let Some(n) = args.explain {
        print!("{}", explain(&scenario, &schedule, n));
    }
    exit::PASS
}

/// The first `n` arrivals of every phase, in one pass over the schedule.
fn explain(s: &Scenario, schedule: &Schedule, n: usize) -> String {
    let mut shown = vec![Vec::new(); schedule.phases.len()];
    let mut left = n * shown.len();
    for a in schedule.arrivals(Segment::WHOLE) {
        if left == 0 {
            break;
        }
        if let Some(list) = shown.get_mut(a.phase as usize) {
            if list.len() < n {
                list.push(a);
                left -= 1;
            }
        }
    }
    let mut out = String::from(
        "\n  first arrivals (intended offset from the start, run-wide sequence number):\n",
    );
    for (phase, list) in s.phases.iter().zip(&shown) {
        let _ = writeln!(out, "  {}:", phase.name);
        for a in list {
            let _ = writeln!(out, "    t={:>12.6}s  seq={}", a.at.as_secs_f64(), a.seq);
        }
    }
    out
}

pub(super) fn render(s: &Scenario, schedule: &Schedule, scale: f64) -> String {
    let mut out = String::new();
    let target = match &s.target {
        Target::Embedded => "embedded demo platform".to_owned(),
        Target::Url(u) => u.to_string(),
    };
    let _ = writeln!(
        out,
        "plan: {} · seed {} · scale {} · target {target}",
        s.name,
        s.seed,
        num(scale)
    );
    let _ = writeln!(
        out,
        "\n  {:<18} {:>15}  {:<40} {:>9} {:>9}  flow (steps)",
        "phase", "window", "load", "arrivals", "live"
    );
    // Exact counts draw every Poisson gap: count each phase once.
    let counts: Vec<u64> = schedule.phases.iter().map(PhaseSchedule::count).collect();
    let total: u64 = counts.iter().sum();
    let mut requests = Some(0.0);
    for ((phase, ps), &arrivals) in s.phases.iter().zip(&schedule.phases).zip(&counts) {
        let flow = s.flows.get(phase.flow);
        let steps: Vec<&str> = flow
            .map(|f| f.steps.iter().map(|st| st.name.as_str()).collect())
            .unwrap_or_default();
        let window = if ps.duration.is_zero() {
            "cut by --duration".to_owned()
        } else {
            format!(
                "{}s → {}s",
                num(ps.start.as_secs_f64()),
                num((ps.start + ps.duration).as_secs_f64())
            )
        };
        let per_session = flow.and_then(|f| expected_requests(&f.program));
        requests = requests
            .zip(per_session)
            .map(|(sum, per)| sum + per * arrivals as f64);
        let _ = writeln!(
            out,
            "  {:<18} {:>15}  {:<40} {:>9} {:>9}  {} ({})",
            phase.name,
            window,
            load_text(&phase.load, ps),
            arrivals,
            live_text(&phase.load, ps),
            flow.map_or("?", |f| f.name.as_str()),
            steps.join(", ")
        );
    }
    let expected = match requests {
        Some(r) => format!("about {} requests", r.round()),
        None => "requests depend on endless loops and dwell times".to_owned(),
    };
    let _ = writeln!(
        out,
        "\n  total: {} arrivals over {}s; {expected}",
        total,
        num(schedule.end().as_secs_f64()),
    );
    let _ = writeln!(
        out,
        "  live: expected concurrent sessions (Little's law: join rate × mean dwell)"
    );
    let _ = writeln!(out, "\n  arrivals per second over the timeline:");
    let _ = write!(out, "{}", sparkline(schedule, total));
    regions_text(&mut out, s);
    if s.invariants.declared() {
        let names: Vec<&str> = s.invariants.check.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            out,
            "\n  invariants, checked {} ms after the load: {}",
            s.invariants.settle.as_millis(),
            names.join(", ")
        );
    }
    objectives_text(&mut out, s);
    out
}

/// The objectives the run will be judged by, defaults said as such.
fn objectives_text(out: &mut String, s: &Scenario) {
    match s.objectives {
        Objectives::None => {
            let _ = writeln!(
                out,
                "\n  objectives: none (`slos: []`): the run is measured, not judged"
            );
        }
        Objectives::Defaults => {
            let _ = writeln!(
                out,
                "\n  objectives: defaults, as the scenario has no `slos:` (write your own, or `slos: []` for none):"
            );
            for slo in &s.slos {
                let _ = writeln!(out, "  slo: {}  (default)", slo.expr);
            }
        }
        Objectives::Written => {
            for slo in &s.slos {
                let _ = writeln!(out, "  slo: {}", slo.expr);
            }
        }
    }
}

/// Each region's share and network, then the chaos timeline.
fn regions_text(out: &mut String, s: &Scenario) {
    if s.regions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n  regions (each through its own proxy):");
    for r in &s.regions {
        let shares: Vec<String> = r
            .shares
            .iter()
            .zip(&s.phases)
            .map(|(sh, p)| format!("{} {}%", p.name, num(sh * 100.0)))
            .collect();
        let net = r.profile.as_ref().map_or("undegraded".to_owned(), |p| {
            format!(
                "profile {} (round trip {} ms)",
                p.name,
                num(p.base_rtt().as_secs_f64() * 1_000.0)
            )
        });
        let _ = writeln!(out, "    {:<12} {net} · {}", r.name, shares.join(", "));
    }
    let events = &s.chaos.events;
    if events.is_empty() {
        return;
    }
    let backend = match &s.chaos.backend {
        ChaosBackend::Embedded => "embedded proxy".to_owned(),
        ChaosBackend::Toxiproxy(t) => format!("Toxiproxy at {}", t.api.join(", ")),
    };
    let _ = writeln!(out, "\n  chaos ({backend}):");
    for e in events {
        let regions: Vec<&str> = e
            .regions
            .iter()
            .filter_map(|&i| s.regions.get(i).map(|r| r.name.as_str()))
            .collect();
        let until = e
            .until()
            .map_or("end".to_owned(), |u| format!("{}s", num(u.as_secs_f64())));
        let mut extra = String::new();
        if let Some(r) = e.ramp {
            let _ = write!(extra, ", ramp {}s", num(r.as_secs_f64()));
        }
        if let Some(f) = e.flap {
            let _ = write!(
                extra,
                ", flapping {}s on / {}s off",
                num(f.on.as_secs_f64()),
                num(f.off.as_secs_f64())
            );
        }
        let _ = writeln!(
            out,
            "    {:>8} → {:<8} {:<16} {} [{}]{extra}",
            format!("{}s", num(e.at.as_secs_f64())),
            until,
            e.name,
            crate::chaos::timeline::describe(&e.action),
            regions.join(", ")
        );
    }
}

/// Expected requests one pass of `program` sends, if bounded: funnel odds
/// and branch weights multiply, counted loops repeat.
fn expected_requests(program: &[Action]) -> Option<f64> {
    let mut total = 0.0;
    // Probability that the program is still running at this point.
    let mut alive = 1.0;
    for action in program {
        match action {
            Action::Request { chance, .. } => {
                alive *= chance;
                total += alive;
            }
            Action::Think(_) => {}
            Action::Loop { times, body, .. } => {
                total += alive * f64::from((*times)?) * expected_requests(body)?;
            }
            Action::Choose(branches) => {
                let mut sum = 0.0;
                for (w, body) in branches {
                    sum += w * expected_requests(body)?;
                }
                total += alive * sum;
            }
        }
    }
    Some(total)
}

/// Expected live sessions in a phase's steady state (Little's law); `None`
/// for an open-model phase, which has none.
pub(super) fn expected_live(load: &Load, ps: &PhaseSchedule) -> Option<f64> {
    match load {
        Load::Open { .. } => None,
        Load::Users { count } => Some(f64::from(*count)),
        Load::Sessions { dwell, .. } => {
            let d = ps.duration.as_secs_f64();
            if d <= 0.0 {
                return Some(0.0);
            }
            let mean_join = ps.expected() / d;
            let stay = dwell.as_ref().map_or(d, |w| w.mean().as_secs_f64().min(d));
            Some(mean_join * stay)
        }
    }
}

/// The most sessions expected live at once over the whole timeline:
/// sessions of phases that do not overlap never coexist, so it is the
/// largest sum over phases running together (taken at each phase's start,
/// where such a sum can only grow).
pub(super) fn peak_live(scenario: &Scenario, schedule: &Schedule) -> f64 {
    let spans: Vec<(std::time::Duration, std::time::Duration, f64)> = scenario
        .phases
        .iter()
        .zip(&schedule.phases)
        .filter_map(|(p, ps)| {
            let live = expected_live(&p.load, ps)?;
            Some((ps.start, ps.start + ps.duration, live))
        })
        .collect();
    spans
        .iter()
        .map(|&(at, ..)| {
            spans
                .iter()
                .filter(|&&(start, end, _)| start <= at && at < end)
                .map(|&(.., n)| n)
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

fn live_text(load: &Load, ps: &PhaseSchedule) -> String {
    expected_live(load, ps).map_or("-".to_owned(), |n| match load {
        Load::Users { .. } => format!("{n}"),
        _ => format!("≈{}", n.round()),
    })
}

fn load_text(load: &Load, ps: &PhaseSchedule) -> String {
    use crate::scenario::{ArrivalProcess, Decay, RateShape};
    let prefix = match load {
        Load::Users { count } => return format!("{count} users, back to back"),
        Load::Sessions { .. } => "sessions join ",
        Load::Open { .. } => "",
    };
    let secs = |d: std::time::Duration| num(d.as_secs_f64());
    let shape = match ps.shape {
        RateShape::Constant { per_sec } => format!("{}/s constant", num(per_sec)),
        RateShape::Ramp { from, to } => format!("{}/s → {}/s ramp", num(from), num(to)),
        RateShape::Staircase { from, to, steps } => {
            format!("{}/s → {}/s in {steps} steps", num(from), num(to))
        }
        RateShape::Spike { base, peak, decay } => match decay {
            Decay::Exponential { half_life } => format!(
                "spike {}/s ↘ {}/s, half-life {}s",
                num(peak),
                num(base),
                secs(half_life)
            ),
            Decay::Linear { over } => format!(
                "spike {}/s ↘ {}/s over {}s",
                num(peak),
                num(base),
                secs(over)
            ),
        },
        RateShape::Wave {
            mean,
            amplitude,
            period,
            ..
        } => format!(
            "wave {}±{}/s, period {}s",
            num(mean),
            num(amplitude),
            secs(period)
        ),
    };
    match ps.arrivals {
        ArrivalProcess::Uniform => format!("{prefix}{shape}"),
        ArrivalProcess::Poisson => format!("{prefix}{shape}, poisson"),
    }
}

/// Arrivals per time bucket as a bar line, with the peak labelled.
fn sparkline(schedule: &Schedule, total: u64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let end = schedule.end().as_secs_f64();
    if end <= 0.0 {
        return "  (empty)\n".to_owned();
    }
    let buckets = (end.ceil() as usize).clamp(1, 60);
    let width = end / buckets as f64;
    let mut counts = vec![0u64; buckets];
    // Counting is O(arrivals); cap the work for huge plans by sampling time
    // from each phase's closed form instead.
    if total <= 5_000_000 {
        for a in schedule.arrivals(Segment::WHOLE) {
            let b = ((a.at.as_secs_f64() / width) as usize).min(buckets - 1);
            counts[b] += 1;
        }
    } else {
        for (b, c) in counts.iter_mut().enumerate() {
            let mid = std::time::Duration::from_secs_f64((b as f64 + 0.5) * width);
            *c = schedule
                .phases
                .iter()
                .filter(|p| p.start <= mid && mid < p.start + p.duration)
                .map(|p| (p.rate_at(mid - p.start) * width) as u64)
                .sum();
        }
    }
    let peak = counts.iter().copied().max().unwrap_or(0).max(1);
    let bars: String = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                ' '
            } else {
                BARS[((c * 7) / peak) as usize]
            }
        })
        .collect();
    format!(
        "  {bars}  peak {}/s\n  0s{}{}s\n",
        num(peak as f64 / width),
        " ".repeat(buckets.saturating_sub(2 + num(end).len())),
        num(end)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn peak_of(phases: &str) -> f64 {
        let yaml = format!(
            "name: t\ntarget: http://127.0.0.1:1\nphases:\n{phases}flows:\n  f:\n    - get: /\n"
        );
        let s = crate::scenario::load_str(Path::new("t.yaml"), &yaml).unwrap();
        let schedule = Schedule::new(&s.phases, s.seed, 1.0, None);
        peak_live(&s, &schedule)
    }

    #[test]
    fn sessions_of_phases_that_never_overlap_are_not_added_up() {
        // One after the other: the larger of the two.
        let apart = peak_of(
            "  - { name: a, duration: 10s, load: { users: 100 }, flow: f }\n  \
             - { name: b, duration: 10s, load: { users: 300 }, flow: f }\n",
        );
        assert_eq!(apart, 300.0);
        // Overlapping: both at once, and an open phase adds nothing.
        let together = peak_of(
            "  - { name: a, duration: 10s, load: { users: 100 }, flow: f }\n  \
             - { name: b, at: 5s, duration: 10s, load: { users: 300 }, flow: f }\n  \
             - { name: c, at: 0s, duration: 20s, load: { rate: 50/s }, flow: f }\n",
        );
        assert_eq!(together, 400.0);
    }
}
