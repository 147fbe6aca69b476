//! A lane: one task that runs many sessions concurrently and records their
//! outcomes into its own [`Recorder`].
//!
//! Owns what the dispatcher hands it: starting each arrival as a session
//! (an open-model iteration on one of the lane's connection slots, or a
//! viewer/user that holds its own connection), measuring start delay and
//! lateness, and recording every request when the session ends. Sessions
//! are polled inside the lane (not spawned), so recording needs no lock and
//! no message per request. Must not read the schedule or decide verdicts.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fanout::Rooms;
use super::http::{Conn, HttpTarget, Scratch};
use super::keys::StepKeys;
use super::session;
use super::trace::{Ids, Tracer};
use super::ws::LiveSink;
use crate::metrics::{IntervalPart, Outcome, Recorder};
use crate::scenario::{Load, Scenario};
use crate::schedule::Arrival;

/// An arrival on its way to a lane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dispatched {
    pub arrival: Arrival,
    pub intended: Instant,
}

/// Where a region's requests go: the target, or the region's proxy.
pub(crate) type Targets = Vec<HttpTarget>;

/// What every session of a run reads.
pub(crate) struct Shared {
    pub scenario: Arc<Scenario>,
    pub keys: StepKeys,
    /// By region (one when the scenario names none).
    pub targets: Targets,
    /// The run's time origin: phase offsets count from here.
    pub t0: Instant,
    /// End of the timeline: every session leaves by then.
    pub timeline_end: Instant,
    /// Cancelled on interrupt: sessions stop thinking and leave.
    pub stop: CancellationToken,
    /// Cancelled when in-flight requests must stop at once.
    pub abort: CancellationToken,
    /// Start later than this after the intended time and an arrival is late.
    pub late_after: Duration,
    /// Viewer and user sessions alive right now (a gauge sampled over time).
    pub active_sessions: AtomicU64,
    /// WebSocket rooms: who should receive each tracked message.
    pub rooms: Rooms,
    /// Tells this run's tracked messages from any other traffic.
    pub run_tag: u32,
    /// Local addresses new WebSocket connections bind to, round-robin by
    /// session; empty: the OS picks.
    pub sources: Vec<IpAddr>,
    /// Trace context on sampled requests; `None` when none is sampled.
    pub tracer: Option<Tracer>,
}

impl Shared {
    /// The region arrival `seq` of phase `phase` comes from: drawn from the
    /// phase's shares with the arrival's own seeded number, so it does not
    /// depend on lanes, workers or timing.
    pub fn region_of(&self, phase: usize, seq: u64) -> usize {
        region_of(&self.scenario, phase, seq)
    }

    /// The second of the run `at` falls in.
    pub fn second_of(&self, at: Instant) -> u32 {
        u32::try_from(at.saturating_duration_since(self.t0).as_secs()).unwrap_or(u32::MAX)
    }

    /// Where region `region`'s requests go.
    pub fn target(&self, region: usize) -> &HttpTarget {
        // `targets` is never empty (built with one per region, at least one).
        &self.targets[region.min(self.targets.len() - 1)]
    }
}

/// The region arrival `seq` of phase `phase` comes from: drawn from the
/// phase's shares with the arrival's own seeded number, so it does not
/// depend on lanes, workers or timing.
pub(crate) fn region_of(scenario: &Scenario, phase: usize, seq: u64) -> usize {
    let regions = &scenario.regions;
    if regions.len() <= 1 {
        return 0;
    }
    let draw = crate::schedule::mix(scenario.seed ^ REGION_SALT, seq);
    let u = (draw >> 11) as f64 / (1u64 << 53) as f64;
    let mut acc = 0.0;
    let mut last = 0;
    for (i, r) in regions.iter().enumerate() {
        let share = r.shares.get(phase).copied().unwrap_or(0.0);
        if share > 0.0 {
            last = i;
        }
        acc += share;
        if u < acc && share > 0.0 {
            return i;
        }
    }
    last
}

/// Keeps region draws apart from every other use of the seed.
const REGION_SALT: u64 = 0x5e61_0a11_d1ce_0001;

/// A connection with the buffers its sessions reuse.
#[derive(Default)]
pub(crate) struct Slot {
    pub conn: Option<Conn>,
    pub scratch: Scratch,
    /// (step key, outcome, latency µs, second of the run it ended in) of
    /// the session that just ran.
    pub results: Vec<(usize, Outcome, u64, u32)>,
    /// Of those, the ones that carried trace context.
    pub traced: Vec<Traced>,
}

/// A request that carried trace context, for the report's list of the
/// slowest ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traced {
    pub key: usize,
    pub ids: Ids,
    pub latency: u64,
    pub attempt: u32,
    pub outcome: Outcome,
}

