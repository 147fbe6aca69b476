//! One proxied connection: two directed pipes that move bytes through the
//! toxics configured for their direction.
//!
//! Owns the byte path. A pipe copies directly with a reused buffer (the
//! cheap path) while its direction has no toxic acting on bytes, and
//! switches to toxic mode while it has some: a reader task timestamps
//! chunks into a bounded queue and the pipe applies the chain to each chunk
//! in order. When no such toxic is left, the reader hands its socket back
//! between two reads and the queued chunks are written out first. The
//! chain is a snapshot read from a `watch` channel between chunks, so a
//! change takes effect at a chunk boundary and never drops or reorders
//! queued bytes. A chunk held by a toxic (a delay, a loss stall, a
//! blackhole) holds every chunk behind it, as TCP's in-order delivery
//! does, and the bounded queue then stops the reader: back-pressure, not
//! buffering. Nothing here takes a lock, so the API never waits on traffic.
//! It must not know about the API, the set of proxies, or toxics that act
//! on whole connections (`admit` has those); it only carries out a reset
//! they ask for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dice::Dice;
use super::direct;
use super::toxic::{Kind, Toxic};
use crate::netem::{LossProcess, TcpPath};

/// The toxics of one direction, in the order they were added.
pub type Chain = Arc<Vec<Toxic>>;

/// Largest single read: the same 32 KiB chunk Toxiproxy works in.
const CHUNK: usize = 32 * 1024;

/// Chunks a toxic pipe may hold read-ahead (at most 2 MiB per direction),
/// so a slow toxic pushes back on the sender instead of buffering without
/// bound.
const QUEUE: usize = 64;

/// Ceiling for any attribute read as a duration: a day is far beyond any
/// rehearsal and keeps `Instant` arithmetic from overflowing.
const MAX_MS: u64 = 24 * 60 * 60 * 1000;

fn millis(v: u64) -> Duration {
    Duration::from_millis(v.min(MAX_MS))
}

/// How a pipe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The source closed; the close was passed on. The other pipe goes on.
    Eof,
    /// A toxic, an error or a shutdown ends the whole connection.
    Close,
    /// `reset_peer`: like `Close`, but the peer gets an RST.
    Reset,
}

/// How one connection ends: `cancel` closes it; `reset` fired before
/// `cancel` makes the close an RST on both sockets.
#[derive(Clone)]
pub struct Stop {
    pub cancel: CancellationToken,
    pub reset: CancellationToken,
}

/// Runs a connection until both directions end or `stop.cancel` fires; the
/// sockets are closed when it returns. `dice` are the upstream and
/// downstream pipes' generators, with any decisions already drawn for the
/// connection's admission.
pub async fn run(
    client: TcpStream,
    server: TcpStream,
    chains: [watch::Receiver<Chain>; 2],
    dice: [Dice; 2],
    stop: Stop,
    tracker: TaskTracker,
) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let [up_chain, down_chain] = chains;
    let [up_dice, down_dice] = dice;
    let cancel = stop.cancel.clone();
    let up = Pipe::new(up_chain, up_dice, stop.clone(), tracker.clone());
    let down = Pipe::new(down_chain, down_dice, stop, tracker);
    let up = async {
        if up.run(cr, sw).await != Ended::Eof {
            cancel.cancel();
        }
    };
    let down = async {
        if down.run(sr, cw).await != Ended::Eof {
            cancel.cancel();
        }
    };
    tokio::join!(up, down);
}

/// What processing one chunk asks for next.
enum Flow {
    Go,
    Close,
    Reset,
}

/// A piece of a chunk waiting for toxic number `stage`, after `pause`.
/// `ready` is when it would have reached that stage had nothing ahead of
/// it been held: the extension toxics count their delays from it, so they
/// add to delays placed before them without a queue adding up.
struct Piece {
    stage: usize,
    data: Bytes,
    pause: Duration,
    ready: Instant,
}

/// Whether a chain has a toxic a pipe must apply to bytes.
pub(super) fn acts_on_bytes(chain: &Chain) -> bool {
    chain.iter().any(|t| t.kind.on_bytes())
}

struct Pipe {
    chain: watch::Receiver<Chain>,
    dice: Dice,
    cancel: CancellationToken,
    reset: CancellationToken,
    tracker: TaskTracker,
    /// Per `limit_data` toxic id: bytes let through so far.
    passed: HashMap<u64, u64>,
    /// Per `loss` toxic id: the attributes its process was built from, and
    /// the process, whose burst state carries across chunks.
    losses: HashMap<u64, (Kind, TcpPath, LossProcess)>,
    /// Per applying `timeout` toxic id: when it started on this pipe.
    timeouts: HashMap<u64, Instant>,
    /// When the bandwidth budget next allows a byte through.
    bw_next: Instant,
}

