//! The demo platform's shared state: one `Arc<State>` that every handler
//! receives.
//!
//! Owns construction from a [`DemoConfig`] and nothing else: each field is
//! its own module's concern. It must not grow behaviour of its own.

use std::time::Duration;

use super::cart::Carts;
use super::catalog::Catalog;
use super::clock::Clock;
use super::config::{DemoConfig, SlowPolicy};
use super::faults::FaultDice;
use super::idempotency::IdempotencyTable;
use super::live::{Lifecycle, ViewerSlots};
use super::orders::OrderBook;
use super::payment::Payment;
use super::rooms::Rooms;

/// Everything a request may read or change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) clock: Clock,
    pub(crate) catalog: Catalog,
    pub(crate) rooms: Rooms,
    pub(crate) carts: Carts,
    pub(crate) orders: OrderBook,
    pub(crate) idempotency: IdempotencyTable,
    pub(crate) payment: Payment,
    pub(crate) dice: FaultDice,
    pub(crate) tracking_step: Duration,
    pub(crate) viewer_slots: ViewerSlots,
    pub(crate) slow_policy: SlowPolicy,
    pub(crate) lifecycle: Lifecycle,
}

impl State {
    /// State whose viewer tasks nobody stops: they end with their sockets.
    pub(crate) fn new(cfg: &DemoConfig) -> Self {
        Self::with_lifecycle(cfg, Lifecycle::default())
    }

    pub(crate) fn with_lifecycle(cfg: &DemoConfig, lifecycle: Lifecycle) -> Self {
        let catalog = Catalog::new(cfg.products());
        let orders = OrderBook::new(catalog.all().iter().map(|p| p.sku.as_str()));
        State {
            clock: Clock::new(),
            rooms: Rooms::new().with_live(cfg.ws_queue, lifecycle.stop.clone()),
            carts: Carts::new(),
            orders,
            catalog,
            idempotency: IdempotencyTable::new(),
            payment: Payment::new(cfg.payment_slots, cfg.payment_latency),
            dice: FaultDice::new(cfg.faults, cfg.seed),
            tracking_step: cfg.tracking_step,
            viewer_slots: ViewerSlots::new(cfg.ws_max_viewers),
            slow_policy: cfg.ws_slow_policy,
            lifecycle,
        }
    }
}
