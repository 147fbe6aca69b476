//! Tests of the schedule: counts, spacing, shapes, Poisson statistics,
//! merging and segmentation.

use super::*;
use crate::scenario::Decay;

fn phase(start_s: u64, dur_s: u64, shape: RateShape) -> PhaseSchedule {
    PhaseSchedule::new(
        Duration::from_secs(start_s),
        Duration::from_secs(dur_s),
        shape,
        ArrivalProcess::Uniform,
        7,
    )
}

fn poisson(dur_s: u64, shape: RateShape, seed: u64) -> PhaseSchedule {
    PhaseSchedule {
        arrivals: ArrivalProcess::Poisson,
        seed,
        ..phase(0, dur_s, shape)
    }
}

fn per_second(p: PhaseSchedule) -> Vec<u64> {
    let secs = p.duration.as_secs() as usize;
    let s = Schedule { phases: vec![p] };
    let mut out = vec![0u64; secs];
    for a in s.arrivals(Segment::WHOLE) {
        out[(a.at.as_secs() as usize).min(secs - 1)] += 1;
    }
    out
}

/// Expected arrivals in second `i` of a phase.
fn expected_in(p: &PhaseSchedule, i: usize) -> f64 {
    let span = p.span.as_secs_f64();
    p.shape.cumulative(span, (i + 1) as f64) - p.shape.cumulative(span, i as f64)
}

fn all_shapes() -> Vec<RateShape> {
    vec![
        RateShape::Constant { per_sec: 2000.0 },
        RateShape::Ramp {
            from: 500.0,
            to: 4000.0,
        },
        RateShape::Staircase {
            from: 1000.0,
            to: 4000.0,
            steps: 4,
        },
        RateShape::Spike {
            base: 1000.0,
            peak: 8000.0,
            decay: Decay::Exponential {
                half_life: Duration::from_secs(4),
            },
        },
        RateShape::Spike {
            base: 1000.0,
            peak: 6000.0,
            decay: Decay::Linear {
                over: Duration::from_secs(10),
            },
        },
        RateShape::Wave {
            mean: 3000.0,
            amplitude: 1500.0,
            period: Duration::from_secs(20),
            offset: Duration::ZERO,
        },
    ]
}

#[test]
fn constant_rate_is_evenly_spaced() {
    let s = Schedule {
        phases: vec![phase(0, 5, RateShape::Constant { per_sec: 200.0 })],
    };
    let at: Vec<Duration> = s.arrivals(Segment::WHOLE).map(|a| a.at).collect();
    assert_eq!(at.len(), 1000);
    assert_eq!(at[0], Duration::ZERO);
    assert!((at[1].as_secs_f64() - 0.005).abs() < 1e-9);
    assert!((at[999].as_secs_f64() - 4.995).abs() < 1e-9);
}

#[test]
fn uniform_arrivals_follow_every_shape_within_one_percent_per_second() {
    for shape in all_shapes() {
        let p = phase(0, 20, shape);
        let counts = per_second(p);
        for (i, &n) in counts.iter().enumerate() {
            let e = expected_in(&p, i);
            // ±1%, and ±1 for where a second's boundary splits the spacing.
            assert!(
                (n as f64 - e).abs() <= e * 0.01 + 1.0,
                "{shape:?} second {i}: {n} vs {e:.1}"
            );
        }
        assert_eq!(p.count(), counts.iter().sum::<u64>());
    }
}

#[test]
fn poisson_arrivals_stay_inside_the_confidence_band() {
    // Per second, a Poisson count has variance equal to its mean: allow
    // 4 standard deviations per bucket (a false alarm about once in 15,000
    // buckets) and 4 for the total.
    for (n, shape) in all_shapes().into_iter().enumerate() {
        let p = poisson(20, shape, 42 + n as u64);
        let counts = per_second(p);
        for (i, &c) in counts.iter().enumerate() {
            let e = expected_in(&p, i);
            assert!(
                (c as f64 - e).abs() <= 4.0 * e.sqrt(),
                "{shape:?} second {i}: {c} vs {e:.1}"
            );
        }
        let total: u64 = counts.iter().sum();
        let e = p.expected();
        assert!(
            (total as f64 - e).abs() <= 4.0 * e.sqrt(),
            "{shape:?}: {total} vs {e}"
        );
        assert_eq!(p.count(), total);
    }
}

