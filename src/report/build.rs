//! Building a [`Report`] from a finished run.
//!
//! Owns the mapping from merged metrics and SLO results to report figures,
//! including the run's verdict and the reasons for it. Must not write files
//! or print.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::*;
use crate::engine::{RunConfig, RunResult};
use crate::metrics::interval::Summary;
use crate::metrics::{StepStats, WsStats};
use crate::scenario::{Load, Scenario};
use crate::schedule::Schedule;
use crate::slo::{
    self, GeneratorHealth, InvariantFindings, RunHealth, Settled, SloResult, StepView,
};

/// Dispatcher lag (p99) above which the generator is called saturated: the
/// timer alone adds about a millisecond, so this leaves room for a noisy
/// machine while still catching a generator that cannot keep up.
const SATURATED_DISPATCH_P99: Duration = Duration::from_millis(25);

/// Start delay (p99) above which the schedule counts as not held: arrivals
/// waited for a connection or for CPU, so the run did not offer the load it
/// was asked for.
const SATURATED_SEND_P99: Duration = Duration::from_millis(50);

/// Share of all cores above which the generator counts as saturated
/// (k6 asks for at least 20% idle; this is stricter about what it flags).
const SATURATED_CPU_SHARE: f64 = 0.95;

/// Facts about the run that are not in the metrics.
pub struct RunInfo<'a> {
    pub run_id: &'a str,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub target: String,
    pub scale: f64,
    pub config: &'a RunConfig,
    /// The target is the in-process demo, whose CPU use is the process's too.
    pub embedded: bool,
    /// Regions' routes and the chaos log, when the scenario has regions.
    pub chaos: Option<ChaosRun>,
    /// The workers of a distributed run.
    pub workers: Option<Vec<crate::dist::coordinator::WorkerInfo>>,
    /// Judge a run that lost workers by its SLOs anyway.
    pub allow_partial: bool,
    /// The business invariants checked after the load, if any were declared.
    pub invariants: Option<crate::reconcile::Reconciled>,
    /// TLS certificates were not verified (`--insecure`).
    pub insecure: bool,
    /// The engine that sent the requests, when it was not flashcrowd's own.
    pub engine: Option<EngineInfo>,
    /// Trace sampling and what was exported over OpenTelemetry.
    pub telemetry: Option<TelemetryReport>,
}

/// What the chaos layer did during the run.
#[derive(Debug, Clone, Default)]
pub struct ChaosRun {
    /// Each region's proxy address, by region index.
    pub routes: Vec<std::net::SocketAddr>,
    pub transitions: Vec<crate::chaos::Transition>,
    pub cleanup_error: Option<String>,
}

