//! Spans and log records: sampled requests as client spans, chaos
//! transitions and the harness's own log lines as log records, and the
//! three export requests that carry them (and the metrics) with the run's
//! resource.
//!
//! Owns span names, kinds and attributes (OpenTelemetry's HTTP client
//! conventions plus flashcrowd's own) and how a transition reads as a log
//! record. Must not send anything or keep state between exports.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

use super::wire::{kv, kv_int, scope};
use crate::chaos::Transition;
use crate::engine::{SpanRecord, StepKeys};
use crate::metrics::{Outcome, Split};
use crate::scenario::Scenario;

/// By step key: the span name and the attributes every span of the key
/// carries.
pub struct SpanNames {
    keys: Vec<(String, Vec<KeyValue>)>,
}

impl SpanNames {
    /// `server` is the target's host and port, as requests name it.
    pub fn new(scenario: &Scenario, keys: &StepKeys, server: (&str, u16)) -> Self {
        let keys = (0..keys.len())
            .map(|k| {
                let (pi, si, ri) = keys.triple(k);
                let phase = scenario.phases.get(pi);
                let step = phase
                    .and_then(|p| scenario.flows.get(p.flow))
                    .and_then(|f| f.steps.get(si));
                let method = step
                    .and_then(|s| s.http())
                    .map_or("GET".to_owned(), |r| r.method.to_string());
                let step_name = step.map_or("", |s| s.name.as_str());
                let mut attrs = vec![
                    kv("http.request.method", method.clone()),
                    kv("server.address", server.0),
                    kv_int("server.port", i64::from(server.1)),
                    kv("flashcrowd.phase", phase.map_or("", |p| p.name.as_str())),
                    kv("flashcrowd.step", step_name),
                ];
                if let Some(r) = scenario.regions.get(ri) {
                    attrs.push(kv("flashcrowd.region", r.name.as_str()));
                }
                // `{method} {target}`, with the step standing in for the
                // route template the HTTP conventions ask for.
                (format!("{method} {step_name}"), attrs)
            })
            .collect();
        SpanNames { keys }
    }
}

/// A sampled attempt as a client span; `origin_ns` is the run's start in
/// Unix ns.
pub fn span(r: &SpanRecord, names: &SpanNames, origin_ns: u64) -> Span {
    let (name, base) = names
        .keys
        .get(r.key as usize)
        .cloned()
        .unwrap_or_else(|| ("request".to_owned(), Vec::new()));
    let mut attributes = base;
    attributes.push(kv_int(
        "flashcrowd.seq",
        i64::try_from(r.seq).unwrap_or(i64::MAX),
    ));
    attributes.push(kv_int("flashcrowd.attempt", i64::from(r.attempt)));
    attributes.push(kv_int(
        "flashcrowd.latency_us",
        i64::try_from(r.latency_us).unwrap_or(i64::MAX),
    ));
    if r.attempt > 1 {
        attributes.push(kv_int(
            "http.request.resend_count",
            i64::from(r.attempt - 1),
        ));
    }
    let status_code = match r.outcome {
        Outcome::Ok { status }
        | Outcome::BadStatus { status }
        | Outcome::CheckFailed { status } => Some(status),
        _ => None,
    };
    if let Some(s) = status_code {
        attributes.push(kv_int("http.response.status_code", i64::from(s)));
    }
    let error = Split::slot(r.outcome).and_then(|s| Split::label(s).1);
    if let Some(e) = error {
        attributes.push(kv("error.type", e));
    }
    Span {
        trace_id: r.ids.trace.to_vec(),
        span_id: r.ids.span.to_vec(),
        // Sampled, as the traceparent said.
        flags: 0x1,
        name,
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: origin_ns.saturating_add(r.start_ns),
        end_time_unix_nano: origin_ns.saturating_add(r.end_ns),
        attributes,
        status: error.map(|e| Status {
            message: e.to_owned(),
            code: status::StatusCode::Error as i32,
        }),
        ..Default::default()
    }
}

/// A chaos transition as a log record stamped when it took effect.
pub fn chaos_log(t: &Transition, origin_ns: u64) -> LogRecord {
    let at = origin_ns.saturating_add((t.at_s.max(0.0) * 1e9) as u64);
    let failed = t.error.is_some();
    let mut attributes = vec![
        kv("flashcrowd.chaos.event", t.event.clone()),
        kv("flashcrowd.region", t.region.clone()),
        kv("flashcrowd.chaos.change", t.change.clone()),
        kv("flashcrowd.chaos.action", t.action.clone()),
        KeyValue {
            key: "flashcrowd.chaos.planned_s".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(t.planned_s)),
            }),
            ..Default::default()
        },
    ];
    if let Some(e) = &t.error {
        attributes.push(kv("error.message", e.clone()));
    }
    LogRecord {
        time_unix_nano: at,
        observed_time_unix_nano: at,
        severity_number: if failed {
            SeverityNumber::Warn
        } else {
            SeverityNumber::Info
        } as i32,
        severity_text: if failed { "WARN" } else { "INFO" }.into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!(
                "chaos {} {} {} ({})",
                t.region, t.event, t.change, t.action
            ))),
        }),
        attributes,
        event_name: "flashcrowd.chaos.transition".into(),
        ..Default::default()
    }
}

/// One of the harness's own log lines.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub time_unix_nano: u64,
    /// `tracing`'s level name: ERROR, WARN, INFO, DEBUG, TRACE.
    pub level: &'static str,
    pub target: String,
    pub message: String,
    /// The event's other fields, as text.
    pub fields: Vec<(String, String)>,
}

pub fn log_line(l: &LogLine) -> LogRecord {
    let severity = match l.level {
        "ERROR" => SeverityNumber::Error,
        "WARN" => SeverityNumber::Warn,
        "INFO" => SeverityNumber::Info,
        "DEBUG" => SeverityNumber::Debug,
        _ => SeverityNumber::Trace,
    };
    let mut attributes = vec![kv("code.namespace", l.target.clone())];
    attributes.extend(l.fields.iter().map(|(k, v)| kv(k, v.clone())));
    LogRecord {
        time_unix_nano: l.time_unix_nano,
        observed_time_unix_nano: l.time_unix_nano,
        severity_number: severity as i32,
        severity_text: l.level.into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(l.message.clone())),
        }),
        attributes,
        ..Default::default()
    }
}

pub fn metrics_request(resource: &Resource, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn traces_request(resource: &Resource, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn logs_request(resource: &Resource, logs: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: logs,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
