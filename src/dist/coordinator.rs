//! The coordinator of a distributed run: registers the workers (refusing
//! another scenario or a taken index), holds them at a barrier, announces
//! one start time, merges their per-second figures and final recorders
//! exactly, notices a worker that dies or goes silent, and hands back one
//! merged result for one report.
//!
//! Owns the run's distributed life cycle and the HTTP endpoints workers
//! talk to. Must not send load itself, replace a lost worker (its slice
//! would be replayed late and counted twice), or judge results.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::proto::{self, Ack, Batch, Final, Refusal, Register, StartAt};
use super::DistError;
use crate::engine::{Progress, RunResult, StepKeys};
use crate::metrics::interval::{Closed, Collector};
use crate::metrics::{IntervalPart, Recorder};
use crate::scenario::Scenario;
use crate::schedule::Schedule;

/// A worker silent for this long is lost.
pub const LOST_AFTER: Duration = Duration::from_secs(5);

/// Seconds a second stays open on the coordinator: a worker closes its
/// own seconds after two and sends every second.
const CLOSE_AFTER: u32 = 5;

/// How the coordinator runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub workers: u32,
    pub listen: SocketAddr,
    /// The barrier must fill within this.
    pub barrier_timeout: Duration,
    /// Time between the announcement and the start, for every worker to
    /// hear it and set its clock.
    pub lead: Duration,
    /// Start the workers as local processes of this executable.
    pub local: Option<LocalWorkers>,
    /// What every worker is told besides the start time.
    pub start: StartAt,
}

/// Local worker processes.
#[derive(Debug, Clone)]
pub struct LocalWorkers {
    pub exe: PathBuf,
    pub scenario: PathBuf,
    /// Flags passed on to every worker (e.g. `--otlp URL`).
    pub args: Vec<String>,
}

/// One worker as the report shows it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WorkerInfo {
    pub index: u32,
    pub region: Option<String>,
    pub host: String,
    /// `done`, or `lost` (died or went silent).
    pub status: String,
    /// Its own start against the announced one, ms (start skew).
    pub start_offset_ms: Option<f64>,
    /// Requests it reported in its final recorder.
    pub sent: u64,
    /// Seconds from the start when it was last heard from.
    pub last_seen_s: Option<f64>,
    /// For a lost worker: the window of its slice that did not run.
    pub missed_from_s: Option<f64>,
    pub missed_to_s: Option<f64>,
    /// Its slice: `index/count`.
    pub segment: String,
}

/// The merged run and the workers' story.
pub struct Outcome {
    pub result: RunResult,
    pub workers: Vec<WorkerInfo>,
    /// Each finished worker's own whole-run figures, as it sent them.
    pub finals: Vec<Final>,
    /// Some worker ran without verifying TLS certificates.
    pub insecure: bool,
}

#[derive(Debug, Clone)]
enum Barrier {
    Waiting,
    Go(StartAt),
    Abort(String),
}

struct Slot {
    info: WorkerInfo,
    insecure: bool,
    last_seen: Option<Instant>,
    done: Option<Final>,
    lost: bool,
    sessions: u64,
    sockets: u64,
}

struct Shared {
    sha256: String,
    /// The scenario's region names, and whether each has traffic.
    regions: Vec<(String, bool)>,
    count: u32,
    slots: Mutex<Vec<Option<Slot>>>,
    collector: Mutex<Collector>,
    barrier: watch::Sender<Barrier>,
    stop: CancellationToken,
    sink: Option<mpsc::UnboundedSender<Closed>>,
}

