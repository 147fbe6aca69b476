//! The set of proxies: their configuration, listeners and toxic chains.
//!
//! Owns every state change the API asks for (create, populate, update,
//! delete, reset, toxics), the listener and connection tasks they start
//! or stop, closing a listener while a `refuse` toxic is present, and
//! removing toxics whose `ttl` ran out (one expiry task per server, see
//! [`Registry::run_expiry`]). The lock is held only for bookkeeping,
//! resolving and binding a listen address, and waiting (bounded) for an
//! accept loop to let go of its socket; never for anything that depends on
//! traffic, which reads its toxics through `watch` channels instead. It
//! must not speak HTTP.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admit::{self, Admission};
use super::attention;
use super::dice::{self, Dice, Lane};
use super::link::{self, Chain, Stop};
use super::toxic::{Kind, NewToxic, Stream, Toxic, ToxicJson, ToxicUpdate};
use super::ProxyError;

/// Bound on dialing the upstream for one accepted connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bound on waiting for a stopped accept loop to release its socket.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Most proxied connections open at once across all proxies of a server;
/// beyond it new clients are accepted and closed at once, so a flood cannot
/// take every file descriptor of the process.
pub const MAX_CONNECTIONS: usize = 50_000;

/// Pause after a failed accept (e.g. out of descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// A proxy as sent to clients: Toxiproxy's field order, toxics included.
#[derive(Serialize)]
pub struct ProxyJson {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<ToxicJson>,
}

/// Body of `POST /proxies` and one element of `/populate`.
#[derive(Deserialize, Debug, Clone)]
pub struct NewProxy {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub listen: String,
    #[serde(default)]
    pub upstream: String,
    pub enabled: Option<bool>,
}

/// Body of `POST|PATCH /proxies/{p}`: omitted fields keep their values.
#[derive(Deserialize, Debug, Default)]
pub struct ProxyUpdate {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub enabled: Option<bool>,
}

/// An enabled proxy. It exists exactly while the proxy is enabled, so the
/// JSON `enabled` stays what the user set even while `refuse` has closed
/// the listener.
struct Running {
    /// Parent of the accept loop and of every connection: disabling
    /// cancels it and so closes them all.
    cancel: CancellationToken,
    /// Shared by every connection of this run, across listener re-binds.
    ctx: Arc<ConnCtx>,
    /// The accept loop; `None` while a `refuse` toxic holds the listener
    /// closed.
    accept: Option<Accept>,
}

struct Accept {
    /// Stops only the accept loop; connections go on.
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Accept {
    /// Waits (bounded) for the loop to drop its listener, so the port is
    /// free (or refusing) when this returns.
    async fn stop(self, proxy: &str) {
        self.stop.cancel();
        if tokio::time::timeout(STOP_WAIT, self.task).await.is_err() {
            tracing::warn!(%proxy, "accept loop slow to stop");
        }
    }
}

struct Entry {
    name: String,
    listen: String,
    upstream: String,
    toxics: Vec<Toxic>,
    /// When each toxic with a `ttl` expires, by toxic id.
    expiry: HashMap<u64, Instant>,
    /// Upstream and downstream chains, read by live connections.
    chains: [watch::Sender<Chain>; 2],
    running: Option<Running>,
}

impl Entry {
    fn to_json(&self) -> ProxyJson {
        let ordered = self
            .toxics
            .iter()
            .filter(|t| t.stream == Stream::Upstream)
            .chain(
                self.toxics
                    .iter()
                    .filter(|t| t.stream == Stream::Downstream),
            );
        ProxyJson {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.running.is_some(),
            toxics: ordered.map(Toxic::to_json).collect(),
        }
    }

    /// Publishes the toxics to live connections, one chain per direction.
    fn publish(&self) {
        for (i, stream) in [Stream::Upstream, Stream::Downstream]
            .into_iter()
            .enumerate()
        {
            let chain: Vec<Toxic> = self
                .toxics
                .iter()
                .filter(|t| t.stream == stream)
                .cloned()
                .collect();
            if let Some(tx) = self.chains.get(i) {
                tx.send_replace(Arc::new(chain));
            }
        }
    }

    async fn stop(&mut self) {
        if let Some(run) = self.running.take() {
            run.cancel.cancel();
            // The accept loop ends at its next poll; waiting for it frees the
            // port so a restart on the same address can bind it.
            if let Some(accept) = run.accept {
                accept.stop(&self.name).await;
            }
        }
    }

