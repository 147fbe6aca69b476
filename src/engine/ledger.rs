//! Ledger steps and retries: what an attempt of a checkout, a tracking
//! poll or a comment adds to the run's history, which failures a step
//! tries again, and how long it waits first.
//!
//! Owns classifying an attempt's outcome as `ok`, `fail` or `unknown`
//! from what the client saw. Must not send requests or judge invariants.

use std::time::Duration;

use rand::Rng;
use rand_pcg::Pcg64Mcg;
use tokio::time::Instant;

use super::http::Response;
use super::lane::micros;
use super::session::Session;
use crate::invariants::{self, Attempt, Poll, Posted};
use crate::metrics::Outcome;
use crate::scenario::{json_lookup, JsonPathSeg, LedgerOp, RetryOn};

/// Whether `outcome` is one `on` retries.
pub(crate) fn retryable(on: &RetryOn, outcome: Outcome) -> bool {
    match outcome {
        Outcome::Timeout => on.timeout,
        Outcome::Io => on.reset,
        Outcome::Connect => on.connect,
        Outcome::BadStatus { status } | Outcome::CheckFailed { status } => on.status(status),
        Outcome::Ok { .. } | Outcome::Aborted | Outcome::Invalid | Outcome::Unresolved => false,
    }
}

/// The wait before retry number `attempt` (1 for the first): `base`
/// doubled per retry, capped at 30 s, with equal jitter (half fixed, half
/// drawn) so that clients cut off together do not come back together.
pub(crate) fn backoff(base: Duration, attempt: u32, rng: &mut Pcg64Mcg) -> Duration {
    let full = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(Duration::from_secs(30));
    let half = full / 2;
    half + half.mul_f64(rng.random::<f64>())
}

/// What an attempt of a checkout says about whether it happened.
/// Nothing sent (refused connection, invalid request) is a definite no;
/// a 4xx is the platform refusing; a timeout, a broken connection or a
/// 5xx after the request left may or may not have taken effect.
fn classify(outcome: Outcome, order_id: Option<String>) -> Option<invariants::Outcome> {
    let status = match outcome {
        Outcome::Ok { status }
        | Outcome::BadStatus { status }
        | Outcome::CheckFailed { status } => status,
        Outcome::Connect => return Some(invariants::Outcome::Fail),
        Outcome::Timeout | Outcome::Io | Outcome::Aborted => {
            return Some(invariants::Outcome::Unknown)
        }
        Outcome::Invalid | Outcome::Unresolved => return None,
    };
    Some(match status {
        200..=299 => match order_id {
            Some(order_id) => invariants::Outcome::Ok { order_id },
            // Acknowledged without an id we can find: it happened, but it
            // cannot be traced, so it widens the accounting like an unknown.
            None => invariants::Outcome::Unknown,
        },
        400..=499 => invariants::Outcome::Fail,
        _ => invariants::Outcome::Unknown,
    })
}

fn text_at(doc: Option<&serde_json::Value>, path: &[JsonPathSeg]) -> Option<String> {
    match json_lookup(doc?, path)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl Session<'_> {
    /// Add one attempt of ledger step `op` to the lane's history.
    pub(super) fn record_ledger(
        &mut self,
        op: &LedgerOp,
        attempt: u32,
        outcome: Outcome,
        response: Option<&Response>,
        sent: Instant,
        end: Instant,
    ) {
        let t0 = self.shared.t0;
        let started_us = micros(sent.saturating_duration_since(t0));
        let at_us = micros(end.saturating_duration_since(t0));
        let doc = response.and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok());
        let session = self.seq;
        match op {
            LedgerOp::Checkout {
                key_header,
                sku,
                order_id,
            } => {
                let Some(kind) = classify(outcome, text_at(doc.as_ref(), order_id)) else {
                    return;
                };
                let scratch = &self.slot.scratch;
                let Some(key) = scratch.request_header(key_header).map(str::to_owned) else {
                    return;
                };
                let body = serde_json::from_slice::<serde_json::Value>(scratch.json_body()).ok();
                let sku = text_at(body.as_ref(), sku).unwrap_or_default();
                self.live.lock().history.checkouts.push(Attempt {
                    key,
                    attempt,
                    sku,
                    session,
                    started_us,
                    at_us,
                    outcome: kind,
                });
            }
            LedgerOp::Track { order_id, status } => {
                if let (Some(order_id), Some(status)) = (
                    text_at(doc.as_ref(), order_id),
                    text_at(doc.as_ref(), status),
                ) {
                    self.live.lock().history.polls.push(Poll {
                        order_id,
                        status,
                        session,
                        at_us,
                    });
                }
            }
            LedgerOp::Comment { id } => {
                if let (true, Some(id)) = (outcome.is_ok(), text_at(doc.as_ref(), id)) {
                    self.live
                        .lock()
                        .history
                        .comments
                        .push(Posted { id, session, at_us });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn what_the_client_saw_decides_ok_fail_or_unknown() {
        use invariants::Outcome as H;
        let id = || Some("o-1".to_owned());
        assert_eq!(
            classify(Outcome::Ok { status: 201 }, id()),
            Some(H::Ok {
                order_id: "o-1".into()
            })
        );
        assert_eq!(
            classify(Outcome::Ok { status: 201 }, None),
            Some(H::Unknown)
        );
        assert_eq!(classify(Outcome::Ok { status: 409 }, None), Some(H::Fail));
        assert_eq!(
            classify(Outcome::BadStatus { status: 409 }, None),
            Some(H::Fail)
        );
        assert_eq!(
            classify(Outcome::BadStatus { status: 503 }, None),
            Some(H::Unknown)
        );
        assert_eq!(classify(Outcome::Timeout, None), Some(H::Unknown));
        assert_eq!(classify(Outcome::Io, None), Some(H::Unknown));
        assert_eq!(classify(Outcome::Connect, None), Some(H::Fail));
        assert_eq!(classify(Outcome::Unresolved, None), None);
    }

    #[test]
    fn retries_follow_the_list_and_back_off_with_bounded_jitter() {
        let on = RetryOn {
            timeout: true,
            reset: true,
            connect: false,
            status: vec![(503, 503), (520, 529)],
        };
        assert!(retryable(&on, Outcome::Timeout));
        assert!(retryable(&on, Outcome::Io));
        assert!(!retryable(&on, Outcome::Connect));
        assert!(retryable(&on, Outcome::BadStatus { status: 503 }));
        assert!(retryable(&on, Outcome::BadStatus { status: 524 }));
        assert!(!retryable(&on, Outcome::BadStatus { status: 500 }));
        assert!(!retryable(&on, Outcome::Ok { status: 201 }));
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let base = Duration::from_millis(100);
        for attempt in 1..=4u32 {
            let full = base * (1 << (attempt - 1));
            for _ in 0..50 {
                let d = backoff(base, attempt, &mut rng);
                assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
            }
        }
        assert!(backoff(base, 40, &mut rng) <= Duration::from_secs(30));
    }
}
