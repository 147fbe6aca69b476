//! The arrival schedule: when each flow iteration is *meant* to start.
//!
//! Owns turning phases and their load shapes into intended start offsets,
//! applying `--scale` and `--duration`, and slicing the schedule into
//! deterministic segments (worker `i` of `n`). Everything here is pure and
//! lazy: arrivals are computed on demand, so a long run costs no memory.
//! Must not sleep, send, or read a clock.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::scenario::{ArrivalProcess, Load, Phase, RateShape};

/// One intended flow iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Intended start, as an offset from the start of the run.
    pub at: Duration,
    /// Index of the phase (in the scenario's phase order).
    pub phase: u32,
    /// Run-wide sequence number: the position of this arrival in the whole
    /// (unsegmented) schedule. Stable across segmentations.
    pub seq: u64,
}

/// One slice of the schedule: worker `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub count: u32,
}

impl Segment {
    /// The whole schedule.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    fn owns(self, seq: u64) -> bool {
        self.count <= 1 || seq % u64::from(self.count) == u64::from(self.index)
    }
}

/// A seed derived from `seed` and `n` (SplitMix64's finaliser): independent
/// streams for phases and iterations that do not depend on who computes them.
pub fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Salt that keeps phase streams apart from iteration streams.
const PHASE_STREAM: u64 = 0x5048_4153_4500_0000;

/// The arrival process of one phase after scaling and capping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseSchedule {
    pub start: Duration,
    /// How long the phase runs (the scenario's duration, or less if
    /// `--duration` cuts it).
    pub duration: Duration,
    /// The scenario's duration of the phase: what ramps and staircases span.
    pub span: Duration,
    pub shape: RateShape,
    pub arrivals: ArrivalProcess,
    /// Seed of this phase's Poisson gaps.
    pub seed: u64,
    /// Arrivals all at the phase start, besides the curve: the users of a
    /// fixed-population phase.
    pub burst: u64,
}

impl PhaseSchedule {
    /// A phase that runs its whole span from `start`.
    pub fn new(
        start: Duration,
        duration: Duration,
        shape: RateShape,
        arrivals: ArrivalProcess,
        seed: u64,
    ) -> Self {
        PhaseSchedule {
            start,
            duration,
            span: duration,
            shape,
            arrivals,
            seed,
            burst: 0,
        }
    }

    /// Expected number of arrivals: the integral of the rate over the phase.
    pub fn expected(&self) -> f64 {
        self.shape
            .cumulative(self.span.as_secs_f64(), self.duration.as_secs_f64())
    }

    /// Exact number of arrivals. Uniform: the expected count, floored.
    /// Poisson: counted by drawing the phase's seeded gaps (O(arrivals)).
    pub fn count(&self) -> u64 {
        if self.duration.is_zero() {
            return 0;
        }
        match self.arrivals {
            ArrivalProcess::Uniform => self.burst + uniform_count(self.expected()),
            ArrivalProcess::Poisson => {
                let mut c = Cursor::new(self);
                let mut n = 0;
                while c.next_offset(self).is_some() {
                    n += 1;
                }
                n
            }
        }
    }

    /// Rate at `t` into the phase, per second.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.shape.rate(self.span.as_secs_f64(), t.as_secs_f64())
    }
}

// A tiny epsilon keeps 1500/s × 10 s at 15000, not 14999.
fn uniform_count(expected: f64) -> u64 {
    (expected + 1e-9).floor().max(0.0) as u64
}

/// Where one phase's arrival stream stands.
#[derive(Debug, Clone)]
struct Cursor {
    /// Expected-count coordinate of the next arrival.
    y: f64,
    /// Time (s into the phase) of the previous arrival: the next is later.
    last: f64,
    /// Uniform: arrivals left. Poisson: unused.
    left: u64,
    /// Arrivals still due at the phase start.
    burst_left: u64,
    total: f64,
    rng: Option<Pcg64Mcg>,
}

impl Cursor {
    fn new(p: &PhaseSchedule) -> Cursor {
        let total = p.expected();
        let runs = !p.duration.is_zero();
        let mut c = Cursor {
            y: 0.0,
            last: 0.0,
            left: 0,
            burst_left: if runs { p.burst } else { 0 },
            total: if runs { total } else { 0.0 },
            rng: None,
        };
        match p.arrivals {
            ArrivalProcess::Uniform => c.left = uniform_count(c.total),
            ArrivalProcess::Poisson => {
                let mut rng = Pcg64Mcg::seed_from_u64(p.seed);
                c.y = unit_exponential(&mut rng);
                c.rng = Some(rng);
            }
        }
        c
    }

    /// Offset of the next arrival from the phase start, if any.
    fn next_offset(&mut self, p: &PhaseSchedule) -> Option<f64> {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return Some(0.0);
        }
        match &mut self.rng {
            None => {
                if self.left == 0 {
                    return None;
                }
                self.left -= 1;
            }
            Some(_) if self.y >= self.total => return None,
            Some(_) => {}
        }
        let span = p.span.as_secs_f64();
        let t = p
            .shape
            .invert(span, self.y, self.last, p.duration.as_secs_f64());
        self.last = t;
        self.y += match &mut self.rng {
            None => 1.0,
            Some(rng) => unit_exponential(rng),
        };
        Some(t)
    }
}

fn unit_exponential(rng: &mut Pcg64Mcg) -> f64 {
    // 1 − U lies in (0, 1], so the logarithm is finite.
    -(1.0 - rng.random::<f64>()).ln()
}

