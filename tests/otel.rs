//! OpenTelemetry end to end: `flashcrowd run` against the embedded demo
//! platform exports to an OTLP/HTTP receiver started here (decoded with
//! `opentelemetry-proto`), sampled requests carry W3C trace context the
//! exported spans match, and a collector that is down or hangs changes
//! neither the verdict nor the timings, only adds a warning.

mod support;

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
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the receiver got.
#[derive(Default)]
struct Received {
    metrics: Vec<ExportMetricsServiceRequest>,
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    /// Requests that broke OTLP/HTTP: wrong path, method or content type.
    wrong: Vec<String>,
}

type Shared = Arc<Mutex<Received>>;

/// An OTLP/HTTP receiver on 127.0.0.1:0, as a collector's `otlp` receiver
/// with `protocols: { http: }` behaves.
async fn receiver() -> (SocketAddr, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Shared::default();
    let app = Router::new().fallback(receive).with_state(got.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, got)
}

async fn receive(
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

fn scenario_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flashcrowd-otel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

struct Ran {
    out: Output,
    report: Value,
    wall: Duration,
}

impl Ran {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// `flashcrowd run FILE --quiet --out DIR ARGS...` with a clean
/// OpenTelemetry environment.
fn run(file: &Path, tag: &str, args: &[&str]) -> Ran {
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

fn text(kv: &[KeyValue], key: &str) -> Option<String> {
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
const SHOP: &str = r#"name: otel-shop
target: embedded
seed: 7
regions:
  eu: { share: 50% }
  sea: { share: 50% }
chaos:
  - { region: eu, at: 1s, for: 1s, latency: 5ms }
phases:
  - { name: browse, duration: 3s, load: { rate: 60/s }, flow: shop }
flows:
  shop:
    - { name: product, get: /api/products/sku-1 }
    - { name: missing, get: /api/products/no-such-sku }
telemetry:
  interval: 1s
"#;

/// (phase, step) → (requests, errors) from the last cumulative export of
/// each series.
fn counter_totals(got: &Received, name: &str) -> BTreeMap<(String, String), u64> {
    let mut last: BTreeMap<Vec<(String, String)>, (u64, i64)> = BTreeMap::new();
    for req in &got.metrics {
        for m in req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
        {
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
fn catalogue(got: &Received) -> BTreeMap<String, (String, String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, String, BTreeSet<String>)> = BTreeMap::new();
    for m in got
        .metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_counters_and_histograms_add_up_to_the_report() {
    let (addr, got) = receiver().await;
    let file = scenario_file("shop", SHOP);
    let url = format!("http://{addr}");
    let ran = tokio::task::spawn_blocking(move || run(&file, "shop", &["--otlp", &url]))
        .await
        .unwrap();
    assert!(ran.out.status.success(), "{}", ran.stderr());
    assert!(!ran.stderr().contains("OpenTelemetry"), "{}", ran.stderr());
    let got = got.lock().unwrap();
    assert!(got.wrong.is_empty(), "{:?}", got.wrong);
    assert!(
        got.metrics.len() >= 3,
        "one export a second and a final one"
    );
    let r = &ran.report;

    // Every export names the run.
    for req in &got.metrics {
        let res = req.resource_metrics[0].resource.as_ref().unwrap();
        assert_eq!(
            text(&res.attributes, "service.name").as_deref(),
            Some("flashcrowd")
        );
        assert_eq!(
            text(&res.attributes, "flashcrowd.run_id"),
            r["run_id"].as_str().map(String::from)
        );
        assert_eq!(
            text(&res.attributes, "flashcrowd.scenario.name").as_deref(),
            Some("otel-shop")
        );
        assert_eq!(
            text(&res.attributes, "flashcrowd.scenario.sha256"),
            r["scenario"]["sha256"].as_str().map(String::from)
        );
    }

    // Counters add up to the report's totals per step.
    let requests = counter_totals(&got, "flashcrowd.requests");
    let errors = counter_totals(&got, "flashcrowd.errors");
    for s in r["steps"].as_array().unwrap() {
        let k = (
            s["phase"].as_str().unwrap().to_owned(),
            s["step"].as_str().unwrap().to_owned(),
        );
        assert_eq!(
            requests.get(&k).copied(),
            s["count"].as_u64(),
            "requests of {k:?}"
        );
        assert_eq!(
            errors.get(&k).copied().unwrap_or(0),
            s["errors"].as_u64().unwrap(),
            "errors of {k:?}"
        );
    }
    assert!(
        r["steps"][1]["errors"].as_u64().unwrap() > 0,
        "the missing product is an error"
    );

    // A latency histogram per step (and region), whose last count is the
    // step's samples.
    let mut hist_counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for m in got
        .metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "flashcrowd.request.duration")
    {
        assert_eq!(m.unit, "s");
        let Some(metric::Data::ExponentialHistogram(h)) = &m.data else {
            panic!("the default histogram is exponential");
        };
        for p in &h.data_points {
            let step = text(&p.attributes, "flashcrowd.step").unwrap();
            let region = text(&p.attributes, "flashcrowd.region").unwrap();
            let buckets = p.positive.as_ref().unwrap();
            assert_eq!(buckets.bucket_counts.iter().sum::<u64>(), p.count);
            assert!(buckets.bucket_counts.len() <= 160);
            let e = hist_counts
                .entry(format!("{step}@{region}"))
                .or_insert((0, 0));
            if p.time_unix_nano >= e.0 {
                *e = (p.time_unix_nano, p.count);
            }
        }
    }
    for s in r["steps"].as_array().unwrap() {
        for g in s["regions"].as_array().unwrap() {
            let k = format!(
                "{}@{}",
                s["step"].as_str().unwrap(),
                g["region"].as_str().unwrap()
            );
            assert_eq!(
                hist_counts.get(&k).map(|c| c.1),
                g["latency_us"]["samples"].as_u64(),
                "histogram of {k}"
            );
        }
    }

    // The chaos event arrived as log records stamped when it took effect.
    let chaos: Vec<String> = got
        .logs
        .iter()
        .flat_map(|l| &l.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter(|l| l.event_name == "flashcrowd.chaos.transition")
        .map(|l| text(&l.attributes, "flashcrowd.chaos.change").unwrap())
        .collect();
    assert!(
        chaos.contains(&"start".to_owned()) && chaos.contains(&"end".to_owned()),
        "{chaos:?}"
    );
    // The report says what was exported.
    let e = &r["telemetry"]["export"];
    assert_eq!(e["failed"], 0);
    assert_eq!(e["dropped"], 0);
    assert!(e["sent"].as_u64().unwrap() >= 3);
    assert!(
        support::schema_errors(r).is_empty(),
        "{:?}",
        support::schema_errors(r)
    );

    // The README's table lists exactly what arrived.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let documented = readme_metrics(&readme);
    let seen = catalogue(&got);
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        seen.keys().collect::<Vec<_>>(),
        "metric names"
    );
    for (name, (kind, unit, attrs)) in &seen {
        let (dk, du, da) = &documented[name];
        assert_eq!((dk, du), (kind, unit), "{name}");
        assert_eq!(da, attrs, "attributes of {name}");
    }
}

/// The README's metric table: name → (kind, unit, attributes).
fn readme_metrics(readme: &str) -> BTreeMap<String, (String, String, BTreeSet<String>)> {
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

/// Every client connection's bytes, as a relay keeps them.
type Streams = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A TCP relay to `upstream` that keeps every byte clients sent.
async fn recording_relay(upstream: SocketAddr) -> (SocketAddr, Streams) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let streams: Streams = Arc::default();
    let all = streams.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                continue;
            };
            let seen = Arc::new(Mutex::new(Vec::new()));
            all.lock().unwrap().push(seen.clone());
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = sw.shutdown().await;
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
        }
    });
    (addr, streams)
}

/// Every request in a client's byte stream: its `traceparent`, if any.
fn requests(stream: &[u8]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut rest = stream;
    // Bounded by the stream: each round consumes at least a head.
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = req.parse(rest) else {
            panic!(
                "not a whole request: {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(200)])
            );
        };
        let header = |n: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(n))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let len: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
        out.push(header("traceparent"));
        rest = &rest[head + len..];
    }
    out
}

