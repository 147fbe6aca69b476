//! Fixtures for the demo platform's integration tests: start a server on a
//! loopback port and talk HTTP/1.1 to it with a minimal client.
//!
//! Owns test plumbing only; assertions belong in the test files. Every
//! request is bounded by a timeout so a broken server fails a test instead
//! of hanging it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use flashcrowd::demo::{DemoConfig, DemoServer};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Upper bound for any single request in these tests.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a demo platform on `127.0.0.1:0`.
pub async fn spawn(cfg: DemoConfig) -> DemoServer {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    DemoServer::spawn(listen, cfg, CancellationToken::new())
        .await
        .unwrap()
}

/// A response with its body parsed as JSON (Null when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub json: Value,
}

impl Resp {
    /// The `error` code of a JSON error body.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Resp {
    tokio::time::timeout(REQUEST_TIMEOUT, send(addr, method, path, headers, body))
        .await
        .unwrap_or_else(|_| panic!("request to {path} timed out"))
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Resp {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        raw,
        json,
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, Method::GET, path, &[], None).await
}

pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    request(
        addr,
        Method::POST,
        path,
        &[],
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// `POST /api/checkout`, with an `Idempotency-Key` when given.
pub async fn checkout(addr: SocketAddr, body: &Value, key: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    request(
        addr,
        Method::POST,
        "/api/checkout",
        &headers,
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// Every order (optionally of one SKU), following `next_after` with a
/// bounded number of pages.
pub async fn all_orders(addr: SocketAddr, sku: Option<&str>, page: usize) -> Vec<Value> {
    let mut orders = Vec::new();
    let mut after = String::new();
    for _ in 0..10_000 {
        let mut path = format!("/api/orders?limit={page}&after={after}");
        if let Some(sku) = sku {
            path.push_str(&format!("&sku={sku}"));
        }
        let resp = get(addr, &path).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.json);
        orders.extend(resp.json["orders"].as_array().unwrap().iter().cloned());
        match resp.json["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return orders,
        }
    }
    panic!("order listing did not terminate");
}
