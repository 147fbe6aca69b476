//! HTTP/1.1 execution of one step on one keep-alive connection.
//!
//! Owns rendering a step into request bytes, sending it under the step's
//! deadline on the session's own connection ([`H1Conn`], no pool, no lock,
//! no task switch), and judging the response against the step's checks.
//! Must not record metrics or know about the schedule.

use std::io;
use std::net::SocketAddr;

use http::{HeaderValue, Method};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::h1::{H1Conn, H1Error};
use super::trace::{Ids, Tracer};
use crate::metrics::Outcome;
use crate::scenario::template::RenderCtx;
use crate::scenario::{Body, Request};

/// A keep-alive connection to the target.
pub(crate) type Conn = H1Conn;

/// Where requests go, resolved once per run.
#[derive(Debug, Clone)]
pub(crate) struct HttpTarget {
    pub addr: SocketAddr,
    /// Value of the `Host` header.
    pub host: String,
    /// Path prefix of the target URL without a trailing slash ("" or "/shop").
    pub base_path: String,
    /// Set for `https://` targets.
    pub tls: Option<super::tls::TlsTarget>,
}

/// Buffers a session reuses from request to request.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The serialised request.
    request: Vec<u8>,
    /// Rendered template text.
    text: String,
    /// A rendered JSON body.
    json: Vec<u8>,
    /// The response body, when checks or captures need it.
    body: Vec<u8>,
    /// Where the trace context header lines sit in `request`, if any.
    trace: Option<(usize, usize)>,
}

/// What a step keeps of a response for captures.
#[derive(Debug)]
pub(crate) struct Response {
    /// Lower-case names and raw values.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

const DEFAULT_USER_AGENT: &str = concat!("flashcrowd/", env!("CARGO_PKG_VERSION"));

/// Render `step` into the scratch request. `Err` carries why nothing can
/// be sent: a variable no earlier step captured, or invalid HTTP.
pub(crate) fn render(
    step: &Request,
    target: &HttpTarget,
    ctx: &mut RenderCtx<'_>,
    scratch: &mut Scratch,
) -> Result<(), Outcome> {
    let built = build_request(step, target, ctx, scratch);
    if ctx.unresolved > 0 {
        return Err(Outcome::Unresolved);
    }
    if !built {
        return Err(Outcome::Invalid);
    }
    Ok(())
}

/// Send the request last rendered into `scratch`. `conn` is reused when it
/// can carry another request and replaced when it cannot; it is left
/// `None` after a failure so the next step reconnects. With `keep`, an
/// accepted response's headers and body come back too (for captures).
pub(crate) async fn exchange(
    step: &Request,
    timeout: std::time::Duration,
    target: &HttpTarget,
    conn: &mut Option<Conn>,
    scratch: &mut Scratch,
    abort: &CancellationToken,
    keep: bool,
) -> (Outcome, Option<Response>) {
    let deadline = Instant::now() + timeout;
    let exchange = send(step, target, conn, scratch, keep);
    let r = tokio::select! {
        biased;
        r = tokio::time::timeout_at(deadline, exchange) => match r {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        },
        _ = abort.cancelled() => Err(Failure::Aborted),
    };
    match r {
        Ok(done) => done,
        Err(f) => {
            *conn = None;
            let outcome = match f {
                Failure::Connect => Outcome::Connect,
                Failure::Io => Outcome::Io,
                Failure::Timeout => Outcome::Timeout,
                Failure::Aborted => Outcome::Aborted,
            };
            (outcome, None)
        }
    }
}

impl Scratch {
    /// The value of header `name` in the request last rendered.
    pub fn request_header(&self, name: &http::HeaderName) -> Option<&str> {
        let head_end = memchr::memmem::find(&self.request, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&self.request[..head_end]).ok()?;
        head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name.as_str()).then(|| v.trim())
        })
    }

    /// The JSON body last rendered (empty if the step sends none).
    pub fn json_body(&self) -> &[u8] {
        &self.json
    }

    /// Give the request last rendered the trace context of `ids` (for
    /// step key `key`), replacing an earlier attempt's, or take it out.
    /// A request that never had any is left alone: nothing to do for an
    /// attempt that is not sampled.
    pub fn set_trace(&mut self, tracer: &Tracer, ids: Option<&Ids>, key: usize) {
        if let Some((from, to)) = self.trace.take() {
            self.request.drain(from..to);
        }
        let Some(ids) = ids else {
            return;
        };
        let Some(head_end) = memchr::memmem::find(&self.request, b"\r\n\r\n") else {
            return;
        };
        // Just before the blank line that ends the head: appended, then
        // rotated into place, so the buffer's capacity is reused.
        let at = head_end + 2;
        let before = self.request.len();
        tracer.write_headers(ids, key, &mut self.request);
        let len = self.request.len() - before;
        self.request[at..].rotate_right(len);
        self.trace = Some((at, at + len));
    }
}

enum Failure {
    Connect,
    Io,
    Timeout,
    Aborted,
}

