//! Packet-loss processes: which segments of a stream are lost. Independent
//! (Bernoulli) loss, or Gilbert–Elliott bursts — a two-state Markov chain
//! that alternates between a good state and a bad one, as congested or
//! policed paths (cross-border links at peak hours) do.
//!
//! Owns the chains and their parameters. Must not decide what a loss costs
//! (`tcp` does).

use rand::Rng;

/// A loss model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Every segment lost with probability `p`, independently.
    Bernoulli { p: f64 },
    /// Gilbert–Elliott: from the good state, go bad with probability
    /// `to_bad` per segment; from the bad state, recover with `to_good`. A
    /// segment is lost with `loss_good` in the good state and `loss_bad` in
    /// the bad one.
    GilbertElliott {
        to_bad: f64,
        to_good: f64,
        loss_good: f64,
        loss_bad: f64,
    },
}

/// Why a loss model cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossError {
    #[error("`{0}` must be a probability between 0 and 1")]
    Probability(&'static str),
    #[error("a mean loss must be below 1 and a mean burst at least one segment")]
    Burst,
}

impl Loss {
    /// Gilbert's simple model from what is usually published: the long-run
    /// loss rate and the mean length of a burst (in segments). Every segment
    /// in the bad state is lost, none in the good state.
    pub fn bursts(mean_loss: f64, mean_burst: f64) -> Result<Self, LossError> {
        if !(0.0..1.0).contains(&mean_loss) || mean_burst.is_nan() || mean_burst < 1.0 {
            return Err(LossError::Burst);
        }
        let to_good = 1.0 / mean_burst;
        // Stationary share of the bad state: to_bad / (to_bad + to_good).
        let to_bad = mean_loss * to_good / (1.0 - mean_loss);
        let m = Loss::GilbertElliott {
            to_bad,
            to_good,
            loss_good: 0.0,
            loss_bad: 1.0,
        };
        m.validate()?;
        Ok(m)
    }

    pub fn validate(&self) -> Result<(), LossError> {
        let check = |name, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(LossError::Probability(name))
            }
        };
        match *self {
            Loss::Bernoulli { p } => check("p", p),
            Loss::GilbertElliott {
                to_bad,
                to_good,
                loss_good,
                loss_bad,
            } => {
                check("to_bad", to_bad)?;
                check("to_good", to_good)?;
                check("loss_good", loss_good)?;
                check("loss_bad", loss_bad)
            }
        }
    }

    /// Long-run share of segments lost.
    pub fn mean(&self) -> f64 {
        match *self {
            Loss::Bernoulli { p } => p,
            Loss::GilbertElliott {
                to_bad,
                to_good,
                loss_good,
                loss_bad,
            } => {
                let total = to_bad + to_good;
                if total == 0.0 {
                    return loss_good;
                }
                let bad = to_bad / total;
                bad * loss_bad + (1.0 - bad) * loss_good
            }
        }
    }
}

/// A loss model with its state: one per connection and direction.
#[derive(Debug, Clone)]
pub struct LossProcess {
    model: Loss,
    bad: bool,
}

impl LossProcess {
    /// Starts in the good state.
    pub fn new(model: Loss) -> Self {
        LossProcess { model, bad: false }
    }

    /// The model this process follows.
    pub fn model(&self) -> Loss {
        self.model
    }

    /// Whether the next segment is lost.
    pub fn lost<R: Rng + ?Sized>(&mut self, rng: &mut R) -> bool {
        match self.model {
            Loss::Bernoulli { p } => p > 0.0 && rng.random::<f64>() < p,
            Loss::GilbertElliott {
                to_bad,
                to_good,
                loss_good,
                loss_bad,
            } => {
                let flip = if self.bad { to_good } else { to_bad };
                if rng.random::<f64>() < flip {
                    self.bad = !self.bad;
                }
                let p = if self.bad { loss_bad } else { loss_good };
                p > 0.0 && rng.random::<f64>() < p
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    /// (segments lost, number of bursts) over `n` segments.
    fn run(model: Loss, n: usize) -> (usize, usize) {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let mut p = LossProcess::new(model);
        let (mut lost, mut bursts, mut prev) = (0, 0, false);
        for _ in 0..n {
            let l = p.lost(&mut rng);
            lost += usize::from(l);
            bursts += usize::from(l && !prev);
            prev = l;
        }
        (lost, bursts)
    }

    #[test]
    fn bernoulli_loss_falls_within_the_binomial_band() {
        let n = 200_000;
        let (lost, _) = run(Loss::Bernoulli { p: 0.05 }, n);
        let sd = (n as f64 * 0.05 * 0.95).sqrt();
        assert!((lost as f64 - 10_000.0).abs() < 4.0 * sd, "{lost}");
    }

    #[test]
    fn gilbert_elliott_bursts_have_the_asked_rate_and_length() {
        // ~15% loss in bursts of 4 segments on average (a policed
        // cross-border link at peak).
        let m = Loss::bursts(0.15, 4.0).unwrap();
        assert!((m.mean() - 0.15).abs() < 1e-12);
        let n = 400_000;
        let (lost, bursts) = run(m, n);
        let rate = lost as f64 / n as f64;
        let burst_len = lost as f64 / bursts as f64;
        assert!((rate - 0.15).abs() < 0.01, "rate {rate}");
        assert!((burst_len - 4.0).abs() < 0.2, "burst {burst_len}");
        // Far burstier than independent loss at the same rate, whose mean
        // run is 1 / (1 - p) ≈ 1.18 segments.
        let (blost, bbursts) = run(Loss::Bernoulli { p: 0.15 }, n);
        assert!((blost as f64 / bbursts as f64) < 1.3);
    }

    #[test]
    fn no_loss_means_no_loss_and_bad_parameters_are_refused() {
        assert_eq!(run(Loss::Bernoulli { p: 0.0 }, 10_000).0, 0);
        assert_eq!(run(Loss::bursts(0.0, 3.0).unwrap(), 10_000).0, 0);
        assert_eq!(Loss::bursts(1.0, 3.0), Err(LossError::Burst));
        assert_eq!(Loss::bursts(0.1, 0.5), Err(LossError::Burst));
        assert_eq!(
            Loss::Bernoulli { p: 1.5 }.validate(),
            Err(LossError::Probability("p"))
        );
    }
}
