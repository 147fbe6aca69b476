//! Business invariants judged from what clients saw, the way Jepsen judges
//! databases: an operation history (every attempt of every ledger
//! operation, with its outcome `ok`, `fail` or `unknown`) and the
//! platform's final state read after the load, checked for oversell,
//! broken accounting, duplicates, lost acknowledgements, tracking that goes
//! backwards and comments delivered other than once.
//!
//! An `unknown` outcome (a timeout, a reset, a 5xx after the request left)
//! may or may not have taken effect: it widens what the final state may
//! show, and is never counted as lost or as a duplicate by itself.
//!
//! Owns the history model, its JSON-lines export and the checkers. Must not
//! send requests or read clocks: histories and states come in, verdicts go
//! out.

mod check;
mod record;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use check::{
    accounting, exactly_once_comments, idempotent, monotonic_tracking, no_lost_ack, no_oversell,
};
pub use record::{from_jsonl, to_elle, to_jsonl, Log, Poll, Posted};

/// Most example keys a verdict lists.
pub const MAX_EXAMPLES: usize = 20;

/// How one attempt ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    /// Acknowledged, with the platform's order id.
    Ok { order_id: String },
    /// Definitely rejected (e.g. 409 sold out): it did not happen.
    Fail,
    /// It may or may not have happened.
    Unknown,
}

/// One attempt of a ledger operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The logical operation: its idempotency key.
    pub key: String,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
    /// What it acted on (the SKU of a checkout).
    pub sku: String,
    /// The session that made it (a Jepsen "process" of its own).
    #[serde(default)]
    pub session: u64,
    /// When it was sent, µs from the start of the run.
    #[serde(default)]
    pub started_us: u64,
    /// When it ended, µs from the start of the run.
    pub at_us: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The platform's state read after the load settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalState {
    /// Stock per SKU before the run.
    pub initial: BTreeMap<String, u64>,
    /// Stock per SKU now.
    pub remaining: BTreeMap<String, u64>,
    /// Units sold per SKU, as the platform counts them.
    pub sold: BTreeMap<String, u64>,
    /// Every order the platform holds for the SKUs checked.
    pub orders: Vec<Order>,
}

/// One order in the final read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    /// Its idempotency key, when the platform keeps it.
    pub key: Option<String>,
    pub sku: String,
}

/// What an invariant's `checked` counts, for people reading a report.
pub fn counted(name: &str) -> &'static str {
    match name {
        "no_oversell" | "accounting" => "SKUs",
        "idempotent" => "keys",
        "no_lost_ack" => "acknowledged orders",
        "monotonic_tracking" => "polled orders",
        "exactly_once_comments" => "acknowledged comments",
        _ => "items",
    }
}

/// How one invariant came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub name: String,
    pub holds: bool,
    /// Items looked at (SKUs, keys, orders, comments, ...).
    pub checked: u64,
    /// Items that break it.
    pub violations: u64,
    /// Up to [`MAX_EXAMPLES`] of them, each with what was wrong.
    pub examples: Vec<String>,
}

impl Verdict {
    fn new(name: &str) -> Self {
        Verdict {
            name: name.to_owned(),
            holds: true,
            checked: 0,
            violations: 0,
            examples: Vec::new(),
        }
    }

    fn violation(&mut self, example: String) {
        self.holds = false;
        self.violations += 1;
        self.example(example);
    }

    /// One more example of what breaks it, while there is room.
    fn example(&mut self, example: String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(example);
        }
    }
}

/// What the history says of each logical operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFate {
    pub sku: String,
    /// Order ids of its acknowledged attempts.
    pub acked: Vec<String>,
    pub failed: u32,
    pub unknown: u32,
}

impl KeyFate {
    /// Acknowledged at least once.
    pub fn is_acked(&self) -> bool {
        !self.acked.is_empty()
    }

    /// Never acknowledged, and some attempt may have taken effect.
    pub fn is_unknown(&self) -> bool {
        self.acked.is_empty() && self.unknown > 0
    }
}

/// Attempts grouped by key.
pub fn fates(history: &[Attempt]) -> BTreeMap<&str, KeyFate> {
    let mut out: BTreeMap<&str, KeyFate> = BTreeMap::new();
    for a in history {
        let f = out.entry(a.key.as_str()).or_insert_with(|| KeyFate {
            sku: a.sku.clone(),
            ..KeyFate::default()
        });
        match &a.outcome {
            Outcome::Ok { order_id } => f.acked.push(order_id.clone()),
            Outcome::Fail => f.failed += 1,
            Outcome::Unknown => f.unknown += 1,
        }
    }
    out
}
