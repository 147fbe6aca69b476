//! An embedded TCP chaos proxy speaking the Toxiproxy v2 HTTP API.
//!
//! Owns the control API (`api`), the set of proxies with their listeners
//! (`registry`), the per-connection pipes that apply toxics (`link`), the
//! toxic definitions (`toxic`) and the server's lifecycle (`server`). It
//! must not know anything about the platform under test: it moves bytes
//! between two sockets and degrades them on request.
//!
//! Differences from Toxiproxy, all deliberate:
//! - randomness is seeded: connection `n` of a proxy draws from a generator
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

mod api;
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
            | ProxyError::InvalidToxicType => StatusCode::BAD_REQUEST,
            ProxyError::ProxyNotFound | ProxyError::ToxicNotFound => StatusCode::NOT_FOUND,
            ProxyError::ProxyExists | ProxyError::ToxicExists => StatusCode::CONFLICT,
            ProxyError::UpstreamNotAllowed(_) => StatusCode::FORBIDDEN,
            ProxyError::Listen(_) | ProxyError::TokenRequired(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}