impl Pipe {
    fn new(chain: watch::Receiver<Chain>, dice: Dice, stop: Stop, tracker: TaskTracker) -> Pipe {
        Pipe {
            chain,
            dice,
            cancel: stop.cancel,
            reset: stop.reset,
            tracker,
            passed: HashMap::new(),
            losses: HashMap::new(),
            timeouts: HashMap::new(),
            bw_next: Instant::now(),
        }
    }

    /// Alternates between the direct and the toxic mode as the chain
    /// empties and fills; each switch follows an API call, so the loop
    /// turns at most once per call.
    async fn run(mut self, from: OwnedReadHalf, mut to: OwnedWriteHalf) -> Ended {
        let ended = self.modes(from, &mut to).await;
        if ended == Ended::Reset || (ended == Ended::Close && self.reset.is_cancelled()) {
            // Zero linger makes the close an RST; `forget` keeps the half
            // from sending a FIN first. For a connection-wide reset each
            // pipe does this to the socket it writes to, so both peers get
            // one.
            if let Err(err) = to.as_ref().set_zero_linger() {
                tracing::debug!(%err, "proxy: cannot set zero linger");
            }
            to.forget();
            return Ended::Close;
        }
        ended
    }

    async fn modes(&mut self, mut from: OwnedReadHalf, to: &mut OwnedWriteHalf) -> Ended {
        // Allocated by the direct mode's copying path, only if it runs.
        let mut buf = Vec::new();
        loop {
            from = match self.direct(from, to, &mut buf).await {
                Ok(from) => from,
                Err(ended) => return ended,
            };
            from = match self.toxic(from, to).await {
                Ok(from) => from,
                Err(ended) => return ended,
            };
        }
    }

    /// Copies with a reused buffer until the chain has a toxic acting on
    /// bytes (gives the read half back) or the pipe ends.
    async fn direct(
        &mut self,
        mut from: OwnedReadHalf,
        to: &mut OwnedWriteHalf,
        buf: &mut Vec<u8>,
    ) -> Result<OwnedReadHalf, Ended> {
        match direct::forward(&mut from, to, &mut self.chain, &self.cancel, buf).await {
            direct::Stop::Toxics => Ok(from),
            direct::Stop::Eof => Err(finish(to, Duration::ZERO, &self.cancel).await),
            direct::Stop::Close => Err(Ended::Close),
        }
    }

