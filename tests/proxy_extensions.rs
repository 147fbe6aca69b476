//! The chaos proxy's extension toxics (beyond Toxiproxy), measured through a
//! real proxy against loopback servers: delay distributions, TCP loss
//! stalls, connect delay, blackholes, resets, refused listeners and `ttl`,
//! plus the published Rust client still reading proxies that carry them.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::proxy::{add_toxic, connect, delete, echo, proxy, server, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The bytes one connection has received so far.
type Received = Arc<Mutex<Vec<u8>>>;

/// A server that records, per connection in accept order, every byte it
/// receives, and echoes them back when `echo` is set.
struct Recorder {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<Received>>>,
}

impl Recorder {
    async fn start(echo: bool) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Received>>> = Arc::default();
        let all = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let got = Received::default();
                all.lock().unwrap().push(got.clone());
                tokio::spawn(async move {
                    let _ = s.set_nodelay(true);
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        got.lock().unwrap().extend_from_slice(&buf[..n]);
                        if echo && s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Recorder { addr, conns }
    }

    fn accepted(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Bytes received so far on connection `i` (accept order).
    fn received(&self, i: usize) -> Vec<u8> {
        match self.conns.lock().unwrap().get(i) {
            Some(c) => c.lock().unwrap().clone(),
            None => Vec::new(),
        }
    }

    /// Waits (bounded by [`WAIT`]) until connection `i` has `n` bytes.
    async fn wait_for(&self, i: usize, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.received(i);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "connection {i}: {} of {n} bytes",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// One echoed round trip of a 16-byte message carrying `seq`; checks the
/// bytes that come back are that message, whole and in order.
async fn round_trip(s: &mut TcpStream, seq: u32) -> Duration {
    let msg: Vec<u8> = std::iter::repeat_n(seq.to_be_bytes(), 4)
        .flatten()
        .collect();
    let mut buf = [0u8; 16];
    let start = Instant::now();
    s.write_all(&msg).await.unwrap();
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..], &msg[..], "round trip {seq} came back altered");
    start.elapsed()
}

/// `per_conn` round trips on each of `conns` connections run side by side;
/// all the round-trip times, in ms.
async fn round_trips(addr: SocketAddr, conns: usize, per_conn: u32) -> Vec<f64> {
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(async move {
            let mut s = connect(addr).await;
            let mut out = Vec::new();
            for seq in 0..per_conn {
                out.push(round_trip(&mut s, seq).await.as_secs_f64() * 1e3);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn stdev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_normal_centres_round_trips_on_its_mean_with_its_spread() {
    let srv = server(11).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency_normal", "attributes": {"latency": 100, "stdev": 10}}),
    )
    .await;
    let times = round_trips(addr, 6, 5).await;
    let (m, sd) = (mean(&times), stdev(&times));
    eprintln!(
        "latency_normal 100±10: n={} mean {m:.1} ms, sd {sd:.1} ms",
        times.len()
    );
    // The mean of 30 draws has a standard error of 1.8 ms; the proxy and
    // loopback add about 2 ms, more on a loaded machine. Without a spread
    // (stdev 0) the same round trips vary by under a millisecond.
    assert!((92.0..=110.0).contains(&m), "mean {m} ms");
    assert!((5.0..=25.0).contains(&sd), "sd {sd} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_pareto_never_beats_its_base_and_has_the_modelled_median() {
    let srv = server(12).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency_pareto", "attributes": {"latency": 50, "shape_x100": 250}}),
    )
    .await;
    let times = round_trips(addr, 6, 5).await;
    let (min, med) = (
        times.iter().copied().fold(f64::MAX, f64::min),
        median(&times),
    );
    let max = times.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "latency_pareto 50/2.5: n={} min {min:.1} median {med:.1} max {max:.1} ms",
        times.len()
    );
    assert!(min >= 50.0, "a round trip beat the base: {min} ms");
    // Median of the model: 50 × 2^(1/2.5) = 66 ms.
    assert!((56.0..=85.0).contains(&med), "median {med} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_stalls_the_modelled_share_of_round_trips_by_an_rto_and_loses_nothing() {
    let srv = server(13).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "loss", "attributes": {"rate_ppm": 50_000, "rtt": 40}}),
    )
    .await;
    let (conns, per_conn) = (8, 150);
    let times = round_trips(addr, conns, per_conn).await;
    // RTO = max(40 ms + 4 × 0, 200 ms) = 200 ms; an unstalled round trip on
    // loopback takes well under a millisecond.
    let stalled: Vec<f64> = times.iter().copied().filter(|&t| t >= 150.0).collect();
    let quick = times.iter().filter(|&&t| t < 50.0).count();
    let n = times.len() as f64;
    let share = stalled.len() as f64 / n;
    // A 16-byte response is one segment: it stalls with 1 − (1 − p)^1 = p.
    let expected = 1.0 - (1.0 - 0.05_f64).powi(1);
    let se = (expected * (1.0 - expected) / n).sqrt();
    eprintln!(
        "loss 5%: {} of {n} round trips stalled ({:.2}%, expected {:.2}% ± {:.2}%), shortest stall {:.1} ms",
        stalled.len(),
        share * 100.0,
        expected * 100.0,
        se * 100.0,
        stalled.iter().copied().fold(f64::MAX, f64::min)
    );
    assert!((share - expected).abs() <= 3.5 * se, "share {share}");
    assert_eq!(quick + stalled.len(), times.len(), "{times:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_keeps_a_bulk_stream_whole_and_in_order() {
    const COUNT: u32 = 100_000;
    let srv = server(14).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "loss", "stream": "upstream", "attributes": {"rate_ppm": 50_000, "rtt": 40}}),
    )
    .await;
    let start = Instant::now();
    let (mut r, mut w) = connect(addr).await.into_split();
    let writer = tokio::spawn(async move {
        for block in 0..COUNT / 1000 {
            let chunk: Vec<u8> = (block * 1000..(block + 1) * 1000)
                .flat_map(u32::to_be_bytes)
                .collect();
            w.write_all(&chunk).await.unwrap();
        }
        w
    });
    let mut buf = [0u8; 4];
    for next in 0..COUNT {
        tokio::time::timeout(WAIT, r.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(u32::from_be_bytes(buf), next, "lost or reordered");
    }
    writer.await.unwrap();
    eprintln!(
        "loss 5%: {} KB in order in {:?}",
        COUNT * 4 / 1000,
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_delay_holds_new_connections_dial_but_not_open_ones() {
    let srv = server(15).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    let mut open = connect(addr).await;
    round_trip(&mut open, 0).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "connect_delay", "stream": "upstream", "attributes": {"delay": 300}}),
    )
    .await;
    let unaffected = round_trip(&mut open, 1).await;
    let start = Instant::now();
    let mut fresh = connect(addr).await;
    // Sent during the delay: kept and forwarded after the dial.
    let first = round_trip(&mut fresh, 2).await;
    let total = start.elapsed();
    eprintln!("connect_delay 300: new connection's first round trip after {total:?}, open one {unaffected:?}");
    assert!(total >= Duration::from_millis(300), "{total:?}");
    assert!(total < Duration::from_millis(600), "{total:?}");
    assert!(first >= Duration::from_millis(290), "{first:?}");
    assert!(unaffected < Duration::from_millis(50), "{unaffected:?}");
    // Once dialed, the connection is not delayed again.
    assert!(round_trip(&mut fresh, 3).await < Duration::from_millis(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_blackhole_holds_bytes_and_dials_then_delivers_them_in_order() {
    let srv = server(16).await;
    let rec = Recorder::start(false).await;
    let addr = proxy(srv.addr, "sink", rec.addr).await;
    let mut a = connect(addr).await;
    a.write_all(b"hello").await.unwrap();
    rec.wait_for(0, 5).await;
    add_toxic(
        srv.addr,
        "sink",
        json!({"type": "blackhole", "stream": "upstream"}),
    )
    .await;
    let data = pattern(200_000);
    a.write_all(&data).await.unwrap();
    let mut b = connect(addr).await;
    b.write_all(b"second connection").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.received(0).len(), 5, "bytes crossed the blackhole");
    assert_eq!(rec.accepted(), 1, "a new connection was dialed");
    // Nothing was closed either.
    let mut probe = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(50), a.read(&mut probe))
            .await
            .is_err(),
        "the held connection was closed"
    );

