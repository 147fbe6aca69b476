//! Requests split by how they ended: the status class of the answer (or
//! none), and for an error, its kind. Kept per second and step key next to
//! the second's histogram, so live exports can count requests and errors
//! by status class without a second pass over anything.
//!
//! Owns the fixed slot layout and its labels. Must not know where the
//! counts go.

use serde::{Deserialize, Serialize};

use super::Outcome;

/// Slots: 5 status classes × (accepted, unexpected status, failed check),
/// then the five ways a request ends without an answer.
pub const SLOTS: usize = 20;

/// Status-class labels of slots 0..15 (by slot % 5) and of the rest.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Counts by slot. Copy-sized (160 bytes): one per (second, key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split(pub [u64; SLOTS]);

impl Split {
    /// The slot an outcome is counted in; `None` for a request that was
    /// never sent (an unresolved variable).
    pub fn slot(o: Outcome) -> Option<usize> {
        let class = |status: u16| usize::from((status / 100).clamp(1, 5) - 1);
        Some(match o {
            Outcome::Ok { status } => class(status),
            Outcome::BadStatus { status } => 5 + class(status),
            Outcome::CheckFailed { status } => 10 + class(status),
            Outcome::Timeout => 15,
            Outcome::Connect => 16,
            Outcome::Io => 17,
            Outcome::Aborted => 18,
            Outcome::Invalid => 19,
            Outcome::Unresolved => return None,
        })
    }

    pub fn count(&mut self, o: Outcome) {
        if let Some(s) = Self::slot(o) {
            self.0[s] += 1;
        }
    }

    pub fn add(&mut self, other: &Split) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// The status class of a slot's requests (`2xx`, or `none` without an
    /// answer) and, for errors, what went wrong (`status`, `check`,
    /// `timeout`, `connect`, `io`, `aborted`, `invalid`).
    pub fn label(slot: usize) -> (&'static str, Option<&'static str>) {
        match slot {
            0..=4 => (CLASSES[slot], None),
            5..=9 => (CLASSES[slot - 5], Some("status")),
            10..=14 => (CLASSES[slot - 10], Some("check")),
            15 => ("none", Some("timeout")),
            16 => ("none", Some("connect")),
            17 => ("none", Some("io")),
            18 => ("none", Some("aborted")),
            _ => ("none", Some("invalid")),
        }
    }

    /// Slots with requests: (slot, count).
    pub fn nonzero(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.0.iter().copied().enumerate().filter(|&(_, n)| n > 0)
    }
}

/// On the wire (worker → coordinator): only the slots with requests, as
/// `[slot, count]` pairs.
impl Serialize for Split {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.nonzero().map(|(i, n)| (i as u8, n)))
    }
}

impl<'de> Deserialize<'de> for Split {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs: Vec<(u8, u64)> = Vec::deserialize(d)?;
        let mut out = Split::default();
        for (i, n) in pairs {
            // A slot this build does not know is dropped, not fatal.
            if let Some(slot) = out.0.get_mut(usize::from(i)) {
                *slot += n;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_slot_and_label() {
        let cases = [
            (Outcome::Ok { status: 201 }, ("2xx", None)),
            (Outcome::Ok { status: 404 }, ("4xx", None)),
            (Outcome::BadStatus { status: 503 }, ("5xx", Some("status"))),
            (Outcome::CheckFailed { status: 200 }, ("2xx", Some("check"))),
            (Outcome::Timeout, ("none", Some("timeout"))),
            (Outcome::Connect, ("none", Some("connect"))),
            (Outcome::Io, ("none", Some("io"))),
            (Outcome::Aborted, ("none", Some("aborted"))),
            (Outcome::Invalid, ("none", Some("invalid"))),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (o, label) in cases {
            let slot = Split::slot(o).unwrap();
            assert_eq!(Split::label(slot), label, "{o:?}");
            assert_eq!(o.is_ok(), label.1.is_none(), "{o:?}");
            seen.insert(slot);
        }
        assert_eq!(seen.len(), cases.len());
        assert_eq!(Split::slot(Outcome::Unresolved), None);
    }

    #[test]
    fn the_wire_form_keeps_only_used_slots_and_round_trips() {
        let mut s = Split::default();
        s.count(Outcome::Ok { status: 200 });
        s.count(Outcome::Ok { status: 200 });
        s.count(Outcome::Timeout);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, "[[1,2],[15,1]]");
        assert_eq!(serde_json::from_str::<Split>(&text).unwrap(), s);
    }
}
