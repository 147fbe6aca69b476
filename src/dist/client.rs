//! The worker's side of the transport: one JSON request per call over a
//! fresh HTTP/1.1 connection to the coordinator, with a deadline.
//!
//! Owns framing requests and reading answers. Must not retry or interpret
//! the messages (the worker decides what a failure means).

use std::net::SocketAddr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::proto::Refusal;
use super::DistError;
use crate::engine::h1::H1Conn;

/// `POST path` with a JSON body; the decoded JSON answer. A non-2xx answer
/// is a refusal carrying the coordinator's message.
pub async fn post<B: Serialize, A: DeserializeOwned>(
    addr: SocketAddr,
    path: &str,
    body: &B,
    timeout: Duration,
) -> Result<A, DistError> {
    let json = serde_json::to_vec(body).map_err(|e| DistError::Transport(e.to_string()))?;
    call(addr, "POST", path, &json, timeout).await
}

/// `GET path`; the decoded JSON answer.
pub async fn get<A: DeserializeOwned>(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<A, DistError> {
    call(addr, "GET", path, &[], timeout).await
}

async fn call<A: DeserializeOwned>(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<A, DistError> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let exchange = async {
        let mut conn = H1Conn::connect(addr)
            .await
            .map_err(|e| DistError::Transport(format!("{addr}: {e}")))?;
        let mut answer = Vec::new();
        let head = conn
            .exchange(&request, false, true, &mut answer)
            .await
            .map_err(|e| DistError::Transport(format!("{addr}: {e:?}")))?;
        Ok::<_, DistError>((head.status, answer))
    };
    let (status, answer) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| DistError::Transport(format!("{addr}: no answer within {timeout:?}")))??;
    if !(200..300).contains(&status) {
        let why = serde_json::from_slice::<Refusal>(&answer)
            .map(|r| r.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&answer).into_owned());
        return Err(DistError::Refused(status, why));
    }
    serde_json::from_slice(&answer).map_err(|e| DistError::Transport(format!("bad answer: {e}")))
}
