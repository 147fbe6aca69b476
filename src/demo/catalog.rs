//! Products and their stock: the one place where units are reserved, given
//! back and counted as sold.
//!
//! Owns the per-SKU atomics and the accounting identity
//! `initial == remaining + reserved + sold` (reserved is stock held by
//! checkouts still in payment; it is zero at rest), which only the seeded
//! oversell race breaks. It must not know about orders, idempotency or HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::config::{ProductSpec, CURRENCY};

/// How long the seeded oversell race waits between checking the stock and
/// taking it. Checkouts arriving within this window of each other while
/// units are left all pass the check, so a crowd racing for the last units
/// oversells reliably; the correct path never waits.
pub(crate) const RACE_WINDOW: Duration = Duration::from_millis(1);

/// One product and its live stock counters.
#[derive(Debug)]
pub(crate) struct Product {
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) price_cents: u64,
    pub(crate) initial: u64,
    /// Units neither reserved nor sold. Only ever changed by `reserve`,
    /// `reserve_racy` and `release`.
    available: AtomicU64,
    /// Units in confirmed orders.
    sold: AtomicU64,
}

/// Why a reservation failed: not enough units left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insufficient {
    pub(crate) remaining: u64,
}

impl Product {
    fn new(spec: ProductSpec) -> Self {
        Product {
            available: AtomicU64::new(spec.stock),
            sold: AtomicU64::new(0),
            initial: spec.stock,
            sku: spec.sku,
            name: spec.name,
            price_cents: spec.price_cents,
        }
    }

    /// Takes `qty` units out of the available stock, or none at all. The
    /// compare-exchange loop is what makes overselling impossible: the check
    /// and the decrement are one atomic step.
    pub(crate) fn reserve(&self, qty: u64) -> Result<(), Insufficient> {
        let mut current = self.available.load(Ordering::Acquire);
        loop {
            if current < qty {
                return Err(Insufficient { remaining: current });
            }
            match self.available.compare_exchange_weak(
                current,
                current - qty,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }

    /// The seeded oversell bug, a lost update: it reads the stock, waits
    /// [`RACE_WINDOW`] (standing in for a round trip to a stock service),
    /// then writes back what it read minus `qty`, overwriting whatever other
    /// checkouts took meanwhile. Two checkouts that overlap both sell a unit
    /// while the stock drops by one, so under a rush the units sold exceed
    /// the stock long before the last one, and `initial − remaining` no
    /// longer equals `sold` (the stock's own books are wrong, as they are
    /// after a real lost update). Returns the units taken, which is what a
    /// failed checkout gives back. Never used unless the `oversell-race`
    /// fault fires.
    pub(crate) async fn reserve_racy(&self, qty: u64) -> Result<u64, Insufficient> {
        let seen = self.available.load(Ordering::Acquire);
        if seen < qty {
            return Err(Insufficient { remaining: seen });
        }
        tokio::time::sleep(RACE_WINDOW).await;
        self.available.store(seen - qty, Ordering::Release);
        Ok(qty)
    }

    /// Gives reserved units back (payment declined, capacity exhausted).
    pub(crate) fn release(&self, qty: u64) {
        self.available.fetch_add(qty, Ordering::AcqRel);
    }

    /// Turns reserved units into sold ones once the order exists.
    pub(crate) fn confirm(&self, qty: u64) {
        self.sold.fetch_add(qty, Ordering::AcqRel);
    }

    /// A snapshot of the counters. `sold` is read before `available` so a
    /// checkout completing in between can only make `reserved` look larger,
    /// never negative.
    pub(crate) fn inventory(&self) -> Inventory {
        let sold = self.sold.load(Ordering::Acquire);
        let remaining = self.available.load(Ordering::Acquire);
        Inventory {
            sku: self.sku.clone(),
            initial: self.initial,
            sold,
            reserved: self.initial.saturating_sub(remaining).saturating_sub(sold),
            remaining,
        }
    }

    pub(crate) fn view(&self) -> ProductView {
        ProductView {
            sku: self.sku.clone(),
            name: self.name.clone(),
            price_cents: self.price_cents,
            currency: CURRENCY,
            stock_initial: self.initial,
            stock_remaining: self.available.load(Ordering::Acquire),
        }
    }
}

/// `GET /api/inventory[/{sku}]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Inventory {
    pub(crate) sku: String,
    pub(crate) initial: u64,
    pub(crate) sold: u64,
    /// Units held by checkouts still in payment.
    pub(crate) reserved: u64,
    pub(crate) remaining: u64,
}

/// `GET /api/products[/{sku}]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ProductView {
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) price_cents: u64,
    pub(crate) currency: &'static str,
    pub(crate) stock_initial: u64,
    pub(crate) stock_remaining: u64,
}

/// The fixed catalogue. The set of SKUs never changes after start, so the
/// index needs no lock; only the counters inside each product move.
#[derive(Debug)]
pub(crate) struct Catalog {
    order: Vec<Arc<Product>>,
    by_sku: HashMap<String, Arc<Product>>,
}

impl Catalog {
    pub(crate) fn new(specs: Vec<ProductSpec>) -> Self {
        let order: Vec<Arc<Product>> = specs
            .into_iter()
            .map(|s| Arc::new(Product::new(s)))
            .collect();
        let by_sku = order
            .iter()
            .map(|p| (p.sku.clone(), Arc::clone(p)))
            .collect();
        Catalog { order, by_sku }
    }

    pub(crate) fn get(&self, sku: &str) -> Option<&Arc<Product>> {
        self.by_sku.get(sku)
    }

    /// Products in catalogue order.
    pub(crate) fn all(&self) -> &[Arc<Product>] {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(stock: u64) -> Product {
        Product::new(ProductSpec {
            sku: "p".into(),
            name: "P".into(),
            price_cents: 100,
            stock,
        })
    }

    #[test]
    fn reserve_never_goes_below_zero() {
        let p = product(3);
        assert!(p.reserve(2).is_ok());
        assert_eq!(p.reserve(2), Err(Insufficient { remaining: 1 }));
        assert!(p.reserve(1).is_ok());
        assert_eq!(p.reserve(1), Err(Insufficient { remaining: 0 }));
    }

    #[test]
    fn accounting_identity_holds_through_reserve_confirm_release() {
        let p = product(10);
        p.reserve(4).unwrap();
        p.reserve(3).unwrap();
        let inv = p.inventory();
        assert_eq!((inv.remaining, inv.reserved, inv.sold), (3, 7, 0));
        p.confirm(4);
        p.release(3);
        let inv = p.inventory();
        assert_eq!((inv.remaining, inv.reserved, inv.sold), (6, 0, 4));
        assert_eq!(inv.initial - inv.remaining, inv.sold);
    }

    #[test]
    fn threads_racing_for_stock_never_oversell() {
        let p = Arc::new(product(1_000));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || (0..500).filter(|_| p.reserve(1).is_ok()).count())
            })
            .collect();
        let won: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(won, 1_000);
        assert_eq!(p.inventory().remaining, 0);
    }
}