impl Shared {
    fn slots(&self) -> MutexGuard<'_, Vec<Option<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn collector(&self) -> MutexGuard<'_, Collector> {
        self.collector.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn refuse(status: StatusCode, error: impl Into<String>) -> Response {
    (
        status,
        Json(Refusal {
            error: error.into(),
        }),
    )
        .into_response()
}

async fn register(State(s): State<Arc<Shared>>, Json(r): Json<Register>) -> Response {
    if r.scenario_sha256 != s.sha256 {
        return refuse(
            StatusCode::CONFLICT,
            format!(
                "scenario mismatch: the worker loaded {}, the run is {}",
                short(&r.scenario_sha256),
                short(&s.sha256)
            ),
        );
    }
    if r.count != s.count || r.index >= s.count {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "worker {}/{} does not fit a run of {} workers",
                r.index, r.count, s.count
            ),
        );
    }
    if let Some(region) = &r.region {
        if !s.regions.iter().any(|(name, _)| name == region) {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the scenario has no region `{region}`"),
            );
        }
    }
    if !matches!(*s.barrier.borrow(), Barrier::Waiting) {
        return refuse(StatusCode::CONFLICT, "the run has already started");
    }
    let mut slots = s.slots();
    let Some(slot) = slots.get_mut(r.index as usize) else {
        return refuse(StatusCode::BAD_REQUEST, "no such index");
    };
    if slot.is_some() {
        return refuse(
            StatusCode::CONFLICT,
            format!("index {} is already taken", r.index),
        );
    }
    *slot = Some(Slot {
        info: WorkerInfo {
            index: r.index,
            region: r.region,
            host: r.host,
            status: "registered".into(),
            segment: format!("{}/{}", r.index, r.count),
            ..WorkerInfo::default()
        },
        insecure: r.insecure,
        last_seen: Some(Instant::now()),
        done: None,
        lost: false,
        sessions: 0,
        sockets: 0,
    });
    Json(serde_json::json!({ "ok": true })).into_response()
}

async fn start(State(s): State<Arc<Shared>>) -> Response {
    let mut rx = s.barrier.subscribe();
    loop {
        match rx.borrow_and_update().clone() {
            Barrier::Go(at) => return Json(at).into_response(),
            Barrier::Abort(why) => return refuse(StatusCode::SERVICE_UNAVAILABLE, why),
            Barrier::Waiting => {}
        }
        if rx.changed().await.is_err() {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the coordinator stopped");
        }
    }
}

async fn batch(State(s): State<Arc<Shared>>, Json(b): Json<Batch>) -> Response {
    {
        let mut slots = s.slots();
        match slots.get_mut(b.index as usize).and_then(Option::as_mut) {
            // A worker declared lost stays lost: its late figures would
            // change a result already reported as partial.
            Some(slot) if !slot.lost => {
                slot.last_seen = Some(Instant::now());
                slot.sessions = b.sessions;
                slot.sockets = b.sockets;
            }
            _ => return refuse(StatusCode::GONE, "unknown or lost worker"),
        }
    }
    let parts: Vec<IntervalPart> = b.parts.into_iter().map(Into::into).collect();
    let late = s.collector().add(parts);
    if let (Some(late), Some(sink)) = (late, &s.sink) {
        let _ = sink.send(late);
    }
    Json(Ack {
        stop: s.stop.is_cancelled(),
    })
    .into_response()
}

async fn finish(State(s): State<Arc<Shared>>, Json(f): Json<Final>) -> Response {
    let mut slots = s.slots();
    match slots.get_mut(f.index as usize).and_then(Option::as_mut) {
        Some(slot) if !slot.lost => {
            slot.last_seen = Some(Instant::now());
            slot.done = Some(f);
            Json(serde_json::json!({ "ok": true })).into_response()
        }
        _ => refuse(StatusCode::GONE, "unknown or lost worker"),
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Run the distributed rehearsal to its end. `stop` interrupts it (the
/// workers are told on their next batch).
pub async fn run(
    scenario: Arc<Scenario>,
    schedule: &Schedule,
    opts: Options,
    stop: CancellationToken,
    sink: Option<mpsc::UnboundedSender<Closed>>,
    progress: Option<watch::Sender<Progress>>,
    started: Option<watch::Sender<Option<(Instant, SystemTime)>>>,
) -> Result<Outcome, DistError> {
    let keys = StepKeys::new(&scenario);
    let (barrier, _) = watch::channel(Barrier::Waiting);
    let count = opts.workers.max(1);
    let shared = Arc::new(Shared {
        sha256: scenario.sha256.clone(),
        regions: scenario
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.shares.iter().any(|s| *s > 0.0)))
            .collect(),
        count,
        slots: Mutex::new((0..count).map(|_| None).collect()),
        collector: Mutex::new(Collector::new(keys.len(), scenario.regions.len())),
        barrier,
        stop: stop.clone(),
        sink: sink.clone(),
    });
    let app = Router::new()
        .route(proto::REGISTER, post(register))
        .route(proto::START, get(start))
        .route(proto::BATCH, post(batch))
        .route(proto::FINAL, post(finish))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| DistError::Transport(format!("cannot listen on {}: {e}", opts.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| DistError::Transport(e.to_string()))?;
    let serving = CancellationToken::new();
    let server = {
        let done = serving.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(done)
                .await;
        })
    };
    tracing::info!(%addr, workers = count, "coordinator listening");
    let mut children = match &opts.local {
        Some(local) => spawn_local(local, addr, count)?,
        None => Vec::new(),
    };

    let outcome = drive(
        &shared,
        schedule,
        &opts,
        &mut children,
        &stop,
        progress,
        started,
    )
    .await;

    // Whatever happened, no worker outlives the coordinator.
    for c in &mut children {
        let _ = c.start_kill();
    }
    for c in &mut children {
        let _ = tokio::time::timeout(Duration::from_secs(2), c.wait()).await;
    }
    serving.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let (t0, elapsed) = outcome?;

    let closed = shared.collector().close_all();
    if let Some(sink) = &sink {
        for c in closed {
            let _ = sink.send(c);
        }
    }
    let summaries = {
        let mut c = shared.collector();
        std::mem::replace(&mut *c, Collector::new(0, 1)).into_summaries()
    };
    merge(&shared, &scenario, keys, summaries, t0, elapsed, &stop)
}

