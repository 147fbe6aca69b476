//! One virtual user's life: running a flow's program (requests, funnel
//! draws, think times, loops, branches, captures) until it ends, its dwell
//! time or phase is over, or the run stops.
//!
//! Owns the session's state (variables, random stream, connection, socket)
//! and what its requests and pauses do; the program itself is read by
//! [`super::program`]. Request results are collected in the slot
//! for the lane to record; only the session's WebSocket writes to the
//! lane's live sink, as messages arrive. Must not read the schedule.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use tokio::time::Instant;

use super::http::{self, Response};
use super::lane::{micros, Dispatched, Shared, Slot, Traced};
use super::ledger;
use super::program::{exec, run_actions, Player};
use super::trace::{Ids, SpanRecord, Tracer};
use super::ws::{LiveSink, Socket};
use crate::metrics::Outcome;
use crate::scenario::template::RenderCtx;
use crate::scenario::{json_lookup, Action, Capture, CaptureFrom, Flow, Load, StepKind};

/// How a session runs, from its phase's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Open model: one pass of the program; the first request is timed from
    /// the intended start.
    Iteration,
    /// A viewer: one pass within its dwell time, then idle until it is up.
    Viewer,
    /// A fixed-population user: passes back to back until the phase ends.
    User,
}

pub(crate) use super::program::Next;

pub(super) struct Session<'a> {
    pub(super) shared: &'a Shared,
    /// The lane's sink for what the socket measures as messages arrive.
    pub(super) live: &'a LiveSink,
    pub(super) flow: &'a Flow,
    pub(super) phase: usize,
    /// The region the session comes from.
    pub(super) region: usize,
    pub(super) seq: u64,
    pub(super) iter_seed: u64,
    pub(super) rng: Pcg64Mcg,
    pub(super) vars: Vec<Option<String>>,
    pub(super) slot: Slot,
    /// When the session must leave (dwell or phase end).
    pub(super) deadline: Option<Instant>,
    /// Intended start of an open-model iteration, taken by its first
    /// request as its time origin.
    pub(super) from: Option<Instant>,
    /// The session's WebSocket, while it has one.
    pub(super) ws: Option<Box<Socket>>,
    /// When a long-lived session next hands its results to the lane (so
    /// per-second figures stay current and memory bounded); `None` for an
    /// open-model iteration, which hands them over when it ends.
    pub(super) flush_at: Option<Instant>,
    /// HTTP requests the session has made: with its `seq`, what names a
    /// request for trace sampling (a step in a loop runs many times).
    pub(super) requests: u32,
}

/// Run the session an arrival starts. Returns the slot with the results.
///
/// Viewers and the rest get futures of their own: an open-model iteration
/// or a fixed-population user runs its program inline (no allocation per
/// pass, which is per request on the hot path), while a viewer, who may sit
/// idle for minutes, keeps only a small future and boxes its program while
/// it runs.
pub(crate) fn run(
    shared: Arc<Shared>,
    live: Arc<LiveSink>,
    slot: Slot,
    d: Dispatched,
    region: usize,
) -> Pin<Box<dyn Future<Output = Slot> + Send>> {
    let viewer = shared
        .scenario
        .phases
        .get(d.arrival.phase as usize)
        .is_some_and(|p| matches!(p.load, Load::Sessions { .. }));
    if viewer {
        Box::pin(run_viewer(shared, live, slot, d, region))
    } else {
        Box::pin(run_direct(shared, live, slot, d, region))
    }
}

async fn run_viewer(
    shared: Arc<Shared>,
    live: Arc<LiveSink>,
    slot: Slot,
    d: Dispatched,
    region: usize,
) -> Slot {
    let Some((mut s, program, _, has_dwell)) = start(&shared, &live, slot, d, region) else {
        return Slot::default();
    };
    exec(&mut s, program).await;
    // A viewer whose flow is done keeps watching until its dwell time is
    // up; without one, it leaves now.
    if let (Some(end), true) = (s.deadline, has_dwell) {
        s.wait_until(end).await;
    }
    leave(&mut s).await;
    s.slot
}

