//! Fixtures shared by the integration tests: scenarios built in code and
//! small HTTP targets with known behaviour, all on 127.0.0.1:0; the demo
//! platform's client (`demo`), the chaos proxy's (`proxy`), OTLP receivers
//! (`otel`) and a self-signed TLS pair (`tls`).

#![allow(dead_code)]

pub mod demo;
pub mod otel;
pub mod proxy;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use flashcrowd::scenario::template::Template;
use flashcrowd::scenario::{
    Action, DemoSettings, Expect, Flow, Load, Phase, RateShape, Request, Scenario, Step, StepKind,
    Target,
};
use tokio::time::Instant;

/// A one-phase, one-step scenario: GET `/` at a constant rate.
pub fn constant_get(
    target: SocketAddr,
    per_sec: f64,
    duration: Duration,
    timeout: Duration,
) -> Scenario {
    Scenario {
        name: "test".into(),
        file: "test.yaml".into(),
        sha256: "0".repeat(64),
        target: Target::Url(url::Url::parse(&format!("http://{target}")).unwrap()),
        seed: 1,
        phases: vec![Phase {
            name: "steady".into(),
            start: Duration::ZERO,
            duration,
            load: Load::Open {
                shape: RateShape::Constant { per_sec },
                arrivals: Default::default(),
            },
            flow: 0,
        }],
        flows: vec![Flow {
            name: "hit".into(),
            steps: vec![Step {
                timeout,
                ..get_step("get")
            }],
            program: vec![Action::Request {
                step: 0,
                chance: 1.0,
            }],
            vars: vec![],
        }],
        feeders: vec![],
        slos: vec![],
        objectives: flashcrowd::slo::Objectives::Written,
        demo: DemoSettings::default(),
        regions: Vec::new(),
        chaos: Default::default(),
        invariants: Default::default(),
        allow_targets: Vec::new(),
        telemetry: Default::default(),
    }
}

/// Behaviour of a [`spawn_target`] server.
#[derive(Clone, Default)]
pub struct TargetBehaviour {
    /// Every response waits this long.
    pub delay: Duration,
    /// Between these offsets from the server's start, nothing is answered;
    /// everything arriving or in flight is answered when the window ends (a
    /// process frozen with SIGSTOP behaves the same way).
    pub freeze: Option<(Duration, Duration)>,
}

#[derive(Clone)]
struct Ctx {
    behaviour: TargetBehaviour,
    started: Instant,
    hits: Arc<AtomicU64>,
}

/// A running test target.
pub struct TestTarget {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicU64>,
    pub started: Instant,
}

impl TestTarget {
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// Start a target answering `GET /` with 200 after the configured delay.
pub async fn spawn_target(behaviour: TargetBehaviour) -> TestTarget {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    let hits = Arc::new(AtomicU64::new(0));
    let ctx = Ctx {
        behaviour,
        started,
        hits: hits.clone(),
    };
    let app = Router::new().route("/", get(handler)).with_state(ctx);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestTarget {
        addr,
        hits,
        started,
    }
}

async fn handler(State(ctx): State<Ctx>) -> &'static str {
    ctx.hits.fetch_add(1, Ordering::Relaxed);
    if let Some((from, to)) = ctx.behaviour.freeze {
        let now = ctx.started.elapsed();
        if now >= from && now < to {
            tokio::time::sleep_until(ctx.started + to).await;
        }
    }
    if !ctx.behaviour.delay.is_zero() {
        tokio::time::sleep(ctx.behaviour.delay).await;
    }
    "ok"
}

/// A GET step to `/` named `name`.
pub fn get_step(name: &str) -> Step {
    Step {
        name: name.into(),
        timeout: Duration::from_secs(5),
        kind: StepKind::Http(Request {
            method: http::Method::GET,
            path: Template::literal("/"),
            headers: vec![],
            body: None,
            expect: Expect::default(),
            captures: vec![],
            ledger: None,
            retry: None,
        }),
    }
}

/// A one-phase scenario running `program` over `steps` under `load`.
pub fn program_scenario(
    target: SocketAddr,
    load: Load,
    duration: Duration,
    steps: Vec<Step>,
    program: Vec<Action>,
) -> Scenario {
    let mut s = constant_get(target, 1.0, duration, Duration::from_secs(5));
    s.phases[0].load = load;
    s.flows[0].steps = steps;
    s.flows[0].program = program;
    s
}

