//! An embedded TCP chaos proxy speaking the Toxiproxy v2 HTTP API.
//!
//! Owns the control API (`api`), the set of proxies with their listeners
//! (`registry`), what happens to a connection before its dial and resets
//! (`admit`), its seeded draws (`dice`), waiting on control events without
//! polling them per byte (`attention`), the per-connection pipes that
//! apply toxics (`link`), the toxic definitions (`toxic`) and the server's
//! lifecycle (`server`). It must not know anything about the platform
//! under test: it moves bytes between two sockets and degrades them on
//! request.
//!
//! Differences from Toxiproxy, all deliberate:
//! - randomness is seeded: connection `n` of a proxy draws from generators
//!   derived from the server seed and `n`, and each toxic's toxicity is
//!   decided once per connection (again only if its toxicity changes);
//! - `bandwidth` with `rate: 0` means "no limit" instead of hanging;
//! - attributes are unsigned integers (negative values are a 400);
//! - a proxy created without `listen` binds `127.0.0.1:0`, never every
//!   interface;
//! - an empty `/populate` answers `"proxies": []` rather than `null`, so the
//!   Rust and Node clients can read it;
//! - requests carrying an `Origin` header are refused like browsers are;
//! - removing a toxic cuts its pending waits short, so bytes it was holding
//!   go on at once;
//! - a server holds at most `registry::MAX_CONNECTIONS` proxied connections;
//!   further clients are accepted and closed.
//!
//! Extension toxics (not in Toxiproxy; every attribute an unsigned integer
//! so Toxiproxy clients still parse the proxy; `stream` and a per-connection
//! `toxicity` apply unless said otherwise):
//! - `latency_normal` {`latency`, `stdev`} (ms): each chunk is delayed by a
//!   normal draw, never below zero;
//! - `latency_pareto` {`latency`, `shape_x100`}: each chunk is delayed by
//!   at least `latency`, with a Pareto tail of shape `shape_x100 / 100`
//!   (above 1, so the mean is finite; heavier as it nears 1);
//! - `loss` {`rate_ppm`, `burst`, `rtt`, `rtt_var`, `mss`}: TCP segment loss
//!   as the application feels it. Each chunk is cut into `mss`-byte
//!   segments, each lost with `rate_ppm` / 10^6 (independently, or in
//!   Gilbert–Elliott bursts of mean length `burst` when it is 2 or more);
//!   a loss holds the chunk about one `rtt` if fast retransmit can repair
//!   it, else one retransmission timeout (at least 200 ms, doubling per lost
//!   retransmission). Bytes are never dropped or reordered: later chunks
//!   wait behind a stalled one;
//! - `connect_delay` {`delay`, `jitter`} (ms): a new connection's upstream
//!   dial waits `delay ± jitter` (uniform) from the accept; both streams'
//!   toxics add up; bytes sent meanwhile are forwarded after the dial; open
//!   connections are unaffected;
//! - `blackhole` {}: the stream's bytes are held, not dropped, and the
//!   connection stays open; removing it lets them go on in order. Upstream,
//!   it also holds new connections' dials. Both streams make a partition,
//!   one a half-open link. Held bytes fill a bounded queue, then the proxy
//!   stops reading, so the sender feels back-pressure;
//! - `reset` {}: every connection it applies to is reset (RST to both
//!   peers) as soon as the toxic is added, and new ones right after accept;
//! - `refuse` {}: while present on either stream the listener is closed
//!   (connection refused) and open connections go on; removing it binds the
//!   same address again. Its toxicity is ignored, and the proxy's `enabled`
//!   stays as set.
//!
//! Every toxic also takes `ttl` (ms; 0 or absent means forever): the server
//! removes the toxic once it has been set that long, so a chaos run that
//! dies cannot leave a toxic behind. Updating `ttl` restarts its clock. It
//! is listed in `attributes` only when non-zero. Delays of the extension
//! toxics count from when the chunk reached them unqueued, so they add to a
//! delay before them in the chain; `latency` counts from the chunk's
//! arrival at the proxy, as in Toxiproxy.

mod admit;
mod api;
mod attention;
mod dice;
mod direct;
mod link;
mod registry;
mod server;
pub mod toxic;

use axum::http::StatusCode;

pub use registry::ProxyJson;
pub use server::{ProxyOptions, ProxyServer, SHUTDOWN_GRACE};

/// Version reported by `GET /version`: the Toxiproxy API level implemented.
pub const API_VERSION: &str = "2.12.0";

/// Everything the proxy layer can refuse or fail with. The `Display` text
/// is the exact message Toxiproxy puts in its error bodies.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("bad request body: {0}")]
    BadBody(String),
    #[error("missing required field: {0}")]
    MissingField(String),
    #[error("proxy not found")]
    ProxyNotFound,
    #[error("proxy already exists")]
    ProxyExists,
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    #[error("invalid toxic type")]
    InvalidToxicType,
    /// An extension toxic's value that makes no model (not in Toxiproxy).
    #[error("invalid attribute: {0}")]
    InvalidAttribute(String),
    #[error("toxic already exists")]
    ToxicExists,
    #[error("toxic not found")]
    ToxicNotFound,
    #[error("upstream not allowed: {0}")]
    UpstreamNotAllowed(String),
    #[error("{0}")]
    Listen(String),
    #[error("the API on {0} is not loopback: set a token (--token or FLASHCROWD_PROXY_TOKEN)")]
    TokenRequired(std::net::SocketAddr),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadBody(_)
            | ProxyError::MissingField(_)
            | ProxyError::InvalidStream
            | ProxyError::InvalidToxicType
            | ProxyError::InvalidAttribute(_) => StatusCode::BAD_REQUEST,
            ProxyError::ProxyNotFound | ProxyError::ToxicNotFound => StatusCode::NOT_FOUND,
            ProxyError::ProxyExists | ProxyError::ToxicExists => StatusCode::CONFLICT,
            ProxyError::UpstreamNotAllowed(_) => StatusCode::FORBIDDEN,
            ProxyError::Listen(_) | ProxyError::TokenRequired(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}
