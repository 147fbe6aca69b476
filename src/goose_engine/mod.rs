//! The Goose engine: a scenario's closed-model HTTP flows run through Goose
//! 0.19 (the `goose` cargo feature), a second engine independent of
//! flashcrowd's own, so the two can check each other's numbers.
//!
//! Owns building a Goose load test from a scenario at run time (a Goose
//! scenario per phase, whose users each run the phase's flow back to back
//! until the phase ends), running it with nothing of Goose's left behind in
//! the process (no telnet or WebSocket controller, no report files, no
//! logger or Ctrl-C handler of its own, the killswitch clear), and turning
//! Goose's metrics into the same [`RunResult`] the native engine returns:
//! latency histograms rebuilt from Goose's µs buckets (within
//! [`BUCKET_PRECISION`]), outcomes and per-second figures as the users saw
//! them. Must not judge SLOs, print, or write files.

mod buckets;
mod support;
mod user;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use goose::config::GooseConfiguration;
use goose::goose::{GooseUser, Scenario as GooseScenario, Transaction, TransactionFunction};
use goose::metrics::GooseMetrics;
use goose::{GooseAttack, GooseScheduler};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use buckets::{histogram_from_buckets, BUCKET_PRECISION};
pub use support::{unsupported, Unsupported};

use crate::engine::{self, RunConfig, RunResult, StepKeys};
use crate::metrics::{MergeError, Recorder};
use crate::scenario::Scenario;
use crate::schedule::{Schedule, Segment};
use user::{PhasePlan, Plan};

/// The Goose release this engine is built and checked against.
pub const GOOSE_VERSION: &str = "0.19.0";

/// Users Goose launches per second: all of a phase's users start with the
/// phase, so as fast as Goose's launcher goes.
const LAUNCH_RATE: &str = "1000000";

/// Why a Goose run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum GooseEngineError {
    #[error("the Goose engine cannot run this scenario: {}", list(.0))]
    Unsupported(Vec<Unsupported>),
    #[error("target {url}: {reason}")]
    Target { url: String, reason: String },
    #[error("Goose failed: {0}")]
    Goose(String),
    #[error(transparent)]
    Merge(#[from] MergeError),
}

