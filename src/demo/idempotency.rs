//! Idempotency keys for checkout, after draft-ietf-httpapi-idempotency-key-header:
//! a key names one logical attempt; its first outcome is remembered and
//! replayed, a different request under the same key is refused, and
//! concurrent duplicates wait for the first instead of running twice.
//!
//! Owns the key table, the in-flight hand-off between concurrent requests
//! and the bound on remembered failures. It must not place orders or touch
//! stock; checkout drives it.

use std::collections::hash_map::Entry as MapEntry;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use tokio::sync::watch;

use super::error::DemoError;
use super::shard::ShardedMap;

/// Request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// Response header set on replays.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 255;
/// Failed outcomes (sold out, declined) remembered at most; past this they
/// are not cached, which stays correct because re-running a failed attempt
/// cannot create a second order. Successes are always remembered and are
/// bounded by the order cap.
pub const MAX_REMEMBERED_FAILURES: usize = 100_000;

/// What identifies "the same request" under one key: the parts of the body
/// that change what would be bought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) sku: String,
    pub(crate) qty: u64,
    pub(crate) user: Option<String>,
}

/// A remembered outcome, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// Orders placed under this key: one on a correct platform, more only
    /// when the duplicate-on-retry fault fired.
    pub(crate) orders: Vec<u64>,
}

#[derive(Debug)]
enum Entry {
    InFlight {
        fingerprint: Fingerprint,
        /// Closed (sender dropped) when the owner finishes or gives up.
        done: watch::Receiver<()>,
    },
    Done {
        fingerprint: Fingerprint,
        stored: Stored,
    },
}

/// The result of presenting a key.
#[derive(Debug)]
pub(crate) enum Claim<'a> {
    /// First with this key: run the request, then `complete` the guard (or
    /// drop it to give the key back).
    Owner(KeyGuard<'a>),
    /// Already answered: replay this.
    Replay(Stored),
    /// Another request with this key is running; wait for the receiver to
    /// close, then claim again.
    Wait(watch::Receiver<()>),
    /// The key was used with a different request.
    Mismatch,
}

/// All keys seen.
#[derive(Debug)]
pub(crate) struct IdempotencyTable {
    entries: ShardedMap<String, Entry>,
    failures: AtomicUsize,
}

impl IdempotencyTable {
    pub(crate) fn new() -> Self {
        IdempotencyTable {
            entries: ShardedMap::new(),
            failures: AtomicUsize::new(0),
        }
    }

    pub(crate) fn claim(&self, key: &str, fingerprint: &Fingerprint) -> Claim<'_> {
        self.entries
            .with_shard(key, |m| match m.entry(key.to_owned()) {
                MapEntry::Occupied(e) => match e.get() {
                    Entry::InFlight { fingerprint: f, .. } | Entry::Done { fingerprint: f, .. }
                        if f != fingerprint =>
                    {
                        Claim::Mismatch
                    }
                    Entry::InFlight { done, .. } => Claim::Wait(done.clone()),
                    Entry::Done { stored, .. } => Claim::Replay(stored.clone()),
                },
                MapEntry::Vacant(e) => {
                    let (tx, rx) = watch::channel(());
                    e.insert(Entry::InFlight {
                        fingerprint: fingerprint.clone(),
                        done: rx,
                    });
                    Claim::Owner(KeyGuard {
                        table: self,
                        key: key.to_owned(),
                        fingerprint: fingerprint.clone(),
                        done: Some(tx),
                    })
                }
            })
    }

    /// Order ids placed under `key` (empty for unknown keys and failures).
    pub(crate) fn orders_for(&self, key: &str) -> Vec<u64> {
        self.entries.with_shard(key, |m| match m.get(key) {
            Some(Entry::Done { stored, .. }) => stored.orders.clone(),
            _ => Vec::new(),
        })
    }

    /// Records an extra order under an answered key. Only the seeded
    /// duplicate-on-retry fault creates one; recording it keeps the per-key
    /// listing honest so reconciliation can see the duplicate.
    pub(crate) fn record_duplicate(&self, key: &str, seq: u64) {
        self.entries.with_shard(key, |m| {
            if let Some(Entry::Done { stored, .. }) = m.get_mut(key) {
                stored.orders.push(seq);
            }
        });
    }
}

/// Ownership of an in-flight key. Dropping it without `complete` (an error
/// worth retrying, a panic, a cancelled task) frees the key and wakes the
/// waiters, who then claim it themselves; no key is ever stuck in flight.
#[derive(Debug)]
pub(crate) struct KeyGuard<'a> {
    table: &'a IdempotencyTable,
    key: String,
    fingerprint: Fingerprint,
    done: Option<watch::Sender<()>>,
}