    let r = delete(srv.addr, "/proxies/sink/toxics/blackhole_upstream").await;
    assert_eq!(r.status, 204);
    let got = rec.wait_for(0, 5 + data.len()).await;
    assert_eq!(&got[..5], b"hello");
    assert!(got[5..] == data[..], "held bytes came out altered");
    assert_eq!(rec.wait_for(1, 17).await, b"second connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_pushes_back_on_the_sender_instead_of_buffering() {
    const TOTAL: usize = 24 << 20;
    let srv = server(17).await;
    let rec = Recorder::start(false).await;
    let addr = proxy(srv.addr, "sink", rec.addr).await;
    let s = connect(addr).await;
    add_toxic(
        srv.addr,
        "sink",
        json!({"type": "blackhole", "stream": "upstream"}),
    )
    .await;
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = written.clone();
    let writer = tokio::spawn(async move {
        let mut s = s;
        let data = pattern(TOTAL);
        for block in data.chunks(64 * 1024) {
            s.write_all(block).await.unwrap();
            count.fetch_add(block.len(), std::sync::atomic::Ordering::Relaxed);
        }
        s
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let accepted = written.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "blackhole: the sender got {:.1} MB into kernel buffers and the proxy's bounded queue, then blocked",
        accepted as f64 / (1 << 20) as f64
    );
    assert!(!writer.is_finished(), "24 MB vanished into the proxy");
    assert!(accepted < TOTAL / 2, "{accepted} bytes accepted");
    assert_eq!(rec.received(0).len(), 0);

    let r = delete(srv.addr, "/proxies/sink/toxics/blackhole_upstream").await;
    assert_eq!(r.status, 204);
    let _s = tokio::time::timeout(WAIT, writer).await.unwrap().unwrap();
    let got = rec.wait_for(0, TOTAL).await;
    assert!(got == pattern(TOTAL), "bytes altered after the blackhole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_blackhole_is_half_open_requests_arrive_responses_wait() {
    let srv = server(18).await;
    let rec = Recorder::start(true).await;
    let addr = proxy(srv.addr, "echo", rec.addr).await;
    add_toxic(srv.addr, "echo", json!({"type": "blackhole"})).await;
    let mut s = connect(addr).await;
    s.write_all(b"order #42").await.unwrap();
    assert_eq!(rec.wait_for(0, 9).await, b"order #42");
    let mut buf = [0u8; 9];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf))
            .await
            .is_err(),
        "a response crossed the blackhole"
    );
    let start = Instant::now();
    let r = delete(srv.addr, "/proxies/echo/toxics/blackhole_downstream").await;
    assert_eq!(r.status, 204);
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"order #42");
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

