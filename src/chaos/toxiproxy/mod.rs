//! Driving external Toxiproxy-compatible servers through the
//! `toxiproxy_rust` client: one proxy per region on that region's server,
//! kept at the toxics its desired set translates to.
//!
//! Owns every conversation with those servers; `translate` owns what a
//! desired set is in Toxiproxy's terms. Must not block the async runtime
//! or let the client's panics out: the client is blocking and panics on
//! some transport and JSON failures, so every call runs on the blocking
//! pool under [`CALL_TIMEOUT`], and a panic there becomes an error (and a
//! fresh client for that server, since the old one's lock is poisoned).
//!
//! What differs from the embedded backend, forced by Toxiproxy or its
//! client:
//! - `refuse` is the proxy disabled (`enabled: false`): new connections are
//!   refused and Toxiproxy closes the open ones; it is enabled again once no
//!   `refuse` is desired.
//! - `reset` is `reset_peer` with timeout 0. Toxiproxy sends the RST only on
//!   connections that start while the toxic is in place; older ones end
//!   with a plain close.
//! - `blackhole` is `timeout` with timeout 0 on the same stream. Toxiproxy
//!   *discards* the bytes instead of holding them, so nothing arrives late
//!   when the blackhole ends, and removing it closes the connections it
//!   held.
//! - `noop` does nothing and is not sent.
//! - The client names every toxic `<type>_<stream>` and cannot remove a
//!   single one. Specs of the same type on the same stream are therefore
//!   merged: latencies and jitters add up, the lower bandwidth rate, the
//!   shorter `timeout`/`reset_peer` timeout and the smaller `limit_data`
//!   win, `slow_close` delays add up, the finer `slicer` wins, and the
//!   merged toxic takes the higher toxicity. A change replaces the whole
//!   set (remove all, then add): for those few calls the proxy carries
//!   fewer toxics than either state, and live connections see the gap.
//! - Toxics carry no `ttl` (Toxiproxy has none). If the harness dies, they
//!   stay until a later run opens the same proxy (which resets it) or
//!   someone removes them: the harness's own cleanup is the safety net.
//! - The client ignores HTTP statuses when adding toxics, so after each
//!   change the proxy's toxics are read back and compared.
//! - The client has no call for `reset_peer`; that one toxic is posted
//!   directly (same API, same body).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

use super::backend::Backend;
use super::state::Desired;
use super::ChaosError;
use crate::engine::h1::{H1Conn, H1Error};
use crate::scenario::ToxiproxyServers;

mod translate;

use translate::{check, translate, Plan, Toxic};

/// Longest one operation on a server may take (a handful of API calls).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Toxiproxy servers, one API address per region.
pub struct External {
    servers: ToxiproxyServers,
    /// One client per API address (as the scenario spells it), made on
    /// first use.
    clients: Mutex<HashMap<String, Arc<Server>>>,
    /// Every proxy this run created (or took over), by name.
    proxies: Mutex<HashMap<String, Opened>>,
}

/// A server's client.
struct Server {
    /// As the scenario spells it (`host:port`).
    api: String,
    addr: SocketAddr,
    client: Client,
}

struct Opened {
    api: String,
    /// What the proxy was last brought to; `None`: unknown (a change
    /// failed half way), so the next one rewrites everything.
    applied: Option<Plan>,
}

/// How a blocking call went wrong.
enum Failure {
    /// The client returned an error.
    Failed(String),
    /// It panicked or did not finish: its client may be unusable.
    Broken(String),
}