/// Assemble the report and its verdict.
pub fn build(
    scenario: &Scenario,
    schedule: &Schedule,
    run: &RunResult,
    info: &RunInfo<'_>,
) -> Report {
    let rec = &run.recorder;
    let no_ws = WsStats::default();
    let no_stats = StepStats::default();
    let mut views = Vec::with_capacity(run.keys.len());
    let mut steps = Vec::new();
    let named_regions = !scenario.regions.is_empty();
    let regions_n = scenario.regions.len().max(1);
    let mut key = 0;
    // Keys run phase by phase, step by step, region by region: each
    // (phase, step) is a run of consecutive keys, one per region.
    while key < run.keys.len() {
        let (pi, si, _) = run.keys.triple(key);
        let mut group = Vec::new();
        while key < run.keys.len() && {
            let (p, s, _) = run.keys.triple(key);
            (p, s) == (pi, si)
        } {
            group.push(key);
            key += 1;
        }
        let Some(phase) = scenario.phases.get(pi) else {
            continue;
        };
        let Some(flow) = scenario.flows.get(phase.flow) else {
            continue;
        };
        let Some(step) = flow.steps.get(si) else {
            continue;
        };
        let last_start = rec.phases.get(pi).map_or(0, |c| c.last_start_us);
        let active = active_time(schedule, pi, run.elapsed, last_start);
        let mut total = StepStats::default();
        let mut total_ws = WsStats::default();
        let mut by_region = Vec::new();
        let mut traces: Vec<TraceRef> = Vec::new();
        for &k in &group {
            let (_, _, ri) = run.keys.triple(k);
            for t in rec.traces.get(k).into_iter().flatten() {
                traces.push(TraceRef {
                    trace_id: t.trace_id.clone(),
                    span_id: t.span_id.clone(),
                    latency_us: t.latency_us,
                    region: scenario.regions.get(ri).map(|r| r.name.clone()),
                    attempt: t.attempt,
                    status: t.status,
                    error: t.error.clone(),
                });
            }
        }
        // Slowest first; ties by trace id, so the list does not depend on
        // which lane or worker kept which.
        traces.sort_by(|a, b| {
            b.latency_us
                .cmp(&a.latency_us)
                .then_with(|| a.trace_id.cmp(&b.trace_id))
        });
        traces.truncate(scenario.telemetry.trace.as_ref().map_or(0, |t| t.slowest));
        for &k in &group {
            let (_, _, ri) = run.keys.triple(k);
            let stats = rec.steps.get(k).unwrap_or(&no_stats);
            let ws = rec.ws.get(k).unwrap_or(&no_ws);
            // Same constructor on both sides: merging cannot fail.
            let _ = total.merge(stats);
            let _ = total_ws.merge(ws);
            let region = scenario.regions.get(ri).map(|r| r.name.as_str());
            views.push(StepView {
                phase: &phase.name,
                step: &step.name,
                region,
                stats,
                ws,
                active,
            });
            if let Some(name) = region.filter(|_| named_regions) {
                by_region.push(RegionStepReport {
                    region: name.to_owned(),
                    count: stats.counts.sent,
                    ok: stats.counts.ok,
                    errors: stats.counts.errors,
                    rps: rate(stats.counts.sent, active),
                    latency_us: latency(&stats.latency),
                    percentiles: percentiles(&stats.latency),
                    outcomes: stats.counts.clone(),
                    series: series(&stats.series, run.intervals.by_key.get(k)),
                    ws: ws_report(ws),
                });
            }
        }
        let c = &total.counts;
        steps.push(StepReport {
            phase: phase.name.clone(),
            flow: flow.name.clone(),
            step: step.name.clone(),
            method: step.method_label(),
            count: c.sent,
            ok: c.ok,
            errors: c.errors,
            rps: rate(c.sent, active),
            latency_us: latency(&total.latency),
            percentiles: percentiles(&total.latency),
            outcomes: c.clone(),
            ws: ws_report(&total_ws),
            series: series(
                &total.series,
                group
                    .first()
                    .and_then(|k| run.intervals.by_step.get(k / regions_n)),
            ),
            regions: by_region,
            traces,
        });
    }
    let results = slo::evaluate(&scenario.slos, &views);

    let sent: u64 = steps.iter().map(|s| s.count).sum();
    let ok: u64 = steps.iter().map(|s| s.ok).sum();
    let lost: Vec<&crate::dist::coordinator::WorkerInfo> = info
        .workers
        .iter()
        .flatten()
        .filter(|w| w.status == "lost")
        .collect();
    let partial = run.interrupted || !lost.is_empty();
    let (generator, generator_health) = generator(run, info);
    let health = RunHealth {
        partial: run.interrupted || (!lost.is_empty() && !info.allow_partial),
        sent,
        dropped: rec.schedule.dropped,
        generator: generator_health,
        objectives: scenario.objectives,
    };
    let judgement = slo::judge(&results, &health, &invariant_findings(info));
    let mut reasons = judgement.reasons;
    reasons.extend(lost.iter().map(|w| lost_reason(w, info.allow_partial)));

    Report {
        schema_version: SCHEMA_VERSION,
        run_id: info.run_id.to_owned(),
        flashcrowd_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            file: scenario.file.display().to_string(),
            sha256: scenario.sha256.clone(),
        },
        seed: scenario.seed,
        started_at: info
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_s: run.elapsed.as_secs_f64(),
        target: info.target.clone(),
        host: crate::engine::host_name(),
        scale: info.scale,
        verdict: judgement.verdict,
        verdict_reasons: reasons,
        objectives: scenario.objectives,
        partial,
        totals: Totals {
            scheduled: rec.schedule.scheduled,
            started: rec.schedule.started,
            sent,
            ok,
            errors: sent - ok,
            late: rec.schedule.late,
            dropped: rec.schedule.dropped,
        },
        generator,
        phases: phase_reports(scenario, schedule, rec),
        steps,
        slos: results
            .iter()
            .zip(&judgement.settled)
            .map(|(r, s)| slo_report(r, *s))
            .collect(),
        sessions: Sessions {
            peak: run.sessions.iter().map(|&(_, n)| n).max().unwrap_or(0),
            sample_every_s: crate::engine::SESSION_SAMPLE_EVERY.as_secs_f64(),
            series: run.sessions.clone(),
        },
        regions: regions(scenario, info.chaos.as_ref()),
        chaos: chaos(scenario, info.chaos.as_ref()),
        invariants: info.invariants.clone(),
        insecure: info.insecure,
        telemetry: info.telemetry.clone(),
        coverage: info.workers.as_ref().map(|_| Coverage {
            planned: schedule.total(),
            started: rec.schedule.started,
            ratio: if schedule.total() == 0 {
                1.0
            } else {
                rec.schedule.started as f64 / schedule.total() as f64
            },
        }),
        workers: info.workers.clone().unwrap_or_default(),
    }
}

