//! Sending one encoded export to the collector: OTLP/HTTP (a protobuf
//! body POSTed with `Content-Type: application/x-protobuf`, TLS when the
//! endpoint is `https://`) or OTLP/gRPC (the service's `Export` method
//! over cleartext HTTP/2, with gRPC's length-prefixed framing and its
//! status in the trailers).
//!
//! Owns the wire protocol, connection reuse and the per-export deadline.
//! Failures are returned, never retried here: the next export carries
//! cumulative totals anyway, and the exporter counts what was lost. Must
//! not build messages or decide when to send.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::config::Protocol;

/// Why one export did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("cannot reach the collector: {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the collector answered HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status { status: u16, body: String },
    #[error("gRPC status {code}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Grpc { code: u32, message: String },
}

/// A connection to the collector, reused from export to export.
pub struct Client {
    protocol: Protocol,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    http: Option<reqwest::Client>,
    grpc: Option<hyper::client::conn::http2::SendRequest<Full<Bytes>>>,
}

/// Most of an error body kept for the warning.
const BODY_SHOWN: usize = 200;

impl Client {
    pub fn new(
        protocol: Protocol,
        headers: Vec<(HeaderName, HeaderValue)>,
        timeout: Duration,
    ) -> Self {
        Client {
            protocol,
            headers,
            timeout,
            http: None,
            grpc: None,
        }
    }

    /// Send `body` (an encoded export request) to `url`, within the
    /// export timeout.
    pub async fn send(&mut self, url: &url::Url, body: Vec<u8>) -> Result<(), ExportError> {
        let timeout = self.timeout;
        let sent = match self.protocol {
            Protocol::HttpProtobuf => tokio::time::timeout(timeout, self.post(url, body)).await,
            Protocol::Grpc => tokio::time::timeout(timeout, self.call(url, body)).await,
        };
        match sent {
            Ok(r) => r,
            Err(_) => {
                // Whatever was half-sent on it, the connection is suspect.
                self.grpc = None;
                Err(ExportError::Timeout(timeout))
            }
        }
    }

    async fn post(&mut self, url: &url::Url, body: Vec<u8>) -> Result<(), ExportError> {
        let client = match &self.http {
            Some(c) => c.clone(),
            None => {
                let c = reqwest::Client::builder()
                    .connect_timeout(self.timeout)
                    .user_agent(concat!("flashcrowd/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| ExportError::Connect(e.to_string()))?;
                self.http.insert(c).clone()
            }
        };
        let mut req = client
            .post(url.as_str())
            .header("content-type", "application/x-protobuf")
            .body(body);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_bytes());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ExportError::Connect(chain(&e)))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            // The body is an Export*ServiceResponse; read it so the
            // connection can be reused.
            let _ = resp.bytes().await;
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(ExportError::Status {
            status,
            body: shorten(&text),
        })
    }

    async fn call(&mut self, url: &url::Url, body: Vec<u8>) -> Result<(), ExportError> {
        let mut sender = match self.grpc.take() {
            Some(s) if !s.is_closed() => s,
            _ => connect_h2(url).await?,
        };
        // gRPC framing: not compressed, then the length, then the message.
        let len = u32::try_from(body.len()).map_err(|_| ExportError::Grpc {
            code: 8,
            message: "export larger than 4 GiB".into(),
        })?;
        let mut framed = Vec::with_capacity(body.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&body);
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(url.as_str())
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header(
                "user-agent",
                concat!("flashcrowd/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(framed)))
            .map_err(|e| ExportError::Connect(e.to_string()))?;
        sender
            .ready()
            .await
            .map_err(|e| ExportError::Connect(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ExportError::Connect(e.to_string()))?;
        let status = resp.status().as_u16();
        let header_status = grpc_status(resp.headers());
        let collected = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ExportError::Connect(e.to_string()))?;
        self.grpc = Some(sender);
        if status != 200 {
            return Err(ExportError::Status {
                status,
                body: String::new(),
            });
        }
        // A trailers-only answer carries its status in the headers.
        let (code, message) = collected
            .trailers()
            .and_then(grpc_status)
            .or(header_status)
            .unwrap_or((2, "no grpc-status in the answer".into()));
        if code == 0 {
            Ok(())
        } else {
            Err(ExportError::Grpc { code, message })
        }
    }
}

async fn connect_h2(
    url: &url::Url,
) -> Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>, ExportError> {
    let host = url.host_str().unwrap_or("localhost");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(4317);
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| ExportError::Connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| ExportError::Connect(e.to_string()))?;
    // Ends when the sender is dropped or the collector goes away.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn grpc_status(h: &http::HeaderMap) -> Option<(u32, String)> {
    let code = h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
    let message = h
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Some((code, message))
}

/// An error with its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    // Bounded: error chains are short, but never trust a cycle.
    for _ in 0..8 {
        let Some(s) = cur else {
            break;
        };
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

fn shorten(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(BODY_SHOWN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