    /// Whether a `refuse` toxic is present. Its toxicity is ignored: a
    /// listener is either open or closed for everyone.
    fn refused(&self) -> bool {
        self.toxics.iter().any(|t| t.kind == Kind::Refuse)
    }

    /// Removes toxic `id` from the chains, with its expiry.
    fn remove_toxic(&mut self, id: u64) {
        self.toxics.retain(|t| t.id != id);
        self.expiry.remove(&id);
        self.publish();
    }

    /// (Re)arms or clears a toxic's expiry for a `ttl` just set.
    fn arm(&mut self, id: u64, ttl: u64) {
        if ttl == 0 {
            self.expiry.remove(&id);
        } else {
            self.expiry
                .insert(id, Instant::now() + Duration::from_millis(ttl));
        }
    }
}

/// All proxies of one server.
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Entry>>,
    seed: u64,
    allow: Option<Vec<String>>,
    next_toxic: AtomicU64,
    slots: Arc<Semaphore>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Wakes the expiry task when a `ttl` is set.
    expiry_changed: Notify,
}

impl Registry {
    pub fn new(
        seed: u64,
        allow: Option<Vec<String>>,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> Registry {
        Registry {
            proxies: Mutex::new(BTreeMap::new()),
            seed,
            allow,
            next_toxic: AtomicU64::new(1),
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            cancel,
            tracker,
            expiry_changed: Notify::new(),
        }
    }

    fn check_upstream(&self, upstream: &str) -> Result<(), ProxyError> {
        match &self.allow {
            Some(list) if !list.iter().any(|a| a.eq_ignore_ascii_case(upstream)) => {
                Err(ProxyError::UpstreamNotAllowed(upstream.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// `POST /proxies`.
    pub async fn create(&self, p: NewProxy) -> Result<ProxyJson, ProxyError> {
        validate(&p, None)?;
        self.check_upstream(&p.upstream)?;
        let mut map = self.proxies.lock().await;
        if map.contains_key(&p.name) {
            return Err(ProxyError::ProxyExists);
        }
        let entry = self.start_new(p).await?;
        let json = entry.to_json();
        map.insert(entry.name.clone(), entry);
        Ok(json)
    }

    async fn start_new(&self, p: NewProxy) -> Result<Entry, ProxyError> {
        let (up, _) = watch::channel(Arc::new(Vec::new()));
        let (down, _) = watch::channel(Arc::new(Vec::new()));
        let mut entry = Entry {
            listen: if p.listen.is_empty() {
                // Toxiproxy would bind every interface; loopback is safer.
                "127.0.0.1:0".to_string()
            } else {
                p.listen
            },
            name: p.name,
            upstream: p.upstream,
            toxics: Vec::new(),
            expiry: HashMap::new(),
            chains: [up, down],
            running: None,
        };
        if p.enabled.unwrap_or(true) {
            self.start(&mut entry).await?;
        }
        Ok(entry)
    }

    /// Enables the entry: binds its listen address and starts its accept
    /// loop (unless a `refuse` toxic keeps it closed); the entry's
    /// `listen` becomes the address actually bound.
    async fn start(&self, e: &mut Entry) -> Result<(), ProxyError> {
        let ctx = Arc::new(ConnCtx {
            proxy: e.name.clone(),
            upstream: e.upstream.clone(),
            seed: self.seed,
            chains: [e.chains[0].subscribe(), e.chains[1].subscribe()],
            slots: self.slots.clone(),
            accepted: AtomicU64::new(0),
        });
        e.running = Some(Running {
            cancel: self.cancel.child_token(),
            ctx,
            accept: None,
        });
        if let Err(err) = self.sync_listener(e).await {
            if let Some(run) = e.running.take() {
                run.cancel.cancel();
            }
            return Err(err);
        }
        Ok(())
    }

    /// Opens or closes an enabled proxy's listener to match its `refuse`
    /// toxics; open connections are left alone either way. Re-opening
    /// binds the address bound before, as re-enabling does.
    async fn sync_listener(&self, e: &mut Entry) -> Result<(), ProxyError> {
        let refused = e.refused();
        let Some(run) = e.running.as_mut() else {
            return Ok(());
        };
        if refused {
            if let Some(accept) = run.accept.take() {
                accept.stop(&e.name).await;
                tracing::info!(proxy = %e.name, "listener closed: refusing connections");
            }
            return Ok(());
        }
        if run.accept.is_some() {
            return Ok(());
        }
        let addr = resolve(&e.listen).await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|err| ProxyError::Listen(format!("listen tcp {addr}: bind: {err}")))?;
        let bound = listener
            .local_addr()
            .map_err(|err| ProxyError::Listen(format!("listen tcp {addr}: {err}")))?;
        e.listen = bound.to_string();
        let stop = run.cancel.child_token();
        let task = self.tracker.spawn(accept_loop(
            listener,
            run.ctx.clone(),
            stop.clone(),
            run.cancel.clone(),
            self.tracker.clone(),
        ));
        tracing::info!(proxy = %e.name, listen = %bound, upstream = %e.upstream, "proxy listening");
        run.accept = Some(Accept { stop, task });
        Ok(())
    }

    /// `POST /populate`: on failure, the error and the proxies handled
    /// before it (which stay).
    pub async fn populate(
        &self,
        list: Vec<NewProxy>,
    ) -> Result<Vec<ProxyJson>, (ProxyError, Vec<ProxyJson>)> {
        for (i, p) in list.iter().enumerate() {
            validate(p, Some(i + 1)).map_err(|e| (e, Vec::new()))?;
            self.check_upstream(&p.upstream)
                .map_err(|e| (e, Vec::new()))?;
        }
        let mut map = self.proxies.lock().await;
        let mut done = Vec::with_capacity(list.len());
        for p in list {
            if let Some(existing) = map.get_mut(&p.name) {
                let same_listen = match resolve(&p.listen).await {
                    Ok(addr) => addr.to_string() == existing.listen,
                    Err(_) => p.listen == existing.listen,
                };
                if same_listen && p.upstream == existing.upstream {
                    done.push(existing.to_json());
                    continue;
                }
                existing.stop().await;
                map.remove(&p.name);
            }
            match self.start_new(p).await {
                Ok(entry) => {
                    done.push(entry.to_json());
                    map.insert(entry.name.clone(), entry);
                }
                Err(e) => return Err((e, done)),
            }
        }
        Ok(done)
    }

    /// `GET /proxies`.
    pub async fn list(&self) -> BTreeMap<String, ProxyJson> {
        let map = self.proxies.lock().await;
        map.iter().map(|(k, e)| (k.clone(), e.to_json())).collect()
    }

    /// `GET /proxies/{p}`.
    pub async fn get(&self, name: &str) -> Result<ProxyJson, ProxyError> {
        let map = self.proxies.lock().await;
        map.get(name)
            .map(Entry::to_json)
            .ok_or(ProxyError::ProxyNotFound)
    }

    /// `POST|PATCH /proxies/{p}`: a new listen or upstream restarts the
    /// proxy (dropping its connections); `enabled` starts or stops it.
    pub async fn update(&self, name: &str, u: ProxyUpdate) -> Result<ProxyJson, ProxyError> {
        if let Some(up) = u.upstream.as_deref().filter(|s| !s.is_empty()) {
            self.check_upstream(up)?;
        }
        let mut map = self.proxies.lock().await;
        let e = map.get_mut(name).ok_or(ProxyError::ProxyNotFound)?;
        let mut restart = false;
        if let Some(listen) = u.listen.filter(|s| !s.is_empty()) {
            let same = match resolve(&listen).await {
                Ok(addr) => addr.to_string() == e.listen,
                Err(_) => listen == e.listen,
            };
            if !same {
                e.listen = listen;
                restart = true;
            }
        }
        if let Some(upstream) = u.upstream.filter(|s| !s.is_empty()) {
            if upstream != e.upstream {
                e.upstream = upstream;
                restart = true;
            }
        }
        let enable = u.enabled.unwrap_or(e.running.is_some());
        if restart || !enable {
            e.stop().await;
        }
        if enable && e.running.is_none() {
            self.start(e).await?;
        }
        Ok(e.to_json())
    }

    /// `DELETE /proxies/{p}`.
    pub async fn delete(&self, name: &str) -> Result<(), ProxyError> {
        let mut map = self.proxies.lock().await;
        let mut e = map.remove(name).ok_or(ProxyError::ProxyNotFound)?;
        e.stop().await;
        Ok(())
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Result<(), ProxyError> {
        let mut map = self.proxies.lock().await;
        for e in map.values_mut() {
            e.toxics.clear();
            e.expiry.clear();
            e.publish();
            if e.running.is_none() {
                self.start(e).await?;
            } else {
                self.sync_listener(e).await?;
            }
        }
        Ok(())
    }

    /// `GET /proxies/{p}/toxics`.
    pub async fn toxics(&self, name: &str) -> Result<Vec<ToxicJson>, ProxyError> {
        self.get(name).await.map(|p| p.toxics)
    }

    /// `POST /proxies/{p}/toxics`: appended to its direction's chain and
    /// applied to live connections at their next chunk.
    pub async fn add_toxic(&self, name: &str, t: NewToxic) -> Result<ToxicJson, ProxyError> {
        let mut map = self.proxies.lock().await;
        let e = map.get_mut(name).ok_or(ProxyError::ProxyNotFound)?;
        let toxic = t.into_toxic(self.next_toxic.fetch_add(1, Ordering::Relaxed))?;
        if e.toxics.iter().any(|x| x.name == toxic.name) {
            return Err(ProxyError::ToxicExists);
        }
        let json = toxic.to_json();
        let (id, ttl, refuse) = (toxic.id, toxic.ttl, toxic.kind == Kind::Refuse);
        e.toxics.push(toxic);
        e.arm(id, ttl);
        e.publish();
        if ttl > 0 {
            self.expiry_changed.notify_one();
        }
        if refuse {
            // Closing cannot fail; only re-opening binds.
            self.sync_listener(e).await?;
        }
        Ok(json)
    }

    /// `GET /proxies/{p}/toxics/{t}`.
    pub async fn get_toxic(&self, name: &str, toxic: &str) -> Result<ToxicJson, ProxyError> {
        let map = self.proxies.lock().await;
        let e = map.get(name).ok_or(ProxyError::ProxyNotFound)?;
        e.toxics
            .iter()
            .find(|t| t.name == toxic)
            .map(Toxic::to_json)
            .ok_or(ProxyError::ToxicNotFound)
    }

    /// `POST|PATCH /proxies/{p}/toxics/{t}`: toxicity and a partial merge
    /// of attributes.
    pub async fn update_toxic(
        &self,
        name: &str,
        toxic: &str,
        u: ToxicUpdate,
    ) -> Result<ToxicJson, ProxyError> {
        let mut map = self.proxies.lock().await;
        let e = map.get_mut(name).ok_or(ProxyError::ProxyNotFound)?;
        let t = e
            .toxics
            .iter_mut()
            .find(|t| t.name == toxic)
            .ok_or(ProxyError::ToxicNotFound)?;
        let ttl = t.update(u)?;
        let (id, json) = (t.id, t.to_json());
        if let Some(ttl) = ttl {
            // Re-sending a ttl renews it from now: a lease to keep alive.
            e.arm(id, ttl);
            self.expiry_changed.notify_one();
        }
        e.publish();
        Ok(json)
    }

    /// `DELETE /proxies/{p}/toxics/{t}`.
    pub async fn delete_toxic(&self, name: &str, toxic: &str) -> Result<(), ProxyError> {
        let mut map = self.proxies.lock().await;
        let e = map.get_mut(name).ok_or(ProxyError::ProxyNotFound)?;
        let id = e
            .toxics
            .iter()
            .find(|t| t.name == toxic)
            .map(|t| t.id)
            .ok_or(ProxyError::ToxicNotFound)?;
        e.remove_toxic(id);
        // After removing a `refuse`: re-binds. A bind failure (the port was
        // taken meanwhile) is reported; the toxic is gone all the same.
        self.sync_listener(e).await
    }

    /// Removes every toxic whose `ttl` has run out; returns the next
    /// expiry, if any.
    async fn expire(&self) -> Option<Instant> {
        let mut map = self.proxies.lock().await;
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for e in map.values_mut() {
            let due: Vec<u64> = e
                .expiry
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(id, _)| *id)
                .collect();
            for id in &due {
                if let Some(t) = e.toxics.iter().find(|t| t.id == *id) {
                    tracing::info!(proxy = %e.name, toxic = %t.name, "toxic expired (ttl)");
                }
                e.remove_toxic(*id);
            }
            if !due.is_empty() {
                if let Err(err) = self.sync_listener(e).await {
                    tracing::warn!(proxy = %e.name, %err, "cannot re-open the listener after a refuse expired");
                }
            }
            next = e.expiry.values().copied().chain(next).min();
        }
        next
    }

    /// Removes toxics as their `ttl` runs out, until `cancel` fires. One
    /// task per server does this for every toxic (spawned on the server's
    /// tracker), so a harness that crashes cannot leave a toxic behind,
    /// and nothing outlives the server.
    pub async fn run_expiry(&self, cancel: CancellationToken) {
        loop {
            let next = self.expire().await;
            // A `ttl` set meanwhile leaves a permit in `expiry_changed`, so
            // it is never missed between `expire` and this wait.
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.expiry_changed.notified() => {}
                _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
            }
        }
    }
}

fn validate(p: &NewProxy, index: Option<usize>) -> Result<(), ProxyError> {
    let at = index.map(|i| format!(" at proxy {i}")).unwrap_or_default();
    if p.name.is_empty() {
        return Err(ProxyError::MissingField(format!("name{at}")));
    }
    if p.upstream.is_empty() {
        return Err(ProxyError::MissingField(format!("upstream{at}")));
    }
    Ok(())
}

/// First address of `host:port` (`localhost:0` → `127.0.0.1:0`).
async fn resolve(listen: &str) -> Result<SocketAddr, ProxyError> {
    if let Ok(addr) = listen.parse() {
        return Ok(addr);
    }
    let mut addrs = tokio::net::lookup_host(listen)
        .await
        .map_err(|err| ProxyError::Listen(format!("listen tcp {listen}: {err}")))?;
    // Prefer IPv4, as `localhost` usually means 127.0.0.1 to users.
    let all: Vec<SocketAddr> = addrs.by_ref().collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| ProxyError::Listen(format!("listen tcp {listen}: no address")))
}

/// What every connection of one running proxy shares.
struct ConnCtx {
    proxy: String,
    upstream: String,
    seed: u64,
    chains: [watch::Receiver<Chain>; 2],
    slots: Arc<Semaphore>,
    /// Connections accepted so far: numbers them for their seeds, and
    /// carries on across a `refuse` re-bind so no seed repeats.
    accepted: AtomicU64,
}

/// Accepts until `stop` fires; connections are children of `conns`, so
/// stopping the loop alone (`refuse`) leaves them open.
async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ConnCtx>,
    stop: CancellationToken,
    conns: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((client, _)) => {
                let Ok(slot) = ctx.slots.clone().try_acquire_owned() else {
                    tracing::warn!(proxy = %ctx.proxy, "connection limit reached; closing a new client");
                    drop(client);
                    continue;
                };
                let n = ctx.accepted.fetch_add(1, Ordering::Relaxed) + 1;
                let conn = connection(client, ctx.clone(), n, conns.child_token(), tracker.clone());
                tracker.spawn(async move {
                    conn.await;
                    drop(slot);
                });
            }
            Err(err) => {
                tracing::debug!(%err, proxy = %ctx.proxy, "accept failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}

async fn connection(
    client: TcpStream,
    ctx: Arc<ConnCtx>,
    n: u64,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let accepted = Instant::now();
    let seed = |lane| dice::seed(ctx.seed, &ctx.proxy, n, lane);
    let mut pipes = [
        Dice::new(seed(Lane::Upstream)),
        Dice::new(seed(Lane::Downstream)),
    ];
    let mut conn = Dice::new(seed(Lane::Connection));
    let mut chains = ctx.chains.clone();
    match admit::admit(&mut chains, &mut pipes, &mut conn, accepted, &cancel).await {
        Admission::Dial => {}
        Admission::Closed => return,
        Admission::Reset => {
            // Zero linger: dropping the socket sends an RST, not a FIN.
            if let Err(err) = client.set_zero_linger() {
                tracing::debug!(%err, "proxy: cannot set zero linger");
            }
            return;
        }
    }
    let dial = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(ctx.upstream.as_str()));
    let server = tokio::select! {
        _ = cancel.cancelled() => return,
        dial = dial => match dial {
            Ok(Ok(s)) => s,
            // Like Toxiproxy: the accepted client is simply closed.
            _ => return,
        },
    };
    // Small writes must not wait for Nagle: the proxy would add latency.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let stop = Stop {
        cancel,
        reset: CancellationToken::new(),
    };
    let resets = std::pin::pin!(admit::watch_resets(chains.clone(), conn, stop.clone()));
    // `watch_resets` never completes: the connection ends with its pipes.
    // It wakes only for API calls and the stop, so it is polled only then,
    // not for every byte the pipes move.
    tokio::select! {
        biased;
        _ = link::run(client, server, chains, pipes, stop, tracker) => {}
        _ = attention::OnWake::new(resets) => {}
    }
}
