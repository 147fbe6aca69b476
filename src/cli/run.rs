//! `flashcrowd run`: validate, start the target if embedded, replay the
//! schedule, judge it, write the report and print the summary.
//!
//! Owns the order of those steps and the exit code. Must not contain domain
//! rules (they live in `engine`, `slo`, `report`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::SystemTime;

use futures_util::FutureExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{exit, otel, progress, Engine, RunArgs};
use crate::chaos;
use crate::demo::{DemoConfig, DemoServer, SlowPolicy};
use crate::dist;
use crate::engine::{self, EngineError, RunConfig};
use crate::report::{self, ChaosRun, RunInfo};
use crate::safety;
use crate::scenario::{Scenario, SlowViewers, Target};
use crate::schedule::Schedule;
use crate::shutdown::Interrupts;

pub(super) async fn run(args: RunArgs, interrupts: Interrupts) -> u8 {
    let mut scenario = match super::validate::load_or_report(&args.file) {
        Some(s) => s,
        None => return exit::INVALID_INPUT,
    };
    if let Some(seed) = args.reshape.seed {
        scenario.seed = seed;
    }
    let explicit_target = match args.target.as_deref().map(parse_target).transpose() {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("error: --target: {msg}");
            return exit::INVALID_INPUT;
        }
    };
    if let Err(code) = engine_can_run(&args, &scenario) {
        return code;
    }
    // Where telemetry goes is checked before anything starts: a typo in
    // an endpoint is invalid input, not a run without its dashboards.
    let otlp = match otel::config(&args.otlp) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
    };
    let embedded = explicit_target.is_none() && scenario.target == Target::Embedded;
    // Nothing is resolved or dialled before every destination passed.
    let url_in_use = match (&explicit_target, &scenario.target) {
        (Some(u), _) | (None, Target::Url(u)) => Some(u.clone()),
        (None, Target::Embedded) => None,
    };
    let destinations = safety::destinations(url_in_use.as_ref(), &scenario.chaos_servers());
    let mut allowed = scenario.allow_targets.clone();
    allowed.extend(args.allow_targets.iter().cloned());
    if let Err(e) = safety::check(&destinations, &allowed) {
        eprintln!("error: {e}");
        return exit::INVALID_INPUT;
    }
    if !args.demo_faults.is_empty() && !embedded {
        eprintln!("error: --demo-fault needs the embedded demo platform (`target: embedded` and no --target)");
        return exit::INVALID_INPUT;
    }
    let schedule = Schedule::new(
        &scenario.phases,
        scenario.seed,
        args.reshape.scale,
        args.reshape.duration,
    );
    check_open_files(&scenario, &schedule, args.connections);
    if args.dry_run {
        print!(
            "{}",
            super::plan::render(&scenario, &schedule, args.reshape.scale)
        );
        println!("\n  destinations (dry run: nothing was sent):");
        if destinations.is_empty() {
            println!("    the embedded demo platform, on a loopback port");
        }
        for (what, host, port) in &destinations {
            let why = if safety::is_loopback(host) {
                "loopback"
            } else {
                "allowed"
            };
            println!("    {what:<15} {host}:{port}  ({why})");
        }
        return exit::PASS;
    }
    let scenario = Arc::new(scenario);

    let demo_faults: crate::demo::Faults = args.demo_faults.iter().copied().collect();
    // The embedded platform lives exactly as long as the run.
    let demo_cancel = CancellationToken::new();
    let (target, demo) = match (explicit_target, &scenario.target) {
        (Some(url), _) => (url, None),
        (None, Target::Url(url)) => (url.clone(), None),
        (None, Target::Embedded) => {
            match start_demo(&scenario, demo_faults, demo_cancel.clone()).await {
                Ok(server) => {
                    let url = format!("http://{}", server.addr);
                    match url::Url::parse(&url) {
                        Ok(u) => (u, Some(server)),
                        Err(e) => {
                            eprintln!("error: embedded demo address {url}: {e}");
                            return exit::HARNESS_FAILURE;
                        }
                    }
                }
                Err(e) => {
                    eprintln!("error: cannot start the embedded demo platform: {e}");
                    return exit::HARNESS_FAILURE;
                }
            }
        }
    };
    let demo_used = demo.is_some();
    if demo_used && args.remote_workers {
        eprintln!("warning: the embedded demo platform listens on this machine's loopback ({target}): only workers on this machine reach it; run `flashcrowd demo --listen ADDR` and pass `--target` for workers elsewhere");
    }
    if !args.demo_faults.is_empty() {
        eprintln!("warning: the embedded demo platform runs with seeded faults ({demo_faults}): it breaks business invariants on purpose");
    }
    let target_label = if demo_used {
        format!("{target} (embedded demo)")
    } else {
        target.to_string()
    };

    let mut config = RunConfig {
        connections: args.connections as usize,
        backlog: args.backlog as usize,
        sources: args.source_addrs.clone().map(|a| a.0).unwrap_or_default(),
        tls: args.tls.options(),
        ..RunConfig::default()
    };
    if let Err(e) = engine::check_tls(&target, &config.tls).await {
        eprintln!("error: {e}");
        if let Some(server) = demo {
            demo_cancel.cancel();
            server.shutdown().await;
        }
        return exit::INVALID_INPUT;
    }
    if args.tls.insecure {
        eprintln!("warning: --insecure: TLS certificates are NOT verified in this run; its reports say so");
    }
    #[cfg(feature = "goose")]
    if args.engine == Engine::Goose {
        // Each Goose user has a client (and so a connection) of its own,
        // all recorded on one path.
        config.connections = crate::goose_engine::users(&schedule) as usize;
        config.lanes = 1;
    }
    // Regions: one proxy each in front of the target, already carrying its
    // profile before the first request.
    let chaos_cancel = CancellationToken::new();
    let regions = if scenario.regions.is_empty() {
        None
    } else {
        let started = match resolve(&target).await {
            Ok(upstream) => chaos::start(&scenario, upstream, chaos_cancel.clone()).await,
            Err(e) => Err(chaos::ChaosError::Backend(e)),
        };
        match started {
            Ok(r) => {
                config.routes = r.routes.clone();
                Some(r)
            }
            Err(e) => {
                eprintln!("error: cannot set up the regions' network: {e}");
                if let Some(server) = demo {
                    demo_cancel.cancel();
                    server.shutdown().await;
                }
                return exit::HARNESS_FAILURE;
            }
        }
    };
    let started_at = chrono::Utc::now();
    let run_id = run_id(&scenario.name, started_at);
    if !args.quiet {
        eprintln!(
            "flashcrowd: running {} against {target_label}: {} phases, about {:.0} arrivals over {:.1} s (run {run_id})",
            scenario.name,
            schedule.phases.iter().filter(|p| !p.duration.is_zero()).count(),
            schedule.expected(),
            schedule.end().as_secs_f64(),
        );
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
    // The interval log is written while the run goes, so its memory stays
    // flat however long the run.
    let (hlog_start, hlog_start_rx) = std::sync::mpsc::channel();
    let hlog = match report::hlog::spawn(
        &out_dir,
        report::hlog::tags(&scenario, &engine::StepKeys::new(&scenario)),
        hlog_start_rx,
    ) {
        Ok(w) => w,
        Err(e) => {
            eprintln!(
                "error: cannot write to the run directory {}: {e}",
                out_dir.display()
            );
            if let Some(server) = demo {
                demo_cancel.cancel();
                server.shutdown().await;
            }
            return exit::HARNESS_FAILURE;
        }
    };
    // Live progress, for the status line and the exporter's gauges.
    let (progress_tx, progress_rx) = watch::channel(engine::Progress::default());
    let attached = otlp.map(|c| {
        otel::attach(
            c,
            &scenario,
            &schedule,
            &target,
            &run_id,
            args.workers,
            progress_rx.clone(),
        )
    });
    let starter = attached.as_ref().map(|a| a.exporter.starter());
    config.trace = Some(otel::trace_setup(
        &run_id,
        attached.as_ref(),
        args.workers.is_some(),
    ));
    // Closed seconds go to the interval log and, when exporting, to the
    // exporter.
    let mut closed_to = vec![hlog.sink.clone()];
    if let Some(a) = &attached {
        closed_to.push(a.feeds.closed.clone());
    }
    let (closed_tee, tee_task) = otel::fan_out(closed_to);
    config.interval_sink = closed_tee;
    // The engine (or the workers), the chaos timeline, the progress line
    // and the interval log share one time origin, so transitions line up
    // with the request series. A distributed run knows it only once its
    // barrier is full.
    let (t0_tx, mut t0_rx) = watch::channel(None::<(Instant, SystemTime)>);
    let (chaos_tx, chaos_rx) = tokio::sync::mpsc::unbounded_channel();
    if !args.quiet || attached.is_some() {
        config.progress = Some(progress_tx);
    }
    let run_over = CancellationToken::new();
    let mut workers_info = None;
    // A remote worker started with `--insecure` makes the run insecure.
    let mut workers_insecure = false;
    let mut worker_finals = Vec::new();
    let load = async {
        let out = match args.workers {
            #[cfg(feature = "goose")]
            // Goose's clock starts when it has launched its users; the
            // engine says when.
            None if args.engine == Engine::Goose => crate::goose_engine::run(
                scenario.clone(),
                &schedule,
                &target,
                &config,
                interrupts.stop.clone(),
                Some(t0_tx),
            )
            .await
            .map_err(LoadError::Goose),
            None => {
                let t0 = Instant::now() + CHAOS_LEAD;
                config.t0 = Some(t0);
                t0_tx.send_replace(Some((t0, SystemTime::now() + CHAOS_LEAD)));
                engine::run(
                    scenario.clone(),
                    &schedule,
                    &target,
                    &config,
                    interrupts.stop.clone(),
                )
                .await
                .map_err(LoadError::Engine)
            }
            Some(n) => {
                let opts = coordinator_options(&args, n, &scenario, &target, &config, &run_id);
                dist::coordinator::run(
                    scenario.clone(),
                    &schedule,
                    opts,
                    interrupts.stop.clone(),
                    config.interval_sink.clone(),
                    config.progress.clone(),
                    Some(t0_tx),
                )
                .await
                .map(|o| {
                    workers_info = Some(o.workers);
                    workers_insecure = o.insecure;
                    worker_finals = o.finals;
                    o.result
                })
                .map_err(LoadError::Dist)
            }
        };
        // The load is over (or stopped): so are the timeline and the
        // progress line.
        run_over.cancel();
        out
    };
    // Owns the log's start sender: when it ends, with a start time or
    // without one, the log's writer is never left waiting.
    let started = {
        let over = run_over.clone();
        async move {
            let t0 = tokio::select! {
                t = t0_rx.wait_for(Option::is_some) => t.ok().and_then(|t| *t),
                _ = over.cancelled() => None,
            };
            if let Some((t, wall)) = t0 {
                let _ = hlog_start.send(wall);
                otel::start(starter.as_ref(), t, wall);
            }
            t0.map(|(t, _)| t)
        }
    };
    let started = started.shared();
    // Moved into the timeline, so the channels close when it ends:
    // transitions go to the status line and to the exporter.
    let mut chaos_to = Vec::new();
    if !args.quiet {
        chaos_to.push(chaos_tx);
    }
    if let (Some(a), true) = (&attached, scenario.telemetry.chaos) {
        chaos_to.push(a.feeds.chaos.clone());
    }
    let (announce, chaos_task) = otel::fan_out(chaos_to);
    let timeline = async {
        let t0 = started.clone().await?;
        match &regions {
            Some(r) => {
                let transitions =
                    chaos::play(r, &scenario, t0, schedule.end(), run_over.clone(), announce).await;
                Some(ChaosRun {
                    routes: r.routes.clone(),
                    transitions,
                    cleanup_error: None,
                })
            }
            None => None,
        }
    };
    let feeds = progress::Feeds {
        progress: progress_rx,
        chaos: regions.as_ref().map(|_| chaos_rx),
    };
    let display = async {
        if let (false, Some(t0)) = (args.quiet, started.clone().await) {
            progress::show(&scenario, &schedule, t0, feeds, run_over.clone()).await;
        }
    };
    let (result, chaos_run, ()) = tokio::join!(load, timeline, display);
    config.progress = None;
    // Everything injected goes, however the run ended.
    let chaos_run = match (regions, chaos_run) {
        (Some(r), Some(mut c)) => {
            if let Err(e) = r.close().await {
                eprintln!("warning: chaos cleanup: {e}");
                c.cleanup_error = Some(e.to_string());
            }
            chaos_cancel.cancel();
            Some(c)
        }
        _ => None,
    };
    // The timeline is over: every transition reaches the exporter before
    // its last export.
    if let Some(t) = chaos_task {
        let _ = t.await;
    }
    // Every closed second is in: the interval log is finished, and the
    // exporter sends its last figures (bounded, collector down or not).
    config.interval_sink = None;
    drop(hlog.sink);
    if let Some(t) = tee_task {
        let _ = t.await;
    }
    let hlog_written = match hlog.done.await {
        Ok(Ok(path)) => Some(path),
        Ok(Err(e)) => {
            eprintln!("warning: {} is incomplete: {e}", report::hlog::FILE);
            None
        }
        Err(_) => None,
    };
    let export_stats = match attached {
        Some(a) => Some(otel::finish(a).await),
        None => None,
    };
    // Business invariants: the platform is read after the load (and the
    // chaos) is over, directly rather than through a region's proxy.
    let invariants = match (&result, scenario.invariants.declared()) {
        (Ok(r), true) => Some(
            super::invariants::check(
                &scenario,
                &target,
                &config.tls,
                r,
                &out_dir,
                &interrupts,
                args.quiet,
            )
            .await,
        ),
        _ => None,
    };
    if let Some(server) = demo {
        demo_cancel.cancel();
        server.shutdown().await;
    }
    let result = match result {
        Ok(r) => r,
        Err(LoadError::Engine(e @ EngineError::Target { .. })) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
        Err(LoadError::Engine(e)) => {
            eprintln!("error: {e}");
            return exit::HARNESS_FAILURE;
        }
        Err(LoadError::Dist(e)) => {
            eprintln!("error: {e}");
            return exit::HARNESS_FAILURE;
        }
        #[cfg(feature = "goose")]
        Err(LoadError::Goose(e)) => {
            eprintln!("error: {e}");
            use crate::goose_engine::GooseEngineError as G;
            return match e {
                G::Unsupported(_) | G::Target { .. } => exit::INVALID_INPUT,
                G::Goose(_) | G::Merge(_) => exit::HARNESS_FAILURE,
            };
        }
    };

    let info = RunInfo {
        run_id: &run_id,
        started_at,
        target: target_label,
        scale: args.reshape.scale,
        config: &config,
        embedded: demo_used,
        chaos: chaos_run,
        workers: workers_info,
        allow_partial: args.allow_partial,
        invariants,
        insecure: args.tls.insecure || workers_insecure,
        engine: engine_info(args.engine),
        telemetry: otel::report(&scenario, export_stats),
    };
    let interrupted = result.interrupted;
    // Each worker's own figures beside the merged ones, so the merge can
    // be checked (and redone) from the run directory.
    if let Err(e) = write_worker_finals(&out_dir, &worker_finals) {
        eprintln!("warning: cannot keep the workers' figures: {e}");
    }
    let report = report::build(&scenario, &schedule, &result, &info);
    if !args.quiet {
        print!("{}", report::terminal::render(&report));
    }
    // Every requested output into the run directory (report.json first).
    if let Err(code) = super::report::write_and_list(&out_dir, &report, &args.format, args.quiet) {
        return code;
    }
    if let (false, Some(h)) = (args.quiet, &hlog_written) {
        println!("  latency log: {}", h.display());
    }
    exit::for_verdict(report.verdict, interrupted)
}

