//! HTTP/1.1 execution of one step on one keep-alive connection.
//!
//! Owns connecting, rendering a step into a request, sending it under the
//! step's deadline, reading the whole response and judging it against the
//! step's checks. Hand-written on hyper's connection API rather than a pooled
//! client: each in-flight iteration owns its connection outright, so there is
//! no shared pool and no lock on the hot path.
//! Must not record metrics or know about the schedule.

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Outcome;
use crate::scenario::template::RenderCtx;
use crate::scenario::{Body, Step};

/// A keep-alive connection to the target.
pub(crate) type Conn = SendRequest<Full<Bytes>>;

/// Where requests go, resolved once per run.
#[derive(Debug, Clone)]
pub(crate) struct HttpTarget {
    pub addr: SocketAddr,
    /// Value of the `Host` header.
    pub host: HeaderValue,
    /// Path prefix of the target URL without a trailing slash ("" or "/shop").
    pub base_path: String,
}

/// Buffers an iteration reuses from request to request.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    uri: String,
    value: String,
    body: Vec<u8>,
}

/// What the iteration's connection tasks are tied to.
#[derive(Clone)]
pub(crate) struct ConnTasks {
    pub tracker: TaskTracker,
    /// Cancelled when the run is over, so no driver outlives it.
    pub cancel: CancellationToken,
}

enum Failure {
    Connect,
    Io,
}

/// What a step keeps of a response for captures.
#[derive(Debug)]
pub(crate) struct Response {
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

const DEFAULT_USER_AGENT: &str = concat!("flashcrowd/", env!("CARGO_PKG_VERSION"));

/// Run one step. `conn` is reused when it is still open and replaced when
/// it is not; it is left `None` after a failure so the next step reconnects.
/// With `keep`, an accepted response's headers and body come back too (for
/// captures).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    step: &Step,
    target: &HttpTarget,
    conn: &mut Option<Conn>,
    tasks: &ConnTasks,
    ctx: &mut RenderCtx<'_>,
    scratch: &mut Scratch,
    abort: &CancellationToken,
    keep: bool,
) -> (Outcome, Option<Response>) {
    let req = build_request(step, target, ctx, scratch);
    if ctx.unresolved > 0 {
        return (Outcome::Unresolved, None);
    }
    let Some(req) = req else {
        return (Outcome::Invalid, None);
    };
    let deadline = Instant::now() + step.timeout;
    let exchange = send(step, target, conn, tasks, req, keep);
    let failed = |conn: &mut Option<Conn>, o| {
        *conn = None;
        (o, None)
    };
    tokio::select! {
        biased;
        r = tokio::time::timeout_at(deadline, exchange) => match r {
            Ok(Ok(done)) => done,
            Ok(Err(Failure::Connect)) => failed(conn, Outcome::Connect),
            Ok(Err(Failure::Io)) => failed(conn, Outcome::Io),
            Err(_) => failed(conn, Outcome::Timeout),
        },
        _ = abort.cancelled() => failed(conn, Outcome::Aborted),
    }
}

fn build_request(
    step: &Step,
    target: &HttpTarget,
    ctx: &mut RenderCtx<'_>,
    s: &mut Scratch,
) -> Option<Request<Full<Bytes>>> {
    s.uri.clear();
    s.uri.push_str(&target.base_path);
    step.path.render(ctx, &mut s.uri);
    let uri = Uri::try_from(s.uri.as_str()).ok()?;
    let mut builder = Request::builder()
        .method(step.method.clone())
        .uri(uri)
        .header(HOST, target.host.clone())
        .header(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
    let headers = builder.headers_mut()?;
    for (name, tmpl) in &step.headers {
        s.value.clear();
        tmpl.render(ctx, &mut s.value);
        let value = HeaderValue::from_str(&s.value).ok()?;
        // The scenario's own value replaces a default such as User-Agent.
        headers.insert(name.clone(), value);
    }
    let body = match &step.body {
        None => Bytes::new(),
        Some(Body::Json(t)) => {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            s.body.clear();
            t.render(ctx, &mut s.body);
            Bytes::copy_from_slice(&s.body)
        }
        Some(Body::Text(t)) => {
            s.value.clear();
            t.render(ctx, &mut s.value);
            Bytes::copy_from_slice(s.value.as_bytes())
        }
    };
    builder.body(Full::new(body)).ok()
}

async fn send(
    step: &Step,
    target: &HttpTarget,
    conn: &mut Option<Conn>,
    tasks: &ConnTasks,
    req: Request<Full<Bytes>>,
    keep: bool,
) -> Result<(Outcome, Option<Response>), Failure> {
    // A reused connection the server closed while idle is not the target
    // failing this request: reconnect once, silently.
    let reused = matches!(conn, Some(c) if !c.is_closed());
    if reused {
        if let Some(c) = conn.as_mut() {
            if c.ready().await.is_err() {
                *conn = None;
            }
        }
    }
    let sender = match conn {
        Some(c) => c,
        None => {
            let fresh = connect(target.addr, tasks).await?;
            conn.insert(fresh)
        }
    };
    sender.ready().await.map_err(|_| Failure::Io)?;
    let resp = sender.send_request(req).await.map_err(|_| Failure::Io)?;
    let status = resp.status().as_u16();
    let (parts, mut body) = resp.into_parts();
    let status_ok = step.expect.status_ok(status);
    let checks = !step.expect.json.is_empty();
    if status_ok && (checks || keep) {
        let bytes = body.collect().await.map_err(|_| Failure::Io)?.to_bytes();
        let checks_hold = !checks
            || serde_json::from_slice::<serde_json::Value>(&bytes)
                .map(|v| step.expect.json.iter().all(|c| c.holds(&v)))
                .unwrap_or(false);
        if !checks_hold {
            return Ok((Outcome::CheckFailed { status }, None));
        }
        let kept = keep.then(|| Response {
            headers: parts.headers,
            body: bytes,
        });
        return Ok((Outcome::Ok { status }, kept));
    }
    // Read the body to the end so the connection can carry the next request.
    while let Some(frame) = body.frame().await {
        frame.map_err(|_| Failure::Io)?;
    }
    Ok(if status_ok {
        (Outcome::Ok { status }, None)
    } else {
        (Outcome::BadStatus { status }, None)
    })
}

async fn connect(addr: SocketAddr, tasks: &ConnTasks) -> Result<Conn, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| Failure::Connect)?;
    // Requests are small and latency-bound: never wait for Nagle.
    stream.set_nodelay(true).map_err(|_| Failure::Connect)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Failure::Connect)?;
    let cancel = tasks.cancel.clone();
    tasks.tracker.spawn(async move {
        tokio::select! {
            _ = connection => {}
            _ = cancel.cancelled() => {}
        }
    });
    Ok(sender)
}

/// Resolve a base URL to the address and headers requests need.
pub(crate) async fn resolve(url: &url::Url) -> io::Result<HttpTarget> {
    let host = url
        .host_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "target URL has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = match url.host() {
        Some(url::Host::Ipv4(ip)) => SocketAddr::from((ip, port)),
        Some(url::Host::Ipv6(ip)) => SocketAddr::from((ip, port)),
        _ => tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "target host resolved to nothing")
            })?,
    };
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let host = HeaderValue::from_str(&authority).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "target host is not a valid header",
        )
    })?;
    Ok(HttpTarget {
        addr,
        host,
        base_path: url.path().trim_end_matches('/').to_owned(),
    })
}
