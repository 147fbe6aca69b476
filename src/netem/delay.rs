//! One-way delay distributions: uniform jitter (Toxiproxy's), normal, and
//! Pareto for the long tail of a congested path.
//!
//! Owns sampling and parameter checks. Must not sleep.

use std::time::Duration;

use rand::Rng;

/// Longest delay any model returns: a draw beyond it is clamped, so one
/// extreme tail sample cannot stall a connection for the rest of a run.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// A one-way delay distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// `latency ± jitter`, uniform (Toxiproxy's `latency` toxic).
    Uniform { latency: Duration, jitter: Duration },
    /// Normal around `latency` with standard deviation `stdev`, never below
    /// zero.
    Normal { latency: Duration, stdev: Duration },
    /// `base` plus a Pareto tail: `base × (U^(−1/shape))`, so `base` is the
    /// minimum and `shape` sets how heavy the tail is (smaller is heavier;
    /// above 2 the variance is finite). The mean is `base × shape/(shape−1)`.
    Pareto { base: Duration, shape: f64 },
}

/// Why a delay model cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DelayError {
    #[error("a Pareto shape must be above 1 (a finite mean), got {0}")]
    Shape(f64),
    #[error("a delay may be at most {} s", MAX_DELAY.as_secs())]
    TooLong,
}

impl Delay {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), DelayError> {
        let (a, b) = match *self {
            Delay::Uniform { latency, jitter } => (latency, jitter),
            Delay::Normal { latency, stdev } => (latency, stdev),
            Delay::Pareto { base, shape } => {
                if !(shape.is_finite() && shape > 1.0) {
                    return Err(DelayError::Shape(shape));
                }
                (base, Duration::ZERO)
            }
        };
        if a > MAX_DELAY || b > MAX_DELAY {
            return Err(DelayError::TooLong);
        }
        Ok(())
    }

    /// The distribution's mean (before clamping).
    pub fn mean(&self) -> Duration {
        match *self {
            Delay::Uniform { latency, .. } | Delay::Normal { latency, .. } => latency,
            Delay::Pareto { base, shape } => base.mul_f64(shape / (shape - 1.0)),
        }
    }

    /// One draw, in `[0, MAX_DELAY]`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match *self {
            Delay::Uniform { latency, jitter } => {
                let j = jitter.as_secs_f64();
                latency.as_secs_f64()
                    + if j > 0.0 {
                        rng.random_range(-j..j)
                    } else {
                        0.0
                    }
            }
            Delay::Normal { latency, stdev } => {
                latency.as_secs_f64() + stdev.as_secs_f64() * standard_normal(rng)
            }
            Delay::Pareto { base, shape } => {
                // U in (0, 1]: never zero, so the power stays finite.
                let u = 1.0 - rng.random::<f64>();
                base.as_secs_f64() * u.powf(-1.0 / shape)
            }
        };
        Duration::from_secs_f64(secs.clamp(0.0, MAX_DELAY.as_secs_f64()))
    }
}

/// A standard normal draw (Box–Muller).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn draws(d: Delay, n: usize) -> Vec<f64> {
        let mut rng = Pcg64Mcg::seed_from_u64(42);
        (0..n)
            .map(|_| d.sample(&mut rng).as_secs_f64() * 1e3)
            .collect()
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn uniform_jitter_stays_in_its_band_around_the_latency() {
        let v = draws(
            Delay::Uniform {
                latency: ms(100),
                jitter: ms(10),
            },
            100_000,
        );
        assert!(v.iter().all(|&x| (90.0..110.0).contains(&x)));
        assert!((mean(&v) - 100.0).abs() < 0.1, "{}", mean(&v));
    }

    #[test]
    fn normal_delays_have_the_asked_mean_and_spread() {
        let v = draws(
            Delay::Normal {
                latency: ms(200),
                stdev: ms(20),
            },
            100_000,
        );
        let m = mean(&v);
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((m - 200.0).abs() < 0.3, "mean {m}");
        assert!((sd - 20.0).abs() < 0.3, "stdev {sd}");
    }

    #[test]
    fn pareto_delays_never_beat_the_base_and_have_a_heavy_tail() {
        let d = Delay::Pareto {
            base: ms(50),
            shape: 3.0,
        };
        let mut v = draws(d, 200_000);
        assert!(v.iter().all(|&x| x >= 50.0 - 1e-9));
        // Mean 50 × 3/2 = 75 ms.
        assert!((mean(&v) - 75.0).abs() < 1.0, "{}", mean(&v));
        // P(X > 2 × base) = 2^-3 = 12.5%; P(X > 4 × base) = 1.5625%.
        v.sort_by(f64::total_cmp);
        let above = |t: f64| v.iter().filter(|&&x| x > t).count() as f64 / v.len() as f64;
        assert!((above(100.0) - 0.125).abs() < 0.003, "{}", above(100.0));
        assert!((above(200.0) - 0.015625).abs() < 0.001, "{}", above(200.0));
        assert_eq!(d.mean(), ms(75));
    }

    #[test]
    fn bad_parameters_are_refused() {
        let p = |shape| Delay::Pareto { base: ms(1), shape };
        assert_eq!(p(1.0).validate(), Err(DelayError::Shape(1.0)));
        assert!(p(f64::NAN).validate().is_err());
        assert!(p(1.5).validate().is_ok());
        let long = Delay::Uniform {
            latency: Duration::from_secs(61),
            jitter: ms(0),
        };
        assert_eq!(long.validate(), Err(DelayError::TooLong));
    }
}
