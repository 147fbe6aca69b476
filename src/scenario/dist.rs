//! Time distributions: think times between steps and sessions' dwell times.
//!
//! Owns the distribution type, drawing from it with a caller's seeded
//! generator, and its mean (for Little's law in `plan`). Must not parse text
//! or read clocks.

use std::time::Duration;

use rand::Rng;

/// A distribution of durations.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Always this long.
    Fixed(Duration),
    /// Evenly between `min` and `max` (inclusive).
    Uniform { min: Duration, max: Duration },
    /// Exponential with this mean: memoryless waiting, e.g. "leaves at any
    /// moment with the same chance".
    Exponential { mean: Duration },
    /// Pick one component by weight, then draw from it: e.g. 60% of viewers
    /// leave within 3 minutes, 40% stay about 15 minutes. Weights sum to 1.
    Mixture(Vec<(f64, Dist)>),
}

impl Dist {
    /// Draw one duration.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match self {
            Dist::Fixed(d) => *d,
            Dist::Uniform { min, max } => {
                if max <= min {
                    *min
                } else {
                    let span = (*max - *min).as_secs_f64();
                    *min + Duration::from_secs_f64(rng.random::<f64>() * span)
                }
            }
            Dist::Exponential { mean } => {
                // 1 − U lies in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                Duration::from_secs_f64(-(1.0 - u).ln() * mean.as_secs_f64())
            }
            Dist::Mixture(parts) => {
                let mut x: f64 = rng.random();
                for (w, d) in parts {
                    if x < *w {
                        return d.sample(rng);
                    }
                    x -= w;
                }
                parts.last().map_or(Duration::ZERO, |(_, d)| d.sample(rng))
            }
        }
    }

    /// The mean duration.
    pub fn mean(&self) -> Duration {
        match self {
            Dist::Fixed(d) => *d,
            Dist::Uniform { min, max } => (*min + *max) / 2,
            Dist::Exponential { mean } => *mean,
            Dist::Mixture(parts) => {
                Duration::from_secs_f64(parts.iter().map(|(w, d)| w * d.mean().as_secs_f64()).sum())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mean_of(d: &Dist, n: u32) -> f64 {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        (0..n)
            .map(|_| d.sample(&mut rng).as_secs_f64())
            .sum::<f64>()
            / f64::from(n)
    }

    #[test]
    fn samples_average_to_the_stated_mean() {
        let s = Duration::from_secs;
        let dists = [
            Dist::Fixed(s(3)),
            Dist::Uniform {
                min: s(1),
                max: s(3),
            },
            Dist::Exponential { mean: s(90) },
            Dist::Mixture(vec![
                (0.6, Dist::Exponential { mean: s(90) }),
                (0.4, Dist::Exponential { mean: s(900) }),
            ]),
        ];
        for d in dists {
            let m = d.mean().as_secs_f64();
            let got = mean_of(&d, 200_000);
            assert!((got - m).abs() <= m * 0.02, "{d:?}: {got} vs {m}");
        }
        // 0.6·90 + 0.4·900 = 414 s: the mean dwell of the workload reference.
        let mix = Dist::Mixture(vec![
            (0.6, Dist::Exponential { mean: s(90) }),
            (0.4, Dist::Exponential { mean: s(900) }),
        ]);
        assert_eq!(mix.mean(), s(414));
    }
}