async fn expect_reset(s: &mut TcpStream) {
    let mut buf = [0u8; 16];
    match tokio::time::timeout(WAIT, s.read(&mut buf)).await.unwrap() {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("read {n} bytes instead of a reset"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_resets_open_connections_at_once_and_new_ones_right_after_accept() {
    let srv = server(19).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    let mut idle = connect(addr).await;
    round_trip(&mut idle, 0).await;
    // One connection in toxic mode too, with bytes held by a latency.
    let mut busy = connect(addr).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency", "attributes": {"latency": 5000}}),
    )
    .await;
    busy.write_all(b"held").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "reset", "stream": "upstream"}),
    )
    .await;
    expect_reset(&mut idle).await;
    expect_reset(&mut busy).await;
    let took = start.elapsed();
    eprintln!("reset: open connections reset {took:?} after the toxic was added");
    assert!(took < Duration::from_millis(300), "{took:?}");
    // A new connection is reset without sending anything (the RST may
    // even beat the end of `connect`).
    let start = Instant::now();
    match TcpStream::connect(addr).await {
        Ok(mut fresh) => expect_reset(&mut fresh).await,
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_closes_the_listener_and_removing_it_rebinds_the_same_port() {
    let srv = server(20).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    let mut open = connect(addr).await;
    round_trip(&mut open, 0).await;
    add_toxic(srv.addr, "echo", json!({"type": "refuse", "toxicity": 0.0})).await;
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    // Open connections carry on; the proxy still reads as enabled.
    round_trip(&mut open, 1).await;
    let p = support::demo::get(srv.addr, "/proxies/echo").await;
    assert_eq!(p.json["enabled"], true);
    assert_eq!(p.json["listen"], addr.to_string());
    let r = delete(srv.addr, "/proxies/echo/toxics/refuse_downstream").await;
    assert_eq!(r.status, 204);
    let mut again = connect(addr).await;
    round_trip(&mut again, 2).await;
    round_trip(&mut open, 3).await;
}

/// Polls the proxy's toxics (bounded) until none is left; how long it took.
async fn until_no_toxics(api: SocketAddr, proxy: &str) -> Duration {
    let start = Instant::now();
    loop {
        let r = support::demo::get(api, &format!("/proxies/{proxy}/toxics")).await;
        if r.json.as_array().is_some_and(Vec::is_empty) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", r.json);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_with_a_ttl_removes_itself_and_a_refuse_lets_go_of_the_port() {
    let srv = server(21).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    let r = add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency", "attributes": {"latency": 100, "ttl": 300}}),
    )
    .await;
    assert_eq!(
        r.json["attributes"],
        json!({"latency": 100, "jitter": 0, "ttl": 300})
    );
    let gone = until_no_toxics(srv.addr, "echo").await;
    eprintln!("ttl 300: toxic gone after {gone:?}");
    assert!(gone >= Duration::from_millis(280), "{gone:?}");
    assert!(gone < Duration::from_millis(800), "{gone:?}");

    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "refuse", "attributes": {"ttl": 300}}),
    )
    .await;
    assert!(TcpStream::connect(addr).await.is_err());
    until_no_toxics(srv.addr, "echo").await;
    let mut s = connect(addr).await;
    round_trip(&mut s, 0).await;
    assert!(srv.shutdown().await, "a task outlived the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_extension_attributes_are_400_with_a_reason() {
    let srv = server(22).await;
    proxy(srv.addr, "echo", echo().await).await;
    let bad = [
        json!({"type": "latency_pareto", "attributes": {"latency": 50, "shape_x100": 100}}),
        json!({"type": "loss", "attributes": {"rate_ppm": 1_000_001}}),
        json!({"type": "loss", "attributes": {"rate_ppm": 0.5}}),
        json!({"type": "connect_delay", "attributes": {"delay": -1}}),
    ];
    for body in bad {
        let r = support::demo::post(srv.addr, "/proxies/echo/toxics", &body).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(!r.error().is_empty(), "{body}");
    }
    let r = support::demo::post(
        srv.addr,
        "/proxies/echo/toxics",
        &json!({"type": "latency_pareto", "attributes": {"latency": 50, "shape_x100": 100}}),
    )
    .await;
    assert!(
        r.error().contains("shape_x100 must be above 100"),
        "{}",
        r.error()
    );
}

