//! A worker of a distributed run: registers with the coordinator, waits at
//! the barrier, runs its own slice of the schedule from the announced start
//! time, sends its closed seconds every second, and its whole recorder at
//! the end.
//!
//! Owns the worker's side of the life cycle, including stopping when the
//! coordinator is gone (it would otherwise load the target for nobody).
//! Must not decide verdicts or write reports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client;
use super::proto::{self, Ack, Batch, Final, Register, StartAt, WirePart};
use super::DistError;
use crate::engine::{self, Progress, RunConfig};
use crate::metrics::interval::Closed;
use crate::scenario::Scenario;
use crate::schedule::{Schedule, Segment};
use crate::telemetry;

/// Failed batches in a row after which the coordinator counts as gone.
const COORDINATOR_LOST_AFTER: u32 = 3;

/// Each call to the coordinator gets this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to keep trying to reach a coordinator that is not up yet.
const REGISTER_FOR: Duration = Duration::from_secs(60);

/// Longest wait at the barrier.
const BARRIER_WAIT: Duration = Duration::from_secs(300);

/// Who this worker is.
#[derive(Debug, Clone)]
pub struct Options {
    pub coordinator: SocketAddr,
    pub index: u32,
    pub count: u32,
    pub region: Option<String>,
    /// Where this worker exports the spans of its sampled requests (the
    /// coordinator exports the merged metrics).
    pub otlp: Option<telemetry::OtlpConfig>,
    /// Hosts off this machine allowed besides the scenario's
    /// `allow_targets` (the worker's `--allow-target`).
    pub allowed: Vec<crate::safety::Allowed>,
    /// How https:// and wss:// targets are verified.
    pub tls: engine::tls::TlsOptions,
}

