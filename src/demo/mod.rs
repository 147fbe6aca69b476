//! The embedded demo platform: a small but real live-commerce backend
//! (products with stock, live rooms with comments, carts, idempotent
//! checkout, orders, tracking, inventory read-outs) served over HTTP/1.1.
//!
//! It gives the quick start, tests and benchmarks a known target, and can
//! switch on seeded faults so invariant checks have something to catch.
//! Every number it exposes obeys `initial == remaining + reserved + sold`
//! and, at rest, `sold == Σ qty of listed orders`.
//!
//! Capacity is deliberate: checkout holds one of `payment_slots` for
//! `payment_latency`, so it saturates near `payment_slots / payment_latency`
//! orders per second; every other endpoint is in-memory work far cheaper
//! than the load generator sending it.
//!
//! This module must not be imported by anything except the command line
//! and tests; it owns no measurement and no verdict.
//!
//! # Endpoints
//!
//! | Method | Path | Success |
//! |---|---|---|
//! | GET | `/api/health` | 200 `{"status":"ok"}` |
//! | GET | `/api/products`, `/api/products/{sku}` | 200 |
//! | GET | `/api/rooms/{room}` | 200 |
//! | GET, POST | `/api/rooms/{room}/comments` | 200, 201 |
//! | POST | `/api/cart` | 200 |
//! | GET | `/api/cart/{user}` | 200 |
//! | POST | `/api/checkout` (optional `Idempotency-Key`) | 201 (replay: same status and body, `Idempotent-Replayed: true`) |
//! | GET | `/api/orders?sku=&key=&after=&limit=`, `/api/orders/{id}`, `/api/orders/{id}/tracking` | 200 |
//! | GET | `/api/inventory`, `/api/inventory/{sku}` | 200 |
//!
//! Errors are `{"error": "<code>", "message": "..."}` with 400 (malformed
//! JSON, query or path), 402 (payment declined), 404 (unknown route, SKU or
//! order), 405, 409 (`sold_out`, `request_in_progress`), 413, 422 (invalid
//! field, wrong body shape, `idempotency_key_mismatch`), 500 or 503
//! (`capacity_exhausted`).

#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod cart;
mod catalog;
mod checkout;
mod clock;
mod config;
mod error;
mod faults;
mod frames;
mod idempotency;
mod live;
mod orders;
mod payment;
mod requests;
mod rooms;
mod routes;
mod server;
mod shard;
mod state;
mod tracking;
mod viewer;

use std::sync::Arc;

pub use cart::{MAX_CARTS, MAX_CART_LINES, MAX_LINE_QTY};
pub use checkout::{KEY_WAIT, MAX_CHECKOUT_QTY};
pub use config::{
    default_catalogue, ConfigError, DemoConfig, ProductSpec, SlowPolicy, CURRENCY,
    DEFAULT_WS_QUEUE, MAX_WS_QUEUE,
};
pub use error::DemoError;
pub use faults::Faults;
pub use idempotency::MAX_KEY_LEN;
pub use orders::{MAX_ORDERS, MAX_ORDER_PAGE};
pub use requests::{MAX_BODY_BYTES, MAX_USER_CHARS};
pub use rooms::{MAX_COMMENT_CHARS, MAX_COMMENT_PAGE, MAX_RETAINED_COMMENTS, MAX_ROOMS};
pub use server::{DemoServer, SHUTDOWN_GRACE};
pub use tracking::TrackingStatus;
pub use viewer::{MAX_MESSAGE_BYTES, MAX_WIRE_BYTES};

/// The demo platform as an axum router with fresh state, for serving on a
/// custom listener or calling in-process. Invalid SKUs in `cfg` are skipped
/// here; use [`DemoConfig::validate`] (as [`DemoServer::spawn`] does) to
/// report them instead. WebSocket viewers of a router served this way end
/// only with their connections; [`DemoServer`] also closes them when it
/// stops.
pub fn router(cfg: DemoConfig) -> axum::Router {
    routes::build(Arc::new(state::State::new(&cfg)))
}

/// The router over state whose viewer tasks run under `lifecycle`.
fn router_with(cfg: &DemoConfig, lifecycle: live::Lifecycle) -> axum::Router {
    routes::build(Arc::new(state::State::with_lifecycle(cfg, lifecycle)))
}
