//! Configuration of the embedded demo platform: the catalogue, the payment
//! stage's capacity, the tracking pace, the seed, the seeded faults and the
//! live rooms' WebSocket bounds.
//!
//! Owns plain data and its validation only. It must not start tasks, touch
//! sockets or read the clock.

use std::collections::HashSet;
use std::time::Duration;

use super::faults::{FaultName, Faults};

/// Default currency of every product; the demo is single-currency on purpose
/// so totals never need conversion.
pub const CURRENCY: &str = "EUR";

/// Price given to SKUs supplied only as `(sku, stock)` pairs.
const DEFAULT_PRICE_CENTS: u64 = 1_999;

/// Longest SKU the demo accepts, so SKUs stay usable as path segments.
pub const MAX_SKU_LEN: usize = 64;

/// Default `ws_queue`.
pub const DEFAULT_WS_QUEUE: usize = 1024;

/// Largest `ws_queue`: beyond this a room's ring of shared messages costs
/// megabytes whether or not anyone lags.
pub const MAX_WS_QUEUE: usize = 65_536;

/// What a live room does with a viewer that reads more slowly than the room
/// broadcasts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlowPolicy {
    /// Skip the oldest messages the viewer could not keep up with and tell it
    /// how many with a `lagged` frame.
    #[default]
    Lag,
    /// Close the viewer's socket with code 1008 ("too slow").
    Disconnect,
}

impl SlowPolicy {
    /// The spelling used by flags and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            SlowPolicy::Lag => "lag",
            SlowPolicy::Disconnect => "disconnect",
        }
    }

    /// Reads [`SlowPolicy::name`]'s spelling back.
    pub fn parse(s: &str) -> Option<SlowPolicy> {
        match s {
            "lag" => Some(SlowPolicy::Lag),
            "disconnect" => Some(SlowPolicy::Disconnect),
            _ => None,
        }
    }
}

/// How the embedded demo platform behaves.
///
/// Checkout capacity is deliberate and predictable: every order holds one of
/// `payment_slots` for `payment_latency`, so the platform saturates at about
/// `payment_slots / payment_latency` checkouts per second (8 / 2 ms = 4000/s
/// by default). Everything else is cheap in-memory work.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// SKUs and their initial stock. Empty means the default catalogue (see
    /// [`default_catalogue`]).
    pub stock: Vec<(String, u64)>,
    /// Concurrent payment authorisations; 0 means unlimited.
    pub payment_slots: usize,
    /// Time one payment authorisation takes while it holds a slot.
    pub payment_latency: Duration,
    /// How long each tracking status lasts before the order advances.
    pub tracking_step: Duration,
    /// Seed for every random decision the platform makes (only faults today).
    pub seed: u64,
    /// Seeded misbehaviour for rehearsing invariant checks; all off by default.
    pub faults: Faults,
    /// Messages a live-room viewer may fall behind before `ws_slow_policy`
    /// applies, 1..=[`MAX_WS_QUEUE`]. Every room with viewers holds a ring
    /// of this many slots (rounded up to a power of two, about 80 bytes
    /// each) shared by its viewers; a message leaves it once all have
    /// read it.
    pub ws_queue: usize,
    /// What happens to a viewer that falls more than `ws_queue` behind.
    pub ws_slow_policy: SlowPolicy,
    /// WebSocket viewers the whole platform holds at once; one more upgrade
    /// is refused with 503.
    pub ws_max_viewers: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            stock: Vec::new(),
            payment_slots: 8,
            payment_latency: Duration::from_millis(2),
            tracking_step: Duration::from_secs(2),
            seed: 0,
            faults: Faults::default(),
            ws_queue: DEFAULT_WS_QUEUE,
            ws_slow_policy: SlowPolicy::Lag,
            ws_max_viewers: 100_000,
        }
    }
}

/// One product as configured: identity, display data and initial stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    /// Stock-keeping unit; the product's id in every path and body.
    pub sku: String,
    /// Human-readable name.
    pub name: String,
    /// Unit price in minor units of [`CURRENCY`].
    pub price_cents: u64,
    /// Units available when the platform starts.
    pub stock: u64,
}

/// A configuration the platform refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A SKU that cannot be used as a path segment.
    #[error("invalid SKU `{0}`: use 1-{MAX_SKU_LEN} characters from A-Z a-z 0-9 - _ .")]
    InvalidSku(String),
    /// The same SKU listed twice; the stock would be ambiguous.
    #[error("SKU `{0}` is listed more than once")]
    DuplicateSku(String),
    /// A fault probability outside 0..=1.
    #[error("fault `{0}` must be a probability between 0 and 1")]
    FaultOutOfRange(FaultName),
    /// A viewer queue that holds nothing or an unreasonable amount.
    #[error("ws_queue must be between 1 and {MAX_WS_QUEUE}, not {0}")]
    WsQueueOutOfRange(usize),
    /// A platform that would refuse every viewer.
    #[error("ws_max_viewers must be at least 1")]
    NoViewers,
}