    /// Applies the chain chunk by chunk until no toxic acting on bytes is
    /// left (gives the read half back, nothing lost) or the pipe ends.
    async fn toxic(
        &mut self,
        from: OwnedReadHalf,
        to: &mut OwnedWriteHalf,
    ) -> Result<OwnedReadHalf, Ended> {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let stop = self.cancel.child_token();
        let reader = self
            .tracker
            .spawn(read_chunks(from, tx, stop.clone(), self.cancel.clone()));
        loop {
            let chain = self.chain.borrow_and_update().clone();
            if self.refresh(&chain) {
                return Err(Ended::Close);
            }
            if !acts_on_bytes(&chain) {
                stop.cancel();
                return self.back_to_direct(rx, reader, to).await;
            }
            let deadline = self.timeout_deadline(&chain);
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Ended::Close),
                changed = self.chain.changed() => {
                    if changed.is_err() {
                        return Err(Ended::Close);
                    }
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return Err(Ended::Close);
                }
                msg = rx.recv() => match msg {
                    Some(Ok((at, data))) => {
                        let cancel = self.cancel.clone();
                        let flow = tokio::select! {
                            _ = cancel.cancelled() => Flow::Close,
                            flow = self.process(&chain, at, data, to) => flow,
                        };
                        match flow {
                            Flow::Go => {}
                            Flow::Close => return Err(Ended::Close),
                            Flow::Reset => return Err(Ended::Reset),
                        }
                    }
                    Some(Err(())) => return Err(Ended::Close),
                    None => {
                        let delay = self.slow_close(&chain);
                        return Err(finish(to, delay, &self.cancel).await);
                    }
                },
            }
        }
    }

    /// The reader has been told to stop: writes out, in order, what it had
    /// already queued, then takes its read half back (or passes its EOF on).
    async fn back_to_direct(
        &mut self,
        mut rx: mpsc::Receiver<Chunk>,
        reader: JoinHandle<Option<OwnedReadHalf>>,
        to: &mut OwnedWriteHalf,
    ) -> Result<OwnedReadHalf, Ended> {
        // Bounded: the reader queues at most one more chunk after `stop`,
        // then drops its sender, which ends `recv`.
        loop {
            let msg = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Ended::Close),
                msg = rx.recv() => msg,
            };
            match msg {
                Some(Ok((_, data))) => {
                    tokio::select! {
                        _ = self.cancel.cancelled() => return Err(Ended::Close),
                        w = to.write_all(&data) => if w.is_err() { return Err(Ended::Close) },
                    }
                }
                Some(Err(())) => return Err(Ended::Close),
                None => break,
            }
        }
        match reader.await {
            Ok(Some(from)) => Ok(from),
            Ok(None) => Err(finish(to, Duration::ZERO, &self.cancel).await),
            Err(_) => Err(Ended::Close),
        }
    }

    /// Decides toxicity for toxics not seen before (or whose toxicity
    /// changed) and starts `timeout` clocks. True when an applying
    /// `timeout` toxic was removed: it has discarded data, so the
    /// connection must close, as in Toxiproxy.
    fn refresh(&mut self, chain: &Chain) -> bool {
        let removed_timeout = self
            .timeouts
            .keys()
            .any(|id| !chain.iter().any(|t| t.id == *id));
        if removed_timeout {
            return true;
        }
        // Forget toxics that are gone, so a long-lived connection under
        // churning toxics keeps bounded state.
        let live = |id: u64| chain.iter().any(|t| t.id == id);
        self.dice.retain(live);
        self.passed.retain(|id, _| live(*id));
        self.losses.retain(|id, _| live(*id));
        for t in chain.iter() {
            if self.applies(t) && matches!(t.kind, Kind::Timeout { .. }) {
                self.timeouts.entry(t.id).or_insert_with(Instant::now);
            }
        }
        false
    }

    /// Whether toxic `t` applies to this connection and direction.
    fn applies(&mut self, t: &Toxic) -> bool {
        self.dice.applies(t)
    }

    fn timeout_deadline(&self, chain: &Chain) -> Option<Instant> {
        chain
            .iter()
            .filter_map(|t| match t.kind {
                Kind::Timeout { timeout } if timeout > 0 => self
                    .timeouts
                    .get(&t.id)
                    .map(|start| *start + millis(timeout)),
                _ => None,
            })
            .min()
    }

    fn slow_close(&mut self, chain: &Chain) -> Duration {
        let mut delay = Duration::ZERO;
        for t in chain.iter() {
            if let Kind::SlowClose { delay: d } = t.kind {
                if self.applies(t) {
                    delay = delay.max(millis(d));
                }
            }
        }
        delay
    }

    /// Latency of one chunk: uniform whole milliseconds in
    /// [latency − jitter, latency + jitter − 1], as Toxiproxy draws it, never
    /// below zero.
    fn latency(&mut self, latency: u64, jitter: u64) -> Duration {
        let (latency, jitter) = (latency.min(MAX_MS), jitter.min(MAX_MS));
        if jitter == 0 {
            return millis(latency);
        }
        let offset = self.dice.rng.random_range(0..2 * jitter);
        millis((latency + offset).saturating_sub(jitter))
    }

    /// Waits until `until` on behalf of toxic `id`; cut short (false) if
    /// that toxic is removed meanwhile, so removing a long latency releases
    /// the bytes it holds at once instead of after the delay.
    async fn hold(&mut self, id: u64, until: Instant) -> bool {
        // Each turn consumes one chain change; changes come from API calls,
        // so the loop turns at most once per call made during the wait.
        loop {
            tokio::select! {
                _ = sleep_until(until) => return true,
                changed = self.chain.changed() => {
                    if changed.is_err() || !self.chain.borrow().iter().any(|t| t.id == id) {
                        return false;
                    }
                }
            }
        }
    }

    /// Holds a piece until `until` for toxic `id`; returns the piece's new
    /// `ready`: `until` if the wait ran out, the present if the toxic was
    /// removed first.
    async fn held(&mut self, id: u64, ready: Instant, until: Instant) -> Instant {
        if self.hold(id, until).await {
            until
        } else {
            ready.max(Instant::now())
        }
    }

    /// Waits while toxic `id` is present and applies to this connection
    /// (`blackhole`). Nothing is read meanwhile beyond the bounded queue.
    async fn hold_while_applying(&mut self, id: u64) {
        loop {
            let chain = self.chain.borrow().clone();
            if !chain.iter().any(|t| t.id == id && self.dice.applies(t)) {
                return;
            }
            // Turns once per API call; a dropped sender means the proxy is
            // gone, and its connections are being cancelled.
            if self.chain.changed().await.is_err() {
                return;
            }
        }
    }

    /// The loss stall of `bytes` under `loss` toxic `t`. The toxic's loss
    /// process lives as long as the toxic on this pipe, so bursts span
    /// chunks; an attribute change starts a fresh one.
    fn stall(&mut self, t: &Toxic, bytes: usize) -> Duration {
        let current = matches!(self.losses.get(&t.id), Some((k, _, _)) if *k == t.kind);
        if !current {
            // Validated by the API, so a failure here cannot happen; if it
            // did, no stall is the harmless answer.
            let Ok((loss, path)) = t.kind.loss_model() else {
                return Duration::ZERO;
            };
            self.losses
                .insert(t.id, (t.kind.clone(), path, LossProcess::new(loss)));
        }
        match self.losses.get_mut(&t.id) {
            Some((_, path, process)) => path.stall(process, bytes, &mut self.dice.rng),
            None => Duration::ZERO,
        }
    }

    /// Sends one chunk through the chain, piece by piece, depth first so
    /// bytes leave in the order they came.
    async fn process(
        &mut self,
        chain: &Chain,
        at: Instant,
        data: Bytes,
        to: &mut OwnedWriteHalf,
    ) -> Flow {
        let mut stack = vec![Piece {
            stage: 0,
            data,
            pause: Duration::ZERO,
            ready: at,
        }];
        let mut close_after = false;
        // Every piece either moves one stage on or gets shorter, so the loop
        // ends after at most (stages + 1) × bytes steps.
        while let Some(mut piece) = stack.pop() {
            let Some(toxic) = chain.get(piece.stage) else {
                if to.write_all(&piece.data).await.is_err() {
                    return Flow::Close;
                }
                continue;
            };
            let next = piece.stage + 1;
            if !piece.pause.is_zero() {
                let until = Instant::now() + piece.pause;
                piece.pause = Duration::ZERO;
                if !self.hold(toxic.id, until).await {
                    // The slicer was removed mid-chunk: the rest goes on whole.
                    stack.push(Piece {
                        stage: next,
                        ..piece
                    });
                    continue;
                }
                piece.ready = piece.ready.max(until);
            }
            if !self.applies(toxic) {
                stack.push(Piece {
                    stage: next,
                    ..piece
                });
                continue;
            }
            match toxic.kind {
                Kind::Noop
                | Kind::SlowClose { .. }
                | Kind::ConnectDelay { .. }
                | Kind::Reset
                | Kind::Refuse => stack.push(Piece {
                    stage: next,
                    ..piece
                }),
                Kind::Latency { latency, jitter } => {
                    // From the chunk's arrival, as Toxiproxy counts it.
                    let until = at + self.latency(latency, jitter);
                    let ready = self.held(toxic.id, piece.ready, until).await;
                    stack.push(Piece {
                        stage: next,
                        ready,
                        ..piece
                    });
                }
                Kind::LatencyNormal { .. } | Kind::LatencyPareto { .. } => {
                    let delay = match toxic.kind.delay() {
                        Some(d) => d.sample(&mut self.dice.rng),
                        None => Duration::ZERO,
                    };
                    let until = piece.ready + delay;
                    let ready = self.held(toxic.id, piece.ready, until).await;
                    stack.push(Piece {
                        stage: next,
                        ready,
                        ..piece
                    });
                }
                Kind::Loss { .. } => {
                    // Later chunks wait behind a stalled one, as TCP delivers
                    // in order; their own stalls run from their own `ready`,
                    // as their segments' recovery would.
                    let until = piece.ready + self.stall(toxic, piece.data.len());
                    let ready = self.held(toxic.id, piece.ready, until).await;
                    stack.push(Piece {
                        stage: next,
                        ready,
                        ..piece
                    });
                }
                Kind::Blackhole => {
                    self.hold_while_applying(toxic.id).await;
                    // What a partition held goes on as retransmissions do
                    // once it heals: now, in order.
                    stack.push(Piece {
                        stage: next,
                        ready: piece.ready.max(Instant::now()),
                        ..piece
                    });
                }
                Kind::Bandwidth { rate } if rate > 0 => {
                    // 1 KB = 1000 bytes; pieces of at most 100 ms of budget so
                    // a large chunk streams instead of arriving in a lump.
                    let rate = rate.min(u64::from(u32::MAX));
                    let n = piece
                        .data
                        .len()
                        .min(usize::try_from(rate * 100).unwrap_or(usize::MAX));
                    let head = piece.data.split_to(n);
                    let cost = Duration::from_nanos(n as u64 * 1_000_000 / rate);
                    self.bw_next = self.bw_next.max(Instant::now()) + cost;
                    if !self.hold(toxic.id, self.bw_next).await {
                        self.bw_next = Instant::now();
                    }
                    let ready = piece.ready.max(self.bw_next);
                    if !piece.data.is_empty() {
                        stack.push(piece);
                    }
                    stack.push(Piece {
                        stage: next,
                        data: head,
                        pause: Duration::ZERO,
                        ready,
                    });
                }
                // rate 0 means "no limit" (Toxiproxy would hang here).
                Kind::Bandwidth { .. } => stack.push(Piece {
                    stage: next,
                    ..piece
                }),
                Kind::Timeout { .. } => {} // discarded, as Toxiproxy does
                Kind::ResetPeer { timeout } => {
                    sleep(millis(timeout)).await;
                    return Flow::Reset;
                }
                Kind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } if average_size > 0 && piece.data.len() > 1 => {
                    let low = average_size.saturating_sub(size_variation).max(1);
                    let high = average_size.saturating_add(size_variation).max(low);
                    let size = self.dice.rng.random_range(low..=high);
                    let size = usize::try_from(size)
                        .unwrap_or(usize::MAX)
                        .min(piece.data.len());
                    let head = piece.data.split_to(size);
                    let ready = piece.ready;
                    if !piece.data.is_empty() {
                        piece.pause = Duration::from_micros(delay.min(MAX_MS * 1000));
                        stack.push(piece);
                    }
                    stack.push(Piece {
                        stage: next,
                        data: head,
                        pause: Duration::ZERO,
                        ready,
                    });
                }
                Kind::Slicer { .. } => stack.push(Piece {
                    stage: next,
                    ..piece
                }),
                Kind::LimitData { bytes } => {
                    let passed = self.passed.entry(toxic.id).or_insert(0);
                    let room = bytes.saturating_sub(*passed);
                    let len = piece.data.len() as u64;
                    if len >= room {
                        close_after = true;
                        piece
                            .data
                            .truncate(usize::try_from(room).unwrap_or(usize::MAX));
                    }
                    *passed += piece.data.len() as u64;
                    if !piece.data.is_empty() {
                        stack.push(Piece {
                            stage: next,
                            ..piece
                        });
                    }
                }
            }
        }
        if close_after {
            Flow::Close
        } else {
            Flow::Go
        }
    }
}

