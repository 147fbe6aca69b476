//! OpenTelemetry export of a run: its metrics (request and error counters
//! by phase, step, region and status class, latency histograms, live
//! gauges), client spans of the requests that carried trace context, chaos
//! transitions and, optionally, the harness's own log lines, over OTLP
//! (HTTP/protobuf by default, gRPC when chosen) to a collector.
//!
//! Owns building and sending OTLP. Must not slow the run: the engine only
//! ever writes into channels that never wait, exports happen on tasks of
//! their own, and a collector that is down costs a warning with a count of
//! the lost exports and at most a bounded final flush.
//!
//! Why not the OpenTelemetry SDK's meter provider and periodic reader:
//! the run's figures already exist as HDR histograms per second, merged
//! exactly across tasks and workers. The SDK would want every sample
//! recorded again into its own instruments, its reader owns a timer and a
//! shutdown whose length and failures the run could neither bound nor
//! count, and its client spans would get ids the run did not choose. So
//! the OTLP messages (from `opentelemetry-proto`, the project's own
//! protobuf types) are built here from the closed seconds, exponential
//! buckets computed from the HDR buckets, spans given the seeded ids the
//! requests carried, and posted with a plain HTTP client.

mod client;
pub mod config;
mod exporter;
pub mod logs;
pub mod metrics;
pub mod signals;
pub mod wire;

use std::time::Duration;

pub use client::ExportError;
pub use config::{resolve, ConfigError, OtlpConfig, Protocol, Signal};
pub use exporter::{ExportStats, Exporter, Feeds, Setup, Starter, LOG_QUEUE, SPAN_QUEUE};
pub use wire::RunIdentity;

/// Export period when neither the scenario nor
/// `OTEL_METRIC_EXPORT_INTERVAL` sets one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Longest the final flush may take, collector down or not.
pub const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// The `tracing` target of the exporter's own events (never exported as
/// log records themselves).
pub const LOG_TARGET: &str = "flashcrowd::telemetry";
