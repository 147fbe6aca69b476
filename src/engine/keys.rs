//! Step keys: a dense index for every (phase, step) pair of a run.
//!
//! Owns the mapping between a (phase, step) pair and the slot its metrics
//! live in, so recorders are flat vectors instead of maps on the hot path.
//! Must not hold metrics itself.

use crate::scenario::Scenario;

/// Dense numbering of (phase, step) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKeys {
    /// First key of each phase; the phase's steps follow contiguously.
    offsets: Vec<usize>,
    /// (phase index, step index within the phase's flow), by key.
    pairs: Vec<(usize, usize)>,
}

impl StepKeys {
    pub fn new(scenario: &Scenario) -> Self {
        let mut offsets = Vec::with_capacity(scenario.phases.len());
        let mut pairs = Vec::new();
        for (pi, phase) in scenario.phases.iter().enumerate() {
            offsets.push(pairs.len());
            let steps = scenario.flows.get(phase.flow).map_or(0, |f| f.steps.len());
            pairs.extend((0..steps).map(|si| (pi, si)));
        }
        StepKeys { offsets, pairs }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Key of step `step` of phase `phase`.
    pub fn key(&self, phase: usize, step: usize) -> usize {
        self.offsets[phase] + step
    }

    /// The (phase, step) pair of a key.
    pub fn pair(&self, key: usize) -> (usize, usize) {
        self.pairs[key]
    }
}
