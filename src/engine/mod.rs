//! The open-model engine: replays a schedule against a target.
//!
//! Owns the run's task structure: a dispatcher that releases arrivals at
//! their intended times, and a few lanes that execute them and record what
//! happened. Latency is measured from intended start times (wrk2's method),
//! so a stalling target is charged for the queue it causes; arrivals the
//! generator could not start are counted as late or dropped, never hidden.
//! Shutdown is ordered: stop scheduling → let in-flight requests finish
//! within a grace period → abort the rest → stop connection tasks.
//! Must not parse scenarios, judge SLOs or print anything.

// Crate-visible: the Goose engine measures the process's CPU the same way.
pub(crate) mod cpu;
mod fanout;
// Crate-visible: the Toxiproxy backend posts the one toxic its client lacks.
pub(crate) mod h1;
mod http;
mod keys;
mod lane;
// Crate-visible: the Goose engine retries and captures as this engine does.
pub(crate) mod ledger;
pub(crate) mod program;
pub(crate) mod session;
pub mod tls;
mod trace;
mod ws;
mod ws_steps;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use cpu::host_name;
pub use keys::StepKeys;
pub use trace::{Ids, SpanRecord, TraceSetup};

use crate::metrics::interval::{Closed, Collector, Summaries, Totals};
use crate::metrics::{IntervalPart, MergeError, Recorder};
use crate::scenario::{Load, Scenario};
use crate::schedule::{Schedule, Segment};
use lane::{Dispatched, Shared};

/// How to run (from flags, not from the scenario).
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Most connections (and so requests in flight) at once.
    pub connections: usize,
    /// Recording tasks; each owns its connections and histograms.
    pub lanes: usize,
    /// Arrivals that may wait for a free connection before new ones are
    /// dropped.
    pub backlog: usize,
    /// Most viewer/user sessions alive at once (each holds a connection).
    pub max_sessions: usize,
    /// Which slice of the schedule this process runs.
    pub segment: Segment,
    /// An iteration starting later than this after its intended time is late.
    pub late_after: Duration,
    /// After an interrupt, how long in-flight requests may take to finish.
    pub interrupt_grace: Duration,
    /// Local addresses WebSocket connections bind to, round-robin (e.g.
    /// several of 127.0.0.0/8, so tens of thousands of sockets to one
    /// target do not run out of ephemeral ports); empty: the OS picks.
    pub sources: Vec<std::net::IpAddr>,
    /// Where each region's traffic goes (its proxy), by region index;
    /// empty: straight to the target.
    pub routes: Vec<std::net::SocketAddr>,
    /// The run's time origin, when something else (the chaos timeline)
    /// must share it; `None`: when `run` is called.
    pub t0: Option<Instant>,
    /// Where each closed second's histograms go (the interval log);
    /// `None`: only their summaries are kept.
    pub interval_sink: Option<mpsc::UnboundedSender<Closed>>,
    /// Told the figures of every second as it closes (live progress).
    pub progress: Option<tokio::sync::watch::Sender<Progress>>,
    /// Run only one region's arrivals (a distributed worker placed in that
    /// region); replaces `segment`.
    pub pin: Option<Pin>,
    /// Certificate handling for `https://` targets.
    pub tls: tls::TlsOptions,
    /// The run's side of trace propagation (run id, where spans go); the
    /// scenario's `telemetry.trace` decides whether anything is sampled.
    pub trace: Option<TraceSetup>,
}

/// A worker's share of one region's arrivals: those of region `region`
/// whose sequence number is `rank` modulo `of` (the region's workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub region: usize,
    pub rank: u32,
    pub of: u32,
}

