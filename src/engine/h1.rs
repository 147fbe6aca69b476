//! A lean HTTP/1.1 client connection for the engine's hot path.
//!
//! Owns writing a request that is already serialised into bytes and reading
//! one response (`httparse` for the head; Content-Length, chunked or
//! read-to-close bodies), on a socket the caller owns outright. Nothing is
//! spawned and nothing is shared: one request costs one write, the reads it
//! needs and no task switch, and buffers are reused from request to request.
//! Must not know about steps, templates or metrics.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls::{TlsTarget, Transport};

/// Most header bytes accepted in one response.
const MAX_HEAD: usize = 64 * 1024;
/// Read buffer of a new connection. Small, because a viewer holds its
/// connection for minutes and most responses fit; it grows for larger heads
/// and bodies stream through it.
const INITIAL_BUFFER: usize = 4 * 1024;
/// Most headers accepted in one response.
const MAX_HEADERS: usize = 96;
/// Most body bytes kept for checks and captures (the rest of a longer body
/// is read and dropped, and the response counts as broken).
const MAX_KEPT_BODY: usize = 16 * 1024 * 1024;

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum H1Error {
    /// The socket failed or closed early.
    Io,
    /// The response was not valid HTTP/1.1 (or exceeded a limit).
    Protocol,
}

impl From<io::Error> for H1Error {
    fn from(_: io::Error) -> Self {
        H1Error::Io
    }
}

/// What one response said. Headers are kept only when asked for.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub status: u16,
    /// Lower-case names and raw values, when `keep` was set.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// One keep-alive connection.
pub(crate) struct H1Conn {
    stream: Transport,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    reusable: bool,
}