/// Settle, read the platform's state, judge the declared invariants, and
/// keep the history (`history.jsonl`, and `history.elle.json` for
/// elle-cli's `set-full` model) in the run directory.
/// Warn, before anything starts, when the open-file limit (raised to its
/// hard limit at start-up) is below what the rehearsal may hold at once:
/// every viewer and user holds a socket, and the rest share
/// `--connections`. Running out shows up as connection errors that are
/// the generator's, not the platform's.
fn check_open_files(scenario: &Scenario, schedule: &Schedule, connections: u32) {
    let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) else {
        return;
    };
    let live = super::plan::peak_live(scenario, schedule);
    // Descriptors for the runtime, the log files, the demo platform's own
    // side of loopback connections and the chaos proxies' two sides.
    let proxies = if scenario.regions.is_empty() {
        1.0
    } else {
        3.0
    };
    let demo = if scenario.target == Target::Embedded {
        2.0
    } else {
        1.0
    };
    let need = ((f64::from(connections) + live) * demo * proxies + 64.0).ceil();
    if (soft as f64) < need {
        eprintln!(
            "warning: the open-file limit is {soft}, and this rehearsal may need about {need:.0} \
             descriptors at once ({connections} connections, about {live:.0} live sessions); \
             raise it (`ulimit -n`, or the container's nofile limit) or lower the scale, \
             or expect connection errors that are the generator's own"
        );
    }
}

