//! The run report: one serialisable model that every output is rendered
//! from.
//!
//! Owns the report's contract (`report.json`, schema in
//! `reports/schema/report.v1.json`) and the arithmetic that turns merged
//! histograms into figures. Renderers (`terminal`, `json`, `html`,
//! `junit`, `markdown`, `github` annotations, and the `hlog` interval log) only format this
//! model, `compare` sets two of them side by side (`crosscheck` two runs of
//! different engines) and `output` maps formats to files; none computes
//! statistics of its own.

mod build;
pub mod compare;
#[cfg(feature = "goose")]
pub mod crosscheck;
pub mod github;
pub mod hlog;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
mod output;
pub mod terminal;

use serde::{Deserialize, Serialize};

pub use build::{build, ChaosRun, RunInfo};
#[cfg(feature = "goose")]
pub(crate) use output::write_atomic;
pub use output::{read, write_formats, Format, ReportError};

use crate::metrics::Counts;
use crate::slo::{Objectives, SloStatus, Verdict};

/// Version of the report contract; bumped on any breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run produced, in the shape of `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub run_id: String,
    pub flashcrowd_version: String,
    pub scenario: ScenarioInfo,
    pub seed: u64,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Wall time from the first intended arrival to the end of the last request.
    pub duration_s: f64,
    pub target: String,
    /// The machine the generator ran on.
    pub host: String,
    /// `--scale` factor applied to every rate.
    pub scale: f64,
    pub verdict: Verdict,
    /// Why the verdict is what it is: failed objectives, broken
    /// invariants, what made the run inconclusive. On a pass only warnings
    /// (each starting with `warning:`, e.g. generator lag that could not
    /// change the verdict) or the note that nothing was judged.
    pub verdict_reasons: Vec<String>,
    /// Where `slos` came from: the scenario (`written`), flashcrowd's
    /// built-in defaults because the scenario has no `slos:` (`defaults`),
    /// or nowhere because it asks for none with `slos: []` (`none`).
    #[serde(default)]
    pub objectives: Objectives,
    /// The run was stopped before its schedule ended.
    pub partial: bool,
    pub totals: Totals,
    pub generator: Generator,
    pub phases: Vec<PhaseReport>,
    pub steps: Vec<StepReport>,
    pub slos: Vec<SloReport>,
    /// Live viewer/user sessions over the run (closed-model phases).
    pub sessions: Sessions,
    /// Where the viewers were (absent when the scenario names no regions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionInfo>,
    /// The chaos timeline and what happened to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<ChaosReport>,
    /// The workers of a distributed run (absent for a single process).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<crate::dist::coordinator::WorkerInfo>,
    /// A distributed run's arrivals started against those planned (lost
    /// workers' never did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// Business invariants judged from the run's history and the
    /// platform's final state (absent when the scenario declares none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariants: Option<crate::reconcile::Reconciled>,
    /// TLS certificate verification was off (`--insecure`): the numbers
    /// were measured against a server whose identity nobody checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Trace sampling and the OpenTelemetry exports (absent when the run
    /// neither sampled nor exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryReport>,
}

/// Trace propagation and OpenTelemetry export of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelemetryReport {
    /// Share of request attempts that carried `traceparent`.
    pub trace_sample: f64,
    /// What went to the collector; `null` when nothing was exported.
    pub export: Option<crate::telemetry::ExportStats>,
}

/// A sampled request, findable by its trace id in the target's tracing
/// backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceRef {
    pub trace_id: String,
    /// The client span: parent of the target's server span.
    pub span_id: String,
    pub latency_us: u64,
    /// `null` when the scenario names no regions.
    pub region: Option<String>,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// How much of the planned schedule ran.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Coverage {
    pub planned: u64,
    pub started: u64,
    pub ratio: f64,
}

/// A region of the rehearsal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionInfo {
    pub name: String,
    /// The network profile's name; `null`: an undegraded path.
    pub profile: Option<String>,
    /// The profile's round trip without spread, loss or queueing, ms.
    pub base_rtt_ms: f64,
    /// Share of each phase's arrivals, in phase order.
    pub shares: Vec<f64>,
    /// The proxy address the region's traffic went through.
    pub route: String,
}

/// The chaos timeline as planned and as it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChaosReport {
    /// `embedded` or `toxiproxy`.
    pub backend: String,
    pub events: Vec<ChaosEventInfo>,
    /// Every change, with when it took effect (seconds from the start).
    pub transitions: Vec<crate::chaos::Transition>,
    /// `null` when everything injected was removed; otherwise why not.
    pub cleanup_error: Option<String>,
}

/// One planned event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChaosEventInfo {
    pub name: String,
    pub regions: Vec<String>,
    pub action: String,
    pub at_s: f64,
    /// `null`: until the run ends.
    pub until_s: Option<f64>,
    pub ramp_s: Option<f64>,
    /// `[on, off]` seconds when flapping.
    pub flap_s: Option<(f64, f64)>,
}

/// One phase's schedule: arrivals are flow iterations (open model) or
/// session joins (closed model).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseReport {
    pub name: String,
    /// `open`, `sessions` or `users`.
    pub model: String,
    pub start_s: f64,
    pub duration_s: f64,
    pub scheduled: u64,
    pub started: u64,
    pub late: u64,
    pub dropped: u64,
}

/// Concurrency of sessions over time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sessions {
    pub peak: u64,
    /// Seconds between samples.
    pub sample_every_s: f64,
    /// `[seconds since start, live sessions]`.
    pub series: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub file: String,
    pub sha256: String,
}