fn list(found: &[Unsupported]) -> String {
    found
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Goose runs one load test per process at a time (its killswitch and
/// metrics counters are process-wide), so runs take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// When a run's clock started: the instant, and the same moment on the
/// wall clock (for the interval log).
pub type Started = tokio::sync::watch::Sender<Option<(Instant, SystemTime)>>;

/// Replay the closed-model phases of `schedule` (built from `scenario`)
/// against `target` through Goose. The run's clock starts once Goose has
/// launched every user (not before `cfg.t0`, if given) and is told to
/// `started`. Uses `cfg`'s interval sink and progress channel, lateness
/// threshold and interrupt grace; the rest of `cfg` is the native engine's.
/// Cancelling `stop` makes every user leave; requests in flight then get
/// `cfg.interrupt_grace` before they are cut off.
pub async fn run(
    scenario: Arc<Scenario>,
    schedule: &Schedule,
    target: &url::Url,
    cfg: &RunConfig,
    stop: CancellationToken,
    started: Option<Started>,
) -> Result<RunResult, GooseEngineError> {
    let refused = unsupported(&scenario);
    if !refused.is_empty() {
        return Err(GooseEngineError::Unsupported(refused));
    }
    if !matches!(target.scheme(), "http" | "https") || target.host().is_none() {
        return Err(GooseEngineError::Target {
            url: target.to_string(),
            reason: "Goose needs an http:// or https:// URL with a host".into(),
        });
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    keep_goose_out_of_the_process();

    let keys = StepKeys::new(&scenario);
    let phases = phase_plans(&scenario, schedule);
    let planned: Vec<u64> = phases.iter().map(|p| p.seqs.len() as u64).collect();
    let users: usize = phases.iter().map(|p| p.seqs.len()).sum();
    let abort = CancellationToken::new();
    let (parts_tx, parts_rx) = mpsc::unbounded_channel();
    let plan = Arc::new(Plan {
        keys: keys.clone(),
        names: request_names(&scenario, &keys),
        base: target.as_str().trim_end_matches('/').to_owned(),
        phases,
        stop: stop.clone(),
        abort: abort.clone(),
        late_after: cfg.late_after,
        alive: AtomicU64::new(0),
        parts: Mutex::new(Some(parts_tx)),
        finished: Mutex::new(Vec::new()),
        users,
        launched: AtomicUsize::new(0),
        t0: tokio::sync::watch::channel(None).0,
        not_before: cfg.t0,
        scenario: scenario.clone(),
    });
    // Cancelled when Goose is done: whatever waits for the clock stops
    // waiting.
    let over = CancellationToken::new();
    let collector = {
        let (plan, over) = (plan.clone(), over.clone());
        let (sink, progress) = (cfg.interval_sink.clone(), cfg.progress.clone());
        tokio::spawn(async move {
            let t0 = user::origin_or(&plan.t0, &over).await?;
            if let Some(s) = started {
                let wall = SystemTime::now() + t0.saturating_duration_since(Instant::now());
                s.send_replace(Some((t0, wall)));
            }
            let to = engine::Collecting {
                t0,
                keys: plan.keys.len(),
                regions: plan.scenario.regions.len(),
                sink,
                progress,
            };
            let gauge = plan.clone();
            let sampling = CancellationToken::new();
            let sampler = tokio::spawn(engine::sample_sessions(
                t0,
                move || gauge.alive.load(Ordering::Relaxed),
                sampling.clone(),
            ));
            let gauge = plan.clone();
            let intervals = engine::collect(parts_rx, to, move || {
                (gauge.alive.load(Ordering::Relaxed), 0)
            })
            .await;
            sampling.cancel();
            let sessions = sampler.await.unwrap_or_default();
            Some((t0, intervals, sessions))
        })
    };
    // An interrupt stops the users at once; requests in flight get the
    // grace, then are cut off.
    let grace = {
        let (stop, abort, over) = (stop.clone(), abort.clone(), over.clone());
        let grace = cfg.interrupt_grace;
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {
                    tokio::select! {
                        _ = tokio::time::sleep(grace) => abort.cancel(),
                        _ = over.cancelled() => {}
                    }
                }
                _ = over.cancelled() => {}
            }
        })
    };
    let cpu_before = engine::cpu::process_cpu();

    let executed = if users == 0 {
        Ok(None)
    } else {
        execute(&plan, &scenario, users).await.map(Some)
    };

    let ended = Instant::now();
    let cpu = engine::cpu::process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    over.cancel();
    let _ = grace.await;
    // The channel closes here even if Goose kept a user's closure (and so
    // the plan) alive somewhere.
    if let Ok(mut parts) = plan.parts.lock() {
        parts.take();
    }
    let (elapsed, intervals, sessions) = match collector.await {
        Ok(Some((t0, intervals, sessions))) => {
            (ended.saturating_duration_since(t0), intervals, sessions)
        }
        _ => Default::default(),
    };
    // Nothing of this run may stop the next one in the process.
    goose::reset_killswitch();
    let metrics = executed?;

    let mut recorder = Recorder::new(keys.len(), scenario.phases.len());
    let finished = match plan.finished.lock() {
        Ok(mut done) => std::mem::take(&mut *done),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for rec in &finished {
        recorder.merge(rec)?;
    }
    settle_schedule(&mut recorder, &planned);
    if let Some(m) = &metrics {
        take_goose_latency(&mut recorder, m, &plan.names);
    }
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

/// Build the Goose load test, run it, and return its metrics.
async fn execute(
    plan: &Arc<Plan>,
    scenario: &Scenario,
    users: usize,
) -> Result<GooseMetrics, GooseEngineError> {
    let goose_err = |e: goose::GooseError| GooseEngineError::Goose(describe(&e));
    let mut attack = GooseAttack::initialize_with_config(configuration(&plan.base, users))
        .map_err(goose_err)?
        .set_scheduler(GooseScheduler::Serial);
    for (i, phase) in scenario.phases.iter().enumerate() {
        let n = plan.phases.get(i).map_or(0, |p| p.seqs.len());
        if n == 0 {
            continue;
        }
        let flow = scenario
            .flows
            .get(phase.flow)
            .map_or("", |f| f.name.as_str());
        let for_users = plan.clone();
        let lifetime: TransactionFunction = Arc::new(move |goose_user: &mut GooseUser| {
            let plan = for_users.clone();
            // One pass of this transaction is the user's whole life, so it
            // leaves after one; set on the user's own copy of the settings
            // because the run-wide `iterations` makes Goose print a line.
            goose_user.config.iterations = Some(1);
            Box::pin(async move {
                user::run(plan, i, goose_user).await;
                Ok(())
            })
        });
        // Scenario weights are the phases' user counts, so Goose gives each
        // phase exactly its users (they add up to `users`).
        let goose_scenario = GooseScenario::new(&format!("phase {i}: {}", phase.name))
            .register_transaction(Transaction::new(lifetime).set_name(flow))
            .set_weight(n)
            .map_err(goose_err)?;
        attack = attack.register_scenario(goose_scenario);
    }
    attack.execute().await.map_err(goose_err)
}

/// Goose's settings for a run of `users` users against `base`: all launched
/// at once, nothing printed, served or written. Goose resets its metrics
/// once every user is launched (keeping them instead prints a line to
/// standard output), so users send nothing until that is done (see
/// `user::run`).
fn configuration(base: &str, users: usize) -> GooseConfiguration {
    // Some fields are private, so the struct is filled in place.
    let mut c = GooseConfiguration::default();
    c.host = Some(base.to_owned());
    c.users = Some(users);
    c.increase_rate = Some(LAUNCH_RATE.to_owned());
    c.no_telnet = true;
    c.no_websocket = true;
    c.no_print_metrics = true;
    c.no_transaction_metrics = true;
    c.no_scenario_metrics = true;
    // flashcrowd's own client asks for no compression either.
    c.no_gzip = true;
    c.quiet = 1;
    c
}

/// Guard the process against what Goose would otherwise install for good:
/// its Ctrl-C handler (flashcrowd's own takes SIGINT first, so Goose's call
/// fails and is ignored) and its terminal logger (Goose's `log` records go
/// to flashcrowd's tracing instead, at most warnings, as the binary's own
/// subscriber already routes them).
fn keep_goose_out_of_the_process() {
    #[cfg(unix)]
    {
        let _ = crate::shutdown::sigint::claim();
    }
    let _ = tracing_log::LogTracer::builder()
        .with_max_level(tracing_log::log::LevelFilter::Warn)
        .init();
}

/// Each phase's place on the timeline and its users' sequence numbers,
/// from the schedule (so `--scale` and `--duration` apply as they do to the
/// native engine).
fn phase_plans(scenario: &Scenario, schedule: &Schedule) -> Vec<PhasePlan> {
    let mut seqs: Vec<Vec<u64>> = vec![Vec::new(); scenario.phases.len()];
    // Only fixed populations reach here, so every arrival is a user at
    // its phase's start: as many as the users, however long the run.
    for a in schedule.arrivals(Segment::WHOLE) {
        if let Some(list) = seqs.get_mut(a.phase as usize) {
            list.push(a.seq);
        }
    }
    schedule
        .phases
        .iter()
        .zip(seqs)
        .map(|(p, seqs)| PhasePlan {
            start: p.start,
            duration: p.duration,
            seqs,
            next: AtomicUsize::new(0),
        })
        .collect()
}

/// Goose's request name of every step key: unique, and readable in
/// Goose's own tables (`phase/step`).
fn request_names(scenario: &Scenario, keys: &StepKeys) -> Vec<String> {
    (0..keys.len())
        .map(|k| {
            let (pi, si, _) = keys.triple(k);
            let phase = scenario.phases.get(pi);
            let step = phase
                .and_then(|p| scenario.flows.get(p.flow))
                .and_then(|f| f.steps.get(si));
            format!(
                "{k}:{}/{}",
                phase.map_or("", |p| p.name.as_str()),
                step.map_or("", |s| s.name.as_str())
            )
        })
        .collect()
}

/// Users are the schedule: each planned user is scheduled, and one Goose
/// never started (an interrupt before its launch) is dropped.
fn settle_schedule(rec: &mut Recorder, planned: &[u64]) {
    for (phase, &n) in rec.phases.iter_mut().zip(planned) {
        phase.scheduled = n;
        phase.dropped = n.saturating_sub(phase.started);
    }
    rec.schedule.scheduled = planned.iter().sum();
    rec.schedule.dropped = rec.phases.iter().map(|p| p.dropped).sum();
}

/// Replace every step's latency histogram with the one rebuilt from
/// Goose's own buckets: Goose's measurement is the point of this engine.
/// The counts stay the users' (they know each outcome's kind); a step
/// whose count Goose disagrees with is logged, as a bug worth finding.
fn take_goose_latency(rec: &mut Recorder, metrics: &GooseMetrics, names: &[String]) {
    let by_name: std::collections::HashMap<&str, _> = metrics
        .requests
        .values()
        .map(|agg| (agg.path.as_str(), agg))
        .collect();
    for (stats, name) in rec.steps.iter_mut().zip(names) {
        let Some(agg) = by_name.get(name.as_str()) else {
            stats.latency.reset();
            continue;
        };
        let raw = &agg.raw_data;
        stats.latency = histogram_from_buckets(
            raw.times_us.iter().map(|(&floor, &n)| (floor, n)),
            raw.minimum_time_us,
            raw.maximum_time_us,
        );
        let c = &stats.counts;
        let goose = (agg.success_count + agg.fail_count) as u64;
        let ours = c.sent - c.invalid_request - c.aborted;
        if goose != ours || agg.success_count as u64 != c.ok {
            tracing::warn!(
                step = name.as_str(),
                goose_requests = goose,
                goose_ok = agg.success_count,
                requests = ours,
                ok = c.ok,
                "Goose counted this step's requests differently from its users"
            );
        }
    }
}

/// A Goose error with its details: Goose's own message names only the
/// kind of error.
fn describe(e: &goose::GooseError) -> String {
    match e {
        goose::GooseError::InvalidOption {
            option,
            value,
            detail,
        } => format!("{option} = {value:?}: {detail}"),
        other => format!("{other} ({other:?})"),
    }
}

/// What reports say about this engine.
pub fn engine_info() -> crate::report::EngineInfo {
    crate::report::EngineInfo {
        name: "goose".into(),
        version: GOOSE_VERSION.into(),
        latency_precision: BUCKET_PRECISION,
        timing: "each request timed by Goose, from when it was sent to the response's headers"
            .into(),
    }
}

/// Users a schedule starts: the Goose engine's connections, since each
/// Goose user has a client of its own.
pub fn users(schedule: &Schedule) -> u64 {
    schedule
        .phases
        .iter()
        .filter(|p| !p.duration.is_zero())
        .map(|p| p.burst)
        .sum()
}
