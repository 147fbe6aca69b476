//! Fixtures of the OpenTelemetry tests: OTLP receivers (HTTP and gRPC)
//! on 127.0.0.1:0 that decode what arrives with `opentelemetry-proto`,
//! running `flashcrowd run` with a clean OTLP environment, and readers of
//! the exports and of the README's metric table.
//!
//! Owns test plumbing only; assertions belong in the test files.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use prost::Message;
use serde_json::Value;

/// What the receiver got.
#[derive(Default)]
pub struct Received {
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub traces: Vec<ExportTraceServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
    /// Requests that broke OTLP/HTTP: wrong path, method or content type.
    pub wrong: Vec<String>,
}

pub type Shared = Arc<Mutex<Received>>;

/// An OTLP/HTTP receiver on 127.0.0.1:0, as a collector's `otlp` receiver
/// with `protocols: { http: }` behaves.
pub async fn receiver() -> (SocketAddr, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Shared::default();
    let app = Router::new().fallback(receive).with_state(got.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, got)
}

pub async fn receive(
    State(got): State<Shared>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut g = got.lock().unwrap();
    if method != axum::http::Method::POST || ct != "application/x-protobuf" {
        g.wrong.push(format!("{method} {uri} {ct}"));
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "text/plain")],
            Vec::new(),
        );
    }
    let ok = match uri.path() {
        "/v1/metrics" => ExportMetricsServiceRequest::decode(body)
            .map(|m| g.metrics.push(m))
            .is_ok(),
        "/v1/traces" => ExportTraceServiceRequest::decode(body)
            .map(|m| g.traces.push(m))
            .is_ok(),
        "/v1/logs" => ExportLogsServiceRequest::decode(body)
            .map(|m| g.logs.push(m))
            .is_ok(),
        _ => false,
    };
    if !ok {
        g.wrong.push(format!("{method} {uri}: not an OTLP export"));
        return (
            StatusCode::NOT_FOUND,
            [("content-type", "text/plain")],
            Vec::new(),
        );
    }
    // An empty Export*ServiceResponse: full success.
    (
        StatusCode::OK,
        [("content-type", "application/x-protobuf")],
        Vec::new(),
    )
}

pub fn scenario_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flashcrowd-otel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

pub struct Ran {
    pub out: Output,
    pub report: Value,
    pub wall: Duration,
}