impl H1Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<H1Conn> {
        Self::connect_to(addr, None).await
    }

    /// Connect to `addr`, with TLS when `tls` is given.
    pub async fn connect_to(addr: SocketAddr, tls: Option<&TlsTarget>) -> io::Result<H1Conn> {
        let tcp = TcpStream::connect(addr).await?;
        // Requests are small and latency-bound: never wait for Nagle.
        tcp.set_nodelay(true)?;
        let stream = match tls {
            None => Transport::Plain(tcp),
            Some(t) => t.wrap(tcp).await?,
        };
        Ok(H1Conn {
            stream,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
            reusable: true,
        })
    }

    /// Whether the connection can carry another request.
    pub fn reusable(&self) -> bool {
        self.reusable
    }

    /// Send `request` (a whole serialised request) and read the response.
    /// The body is appended to `body` when `keep` is set, else dropped.
    /// `head_request` says the request was HEAD (no body follows).
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head_request: bool,
        keep: bool,
        body: &mut Vec<u8>,
    ) -> Result<Head, H1Error> {
        self.stream.write_all(request).await?;
        loop {
            let (head, framing) = self.read_head(keep).await?;
            // Interim responses (100 Continue) come before the real one.
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            let framing = if head_request || head.status == 204 || head.status == 304 {
                Framing::Length(0)
            } else {
                framing
            };
            if matches!(framing, Framing::UntilClose) {
                self.reusable = false;
            }
            self.read_body(framing, keep, body).await?;
            return Ok(head);
        }
    }

    async fn fill(&mut self) -> Result<usize, H1Error> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // Only an unfinished head or chunk line grows the buffer, and
                // both give up past MAX_HEAD, so this stays bounded.
                let grown = (self.buf.len() * 2).min(2 * MAX_HEAD);
                self.buf.resize(grown, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn read_head(&mut self, keep: bool) -> Result<(Head, Framing), H1Error> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.ok_or(H1Error::Protocol)?;
                    let mut framing = Framing::UntilClose;
                    let mut close = resp.version == Some(0);
                    let mut head = Head {
                        status,
                        headers: Vec::new(),
                    };
                    for h in resp.headers.iter() {
                        let name = h.name;
                        if name.eq_ignore_ascii_case("content-length") {
                            let n = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<u64>().ok())
                                .ok_or(H1Error::Protocol)?;
                            if !matches!(framing, Framing::Chunked) {
                                framing = Framing::Length(n);
                            }
                        } else if name.eq_ignore_ascii_case("transfer-encoding") {
                            if contains_token(h.value, b"chunked") {
                                framing = Framing::Chunked;
                            }
                        } else if name.eq_ignore_ascii_case("connection") {
                            if contains_token(h.value, b"close") {
                                close = true;
                            } else if contains_token(h.value, b"keep-alive") {
                                close = false;
                            }
                        }
                        if keep {
                            head.headers
                                .push((name.to_ascii_lowercase(), h.value.to_vec()));
                        }
                    }
                    if close {
                        self.reusable = false;
                    }
                    self.start += len;
                    return Ok((head, framing));
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start >= MAX_HEAD {
                        return Err(H1Error::Protocol);
                    }
                    if self.fill().await? == 0 {
                        return Err(H1Error::Io);
                    }
                }
                Err(_) => return Err(H1Error::Protocol),
            }
        }
    }

    /// Take up to `want` buffered bytes into the body (or drop them).
    fn take(&mut self, want: u64, keep: bool, body: &mut Vec<u8>) -> Result<u64, H1Error> {
        let avail = (self.end - self.start) as u64;
        let n = avail.min(want) as usize;
        if keep {
            if body.len() + n > MAX_KEPT_BODY {
                return Err(H1Error::Protocol);
            }
            body.extend_from_slice(&self.buf[self.start..self.start + n]);
        }
        self.start += n;
        Ok(n as u64)
    }

    async fn read_body(
        &mut self,
        framing: Framing,
        keep: bool,
        body: &mut Vec<u8>,
    ) -> Result<(), H1Error> {
        match framing {
            Framing::Length(mut left) => {
                while left > 0 {
                    if self.start == self.end && self.fill().await? == 0 {
                        return Err(H1Error::Io);
                    }
                    left -= self.take(left, keep, body)?;
                }
            }
            Framing::UntilClose => loop {
                self.take(u64::MAX, keep, body)?;
                if self.fill().await? == 0 {
                    break;
                }
            },
            Framing::Chunked => loop {
                let size = self.chunk_size_line().await?;
                if size == 0 {
                    // Trailers, if any, end with an empty line.
                    loop {
                        let line = self.line().await?;
                        if line == 0 {
                            return Ok(());
                        }
                    }
                }
                let mut left = size;
                while left > 0 {
                    if self.start == self.end && self.fill().await? == 0 {
                        return Err(H1Error::Io);
                    }
                    left -= self.take(left, keep, body)?;
                }
                if self.line().await? != 0 {
                    return Err(H1Error::Protocol);
                }
            },
        }
        Ok(())
    }

    /// Consume one CRLF-terminated line; returns its length without CRLF.
    async fn line(&mut self) -> Result<usize, H1Error> {
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(i) = window.windows(2).position(|w| w == b"\r\n") {
                self.start += i + 2;
                return Ok(i);
            }
            if window.len() > MAX_HEAD {
                return Err(H1Error::Protocol);
            }
            if self.fill().await? == 0 {
                return Err(H1Error::Io);
            }
        }
    }

    async fn chunk_size_line(&mut self) -> Result<u64, H1Error> {
        let len = self.line().await?;
        // `line` may have moved the buffer; the line is the `len` bytes
        // before the CRLF it just consumed.
        let end = self.start - 2;
        let line = &self.buf[end - len..end];
        let digits = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let text = std::str::from_utf8(digits).map_err(|_| H1Error::Protocol)?;
        u64::from_str_radix(text, 16).map_err(|_| H1Error::Protocol)
    }
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request with the next canned response,
    /// written in small pieces to exercise partial reads.
    async fn canned(responses: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            for r in responses {
                let _ = sock.read(&mut buf).await.unwrap();
                for piece in r.chunks(7) {
                    sock.write_all(piece).await.unwrap();
                    sock.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

    #[tokio::test]
    async fn content_length_chunked_and_interim_responses_on_one_connection() {
        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Id: 7\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 409 Conflict\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno",
        ])
        .await;
        let mut c = H1Conn::connect(addr).await.unwrap();
        let mut body = Vec::new();
        let h = c.exchange(GET, false, true, &mut body).await.unwrap();
        assert_eq!((h.status, body.as_slice()), (200, &b"hello"[..]));
        assert!(h.headers.contains(&("x-id".to_owned(), b"7".to_vec())));
        body.clear();
        let h = c.exchange(GET, false, true, &mut body).await.unwrap();
        assert_eq!((h.status, body.as_slice()), (201, &b"wikipedia"[..]));
        body.clear();
        let h = c.exchange(GET, false, false, &mut body).await.unwrap();
        assert_eq!(h.status, 204);
        assert!(c.reusable());
        let h = c.exchange(GET, false, false, &mut body).await.unwrap();
        assert_eq!(h.status, 409);
        assert!(body.is_empty(), "dropped unless kept");
        assert!(!c.reusable());
    }

    #[tokio::test]
    async fn a_body_without_length_runs_to_the_close() {
        let addr = canned(vec![b"HTTP/1.0 200 OK\r\n\r\nall of it"]).await;
        let mut c = H1Conn::connect(addr).await.unwrap();
        let mut body = Vec::new();
        let h = c.exchange(GET, false, true, &mut body).await.unwrap();
        assert_eq!((h.status, body.as_slice()), (200, &b"all of it"[..]));
        assert!(!c.reusable());
    }

    #[tokio::test]
    async fn garbage_and_early_close_are_errors_not_panics() {
        let addr = canned(vec![b"NOT HTTP AT ALL\r\n\r\n"]).await;
        let mut c = H1Conn::connect(addr).await.unwrap();
        let mut body = Vec::new();
        assert!(matches!(
            c.exchange(GET, false, false, &mut body).await,
            Err(H1Error::Protocol)
        ));

        let addr = canned(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
        let mut c = H1Conn::connect(addr).await.unwrap();
        assert!(matches!(
            c.exchange(GET, false, false, &mut body).await,
            Err(H1Error::Io)
        ));

        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ])
        .await;
        let mut c = H1Conn::connect(addr).await.unwrap();
        assert!(matches!(
            c.exchange(GET, false, false, &mut body).await,
            Err(H1Error::Protocol)
        ));
    }

    #[tokio::test]
    async fn a_head_request_reads_no_body_despite_its_length() {
        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ])
        .await;
        let mut c = H1Conn::connect(addr).await.unwrap();
        let mut body = Vec::new();
        assert_eq!(
            c.exchange(GET, true, false, &mut body)
                .await
                .unwrap()
                .status,
            200
        );
        let h = c.exchange(GET, false, true, &mut body).await.unwrap();
        assert_eq!((h.status, body.as_slice()), (200, &b"ok"[..]));
    }
}