/// Runs `f` on the blocking pool, within [`CALL_TIMEOUT`]. A call that
/// times out keeps running in the background until the client's own
/// timeout ends it; nothing waits for it.
async fn blocking<T, F>(f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    match tokio::time::timeout(CALL_TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(Failure::Failed(e)),
        Ok(Err(e)) => Err(Failure::Broken(format!(
            "the Toxiproxy client failed: {}",
            panic_text(e)
        ))),
        Err(_) => Err(Failure::Broken(format!(
            "no answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    if e.is_cancelled() {
        return "cancelled".into();
    }
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "it panicked".into()),
        Err(_) => "it stopped".into(),
    }
}

impl External {
    /// Nothing is contacted until [`External::open`].
    pub fn new(servers: ToxiproxyServers) -> Self {
        External {
            servers,
            clients: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
        }
    }

    /// Create region `region`'s proxy (index `index`) on its server, in
    /// front of the configured upstream or else `upstream`; returns the
    /// address to dial. A proxy of the same name left by an earlier run is
    /// taken over: its toxics removed, enabled.
    pub async fn open(
        &self,
        index: usize,
        region: &str,
        upstream: SocketAddr,
    ) -> Result<SocketAddr, ChaosError> {
        let Some(api) = self.servers.api.get(index).filter(|a| !a.is_empty()) else {
            return Err(ChaosError::Backend(format!(
                "region `{region}` has no Toxiproxy server"
            )));
        };
        let name = Backend::proxy_name(region);
        let target = self
            .servers
            .upstream
            .clone()
            .unwrap_or_else(|| upstream.to_string());
        // Port 0: the server picks a free one and reports it.
        let listen = format!("{}:0", host_of(api));
        let server = self.server(api).await?;
        // Recorded before the call: a proxy created by a call that then
        // timed out is still removed at the end.
        self.proxies.lock().await.insert(
            name.clone(),
            Opened {
                api: api.clone(),
                applied: None,
            },
        );
        let pack = ProxyPack::new(name.clone(), listen, target);
        let n = name.clone();
        let listen = self
            .call(&server, &name, "create the proxy", move |c| {
                let created = c.populate(vec![pack])?;
                let p = created
                    .into_iter()
                    .find(|p| p.proxy_pack.name == n)
                    .ok_or("the server did not report the proxy it created")?;
                // `/populate` keeps an existing proxy as it is when its
                // address and upstream match (a proxy created disabled
                // keeps `host:0` as its address).
                if p.proxy_pack.enabled && p.proxy_pack.toxics.is_empty() {
                    return Ok(p.proxy_pack.listen.clone());
                }
                p.delete_all_toxics()?;
                p.enable()?;
                // Enabling binds it: only now is its port known.
                Ok(c.find_proxy(&n)?.proxy_pack.listen)
            })
            .await?;
        let addr = self.dial_address(&server, &name, &listen).await?;
        if let Some(o) = self.proxies.lock().await.get_mut(&name) {
            o.applied = Some(Plan::clean());
        }
        Ok(addr)
    }

    /// Bring region `region`'s proxy to `desired` (on the server it was
    /// opened on). Nothing is sent when its translation did not change.
    pub async fn apply(
        &self,
        _index: usize,
        region: &str,
        desired: &Desired,
    ) -> Result<(), ChaosError> {
        let plan = translate(desired)?;
        let name = Backend::proxy_name(region);
        let (api, before) = {
            let mut proxies = self.proxies.lock().await;
            let Some(o) = proxies.get_mut(&name) else {
                return Err(ChaosError::Proxy(name, "was not opened".into()));
            };
            if o.applied.as_ref() == Some(&plan) {
                return Ok(());
            }
            (o.api.clone(), o.applied.take())
        };
        self.reconcile(&api, &name, before.as_ref(), &plan).await?;
        if let Some(o) = self.proxies.lock().await.get_mut(&name) {
            o.applied = Some(plan);
        }
        Ok(())
    }

    /// Remove every proxy this run created. Every one is attempted (at
    /// once, each within [`CALL_TIMEOUT`]); the failures are reported
    /// together.
    pub async fn close(self) -> Result<(), ChaosError> {
        let proxies = std::mem::take(&mut *self.proxies.lock().await);
        let jobs = proxies.into_iter().map(|(name, o)| {
            let this = &self;
            async move {
                let server = this.server(&o.api).await?;
                let n = name.clone();
                this.call(&server, &name, "remove the proxy", move |c| {
                    c.find_proxy(&n)?.delete()
                })
                .await
            }
        });
        let errors: Vec<String> = futures_util::future::join_all(jobs)
            .await
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.to_string())
            .collect();
        // The clients' last handles go on the blocking pool: dropping one
        // joins its I/O thread.
        let clients = std::mem::take(&mut *self.clients.lock().await);
        drop(tokio::task::spawn_blocking(move || drop(clients)));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ChaosError::Backend(errors.join("; ")))
        }
    }

    /// Takes a proxy from `before` (`None`: unknown) to `plan`, in an order
    /// that never lets a connection through a proxy that should refuse,
    /// nor past toxics not yet in place.
    async fn reconcile(
        &self,
        api: &str,
        name: &str,
        before: Option<&Plan>,
        plan: &Plan,
    ) -> Result<(), ChaosError> {
        let disable = !plan.enabled && before.is_none_or(|b| b.enabled);
        let enable = plan.enabled && before.is_none_or(|b| !b.enabled);
        let replace = before.is_none_or(|b| b.toxics != plan.toxics);
        let server = self.server(api).await?;
        let mut direct = Vec::new();
        if disable || replace {
            let (n, toxics) = (name.to_owned(), plan.toxics.clone());
            direct = self
                .call(&server, name, "change the toxics", move |c| {
                    let p = c.find_proxy(&n)?;
                    if disable {
                        p.disable()?;
                    }
                    let mut direct = Vec::new();
                    if replace {
                        p.delete_all_toxics()?;
                        for t in toxics {
                            if !t.add_with(&p) {
                                direct.push(t);
                            }
                        }
                    }
                    Ok(direct)
                })
                .await?;
        }
        for t in &direct {
            post_toxic(&server, name, t).await?;
        }
        if enable || replace {
            let (n, toxics) = (name.to_owned(), plan.toxics.clone());
            self.call(&server, name, "check the toxics", move |c| {
                let p = c.find_proxy(&n)?;
                if replace {
                    check(&p.proxy_pack.toxics, &toxics)?;
                }
                if enable {
                    p.enable()?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// The client for `api`, made (and its address resolved) on first use.
    async fn server(&self, api: &str) -> Result<Arc<Server>, ChaosError> {
        if let Some(s) = self.clients.lock().await.get(api) {
            return Ok(s.clone());
        }
        let fail = |why: String| ChaosError::Backend(format!("Toxiproxy at {api}: {why}"));
        let addr = resolve(api).await.map_err(fail)?;
        // The client builds a blocking HTTP client, which must not happen
        // on a runtime thread.
        let client = blocking(move || Ok(Client::new(addr)))
            .await
            .map_err(|f| match f {
                Failure::Failed(e) | Failure::Broken(e) => fail(e),
            })?;
        let fresh = Arc::new(Server {
            api: api.to_owned(),
            addr,
            client,
        });
        Ok(self
            .clients
            .lock()
            .await
            .entry(api.to_owned())
            .or_insert(fresh)
            .clone())
    }

    /// Runs `f` with `server`'s client; a client that panicked or hung is
    /// replaced for the next call.
    async fn call<T, F>(
        &self,
        server: &Arc<Server>,
        proxy: &str,
        what: &str,
        f: F,
    ) -> Result<T, ChaosError>
    where
        T: Send + 'static,
        F: FnOnce(&Client) -> Result<T, String> + Send + 'static,
    {
        let client = server.client.clone();
        let why = match blocking(move || f(&client)).await {
            Ok(v) => return Ok(v),
            Err(Failure::Failed(e)) => e,
            Err(Failure::Broken(e)) => {
                let mut clients = self.clients.lock().await;
                if clients
                    .get(&server.api)
                    .is_some_and(|s| Arc::ptr_eq(s, server))
                {
                    clients.remove(&server.api);
                }
                e
            }
        };
        Err(ChaosError::Backend(format!(
            "Toxiproxy at {}: proxy {proxy}: cannot {what}: {why}",
            server.api
        )))
    }

    /// Where traffic must go to reach a proxy the server says listens on
    /// `listen`.
    async fn dial_address(
        &self,
        server: &Server,
        proxy: &str,
        listen: &str,
    ) -> Result<SocketAddr, ChaosError> {
        let addr = match listen.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => resolve(listen).await.map_err(|why| {
                ChaosError::Backend(format!(
                    "Toxiproxy at {}: proxy {proxy} listens on `{listen}`: {why}",
                    server.api
                ))
            })?,
        };
        if addr.port() == 0 {
            return Err(ChaosError::Backend(format!(
                "Toxiproxy at {}: proxy {proxy} reports no port (`{listen}`)",
                server.api
            )));
        }
        Ok(reachable(addr, server.addr.ip()))
    }
}

/// The address to dial for a proxy bound to `listen` on a server whose API
/// answers at `api`: an unspecified host, or loopback on a server that is
/// not, means the server's own address.
fn reachable(listen: SocketAddr, api: IpAddr) -> SocketAddr {
    let ip = listen.ip();
    if ip.is_unspecified() || (ip.is_loopback() && !api.is_loopback()) {
        SocketAddr::new(api, listen.port())
    } else {
        listen
    }
}

/// The host part of `host:port` (brackets of an IPv6 address kept).
fn host_of(api: &str) -> &str {
    api.rsplit_once(':').map_or(api, |(h, _)| h)
}

async fn resolve(host_port: &str) -> Result<SocketAddr, String> {
    match tokio::time::timeout(CALL_TIMEOUT, tokio::net::lookup_host(host_port)).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .ok_or_else(|| format!("`{host_port}` resolves to no address")),
        Ok(Err(e)) => Err(format!("cannot resolve `{host_port}`: {e}")),
        Err(_) => Err(format!("resolving `{host_port}` took too long")),
    }
}

/// Adds a toxic the client has no call for, with the request it would
/// have made, and checks the status it ignores.
async fn post_toxic(server: &Server, proxy: &str, t: &Toxic) -> Result<(), ChaosError> {
    let body = t.json().to_string();
    let request = format!(
        "POST /proxies/{proxy}/toxics HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        server.api,
        body.len()
    );
    let exchange = async {
        let mut conn = H1Conn::connect(server.addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        let head = conn
            .exchange(request.as_bytes(), false, true, &mut reply)
            .await
            .map_err(|e| match e {
                H1Error::Io => "the connection failed".to_owned(),
                H1Error::Protocol => "the reply was not HTTP/1.1".to_owned(),
            })?;
        if (200..300).contains(&head.status) {
            Ok(())
        } else {
            Err(format!(
                "HTTP {}: {}",
                head.status,
                String::from_utf8_lossy(&reply).trim()
            ))
        }
    };
    let why = match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e,
        Err(_) => format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
    };
    Err(ChaosError::Backend(format!(
        "Toxiproxy at {}: proxy {proxy}: cannot add `{}`: {why}",
        server.api,
        t.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_listen_address_is_made_reachable() {
        let api: IpAddr = [10, 0, 0, 5].into();
        let lo: IpAddr = [127, 0, 0, 1].into();
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(reachable(at("0.0.0.0:4100"), api), at("10.0.0.5:4100"));
        assert_eq!(reachable(at("127.0.0.1:4100"), api), at("10.0.0.5:4100"));
        assert_eq!(reachable(at("127.0.0.1:4100"), lo), at("127.0.0.1:4100"));
        assert_eq!(reachable(at("[::]:4100"), lo), at("127.0.0.1:4100"));
        assert_eq!(reachable(at("10.0.0.9:4100"), api), at("10.0.0.9:4100"));
    }

    #[test]
    fn host_keeps_ipv6_brackets() {
        assert_eq!(host_of("10.0.0.5:8474"), "10.0.0.5");
        assert_eq!(host_of("[::1]:8474"), "[::1]");
        assert_eq!(host_of("toxiproxy:8474"), "toxiproxy");
    }
}
