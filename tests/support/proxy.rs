//! Fixtures for the chaos proxy's tests: a proxy server, a loopback echo
//! server and a few bounded socket helpers, all on 127.0.0.1:0.
//!
//! Owns test plumbing only; assertions belong in the test files. Every wait
//! is bounded so a broken proxy fails a test instead of hanging it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use flashcrowd::proxy::{ProxyOptions, ProxyServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::demo::{self as common, Resp};

/// Upper bound for any single socket wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A proxy server with its API on a loopback ephemeral port.
pub async fn server(seed: u64) -> ProxyServer {
    server_with(ProxyOptions {
        listen: ([127, 0, 0, 1], 0).into(),
        seed,
        ..ProxyOptions::default()
    })
    .await
}

pub async fn server_with(opts: ProxyOptions) -> ProxyServer {
    ProxyServer::spawn(opts, CancellationToken::new())
        .await
        .unwrap()
}

/// An echo server: every byte read is written back, until EOF.
pub async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A server that sends `n` bytes (0, 1, 2, … mod 251) and closes.
pub async fn source(n: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                let _ = s.write_all(&data).await;
                let _ = s.shutdown().await;
                // Keep the socket until the reader is done, so the close is
                // a FIN after all the data.
                let mut sink = [0u8; 64];
                let _ = tokio::time::timeout(WAIT, s.read(&mut sink)).await;
            });
        }
    });
    addr
}

/// Creates proxy `name` → `upstream` on an ephemeral port; returns its
/// bound address.
pub async fn proxy(api: SocketAddr, name: &str, upstream: SocketAddr) -> SocketAddr {
    let r = common::post(
        api,
        "/proxies",
        &json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.raw);
    r.json["listen"].as_str().unwrap().parse().unwrap()
}

pub async fn add_toxic(api: SocketAddr, proxy: &str, toxic: Value) -> Resp {
    let r = common::post(api, &format!("/proxies/{proxy}/toxics"), &toxic).await;
    assert_eq!(r.status, 200, "{:?}", r.raw);
    r
}

pub async fn delete(api: SocketAddr, path: &str) -> Resp {
    common::request(api, http::Method::DELETE, path, &[], None).await
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    let s = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until EOF or error (bounded by [`WAIT`]); returns the bytes and
/// the error that ended the read, if any.
pub async fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, Option<std::io::Error>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => panic!("read did not end within {WAIT:?}"),
            Ok(Ok(0)) => return (out, None),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (out, Some(e)),
        }
    }
}
