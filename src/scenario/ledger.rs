//! The typed model of business correctness in a scenario: which steps are
//! ledger operations (a checkout, a tracking poll, a comment) and what of
//! their request and response the history keeps, how a step retries, and
//! which invariants are checked against the platform's state after the run.
//!
//! Owns these shapes once validated. Must not parse, validate or do I/O.

use std::time::Duration;

use http::HeaderName;

use super::model::JsonPathSeg;

/// `retry:` of an HTTP step: which failures are tried again, how often,
/// and whether the retry is the same logical operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub on: RetryOn,
    /// Retries after the first attempt (so at most `max + 1` attempts).
    pub max: u32,
    /// `true`: a retry resends the very request, same `Idempotency-Key`
    /// included. `false`: the request is rendered again, as a client
    /// without idempotency keys would (a new `uuid()` each time).
    pub same_key: bool,
    /// Wait before the first retry; each further retry doubles it, with
    /// full jitter from the session's seeded stream.
    pub backoff: Duration,
}

/// The failures a step retries on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryOn {
    /// No complete answer within the step's timeout.
    pub timeout: bool,
    /// The connection broke after the request left (reset, closed).
    pub reset: bool,
    /// The connection could not be opened (nothing was sent).
    pub connect: bool,
    /// Answers with these statuses, as inclusive ranges (`5xx` is 500..=599).
    pub status: Vec<(u16, u16)>,
}

impl RetryOn {
    pub fn status(&self, code: u16) -> bool {
        self.status
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

/// What a ledger step records in the run's history.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerOp {
    /// A checkout: its logical key is the value of `key_header` in the
    /// request; its SKU is at `sku` in the JSON request body; an
    /// acknowledged answer carries its order id at `order_id`.
    Checkout {
        key_header: HeaderName,
        sku: Vec<JsonPathSeg>,
        order_id: Vec<JsonPathSeg>,
    },
    /// A read of an order's tracking status: order id and status from the
    /// JSON answer.
    Track {
        order_id: Vec<JsonPathSeg>,
        status: Vec<JsonPathSeg>,
    },
    /// A posted comment: its id from the JSON answer.
    Comment { id: Vec<JsonPathSeg> },
}

/// One invariant a scenario asks to be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InvariantKind {
    NoOversell,
    Accounting,
    Idempotent,
    NoLostAck,
    MonotonicTracking,
    ExactlyOnceComments,
}

impl InvariantKind {
    pub const ALL: [InvariantKind; 6] = [
        InvariantKind::NoOversell,
        InvariantKind::Accounting,
        InvariantKind::Idempotent,
        InvariantKind::NoLostAck,
        InvariantKind::MonotonicTracking,
        InvariantKind::ExactlyOnceComments,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InvariantKind::NoOversell => "no_oversell",
            InvariantKind::Accounting => "accounting",
            InvariantKind::Idempotent => "idempotent",
            InvariantKind::NoLostAck => "no_lost_ack",
            InvariantKind::MonotonicTracking => "monotonic_tracking",
            InvariantKind::ExactlyOnceComments => "exactly_once_comments",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it needs the platform's stock and order listing.
    pub fn reads_orders(self) -> bool {
        matches!(
            self,
            InvariantKind::NoOversell
                | InvariantKind::Accounting
                | InvariantKind::Idempotent
                | InvariantKind::NoLostAck
        )
    }
}

/// `invariants:` — what is checked after the load, and how the platform's
/// state is read. Empty `check`: nothing is checked and nothing is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Invariants {
    pub check: Vec<InvariantKind>,
    /// Wait between the end of the load and the first read, so work the
    /// platform finishes asynchronously (payments, queues) has landed.
    pub settle: Duration,
    /// Path of one SKU's stock, `{sku}` replaced; answers
    /// `{"initial": n, "sold": n, "remaining": n}`. `None`: the reader's
    /// default (the embedded demo's conventions).
    pub inventory: Option<String>,
    /// Path of one page of a SKU's orders, `{sku}` and `{after}` replaced;
    /// answers `{"orders": [{"order_id", "idempotency_key", "sku"}, ...],
    /// "next_after": cursor or null}`. `None`: the reader's default.
    pub orders: Option<String>,
    /// Path of one page of a room's comments, `{room}` and `{after}`
    /// replaced; answers `{"comments": [{"id"}, ...], "next_after": ...}`.
    /// `None`: the reader's default.
    pub comments: Option<String>,
    /// Room whose feed `exactly_once_comments` reads.
    pub room: String,
    /// Tracking statuses from first to last. `None`: the reader's default.
    pub tracking_order: Option<Vec<String>>,
}

impl Invariants {
    pub fn declared(&self) -> bool {
        !self.check.is_empty()
    }
}

impl Default for Invariants {
    fn default() -> Self {
        Invariants {
            check: Vec::new(),
            settle: Duration::from_secs(1),
            inventory: None,
            orders: None,
            comments: None,
            room: "main".into(),
            tracking_order: None,
        }
    }
}