fn spawn_local(
    local: &LocalWorkers,
    addr: SocketAddr,
    count: u32,
) -> Result<Vec<Child>, DistError> {
    (0..count)
        .map(|i| {
            Command::new(&local.exe)
                .arg("worker")
                .arg(&local.scenario)
                .args(["--coordinator", &addr.to_string()])
                .args(["--index", &i.to_string(), "--workers", &count.to_string()])
                .args(&local.args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| DistError::Transport(format!("cannot start worker {i}: {e}")))
        })
        .collect()
}

/// Barrier, start, and watching the workers until each has finished or is
/// lost. Returns the start instant and how long the run took.
async fn drive(
    shared: &Arc<Shared>,
    schedule: &Schedule,
    opts: &Options,
    children: &mut [Child],
    stop: &CancellationToken,
    progress: Option<watch::Sender<Progress>>,
    started: Option<watch::Sender<Option<(Instant, SystemTime)>>>,
) -> Result<(Instant, Duration), DistError> {
    let count = shared.count as usize;
    let deadline = Instant::now() + opts.barrier_timeout;
    loop {
        let registered = shared.slots().iter().filter(|s| s.is_some()).count();
        if registered == count {
            break;
        }
        let why = if stop.is_cancelled() {
            Some("interrupted before the start".to_owned())
        } else if Instant::now() >= deadline {
            Some(format!(
                "only {registered} of {count} workers registered within {} s; nothing was sent",
                opts.barrier_timeout.as_secs()
            ))
        } else {
            None
        };
        if let Some(why) = why {
            shared.barrier.send_replace(Barrier::Abort(why.clone()));
            // Let waiting workers hear it.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Err(DistError::Barrier(why));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Workers pinned to regions: all of them, and every region with
    // traffic covered, or some arrivals would have no worker.
    let worker_regions: Vec<Option<String>> = shared
        .slots()
        .iter()
        .map(|s| s.as_ref().and_then(|s| s.info.region.clone()))
        .collect();
    if worker_regions.iter().any(Option::is_some) {
        let why = if worker_regions.iter().any(Option::is_none) {
            Some("some workers name a region and some do not; pin all of them or none".to_owned())
        } else {
            shared
                .regions
                .iter()
                .find(|(name, traffic)| {
                    *traffic && !worker_regions.iter().any(|w| w.as_deref() == Some(name))
                })
                .map(|(name, _)| format!("region `{name}` has traffic but no worker"))
        };
        if let Some(why) = why {
            shared.barrier.send_replace(Barrier::Abort(why.clone()));
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Err(DistError::Barrier(why));
        }
    }
    let now_wall = SystemTime::now();
    let t0 = Instant::now() + opts.lead;
    let t0_unix_ms = (now_wall + opts.lead)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    shared.barrier.send_replace(Barrier::Go(StartAt {
        t0_unix_ms,
        worker_regions,
        ..opts.start.clone()
    }));
    if let Some(s) = started {
        s.send_replace(Some((t0, now_wall + opts.lead)));
    }
    {
        let mut slots = shared.slots();
        for slot in slots.iter_mut().flatten() {
            slot.info.status = "running".into();
            // Silence counts from the start, not from registration.
            slot.last_seen = Some(t0);
        }
    }

    let end = schedule.end();
    // Past the timeline, a worker only drains; it must be done by then.
    let hard_stop = t0 + end + Duration::from_secs(60) + LOST_AFTER;
    let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => {}
        }
        let now = Instant::now();
        let second = u32::try_from(now.saturating_duration_since(t0).as_secs()).unwrap_or(u32::MAX);
        let closed = shared
            .collector()
            .close_before(second.saturating_sub(CLOSE_AFTER));
        if let Some(sink) = &shared.sink {
            for c in closed {
                let _ = sink.send(c);
            }
        }
        let mut exited = vec![false; count];
        for (i, c) in children.iter_mut().enumerate() {
            if let Ok(Some(_)) = c.try_wait() {
                exited[i] = true;
            }
        }
        let (all_settled, sessions, sockets) = {
            let mut slots = shared.slots();
            let mut settled = 0;
            let (mut sessions, mut sockets) = (0, 0);
            for (i, slot) in slots.iter_mut().enumerate() {
                let Some(slot) = slot else { continue };
                if slot.done.is_none() && !slot.lost {
                    let silent = slot
                        .last_seen
                        .is_some_and(|t| now.saturating_duration_since(t) > LOST_AFTER);
                    // A local process that exited without its final
                    // recorder is gone; give the last request a moment.
                    let died = exited.get(i).copied().unwrap_or(false)
                        && slot.last_seen.is_some_and(|t| {
                            now.saturating_duration_since(t) > Duration::from_secs(1)
                        });
                    if silent || died || now >= hard_stop {
                        slot.lost = true;
                        let seen = slot
                            .last_seen
                            .map(|t| t.saturating_duration_since(t0).as_secs_f64());
                        slot.info.status = "lost".into();
                        slot.info.missed_from_s = seen;
                        slot.info.missed_to_s = Some(end.as_secs_f64());
                        tracing::warn!(worker = i, "worker lost; its slice is not replayed");
                    }
                }
                if slot.done.is_some() || slot.lost {
                    settled += 1;
                }
                if !slot.lost {
                    sessions += slot.sessions;
                    sockets += slot.sockets;
                }
            }
            (settled == count, sessions, sockets)
        };
        if let Some(p) = &progress {
            p.send_replace(Progress {
                latest: shared.collector().latest,
                sessions,
                sockets,
            });
        }
        if all_settled {
            return Ok((t0, now.saturating_duration_since(t0)));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn merge(
    shared: &Shared,
    scenario: &Scenario,
    keys: StepKeys,
    intervals: crate::metrics::interval::Summaries,
    t0: Instant,
    elapsed: Duration,
    stop: &CancellationToken,
) -> Result<Outcome, DistError> {
    let mut recorder = Recorder::new(keys.len(), scenario.phases.len());
    let mut workers = Vec::new();
    let mut sessions: Vec<(f64, u64)> = Vec::new();
    let mut cpu: Option<Duration> = None;
    let mut interrupted = stop.is_cancelled();
    let mut elapsed_max = Duration::ZERO;
    let mut finals = Vec::new();
    let slots = shared.slots();
    let insecure = slots.iter().flatten().any(|s| s.insecure);
    for slot in slots.iter().flatten() {
        let mut info = slot.info.clone();
        if let Some(f) = &slot.done {
            recorder
                .merge(&f.recorder)
                .map_err(|e| DistError::Transport(format!("worker {}: {e}", f.index)))?;
            info.status = "done".into();
            info.sent = f.recorder.steps.iter().map(|s| s.counts.sent).sum();
            info.start_offset_ms = Some(f.started_unix_ms as f64 - t0_unix_ms(shared));
            interrupted |= f.interrupted;
            elapsed_max = elapsed_max.max(Duration::from_millis(f.elapsed_ms));
            if let Some(ms) = f.cpu_ms {
                cpu = Some(cpu.unwrap_or_default() + Duration::from_millis(ms));
            }
            for (i, &(t, n)) in f.sessions.iter().enumerate() {
                match sessions.get_mut(i) {
                    Some(s) => s.1 += n,
                    None => sessions.push((t, n)),
                }
            }
            finals.push(f.clone());
        }
        info.last_seen_s = slot
            .last_seen
            .map(|t| t.saturating_duration_since(t0).as_secs_f64());
        workers.push(info);
    }
    workers.sort_by_key(|w| w.index);
    Ok(Outcome {
        result: RunResult {
            recorder,
            keys,
            // The workers' own clocks from their start; the coordinator's
            // when none finished.
            elapsed: if elapsed_max.is_zero() {
                elapsed
            } else {
                elapsed_max
            },
            interrupted,
            sessions,
            cpu,
            intervals,
        },
        workers,
        insecure,
        finals,
    })
}

fn t0_unix_ms(shared: &Shared) -> f64 {
    match &*shared.barrier.borrow() {
        Barrier::Go(at) => at.t0_unix_ms as f64,
        _ => 0.0,
    }
}