/// The report's generator figures, and what the verdict needs to know of
/// the generator: how late it was, whether it fell behind or ran out of
/// CPU, each said in a sentence.
fn generator(run: &RunResult, info: &RunInfo<'_>) -> (Generator, GeneratorHealth) {
    let rec = &run.recorder;
    let dispatch_p99 = quantile_ms(&rec.dispatch_lag, 0.99);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_percent = run
        .cpu
        .filter(|_| !run.elapsed.is_zero())
        .map(|c| c.as_secs_f64() / run.elapsed.as_secs_f64() * 100.0);
    let over = |h: &Histogram<u64>, limit: Duration| {
        !h.is_empty() && h.value_at_quantile(0.99) > limit.as_micros() as u64
    };
    let dispatch_lagging = over(&rec.dispatch_lag, SATURATED_DISPATCH_P99);
    let send_lagging = over(&rec.start_delay, SATURATED_SEND_P99);
    // With the embedded demo in the process, a busy CPU may be the target's
    // doing; only the lags speak for the generator then.
    let cpu_bound = !info.embedded
        && cpu_percent.is_some_and(|p| p >= SATURATED_CPU_SHARE * 100.0 * cores as f64);
    let saturated = dispatch_lagging || send_lagging || cpu_bound;
    let cpu_text = cpu_percent.map_or(String::new(), |p| {
        format!(", the process used {:.2} of {cores} cores", p / 100.0)
    });
    let mut notes = Vec::new();
    if dispatch_lagging {
        notes.push(format!(
            "the generator could not keep its schedule: its dispatcher ran {dispatch_p99:.1} ms \
             late at p99 (limit {} ms{cpu_text}); give it more CPU or lower the rate",
            SATURATED_DISPATCH_P99.as_millis()
        ));
    }
    if send_lagging {
        // Latency is measured from intended times, so the wait is charged
        // to the requests; say where it came from so nobody blames the
        // wrong side.
        notes.push(format!(
            "the schedule was not held: {} of {} arrivals started more than {} ms late, \
             p99 {:.1} ms late (limit {} ms{cpu_text}); either all {} connections were \
             busy with a slow target (raise --connections if it can take more) or the \
             generator ran out of CPU",
            rec.schedule.late,
            rec.schedule.started,
            info.config.late_after.as_millis(),
            quantile_ms(&rec.start_delay, 0.99),
            SATURATED_SEND_P99.as_millis(),
            info.config.connections
        ));
    }
    if cpu_bound {
        notes.push(format!(
            "the generator used {:.2} of {cores} cores: it was saturated, so its \
             latencies include its own queueing; give it more CPU or lower the rate",
            cpu_percent.unwrap_or_default() / 100.0
        ));
    }
    let health = GeneratorHealth {
        lag_max_us: if rec.dispatch_lag.is_empty() {
            0
        } else {
            rec.dispatch_lag.max()
        },
        behind: dispatch_lagging || send_lagging,
        out_of_cpu: cpu_bound,
        notes,
    };
    let figures = Generator {
        connections: info.config.connections,
        lanes: info.config.lanes,
        late_after_ms: info.config.late_after.as_secs_f64() * 1_000.0,
        dispatch_lag_p99_ms: dispatch_p99,
        dispatch_lag_max_ms: rec.dispatch_lag.max() as f64 / 1_000.0,
        start_delay_p99_ms: quantile_ms(&rec.start_delay, 0.99),
        start_delay_max_ms: rec.start_delay.max() as f64 / 1_000.0,
        cpu_percent,
        cores,
        saturated,
        engine: info.engine.clone(),
    };
    (figures, health)
}