/// `workers/worker-<i>.json`: what each worker sent at the end.
fn write_worker_finals(
    dir: &std::path::Path,
    finals: &[dist::proto::Final],
) -> std::io::Result<()> {
    if finals.is_empty() {
        return Ok(());
    }
    let sub = dir.join("workers");
    std::fs::create_dir_all(&sub)?;
    for f in finals {
        let bytes = serde_json::to_vec(f).map_err(std::io::Error::other)?;
        std::fs::write(sub.join(format!("worker-{}.json", f.index)), bytes)?;
    }
    Ok(())
}

/// Why the load could not run.
enum LoadError {
    Engine(EngineError),
    Dist(dist::DistError),
    #[cfg(feature = "goose")]
    Goose(crate::goose_engine::GooseEngineError),
}

/// Refuse, before anything starts, a run the chosen engine cannot do: the
/// Goose engine in a build without it, with workers, or on a scenario using
/// what Goose has no counterpart for (each such use named).
fn engine_can_run(args: &RunArgs, scenario: &Scenario) -> Result<(), u8> {
    if args.engine != Engine::Goose {
        return Ok(());
    }
    #[cfg(not(feature = "goose"))]
    {
        let _ = scenario;
        eprintln!("error: --engine goose: {}", super::WITHOUT_GOOSE);
        Err(exit::INVALID_INPUT)
    }
    #[cfg(feature = "goose")]
    {
        if args.workers.is_some() {
            eprintln!("error: --engine goose runs in one process; --workers needs flashcrowd's own engine");
            return Err(exit::INVALID_INPUT);
        }
        let found = crate::goose_engine::unsupported(scenario);
        if found.is_empty() {
            return Ok(());
        }
        eprintln!(
            "error: {}: the Goose engine cannot run this scenario ({} problem{}):",
            args.file.display(),
            found.len(),
            if found.len() == 1 { "" } else { "s" }
        );
        for u in &found {
            eprintln!("  {u}");
        }
        Err(exit::INVALID_INPUT)
    }
}