async fn run_direct(
    shared: Arc<Shared>,
    live: Arc<LiveSink>,
    slot: Slot,
    d: Dispatched,
    region: usize,
) -> Slot {
    let Some((mut s, program, mode, _)) = start(&shared, &live, slot, d, region) else {
        return Slot::default();
    };
    if mode == Mode::Iteration {
        run_actions(&mut s, program).await;
    } else {
        while !s.time_is_up() {
            run_actions(&mut s, program).await;
            s.vars.iter_mut().for_each(|v| *v = None);
            tokio::task::yield_now().await;
        }
    }
    leave(&mut s).await;
    s.slot
}

/// Leaving: the socket closes with the closing handshake, so messages
/// already on their way are still counted. Borrows the session rather than
/// taking it, so a waiting viewer's future holds one session, not two.
async fn leave(s: &mut Session<'_>) {
    if let Some(mut sock) = s.ws.take() {
        Box::pin(sock.close(s.live)).await;
    }
}

/// The session an arrival starts, its program, its mode, and whether it
/// has a dwell time; `None` (with nothing run) if the arrival names no
/// phase or flow.
fn start<'a>(
    shared: &'a Shared,
    live: &'a LiveSink,
    slot: Slot,
    d: Dispatched,
    region: usize,
) -> Option<(Session<'a>, &'a [Action], Mode, bool)> {
    let scenario = &shared.scenario;
    let phase_idx = d.arrival.phase as usize;
    let phase = scenario.phases.get(phase_idx)?;
    let flow = scenario.flows.get(phase.flow)?;
    let iter_seed = crate::schedule::mix(scenario.seed, d.arrival.seq);
    let mut rng = Pcg64Mcg::seed_from_u64(iter_seed);
    let phase_end = shared.t0 + phase.start + phase.duration;
    // Viewers outlive the phase that brought them (a join storm is short,
    // watching is long) but not the rehearsal itself.
    let has_dwell = matches!(&phase.load, Load::Sessions { dwell: Some(_), .. });
    let (mode, deadline) = match &phase.load {
        Load::Open { .. } => (Mode::Iteration, None),
        Load::Sessions { dwell, .. } => (
            Mode::Viewer,
            Some(match dwell {
                Some(dw) => (Instant::now() + dw.sample(&mut rng)).min(shared.timeline_end),
                None => shared.timeline_end,
            }),
        ),
        Load::Users { .. } => (Mode::User, Some(phase_end)),
    };
    let s = Session {
        shared,
        live,
        flow,
        phase: phase_idx,
        region,
        seq: d.arrival.seq,
        iter_seed,
        rng,
        vars: vec![None; flow.vars.len()],
        slot,
        deadline,
        from: (mode == Mode::Iteration).then_some(d.intended),
        ws: None,
        flush_at: (mode != Mode::Iteration).then(|| Instant::now() + FLUSH_EVERY),
        requests: 0,
    };
    Some((s, &flow.program, mode, has_dwell))
}

/// Run `fut` while reading the session's socket (if it has one), so
/// messages are measured when they arrive whatever the session is doing.
pub(super) async fn pump<F: Future>(
    ws: &mut Option<Box<Socket>>,
    live: &LiveSink,
    fut: F,
) -> F::Output {
    let Some(sock) = ws.as_deref_mut() else {
        return fut.await;
    };
    tokio::pin!(fut);
    loop {
        tokio::select! {
            biased;
            out = &mut fut => return out,
            ev = sock.event() => {
                let _ = sock.handle(ev, live);
            }
        }
    }
}

/// How often a long-lived session hands its results over.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Results a long-lived session keeps at most before handing them over.
const FLUSH_AT_MOST: usize = 256;

