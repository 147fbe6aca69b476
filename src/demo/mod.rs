//! The embedded demo platform: a small but real live-commerce backend
//! (products with stock, live rooms with comments and a WebSocket audience,
//! carts, idempotent checkout, orders, tracking, inventory read-outs) served
//! over HTTP/1.1.
//!
//! It gives the quick start, tests and benchmarks a known target, and can
//! switch on seeded faults so invariant checks have something to catch
//! (see [`FaultName`]; each breaks one invariant). With every fault off,
//! each number it exposes obeys `initial == remaining + reserved + sold`
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
//! | GET | `/api/rooms/{room}` (feed and live counters) | 200 |
//! | GET, POST | `/api/rooms/{room}/comments` | 200, 201 |
//! | POST | `/api/rooms/{room}/disconnect` (close every viewer with 1012) | 200 `{"closed":n}` |
//! | GET | `/ws/live/{room}?user=` (WebSocket upgrade) | 101 |
//! | POST | `/api/cart` | 200 |
//! | GET | `/api/cart/{user}` | 200 |
//! | POST | `/api/checkout` (optional `Idempotency-Key`) | 201 (replay: same status and body, `Idempotent-Replayed: true`) |
//! | GET | `/api/orders?sku=&key=&after=&limit=`, `/api/orders/{id}`, `/api/orders/{id}/tracking` | 200 |
//! | GET | `/api/inventory`, `/api/inventory/{sku}` | 200 |
//!
//! Errors are `{"error": "<code>", "message": "..."}` with 400 (malformed
//! JSON, query or path), 402 (payment declined), 404 (unknown route, SKU,
//! order or room), 405, 409 (`sold_out`, `request_in_progress`), 413, 422
//! (invalid field, wrong body shape, `idempotency_key_mismatch`), 426
//! (`upgrade_required`: a plain request to `/ws/live/{room}`), 500 or 503
//! (`capacity_exhausted`).
//!
//! # Live rooms over WebSocket
//!
//! `GET /ws/live/{room}?user=<name>` upgrades to a WebSocket. The room id is
//! checked like every room id (400) and joining creates the room (503 past
//! [`MAX_ROOMS`]); `user` follows the comment rules (422), and without it the
//! viewer is called `viewer-<n>`. Past `ws_max_viewers` sockets on the whole
//! platform the upgrade is refused with 503 `capacity_exhausted`. All of
//! these are ordinary JSON errors, sent before any upgrade.
//!
//! Every frame is a JSON text frame:
//!
//! - On joining, the viewer gets
//!   `{"type":"welcome","room":R,"viewer":n,"viewers":v}`: `n` is unique in
//!   the room (1, 2, …), `v` counts the viewers now, this one included.
//! - A viewer sends an object whose string `type` is `comment`, `like` or
//!   `vote`; a comment also needs a `text` of 1..=[`MAX_COMMENT_CHARS`]
//!   characters and is appended to the room's comment feed, exactly as if
//!   posted over HTTP. Every *other* viewer of the room (never the sender)
//!   receives the object with all its fields unchanged, nested or not, plus
//!   `seq` (the room's broadcast number: 1, 2, … in delivery order), `room`,
//!   `user` (the sender) and `at` (RFC 3339, a comment's feed timestamp);
//!   these four replace client fields of the same name. The server parses
//!   and re-encodes the JSON, so values are kept but not their spelling
//!   (`1.50` arrives as `1.5`) or key order. Comments posted over HTTP go to
//!   the feed only; they are not broadcast.
//! - A refused frame (not JSON, not an object, missing or unknown `type`,
//!   bad comment text, a binary frame, more than [`MAX_MESSAGE_BYTES`]) gets
//!   `{"type":"error","error":"<code>","message":"..."}`, to the sender only,
//!   and the socket stays open. A frame over [`MAX_WIRE_BYTES`] closes it
//!   with 1009. Pings get pongs; a client's close is answered.
//! - A viewer more than `ws_queue` messages behind (rounded up to a power of
//!   two) is handled by `ws_slow_policy`: `lag` skips the oldest messages it
//!   missed and sends `{"type":"lagged","missed":n}` before the next one it
//!   does get; `disconnect` closes it with 1008 "too slow". Each broadcast
//!   is encoded once and shared by every viewer's queue.
//! - `POST /api/rooms/{room}/disconnect` closes every viewer of the room
//!   with 1012 (to rehearse reconnect storms); stopping the server closes
//!   every viewer with 1001, within [`SHUTDOWN_GRACE`].
//!
//! `GET /api/rooms/{room}` adds the room's live counters: `viewers` (now),
//! `joined`, `broadcasts` (messages accepted), `likes`, `votes`,
//! `deliveries` (broadcast frames written to viewers), `dropped` (skipped
//! under `lag`), `slow_disconnects` and `admin_disconnects`. Once every
//! viewer has caught up, and while nobody joins or leaves, each broadcast
//! adds its number of other viewers to `deliveries + dropped`.

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
pub mod readout;
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
pub use faults::{fault_names, parse_fault, FaultName, FaultSpecError, Faults};
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
