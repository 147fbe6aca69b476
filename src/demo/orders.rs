//! The order book: placed orders, their ids, and the listings used for
//! end-of-run reconciliation.
//!
//! Owns order ids (`o-<n>`, allocated at commit so committed ids are dense
//! unless the seeded lose-ack fault drops an order after its id was given),
//! the order cap, and two indexes: by id (striped) and by SKU. It must not
//! touch stock or decide whether an order may be placed; checkout does.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::clock::Clock;
use super::config::CURRENCY;
use super::error::DemoError;
use super::shard::lock;
use super::tracking::{self, TrackingStatus};

/// Orders the platform will hold; one more is refused with 503 and its stock
/// given back. Far above what the default catalogue can sell in a quick
/// start, low enough to bound memory on a laptop.
pub const MAX_ORDERS: usize = 1_000_000;
/// Default page size of `GET /api/orders`.
pub const DEFAULT_ORDER_PAGE: usize = 100;
/// Maximum page size of `GET /api/orders`.
pub const MAX_ORDER_PAGE: usize = 1_000;

const ID_SHARDS: usize = 32;

/// A committed order. Immutable once placed; its status is derived from time.
#[derive(Debug)]
pub(crate) struct Order {
    pub(crate) seq: u64,
    pub(crate) sku: String,
    pub(crate) qty: u64,
    pub(crate) user: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) unit_price_cents: u64,
    pub(crate) placed: Instant,
    pub(crate) placed_at: String,
}

/// What a caller supplies to place an order.
#[derive(Debug)]
pub(crate) struct NewOrder {
    pub(crate) sku: String,
    pub(crate) qty: u64,
    pub(crate) user: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) unit_price_cents: u64,
}

/// An order as returned by checkout and the order endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct OrderView {
    pub(crate) order_id: String,
    pub(crate) sku: String,
    pub(crate) qty: u64,
    pub(crate) user: Option<String>,
    pub(crate) status: TrackingStatus,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) unit_price_cents: u64,
    pub(crate) total_cents: u64,
    pub(crate) currency: &'static str,
    pub(crate) placed_at: String,
}

/// `GET /api/orders` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct OrderPage {
    pub(crate) orders: Vec<OrderView>,
    /// Pass as `after` for the next page; null when this is the last one.
    pub(crate) next_after: Option<String>,
}

/// Formats an order sequence number as its public id.
pub(crate) fn order_id(seq: u64) -> String {
    format!("o-{seq}")
}

