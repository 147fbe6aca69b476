//! Running the chaos proxy's control API on a socket, and stopping it and
//! every proxy within a bound.
//!
//! Owns the safety rules applied before anything is bound (a non-loopback
//! API needs a token), the task tracker that every listener and connection
//! joins, and the order of shutdown: cancel, stop accepting, close every
//! proxied connection, wait at most [`SHUTDOWN_GRACE`]. It must not define
//! routes or touch bytes.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::api::{self, ApiState};
use super::registry::{NewProxy, ProxyJson, Registry};
use super::ProxyError;

/// Longest [`ProxyServer::shutdown`] waits for tasks to end.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How to run a proxy server.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Control API address.
    pub listen: SocketAddr,
    /// Seed of every connection's random draws (toxicity, jitter, slices).
    pub seed: u64,
    /// Bearer token required on every request; mandatory off loopback.
    pub token: Option<String>,
    /// Upstreams (`host:port`) proxies may point at; `None` allows all.
    pub allow_upstream: Option<Vec<String>>,
}

impl Default for ProxyOptions {
    fn default() -> ProxyOptions {
        ProxyOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8474)),
            seed: 0,
            token: None,
            allow_upstream: None,
        }
    }
}

/// A running proxy server.
pub struct ProxyServer {
    /// The control API's bound address (useful with port 0).
    pub addr: SocketAddr,
    state: Arc<ApiState>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl ProxyServer {
    /// Checks the options, binds the API and serves it on a tracked task.
    /// Everything stops when `cancel` fires or on [`ProxyServer::shutdown`].
    pub async fn spawn(
        opts: ProxyOptions,
        cancel: CancellationToken,
    ) -> Result<ProxyServer, ProxyError> {
        let token = opts.token.filter(|t| !t.is_empty());
        if !opts.listen.ip().is_loopback() && token.is_none() {
            return Err(ProxyError::TokenRequired(opts.listen));
        }
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|e| ProxyError::Listen(format!("listen tcp {}: {e}", opts.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ProxyError::Listen(format!("listen tcp {}: {e}", opts.listen)))?;
        let cancel = cancel.child_token();
        let tracker = TaskTracker::new();
        let state = Arc::new(ApiState {
            registry: Registry::new(
                opts.seed,
                opts.allow_upstream,
                cancel.clone(),
                tracker.clone(),
            ),
            token,
            request_ids: AtomicU64::new(1),
        });
        let expiry = state.clone();
        let stop_expiry = cancel.clone();
        tracker.spawn(async move { expiry.registry.run_expiry(stop_expiry).await });
        let app = api::router(state.clone());
        let stop = cancel.clone().cancelled_owned();
        tracker.spawn(async move {
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(%err, "proxy API stopped with an error");
            }
        });
        tracing::info!(%addr, "proxy API listening");
        Ok(ProxyServer {
            addr,
            state,
            cancel,
            tracker,
        })
    }

    /// Creates proxies from a `/populate`-style JSON list (a config file).
    pub async fn populate_json(&self, json: &[u8]) -> Result<Vec<ProxyJson>, ProxyError> {
        let list: Vec<NewProxy> =
            serde_json::from_slice(json).map_err(|e| ProxyError::BadBody(e.to_string()))?;
        self.state.registry.populate(list).await.map_err(|(e, _)| e)
    }

    /// Creates a proxy in process (as `POST /proxies` would); returns the
    /// address it listens on.
    pub async fn create_proxy(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<String, ProxyError> {
        let p = NewProxy {
            name: name.to_owned(),
            listen: listen.to_owned(),
            upstream: upstream.to_owned(),
            enabled: Some(true),
        };
        Ok(self.state.registry.create(p).await?.listen)
    }

    /// The toxics of a proxy as the API lists them.
    pub async fn toxics_json(&self, proxy: &str) -> Result<serde_json::Value, ProxyError> {
        let list = self.state.registry.toxics(proxy).await?;
        serde_json::to_value(list).map_err(|e| ProxyError::BadBody(e.to_string()))
    }

    /// Adds a toxic from its API body (`POST /proxies/{p}/toxics`).
    pub async fn add_toxic_json(
        &self,
        proxy: &str,
        body: serde_json::Value,
    ) -> Result<(), ProxyError> {
        let t = serde_json::from_value(body).map_err(|e| ProxyError::BadBody(e.to_string()))?;
        self.state.registry.add_toxic(proxy, t).await.map(|_| ())
    }

    /// Changes a toxic's toxicity and attributes in place, so live
    /// connections keep their bytes (`POST /proxies/{p}/toxics/{t}`).
    pub async fn update_toxic_json(
        &self,
        proxy: &str,
        toxic: &str,
        body: serde_json::Value,
    ) -> Result<(), ProxyError> {
        let u = serde_json::from_value(body).map_err(|e| ProxyError::BadBody(e.to_string()))?;
        self.state
            .registry
            .update_toxic(proxy, toxic, u)
            .await
            .map(|_| ())
    }

    /// Removes a toxic.
    pub async fn delete_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ProxyError> {
        self.state.registry.delete_toxic(proxy, toxic).await
    }

    /// Removes a proxy, closing its connections.
    pub async fn delete_proxy(&self, proxy: &str) -> Result<(), ProxyError> {
        self.state.registry.delete(proxy).await
    }

    /// Stops the API and every proxy, closing all proxied connections;
    /// returns false if some task outlived [`SHUTDOWN_GRACE`].
    pub async fn shutdown(self) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait())
            .await
            .is_ok()
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