/// The latest second, for a live display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The figures (all steps) of the second that just ended, as far as
    /// they have arrived; before any, of the newest closed second.
    pub latest: Option<Totals>,
    /// Viewer and user sessions alive now.
    pub sessions: u64,
    /// WebSocket connections open now.
    pub sockets: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            connections: 256,
            lanes: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 8),
            backlog: 100_000,
            max_sessions: 100_000,
            segment: Segment::WHOLE,
            late_after: Duration::from_millis(10),
            interrupt_grace: Duration::from_secs(2),
            sources: Vec::new(),
            routes: Vec::new(),
            t0: None,
            interval_sink: None,
            progress: None,
            pin: None,
            tls: tls::TlsOptions::default(),
            trace: None,
        }
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct RunResult {
    pub recorder: Recorder,
    pub keys: StepKeys,
    /// From the first intended arrival to the end of the last request.
    pub elapsed: Duration,
    /// Stopped by the caller before the schedule ended.
    pub interrupted: bool,
    /// Live viewer/user sessions over time: (seconds since start, count),
    /// sampled every 250 ms; empty when no phase is closed-model.
    pub sessions: Vec<(f64, u64)>,
    /// CPU time the whole process used during the run (generator, and the
    /// embedded demo when it runs in-process), where the OS tells.
    pub cpu: Option<Duration>,
    /// By step key, per second of the run: count, p50, p99 and max.
    pub intervals: Summaries,
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("target {url}: {reason}")]
    Target { url: String, reason: String },
    #[error("cannot resolve target {url}: {source}")]
    Resolve {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// For an `https://` target, one TLS handshake before the run: a refused
/// certificate is a setup problem to report now, with what to do about
/// it, not thousands of failed requests. A target that cannot be reached
/// at all is left to the run to record. `Err` carries the message.
pub async fn check_tls(target: &url::Url, opts: &tls::TlsOptions) -> Result<(), String> {
    if target.scheme() != "https" {
        return Ok(());
    }
    let t = http::resolve(target, opts)
        .await
        .map_err(|e| e.to_string())?;
    let attempt = h1::H1Conn::connect_to(t.addr, t.tls.as_ref());
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Err(e)) if tls::is_certificate_error(&e) => Err(format!(
            "TLS: the certificate of {target} was refused ({e}); trust its CA with \
             --ca-file FILE.pem, or, for a test system only, skip verification with --insecure"
        )),
        _ => Ok(()),
    }
}