/// Every extension toxic, as the chaos timeline creates them.
fn every_extension() -> Vec<Value> {
    vec![
        json!({"type": "latency_normal", "stream": "upstream", "attributes": {"latency": 100, "stdev": 10}}),
        json!({"type": "latency_pareto", "stream": "upstream", "attributes": {"latency": 50, "shape_x100": 250}}),
        json!({"type": "loss", "stream": "upstream", "attributes": {"rate_ppm": 50_000, "burst": 3, "rtt": 40, "rtt_var": 5, "mss": 1200}}),
        json!({"type": "connect_delay", "stream": "upstream", "attributes": {"delay": 300, "jitter": 50, "ttl": 60_000}}),
        json!({"type": "blackhole", "toxicity": 0.0}),
        json!({"type": "reset", "toxicity": 0.0}),
        json!({"type": "refuse", "attributes": {"ttl": 60_000}}),
    ]
}

#[test]
fn rust_client_still_reads_proxies_carrying_every_extension_toxic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let srv = rt.block_on(async {
        let srv = server(23).await;
        proxy(srv.addr, "shop", echo().await).await;
        for t in every_extension() {
            add_toxic(srv.addr, "shop", t).await;
        }
        srv
    });
    // The blocking client must not run on a runtime thread.
    let client = toxiproxy_rust::client::Client::new(srv.addr);
    let all = client.all().unwrap();
    assert_eq!(all["shop"].proxy_pack.toxics.len(), 7);
    let shop = client.find_proxy("shop").unwrap();
    let toxics = shop.toxics().unwrap();
    let types: Vec<&str> = toxics.iter().map(|t| t.r#type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "latency_normal",
            "latency_pareto",
            "loss",
            "connect_delay",
            "blackhole",
            "reset",
            "refuse"
        ]
    );
    assert_eq!(toxics[2].attributes["rate_ppm"], 50_000);
    assert_eq!(toxics[1].attributes["shape_x100"], 250);
    assert_eq!(toxics[3].attributes["ttl"], 60_000);
    assert!(!toxics[0].attributes.contains_key("ttl"));
    assert!(rt.block_on(srv.shutdown()));
}