/// What each phase scheduled, started, was late with and dropped.
fn phase_reports(
    scenario: &Scenario,
    schedule: &Schedule,
    rec: &crate::metrics::Recorder,
) -> Vec<PhaseReport> {
    scenario
        .phases
        .iter()
        .zip(&schedule.phases)
        .enumerate()
        .map(|(i, (p, ps))| {
            let c = rec.phases.get(i).copied().unwrap_or_default();
            PhaseReport {
                name: p.name.clone(),
                model: match p.load {
                    Load::Open { .. } => "open",
                    Load::Sessions { .. } => "sessions",
                    Load::Users { .. } => "users",
                }
                .to_owned(),
                start_s: ps.start.as_secs_f64(),
                duration_s: ps.duration.as_secs_f64(),
                scheduled: c.scheduled,
                started: c.started,
                late: c.late,
                dropped: c.dropped,
            }
        })
        .collect()
}

/// Why a lost worker leaves the run partial.
fn lost_reason(w: &crate::dist::coordinator::WorkerInfo, allow_partial: bool) -> String {
    format!(
        "worker {} (slice {}) was lost at {:.1} s: arrivals {:.1}–{:.1} s of its slice never ran (not replayed){}",
        w.index,
        w.segment,
        w.missed_from_s.unwrap_or(0.0),
        w.missed_from_s.unwrap_or(0.0),
        w.missed_to_s.unwrap_or(0.0),
        if allow_partial {
            "; judged anyway (--allow-partial)"
        } else {
            ""
        }
    )
}

fn regions(scenario: &Scenario, run: Option<&ChaosRun>) -> Vec<RegionInfo> {
    scenario
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| RegionInfo {
            name: r.name.clone(),
            profile: r.profile.as_ref().map(|p| p.name.clone()),
            base_rtt_ms: r
                .profile
                .as_ref()
                .map_or(0.0, |p| p.base_rtt().as_secs_f64() * 1_000.0),
            shares: r.shares.clone(),
            route: run
                .and_then(|c| c.routes.get(i))
                .map_or_else(String::new, ToString::to_string),
        })
        .collect()
}

fn chaos(scenario: &Scenario, run: Option<&ChaosRun>) -> Option<ChaosReport> {
    let run = run?;
    let names = |idx: &[usize]| {
        idx.iter()
            .filter_map(|&i| scenario.regions.get(i).map(|r| r.name.clone()))
            .collect()
    };
    Some(ChaosReport {
        backend: match scenario.chaos.backend {
            crate::scenario::ChaosBackend::Embedded => "embedded",
            crate::scenario::ChaosBackend::Toxiproxy(_) => "toxiproxy",
        }
        .to_owned(),
        events: scenario
            .chaos
            .events
            .iter()
            .map(|e| ChaosEventInfo {
                name: e.name.clone(),
                regions: names(&e.regions),
                action: crate::chaos::timeline::describe(&e.action),
                at_s: e.at.as_secs_f64(),
                until_s: e.until().map(|u| u.as_secs_f64()),
                ramp_s: e.ramp.map(|r| r.as_secs_f64()),
                flap_s: e.flap.map(|f| (f.on.as_secs_f64(), f.off.as_secs_f64())),
            })
            .collect(),
        transitions: run.transitions.clone(),
        cleanup_error: run.cleanup_error.clone(),
    })
}

fn rate(n: u64, active: Duration) -> f64 {
    if active.is_zero() {
        0.0
    } else {
        n as f64 / active.as_secs_f64()
    }
}

/// Requests, errors and latency per second of the run; the latency
/// arrays are as long as the counts.
fn series(s: &[crate::metrics::Second], lat: Option<&Vec<Option<Summary>>>) -> Series {
    let at = |i: usize, f: fn(&Summary) -> u64| {
        lat.and_then(|l| l.get(i)).and_then(|x| x.as_ref()).map(f)
    };
    let n = s.len().max(lat.map_or(0, Vec::len));
    Series {
        every_s: 1.0,
        sent: (0..n).map(|i| s.get(i).map_or(0, |x| x.sent)).collect(),
        errors: (0..n).map(|i| s.get(i).map_or(0, |x| x.errors)).collect(),
        p50_us: (0..n).map(|i| at(i, |x| x.p50)).collect(),
        p99_us: (0..n).map(|i| at(i, |x| x.p99)).collect(),
        max_us: (0..n).map(|i| at(i, |x| x.max)).collect(),
    }
}

