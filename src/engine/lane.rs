//! A lane: one task that runs many flow iterations concurrently and records
//! their outcomes into its own [`Recorder`].
//!
//! Owns the iterations handed to it by the dispatcher: starting each one on a
//! free connection slot (opening one while under the lane's cap), measuring
//! start delay and lateness, and recording every request. Iterations are
//! polled inside the lane (not spawned), so recording needs no lock and no
//! message per request. Must not read the schedule or decide verdicts.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::{self, Conn, ConnTasks, HttpTarget, Scratch};
use super::keys::StepKeys;
use crate::metrics::{Outcome, Recorder};
use crate::scenario::template::RenderCtx;
use crate::scenario::Scenario;
use crate::schedule::Arrival;

/// An arrival on its way to a lane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dispatched {
    pub arrival: Arrival,
    pub intended: Instant,
}

/// What every iteration of a run reads.
pub(crate) struct Shared {
    pub scenario: Arc<Scenario>,
    pub keys: StepKeys,
    pub target: HttpTarget,
    pub conns: ConnTasks,
    /// Cancelled when in-flight requests must stop at once.
    pub abort: CancellationToken,
    /// Start later than this after the intended time and an iteration is late.
    pub late_after: Duration,
}

/// A connection with the buffers its iterations reuse.
#[derive(Default)]
struct Slot {
    conn: Option<Conn>,
    scratch: Scratch,
    /// (step key, outcome, latency µs) of the iteration that just ran.
    results: Vec<(usize, Outcome, u64)>,
}

/// Run a lane until its channel is closed and drained and nothing is in
/// flight. After `stop`, queued arrivals are counted as dropped instead of
/// started.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Dispatched>,
    max_in_flight: usize,
    stop: CancellationToken,
) -> Recorder {
    let mut rec = Recorder::new(shared.keys.len());
    let mut free: Vec<Slot> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut rx_open = true;
    let mut stopping = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                rx.close();
            }
            Some(slot) = in_flight.next(), if !in_flight.is_empty() => {
                free.push(record(&mut rec, slot));
            }
            msg = rx.recv(), if rx_open && in_flight.len() < max_in_flight => match msg {
                Some(d) if stopping => {
                    let _ = d;
                    rec.schedule.dropped += 1;
                }
                Some(d) => {
                    let now = Instant::now();
                    let delay = now.saturating_duration_since(d.intended);
                    rec.schedule.started += 1;
                    if delay > shared.late_after {
                        rec.schedule.late += 1;
                    }
                    let _ = rec.start_delay.record(micros(delay).max(1));
                    let slot = free.pop().unwrap_or_default();
                    in_flight.push(iteration(shared.clone(), slot, d));
                }
                None => rx_open = false,
            },
            else => break,
        }
        if !rx_open && in_flight.is_empty() {
            break;
        }
    }
    rec
}

fn record(rec: &mut Recorder, mut slot: Slot) -> Slot {
    for &(key, outcome, latency) in &slot.results {
        if let Some(stats) = rec.steps.get_mut(key) {
            stats.record(outcome, latency);
        }
    }
    slot.results.clear();
    slot
}

/// One flow iteration: its steps in order on the slot's connection. The
/// first request is timed from the arrival's intended start (so queueing for
/// a connection is charged to it); later ones depend on earlier responses and
/// are timed from their own start.
async fn iteration(shared: Arc<Shared>, mut slot: Slot, d: Dispatched) -> Slot {
    let scenario = &shared.scenario;
    let phase_idx = d.arrival.phase as usize;
    let Some(flow) = scenario
        .phases
        .get(phase_idx)
        .and_then(|p| scenario.flows.get(p.flow))
    else {
        return slot;
    };
    let iter_seed = iteration_seed(scenario.seed, d.arrival.seq);
    let mut rng = Pcg64Mcg::seed_from_u64(iter_seed);
    let mut ctx = RenderCtx {
        seq: d.arrival.seq,
        iter_seed,
        rng: &mut rng,
        feeders: &scenario.feeders,
        session: &[],
        unresolved: 0,
    };
    let mut from = d.intended;
    for (si, step) in flow.steps.iter().enumerate() {
        let outcome = http::execute(
            step,
            &shared.target,
            &mut slot.conn,
            &shared.conns,
            &mut ctx,
            &mut slot.scratch,
            &shared.abort,
        )
        .await;
        let now = Instant::now();
        let latency = micros(now.saturating_duration_since(from));
        slot.results
            .push((shared.keys.key(phase_idx, si), outcome, latency));
        if !outcome.is_ok() {
            // Later steps depend on this one (an order needs its checkout).
            break;
        }
        from = now;
    }
    slot
}

/// Seed of one iteration, from the scenario seed and the iteration's
/// sequence number, so every iteration draws the same values whichever lane
/// or worker runs it.
pub(crate) fn iteration_seed(seed: u64, seq: u64) -> u64 {
    crate::schedule::mix(seed, seq)
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