/// Run a scenario against its target with default settings.
pub async fn run_scenario(scenario: Scenario) -> flashcrowd::engine::RunResult {
    run_with(
        scenario,
        flashcrowd::engine::RunConfig::default(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
}

/// Run a scenario against its target with `cfg`, stopping early if `stop`
/// is cancelled.
pub async fn run_with(
    scenario: Scenario,
    cfg: flashcrowd::engine::RunConfig,
    stop: tokio_util::sync::CancellationToken,
) -> flashcrowd::engine::RunResult {
    let schedule = flashcrowd::schedule::Schedule::new(&scenario.phases, scenario.seed, 1.0, None);
    let Target::Url(url) = scenario.target.clone() else {
        panic!("test scenarios name their target")
    };
    flashcrowd::engine::run(Arc::new(scenario), &schedule, &url, &cfg, stop)
        .await
        .unwrap()
}

/// A target that answers 200 to anything and keeps a log of every request
/// as `METHOD PATH BODY`.
pub struct Recorder {
    pub addr: SocketAddr,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    /// The requests so far, sorted (arrival order depends on timing; the
    /// set of requests must not).
    pub fn sorted_log(&self) -> Vec<String> {
        let mut v = self.log.lock().unwrap().clone();
        v.sort();
        v
    }
}

pub async fn spawn_recorder() -> Recorder {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = Router::new()
        .fallback(record_request)
        .with_state(log.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Recorder { addr, log }
}

async fn record_request(
    State(log): State<Arc<std::sync::Mutex<Vec<String>>>>,
    method: http::Method,
    uri: http::Uri,
    body: String,
) -> &'static str {
    log.lock().unwrap().push(format!("{method} {uri} {body}"));
    "ok"
}

/// A loopback port that was free a moment ago (closed again before use;
/// the OS rarely hands it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Waits (at most 10 s) until something accepts connections on `addr`.
pub fn wait_listening(addr: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A target that answers every request after exactly `service`: a thread
/// per kept-alive connection, reading a request head, sleeping, writing a
/// fixed answer. No HTTP stack and no async timer (which would round each
/// sleep up to the next millisecond), so the service time is what the
/// engines should measure, give or take tens of microseconds.
pub fn spawn_fixed_service(service: Duration) -> SocketAddr {
    spawn_counted_service(service).0
}

/// [`spawn_fixed_service`], also counting the requests it has read.
pub fn spawn_counted_service(service: Duration) -> (SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        // Enough connections for any test here; the process ends with the
        // tests.
        for conn in listener.incoming().take(1_000).flatten() {
            let count = count.clone();
            std::thread::spawn(move || serve_fixed(conn, service, &count));
        }
    });
    (addr, seen)
}

fn serve_fixed(
    mut conn: std::net::TcpStream,
    service: Duration,
    seen: &std::sync::atomic::AtomicU64,
) {
    use std::io::{Read, Write};
    // Wake from each sleep within a microsecond rather than Linux's
    // default 50 µs slack.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_timerslack(1_000);
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..10_000_000 {
        let head_end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
        };
        pending.drain(..head_end);
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(service);
        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
        if conn.write_all(answer).is_err() {
            return;
        }
    }
}

/// Every way `report` breaks the committed report schema.
pub fn schema_errors(report: &serde_json::Value) -> Vec<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/schema/report.v1.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    v.iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// An interval log read with the `hdrhistogram` crate's own reader: the
/// sum of its histograms per tag, and how many intervals it holds.
pub fn hlog_by_tag(
    path: &std::path::Path,
) -> (
    std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>>,
    usize,
) {
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let log = std::fs::read(path).unwrap();
    let mut out = std::collections::BTreeMap::new();
    let mut intervals = 0;
    let mut d = Deserializer::new();
    for entry in IntervalLogIterator::new(&log) {
        let LogEntry::Interval(h) = entry.unwrap() else {
            continue;
        };
        intervals += 1;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(h.encoded_histogram())
            .unwrap();
        let hist: hdrhistogram::Histogram<u64> = d.deserialize(&mut bytes.as_slice()).unwrap();
        out.entry(h.tag().unwrap().as_str().to_owned())
            .or_insert_with(|| hdrhistogram::Histogram::new(3).unwrap())
            .add(&hist)
            .unwrap();
    }
    (out, intervals)
}