impl Ran {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// `flashcrowd run FILE --quiet --out DIR ARGS...` with a clean
/// OpenTelemetry environment.
pub fn run(file: &Path, tag: &str, args: &[&str]) -> Ran {
    let dir = file.with_file_name(format!("out-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("run")
        .arg(file)
        .args(["--quiet", "--out"])
        .arg(&dir)
        .args(args)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_SDK_DISABLED")
        .output()
        .unwrap();
    let wall = started.elapsed();
    let report = std::fs::read_to_string(dir.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|e| panic!("no report ({e}):\n{}", String::from_utf8_lossy(&out.stderr)));
    Ran { out, report, wall }
}

pub fn text(kv: &[KeyValue], key: &str) -> Option<String> {
    kv.iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            any_value::Value::IntValue(i) => Some(i.to_string()),
            _ => None,
        })
}

/// Two steps in two regions (one always answers 404, so errors are
/// exported too) and a chaos event on one region; 3 s.
/// Every metric of every export received, in order.
pub fn all_metrics(got: &Received) -> impl Iterator<Item = &Metric> {
    got.metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
}

/// (phase, step) → (requests, errors) from the last cumulative export of
/// each series.
pub fn counter_totals(got: &Received, name: &str) -> BTreeMap<(String, String), u64> {
    let mut last: BTreeMap<Vec<(String, String)>, (u64, i64)> = BTreeMap::new();
    for m in all_metrics(got).filter(|m| m.name == name) {
        let Some(metric::Data::Sum(sum)) = &m.data else {
            panic!("{name} is not a sum");
        };
        assert!(sum.is_monotonic);
        for p in &sum.data_points {
            let attrs: Vec<(String, String)> = p
                .attributes
                .iter()
                .map(|a| {
                    (
                        a.key.clone(),
                        text(std::slice::from_ref(a), &a.key).unwrap(),
                    )
                })
                .collect();
            let v = match p.value {
                Some(number_data_point::Value::AsInt(v)) => v,
                other => panic!("{other:?}"),
            };
            let e = last.entry(attrs).or_insert((0, 0));
            if p.time_unix_nano >= e.0 {
                *e = (p.time_unix_nano, v);
            }
        }
    }
    let mut out = BTreeMap::new();
    for (attrs, (_, v)) in last {
        let get = |k: &str| {
            attrs
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        *out.entry((get("flashcrowd.phase"), get("flashcrowd.step")))
            .or_insert(0) += v as u64;
    }
    out
}

/// Every metric seen: name → (kind, unit, attribute names).
pub fn catalogue(got: &Received) -> BTreeMap<String, (String, String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, String, BTreeSet<String>)> = BTreeMap::new();
    for m in all_metrics(got) {
        let (kind, attrs): (&str, Vec<&Vec<KeyValue>>) = match &m.data {
            Some(metric::Data::Sum(s)) => (
                "counter",
                s.data_points.iter().map(|p| &p.attributes).collect(),
            ),
            Some(metric::Data::Gauge(g)) => (
                "gauge",
                g.data_points.iter().map(|p| &p.attributes).collect(),
            ),
            Some(metric::Data::ExponentialHistogram(h)) => (
                "histogram",
                h.data_points.iter().map(|p| &p.attributes).collect(),
            ),
            Some(metric::Data::Histogram(h)) => (
                "histogram",
                h.data_points.iter().map(|p| &p.attributes).collect(),
            ),
            other => panic!("unexpected metric data {other:?}"),
        };
        let e = out
            .entry(m.name.clone())
            .or_insert_with(|| (kind.to_owned(), m.unit.clone(), BTreeSet::new()));
        e.2.extend(attrs.into_iter().flatten().map(|a| a.key.clone()));
    }
    out
}

/// The README's metric table: name → (kind, unit, attributes).
pub fn readme_metrics(readme: &str) -> BTreeMap<String, (String, String, BTreeSet<String>)> {
    let start = readme
        .find("<!-- otel-metrics -->")
        .expect("the README marks its metric table");
    let mut out = BTreeMap::new();
    for line in readme[start..].lines().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[0].starts_with('`') {
            continue;
        }
        let ticked = |s: &str| -> Vec<String> {
            s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
        };
        let kind = cells[1].split_whitespace().next().unwrap().to_owned();
        out.insert(
            ticked(cells[0])[0].clone(),
            (
                kind,
                ticked(cells[2]).first().cloned().unwrap_or_default(),
                ticked(cells[3]).into_iter().collect(),
            ),
        );
    }
    out
}

/// What a gRPC receiver got: (method path, decoded export) of each call.
pub type GrpcCalls = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// An OTLP/gRPC receiver on 127.0.0.1:0 (cleartext HTTP/2), answering
/// every `Export` with an empty response and `grpc-status: 0` in the
/// trailers, as a collector does.
pub async fn grpc_receiver() -> (SocketAddr, GrpcCalls) {
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = GrpcCalls::default();
    let all = calls.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let calls = all.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let calls = calls.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let grpc = req
                            .headers()
                            .get("content-type")
                            .is_some_and(|v| v == "application/grpc");
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        // One uncompressed, length-prefixed message.
                        let ok = grpc
                            && body.len() >= 5
                            && body[0] == 0
                            && u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize
                                == body.len() - 5;
                        if ok {
                            calls.lock().unwrap().push((path, body[5..].to_vec()));
                        }
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", if ok { "0" } else { "3" }.parse().unwrap());
                        let frames = vec![
                            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(&[
                                0, 0, 0, 0, 0,
                            ]))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let resp = hyper::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(StreamBody::new(futures_util::stream::iter(frames)))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, calls)
}
