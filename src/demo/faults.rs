//! Seeded faults the demo platform can switch on so that users can watch
//! flashcrowd's invariant checks catch them.
//!
//! Each fault is built to break exactly one business invariant and leave
//! the others holding, even under concurrency:
//!
//! | Fault | Breaks | What `/api/inventory/{sku}` shows |
//! |---|---|---|
//! | `oversell-race` | `no_oversell` (and the stock's arithmetic) | `sold` > `initial`; `initial − remaining` < `sold` |
//! | `duplicate-on-retry` | `idempotent` | consistent; the duplicate is sold |
//! | `lose-ack` | `no_lost_ack` | consistent; the lost order is sold |
//! | `tracking-regress` | `monotonic_tracking` | unaffected |
//! | `error-after-commit` | nothing (creates unknown outcomes) | consistent |
//! | `payment-decline` | nothing (a realistic failure) | consistent |
//!
//! `oversell-race` is a lost update on the stock (read, wait, write back
//! what was read minus the order): overlapping checkouts each sell a unit
//! while the stock drops once, so the platform's own `initial − remaining
//! = sold` cannot hold either, and `accounting` fails with `no_oversell`
//! as a consequence of the same bug, not as a second one.
//!
//! Owns the fault names, their parsing from `NAME[=P]`, the settings and
//! the deterministic dice that decide, per checkout or per read, whether a
//! fault fires. It must not perform the faulty behaviour itself; checkout
//! and tracking ask and act.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::config::ConfigError;

/// One seeded fault. The discriminant picks the fault's own decision
/// stream in [`FaultDice`]; new faults take new numbers so that existing
/// seeds keep firing the same decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultName {
    /// A checkout checks the stock, then takes it without checking again,
    /// so checkouts racing for the last units can all win.
    OversellRace = 0,
    /// A retry carrying an `Idempotency-Key` whose first attempt succeeded
    /// places a second order under the same key instead of replaying.
    DuplicateOnRetry = 1,
    /// The order is placed and recorded under its key, but the client gets
    /// a 500: an unknown outcome, which breaks no invariant by itself.
    ErrorAfterCommit = 2,
    /// The payment provider declines; the stock is given back and the
    /// client gets 402. Not a bug, a failure a correct platform survives.
    PaymentDecline = 3,
    /// The client gets a 201 with an order id and the stock counts as sold,
    /// but the order record is never stored: the id is missing from every
    /// listing and `GET /api/orders/{id}` answers 404.
    LoseAck = 4,
    /// A read of an order's tracking (and of the order) reports an earlier
    /// status than the order has already reached.
    TrackingRegress = 5,
}

/// Number of [`FaultName`]s, the size of the dice's counters.
const KINDS: usize = 6;

impl FaultName {
    /// Every fault, in the order the command line lists them.
    pub const ALL: [FaultName; KINDS] = [
        FaultName::OversellRace,
        FaultName::DuplicateOnRetry,
        FaultName::LoseAck,
        FaultName::TrackingRegress,
        FaultName::ErrorAfterCommit,
        FaultName::PaymentDecline,
    ];

    /// The spelling used by flags (`--fault oversell-race`).
    pub fn name(self) -> &'static str {
        match self {
            FaultName::OversellRace => "oversell-race",
            FaultName::DuplicateOnRetry => "duplicate-on-retry",
            FaultName::LoseAck => "lose-ack",
            FaultName::TrackingRegress => "tracking-regress",
            FaultName::ErrorAfterCommit => "error-after-commit",
            FaultName::PaymentDecline => "payment-decline",
        }
    }

    /// Reads [`FaultName::name`]'s spelling back; underscores are accepted
    /// for dashes so the field names of [`Faults`] work too.
    pub fn parse(s: &str) -> Option<FaultName> {
        let wanted = s.trim().replace('_', "-");
        FaultName::ALL.into_iter().find(|f| f.name() == wanted)
    }

    /// Probability used when a flag names the fault without one: the value
    /// that makes the fault show up in a run of a minute or so without
    /// drowning everything else.
    ///
    /// - `oversell-race` 1.0: it can only bite while checkouts race for the
    ///   last units, so every checkout takes the racy path; before the
    ///   sell-out it sells exactly what a correct platform would, each
    ///   checkout 1 ms slower.
    /// - `duplicate-on-retry` 1.0: it can only bite on a retry of a key that
    ///   already succeeded, which is rare (after a timeout or an
    ///   `error-after-commit`), so every such retry duplicates.
    /// - `lose-ack` 0.02: it bites on any successful checkout; one order in
    ///   fifty vanishing is plain in a short run while most orders work.
    /// - `tracking-regress` 0.05: it bites per read of an order past
    ///   `placed`; a client polling each order a few dozen times sees it.
    /// - `error-after-commit` 0.05: enough unknown outcomes to exercise
    ///   retries and the checks' handling of them.
    /// - `payment-decline` 0.1: a plausible decline rate for a busy drop.
    pub fn default_probability(self) -> f64 {
        match self {
            FaultName::OversellRace | FaultName::DuplicateOnRetry => 1.0,
            FaultName::LoseAck => 0.02,
            FaultName::TrackingRegress | FaultName::ErrorAfterCommit => 0.05,
            FaultName::PaymentDecline => 0.1,
        }
    }
}

