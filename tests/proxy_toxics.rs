//! What each toxic does to bytes and time, measured through a real proxy
//! against loopback servers started by the tests.

mod support;

use std::time::Duration;

use serde_json::json;
use support::proxy::{add_toxic, connect, delete, echo, proxy, read_to_end, server, source, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Median round trip of a 16-byte message over `s` (echoed back).
async fn round_trip(s: &mut tokio::net::TcpStream, samples: usize) -> Duration {
    let mut times = Vec::with_capacity(samples);
    let mut buf = [0u8; 16];
    for i in 0..samples {
        let msg = [i as u8; 16];
        let start = Instant::now();
        s.write_all(&msg).await.unwrap();
        tokio::time::timeout(WAIT, s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        times.push(start.elapsed());
        assert_eq!(buf, msg);
    }
    times.sort();
    times[samples / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_latency_of_200ms_adds_200ms_to_a_round_trip() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    let mut s = connect(addr).await;
    let base = round_trip(&mut s, 5).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency", "attributes": {"latency": 200}}),
    )
    .await;
    // The same, already open connection picks the toxic up.
    let slow = round_trip(&mut s, 5).await;
    let added = slow.saturating_sub(base).as_millis();
    assert!((185..=215).contains(&added), "added {added} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_of_50_kbs_moves_50_kb_in_one_second() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "src", source(50_000).await).await;
    add_toxic(
        srv.addr,
        "src",
        json!({"type": "bandwidth", "attributes": {"rate": 50}}),
    )
    .await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    let (data, err) = read_to_end(&mut s).await;
    let took = start.elapsed().as_millis();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data.len(), 50_000);
    assert!((950..=1050).contains(&took), "took {took} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_rate_zero_means_no_limit_instead_of_hanging() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "src", source(200_000).await).await;
    add_toxic(
        srv.addr,
        "src",
        json!({"type": "bandwidth", "attributes": {"rate": 0}}),
    )
    .await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    let (data, err) = read_to_end(&mut s).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data.len(), 200_000);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_toxic_drops_data_and_closes_after_its_timeout() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "timeout", "attributes": {"timeout": 300}}),
    )
    .await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    s.write_all(b"lost in the void").await.unwrap();
    let (data, _) = read_to_end(&mut s).await;
    let took = start.elapsed().as_millis();
    assert_eq!(data.len(), 0);
    assert!((290..=450).contains(&took), "closed after {took} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_gives_the_client_a_connection_reset() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "reset_peer", "attributes": {"timeout": 100}}),
    )
    .await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    s.write_all(b"hello").await.unwrap();
    let (data, err) = read_to_end(&mut s).await;
    let took = start.elapsed().as_millis();
    assert_eq!(data.len(), 0);
    let kind = err.map(|e| e.kind());
    assert_eq!(kind, Some(std::io::ErrorKind::ConnectionReset));
    assert!((95..=400).contains(&took), "reset after {took} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_exactly_its_bytes() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "src", source(100_000).await).await;
    add_toxic(
        srv.addr,
        "src",
        json!({"type": "limit_data", "attributes": {"bytes": 1000}}),
    )
    .await;
    let mut s = connect(addr).await;
    let (data, err) = read_to_end(&mut s).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data.len(), 1000);
    let expected: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
    assert_eq!(data, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_close_by_its_delay() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "src", source(10).await).await;
    add_toxic(
        srv.addr,
        "src",
        json!({"type": "slow_close", "attributes": {"delay": 300}}),
    )
    .await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    let (data, _) = read_to_end(&mut s).await;
    let took = start.elapsed().as_millis();
    assert_eq!(data.len(), 10);
    assert!((295..=450).contains(&took), "closed after {took} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_delivers_the_same_bytes_in_small_pieces() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "src", source(10_000).await).await;
    add_toxic(
        srv.addr,
        "src",
        json!({"type": "slicer", "attributes": {"average_size": 100, "size_variation": 50, "delay": 200}}),
    )
    .await;
    let mut s = connect(addr).await;
    let mut data = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 4096];
    for _ in 0..100_000 {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        data.extend_from_slice(&buf[..n]);
    }
    let expected: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
    assert_eq!(data, expected);
    // Pieces of 50–150 bytes with 200 µs between them: at least 10,000 / 150
    // reads, far more than the one or two an unsliced stream takes.
    assert!(reads >= 50, "only {reads} reads");
}