/// Run this worker's slice. `stop` ends it early (Ctrl-C).
pub async fn run(
    scenario: Arc<Scenario>,
    opts: Options,
    stop: CancellationToken,
) -> Result<(), DistError> {
    let reg = Register {
        index: opts.index,
        count: opts.count,
        region: opts.region.clone(),
        scenario_sha256: scenario.sha256.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        host: engine::host_name(),
        insecure: opts.tls.insecure,
    };
    let give_up = Instant::now() + REGISTER_FOR;
    loop {
        match client::post::<_, serde_json::Value>(
            opts.coordinator,
            proto::REGISTER,
            &reg,
            CALL_TIMEOUT,
        )
        .await
        {
            Ok(_) => break,
            Err(e @ DistError::Refused(..)) => return Err(e),
            Err(e) if Instant::now() >= give_up || stop.is_cancelled() => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let at: StartAt = client::get(opts.coordinator, proto::START, BARRIER_WAIT)
        .await
        .map_err(|e| match e {
            // The coordinator gave up waiting for the others.
            DistError::Refused(_, why) => DistError::Barrier(why),
            e => e,
        })?;
    let target = url::Url::parse(&at.target)
        .map_err(|e| DistError::Transport(format!("target {}: {e}", at.target)))?;
    // The coordinator checked it too, but a worker on another machine
    // answers for where it sends: nothing off loopback it was not allowed.
    let mut allowed = scenario.allow_targets.clone();
    allowed.extend(opts.allowed.iter().cloned());
    // Only the target: chaos servers are the coordinator's to drive.
    let dest: Vec<_> = crate::safety::target_destination(&target)
        .into_iter()
        .collect();
    crate::safety::check(&dest, &allowed)?;
    let schedule = Schedule::new(&scenario.phases, at.seed, at.scale, at.duration());
    // Wall clock for the start everyone shares, monotonic from then on.
    let wall_now = SystemTime::now();
    let t0_wall = SystemTime::UNIX_EPOCH + Duration::from_millis(at.t0_unix_ms);
    let t0 = match t0_wall.duration_since(wall_now) {
        Ok(ahead) => Instant::now() + ahead,
        Err(_) => Instant::now(),
    };
    let (sink, closed_rx) = mpsc::unbounded_channel();
    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let routes = at.routes.iter().filter_map(|r| r.parse().ok()).collect();
    let names: Vec<String> = scenario.regions.iter().map(|r| r.name.clone()).collect();
    let pin = at
        .pin(opts.index, &names)
        .map(|(region, rank, of)| engine::Pin { region, rank, of });
    let mut scenario_run = (*scenario).clone();
    scenario_run.seed = at.seed;
    let scenario_run = Arc::new(scenario_run);
    let exporter = spans_exporter(
        &scenario_run,
        &opts,
        &at,
        &schedule,
        &target,
        progress_rx.clone(),
    );
    let cfg = RunConfig {
        trace: Some(engine::TraceSetup {
            run_id: at.run_id.clone(),
            spans: exporter.as_ref().map(|(_, f)| f.spans.clone()),
            dropped: exporter
                .as_ref()
                .map(|(e, _)| e.engine_dropped.clone())
                .unwrap_or_default(),
        }),
        pin,
        connections: at.connections as usize,
        backlog: at.backlog.max(1) as usize,
        segment: Segment {
            index: opts.index,
            count: opts.count,
        },
        t0: Some(t0),
        routes,
        interval_sink: Some(sink),
        progress: Some(progress_tx),
        tls: opts.tls.clone(),
        ..RunConfig::default()
    };
    let coordinator_lost = CancellationToken::new();
    let engine_stop = stop.child_token();
    let forwarder = tokio::spawn(forward(
        opts.coordinator,
        opts.index,
        closed_rx,
        progress_rx,
        engine_stop.clone(),
        coordinator_lost.clone(),
        t0,
    ));
    if let Some((e, _)) = &exporter {
        e.start(t0, t0_wall);
    }
    // The engine sets itself up before t0 and waits for it; the wall clock
    // read at t0 beside it is the worker's start skew.
    let clock = async {
        tokio::time::sleep_until(t0).await;
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    let load = engine::run(
        scenario_run.clone(),
        &schedule,
        &target,
        &cfg,
        engine_stop.clone(),
    );
    let (started_unix_ms, result) = tokio::join!(clock, load);
    let result = result.map_err(|e| DistError::Transport(e.to_string()));
    // The engine's sender is in `cfg`: dropping it lets the forwarder send
    // its last seconds and end.
    drop(cfg);
    let _ = forwarder.await;
    if let Some((e, feeds)) = exporter {
        drop(feeds);
        let stats = e.finish(Instant::now() + telemetry::FINAL_FLUSH).await;
        if stats.lost() > 0 {
            tracing::warn!(
                "worker {}: {} of {} span exports to {} were lost",
                opts.index,
                stats.lost(),
                stats.lost() + stats.sent,
                stats.endpoint
            );
        }
    }
    if coordinator_lost.is_cancelled() {
        return Err(DistError::CoordinatorLost);
    }
    let r = result?;
    let fin = Final {
        index: opts.index,
        recorder: r.recorder,
        elapsed_ms: r.elapsed.as_millis() as u64,
        interrupted: r.interrupted,
        sessions: r.sessions,
        cpu_ms: r.cpu.map(|c| c.as_millis() as u64),
        started_unix_ms,
    };
    client::post::<_, serde_json::Value>(opts.coordinator, proto::FINAL, &fin, CALL_TIMEOUT * 2)
        .await?;
    Ok(())
}

/// The exporter of this worker's client spans, when it has a collector
/// and its scenario samples requests.
fn spans_exporter(
    scenario: &Arc<Scenario>,
    opts: &Options,
    at: &StartAt,
    schedule: &Schedule,
    target: &url::Url,
    progress: watch::Receiver<Progress>,
) -> Option<(telemetry::Exporter, telemetry::Feeds)> {
    let config = opts.otlp.clone()?;
    if scenario.telemetry.sample() <= 0.0 {
        return None;
    }
    let identity = telemetry::RunIdentity {
        run_id: at.run_id.clone(),
        scenario: scenario.name.clone(),
        scenario_sha256: scenario.sha256.clone(),
        seed: scenario.seed,
        worker: Some((opts.index, opts.region.clone())),
        workers: None,
    };
    Some(telemetry::Exporter::spawn(telemetry::Setup::for_run(
        config, scenario, schedule, target, &identity, false, progress,
    )))
}

/// Send closed seconds every second (an empty batch is the heartbeat);
/// stop the engine when the coordinator says so or is gone.
async fn forward(
    coordinator: SocketAddr,
    index: u32,
    mut closed: mpsc::UnboundedReceiver<Closed>,
    progress: watch::Receiver<Progress>,
    stop: CancellationToken,
    lost: CancellationToken,
    t0: Instant,
) {
    let mut pending: Vec<WirePart> = Vec::new();
    let mut failures = 0;
    let mut open = true;
    let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ticked = tokio::select! {
            c = closed.recv(), if open => match c {
                Some(c) => {
                    pending.extend(c.parts.into_iter().map(WirePart::from));
                    false
                }
                // The engine is done: send what is left now.
                None => {
                    open = false;
                    true
                }
            },
            _ = tick.tick() => true,
        };
        if !ticked {
            continue;
        }
        let b = Batch {
            index,
            parts: std::mem::take(&mut pending),
            sessions: progress.borrow().sessions,
            sockets: progress.borrow().sockets,
        };
        match client::post::<_, Ack>(coordinator, proto::BATCH, &b, CALL_TIMEOUT).await {
            Ok(ack) => {
                failures = 0;
                if ack.stop {
                    stop.cancel();
                }
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "cannot reach the coordinator");
                // Keep the figures for the next try.
                pending.extend(b.parts);
                if failures >= COORDINATOR_LOST_AFTER {
                    lost.cancel();
                    stop.cancel();
                    return;
                }
            }
        }
        if !open {
            return;
        }
    }
}