/// Whole-run counters. `scheduled`, `started`, `late` and `dropped` count
/// flow iterations; `sent`, `ok` and `errors` count requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub scheduled: u64,
    pub started: u64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub late: u64,
    pub dropped: u64,
}

/// How well the generator kept its own schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generator {
    pub connections: usize,
    pub lanes: usize,
    /// Lateness threshold for `late`, in ms.
    pub late_after_ms: f64,
    /// p99 / max of the dispatcher's own lag behind intended times, in ms.
    pub dispatch_lag_p99_ms: f64,
    pub dispatch_lag_max_ms: f64,
    /// p99 / max of the wait between intended start and actual start, in ms
    /// (dispatcher lag plus waiting for a free connection).
    pub start_delay_p99_ms: f64,
    pub start_delay_max_ms: f64,
    /// CPU the process used during the run, in % of one core (150 = one
    /// and a half cores); `null` where the OS does not tell.
    pub cpu_percent: Option<f64>,
    /// Cores available to the process.
    pub cores: usize,
    /// The generator could not keep its schedule: its dispatcher fell
    /// behind, or it used (nearly) every core while sending to an external
    /// target.
    pub saturated: bool,
    /// The engine that sent the requests, when it was not flashcrowd's own
    /// (`run --engine goose`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineInfo>,
}

/// Another engine than flashcrowd's own, and how far its figures can be
/// trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// `goose`.
    pub name: String,
    pub version: String,
    /// How far a latency in this report may be from what the engine
    /// measured, relative to it (0.0078 = ±0.78%): the engine keeps its
    /// times in buckets of that precision, and flashcrowd's histograms are
    /// rebuilt from them.
    pub latency_precision: f64,
    /// How the engine times a request, in words.
    pub timing: String,
}

/// One (phase, step).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub phase: String,
    pub flow: String,
    pub step: String,
    pub method: String,
    /// Requests sent.
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    /// Requests per second over the time the phase actually ran.
    pub rps: f64,
    pub latency_us: Latency,
    /// The whole latency distribution (for percentile plots).
    pub percentiles: Vec<PercentilePoint>,
    pub outcomes: Counts,
    /// WebSocket deliveries and socket life, for WebSocket steps only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws: Option<WsReport>,
    /// Requests and errors per second of the run.
    pub series: Series,
    /// The same step split by region (empty when the scenario names none).
    pub regions: Vec<RegionStepReport>,
    /// The slowest requests that carried trace context, slowest first
    /// (absent when none was sampled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<TraceRef>,
}

/// One (phase, step) for the requests of one region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionStepReport {
    pub region: String,
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    pub rps: f64,
    pub latency_us: Latency,
    pub percentiles: Vec<PercentilePoint>,
    pub outcomes: Counts,
    pub series: Series,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws: Option<WsReport>,
}

/// Figures per interval of the run, from its start (interval `i` covers
/// `[i × every_s, (i + 1) × every_s)`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Series {
    /// Seconds per interval.
    pub every_s: f64,
    /// Requests that ended in each interval.
    pub sent: Vec<u32>,
    /// Of which errors.
    pub errors: Vec<u32>,
    /// Latency of the requests that ended in each interval, µs; `null` for
    /// an interval without any.
    pub p50_us: Vec<Option<u64>>,
    pub p99_us: Vec<Option<u64>>,
    pub max_us: Vec<Option<u64>>,
}

/// One point of a latency distribution: the value at a percentile, as
/// HdrHistogram's percentile output lists them (finer towards the tail).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PercentilePoint {
    pub percentile: f64,
    pub value_us: u64,
}

/// What a WebSocket step's messages and sockets did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WsReport {
    /// Tracked messages this `send` step sent.
    pub messages: u64,
    /// Deliveries expected: each message × the other open sockets of its
    /// room when it was sent.
    pub expected: u64,
    /// Distinct deliveries that arrived.
    pub received: u64,
    /// `received / expected`; `null` when no message had a receiver.
    pub delivery_ratio: Option<f64>,
    /// Expected deliveries that never arrived.
    pub missing: u64,
    pub duplicates: u64,
    /// Arrived after a message sent at least 1 ms later.
    pub out_of_order: u64,
    /// Messages the platform sent back to their own sender.
    pub echoes: u64,
    /// Messages that reached a socket which was not in the room when they
    /// were sent (it joined later or had left); not deliveries.
    pub unexpected: u64,
    /// Intended send → arrival at each receiver, µs.
    pub fanout_us: Latency,
    /// The whole fan-out distribution.
    pub fanout_percentiles: Vec<PercentilePoint>,
    /// For a `ws` connect step: sockets opened again after a close.
    pub reconnects: u64,
    /// Sockets the server closed, by close code (as a string key).
    pub closed_by_server: std::collections::BTreeMap<String, u64>,
    /// Sockets that broke without a close frame.
    pub broken: u64,
    /// Messages that arrived on this step's sockets.
    pub messages_in: u64,
}

/// Latency summary in microseconds, from the merged HDR histogram
/// (3 significant digits). All zero when nothing was recorded.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    pub samples: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
    pub mean: f64,
    pub stdev: f64,
}

/// One objective.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SloReport {
    pub expr: String,
    /// In `unit`; `null` when no request matched.
    pub observed: Option<f64>,
    pub threshold: f64,
    pub unit: String,
    pub passed: bool,
    pub status: SloStatus,
    pub samples: u64,
    /// One of flashcrowd's built-in objectives (the scenario has no
    /// `slos:`), not one the scenario wrote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// Where the scenario file writes the objective (1-based), for
    /// annotations on the file; absent for defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// What the generator may have added to the figure (its own lag, or
    /// its want of CPU) could turn this result the other way, so it does
    /// not count against the target: the run is inconclusive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generator_doubt: bool,
}
