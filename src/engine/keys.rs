//! Step keys: a dense index for every (phase, step, region) of a run.
//!
//! Owns the mapping between a (phase, step, region) and the slot its
//! metrics live in, so recorders are flat vectors instead of maps on the
//! hot path. A scenario without regions has one implicit region. Must not
//! hold metrics itself.

use crate::scenario::Scenario;

/// Dense numbering of (phase, step, region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKeys {
    /// First key of each phase; the phase's steps follow contiguously, each
    /// with one key per region.
    offsets: Vec<usize>,
    /// (phase index, step index within the phase's flow, region), by key.
    triples: Vec<(usize, usize, usize)>,
    regions: usize,
}

impl StepKeys {
    pub fn new(scenario: &Scenario) -> Self {
        let regions = scenario.regions.len().max(1);
        let mut offsets = Vec::with_capacity(scenario.phases.len());
        let mut triples = Vec::new();
        for (pi, phase) in scenario.phases.iter().enumerate() {
            offsets.push(triples.len());
            let steps = scenario.flows.get(phase.flow).map_or(0, |f| f.steps.len());
            for si in 0..steps {
                triples.extend((0..regions).map(|r| (pi, si, r)));
            }
        }
        StepKeys {
            offsets,
            triples,
            regions,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.triples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.triples.is_empty()
    }

    /// Key of step `step` of phase `phase` in region `region`.
    pub fn key(&self, phase: usize, step: usize, region: usize) -> usize {
        self.offsets[phase] + step * self.regions + region.min(self.regions - 1)
    }

    /// The (phase, step, region) of a key.
    pub fn triple(&self, key: usize) -> (usize, usize, usize) {
        self.triples[key]
    }
}
