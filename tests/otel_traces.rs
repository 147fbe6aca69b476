//! Trace propagation end to end: with sampling 1 every request that
//! reaches the demo platform (through a relay that keeps its bytes)
//! carries a valid W3C `traceparent` whose trace id is an exported client
//! span, with sampling 0 none does; and exports over OTLP/gRPC reach each
//! service's `Export` method.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;
use support::otel::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exports_call_each_services_export_method() {
    let (addr, calls) = grpc_receiver().await;
    let text = r#"name: otel-grpc
target: embedded
seed: 3
phases:
  - { name: steady, duration: 1s, load: { rate: 100/s }, flow: f }
flows:
  f:
    - { name: product, get: /api/products/sku-1 }
telemetry:
  interval: 1s
  trace: { sample: 100% }
"#;
    let file = scenario_file("grpc", text);
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