/// The whole run's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub phases: Vec<PhaseSchedule>,
}

impl Schedule {
    /// Build from the scenario's phases, multiplying every rate by `scale`
    /// and cutting the timeline at `cap` if given. `seed` seeds the Poisson
    /// phases, each with its own stream.
    pub fn new(phases: &[Phase], seed: u64, scale: f64, cap: Option<Duration>) -> Schedule {
        let phases = phases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // Arrivals are flow iterations (open model) or session
                // joins (viewers); a fixed user population all starts at
                // the phase start.
                let (shape, arrivals, burst) = match p.load {
                    Load::Open { shape, arrivals }
                    | Load::Sessions {
                        join: shape,
                        arrivals,
                        ..
                    } => (shape, arrivals, 0),
                    // `--scale` shrinks a population like it shrinks a rate,
                    // keeping at least one user.
                    Load::Users { count } => (
                        RateShape::Constant { per_sec: 0.0 },
                        ArrivalProcess::Uniform,
                        ((f64::from(count) * scale).round() as u64).max(1),
                    ),
                };
                let mut duration = p.duration;
                if let Some(cap) = cap {
                    duration = duration.min(cap.saturating_sub(p.start));
                }
                PhaseSchedule {
                    start: p.start,
                    duration,
                    span: p.duration,
                    shape: shape.scaled(scale),
                    arrivals,
                    seed: mix(seed ^ PHASE_STREAM, i as u64),
                    burst,
                }
            })
            .collect();
        Schedule { phases }
    }

    /// Total number of arrivals in the whole schedule. Exact, so for
    /// Poisson phases it draws every gap: O(arrivals).
    pub fn total(&self) -> u64 {
        self.phases.iter().map(PhaseSchedule::count).sum()
    }

    /// Expected number of arrivals, from the curves alone: O(phases).
    pub fn expected(&self) -> f64 {
        self.phases
            .iter()
            .filter(|p| !p.duration.is_zero())
            .map(|p| p.burst as f64 + p.expected())
            .sum()
    }

    /// End of the last phase.
    pub fn end(&self) -> Duration {
        self.phases
            .iter()
            .filter(|p| !p.duration.is_zero())
            .map(|p| p.start + p.duration)
            .max()
            .unwrap_or_default()
    }

    /// The arrivals of one segment, in time order (ties: phase order).
    ///
    /// Segments of the same schedule are disjoint and together hold every
    /// arrival, each with the same `seq` it has in the whole schedule:
    ///
    /// ```
    /// use std::time::Duration;
    /// use flashcrowd::scenario::{ArrivalProcess, RateShape};
    /// use flashcrowd::schedule::{PhaseSchedule, Schedule, Segment};
    ///
    /// let ramp = RateShape::Ramp { from: 0.0, to: 100.0 };
    /// let schedule = Schedule {
    ///     phases: vec![PhaseSchedule::new(Duration::ZERO, Duration::from_secs(2), ramp, ArrivalProcess::Uniform, 1)],
    /// };
    /// assert_eq!(schedule.total(), 100);
    /// let first: Vec<u64> = schedule.arrivals(Segment { index: 0, count: 3 }).map(|a| a.seq).collect();
    /// let second: Vec<u64> = schedule.arrivals(Segment { index: 1, count: 3 }).map(|a| a.seq).collect();
    /// assert_eq!(&first[..3], &[0, 3, 6]);
    /// assert_eq!(&second[..3], &[1, 4, 7]);
    /// assert_eq!(first.len() + second.len() + schedule.arrivals(Segment { index: 2, count: 3 }).count(), 100);
    /// ```
    pub fn arrivals(&self, segment: Segment) -> Arrivals<'_> {
        let mut heap = BinaryHeap::with_capacity(self.phases.len());
        let mut cursors = Vec::with_capacity(self.phases.len());
        for (i, p) in self.phases.iter().enumerate() {
            let mut c = Cursor::new(p);
            if let Some(t) = c.next_offset(p) {
                heap.push(Next {
                    at: p.start + Duration::from_secs_f64(t),
                    phase: i as u32,
                });
            }
            cursors.push(c);
        }
        Arrivals {
            schedule: self,
            heap,
            cursors,
            seq: 0,
            segment,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Next {
    at: Duration,
    phase: u32,
}

impl Ord for Next {
    // BinaryHeap is a max-heap: reverse so the earliest (then lowest phase)
    // comes out first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.phase.cmp(&self.phase))
    }
}

impl PartialOrd for Next {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Lazy, time-ordered iterator over a segment's arrivals.
pub struct Arrivals<'a> {
    schedule: &'a Schedule,
    heap: BinaryHeap<Next>,
    cursors: Vec<Cursor>,
    seq: u64,
    segment: Segment,
}

impl Iterator for Arrivals<'_> {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        loop {
            let Next { at, phase } = self.heap.pop()?;
            let p = &self.schedule.phases[phase as usize];
            if let Some(t) = self.cursors[phase as usize].next_offset(p) {
                self.heap.push(Next {
                    at: p.start + Duration::from_secs_f64(t),
                    phase,
                });
            }
            let seq = self.seq;
            self.seq += 1;
            if self.segment.owns(seq) {
                return Some(Arrival { at, phase, seq });
            }
        }
    }
}

#[cfg(test)]
mod tests;