impl Session<'_> {
    /// Keep one request's result; a long-lived session hands its results
    /// to the lane's sink about once a second (one uncontended lock), so
    /// nothing waits for the session to end.
    pub(super) fn push_result(&mut self, key: usize, outcome: Outcome, latency: u64, end: Instant) {
        let second = self.shared.second_of(end);
        self.slot.results.push((key, outcome, latency, second));
        if let Some(at) = self.flush_at {
            if end >= at || self.slot.results.len() >= FLUSH_AT_MOST {
                let keep = self.shared.tracer.as_ref().map_or(0, |t| t.slowest);
                let mut rec = self.live.lock();
                super::lane::record_into(
                    &mut rec,
                    &mut self.slot.results,
                    &mut self.slot.traced,
                    keep,
                );
                self.flush_at = Some(end + FLUSH_EVERY);
            }
        }
    }
}

impl Player for Session<'_> {
    fn rng(&mut self) -> &mut Pcg64Mcg {
        &mut self.rng
    }

    fn time_is_up(&self) -> bool {
        Session::time_is_up(self)
    }

    fn set_origin(&mut self, from: Option<Instant>) {
        self.from = from;
    }

    fn play_step(&mut self, step: usize) -> impl Future<Output = Next> + Send {
        self.request(step)
    }

    fn pause_until(&mut self, when: Instant) -> impl Future<Output = Next> + Send {
        self.wait_until(when)
    }
}

