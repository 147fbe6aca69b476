//! Seeded faults the demo platform can switch on so that users can watch
//! flashcrowd's invariant checks catch them: oversell race, duplicate order
//! on retry, lost acknowledgement, and payment declines.
//!
//! Owns the fault settings and the deterministic dice that decide, per
//! checkout, whether a fault fires. It must not perform the faulty behaviour
//! itself; the checkout flow asks and acts.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::config::ConfigError;

/// Probabilities (0.0..=1.0) of each seeded fault. All zero by default: a
/// platform built with `Faults::default()` is correct.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// A checkout reserves stock with a racy read-then-write instead of an
    /// atomic compare-exchange, so concurrent checkouts can oversell.
    pub oversell_race: f64,
    /// A retry carrying a known `Idempotency-Key` places a second order
    /// instead of replaying the first.
    pub duplicate_on_retry: f64,
    /// A placed order's acknowledgement is replaced by a 500 error: the
    /// client is told it failed although the order exists.
    pub lost_ack: f64,
    /// The payment provider declines; the stock is given back and the client
    /// gets 402. Not a bug, a realistic failure a correct platform survives.
    pub payment_decline: f64,
}

impl Faults {
    /// Whether any fault can ever fire.
    pub fn any(&self) -> bool {
        self.oversell_race > 0.0
            || self.duplicate_on_retry > 0.0
            || self.lost_ack > 0.0
            || self.payment_decline > 0.0
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let all = [
            ("oversell_race", self.oversell_race),
            ("duplicate_on_retry", self.duplicate_on_retry),
            ("lost_ack", self.lost_ack),
            ("payment_decline", self.payment_decline),
        ];
        for (name, p) in all {
            if !(0.0..=1.0).contains(&p) {
                return Err(ConfigError::FaultOutOfRange(name));
            }
        }
        Ok(())
    }
}

/// Which fault a roll is for; each kind has its own decision sequence so
/// that enabling one fault does not reshuffle another's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    OversellRace = 0,
    DuplicateOnRetry = 1,
    LostAck = 2,
    PaymentDecline = 3,
}

/// Deterministic dice: the n-th roll for a kind depends only on the seed, the
/// kind and n, so a seeded run fires the same faults in the same order of
/// checkouts.
#[derive(Debug)]
pub(crate) struct FaultDice {
    faults: Faults,
    seed: u64,
    rolls: [AtomicU64; 4],
}

impl FaultDice {
    pub(crate) fn new(faults: Faults, seed: u64) -> Self {
        FaultDice {
            faults,
            seed,
            rolls: Default::default(),
        }
    }

    /// Rolls for `kind`; free (no counter, no RNG) when the fault is off, so a
    /// correct platform pays nothing for the feature.
    pub(crate) fn fires(&self, kind: FaultKind) -> bool {
        let p = match kind {
            FaultKind::OversellRace => self.faults.oversell_race,
            FaultKind::DuplicateOnRetry => self.faults.duplicate_on_retry,
            FaultKind::LostAck => self.faults.lost_ack,
            FaultKind::PaymentDecline => self.faults.payment_decline,
        };
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        let n = self.rolls[kind as usize].fetch_add(1, Ordering::Relaxed);
        // Distinct odd multipliers keep (kind, n) streams apart for any seed.
        let stream = self
            .seed
            .wrapping_add((kind as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut rng = Pcg64Mcg::seed_from_u64(stream);
        rng.random::<f64>() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_faults_never_fire() {
        let dice = FaultDice::new(Faults::default(), 7);
        assert!(!Faults::default().any());
        for _ in 0..100 {
            assert!(!dice.fires(FaultKind::OversellRace));
            assert!(!dice.fires(FaultKind::LostAck));
        }
    }

    #[test]
    fn same_seed_gives_same_decisions_and_rate_is_respected() {
        let faults = Faults {
            lost_ack: 0.3,
            ..Faults::default()
        };
        let a = FaultDice::new(faults, 42);
        let b = FaultDice::new(faults, 42);
        let seq_a: Vec<bool> = (0..1000).map(|_| a.fires(FaultKind::LostAck)).collect();
        let seq_b: Vec<bool> = (0..1000).map(|_| b.fires(FaultKind::LostAck)).collect();
        assert_eq!(seq_a, seq_b);
        let hits = seq_a.iter().filter(|&&x| x).count();
        assert!((200..400).contains(&hits), "hits {hits}");
    }

    #[test]
    fn out_of_range_probability_is_rejected() {
        let faults = Faults {
            payment_decline: 1.5,
            ..Faults::default()
        };
        assert_eq!(
            faults.validate(),
            Err(ConfigError::FaultOutOfRange("payment_decline"))
        );
    }
}