/// What the report says about the engine, when it is not flashcrowd's own.
fn engine_info(engine: Engine) -> Option<report::EngineInfo> {
    match engine {
        Engine::Flashcrowd => None,
        #[cfg(feature = "goose")]
        Engine::Goose => Some(crate::goose_engine::engine_info()),
        // Refused before the run starts.
        #[cfg(not(feature = "goose"))]
        Engine::Goose => None,
    }
}

/// The coordinator's settings from the flags: local worker processes of
/// this executable unless `--remote-workers`.
fn coordinator_options(
    args: &RunArgs,
    workers: u32,
    scenario: &Scenario,
    target: &url::Url,
    config: &RunConfig,
    run_id: &str,
) -> dist::coordinator::Options {
    let local = (!args.remote_workers).then(|| dist::coordinator::LocalWorkers {
        exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("flashcrowd")),
        scenario: args.file.clone(),
        args: {
            let mut a = otel::worker_args(&args.otlp);
            a.extend(args.tls.worker_args());
            // Local workers check the target against the same allow-list.
            for allowed in &args.allow_targets {
                a.push("--allow-target".to_owned());
                a.push(allowed.to_string());
            }
            a
        },
    });
    let listen = args.coordinator_listen.unwrap_or_else(|| {
        if args.remote_workers {
            SocketAddr::from(([0, 0, 0, 0], DEFAULT_COORDINATOR_PORT))
        } else {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
        }
    });
    dist::coordinator::Options {
        workers,
        listen,
        barrier_timeout: args.barrier_timeout,
        lead: DIST_LEAD,
        local,
        start: dist::proto::StartAt {
            t0_unix_ms: 0,
            seed: scenario.seed,
            scale: args.reshape.scale,
            duration_ms: args.reshape.duration.map(|d| d.as_millis() as u64),
            target: target.to_string(),
            routes: config.routes.iter().map(ToString::to_string).collect(),
            // Each worker holds its share of the connections.
            connections: (args.connections / workers).max(1),
            backlog: (args.backlog / workers).max(1),
            worker_regions: Vec::new(),
            run_id: run_id.to_owned(),
        },
    }
}