/// Replay `schedule` (built from `scenario`) against `target`. Returns when
/// every arrival has been started or dropped and every request has ended.
/// Cancelling `stop` ends scheduling early; requests still in flight get
/// `cfg.interrupt_grace` to finish and are then aborted.
pub async fn run(
    scenario: Arc<Scenario>,
    schedule: &Schedule,
    target: &url::Url,
    cfg: &RunConfig,
    stop: CancellationToken,
) -> Result<RunResult, EngineError> {
    if !matches!(target.scheme(), "http" | "https") {
        return Err(EngineError::Target {
            url: target.to_string(),
            reason: format!(
                "scheme `{}` is not supported; use http:// or https://",
                target.scheme()
            ),
        });
    }
    let http_target =
        http::resolve(target, &cfg.tls)
            .await
            .map_err(|source| EngineError::Resolve {
                url: target.to_string(),
                source,
            })?;
    let keys = StepKeys::new(&scenario);
    let abort = CancellationToken::new();
    let n_phases = scenario.phases.len();
    let t0 = cfg.t0.map_or_else(Instant::now, |t| t.max(Instant::now()));
    // Each region dials its own proxy; the Host header stays the target's.
    let targets = if cfg.routes.is_empty() {
        vec![http_target]
    } else {
        cfg.routes
            .iter()
            .map(|&addr| http::HttpTarget {
                addr,
                ..http_target.clone()
            })
            .collect()
    };
    let seed = scenario.seed;
    let tracer = trace::Tracer::new(&scenario, &keys, cfg.trace.as_ref());
    let shared = Arc::new(Shared {
        scenario,
        keys: keys.clone(),
        targets,
        t0,
        timeline_end: t0 + schedule.end(),
        stop: stop.clone(),
        abort: abort.clone(),
        late_after: cfg.late_after,
        active_sessions: AtomicU64::new(0),
        rooms: fanout::Rooms::default(),
        // From the seed, so that every worker of a distributed run
        // recognises the others' messages, and reruns send the same bytes.
        run_tag: crate::schedule::mix(seed, 0xfa17) as u32,
        sources: cfg.sources.clone(),
        tracer,
    });

    let lanes = cfg.lanes.max(1);
    let caps = lane::LaneCaps {
        iterations: cfg.connections.max(1).div_ceil(lanes),
        sessions: cfg.max_sessions.max(1).div_ceil(lanes),
    };
    let per_lane_backlog = cfg.backlog.max(1).div_ceil(lanes);
    let lane_tasks = TaskTracker::new();
    let mut senders = Vec::with_capacity(lanes);
    let mut handles = Vec::with_capacity(lanes);
    let (parts_tx, parts_rx) = mpsc::unbounded_channel();
    // Ends when every lane has dropped its sender, after their last parts.
    let collector = {
        let gauge = shared.clone();
        tokio::spawn(collect(
            parts_rx,
            Collecting {
                t0,
                keys: keys.len(),
                regions: shared.scenario.regions.len(),
                sink: cfg.interval_sink.clone(),
                progress: cfg.progress.clone(),
            },
            move || {
                (
                    gauge.active_sessions.load(Ordering::Relaxed),
                    gauge.rooms.open_sockets(),
                )
            },
        ))
    };
    for _ in 0..lanes {
        let (tx, rx) = mpsc::channel(per_lane_backlog);
        senders.push(tx);
        handles.push(lane_tasks.spawn(lane::run(
            shared.clone(),
            rx,
            caps,
            stop.clone(),
            parts_tx.clone(),
        )));
    }
    drop(parts_tx);
    lane_tasks.close();
    let cpu_before = cpu::process_cpu();
    let sampling = CancellationToken::new();
    // Only closed-model phases have sessions to count.
    let has_sessions = shared
        .scenario
        .phases
        .iter()
        .any(|p| !matches!(p.load, Load::Open { .. }));
    let sampler = has_sessions.then(|| {
        let gauge = shared.clone();
        tokio::spawn(sample_sessions(
            t0,
            move || gauge.active_sessions.load(Ordering::Relaxed),
            sampling.clone(),
        ))
    });

    let dispatcher = {
        let schedule = schedule.clone();
        let segment = cfg.segment;
        let pin = cfg.pin.map(|p| (p, shared.scenario.clone()));
        let stop = stop.clone();
        let n_keys = keys.len();
        tokio::task::spawn_blocking(move || {
            let mut rec = Recorder::new(n_keys, n_phases);
            dispatch_all(&schedule, segment, pin, t0, &senders, &stop, &mut rec);
            // Dropping the senders here tells the lanes the schedule is over.
            drop(senders);
            rec
        })
    };
    let dispatch = match dispatcher.await {
        Ok(rec) => rec,
        // Only a panic in the dispatcher gets here; the lanes still report.
        Err(_) => Recorder::new(keys.len(), n_phases),
    };

    // Drain: lanes finish by themselves once their channels are empty and
    // their requests have ended (every request has a deadline). An interrupt
    // during the drain gets the same bounded grace as one during scheduling.
    let drained = lane_tasks.wait();
    tokio::pin!(drained);
    tokio::select! {
        _ = &mut drained => {}
        _ = stop.cancelled() => {
            if tokio::time::timeout(cfg.interrupt_grace, &mut drained).await.is_err() {
                abort.cancel();
                drained.await;
            }
        }
    }
    let elapsed = t0.elapsed();
    let cpu = cpu::process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    sampling.cancel();
    let sessions = match sampler {
        Some(task) => task.await.unwrap_or_default(),
        None => Vec::new(),
    };

    let mut recorder = dispatch;
    for h in handles {
        // A lane only ends by returning its recorder; a join error means it
        // panicked, which is a bug, so its samples are lost but the others
        // are still reported.
        if let Ok(lane_rec) = h.await {
            recorder.merge(&lane_rec)?;
        }
    }

    // Every lane has ended, so the collector's channel closes; it only
    // has the last seconds left to close.
    let intervals = collector.await.unwrap_or_default();

    Ok(RunResult {
        recorder,
        keys,
        elapsed,
        interrupted: stop.is_cancelled(),
        sessions,
        cpu,
        intervals,
    })
}

/// Seconds a second stays open for late parts: a lane hands over every
/// second, and a long-lived session every second too.
const CLOSE_AFTER: u32 = 2;

