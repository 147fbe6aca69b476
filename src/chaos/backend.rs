//! The proxies that carry the regions' traffic: flashcrowd's own proxy in
//! process ([`Embedded`]), or Toxiproxy-compatible servers elsewhere
//! ([`super::toxiproxy::External`]). Both take the same calls: open a
//! region's proxy, bring its toxics to a desired set, and remove all that
//! was created.
//!
//! Owns reconciling a desired set with what a proxy has: toxics that stay
//! are updated in place (live connections keep their bytes), others are
//! added or removed. Must not decide what the set is (`state` does) or
//! when (`timeline` does).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::state::{Desired, ToxicSpec};
use super::toxiproxy::External;
use super::ChaosError;
use crate::proxy::{ProxyOptions, ProxyServer};

/// Either kind of proxy server.
pub enum Backend {
    Embedded(Embedded),
    External(External),
}

impl Backend {
    /// Create region `region`'s proxy (index `index`) in front of
    /// `upstream`; returns the address the region's traffic must dial.
    pub async fn open(
        &self,
        index: usize,
        region: &str,
        upstream: SocketAddr,
    ) -> Result<SocketAddr, ChaosError> {
        match self {
            Backend::Embedded(b) => b.open(region, upstream).await,
            Backend::External(b) => b.open(index, region, upstream).await,
        }
    }

    /// Bring a region's proxy to exactly `desired`.
    pub async fn apply(
        &self,
        index: usize,
        region: &str,
        desired: &Desired,
    ) -> Result<(), ChaosError> {
        match self {
            Backend::Embedded(b) => b.apply(region, desired).await,
            Backend::External(b) => b.apply(index, region, desired).await,
        }
    }

    /// Remove every toxic and proxy this run created. Bounded: each server
    /// call has a timeout.
    pub async fn close(self) -> Result<(), ChaosError> {
        match self {
            Backend::Embedded(b) => b.close().await,
            Backend::External(b) => b.close().await,
        }
    }

    /// Name of a region's proxy.
    pub fn proxy_name(region: &str) -> String {
        format!("flashcrowd-{region}")
    }
}

/// flashcrowd's own proxy server, in process, on loopback.
pub struct Embedded {
    server: ProxyServer,
    /// The proxies this run opened.
    opened: Mutex<Vec<String>>,
    /// Safety net for the toxics (the server removes them itself).
    ttl: Option<Duration>,
}

impl Embedded {
    /// Start the server (its API on a loopback port nobody else is told
    /// about), seeded like the run.
    pub async fn start(
        seed: u64,
        ttl: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<Embedded, ChaosError> {
        let opts = ProxyOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed,
            token: None,
            allow_upstream: None,
        };
        let server = ProxyServer::spawn(opts, cancel)
            .await
            .map_err(|e| ChaosError::Backend(e.to_string()))?;
        Ok(Embedded {
            server,
            opened: Mutex::new(Vec::new()),
            ttl,
        })
    }

    async fn open(&self, region: &str, upstream: SocketAddr) -> Result<SocketAddr, ChaosError> {
        let name = Backend::proxy_name(region);
        let listen = self
            .server
            .create_proxy(&name, "127.0.0.1:0", &upstream.to_string())
            .await
            .map_err(|e| ChaosError::Proxy(name.clone(), e.to_string()))?;
        self.opened.lock().await.push(name.clone());
        listen
            .parse()
            .map_err(|_| ChaosError::Proxy(name, format!("unexpected listen address `{listen}`")))
    }

    /// Reconciles with what the server has now (not with what was last
    /// asked for), so a change that failed halfway, or a toxic that expired,
    /// is repaired by the next one.
    async fn apply(&self, region: &str, desired: &Desired) -> Result<(), ChaosError> {
        let name = Backend::proxy_name(region);
        let fail = |e: crate::proxy::ProxyError| ChaosError::Proxy(name.clone(), e.to_string());
        let have = self.server.toxics_json(&name).await.map_err(fail)?;
        let have: Vec<Have> = serde_json::from_value(have)
            .map_err(|e| ChaosError::Proxy(name.clone(), e.to_string()))?;
        // Removed first, so a toxic that changes type under the same name
        // is re-created rather than updated.
        for old in &have {
            let keep = desired
                .iter()
                .any(|t| t.name == old.name && t.kind == old.kind && t.stream() == old.stream);
            if !keep {
                self.server
                    .delete_toxic(&name, &old.name)
                    .await
                    .or_else(not_found_is_gone)
                    .map_err(fail)?;
            }
        }
        for t in desired {
            match have.iter().find(|o| o.name == t.name) {
                Some(o) if o.kind == t.kind && o.stream == t.stream() => {
                    if o.same(t) {
                        continue;
                    }
                    let body = serde_json::json!({
                        "toxicity": t.toxicity,
                        "attributes": update_attrs(t),
                    });
                    self.server
                        .update_toxic_json(&name, &t.name, body)
                        .await
                        .map_err(fail)?;
                }
                _ => self
                    .server
                    .add_toxic_json(&name, t.to_json(self.ttl))
                    .await
                    .map_err(fail)?,
            }
        }
        Ok(())
    }

    async fn close(self) -> Result<(), ChaosError> {
        let names: Vec<String> = self.opened.lock().await.clone();
        for name in names {
            // Deleting the proxy removes its toxics and closes its
            // connections.
            let _ = self.server.delete_proxy(&name).await;
        }
        if self.server.shutdown().await {
            Ok(())
        } else {
            Err(ChaosError::Backend(
                "the chaos proxy did not stop in time".into(),
            ))
        }
    }
}

/// A toxic as the server lists it.
#[derive(serde::Deserialize)]
struct Have {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    stream: String,
    toxicity: f32,
    #[serde(default)]
    attributes: HashMap<String, serde_json::Value>,
}

impl Have {
    fn same(&self, t: &ToxicSpec) -> bool {
        self.toxicity == t.toxicity
            && t.attributes
                .iter()
                .all(|(k, v)| self.attributes.get(k).and_then(|x| x.as_u64()) == Some(*v))
    }
}

fn update_attrs(t: &ToxicSpec) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in &t.attributes {
        m.insert(k.clone(), (*v).into());
    }
    serde_json::Value::Object(m)
}

/// A toxic that expired (its TTL) or was removed by hand is already gone.
fn not_found_is_gone(e: crate::proxy::ProxyError) -> Result<(), crate::proxy::ProxyError> {
    match e {
        crate::proxy::ProxyError::ToxicNotFound => Ok(()),
        other => Err(other),
    }
}