impl fmt::Display for FaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every fault name, comma-separated, for error messages and help.
pub fn fault_names() -> String {
    FaultName::ALL.map(FaultName::name).join(", ")
}

/// A `NAME[=P]` fault spec that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    /// The name is not one of [`FaultName::ALL`].
    #[error("unknown fault `{0}`; valid faults: {names}", names = fault_names())]
    UnknownFault(String),
    /// The probability is not a number in 0..=1.
    #[error("fault `{fault}`: `{value}` is not a probability between 0 and 1")]
    BadProbability {
        /// The fault it was given for.
        fault: FaultName,
        /// The text after `=`.
        value: String,
    },
}

/// Parses `NAME` or `NAME=P` (e.g. `lose-ack=0.05`). Without `=P` the
/// fault's [`FaultName::default_probability`] applies.
pub fn parse_fault(spec: &str) -> Result<(FaultName, f64), FaultSpecError> {
    let (name, p) = match spec.split_once('=') {
        Some((name, p)) => (name, Some(p.trim())),
        None => (spec, None),
    };
    let fault =
        FaultName::parse(name).ok_or_else(|| FaultSpecError::UnknownFault(name.trim().into()))?;
    let Some(text) = p else {
        return Ok((fault, fault.default_probability()));
    };
    match text.parse::<f64>() {
        // `contains` is false for NaN, so it is refused here too.
        Ok(p) if (0.0..=1.0).contains(&p) => Ok((fault, p)),
        _ => Err(FaultSpecError::BadProbability {
            fault,
            value: text.to_owned(),
        }),
    }
}

/// Probabilities (0.0..=1.0) of each seeded fault. All zero by default: a
/// platform built with `Faults::default()` is correct.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// See [`FaultName::OversellRace`].
    pub oversell_race: f64,
    /// See [`FaultName::DuplicateOnRetry`].
    pub duplicate_on_retry: f64,
    /// See [`FaultName::LoseAck`].
    pub lose_ack: f64,
    /// See [`FaultName::TrackingRegress`].
    pub tracking_regress: f64,
    /// See [`FaultName::ErrorAfterCommit`].
    pub error_after_commit: f64,
    /// See [`FaultName::PaymentDecline`].
    pub payment_decline: f64,
}

/// Faults from `NAME=P` settings in order; a later one for the same name
/// wins.
impl FromIterator<(FaultName, f64)> for Faults {
    fn from_iter<I: IntoIterator<Item = (FaultName, f64)>>(settings: I) -> Self {
        let mut faults = Faults::default();
        for (fault, p) in settings {
            faults.set(fault, p);
        }
        faults
    }
}

impl Faults {
    /// Whether any fault can ever fire.
    pub fn any(&self) -> bool {
        FaultName::ALL.into_iter().any(|f| self.get(f) > 0.0)
    }

    /// The probability of `fault`.
    pub fn get(&self, fault: FaultName) -> f64 {
        match fault {
            FaultName::OversellRace => self.oversell_race,
            FaultName::DuplicateOnRetry => self.duplicate_on_retry,
            FaultName::LoseAck => self.lose_ack,
            FaultName::TrackingRegress => self.tracking_regress,
            FaultName::ErrorAfterCommit => self.error_after_commit,
            FaultName::PaymentDecline => self.payment_decline,
        }
    }

    /// Sets the probability of `fault`. Not checked here (a caller may set
    /// several before looking); [`crate::demo::DemoConfig::validate`]
    /// refuses anything outside 0..=1.
    pub fn set(&mut self, fault: FaultName, p: f64) {
        let field = match fault {
            FaultName::OversellRace => &mut self.oversell_race,
            FaultName::DuplicateOnRetry => &mut self.duplicate_on_retry,
            FaultName::LoseAck => &mut self.lose_ack,
            FaultName::TrackingRegress => &mut self.tracking_regress,
            FaultName::ErrorAfterCommit => &mut self.error_after_commit,
            FaultName::PaymentDecline => &mut self.payment_decline,
        };
        *field = p;
    }