#[test]
fn poisson_gaps_are_exponential() {
    // At a constant rate the gaps are exponential: mean 1/r, and the
    // coefficient of variation is 1 (uniform spacing would give 0).
    let p = poisson(50, RateShape::Constant { per_sec: 1000.0 }, 9);
    let s = Schedule { phases: vec![p] };
    let t: Vec<f64> = s
        .arrivals(Segment::WHOLE)
        .map(|a| a.at.as_secs_f64())
        .collect();
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    assert!((mean - 0.001).abs() < 0.00002, "mean gap {mean}");
    assert!(
        (var.sqrt() / mean - 1.0).abs() < 0.03,
        "cv {}",
        var.sqrt() / mean
    );
}

#[test]
fn poisson_arrivals_repeat_by_seed_and_change_with_it() {
    let shape = RateShape::Ramp {
        from: 10.0,
        to: 300.0,
    };
    let run = |seed| -> Vec<Duration> {
        Schedule {
            phases: vec![poisson(5, shape, seed)],
        }
        .arrivals(Segment::WHOLE)
        .map(|a| a.at)
        .collect()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn phases_get_their_own_poisson_streams_from_the_scenario_seed() {
    let ph = |name: &str| Phase {
        name: name.into(),
        start: Duration::ZERO,
        duration: Duration::from_secs(2),
        load: Load::Open {
            shape: RateShape::Constant { per_sec: 100.0 },
            arrivals: ArrivalProcess::Poisson,
        },
        flow: 0,
    };
    let phases = vec![ph("a"), ph("b")];
    let s1 = Schedule::new(&phases, 42, 1.0, None);
    let s2 = Schedule::new(&phases, 42, 1.0, None);
    let s3 = Schedule::new(&phases, 43, 1.0, None);
    assert_eq!(s1, s2);
    assert_ne!(s1.phases[0].seed, s1.phases[1].seed);
    assert_ne!(s1.phases[0].seed, s3.phases[0].seed);
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
    for (i, n) in per_second(p).iter().enumerate() {
        let expect = 50.0 + 35.0 * (i as f64 + 0.5);
        assert!((*n as f64 - expect).abs() <= 1.0, "second {i}: {n}");
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
            poisson(2, RateShape::Constant { per_sec: 77.0 }, 3),
        ],
    };
    let whole: Vec<_> = s.arrivals(Segment::WHOLE).collect();
    assert!(whole.len() > 600);
    for n in [1, 2, 3, 7] {
        let slices: Vec<Vec<_>> = (0..n)
            .map(|i| s.arrivals(Segment { index: i, count: n }).collect())
            .collect();
        // Every slice is in time order by itself, and slices share nothing.
        for sl in &slices {
            assert!(sl.windows(2).all(|w| w[0].at <= w[1].at));
        }
        let mut union: Vec<_> = slices.into_iter().flatten().collect();
        union.sort_by_key(|a| a.seq);
        assert_eq!(
            union, whole,
            "{n} workers: no arrival duplicated or missing"
        );
    }
}

#[test]
fn scale_and_duration_cap_apply_to_every_phase() {
    let ph = |name: &str, start, shape| Phase {
        name: name.into(),
        start: Duration::from_secs(start),
        duration: Duration::from_secs(10),
        load: Load::Open {
            shape,
            arrivals: ArrivalProcess::Uniform,
        },
        flow: 0,
    };
    let phases = vec![
        ph(
            "a",
            0,
            RateShape::Ramp {
                from: 0.0,
                to: 100.0,
            },
        ),
        ph("b", 10, RateShape::Constant { per_sec: 10.0 }),
    ];
    let s = Schedule::new(&phases, 1, 2.0, Some(Duration::from_secs(5)));
    // The first half of the ramp at double rate: ∫0..5 of 20·t = 250. The
    // ramp keeps its slope: it still spans the scenario's 10 s.
    assert_eq!(s.phases[0].count(), 250);
    assert_eq!(s.phases[0].rate_at(Duration::from_secs(5)), 100.0);
    assert_eq!(s.phases[1].count(), 0);
    assert_eq!(s.end(), Duration::from_secs(5));
}