/// Where a coordinator for remote workers listens by default.
pub const DEFAULT_COORDINATOR_PORT: u16 = 7878;

/// Between announcing a distributed start and the start itself: every
/// worker hears it and arms its clock.
const DIST_LEAD: std::time::Duration = std::time::Duration::from_millis(1500);

/// How far ahead of the first arrival the run's clock starts when regions
/// are in play: time for the timeline to apply its first state.
const CHAOS_LEAD: std::time::Duration = std::time::Duration::from_millis(20);

/// The target's first address (IPv4 preferred), for the regions' proxies.
pub(super) async fn resolve(target: &url::Url) -> Result<SocketAddr, String> {
    let host = target.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = target.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {target}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{target} resolves to no address"))
}

fn parse_target(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("`{s}` has no host")),
        other => Err(format!("scheme `{other}` is not supported; use http://")),
    }
}

async fn start_demo(
    scenario: &Scenario,
    faults: crate::demo::Faults,
    cancel: CancellationToken,
) -> std::io::Result<DemoServer> {
    let d = &scenario.demo;
    let cfg = DemoConfig {
        stock: d.stock.clone(),
        payment_slots: d.payment_slots,
        payment_latency: d.payment_latency,
        ws_queue: d.ws_queue,
        ws_slow_policy: match d.ws_slow_policy {
            SlowViewers::Lag => SlowPolicy::Lag,
            SlowViewers::Disconnect => SlowPolicy::Disconnect,
        },
        ws_max_viewers: d.ws_max_viewers,
        tracking_step: d.tracking_step,
        seed: scenario.seed,
        faults,
    };
    DemoServer::spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), cfg, cancel).await
}

/// The scenario's name as it may stand in a directory name.
pub(super) fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect()
}

/// `20261122T015103Z-quickstart-3fa9`: sortable, readable, and unique enough
/// for runs started in the same second.
fn run_id(name: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let slug = slug(name);
    let salt = (at.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{slug}-{salt:04x}", at.format("%Y%m%dT%H%M%SZ"))
}