    /// The faults that can fire, with their probabilities, in
    /// [`FaultName::ALL`] order.
    pub fn active(&self) -> Vec<(FaultName, f64)> {
        FaultName::ALL
            .into_iter()
            .map(|f| (f, self.get(f)))
            .filter(|&(_, p)| p > 0.0)
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for fault in FaultName::ALL {
            if !(0.0..=1.0).contains(&self.get(fault)) {
                return Err(ConfigError::FaultOutOfRange(fault));
            }
        }
        Ok(())
    }
}

/// `oversell-race=1, lose-ack=0.02`, or `none`: what a warning names.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let active = self.active();
        if active.is_empty() {
            return f.write_str("none");
        }
        for (i, (fault, p)) in active.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{fault}={p}")?;
        }
        Ok(())
    }
}

/// Deterministic dice: the n-th roll for a fault depends only on the seed,
/// the fault and n, so a seeded run fires the same faults in the same order
/// of checkouts (or reads), and switching one fault on does not reshuffle
/// another's decisions.
#[derive(Debug)]
pub(crate) struct FaultDice {
    faults: Faults,
    seed: u64,
    rolls: [AtomicU64; KINDS],
}

impl FaultDice {
    pub(crate) fn new(faults: Faults, seed: u64) -> Self {
        FaultDice {
            faults,
            seed,
            rolls: Default::default(),
        }
    }

