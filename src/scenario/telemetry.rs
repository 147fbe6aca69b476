//! The typed `telemetry:` block of a scenario: what a run exports over
//! OpenTelemetry (which metrics, how histograms are shaped, how often) and
//! which requests carry W3C trace context to the target.
//!
//! Owns these shapes once validated. Where the data goes (the collector's
//! address, protocol and headers) is a property of the run, not of the
//! rehearsal, so it comes from flags and `OTEL_*` variables, never from
//! here. Must not parse, validate or do I/O.

use std::time::Duration;

/// `telemetry:` of a scenario; the default exports metrics and chaos
/// events whenever a collector is configured, and traces nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry {
    /// Export the run's metrics.
    pub metrics: bool,
    /// Export period; `None`: `OTEL_METRIC_EXPORT_INTERVAL`, else 5 s.
    pub interval: Option<Duration>,
    /// How latency histograms are shaped on the wire.
    pub histogram: HistogramKind,
    /// Upper bounds of an explicit-bucket histogram, ascending.
    pub buckets: Vec<Duration>,
    pub temporality: Temporality,
    /// Resource attributes added to every export (after
    /// `OTEL_RESOURCE_ATTRIBUTES`, before flashcrowd's own).
    pub attributes: Vec<(String, String)>,
    /// Export chaos transitions as log records.
    pub chaos: bool,
    /// Export the harness's own log lines as log records.
    pub logs: bool,
    /// Trace context on a seeded sample of requests.
    pub trace: Option<TraceSampling>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            metrics: true,
            interval: None,
            histogram: HistogramKind::Exponential,
            buckets: default_buckets(),
            temporality: Temporality::Cumulative,
            attributes: Vec::new(),
            chaos: true,
            logs: false,
            trace: None,
        }
    }
}

impl Telemetry {
    /// The share of requests that carry trace context (0 without `trace:`).
    pub fn sample(&self) -> f64 {
        self.trace.as_ref().map_or(0.0, |t| t.sample)
    }
}

/// The explicit buckets used unless a scenario gives its own: from half a
/// millisecond (a local target) to ten seconds (a timeout), finer than
/// OpenTelemetry's HTTP defaults at the fast end.
pub fn default_buckets() -> Vec<Duration> {
    [
        500u64, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 75_000, 100_000, 250_000, 500_000,
        750_000, 1_000_000, 2_500_000, 5_000_000, 7_500_000, 10_000_000,
    ]
    .into_iter()
    .map(Duration::from_micros)
    .collect()
}

/// Latency histograms as OpenTelemetry exponential histograms (base-2
/// buckets at the finest scale that fits; percentiles survive
/// aggregation across workers and time) or explicit-bucket histograms
/// (for backends that take no exponential ones, e.g. Prometheus without
/// native histograms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistogramKind {
    #[default]
    Exponential,
    Explicit,
}

/// Whether each export carries totals since the start of the run
/// (Prometheus wants these) or only what changed since the last export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Temporality {
    #[default]
    Cumulative,
    Delta,
}

/// `trace:` — which requests carry `traceparent` (and `baggage`) and are
/// exported as client spans.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSampling {
    /// Share of request attempts sampled, 0 to 1; each decision is drawn
    /// from the scenario's seed and the attempt's identity.
    pub sample: f64,
    /// Also send the W3C `baggage` header (run id, phase, step, region).
    pub baggage: bool,
    /// Trace ids of the slowest sampled requests the report keeps per step.
    pub slowest: usize,
}

impl Default for TraceSampling {
    fn default() -> Self {
        TraceSampling {
            sample: 0.0,
            baggage: true,
            slowest: 5,
        }
    }
}