/// Parses a public id (`o-12`) or a bare sequence number (`12`).
pub(crate) fn parse_order_id(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("o-").unwrap_or(id);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Order {
    pub(crate) fn id(&self) -> String {
        order_id(self.seq)
    }

    pub(crate) fn view(&self, status: TrackingStatus) -> OrderView {
        OrderView {
            order_id: self.id(),
            sku: self.sku.clone(),
            qty: self.qty,
            user: self.user.clone(),
            status,
            idempotency_key: self.idempotency_key.clone(),
            unit_price_cents: self.unit_price_cents,
            total_cents: self.unit_price_cents.saturating_mul(self.qty),
            currency: CURRENCY,
            placed_at: self.placed_at.clone(),
        }
    }

    /// The view with the status tracking has reached at `now`.
    pub(crate) fn view_at(&self, now: Instant, step: Duration) -> OrderView {
        self.view(tracking::status_at(self.placed, now, step))
    }
}

type Index = Mutex<BTreeMap<u64, Arc<Order>>>;

/// Every placed order, indexed by id and by SKU. Ordered maps make the
/// `after` cursor of the listings a range query.
#[derive(Debug)]
pub(crate) struct OrderBook {
    next_seq: AtomicU64,
    count: AtomicUsize,
    max: usize,
    by_id: Vec<Index>,
    /// The SKU set is fixed at start, so this map itself is never locked.
    by_sku: HashMap<String, Index>,
}

impl OrderBook {
    pub(crate) fn new<'a>(skus: impl IntoIterator<Item = &'a str>) -> Self {
        Self::with_capacity(skus, MAX_ORDERS)
    }

    pub(crate) fn with_capacity<'a>(skus: impl IntoIterator<Item = &'a str>, max: usize) -> Self {
        OrderBook {
            next_seq: AtomicU64::new(1),
            count: AtomicUsize::new(0),
            max,
            by_id: (0..ID_SHARDS).map(|_| Mutex::default()).collect(),
            by_sku: skus
                .into_iter()
                .map(|s| (s.to_owned(), Mutex::default()))
                .collect(),
        }
    }

    fn id_shard(&self, seq: u64) -> &Index {
        &self.by_id[(seq % ID_SHARDS as u64) as usize]
    }

    /// Cheap pre-check so a checkout does not pay for an order that could
    /// not be stored anyway.
    pub(crate) fn has_room(&self) -> bool {
        self.count.load(Ordering::Acquire) < self.max
    }

    /// Stores a new order and returns it with its id.
    pub(crate) fn place(&self, new: NewOrder, clock: &Clock) -> Result<Arc<Order>, DemoError> {
        if self.count.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return Err(DemoError::Capacity("order"));
        }
        let Some(sku_index) = self.by_sku.get(&new.sku) else {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return Err(DemoError::UnknownSku(new.sku));
        };
        let order = Arc::new(self.build(new, clock));
        lock(self.id_shard(order.seq)).insert(order.seq, Arc::clone(&order));
        lock(sku_index).insert(order.seq, Arc::clone(&order));
        Ok(order)
    }

    /// Allocates an id and builds the order exactly as `place` would, but
    /// stores nothing: the seeded lose-ack fault. The id is acknowledged to
    /// the client and then missing from every listing and lookup, and it
    /// leaves a gap in the otherwise dense ids.
    pub(crate) fn lose(&self, new: NewOrder, clock: &Clock) -> Arc<Order> {
        Arc::new(self.build(new, clock))
    }

    fn build(&self, new: NewOrder, clock: &Clock) -> Order {
        let placed = clock.now();
        let seq = self.next_seq.fetch_add(1, Ordering::AcqRel);
        Order {
            seq,
            sku: new.sku,
            qty: new.qty,
            user: new.user,
            idempotency_key: new.idempotency_key,
            unit_price_cents: new.unit_price_cents,
            placed,
            placed_at: clock.rfc3339(placed),
        }
    }

    pub(crate) fn get(&self, seq: u64) -> Option<Arc<Order>> {
        lock(self.id_shard(seq)).get(&seq).cloned()
    }

    /// Orders with id > `after`, ascending, at most `limit`, optionally only
    /// one SKU's. Returns whether more follow.
    pub(crate) fn list(
        &self,
        sku: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Arc<Order>>, bool), DemoError> {
        let limit = limit.clamp(1, MAX_ORDER_PAGE);
        let range = (Bound::Excluded(after), Bound::Unbounded);
        let mut found: Vec<Arc<Order>> = match sku {
            Some(sku) => {
                let index = self
                    .by_sku
                    .get(sku)
                    .ok_or_else(|| DemoError::UnknownSku(sku.to_owned()))?;
                lock(index)
                    .range(range)
                    .take(limit + 1)
                    .map(|(_, o)| Arc::clone(o))
                    .collect()
            }
            None => {
                // Each stripe contributes its first limit+1; the global first
                // limit+1 are necessarily among them.
                let mut all = Vec::new();
                for shard in &self.by_id {
                    all.extend(
                        lock(shard)
                            .range(range)
                            .take(limit + 1)
                            .map(|(_, o)| Arc::clone(o)),
                    );
                }
                all.sort_unstable_by_key(|o| o.seq);
                all
            }
        };
        let more = found.len() > limit;
        found.truncate(limit);
        Ok((found, more))
    }

    /// Orders in a known set of ids (used for per-key listings).
    pub(crate) fn get_many(&self, seqs: &[u64]) -> Vec<Arc<Order>> {
        let mut orders: Vec<Arc<Order>> = seqs.iter().filter_map(|s| self.get(*s)).collect();
        orders.sort_unstable_by_key(|o| o.seq);
        orders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_order(sku: &str) -> NewOrder {
        NewOrder {
            sku: sku.into(),
            qty: 1,
            user: None,
            idempotency_key: None,
            unit_price_cents: 100,
        }
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(parse_order_id(&order_id(42)), Some(42));
        assert_eq!(parse_order_id("42"), Some(42));
        for bad in ["", "o-", "o-x", "o--1", "o-99999999999999999999999", "x-1"] {
            assert_eq!(parse_order_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn listing_pages_through_every_order_in_id_order() {
        let clock = Clock::new();
        let book = OrderBook::new(["a", "b"]);
        for i in 0..250 {
            book.place(new_order(if i % 3 == 0 { "a" } else { "b" }), &clock)
                .unwrap();
        }
        let mut after = 0;
        let mut seen = Vec::new();
        for _ in 0..10 {
            let (page, more) = book.list(None, after, 40).unwrap();
            seen.extend(page.iter().map(|o| o.seq));
            match page.last() {
                Some(last) if more => after = last.seq,
                _ => break,
            }
        }
        assert_eq!(seen, (1..=250).collect::<Vec<_>>());
        let (a, more) = book.list(Some("a"), 0, 1000).unwrap();
        assert_eq!(a.len(), 84);
        assert!(!more);
        assert!(book.list(Some("zzz"), 0, 10).is_err());
    }

    #[test]
    fn a_lost_order_takes_an_id_but_is_never_found() {
        let clock = Clock::new();
        let book = OrderBook::new(["a"]);
        book.place(new_order("a"), &clock).unwrap();
        let lost = book.lose(new_order("a"), &clock);
        book.place(new_order("a"), &clock).unwrap();
        assert_eq!(lost.seq, 2);
        assert!(book.get(2).is_none());
        let (all, _) = book.list(None, 0, 10).unwrap();
        assert_eq!(all.iter().map(|o| o.seq).collect::<Vec<_>>(), [1, 3]);
        assert!(book.get_many(&[2]).is_empty());
    }

    #[test]
    fn order_cap_is_enforced() {
        let clock = Clock::new();
        let book = OrderBook::with_capacity(["a"], 2);
        book.place(new_order("a"), &clock).unwrap();
        book.place(new_order("a"), &clock).unwrap();
        assert!(!book.has_room());
        let err = book.place(new_order("a"), &clock).unwrap_err();
        assert_eq!(err, DemoError::Capacity("order"));
    }
}