/// Record what a session ran into `rec`; `keep` slowest traces per key.
pub(crate) fn record_into(
    rec: &mut Recorder,
    results: &mut Vec<(usize, Outcome, u64, u32)>,
    traced: &mut Vec<Traced>,
    keep: usize,
) {
    for (key, outcome, latency, second) in results.drain(..) {
        rec.record_request(key, outcome, latency, second);
    }
    for t in traced.drain(..) {
        rec.note_trace(
            t.key,
            (&t.ids.trace, &t.ids.span),
            t.latency,
            t.attempt,
            t.outcome,
            keep,
        );
    }
}

/// Caps of one lane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneCaps {
    /// Open-model iterations in flight (each holds one connection slot).
    pub iterations: usize,
    /// Viewer and user sessions alive (each holds its own connection).
    pub sessions: usize,
}

/// Run a lane until its channel is closed and drained and nothing is in
/// flight. After `stop`, queued arrivals are counted as dropped instead of
/// started.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Dispatched>,
    caps: LaneCaps,
    stop: CancellationToken,
    intervals: mpsc::UnboundedSender<Vec<IntervalPart>>,
) -> Recorder {
    let mut rec = Recorder::new(shared.keys.len(), shared.scenario.phases.len());
    let live = Arc::new(LiveSink::new(
        shared.keys.len(),
        shared.scenario.phases.len(),
    ));
    // Idle connections by region: a connection leads to one region's proxy.
    let mut free: Vec<Vec<Slot>> = (0..shared.targets.len().max(1))
        .map(|_| Vec::new())
        .collect();
    let mut in_flight = FuturesUnordered::new();
    let (mut iterations, mut sessions) = (0usize, 0usize);
    let mut rx_open = true;
    let mut stopping = false;
    // Per-second histograms go to the collector about once a second, so a
    // lane holds at most a second or two of them.
    let mut handoff = tokio::time::interval_at(shared.t0 + HANDOFF_EVERY, HANDOFF_EVERY);
    handoff.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let room = iterations < caps.iterations && sessions < caps.sessions;
        tokio::select! {
            biased;
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                rx.close();
            }
            _ = handoff.tick() => {
                let mut parts = rec.intervals.take();
                parts.extend(live.lock().intervals.take());
                if !parts.is_empty() {
                    // The collector outlives the lanes; if it is gone the
                    // run is ending anyway.
                    let _ = intervals.send(parts);
                }
            }
            Some((is_session, region, slot)) = in_flight.next(), if !in_flight.is_empty() => {
                if is_session { sessions -= 1 } else { iterations -= 1 }
                let keep = shared.tracer.as_ref().map_or(0, |t| t.slowest);
                let slot = record(&mut rec, slot, keep);
                // A session's own connection leaves with it; iteration
                // slots are reused.
                if let (false, Some(list)) = (is_session, free.get_mut::<usize>(region)) {
                    list.push(slot);
                }
            }
            msg = rx.recv(), if rx_open && room => match msg {
                Some(d) if stopping => rec.note_dropped(d.arrival.phase as usize),
                Some(d) => {
                    let phase = d.arrival.phase as usize;
                    let now = Instant::now();
                    let delay = now.saturating_duration_since(d.intended);
                    let at = micros(now.saturating_duration_since(shared.t0));
                    rec.note_started(phase, micros(delay), delay > shared.late_after, at);
                    let is_session = !matches!(
                        shared.scenario.phases.get(phase).map(|p| &p.load),
                        Some(Load::Open { .. }) | None
                    );
                    let region = shared.region_of(phase, d.arrival.seq);
                    let slot = if is_session {
                        sessions += 1;
                        Slot::default()
                    } else {
                        iterations += 1;
                        free.get_mut(region).and_then(Vec::pop).unwrap_or_default()
                    };
                    let shared = shared.clone();
                    let live = live.clone();
                    in_flight.push(async move {
                        let _alive = is_session.then(|| Alive::new(&shared.active_sessions));
                        let slot = session::run(shared.clone(), live, slot, d, region).await;
                        (is_session, region, slot)
                    });
                }
                None => rx_open = false,
            },
            else => break,
        }
        if !rx_open && in_flight.is_empty() {
            break;
        }
    }
    // Every session has ended, so the sink has no other owner left; if one
    // did survive, its socket samples are lost rather than waited for.
    drop(in_flight);
    if let Ok(live) = Arc::try_unwrap(live) {
        let live = live.into_inner();
        // Same shape by construction.
        let _ = rec.merge(&live);
    }
    let rest = rec.intervals.take();
    if !rest.is_empty() {
        let _ = intervals.send(rest);
    }
    rec
}

/// How often a lane hands its per-second histograms to the collector.
pub(crate) const HANDOFF_EVERY: Duration = Duration::from_secs(1);

/// Counts a session as alive for as long as it exists.
struct Alive<'a>(&'a AtomicU64);

impl<'a> Alive<'a> {
    fn new(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Alive(gauge)
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn record(rec: &mut Recorder, mut slot: Slot, keep: usize) -> Slot {
    record_into(rec, &mut slot.results, &mut slot.traced, keep);
    slot
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
