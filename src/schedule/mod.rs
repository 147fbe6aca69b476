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

use crate::scenario::{Load, Phase, RateShape};

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

/// The arrival process of one phase after scaling and capping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseSchedule {
    pub start: Duration,
    pub duration: Duration,
    pub shape: RateShape,
}

impl PhaseSchedule {
    /// Number of arrivals: the integral of the rate over the phase, floored.
    pub fn count(&self) -> u64 {
        let d = self.duration.as_secs_f64();
        let total = match self.shape {
            RateShape::Constant { per_sec } => per_sec * d,
            RateShape::Ramp { from, to } => (from + to) / 2.0 * d,
        };
        // A tiny epsilon keeps 1500/s × 10 s at 15000, not 14999.
        (total + 1e-9).floor().max(0.0) as u64
    }

    /// Offset of arrival `k` from the phase start: the time at which the
    /// cumulative expected arrivals reach `k` (evenly spaced for a constant
    /// rate, denser as a ramp climbs).
    pub fn offset_of(&self, k: u64) -> Duration {
        let k = k as f64;
        let d = self.duration.as_secs_f64();
        let t = match self.shape {
            RateShape::Constant { per_sec } => k / per_sec,
            RateShape::Ramp { from, to } => {
                let c = (to - from) / d;
                if c.abs() < 1e-12 {
                    k / from
                } else {
                    // from·t + c·t²/2 = k
                    (-from + (from * from + 2.0 * c * k).max(0.0).sqrt()) / c
                }
            }
        };
        Duration::from_secs_f64(t.clamp(0.0, d))
    }

    /// Rate at `t` into the phase, per second.
    pub fn rate_at(&self, t: Duration) -> f64 {
        match self.shape {
            RateShape::Constant { per_sec } => per_sec,
            RateShape::Ramp { from, to } => {
                let f = (t.as_secs_f64() / self.duration.as_secs_f64()).clamp(0.0, 1.0);
                from + (to - from) * f
            }
        }
    }
}

/// The whole run's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub phases: Vec<PhaseSchedule>,
}

impl Schedule {
    /// Build from the scenario's phases, multiplying every rate by `scale`
    /// and cutting the timeline at `cap` if given.
    pub fn new(phases: &[Phase], scale: f64, cap: Option<Duration>) -> Schedule {
        let phases = phases
            .iter()
            .map(|p| {
                let Load::Open(shape) = p.load;
                let mut ps = PhaseSchedule {
                    start: p.start,
                    duration: p.duration,
                    shape: shape.scaled(scale),
                };
                if let Some(cap) = cap {
                    ps = ps.capped(cap);
                }
                ps
            })
            .collect();
        Schedule { phases }
    }

    /// Total number of arrivals in the whole schedule.
    pub fn total(&self) -> u64 {
        self.phases.iter().map(PhaseSchedule::count).sum()
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
    /// use flashcrowd::scenario::RateShape;
    /// use flashcrowd::schedule::{PhaseSchedule, Schedule, Segment};
    ///
    /// let schedule = Schedule {
    ///     phases: vec![PhaseSchedule {
    ///         start: Duration::ZERO,
    ///         duration: Duration::from_secs(2),
    ///         shape: RateShape::Ramp { from: 0.0, to: 100.0 },
    ///     }],
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
        for (i, p) in self.phases.iter().enumerate() {
            if p.count() > 0 {
                heap.push(Next {
                    at: p.start,
                    phase: i as u32,
                    k: 0,
                });
            }
        }
        Arrivals {
            schedule: self,
            heap,
            seq: 0,
            segment,
        }
    }
}

