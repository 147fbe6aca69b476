//! `run`'s OpenTelemetry wiring: the collector's settings from flags and
//! `OTEL_*` variables, the exporter started beside the run with the run's
//! identity, the fan-out of closed seconds and chaos transitions to it,
//! and the warning that says what was lost.
//!
//! Owns how the exporter is attached to a run. Must not build or send
//! OTLP (`telemetry` does).

use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::OtlpFlags;
use crate::engine::{self, TraceSetup};
use crate::report::TelemetryReport;
use crate::scenario::Scenario;
use crate::schedule::Schedule;
use crate::telemetry::{self, ConfigError, ExportStats, Exporter, Feeds, OtlpConfig};

/// The collector the flags and the environment name, if any.
pub(super) fn config(flags: &OtlpFlags) -> Result<Option<OtlpConfig>, ConfigError> {
    telemetry::resolve(
        flags.otlp.as_deref(),
        flags.otlp_protocol.as_deref(),
        &|k| std::env::var(k).ok(),
    )
}

/// The flags a local worker gets to reach the same collector (the
/// environment it inherits does the rest).
pub(super) fn worker_args(flags: &OtlpFlags) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(u) = &flags.otlp {
        out.extend(["--otlp".to_owned(), u.clone()]);
    }
    if let Some(p) = &flags.otlp_protocol {
        out.extend(["--otlp-protocol".to_owned(), p.clone()]);
    }
    out
}

/// A run's exporter and the channels into it.
pub(super) struct Attached {
    pub exporter: Exporter,
    pub feeds: Feeds,
}

/// Start exporting the run `run_id` to `config`.
pub(super) fn attach(
    config: OtlpConfig,
    scenario: &std::sync::Arc<Scenario>,
    schedule: &Schedule,
    target: &url::Url,
    run_id: &str,
    workers: Option<u32>,
    progress: tokio::sync::watch::Receiver<engine::Progress>,
) -> Attached {
    let identity = telemetry::RunIdentity {
        run_id: run_id.to_owned(),
        scenario: scenario.name.clone(),
        scenario_sha256: scenario.sha256.clone(),
        seed: scenario.seed,
        worker: None,
        workers,
    };
    let (exporter, feeds) = Exporter::spawn(telemetry::Setup::for_run(
        config, scenario, schedule, target, &identity, true, progress,
    ));
    if scenario.telemetry.logs {
        telemetry::logs::tap().connect(feeds.logs.clone());
    }
    Attached { exporter, feeds }
}

/// The run's side of trace propagation: its id, and where the spans of
/// sampled requests go (a distributed run's workers export their own).
pub(super) fn trace_setup(
    run_id: &str,
    attached: Option<&Attached>,
    distributed: bool,
) -> TraceSetup {
    TraceSetup {
        run_id: run_id.to_owned(),
        spans: attached
            .filter(|_| !distributed)
            .map(|a| a.feeds.spans.clone()),
        dropped: attached
            .map(|a| a.exporter.engine_dropped.clone())
            .unwrap_or_default(),
    }
}

/// Forward everything sent into the returned sender to each of `to`,
/// until every sender of it is dropped; `None` when nobody listens.
pub(super) fn fan_out<T: Clone + Send + 'static>(
    to: Vec<mpsc::UnboundedSender<T>>,
) -> (
    Option<mpsc::UnboundedSender<T>>,
    Option<tokio::task::JoinHandle<()>>,
) {
    if to.is_empty() {
        return (None, None);
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<T>();
    let task = tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            if let Some((last, rest)) = to.split_last() {
                for t in rest {
                    // A listener that is gone (its writer failed) says so
                    // itself; the others still get everything.
                    let _ = t.send(item.clone());
                }
                let _ = last.send(item);
            }
        }
    });
    (Some(tx), Some(task))
}

/// Flush and stop the exporter within [`telemetry::FINAL_FLUSH`], and
/// warn if exports were lost.
pub(super) async fn finish(attached: Attached) -> ExportStats {
    telemetry::logs::tap().disconnect();
    drop(attached.feeds);
    let stats = attached
        .exporter
        .finish(Instant::now() + telemetry::FINAL_FLUSH)
        .await;
    if stats.lost() > 0 {
        eprintln!(
            "warning: OpenTelemetry: {} of {} exports to {} were lost ({} failed, {} dropped{}); the run's figures are unaffected",
            stats.lost(),
            stats.lost() + stats.sent,
            stats.endpoint,
            stats.failed,
            stats.dropped,
            stats
                .last_error
                .as_deref()
                .map_or(String::new(), |e| format!("; last error: {e}"))
        );
    }
    if stats.spans_dropped > 0 {
        eprintln!(
            "warning: OpenTelemetry: {} sampled requests' spans were not exported",
            stats.spans_dropped
        );
    }
    stats
}

/// What the report says about trace sampling and the exports.
pub(super) fn report(scenario: &Scenario, stats: Option<ExportStats>) -> Option<TelemetryReport> {
    let sample = scenario.telemetry.sample();
    if stats.is_none() && sample <= 0.0 {
        return None;
    }
    Some(TelemetryReport {
        trace_sample: sample,
        export: stats,
    })
}

/// Tell the exporter when the run started.
pub(super) fn start(starter: Option<&telemetry::Starter>, t0: Instant, wall: SystemTime) {
    if let Some(s) = starter {
        s.start(t0, wall);
    }
}