/// Writes `count` big-endian sequence numbers while toxics come and go on
/// both streams, and checks every number comes back once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_arrives_once_and_in_order_while_toxics_change() {
    const COUNT: u32 = 500_000;
    let srv = server(3).await;
    let api = srv.addr;
    let addr = proxy(api, "echo", echo().await).await;
    let s = connect(addr).await;
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut seq = 0u32;
        while seq < COUNT {
            let mut chunk = Vec::with_capacity(4 * 1000);
            for _ in 0..1000 {
                chunk.extend_from_slice(&seq.to_be_bytes());
                seq += 1;
            }
            w.write_all(&chunk).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        w
    });
    let reader = tokio::spawn(async move {
        let mut next = 0u32;
        let mut buf = [0u8; 4];
        let deadline = Instant::now() + Duration::from_secs(30);
        while next < COUNT {
            tokio::time::timeout_at(deadline, r.read_exact(&mut buf))
                .await
                .expect("stream stalled")
                .unwrap();
            assert_eq!(u32::from_be_bytes(buf), next, "out of order");
            next += 1;
        }
        next
    });
    let mut slowest = Duration::ZERO;
    let mut changes = 0;
    for i in 0..400 {
        let stream = if i % 2 == 0 { "upstream" } else { "downstream" };
        let kind = ["latency", "slicer", "noop", "bandwidth"][i % 4];
        let attrs = match kind {
            "latency" => json!({"latency": 2, "jitter": 1}),
            "slicer" => json!({"average_size": 512, "size_variation": 256, "delay": 10}),
            "bandwidth" => json!({"rate": 100_000}),
            _ => json!({}),
        };
        let start = Instant::now();
        add_toxic(
            api,
            "echo",
            json!({"name": "t", "type": kind, "stream": stream, "attributes": attrs}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let r = delete(api, "/proxies/echo/toxics/t").await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(r.status, 204);
        slowest = slowest.max(start.elapsed());
        changes += 1;
        if writer.is_finished() {
            break;
        }
    }
    let _w = tokio::time::timeout(WAIT, writer).await.unwrap().unwrap();
    let got = tokio::time::timeout(Duration::from_secs(40), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, COUNT);
    assert!(
        changes >= 20,
        "only {changes} toxic changes during the stream"
    );
    // The API never waits on traffic: add + 10 ms + delete stays quick.
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
}

/// Like the test above, but the numbers are written back to back in 64 KiB
/// writes, so every read of the direct mode fills its buffer and data is in
/// flight in both directions at each switch: going from direct forwarding
/// to toxics and back must not lose, repeat or reorder a byte either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_stream_arrives_intact_while_toxics_change() {
    const PER_WRITE: u32 = 16 * 1024; // 64 KiB
    const CHANGES: usize = 60;
    let srv = server(4).await;
    let api = srv.addr;
    let addr = proxy(api, "bulk", echo().await).await;
    let s = connect(addr).await;
    let (mut r, mut w) = s.into_split();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut seq = 0u32;
            let mut chunk = Vec::with_capacity(4 * PER_WRITE as usize);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                chunk.clear();
                for _ in 0..PER_WRITE {
                    chunk.extend_from_slice(&seq.to_be_bytes());
                    seq += 1;
                }
                w.write_all(&chunk).await.unwrap();
            }
            w.shutdown().await.unwrap();
            seq
        }
    });
    // Reads until the echo's EOF, checking every number on the way.
    let reader = tokio::spawn(async move {
        let mut next = 0u32;
        let mut buf = vec![0u8; 64 * 1024];
        let mut have = 0;
        loop {
            let n = tokio::time::timeout(WAIT, r.read(&mut buf[have..]))
                .await
                .expect("stream stalled")
                .unwrap();
            if n == 0 {
                assert_eq!(have, 0, "a partial number before EOF");
                return next;
            }
            have += n;
            let whole = have / 4 * 4;
            for word in buf[..whole].chunks_exact(4) {
                let got = u32::from_be_bytes(word.try_into().unwrap());
                assert_eq!(got, next, "out of order");
                next += 1;
            }
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
    });
    for i in 0..CHANGES {
        let stream = if i % 2 == 0 { "upstream" } else { "downstream" };
        let (kind, attrs) = match i % 3 {
            0 => ("latency", json!({"latency": 1})),
            1 => ("bandwidth", json!({"rate": 1_000_000})),
            _ => ("noop", json!({})),
        };
        // Long enough without toxics for the direct mode to move megabytes.
        tokio::time::sleep(Duration::from_millis(20)).await;
        add_toxic(
            api,
            "bulk",
            json!({"name": "t", "type": kind, "stream": stream, "attributes": attrs}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(delete(api, "/proxies/bulk/toxics/t").await.status, 204);
        assert!(!reader.is_finished(), "the stream ended early");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = tokio::time::timeout(WAIT, writer).await.unwrap().unwrap();
    let got = tokio::time::timeout(WAIT, reader).await.unwrap().unwrap();
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_is_drawn_per_connection_and_repeats_with_the_seed() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let srv = server(seed).await;
        let addr = proxy(srv.addr, "echo", echo().await).await;
        add_toxic(
            srv.addr,
            "echo",
            json!({"type": "latency", "toxicity": 0.5, "attributes": {"latency": 60}}),
        )
        .await;
        let mut out = Vec::new();
        for _ in 0..16 {
            let mut s = connect(addr).await;
            out.push(round_trip(&mut s, 1).await >= Duration::from_millis(55));
        }
        out
    }
    let a = pattern(42).await;
    let b = pattern(42).await;
    assert_eq!(a, b);
    let hits = a.iter().filter(|x| **x).count();
    assert!((2..=14).contains(&hits), "{hits} of 16 delayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_proxy_closes_its_open_connections_at_once() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    let mut s = connect(addr).await;
    round_trip(&mut s, 1).await;
    let start = Instant::now();
    let r = support::demo::post(srv.addr, "/proxies/echo", &json!({"enabled": false})).await;
    assert_eq!(r.status, 200);
    let (data, _) = read_to_end(&mut s).await;
    assert_eq!(data.len(), 0);
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_connection_within_the_grace() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    let mut conns = Vec::new();
    for _ in 0..20 {
        conns.push(connect(addr).await);
    }
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency", "attributes": {"latency": 60000}}),
    )
    .await;
    conns[0]
        .write_all(b"stuck behind a minute of latency")
        .await
        .unwrap();
    let start = Instant::now();
    assert!(srv.shutdown().await, "tasks outlived the grace");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    for mut c in conns {
        let (data, _) = read_to_end(&mut c).await;
        assert_eq!(data.len(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_applying_timeout_closes_the_connection_it_starved() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "timeout", "attributes": {"timeout": 0}}),
    )
    .await;
    let mut s = connect(addr).await;
    s.write_all(b"swallowed").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let r = delete(srv.addr, "/proxies/echo/toxics/timeout_downstream").await;
    assert_eq!(r.status, 204);
    let (data, _) = read_to_end(&mut s).await;
    assert_eq!(data.len(), 0, "the swallowed bytes never come back");
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_long_latency_releases_the_bytes_it_holds_at_once() {
    let srv = server(1).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency", "attributes": {"latency": 60000}}),
    )
    .await;
    let mut s = connect(addr).await;
    s.write_all(b"held back").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let r = delete(srv.addr, "/proxies/echo/toxics/latency_downstream").await;
    assert_eq!(r.status, 204);
    let mut buf = [0u8; 9];
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"held back");
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_spreads_latency_uniformly_within_its_bounds() {
    let srv = server(9).await;
    let addr = proxy(srv.addr, "echo", echo().await).await;
    add_toxic(
        srv.addr,
        "echo",
        json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 50, "jitter": 20}}),
    )
    .await;
    let mut s = connect(addr).await;
    let mut times = Vec::new();
    for _ in 0..12 {
        times.push(round_trip(&mut s, 1).await.as_millis());
    }
    // Draws are whole milliseconds in [30, 69]; allow scheduling slack above.
    assert!(times.iter().all(|t| (30..=75).contains(t)), "{times:?}");
    let spread = times.iter().max().unwrap() - times.iter().min().unwrap();
    assert!(spread >= 10, "{times:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_upstream_closes_the_accepted_client_with_eof() {
    let srv = server(1).await;
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = gone.local_addr().unwrap();
    drop(gone);
    let addr = proxy(srv.addr, "dead", dead).await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    let (data, err) = read_to_end(&mut s).await;
    assert_eq!(data.len(), 0);
    assert!(err.is_none(), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}