impl KeyGuard<'_> {
    /// Remembers the outcome for replay and releases the waiters. A failure
    /// past the failure bound is not remembered (the key is simply freed).
    pub(crate) fn complete(mut self, stored: Stored) {
        let table = self.table;
        if !stored.status.is_success() {
            let before = table.failures.fetch_add(1, Ordering::AcqRel);
            if before >= MAX_REMEMBERED_FAILURES {
                table.failures.fetch_sub(1, Ordering::AcqRel);
                return; // Drop frees the key.
            }
        }
        let key = std::mem::take(&mut self.key);
        let fingerprint = self.fingerprint.clone();
        table.entries.with_shard(&key, |m| {
            m.insert(
                key.clone(),
                Entry::Done {
                    fingerprint,
                    stored,
                },
            );
        });
        // Table updated first, then the waiters woken, so they find Done.
        self.done = None;
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        if self.done.is_none() {
            return;
        }
        let key = &self.key;
        self.table.entries.with_shard(key, |m| {
            if matches!(m.get(key), Some(Entry::InFlight { .. })) {
                m.remove(key);
            }
        });
        self.done = None;
    }
}

/// Reads the optional `Idempotency-Key` header. The draft defines the value
/// as a structured-field string (`"abc"`); bare tokens are accepted too
/// because many clients send them unquoted.
pub(crate) fn key_from_headers(headers: &HeaderMap) -> Result<Option<String>, DemoError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(DemoError::InvalidIdempotencyKey(
            "send the header once".into(),
        ));
    }
    let raw = value
        .to_str()
        .map_err(|_| DemoError::InvalidIdempotencyKey("must be visible ASCII".into()))?
        .trim();
    let key = match raw.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| DemoError::InvalidIdempotencyKey("unterminated quoted string".into()))?,
        None => raw,
    };
    if key.is_empty() {
        return Err(DemoError::InvalidIdempotencyKey("must not be empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(DemoError::InvalidIdempotencyKey(format!(
            "must be at most {MAX_KEY_LEN} bytes"
        )));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(DemoError::InvalidIdempotencyKey(
            "must be visible ASCII".into(),
        ));
    }
    Ok(Some(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn fp(qty: u64) -> Fingerprint {
        Fingerprint {
            sku: "drop-1".into(),
            qty,
            user: None,
        }
    }

    fn stored(status: StatusCode) -> Stored {
        Stored {
            status,
            body: Bytes::from_static(b"{}"),
            orders: vec![7],
        }
    }

    #[test]
    fn first_claim_owns_then_replays_and_rejects_other_bodies() {
        let table = IdempotencyTable::new();
        let Claim::Owner(guard) = table.claim("k", &fp(1)) else {
            panic!("first claim must own the key");
        };
        assert!(matches!(table.claim("k", &fp(1)), Claim::Wait(_)));
        assert!(matches!(table.claim("k", &fp(2)), Claim::Mismatch));
        guard.complete(stored(StatusCode::CREATED));
        assert!(matches!(table.claim("k", &fp(1)), Claim::Replay(s) if s.orders == vec![7]));
        assert!(matches!(table.claim("k", &fp(2)), Claim::Mismatch));
        assert_eq!(table.orders_for("k"), vec![7]);
    }

    #[tokio::test]
    async fn dropping_the_guard_frees_the_key_and_wakes_waiters() {
        let table = IdempotencyTable::new();
        let Claim::Owner(guard) = table.claim("k", &fp(1)) else {
            panic!("first claim must own the key");
        };
        let Claim::Wait(mut rx) = table.claim("k", &fp(1)) else {
            panic!("second claim must wait");
        };
        drop(guard);
        assert!(rx.changed().await.is_err(), "waiter must see the close");
        assert!(matches!(table.claim("k", &fp(1)), Claim::Owner(_)));
    }

    #[test]
    fn header_parsing_accepts_sf_strings_and_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(key_from_headers(&h), Ok(None));
        h.insert(HEADER, HeaderValue::from_static("\"abc-1\""));
        assert_eq!(key_from_headers(&h), Ok(Some("abc-1".into())));
        h.insert(HEADER, HeaderValue::from_static("abc-2"));
        assert_eq!(key_from_headers(&h), Ok(Some("abc-2".into())));
        for bad in ["\"\"", "\"open", ""] {
            h.insert(HEADER, HeaderValue::from_static(bad));
            assert!(key_from_headers(&h).is_err(), "{bad:?}");
        }
    }
}