const CHECKOUTS: &str = r#"name: otel-traced
target: http://TARGET
seed: 11
phases:
  - { name: rush, duration: 2s, load: { rate: 40/s }, flow: buy }
flows:
  buy:
    - { name: product, get: /api/products/sku-1 }
    - name: checkout
      post: /api/checkout
      headers: { Idempotency-Key: "{{ uuid() }}" }
      json: { sku: sku-2, qty: 1 }
      expect: [201, 409]
telemetry:
  trace: { sample: SAMPLE, slowest: 3 }
"#;

/// Run the checkout scenario through a recording relay to the demo
/// platform; the traceparent of every request that reached it.
async fn traced_run(sample: &str, tag: &'static str) -> (Vec<Option<String>>, Received, Value) {
    let demo = flashcrowd::demo::DemoServer::spawn(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        flashcrowd::demo::DemoConfig::default(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let (relay, streams) = recording_relay(demo.addr).await;
    let (otlp, got) = receiver().await;
    let text = CHECKOUTS
        .replace("TARGET", &relay.to_string())
        .replace("SAMPLE", sample);
    let file = scenario_file(tag, &text);
    let url = format!("http://{otlp}");
    let ran = tokio::task::spawn_blocking(move || run(&file, tag, &["--otlp", &url]))
        .await
        .unwrap();
    assert!(ran.out.status.success(), "{}", ran.stderr());
    let seen: Vec<Option<String>> = streams
        .lock()
        .unwrap()
        .iter()
        .flat_map(|s| requests(&s.lock().unwrap()))
        .collect();
    let got = std::mem::take(&mut *got.lock().unwrap());
    (seen, got, ran.report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sampling_one_every_request_carries_a_traceparent_its_exported_span_matches() {
    let (seen, got, report) = traced_run("100%", "traced").await;
    let sent: u64 = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        seen.len() as u64,
        sent,
        "every request reached the platform"
    );
    let spans: BTreeMap<String, (String, i32)> = got
        .traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| (hex::encode(&s.trace_id), (hex::encode(&s.span_id), s.kind)))
        .collect();
    let mut traces = BTreeSet::new();
    for tp in &seen {
        let tp = tp.as_deref().expect("every request carries traceparent");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!(parts[0], "00", "version");
        assert!(
            parts[1].len() == 32
                && parts[1]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{tp}"
        );
        assert!(
            parts[2].len() == 16 && parts[2].bytes().all(|b| b.is_ascii_hexdigit()),
            "{tp}"
        );
        assert_ne!(parts[1], "0".repeat(32));
        assert_ne!(parts[2], "0".repeat(16));
        assert_eq!(parts[3], "01", "sampled flag");
        let (span, kind) = spans
            .get(parts[1])
            .unwrap_or_else(|| panic!("no span for trace {}", parts[1]));
        assert_eq!(span, parts[2], "the span is the request's parent id");
        assert_eq!(*kind, 3, "a client span");
        traces.insert(parts[1].to_owned());
    }
    assert_eq!(traces.len(), seen.len(), "one trace per request");
    assert_eq!(report["telemetry"]["export"]["spans"].as_u64(), Some(sent));
    // The report lists the slowest few per step, each one a trace that
    // reached the platform.
    for s in report["steps"].as_array().unwrap() {
        let listed = s["traces"].as_array().unwrap();
        assert_eq!(listed.len(), 3);
        let l: Vec<u64> = listed
            .iter()
            .map(|t| t["latency_us"].as_u64().unwrap())
            .collect();
        assert!(l.windows(2).all(|w| w[0] >= w[1]), "slowest first: {l:?}");
        for t in listed {
            assert!(traces.contains(t["trace_id"].as_str().unwrap()));
        }
    }
    assert!(
        support::schema_errors(&report).is_empty(),
        "{:?}",
        support::schema_errors(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sampling_zero_no_request_carries_trace_context() {
    let (seen, got, report) = traced_run("0", "untraced").await;
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(Option::is_none),
        "a request carried traceparent"
    );
    let spans: usize = got
        .traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert_eq!(spans, 0);
    assert!(report["steps"][0].get("traces").is_none());
    // The metrics still went out.
    assert!(!got.metrics.is_empty());
}

/// A "collector" that accepts connections and never answers.
async fn black_hole() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded by the test's lifetime; holds at most a few sockets.
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

const STEADY: &str = r#"name: otel-steady
target: embedded
seed: 3
phases:
  - { name: steady, duration: 3s, load: { rate: 100/s }, flow: f }
flows:
  f:
    - { name: product, get: /api/products/sku-1 }
slos:
  - "p99(product) < 250ms"
telemetry:
  interval: 1s
  trace: { sample: 10% }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_down_for_the_whole_run_changes_nothing_but_a_warning() {
    let file = scenario_file("steady", STEADY);
    let hole = black_hole().await;
    let refused = format!("http://127.0.0.1:{}", support::free_port());
    let hang = format!("http://{hole}");
    let (base, down, hung) = tokio::task::spawn_blocking(move || {
        (
            run(&file, "base", &[]),
            run(&file, "down", &["--otlp", &refused]),
            run(&file, "hung", &["--otlp", &hang]),
        )
    })
    .await
    .unwrap();
    assert!(base.out.status.success(), "{}", base.stderr());
    for (ran, what) in [(&down, "refused"), (&hung, "hanging")] {
        let r = &ran.report;
        assert_eq!(r["verdict"], base.report["verdict"], "{what}");
        assert_eq!(ran.out.status.code(), base.out.status.code(), "{what}");
        assert_eq!(r["totals"]["sent"], base.report["totals"]["sent"], "{what}");
        assert_eq!(r["totals"]["dropped"], 0, "{what}");
        // Late starts are the machine's noise (tests run side by side on
        // two cores), not the collector's doing: a handful at most.
        let late = r["totals"]["late"].as_u64().unwrap();
        assert!(
            late <= base.report["totals"]["late"].as_u64().unwrap() + 6,
            "{what}: {late} late"
        );
        let d =
            (r["duration_s"].as_f64().unwrap() - base.report["duration_s"].as_f64().unwrap()).abs();
        assert!(d < 0.5, "{what}: the run took {d} s longer");
        // The final flush gives up after 2 s, whatever the collector does.
        assert!(
            ran.wall < base.wall + Duration::from_millis(2_500),
            "{what}: {:?} against {:?}",
            ran.wall,
            base.wall
        );
        let e = &r["telemetry"]["export"];
        assert_eq!(e["sent"], 0, "{what}");
        let lost = e["failed"].as_u64().unwrap() + e["dropped"].as_u64().unwrap();
        assert!(lost >= 3, "{what}: {e}");
        let err = ran.stderr();
        assert!(err.contains("warning: OpenTelemetry:"), "{what}: {err}");
        assert!(
            err.contains(&format!("{lost} of {lost} exports")),
            "{what}: {err}"
        );
        assert!(support::schema_errors(r).is_empty());
    }
    eprintln!(
        "wall time: no collector {:?}, refused {:?}, hanging {:?}",
        base.wall, down.wall, hung.wall
    );
}

/// What a gRPC receiver got: (method path, decoded export) of each call.
type GrpcCalls = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// An OTLP/gRPC receiver on 127.0.0.1:0 (cleartext HTTP/2), answering
/// every `Export` with an empty response and `grpc-status: 0` in the
/// trailers, as a collector does.
async fn grpc_receiver() -> (SocketAddr, GrpcCalls) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exports_call_each_services_export_method() {
    let (addr, calls) = grpc_receiver().await;
    let text = STEADY.replace("3s", "1s").replace("10%", "100%");
    let file = scenario_file("grpc", &text);
    let url = format!("http://{addr}");
    let ran = tokio::task::spawn_blocking(move || {
        run(&file, "grpc", &["--otlp", &url, "--otlp-protocol", "grpc"])
    })
    .await
    .unwrap();
    assert!(ran.out.status.success(), "{}", ran.stderr());
    assert!(!ran.stderr().contains("OpenTelemetry"), "{}", ran.stderr());
    let calls = calls.lock().unwrap();
    let mut requests = 0;
    let mut spans = 0;
    for (path, msg) in calls.iter() {
        match path.as_str() {
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => {
                let got = Received {
                    metrics: vec![ExportMetricsServiceRequest::decode(msg.as_slice()).unwrap()],
                    ..Received::default()
                };
                // Cumulative: the largest total is the last one.
                requests = requests.max(counter_totals(&got, "flashcrowd.requests").values().sum());
            }
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => {
                let t = ExportTraceServiceRequest::decode(msg.as_slice()).unwrap();
                spans += t
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum::<usize>();
            }
            other => panic!("unexpected method {other}"),
        }
    }
    let sent = ran.report["totals"]["sent"].as_u64().unwrap();
    assert_eq!(requests, sent);
    assert_eq!(spans as u64, sent);
    assert_eq!(ran.report["telemetry"]["export"]["failed"], 0);
}