/// Serialise the step into `s.request`; false if the rendered request is
/// not valid HTTP (a space in the path, a line break in a header, ...).
fn build_request(
    step: &Request,
    target: &HttpTarget,
    ctx: &mut RenderCtx<'_>,
    s: &mut Scratch,
) -> bool {
    let r = &mut s.request;
    r.clear();
    s.trace = None;
    r.extend_from_slice(step.method.as_str().as_bytes());
    r.push(b' ');
    let path_start = r.len();
    r.extend_from_slice(target.base_path.as_bytes());
    s.text.clear();
    step.path.render(ctx, &mut s.text);
    r.extend_from_slice(s.text.as_bytes());
    if !r[path_start..].iter().all(|b| (0x21..0x7f).contains(b)) || r.len() == path_start {
        return false;
    }
    r.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    r.extend_from_slice(target.host.as_bytes());
    r.extend_from_slice(b"\r\n");
    let (mut user_agent, mut content_type) = (false, false);
    for (name, tmpl) in &step.headers {
        // The body's length is flashcrowd's to state; a scenario's own
        // value could only be wrong.
        if name == http::header::CONTENT_LENGTH || name == http::header::HOST {
            continue;
        }
        user_agent |= name == http::header::USER_AGENT;
        content_type |= name == http::header::CONTENT_TYPE;
        s.text.clear();
        tmpl.render(ctx, &mut s.text);
        if !header_value_ok(s.text.as_bytes()) {
            return false;
        }
        r.extend_from_slice(name.as_str().as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(s.text.as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    if !user_agent {
        r.extend_from_slice(b"user-agent: ");
        r.extend_from_slice(DEFAULT_USER_AGENT.as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    let body: &[u8] = match &step.body {
        None => &[],
        Some(Body::Json(t)) => {
            if !content_type {
                r.extend_from_slice(b"content-type: application/json\r\n");
            }
            s.json.clear();
            t.render(ctx, &mut s.json);
            &s.json
        }
        Some(Body::Text(t)) => {
            s.text.clear();
            t.render(ctx, &mut s.text);
            s.text.as_bytes()
        }
    };
    let says_length =
        !body.is_empty() || matches!(step.method, Method::POST | Method::PUT | Method::PATCH);
    if says_length {
        r.extend_from_slice(b"content-length: ");
        r.extend_from_slice(itoa(body.len(), &mut [0u8; 20]));
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    true
}

/// Whether `v` may stand as a header value (RFC 9110 field-value: visible
/// characters, spaces and tabs, no line breaks). Checked in place: building
/// an `http::HeaderValue` per request would copy it.
fn header_value_ok(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Decimal digits of `n` without allocating.
fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

async fn send(
    step: &Request,
    target: &HttpTarget,
    conn: &mut Option<Conn>,
    s: &mut Scratch,
    keep: bool,
) -> Result<(Outcome, Option<Response>), Failure> {
    let checks = !step.expect.json.is_empty();
    let want_body = checks || keep;
    let head_request = step.method == Method::HEAD;
    s.body.clear();
    // A kept-alive connection the server closed while idle is not the
    // target failing this request: on a reused connection that breaks
    // before any response, reconnect once, silently.
    let mut reused = match conn {
        Some(c) if c.reusable() => true,
        _ => {
            *conn = None;
            false
        }
    };
    let head = loop {
        let c = match conn {
            Some(c) => c,
            None => conn.insert(
                H1Conn::connect_to(target.addr, target.tls.as_ref())
                    .await
                    .map_err(|_| Failure::Connect)?,
            ),
        };
        match c
            .exchange(&s.request, head_request, want_body, &mut s.body)
            .await
        {
            Ok(head) => break head,
            Err(H1Error::Io) if reused && s.body.is_empty() => {
                *conn = None;
                reused = false;
            }
            Err(_) => return Err(Failure::Io),
        }
    };
    if conn.as_ref().is_some_and(|c| !c.reusable()) {
        *conn = None;
    }
    let status = head.status;
    if !step.expect.status_ok(status) {
        return Ok((Outcome::BadStatus { status }, None));
    }
    if checks {
        let holds = serde_json::from_slice::<serde_json::Value>(&s.body)
            .map(|v| step.expect.json.iter().all(|c| c.holds(&v)))
            .unwrap_or(false);
        if !holds {
            return Ok((Outcome::CheckFailed { status }, None));
        }
    }
    let kept = keep.then(|| Response {
        headers: head.headers,
        body: std::mem::take(&mut s.body),
    });
    Ok((Outcome::Ok { status }, kept))
}

/// Resolve a base URL to the address and headers requests need (and, for
/// `https://`, the TLS client under `tls`).
pub(crate) async fn resolve(
    url: &url::Url,
    tls: &super::tls::TlsOptions,
) -> io::Result<HttpTarget> {
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
    if HeaderValue::from_str(&authority).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "target host is not a valid header",
        ));
    }
    let tls = match url.scheme() {
        "https" => Some(
            super::tls::TlsTarget::new(host, tls)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
        ),
        _ => None,
    };
    Ok(HttpTarget {
        addr,
        host: authority,
        base_path: url.path().trim_end_matches('/').to_owned(),
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_judged_exactly_as_the_http_crate_does() {
        for b in 0..=255u8 {
            let v = [b'a', b, b'z'];
            assert_eq!(
                header_value_ok(&v),
                HeaderValue::from_bytes(&v).is_ok(),
                "byte {b:#04x}"
            );
        }
    }

    #[test]
    fn lengths_are_written_in_decimal() {
        let mut buf = [0u8; 20];
        assert_eq!(itoa(0, &mut buf), b"0");
        assert_eq!(itoa(1234, &mut buf), b"1234");
        assert_eq!(
            itoa(usize::MAX, &mut buf),
            usize::MAX.to_string().as_bytes()
        );
    }
}
