//! Rate curves as functions of time: the rate `r(t)`, the expected number
//! of arrivals so far `Λ(t) = ∫₀ᵗ r`, and its inverse.
//!
//! Owns the arithmetic of every load shape, beside the shape's type, so
//! validation (a curve that never starts) and the schedule (where arrivals
//! fall) use one definition. Every arrival process is built on `Λ⁻¹`:
//! uniform arrivals sit at `Λ⁻¹(k)`, Poisson arrivals at `Λ⁻¹` of a running
//! sum of unit exponential gaps (the time-rescaling theorem), so a new
//! shape only needs `r` and `Λ`. Pure functions of seconds (f64); must not
//! know about clocks, phases or scenarios' syntax.

use std::f64::consts::{LN_2, TAU};

use super::model::{Decay, RateShape};

impl RateShape {
    /// Rate at `t` seconds into a shape that spans `span` seconds.
    pub fn rate(&self, span: f64, t: f64) -> f64 {
        rate(self, span, t)
    }

    /// Expected arrivals in `[0, t]` of a shape that spans `span` seconds.
    pub fn cumulative(&self, span: f64, t: f64) -> f64 {
        cumulative(self, span, t)
    }

    /// The time in `[lo, hi]` at which [`RateShape::cumulative`] reaches
    /// `y`.
    pub fn invert(&self, span: f64, y: f64, lo: f64, hi: f64) -> f64 {
        invert(self, span, y, lo, hi)
    }
}

fn rate(shape: &RateShape, span: f64, t: f64) -> f64 {
    match *shape {
        RateShape::Constant { per_sec } => per_sec,
        RateShape::Ramp { from, to } => from + (to - from) * frac(t, span),
        RateShape::Staircase { from, to, steps } => {
            let (n, len) = stairs(steps, span);
            let i = ((t / len).floor().max(0.0) as u32).min(n - 1);
            level(from, to, n, i)
        }
        RateShape::Spike { base, peak, decay } => match decay {
            Decay::Exponential { half_life } => {
                base + (peak - base) * (-t * LN_2 / half_life.as_secs_f64()).exp()
            }
            Decay::Linear { over } => {
                let over = over.as_secs_f64();
                if t < over {
                    peak + (base - peak) * t / over
                } else {
                    base
                }
            }
        },
        RateShape::Wave {
            mean,
            amplitude,
            period,
            offset,
        } => mean + amplitude * (TAU * (t + offset.as_secs_f64()) / period.as_secs_f64()).sin(),
    }
}

fn cumulative(shape: &RateShape, span: f64, t: f64) -> f64 {
    let t = t.max(0.0);
    match *shape {
        RateShape::Constant { per_sec } => per_sec * t,
        RateShape::Ramp { from, to } => {
            let slope = if span > 0.0 { (to - from) / span } else { 0.0 };
            from * t + slope * t * t / 2.0
        }
        RateShape::Staircase { from, to, steps } => {
            let (n, len) = stairs(steps, span);
            let full = ((t / len).floor() as u32).min(n - 1);
            let done: f64 = (0..full).map(|i| level(from, to, n, i) * len).sum();
            done + level(from, to, n, full) * (t - f64::from(full) * len)
        }
        RateShape::Spike { base, peak, decay } => match decay {
            Decay::Exponential { half_life } => {
                let k = LN_2 / half_life.as_secs_f64();
                base * t + (peak - base) * (1.0 - (-k * t).exp()) / k
            }
            Decay::Linear { over } => {
                let over = over.as_secs_f64();
                let u = t.min(over);
                let head = peak * u + (base - peak) * u * u / (2.0 * over);
                head + base * (t - u)
            }
        },
        RateShape::Wave {
            mean,
            amplitude,
            period,
            offset,
        } => {
            let p = period.as_secs_f64();
            let o = offset.as_secs_f64();
            mean * t + amplitude * p / TAU * ((TAU * o / p).cos() - (TAU * (t + o) / p).cos())
        }
    }
}

/// The time in `[lo, hi]` at which `cumulative` reaches `y`: Newton steps
/// kept inside a shrinking bracket, so flat stretches (rate 0) and kinks
/// (stairs, the end of a linear decay) still converge.
fn invert(shape: &RateShape, span: f64, y: f64, mut lo: f64, mut hi: f64) -> f64 {
    if cumulative(shape, span, hi) <= y {
        return hi;
    }
    let r_lo = rate(shape, span, lo);
    let mut t = if r_lo > 0.0 {
        (lo + (y - cumulative(shape, span, lo)) / r_lo).clamp(lo, hi)
    } else {
        (lo + hi) / 2.0
    };
    for _ in 0..100 {
        let f = cumulative(shape, span, t) - y;
        if f.abs() < 1e-9 || hi - lo < 1e-12 {
            break;
        }
        if f > 0.0 {
            hi = t;
        } else {
            lo = t;
        }
        let d = rate(shape, span, t);
        let next = if d > 0.0 { t - f / d } else { f64::NAN };
        t = if next > lo && next < hi {
            next
        } else {
            (lo + hi) / 2.0
        };
    }
    t
}