/// How long phase `pi` actually ran: its scheduled length, cut short if the
/// run ended early, or stretched to its last actual start if sending fell
/// behind (so rates are what was sent, not what was asked for).
fn active_time(schedule: &Schedule, pi: usize, elapsed: Duration, last_start_us: u64) -> Duration {
    schedule.phases.get(pi).map_or(Duration::ZERO, |p| {
        let scheduled_end = (p.start + p.duration).min(elapsed.max(p.start));
        let actual_end = Duration::from_micros(last_start_us);
        scheduled_end.max(actual_end).saturating_sub(p.start)
    })
}

fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        samples: h.len(),
        min: h.min(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p99_9: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
        stdev: h.stdev(),
    }
}

/// Points per halving of the distance to 100%, as HdrHistogram's own
/// percentile output uses: 50, 75, 87.5, ... each split in five.
const TICKS_PER_HALF: u32 = 5;

/// The distribution at HdrHistogram's percentile ticks, up to the maximum.
fn percentiles(h: &Histogram<u64>) -> Vec<PercentilePoint> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<PercentilePoint> = Vec::new();
    for v in h.iter_quantiles(TICKS_PER_HALF) {
        let point = PercentilePoint {
            percentile: v.quantile_iterated_to() * 100.0,
            value_us: h.highest_equivalent(v.value_iterated_to()),
        };
        // The iterator repeats the last value while it walks to 100%.
        if out.last().is_some_and(|p| p.percentile >= point.percentile) {
            continue;
        }
        out.push(point);
        if point.percentile >= 100.0 {
            break;
        }
    }
    out
}

fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1_000.0
    }
}

fn slo_report(r: &SloResult, settled: Settled) -> SloReport {
    let (default, at) = match r.slo.origin {
        slo::Origin::Default => (true, None),
        slo::Origin::Written { at } => (false, at),
    };
    SloReport {
        expr: r.slo.expr.clone(),
        observed: r.observed,
        threshold: r.threshold,
        unit: r.slo.metric.unit().to_owned(),
        passed: r.status == SloStatus::Pass,
        status: r.status,
        samples: r.samples,
        default,
        line: at.map(|(l, _)| l),
        column: at.map(|(_, c)| c),
        generator_doubt: settled == Settled::GeneratorDoubt,
    }
}

/// The invariants' findings, phrased for the verdict.
fn invariant_findings(info: &RunInfo<'_>) -> InvariantFindings {
    let Some(inv) = &info.invariants else {
        return InvariantFindings::default();
    };
    InvariantFindings {
        broken: inv
            .verdicts
            .iter()
            .filter(|v| !v.holds)
            .map(|v| {
                let example = v
                    .examples
                    .first()
                    .map_or(String::new(), |e| format!(", e.g. {e}"));
                format!(
                    "invariant {} broken: {} of {} checked{example}",
                    v.name, v.violations, v.checked
                )
            })
            .collect(),
        unjudged: inv
            .unread
            .iter()
            .map(|(name, why)| format!("invariant {name} not judged: {why}"))
            .collect(),
    }
}

/// The WebSocket part of a step's report; `None` for steps without any.
fn ws_report(ws: &WsStats) -> Option<WsReport> {
    if ws.is_empty() {
        return None;
    }
    Some(WsReport {
        messages: ws.messages,
        expected: ws.expected,
        received: ws.received,
        delivery_ratio: ws.delivery_ratio(),
        missing: ws.expected.saturating_sub(ws.received),
        duplicates: ws.duplicates,
        out_of_order: ws.out_of_order,
        echoes: ws.echoes,
        unexpected: ws.unexpected,
        fanout_us: latency(&ws.fanout),
        fanout_percentiles: percentiles(&ws.fanout),
        reconnects: ws.reconnects,
        closed_by_server: ws
            .closed_by_server
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
        broken: ws.broken,
        messages_in: ws.messages_in,
    })
}