/// Passes a source's end on: waits `delay` (slow_close), then shuts the
/// write side so the peer sees EOF while the other direction goes on.
async fn finish(to: &mut OwnedWriteHalf, delay: Duration, cancel: &CancellationToken) -> Ended {
    tokio::select! {
        _ = cancel.cancelled() => return Ended::Close,
        _ = sleep(delay) => {}
    }
    if to.shutdown().await.is_err() {
        return Ended::Close;
    }
    Ended::Eof
}

type Chunk = Result<(Instant, Bytes), ()>;

/// Reads chunks, stamped with their arrival time, until EOF (the channel
/// closes), an error (`Err` is sent) or cancellation. `stop` asks for the
/// read half back, and is only heeded between reads, so a chunk already
/// read is always queued; `cancel` ends the connection.
async fn read_chunks(
    mut from: OwnedReadHalf,
    tx: mpsc::Sender<Chunk>,
    stop: CancellationToken,
    cancel: CancellationToken,
) -> Option<OwnedReadHalf> {
    let mut buf = BytesMut::with_capacity(CHUNK);
    loop {
        // Reclaims the allocation once earlier chunks have been written.
        buf.reserve(CHUNK);
        // Reading is cancel-safe: a read cut short by `stop` took nothing.
        let read = tokio::select! {
            biased;
            _ = stop.cancelled() => return Some(from),
            read = from.read_buf(&mut buf) => read,
        };
        let msg = match read {
            Ok(0) => return None,
            Ok(_) => Ok((Instant::now(), buf.split().freeze())),
            Err(_) => Err(()),
        };
        let failed = msg.is_err();
        tokio::select! {
            _ = cancel.cancelled() => return None,
            sent = tx.send(msg) => if sent.is_err() || failed { return None },
        }
    }
}