    /// The generator of the next roll for `fault`.
    fn next_roll(&self, fault: FaultName) -> Pcg64Mcg {
        let n = self.rolls[fault as usize].fetch_add(1, Ordering::Relaxed);
        // Distinct odd multipliers keep (fault, n) streams apart for any seed.
        let stream = self
            .seed
            .wrapping_add((fault as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Pcg64Mcg::seed_from_u64(stream)
    }

    /// Rolls for `fault`; free (no counter, no RNG) when the fault is off, so
    /// a correct platform pays nothing for the feature.
    pub(crate) fn fires(&self, fault: FaultName) -> bool {
        let p = self.faults.get(fault);
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.next_roll(fault).random::<f64>() < p
    }

    /// How many steps back this read of an order's tracking goes, for an
    /// order that has reached `reached` steps past `placed`: 0 unless the
    /// tracking-regress fault fires, then 1..=`reached`, so a read never
    /// reports less than `placed`. Orders still at `placed` cannot regress
    /// and cost no roll; with the fault off this is one comparison.
    pub(crate) fn regress_steps(&self, reached: usize) -> usize {
        let p = self.faults.tracking_regress;
        if p <= 0.0 || reached == 0 {
            return 0;
        }
        let mut rng = self.next_roll(FaultName::TrackingRegress);
        // `random` is below 1, so a probability of 1 always fires.
        if rng.random::<f64>() >= p {
            return 0;
        }
        rng.random_range(1..=reached)
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
            for fault in FaultName::ALL {
                assert!(!dice.fires(fault));
            }
            assert_eq!(dice.regress_steps(5), 0);
        }
    }

    #[test]
    fn same_seed_gives_same_decisions_and_rate_is_respected() {
        for fault in FaultName::ALL {
            let mut faults = Faults::default();
            faults.set(fault, 0.3);
            let a = FaultDice::new(faults, 42);
            let b = FaultDice::new(faults, 42);
            let seq_a: Vec<bool> = (0..1000).map(|_| a.fires(fault)).collect();
            let seq_b: Vec<bool> = (0..1000).map(|_| b.fires(fault)).collect();
            assert_eq!(seq_a, seq_b, "{fault}");
            let hits = seq_a.iter().filter(|&&x| x).count();
            assert!((200..400).contains(&hits), "{fault}: hits {hits}");
        }
    }

    #[test]
    fn another_seed_gives_other_decisions() {
        let faults = Faults {
            lose_ack: 0.5,
            ..Faults::default()
        };
        let a = FaultDice::new(faults, 1);
        let b = FaultDice::new(faults, 2);
        let seq_a: Vec<bool> = (0..200).map(|_| a.fires(FaultName::LoseAck)).collect();
        let seq_b: Vec<bool> = (0..200).map(|_| b.fires(FaultName::LoseAck)).collect();
        assert_ne!(seq_a, seq_b);
    }

    #[test]
    fn switching_a_fault_on_does_not_reshuffle_another() {
        let alone = Faults {
            lose_ack: 0.3,
            ..Faults::default()
        };
        let with_other = Faults {
            tracking_regress: 0.5,
            ..alone
        };
        let a = FaultDice::new(alone, 9);
        let b = FaultDice::new(with_other, 9);
        let seq_a: Vec<bool> = (0..500).map(|_| a.fires(FaultName::LoseAck)).collect();
        let seq_b: Vec<bool> = (0..500)
            .map(|_| {
                let _ = b.regress_steps(3);
                b.fires(FaultName::LoseAck)
            })
            .collect();
        assert_eq!(seq_a, seq_b);
    }

    #[test]
    fn tracking_regress_goes_back_at_least_one_step_and_never_below_placed() {
        let faults = Faults {
            tracking_regress: 0.25,
            ..Faults::default()
        };
        let a = FaultDice::new(faults, 3);
        let b = FaultDice::new(faults, 3);
        let back: Vec<usize> = (0..2000).map(|_| a.regress_steps(4)).collect();
        let again: Vec<usize> = (0..2000).map(|_| b.regress_steps(4)).collect();
        assert_eq!(back, again, "same seed, same regressions");
        assert!(back.iter().all(|&s| s <= 4), "never below placed");
        let regressed = back.iter().filter(|&&s| s > 0).count();
        assert!((400..600).contains(&regressed), "regressed {regressed}");
        for depth in 1..=4 {
            assert!(back.contains(&depth), "never went back {depth} steps");
        }
        assert_eq!(a.regress_steps(0), 0, "an order at placed cannot regress");
        let always = FaultDice::new(
            Faults {
                tracking_regress: 1.0,
                ..Faults::default()
            },
            0,
        );
        assert!((0..100).all(|_| always.regress_steps(1) == 1));
    }

    #[test]
    fn fault_specs_parse_with_and_without_probability() {
        assert_eq!(
            parse_fault("oversell-race"),
            Ok((FaultName::OversellRace, 1.0))
        );
        assert_eq!(parse_fault("lose-ack=0.5"), Ok((FaultName::LoseAck, 0.5)));
        assert_eq!(
            parse_fault(" tracking_regress = 0 "),
            Ok((FaultName::TrackingRegress, 0.0))
        );
        assert_eq!(
            parse_fault("error-after-commit=1"),
            Ok((FaultName::ErrorAfterCommit, 1.0))
        );
        for fault in FaultName::ALL {
            assert_eq!(FaultName::parse(fault.name()), Some(fault));
            let p = fault.default_probability();
            assert!(p > 0.0 && p <= 1.0, "{fault}");
            assert_eq!(parse_fault(fault.name()), Ok((fault, p)));
        }
    }

    #[test]
    fn bad_fault_specs_are_refused_with_the_valid_names() {
        let err = parse_fault("lost-ack").unwrap_err();
        assert_eq!(err, FaultSpecError::UnknownFault("lost-ack".into()));
        let shown = err.to_string();
        for fault in FaultName::ALL {
            assert!(shown.contains(fault.name()), "{shown}");
        }
        assert!(parse_fault("").is_err());
        for bad in ["1.5", "-0.1", "NaN", "inf", "", "half"] {
            assert_eq!(
                parse_fault(&format!("lose-ack={bad}")),
                Err(FaultSpecError::BadProbability {
                    fault: FaultName::LoseAck,
                    value: bad.into()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn set_get_and_display_name_the_active_faults() {
        let mut faults = Faults::default();
        assert_eq!(faults.to_string(), "none");
        faults.set(FaultName::OversellRace, 1.0);
        faults.set(FaultName::LoseAck, 0.02);
        assert_eq!(faults.get(FaultName::LoseAck), 0.02);
        assert_eq!(faults.lose_ack, 0.02);
        assert_eq!(faults.to_string(), "oversell-race=1, lose-ack=0.02");
        assert!(faults.any());
    }

    #[test]
    fn out_of_range_probability_is_rejected() {
        let faults = Faults {
            payment_decline: 1.5,
            ..Faults::default()
        };
        assert_eq!(
            faults.validate(),
            Err(ConfigError::FaultOutOfRange(FaultName::PaymentDecline))
        );
        let nan = Faults {
            tracking_regress: f64::NAN,
            ..Faults::default()
        };
        assert!(nan.validate().is_err());
    }
}