fn frac(t: f64, span: f64) -> f64 {
    if span > 0.0 {
        (t / span).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Number of stairs (at least 1) and the length of each.
fn stairs(steps: u32, span: f64) -> (u32, f64) {
    let n = steps.max(1);
    (n, (span / f64::from(n)).max(f64::MIN_POSITIVE))
}

fn level(from: f64, to: f64, n: u32, i: u32) -> f64 {
    if n <= 1 {
        from
    } else {
        from + (to - from) * f64::from(i) / f64::from(n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn shapes() -> Vec<RateShape> {
        vec![
            RateShape::Constant { per_sec: 300.0 },
            RateShape::Ramp {
                from: 50.0,
                to: 400.0,
            },
            RateShape::Ramp {
                from: 0.0,
                to: 100.0,
            },
            RateShape::Staircase {
                from: 100.0,
                to: 400.0,
                steps: 4,
            },
            RateShape::Staircase {
                from: 0.0,
                to: 90.0,
                steps: 3,
            },
            RateShape::Spike {
                base: 100.0,
                peak: 2000.0,
                decay: Decay::Exponential {
                    half_life: Duration::from_secs(5),
                },
            },
            RateShape::Spike {
                base: 50.0,
                peak: 1000.0,
                decay: Decay::Linear {
                    over: Duration::from_secs(12),
                },
            },
            RateShape::Wave {
                mean: 300.0,
                amplitude: 300.0,
                period: Duration::from_secs(20),
                offset: Duration::from_secs(3),
            },
        ]
    }

    #[test]
    fn cumulative_is_the_integral_of_rate() {
        // Midpoint rule with fine steps against the closed forms.
        let span = 40.0;
        for shape in shapes() {
            let mut sum = 0.0;
            let dt = 0.001;
            let mut t = 0.0;
            while t < span - 1e-9 {
                sum += rate(&shape, span, t + dt / 2.0) * dt;
                t += dt;
                let closed = cumulative(&shape, span, t);
                // A step edge inside one slice costs at most the jump × dt.
                assert!(
                    (sum - closed).abs() <= 1e-3 * closed.max(1.0) + 0.1,
                    "{shape:?} at {t}: {sum} vs {closed}"
                );
            }
        }
    }

    #[test]
    fn invert_undoes_cumulative_even_across_flat_stretches_and_kinks() {
        let span = 40.0;
        for shape in shapes() {
            let total = cumulative(&shape, span, span);
            let mut prev = 0.0;
            for k in 0..total.floor() as u64 {
                let y = k as f64;
                let t = invert(&shape, span, y, prev, span);
                assert!(t >= prev, "{shape:?}: arrivals out of order");
                assert!(
                    (cumulative(&shape, span, t) - y).abs() < 1e-6,
                    "{shape:?} k={k}"
                );
                prev = t;
            }
        }
    }

    #[test]
    fn spike_and_wave_rates_follow_their_definitions() {
        let s = RateShape::Spike {
            base: 100.0,
            peak: 2000.0,
            decay: Decay::Exponential {
                half_life: Duration::from_secs(5),
            },
        };
        assert_eq!(rate(&s, 60.0, 0.0), 2000.0);
        assert!((rate(&s, 60.0, 5.0) - 1050.0).abs() < 1e-9);
        let w = RateShape::Wave {
            mean: 300.0,
            amplitude: 200.0,
            period: Duration::from_secs(24 * 3600),
            offset: Duration::from_secs(6 * 3600),
        };
        // A quarter-period offset puts the crest at t = 0.
        assert!((rate(&w, 86_400.0, 0.0) - 500.0).abs() < 1e-9);
        assert!((rate(&w, 86_400.0, 43_200.0) - 100.0).abs() < 1e-9);
        let st = RateShape::Staircase {
            from: 100.0,
            to: 400.0,
            steps: 4,
        };
        assert_eq!(rate(&st, 40.0, 9.99), 100.0);
        assert_eq!(rate(&st, 40.0, 10.0), 200.0);
        assert_eq!(rate(&st, 40.0, 39.0), 400.0);
    }
}