/// How long after the lanes' hand-over the collector looks: time for their
/// parts of the second that just ended to arrive.
pub(crate) const PROGRESS_SETTLE: Duration = Duration::from_millis(200);

/// Where the per-second figures of a run go, and how its keys group.
pub(crate) struct Collecting {
    /// The run's time origin: second 0 starts here.
    pub t0: Instant,
    /// Step keys, grouped by `regions` into steps.
    pub keys: usize,
    pub regions: usize,
    pub sink: Option<mpsc::UnboundedSender<Closed>>,
    pub progress: Option<tokio::sync::watch::Sender<Progress>>,
}

/// Merge the recording tasks' per-second parts, close each second once no
/// more parts are expected for it, hand closed seconds to the sink, and
/// return the summaries. `gauges` reads the live sessions and open
/// WebSockets for the progress line. Ends when every sender of `rx` is
/// gone.
pub(crate) async fn collect(
    mut rx: mpsc::UnboundedReceiver<Vec<IntervalPart>>,
    to: Collecting,
    gauges: impl Fn() -> (u64, u64),
) -> Summaries {
    let t0 = to.t0;
    let mut c = Collector::new(to.keys, to.regions);
    let send = |closed: Closed| {
        if let Some(s) = &to.sink {
            // A sink that is gone (its writer failed) is reported there.
            let _ = s.send(closed);
        }
    };
    // A little after each lane's hand-over, so the second that just ended
    // has its parts when the progress line reads it.
    let mut tick = tokio::time::interval_at(
        t0 + lane::HANDOFF_EVERY + PROGRESS_SETTLE,
        lane::HANDOFF_EVERY,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(parts) => {
                    if let Some(late) = c.add(parts) {
                        send(late);
                    }
                }
                None => break,
            },
            at = tick.tick() => {
                let now = u32::try_from(at.saturating_duration_since(t0).as_secs()).unwrap_or(u32::MAX);
                for closed in c.close_before(now.saturating_sub(CLOSE_AFTER)) {
                    send(closed);
                }
                if let Some(p) = &to.progress {
                    let (sessions, sockets) = gauges();
                    p.send_replace(Progress {
                        latest: c.provisional(now),
                        sessions,
                        sockets,
                    });
                }
            }
        }
    }
    for closed in c.close_all() {
        send(closed);
    }
    if c.late_parts > 0 {
        tracing::debug!(
            late = c.late_parts,
            "interval parts arrived after their second closed"
        );
    }
    c.into_summaries()
}

/// How often the number of live sessions is sampled.
pub const SESSION_SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// Sample the live-session gauge until `done`: (seconds since `t0`, live).
pub(crate) async fn sample_sessions(
    t0: Instant,
    live: impl Fn() -> u64,
    done: CancellationToken,
) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval_at(t0, SESSION_SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            at = tick.tick() => {
                out.push((at.saturating_duration_since(t0).as_secs_f64(), live()));
            }
        }
    }
    out
}

