//! Shopping carts: per-user lines of SKU and quantity, priced on read.
//!
//! Owns cart contents and their bounds (carts, lines per cart, units per
//! line). Adding to a cart does not reserve stock, as on real shops; only
//! checkout does. It must not touch stock counters or orders.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::catalog::Catalog;
use super::config::CURRENCY;
use super::error::DemoError;
use super::shard::ShardedMap;

/// Carts the platform will hold at once.
pub const MAX_CARTS: usize = 100_000;
/// Distinct SKUs in one cart.
pub const MAX_CART_LINES: usize = 50;
/// Units of one SKU in one cart.
pub const MAX_LINE_QTY: u64 = 100;

#[derive(Debug, Default)]
struct Cart {
    /// Insertion order is kept so the cart reads back the way it was filled.
    lines: Vec<(String, u64)>,
}

/// One priced cart line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CartLine {
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) qty: u64,
    pub(crate) unit_price_cents: u64,
    pub(crate) line_total_cents: u64,
}

/// `GET /api/cart/{user}` and `POST /api/cart` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CartView {
    pub(crate) user: String,
    pub(crate) items: Vec<CartLine>,
    pub(crate) item_count: u64,
    pub(crate) total_cents: u64,
    pub(crate) currency: &'static str,
}

/// All carts, keyed by user.
#[derive(Debug)]
pub(crate) struct Carts {
    carts: ShardedMap<String, Cart>,
    count: AtomicUsize,
}

impl Carts {
    pub(crate) fn new() -> Self {
        Carts {
            carts: ShardedMap::new(),
            count: AtomicUsize::new(0),
        }
    }

    /// Adds `qty` units of `sku` (already known to exist) to `user`'s cart
    /// and returns the whole cart.
    pub(crate) fn add(
        &self,
        catalog: &Catalog,
        user: &str,
        sku: &str,
        qty: u64,
    ) -> Result<CartView, DemoError> {
        let lines = self.carts.with_shard(user, |m| {
            if !m.contains_key(user) {
                if self.count.fetch_add(1, Ordering::AcqRel) >= MAX_CARTS {
                    self.count.fetch_sub(1, Ordering::AcqRel);
                    return Err(DemoError::Capacity("cart"));
                }
                m.insert(user.to_owned(), Cart::default());
            }
            let Some(cart) = m.get_mut(user) else {
                return Err(DemoError::Internal("cart vanished under its lock"));
            };
            match cart.lines.iter_mut().find(|(s, _)| s == sku) {
                Some((_, have)) => {
                    let total = have.saturating_add(qty);
                    if total > MAX_LINE_QTY {
                        return Err(DemoError::field(
                            "qty",
                            format!("a cart holds at most {MAX_LINE_QTY} units of one SKU"),
                        ));
                    }
                    *have = total;
                }
                None => {
                    if cart.lines.len() >= MAX_CART_LINES {
                        return Err(DemoError::field(
                            "sku",
                            format!("a cart holds at most {MAX_CART_LINES} different SKUs"),
                        ));
                    }
                    cart.lines.push((sku.to_owned(), qty));
                }
            }
            Ok(cart.lines.clone())
        })?;
        Ok(price(catalog, user, &lines))
    }

    /// The cart of `user`; an unknown user has an empty cart (reads never
    /// create one).
    pub(crate) fn get(&self, catalog: &Catalog, user: &str) -> CartView {
        let lines = self
            .carts
            .with_shard(user, |m| m.get(user).map(|c| c.lines.clone()))
            .unwrap_or_default();
        price(catalog, user, &lines)
    }
}

fn price(catalog: &Catalog, user: &str, lines: &[(String, u64)]) -> CartView {
    let items: Vec<CartLine> = lines
        .iter()
        .filter_map(|(sku, qty)| {
            let p = catalog.get(sku)?;
            Some(CartLine {
                sku: sku.clone(),
                name: p.name.clone(),
                qty: *qty,
                unit_price_cents: p.price_cents,
                line_total_cents: p.price_cents.saturating_mul(*qty),
            })
        })
        .collect();
    CartView {
        user: user.to_owned(),
        item_count: items.iter().map(|l| l.qty).sum(),
        total_cents: items.iter().map(|l| l.line_total_cents).sum(),
        items,
        currency: CURRENCY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::config::DemoConfig;

    #[test]
    fn adding_merges_lines_and_prices_the_cart() {
        let catalog = Catalog::new(DemoConfig::default().products());
        let carts = Carts::new();
        carts.add(&catalog, "ana", "sku-1", 2).unwrap();
        carts.add(&catalog, "ana", "drop-1", 1).unwrap();
        let view = carts.add(&catalog, "ana", "sku-1", 1).unwrap();
        assert_eq!(view.items.len(), 2);
        assert_eq!(view.items[0].qty, 3);
        assert_eq!(view.item_count, 4);
        let expected = 3 * view.items[0].unit_price_cents + 14_900;
        assert_eq!(view.total_cents, expected);
        assert!(carts.get(&catalog, "bob").items.is_empty());
    }

    #[test]
    fn line_quantity_is_bounded() {
        let catalog = Catalog::new(DemoConfig::default().products());
        let carts = Carts::new();
        carts.add(&catalog, "ana", "sku-1", MAX_LINE_QTY).unwrap();
        let err = carts.add(&catalog, "ana", "sku-1", 1).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
    }
}
