//! The Toxiproxy chaos backend against a Toxiproxy-compatible server: the
//! embedded proxy server plays the external one, reached only through its
//! API, and `External` is driven directly (and once through a scenario).
//!
//! Timing assertions use generous upper bounds and exact lower bounds: a
//! latency toxic can only make a round trip slower.

mod support;

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use flashcrowd::chaos::{External, ToxicSpec};
use flashcrowd::proxy::ProxyServer;
use flashcrowd::scenario::{self, ChaosBackend, ToxiproxyServers};
use serde_json::Value;
use support::proxy::{connect, delete, echo, server, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The backend's per-operation timeout (`chaos::toxiproxy::CALL_TIMEOUT`).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

fn external(api: SocketAddr) -> External {
    External::new(ToxiproxyServers {
        api: vec![api.to_string()],
        upstream: None,
    })
}

fn spec(kind: &str, upstream: bool, attrs: &[(&str, u64)]) -> ToxicSpec {
    ToxicSpec {
        name: format!("test-{kind}"),
        kind: kind.into(),
        upstream,
        toxicity: 1.0,
        attributes: attrs.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
    }
}

fn latency(ms: u64) -> ToxicSpec {
    spec("latency", false, &[("latency", ms)])
}

async fn toxics(srv: &ProxyServer, proxy: &str) -> Vec<Value> {
    let r = support::demo::get(srv.addr, &format!("/proxies/{proxy}/toxics")).await;
    assert_eq!(r.status, 200, "{:?}", r.raw);
    r.json.as_array().cloned().unwrap_or_default()
}

async fn proxy_json(srv: &ProxyServer, proxy: &str) -> Value {
    let r = support::demo::get(srv.addr, &format!("/proxies/{proxy}")).await;
    assert_eq!(r.status, 200, "{:?}", r.raw);
    r.json
}

/// One echo round trip on a fresh connection through `addr`, timed from
/// the write to the last byte back.
async fn round_trip(addr: SocketAddr) -> Duration {
    let mut s = connect(addr).await;
    let start = Instant::now();
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .expect("echo within the wait")
        .unwrap();
    assert_eq!(&buf, b"ping");
    start.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_the_proxy_and_bytes_flow() {
    let (srv, upstream) = (server(1).await, echo().await);
    let ext = external(srv.addr);
    let addr = ext.open(0, "eu", upstream).await.unwrap();
    let p = proxy_json(&srv, "flashcrowd-eu").await;
    assert_eq!(p["upstream"], upstream.to_string());
    assert_eq!(p["enabled"], true);
    assert_eq!(p["listen"], addr.to_string());
    assert_ne!(addr.port(), 0);
    let rtt = round_trip(addr).await;
    eprintln!("clean round trip through the proxy: {:.1} ms", ms(rtt));
    assert!(rtt < Duration::from_millis(100), "{rtt:?}");
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_upstream_wins_over_the_targets_address() {
    let (srv, upstream) = (server(2).await, echo().await);
    let ext = External::new(ToxiproxyServers {
        api: vec![srv.addr.to_string()],
        upstream: Some(upstream.to_string()),
    });
    // The address the harness would use is a closed port: only the
    // configured upstream can answer.
    let addr = ext
        .open(0, "eu", "127.0.0.1:9".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        proxy_json(&srv, "flashcrowd-eu").await["upstream"],
        upstream.to_string()
    );
    round_trip(addr).await;
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_applied_then_removed() {
    let (srv, upstream) = (server(3).await, echo().await);
    let ext = external(srv.addr);
    let addr = ext.open(0, "eu", upstream).await.unwrap();

    ext.apply(0, "eu", &vec![latency(100)]).await.unwrap();
    let list = toxics(&srv, "flashcrowd-eu").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "latency_downstream");
    assert_eq!(list[0]["type"], "latency");
    assert_eq!(list[0]["stream"], "downstream");
    assert_eq!(list[0]["attributes"]["latency"], 100);
    let slow = round_trip(addr).await;

    ext.apply(0, "eu", &vec![]).await.unwrap();
    assert!(toxics(&srv, "flashcrowd-eu").await.is_empty());
    let fast = round_trip(addr).await;
    eprintln!(
        "latency 100 ms downstream: round trip {:.1} ms; removed: {:.1} ms",
        ms(slow),
        ms(fast)
    );
    assert!(slow >= Duration::from_millis(100), "{slow:?}");
    assert!(slow < Duration::from_millis(400), "{slow:?}");
    assert!(fast < Duration::from_millis(50), "{fast:?}");
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_set_is_not_sent_again() {
    let (srv, upstream) = (server(4).await, echo().await);
    let ext = external(srv.addr);
    ext.open(0, "eu", upstream).await.unwrap();
    ext.apply(0, "eu", &vec![latency(30)]).await.unwrap();
    // Changed behind the backend's back: an identical desired set must not
    // touch the server, so the hand-made change survives.
    let body = serde_json::json!({"attributes": {"latency": 31}});
    let r = support::demo::post(
        srv.addr,
        "/proxies/flashcrowd-eu/toxics/latency_downstream",
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.raw);
    ext.apply(0, "eu", &vec![latency(30)]).await.unwrap();
    assert_eq!(
        toxics(&srv, "flashcrowd-eu").await[0]["attributes"]["latency"],
        31
    );
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latencies_on_one_stream_are_summed() {
    let (srv, upstream) = (server(5).await, echo().await);
    let ext = external(srv.addr);
    let addr = ext.open(0, "eu", upstream).await.unwrap();
    let profile = spec("latency", false, &[("latency", 60), ("jitter", 4)]);
    let event = spec("latency", false, &[("latency", 50), ("jitter", 6)]);
    let up = spec("latency", true, &[("latency", 5)]);
    ext.apply(0, "eu", &vec![profile, event, up]).await.unwrap();
    let list = toxics(&srv, "flashcrowd-eu").await;
    assert_eq!(list.len(), 2, "{list:?}");
    let down = list
        .iter()
        .find(|t| t["name"] == "latency_downstream")
        .unwrap();
    assert_eq!(down["attributes"]["latency"], 110);
    assert_eq!(down["attributes"]["jitter"], 10);
    let rtt = round_trip(addr).await;
    eprintln!(
        "latency 60±4 + 50±6 ms down, 5 ms up: round trip {:.1} ms",
        ms(rtt)
    );
    // 110 − 10 down and 5 up at least.
    assert!(rtt >= Duration::from_millis(105), "{rtt:?}");
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_disables_the_proxy_until_lifted() {
    let (srv, upstream) = (server(6).await, echo().await);
    let ext = external(srv.addr);
    let addr = ext.open(0, "eu", upstream).await.unwrap();
    // What `partition: refuse` desires.
    let refuse = vec![spec("refuse", false, &[]), spec("reset", false, &[])];
    ext.apply(0, "eu", &refuse).await.unwrap();
    assert_eq!(proxy_json(&srv, "flashcrowd-eu").await["enabled"], false);
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

    ext.apply(0, "eu", &vec![]).await.unwrap();
    assert_eq!(proxy_json(&srv, "flashcrowd-eu").await["enabled"], true);
    assert!(toxics(&srv, "flashcrowd-eu").await.is_empty());
    let rtt = round_trip(addr).await;
    eprintln!("refused, then re-enabled: round trip {:.1} ms", ms(rtt));
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_becomes_reset_peer_with_timeout_zero() {
    let (srv, upstream) = (server(7).await, echo().await);
    let ext = external(srv.addr);
    let addr = ext.open(0, "eu", upstream).await.unwrap();
    ext.apply(0, "eu", &vec![spec("reset", false, &[])])
        .await
        .unwrap();
    let list = toxics(&srv, "flashcrowd-eu").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "reset_peer_upstream");
    assert_eq!(list[0]["type"], "reset_peer");
    assert_eq!(list[0]["stream"], "upstream");
    assert_eq!(list[0]["attributes"]["timeout"], 0);
    // The client's first bytes end the connection: nothing reaches the
    // echo, nothing comes back.
    let mut s = connect(addr).await;
    s.write_all(b"ping").await.unwrap();
    let (got, _) = support::proxy::read_to_end(&mut s).await;
    assert!(got.is_empty(), "{got:?}");
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_becomes_timeout_zero_on_its_stream() {
    let (srv, upstream) = (server(8).await, echo().await);
    let ext = external(srv.addr);
    ext.open(0, "eu", upstream).await.unwrap();
    ext.apply(0, "eu", &vec![spec("blackhole", true, &[])])
        .await
        .unwrap();
    let list = toxics(&srv, "flashcrowd-eu").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "timeout_upstream");
    assert_eq!(list[0]["attributes"]["timeout"], 0);
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_type_is_an_error_and_changes_nothing() {
    let (srv, upstream) = (server(9).await, echo().await);
    let ext = external(srv.addr);
    ext.open(0, "eu", upstream).await.unwrap();
    ext.apply(0, "eu", &vec![latency(20)]).await.unwrap();
    let normal = spec("latency_normal", false, &[("latency", 20), ("stdev", 5)]);
    let err = ext
        .apply(0, "eu", &vec![latency(20), normal])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`latency_normal`"), "{err}");
    let list = toxics(&srv, "flashcrowd-eu").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["attributes"]["latency"], 20);
    ext.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_server_fails_fast() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let ext = external(closed);
    let start = Instant::now();
    let err = ext
        .open(0, "eu", echo().await)
        .await
        .expect_err("nothing listens there");
    let took = start.elapsed();
    eprintln!("open against a closed port: error after {:.1} ms", ms(took));
    assert!(took < CALL_TIMEOUT, "{took:?}");
    assert!(err.to_string().contains(&closed.to_string()), "{err}");
    // Cleanup still tries (the proxy may exist) and is bounded too.
    let start = Instant::now();
    assert!(ext.close().await.is_err());
    assert!(start.elapsed() < CALL_TIMEOUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_cut_off_by_the_timeout() {
    // Accepts and reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let ext = external(api);
    let start = Instant::now();
    let err = ext.open(0, "eu", echo().await).await.unwrap_err();
    let took = start.elapsed();
    eprintln!(
        "open against a silent server: error after {:.2} s: {err}",
        took.as_secs_f64()
    );
    assert!(took >= CALL_TIMEOUT, "{took:?}");
    assert!(took < CALL_TIMEOUT + Duration::from_secs(2), "{took:?}");
    assert!(err.to_string().contains("no answer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_removes_every_proxy_it_created() {
    let (srv, upstream) = (server(10).await, echo().await);
    let ext = External::new(ToxiproxyServers {
        api: vec![srv.addr.to_string(); 2],
        upstream: None,
    });
    ext.open(0, "eu", upstream).await.unwrap();
    ext.open(1, "sea", upstream).await.unwrap();
    ext.apply(1, "sea", &vec![latency(10)]).await.unwrap();
    // Someone else's proxy on the same server stays.
    support::proxy::proxy(srv.addr, "other", upstream).await;
    assert_eq!(
        support::demo::get(srv.addr, "/proxies")
            .await
            .json
            .as_object()
            .unwrap()
            .len(),
        3
    );
    ext.close().await.unwrap();
    let left = support::demo::get(srv.addr, "/proxies").await.json;
    let names: Vec<&String> = left.as_object().unwrap().keys().collect();
    assert_eq!(names, ["other"]);
    delete(srv.addr, "/proxies/other").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_left_by_a_crashed_run_is_taken_over_clean() {
    let (srv, upstream) = (server(11).await, echo().await);
    // A previous run's proxy, disabled and with a toxic. Created disabled,
    // it keeps the listen address it was given, so `/populate` with the
    // same address and upstream keeps it as it is.
    let body = serde_json::json!({
        "name": "flashcrowd-eu", "listen": "127.0.0.1:0",
        "upstream": upstream.to_string(), "enabled": false,
    });
    let r = support::demo::post(srv.addr, "/proxies", &body).await;
    assert_eq!(r.status, 201, "{:?}", r.raw);
    support::proxy::add_toxic(
        srv.addr,
        "flashcrowd-eu",
        serde_json::json!({"type": "latency", "attributes": {"latency": 500}}),
    )
    .await;
    let ext = external(srv.addr);
    let addr = ext.open(0, "eu", upstream).await.unwrap();
    let p = proxy_json(&srv, "flashcrowd-eu").await;
    assert_eq!(p["enabled"], true);
    assert_eq!(p["toxics"], serde_json::json!([]));
    let rtt = round_trip(addr).await;
    eprintln!("stale proxy taken over: round trip {:.1} ms", ms(rtt));
    assert!(rtt < Duration::from_millis(100), "{rtt:?}");
    ext.close().await.unwrap();
}

/// A fake server whose toxic creation drops the connection without an
/// answer: the client's `with_*` panics on that.
async fn toxic_dropping_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let proxy = serde_json::json!({
        "name": "flashcrowd-eu", "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2",
        "enabled": true, "toxics": [],
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut s).await else {
                    return;
                };
                let body = match head.as_str() {
                    h if h.starts_with("POST /populate ") => {
                        serde_json::json!({ "proxies": [proxy] })
                    }
                    h if h.starts_with("GET /proxies/flashcrowd-eu/toxics ") => {
                        serde_json::json!([])
                    }
                    h if h.starts_with("GET /proxies/flashcrowd-eu ") => proxy,
                    h if h.starts_with("POST /proxies/flashcrowd-eu ") => proxy,
                    // POST …/toxics and anything else: hang up.
                    _ => return,
                };
                let body = body.to_string();
                let mut reply = Vec::new();
                write!(
                    reply,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                let _ = s.write_all(&reply).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// The request line and headers; the body is read and dropped, so closing
/// the socket afterwards is a clean FIN.
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, s.read(&mut byte)).await {
            Ok(Ok(1)) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8(buf).ok()?;
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tokio::time::timeout(WAIT, s.read_exact(&mut body))
        .await
        .ok()?
        .ok()?;
    Some(head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_client_is_an_error_and_the_next_call_works() {
    let api = toxic_dropping_server().await;
    let ext = external(api);
    ext.open(0, "eu", echo().await).await.unwrap();
    let err = ext.apply(0, "eu", &vec![latency(10)]).await.unwrap_err();
    eprintln!("client panic surfaced as: {err}");
    assert!(err.to_string().contains("client failed"), "{err}");
    // The panicking client's lock is poisoned; a fresh one takes over.
    ext.apply(0, "eu", &vec![]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_with_a_toxiproxy_backend_loads_and_runs_its_first_state() {
    let (srv, upstream) = (server(12).await, echo().await);
    let yaml = format!(
        r#"name: toxiproxy-backend
target: http://{upstream}
seed: 1
phases:
  - name: browse
    duration: 10s
    load: {{ rate: 10/s }}
    flow: browse
flows:
  browse:
    - name: home
      get: /
regions:
  eu:
    share: 100%
    profile:
      upstream: {{ latency: 20ms }}
      downstream: {{ latency: 30ms, jitter: 5ms }}
chaos:
  backend: toxiproxy
  toxiproxy: {api}
  events:
    - {{ name: slow, region: eu, at: 0s, for: 5s, latency: 100ms, direction: downstream }}
    - {{ name: cut, region: eu, at: 6s, for: 2s, partition: refuse }}
"#,
        api = srv.addr
    );
    let dir = std::env::temp_dir().join(format!("flashcrowd-tp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    let loaded = scenario::load(&path);
    let _ = std::fs::remove_dir_all(&dir);
    let sc = loaded.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sc.chaos.backend,
        ChaosBackend::Toxiproxy(ToxiproxyServers {
            api: vec![srv.addr.to_string()],
            upstream: None,
        })
    );

    let regions = flashcrowd::chaos::start(&sc, upstream, CancellationToken::new())
        .await
        .unwrap();
    let mut player = regions.player(&sc);
    player.step(Duration::ZERO, None, Instant::now()).await;
    let list = toxics(&srv, "flashcrowd-eu").await;
    let latency_of = |name: &str| {
        list.iter()
            .find(|t| t["name"] == name)
            .map(|t| t["attributes"]["latency"].clone())
    };
    // Profile 30 ms plus the event's 100 ms, merged into one toxic.
    assert_eq!(latency_of("latency_downstream"), Some(130.into()));
    assert_eq!(latency_of("latency_upstream"), Some(20.into()));
    let rtt = round_trip(regions.routes[0]).await;
    eprintln!(
        "scenario at 0 s (20 ms up, 130±5 ms down): round trip {:.1} ms",
        ms(rtt)
    );
    assert!(rtt >= Duration::from_millis(145), "{rtt:?}");
    regions.close().await.unwrap();
    assert_eq!(
        support::demo::get(srv.addr, "/proxies").await.json,
        serde_json::json!({})
    );
}