impl DemoConfig {
    /// Checks what [`crate::demo::DemoServer::spawn`] would otherwise have to
    /// guess about: SKU syntax, duplicates, fault probabilities and the live
    /// rooms' bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_WS_QUEUE).contains(&self.ws_queue) {
            return Err(ConfigError::WsQueueOutOfRange(self.ws_queue));
        }
        if self.ws_max_viewers == 0 {
            return Err(ConfigError::NoViewers);
        }
        let mut seen = HashSet::new();
        for (sku, _) in &self.stock {
            if !valid_sku(sku) {
                return Err(ConfigError::InvalidSku(sku.clone()));
            }
            if !seen.insert(sku.as_str()) {
                return Err(ConfigError::DuplicateSku(sku.clone()));
            }
        }
        self.faults.validate()
    }

    /// The products this configuration describes. Invalid or repeated SKUs
    /// are skipped here (first one wins) so that [`crate::demo::router`] can
    /// stay infallible; `validate` is where they are reported.
    pub fn products(&self) -> Vec<ProductSpec> {
        if self.stock.is_empty() {
            return default_catalogue();
        }
        let mut seen = HashSet::new();
        self.stock
            .iter()
            .filter(|(sku, _)| valid_sku(sku) && seen.insert(sku.clone()))
            .map(|(sku, stock)| ProductSpec {
                sku: sku.clone(),
                name: format!("Product {sku}"),
                price_cents: DEFAULT_PRICE_CENTS,
                stock: *stock,
            })
            .collect()
    }
}

/// Whether `sku` is safe to embed in a URL path without escaping.
pub fn valid_sku(sku: &str) -> bool {
    !sku.is_empty()
        && sku.len() <= MAX_SKU_LEN
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The catalogue used when no stock is configured: two scarce "drops" that a
/// flash crowd fights over, and twenty everyday items with enough stock that
/// a long run does not sell them out.
pub fn default_catalogue() -> Vec<ProductSpec> {
    const EVERYDAY: [&str; 5] = [
        "Glass water bottle",
        "Linen tote bag",
        "Ceramic mug",
        "Wool beanie",
        "Phone grip",
    ];
    let mut products = vec![
        ProductSpec {
            sku: "drop-1".into(),
            name: "Limited sneaker drop".into(),
            price_cents: 14_900,
            stock: 5_000,
        },
        ProductSpec {
            sku: "drop-2".into(),
            name: "Signed vinyl edition".into(),
            price_cents: 4_900,
            stock: 2_000,
        },
    ];
    for i in 1..=20u64 {
        let base = EVERYDAY[(i as usize - 1) % EVERYDAY.len()];
        products.push(ProductSpec {
            sku: format!("sku-{i}"),
            name: format!("{base} #{i}"),
            price_cents: 990 + 250 * i,
            stock: 100_000,
        });
    }
    products
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalogue_has_drops_and_everyday_items() {
        let products = DemoConfig::default().products();
        assert_eq!(products.len(), 22);
        assert_eq!(products[0].sku, "drop-1");
        assert_eq!(products[0].stock, 5_000);
        assert_eq!(products[1].stock, 2_000);
        assert!(products.iter().all(|p| valid_sku(&p.sku)));
    }

    #[test]
    fn validation_reports_bad_and_duplicate_skus() {
        let mut cfg = DemoConfig {
            stock: vec![("a b".into(), 1)],
            ..DemoConfig::default()
        };
        assert_eq!(cfg.validate(), Err(ConfigError::InvalidSku("a b".into())));
        cfg.stock = vec![("x".into(), 1), ("x".into(), 2)];
        assert_eq!(cfg.validate(), Err(ConfigError::DuplicateSku("x".into())));
        assert_eq!(cfg.products().len(), 1);
        assert_eq!(cfg.products()[0].stock, 1);
    }

    #[test]
    fn validation_bounds_the_live_room_settings() {
        assert_eq!(DemoConfig::default().validate(), Ok(()));
        for (queue, ok) in [
            (0, false),
            (1, true),
            (MAX_WS_QUEUE, true),
            (MAX_WS_QUEUE + 1, false),
        ] {
            let cfg = DemoConfig {
                ws_queue: queue,
                ..DemoConfig::default()
            };
            assert_eq!(cfg.validate().is_ok(), ok, "ws_queue {queue}");
        }
        let cfg = DemoConfig {
            ws_max_viewers: 0,
            ..DemoConfig::default()
        };
        assert_eq!(cfg.validate(), Err(ConfigError::NoViewers));
        for p in [SlowPolicy::Lag, SlowPolicy::Disconnect] {
            assert_eq!(SlowPolicy::parse(p.name()), Some(p));
        }
        assert_eq!(SlowPolicy::parse("drop"), None);
    }
}