impl PhaseSchedule {
    fn capped(mut self, cap: Duration) -> Self {
        if self.start >= cap {
            self.duration = Duration::ZERO;
        } else if self.start + self.duration > cap {
            let kept = cap - self.start;
            let end_rate = self.rate_at(kept);
            if let RateShape::Ramp { from, .. } = self.shape {
                self.shape = RateShape::Ramp { from, to: end_rate };
            }
            self.duration = kept;
        }
        self
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Next {
    at: Duration,
    phase: u32,
    k: u64,
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
    seq: u64,
    segment: Segment,
}

impl Iterator for Arrivals<'_> {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        loop {
            let Next { at, phase, k } = self.heap.pop()?;
            let p = &self.schedule.phases[phase as usize];
            if k + 1 < p.count() {
                self.heap.push(Next {
                    at: p.start + p.offset_of(k + 1),
                    phase,
                    k: k + 1,
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
mod tests {
    use super::*;

    fn phase(start_s: u64, dur_s: u64, shape: RateShape) -> PhaseSchedule {
        PhaseSchedule {
            start: Duration::from_secs(start_s),
            duration: Duration::from_secs(dur_s),
            shape,
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let p = phase(0, 5, RateShape::Constant { per_sec: 200.0 });
        assert_eq!(p.count(), 1000);
        assert_eq!(p.offset_of(0), Duration::ZERO);
        assert_eq!(p.offset_of(1), Duration::from_millis(5));
        assert_eq!(p.offset_of(999), Duration::from_millis(4995));
    }

    #[test]
    fn ramp_counts_the_integral_and_fills_each_second_at_its_rate() {
        let p = phase(
            0,
            10,
            RateShape::Ramp {
                from: 50.0,
                to: 400.0,
            },
        );
        assert_eq!(p.count(), 2250);
        let s = Schedule { phases: vec![p] };
        let mut per_sec = [0u32; 10];
        for a in s.arrivals(Segment::WHOLE) {
            per_sec[a.at.as_secs() as usize] += 1;
        }
        // Second i holds ∫ rate = 50 + 35·(i + 0.5) arrivals, ±1 for flooring.
        for (i, n) in per_sec.iter().enumerate() {
            let expect = 50.0 + 35.0 * (i as f64 + 0.5);
            assert!((f64::from(*n) - expect).abs() <= 1.0, "second {i}: {n}");
        }
    }

    #[test]
    fn overlapping_phases_merge_in_time_order() {
        let s = Schedule {
            phases: vec![
                phase(0, 10, RateShape::Constant { per_sec: 10.0 }),
                phase(5, 5, RateShape::Constant { per_sec: 100.0 }),
            ],
        };
        let all: Vec<_> = s.arrivals(Segment::WHOLE).collect();
        assert_eq!(all.len(), 600);
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(all.iter().enumerate().all(|(i, a)| a.seq == i as u64));
        assert_eq!(all.iter().filter(|a| a.phase == 1).count(), 500);
    }

    #[test]
    fn segments_are_disjoint_and_their_union_is_the_whole_schedule() {
        let s = Schedule {
            phases: vec![
                phase(
                    0,
                    3,
                    RateShape::Ramp {
                        from: 0.0,
                        to: 300.0,
                    },
                ),
                phase(1, 2, RateShape::Constant { per_sec: 77.0 }),
            ],
        };
        let whole: Vec<_> = s.arrivals(Segment::WHOLE).collect();
        let mut union: Vec<_> = (0..3)
            .flat_map(|i| s.arrivals(Segment { index: i, count: 3 }))
            .collect();
        union.sort_by_key(|a| a.seq);
        assert_eq!(union, whole);
    }

    #[test]
    fn scale_and_duration_cap_apply_to_every_phase() {
        let phases = vec![
            crate::scenario::Phase {
                name: "a".into(),
                start: Duration::ZERO,
                duration: Duration::from_secs(10),
                load: Load::Open(RateShape::Ramp {
                    from: 0.0,
                    to: 100.0,
                }),
                flow: 0,
            },
            crate::scenario::Phase {
                name: "b".into(),
                start: Duration::from_secs(10),
                duration: Duration::from_secs(10),
                load: Load::Open(RateShape::Constant { per_sec: 10.0 }),
                flow: 0,
            },
        ];
        let s = Schedule::new(&phases, 2.0, Some(Duration::from_secs(5)));
        // Half the ramp at double rate: ∫0..5 of 20·t = 250.
        assert_eq!(s.phases[0].count(), 250);
        assert_eq!(s.phases[1].count(), 0);
        assert_eq!(s.end(), Duration::from_secs(5));
    }
}