impl Session<'_> {
    fn time_is_up(&self) -> bool {
        self.shared.stop.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Sleep until `when`, or less if the session must leave first.
    async fn wait_until(&mut self, when: Instant) -> Next {
        let end = match self.deadline {
            Some(d) if d < when => d,
            _ => when,
        };
        let stop = &self.shared.stop;
        let sleep = async {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => false,
                _ = stop.cancelled() => true,
            }
        };
        let stopped = if self.ws.is_some() {
            Box::pin(pump(&mut self.ws, self.live, sleep)).await
        } else {
            sleep.await
        };
        if stopped {
            return Next::Stop;
        }
        if end < when {
            Next::Stop
        } else {
            Next::Go
        }
    }

    async fn request(&mut self, step_idx: usize) -> Next {
        let Some(step) = self.flow.steps.get(step_idx) else {
            return Next::Stop;
        };
        let key = self.shared.keys.key(self.phase, step_idx, self.region);
        let req = match &step.kind {
            StepKind::Http(req) => req,
            // Boxed: the WebSocket steps' state would otherwise enlarge
            // every HTTP request's future, which is on the hot path.
            StepKind::Ws(ws) => return Box::pin(self.ws_step(key, step, ws)).await,
        };
        let needs_body = !req.captures.is_empty() || req.ledger.is_some();
        let target = self.shared.target(self.region);
        // An open-model request is timed from its intended start, so a late
        // start counts against the target's latency; one released a little
        // early (see the dispatcher's release window) is timed from when it
        // actually leaves. A retry is timed from when it leaves.
        let now = Instant::now();
        let mut from = self.from.take().map_or(now, |intended| intended.min(now));
        let mut attempt: u32 = 1;
        self.requests = self.requests.wrapping_add(1);
        let tracer = self.shared.tracer.as_ref();
        let (outcome, response) = loop {
            let sent = Instant::now();
            // A retry of the same logical operation resends the very bytes
            // (its idempotency key included); otherwise it is rendered anew.
            let render = attempt == 1 || req.retry.as_ref().is_some_and(|r| !r.same_key);
            let rendered = if render {
                let mut ctx = RenderCtx {
                    seq: self.seq,
                    iter_seed: self.iter_seed,
                    rng: &mut self.rng,
                    feeders: &self.shared.scenario.feeders,
                    session: &self.vars,
                    unresolved: 0,
                };
                http::render(req, target, &mut ctx, &mut self.slot.scratch)
            } else {
                Ok(())
            };
            let mut ids = None;
            let (outcome, response) = match rendered {
                Err(o) => (o, None),
                Ok(()) => {
                    if let Some(t) = tracer {
                        ids = t.decide(self.seq, self.requests, attempt);
                        self.slot.scratch.set_trace(t, ids.as_ref(), key);
                    }
                    let exchange = http::exchange(
                        req,
                        step.timeout,
                        target,
                        &mut self.slot.conn,
                        &mut self.slot.scratch,
                        &self.shared.abort,
                        needs_body,
                    );
                    // Without a socket, await the exchange directly: the
                    // pump's state (boxed) would otherwise enlarge every
                    // request's future, and futures are moved by value on
                    // the hot path.
                    if self.ws.is_some() {
                        Box::pin(pump(&mut self.ws, self.live, exchange)).await
                    } else {
                        exchange.await
                    }
                }
            };
            let end = Instant::now();
            let latency = micros(end.saturating_duration_since(from));
            if let (Some(t), Some(ids)) = (tracer, ids) {
                self.traced(t, ids, key, attempt, (sent, end), latency, outcome);
            }
            self.push_result(key, outcome, latency, end);
            if let Some(op) = &req.ledger {
                self.record_ledger(op, attempt, outcome, response.as_ref(), sent, end);
            }
            let Some(retry) = &req.retry else {
                break (outcome, response);
            };
            if attempt > retry.max || !ledger::retryable(&retry.on, outcome) || self.time_is_up() {
                break (outcome, response);
            }
            let wait = ledger::backoff(retry.backoff, attempt, &mut self.rng);
            // Boxed: only a retry pays for the wait's state.
            if Box::pin(self.wait_until(Instant::now() + wait)).await == Next::Stop {
                break (outcome, response);
            }
            attempt += 1;
            from = Instant::now();
        };
        if outcome == Outcome::Unresolved {
            return Next::Stop;
        }
        if !outcome.is_ok() {
            // Later steps depend on this one (an order needs its checkout).
            return Next::Stop;
        }
        if let Some(resp) = response {
            self.capture(&req.captures, &resp);
        }
        Next::Go
    }

    /// A sampled attempt: to the exporter as a client span, and to the
    /// report's list of the slowest.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn traced(
        &mut self,
        t: &Tracer,
        ids: Ids,
        key: usize,
        attempt: u32,
        (sent, end): (Instant, Instant),
        latency: u64,
        outcome: Outcome,
    ) {
        let ns = |at: Instant| {
            u64::try_from(at.saturating_duration_since(self.shared.t0).as_nanos())
                .unwrap_or(u64::MAX)
        };
        t.export(SpanRecord {
            ids,
            key: u32::try_from(key).unwrap_or(u32::MAX),
            seq: self.seq,
            attempt,
            start_ns: ns(sent),
            end_ns: ns(end),
            latency_us: latency,
            outcome,
        });
        self.slot.traced.push(Traced {
            key,
            ids,
            latency,
            attempt,
            outcome,
        });
    }

    fn capture(&mut self, captures: &[Capture], resp: &Response) {
        self.capture_from(captures, &resp.body, |name| {
            resp.header(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(|v| v.trim().to_owned())
        });
    }

    /// Take `captures` from a body (JSON or text) and, for header sources,
    /// from `header`.
    pub(super) fn capture_from(
        &mut self,
        captures: &[Capture],
        body: &[u8],
        header: impl Fn(&str) -> Option<String>,
    ) {
        apply_captures(&mut self.vars, captures, body, header);
    }
}

/// Set the session variables `captures` take from a response: its body
/// (JSON or text) and, for header sources, `header`.
pub(crate) fn apply_captures(
    vars: &mut [Option<String>],
    captures: &[Capture],
    body: &[u8],
    header: impl Fn(&str) -> Option<String>,
) {
    let mut json: Option<Option<serde_json::Value>> = None;
    for c in captures {
        let value = match &c.from {
            CaptureFrom::Header(name) => header(name.as_str()),
            CaptureFrom::Regex { re, group } => std::str::from_utf8(body)
                .ok()
                .and_then(|text| re.captures(text))
                .and_then(|m| m.get(*group))
                .map(|m| m.as_str().to_owned()),
            CaptureFrom::Json(path) => {
                let doc = json.get_or_insert_with(|| serde_json::from_slice(body).ok());
                doc.as_ref()
                    .and_then(|d| json_lookup(d, path))
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
            }
        };
        if let Some(slot) = vars.get_mut(c.var) {
            // A value the response lacks leaves the variable unset, so a
            // later use counts as unresolved rather than sending garbage.
            *slot = value;
        }
    }
}
