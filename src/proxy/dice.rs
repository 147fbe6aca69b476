//! Per-connection randomness: the seeded generators of a connection and the
//! toxicity decisions drawn from them.
//!
//! Owns how a seed is derived for each connection and lane (its two pipes
//! and the connection itself), and the rule that a toxic's toxicity is
//! decided once per connection and lane, again only when its toxicity
//! changes. It must not sleep, touch sockets or know what a toxic does.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::toxic::Toxic;

/// Which generator of a connection a draw comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The client → server pipe.
    Upstream,
    /// The server → client pipe.
    Downstream,
    /// Decisions about the whole connection (`reset`).
    Connection,
}

impl Lane {
    fn salt(self) -> u64 {
        // Upstream 1 and downstream 0 keep the seeds pipes had before the
        // connection lane existed, so recorded runs still repeat.
        match self {
            Lane::Downstream => 0,
            Lane::Upstream => 1,
            Lane::Connection => 2,
        }
    }
}

/// Derives the seed of one lane of connection `conn` of `proxy` from the
/// server seed (splitmix64 steps), so every connection has its own
/// reproducible streams.
pub fn seed(seed: u64, proxy: &str, conn: u64, lane: Lane) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    // FNV-1a: stable across builds, unlike the std hasher.
    let name = proxy.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    mix(mix(mix(seed ^ name) ^ conn) ^ lane.salt())
}

/// One lane's generator and the toxicity decisions drawn from it.
pub struct Dice {
    pub rng: Pcg64,
    /// Per toxic id: the toxicity the decision was drawn for, and whether
    /// the toxic applies.
    decided: HashMap<u64, (f32, bool)>,
}

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice {
            rng: Pcg64::seed_from_u64(seed),
            decided: HashMap::new(),
        }
    }

    /// Whether toxic `t` applies on this lane: drawn once, and again only
    /// if its toxicity changes.
    pub fn applies(&mut self, t: &Toxic) -> bool {
        if let Some(&(toxicity, yes)) = self.decided.get(&t.id) {
            if toxicity == t.toxicity {
                return yes;
            }
        }
        let yes = self.rng.random::<f32>() < t.toxicity;
        self.decided.insert(t.id, (t.toxicity, yes));
        yes
    }

    /// Forgets decisions about toxics that are gone, so a long-lived
    /// connection under churning toxics keeps bounded state.
    pub fn retain(&mut self, live: impl Fn(u64) -> bool) {
        self.decided.retain(|id, _| live(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_connection_lane_and_proxy() {
        let a = seed(7, "db", 1, Lane::Upstream);
        assert_eq!(a, seed(7, "db", 1, Lane::Upstream));
        assert_ne!(a, seed(7, "db", 2, Lane::Upstream));
        assert_ne!(a, seed(7, "db", 1, Lane::Downstream));
        assert_ne!(a, seed(7, "db", 1, Lane::Connection));
        assert_ne!(a, seed(7, "web", 1, Lane::Upstream));
        assert_ne!(a, seed(8, "db", 1, Lane::Upstream));
    }
}