/// Release every arrival of `segment` at its intended time, round-robin by
/// sequence number over the lanes. Counts scheduled arrivals, arrivals
/// dropped because a lane's backlog was full, and how late the dispatcher
/// itself was.
///
/// This runs on a thread of its own rather than as a task: the runtime's
/// timer ticks in whole milliseconds, so a task would release most arrivals
/// up to a millisecond late, and since latency is measured from the intended
/// time that lag would be charged to the target. A thread sleeping on the
/// OS timer wakes within tens of microseconds.
///
/// At high rates a wake-up per arrival would cost more CPU than the requests
/// themselves, so each wake-up also releases every arrival due within
/// [`RELEASE_WINDOW`]: those leave a little early and are timed from the
/// moment they are sent (see `Session::request`), so the batching never
/// adds to a measured latency. Nothing is released late by design; an
/// arrival is late only when the harness itself falls behind.
fn dispatch_all(
    schedule: &Schedule,
    segment: Segment,
    pin: Option<(Pin, Arc<Scenario>)>,
    t0: Instant,
    senders: &[mpsc::Sender<Dispatched>],
    stop: &CancellationToken,
    rec: &mut Recorder,
) {
    // Longest single sleep, so an interrupt during a quiet stretch of the
    // timeline is noticed quickly.
    const MAX_NAP: Duration = Duration::from_millis(5);
    precise_sleeps();
    let lanes = senders.len() as u64;
    // Arrivals intended up to here go out without waiting.
    let mut released_until = t0;
    let mut now = Instant::now();
    // A pinned worker walks the whole schedule and keeps its region's
    // share: every region's arrivals are split among that region's workers.
    let segment = if pin.is_some() {
        Segment::WHOLE
    } else {
        segment
    };
    for arrival in schedule.arrivals(segment) {
        if let Some((p, scenario)) = &pin {
            let mine = lane::region_of(scenario, arrival.phase as usize, arrival.seq) == p.region
                && arrival.seq % u64::from(p.of.max(1)) == u64::from(p.rank);
            if !mine {
                continue;
            }
        }
        let intended = t0 + arrival.at;
        if intended > released_until {
            now = Instant::now();
            // Sleep rather than spin: at tens of thousands of arrivals a
            // second a spinning dispatcher would eat a core. With a tight
            // timer slack the OS wakes it within a few microseconds.
            while now < intended {
                if stop.is_cancelled() {
                    return;
                }
                std::thread::sleep((intended - now).min(MAX_NAP));
                now = Instant::now();
            }
            released_until = now + RELEASE_WINDOW;
        }
        if stop.is_cancelled() {
            return;
        }
        let phase = arrival.phase as usize;
        rec.note_scheduled(phase, lane::micros(now.saturating_duration_since(intended)));
        let idx = (arrival.seq / u64::from(segment.count.max(1))) % lanes;
        let d = Dispatched { arrival, intended };
        if senders[idx as usize].try_send(d).is_err() {
            rec.note_dropped(phase);
        }
    }
}

/// How far ahead of its intended time an arrival may be released together
/// with an earlier one. Small next to any latency worth measuring, large
/// enough that at 40,000 arrivals/s one wake-up carries about 10 of them.
pub const RELEASE_WINDOW: Duration = Duration::from_micros(500);

/// Ask the OS to wake this thread close to the requested time (Linux
/// otherwise lets sleeps overshoot by up to 50 µs to batch wake-ups).
fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    {
        // Best effort: without it sleeps are only a little less precise.
        let _ = nix::sys::prctl::set_timerslack(1_000);
    }
}

#[cfg(test)]
mod progress_tests {
    use super::*;
    use crate::metrics::interval::IntervalBuf;
    use crate::metrics::Outcome;

    fn parts(second: u32, n: u64) -> Vec<IntervalPart> {
        let mut b = IntervalBuf::default();
        for i in 0..n {
            b.record(second, 0, Outcome::Ok { status: 200 }, Some(1_000 + i));
        }
        b.take()
    }

    /// Lanes hand over each second's figures as it ends; the progress line
    /// must show that second at once, not once it closes two seconds later.
    #[tokio::test(start_paused = true)]
    async fn progress_shows_the_second_that_just_ended() {
        let t0 = Instant::now();
        let (tx, rx) = mpsc::unbounded_channel();
        let (ptx, prx) = tokio::sync::watch::channel(Progress::default());
        let to = Collecting {
            t0,
            keys: 1,
            regions: 1,
            sink: None,
            progress: Some(ptx),
        };
        let collector = tokio::spawn(collect(rx, to, || (0, 0)));
        for second in 0..5u32 {
            // A lane's hand-over at the end of `second`.
            tokio::time::sleep_until(t0 + Duration::from_secs(u64::from(second) + 1)).await;
            tx.send(parts(second, u64::from(second) + 10)).unwrap();
            // Where the progress line reads, a little later.
            tokio::time::sleep(2 * PROGRESS_SETTLE).await;
            let latest = prx.borrow().latest.unwrap();
            assert_eq!(latest.second, second);
            assert_eq!(latest.sent, u64::from(second) + 10);
        }
        drop(tx);
        let summaries = collector.await.unwrap();
        assert_eq!(summaries.by_key[0].len(), 5);
    }
}
