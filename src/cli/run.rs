//! `flashcrowd run`: validate, start the target if embedded, replay the
//! schedule, judge it, write the report and print the summary.
//!
//! Owns the order of those steps and the exit code. Must not contain domain
//! rules (they live in `engine`, `slo`, `report`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{exit, RunArgs};
use crate::chaos;
use crate::demo::{DemoConfig, DemoServer, SlowPolicy};
use crate::engine::{self, EngineError, RunConfig};
use crate::report::{self, ChaosRun, RunInfo};
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
    let schedule = Schedule::new(
        &scenario.phases,
        scenario.seed,
        args.reshape.scale,
        args.reshape.duration,
    );
    let scenario = Arc::new(scenario);

    // The embedded platform lives exactly as long as the run.
    let demo_cancel = CancellationToken::new();
    let (target, demo) = match (explicit_target, &scenario.target) {
        (Some(url), _) => (url, None),
        (None, Target::Url(url)) => (url.clone(), None),
        (None, Target::Embedded) => match start_demo(&scenario, demo_cancel.clone()).await {
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
        },
    };
    let demo_used = demo.is_some();
    let target_label = if demo_used {
        format!("{target} (embedded demo)")
    } else {
        target.to_string()
    };

    let mut config = RunConfig {
        connections: args.connections as usize,
        sources: args.source_addrs.clone().map(|a| a.0).unwrap_or_default(),
        ..RunConfig::default()
    };
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
    // The engine and the chaos timeline share one time origin, so the
    // transitions in the report line up with the request series.
    config.t0 = Some(tokio::time::Instant::now() + CHAOS_LEAD);
    let (result, chaos_run) = match &regions {
        None => {
            let result = engine::run(
                scenario.clone(),
                &schedule,
                &target,
                &config,
                interrupts.stop.clone(),
            )
            .await;
            (result, None)
        }
        Some(r) => {
            let timeline_stop = CancellationToken::new();
            let t0 = config.t0.unwrap_or_else(tokio::time::Instant::now);
            let engine = async {
                let out = engine::run(
                    scenario.clone(),
                    &schedule,
                    &target,
                    &config,
                    interrupts.stop.clone(),
                )
                .await;
                // The load is over (or stopped): so is the timeline.
                timeline_stop.cancel();
                out
            };
            let timeline = chaos::play(r, &scenario, t0, schedule.end(), timeline_stop.clone());
            let (result, transitions) = tokio::join!(engine, timeline);
            (
                result,
                Some(ChaosRun {
                    routes: r.routes.clone(),
                    transitions,
                    cleanup_error: None,
                }),
            )
        }
    };
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
    if let Some(server) = demo {
        demo_cancel.cancel();
        server.shutdown().await;
    }
    let result = match result {
        Ok(r) => r,
        Err(e @ EngineError::Target { .. }) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HARNESS_FAILURE;
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
    };
    let report = report::build(&scenario, &schedule, &result, &info);
    let out_dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
    if !args.quiet {
        print!("{}", report::terminal::render(&report));
    }
    // Every requested output into the run directory (report.json first).
    if let Err(code) = super::report::write_and_list(&out_dir, &report, &args.format, args.quiet) {
        return code;
    }
    exit::for_verdict(report.verdict, report.partial)
}

/// How far ahead of the first arrival the run's clock starts when regions
/// are in play: time for the timeline to apply its first state.
const CHAOS_LEAD: std::time::Duration = std::time::Duration::from_millis(20);

/// The target's first address (IPv4 preferred), for the regions' proxies.
async fn resolve(target: &url::Url) -> Result<SocketAddr, String> {
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

async fn start_demo(scenario: &Scenario, cancel: CancellationToken) -> std::io::Result<DemoServer> {
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
        seed: scenario.seed,
        ..DemoConfig::default()
    };
    DemoServer::spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), cfg, cancel).await
}

/// `20261122T015103Z-quickstart-3fa9`: sortable, readable, and unique enough
/// for runs started in the same second.
fn run_id(name: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let salt = (at.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{slug}-{salt:04x}", at.format("%Y%m%dT%H%M%SZ"))
}
