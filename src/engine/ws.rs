//! The session's WebSocket: connecting (TCP and handshake under the step's
//! deadline), sending, reading every message that arrives while the session
//! does something else, reconnecting by policy, and leaving its room.
//!
//! Owns the socket's life and what it records as it goes: deliveries of
//! tracked messages, reconnects and how sockets closed, into the lane's
//! [`LiveSink`]. Must not interpret the flow's program or render templates.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderName, HeaderValue};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::fanout::{Arrival, Finder, Marker, Room};
use super::http::HttpTarget;
use super::lane::micros;
use super::tls::{TlsTarget, Transport};
use crate::metrics::{Outcome, Recorder};
use crate::scenario::Reconnect;

/// Largest message a socket accepts; a bigger one breaks the socket.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Initial read buffer of a socket. Small on purpose: an idle viewer should
/// cost a few KiB, and the buffer grows for the rare large message.
const READ_BUFFER: usize = 1024;
/// How long leaving waits for the server's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How long a leaving socket keeps listening after it stops counting new
/// messages and before it sends its close frame. A message another viewer
/// numbered just before this one left may still be on its way *to the
/// platform*; closing at once would let the platform see our close first
/// and rightly skip us, and the message would count as missing though
/// nothing was lost. Ample for loopback (the message is microseconds
/// away); a region whose one-way latency exceeds it can still see such a
/// message counted as missing.
pub(crate) const LEAVE_SETTLE: Duration = Duration::from_millis(250);
/// Retry period of the `immediate` policy after a failed reconnect, so a
/// refused connection does not become a busy loop.
const IMMEDIATE_RETRY: Duration = Duration::from_secs(1);

type Stream = WebSocketStream<Transport>;

/// WebSocket measurements of a lane's live sockets, written as messages
/// arrive rather than when the session ends (a viewer may hold its socket
/// for the whole rehearsal).
///
/// Behind a mutex only because sessions are futures inside their lane's
/// task: every lock is taken by that one task, so it is never contended
/// and costs an uncontended atomic exchange.
#[derive(Debug)]
pub(crate) struct LiveSink(Mutex<Recorder>);

impl LiveSink {
    pub fn new(keys: usize, phases: usize) -> Self {
        LiveSink(Mutex::new(Recorder::new(keys, phases)))
    }

    pub fn lock(&self) -> MutexGuard<'_, Recorder> {
        match self.0.lock() {
            Ok(g) => g,
            // Counters stay meaningful even if a holder panicked.
            Err(p) => p.into_inner(),
        }
    }

    pub fn into_inner(self) -> Recorder {
        match self.0.into_inner() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        }
    }
}

/// What to connect to, rendered once so reconnects reuse it.
#[derive(Debug, Clone)]
pub(crate) struct Dial {
    pub url: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub addr: SocketAddr,
    pub source: Option<IpAddr>,
    pub timeout: Duration,
    /// Receive buffer to ask the OS for; `None`: its default (which grows).
    pub recv_buffer: Option<u32>,
    /// Set for `wss://` (an `https://` target).
    pub tls: Option<TlsTarget>,
}

impl Dial {
    pub fn new(target: &HttpTarget, path: &str, source: Option<IpAddr>, timeout: Duration) -> Self {
        let scheme = if target.tls.is_some() { "wss" } else { "ws" };
        Dial {
            url: format!("{scheme}://{}{}{}", target.host, target.base_path, path),
            tls: target.tls.clone(),
            headers: Vec::new(),
            addr: target.addr,
            source,
            timeout,
            recv_buffer: None,
        }
    }
}

/// Open a socket: TCP, then the HTTP upgrade, both within `dial.timeout`.
pub(crate) async fn connect(dial: &Dial) -> Result<Stream, Outcome> {
    let deadline = Instant::now() + dial.timeout;
    let attempt = async {
        let tcp = tcp(dial).await.map_err(|_| Outcome::Connect)?;
        let _ = tcp.set_nodelay(true);
        let stream = match &dial.tls {
            None => Transport::Plain(tcp),
            // A refused certificate is a failed connection, like a refused
            // port: nothing of the upgrade was sent.
            Some(t) => t.wrap(tcp).await.map_err(|_| Outcome::Connect)?,
        };
        let mut req = dial
            .url
            .as_str()
            .into_client_request()
            .map_err(|_| Outcome::Invalid)?;
        for (name, value) in &dial.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        match tokio_tungstenite::client_async_with_config(req, stream, Some(config)).await {
            Ok((stream, _response)) => Ok(stream),
            Err(WsError::Http(resp)) => Err(Outcome::BadStatus {
                status: resp.status().as_u16(),
            }),
            Err(_) => Err(Outcome::Io),
        }
    };
    match tokio::time::timeout_at(deadline, attempt).await {
        Ok(r) => r,
        Err(_) => Err(Outcome::Timeout),
    }
}

async fn tcp(dial: &Dial) -> std::io::Result<TcpStream> {
    if dial.source.is_none() && dial.recv_buffer.is_none() {
        return TcpStream::connect(dial.addr).await;
    }
    let socket = if dial.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = dial.source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    if let Some(size) = dial.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.connect(dial.addr).await
}

/// Something that happened on a socket while the session waited.
pub(crate) enum Event {
    Text(Utf8Bytes),
    /// Not text: binary, ping, pong. Counted, not matched.
    Other,
    Closed(Option<u16>),
    Broken,
    Reconnected(Result<Box<Stream>, Outcome>, Duration),
}

/// The session's socket and everything it needs to measure what arrives.
pub(crate) struct Socket {
    stream: Option<Stream>,
    dial: Dial,
    /// Metric key of the step that opened it.
    pub key: usize,
    policy: Reconnect,
    room: Arc<Room>,
    member: bool,
    /// Room messages this socket should receive: from the first after it
    /// joined to the last before it left (`u64::MAX` while a member).
    expects: (u64, u64),
    finder: Arc<Finder>,
    pub track: Arc<str>,
    seen: super::fanout::Seen,
    /// The owning session, to recognise its own messages coming back.
    me: u64,
    attempt: u32,
    retry_at: Option<Instant>,
    rng: Pcg64Mcg,
    t0: Instant,
    read_delay: Duration,
    /// A slow viewer reads nothing before this.
    busy_until: Option<Instant>,
}

/// Everything a new socket needs besides the stream.
pub(crate) struct SocketSpec {
    pub dial: Dial,
    pub key: usize,
    pub policy: Reconnect,
    pub room: Arc<Room>,
    pub track: Arc<str>,
    pub finder: Arc<Finder>,
    pub me: u64,
    pub seed: u64,
    pub t0: Instant,
    pub read_delay: Option<Duration>,
}

impl Socket {
    /// A socket whose handshake succeeded: it joins its room now.
    pub fn open(stream: Stream, spec: SocketSpec) -> Self {
        let first = spec.room.join();
        Socket {
            expects: (first, u64::MAX),
            stream: Some(stream),
            finder: spec.finder,
            dial: spec.dial,
            key: spec.key,
            policy: spec.policy,
            room: spec.room,
            member: true,
            track: spec.track,
            seen: Default::default(),
            me: spec.me,
            attempt: 0,
            retry_at: None,
            rng: Pcg64Mcg::seed_from_u64(spec.seed),
            t0: spec.t0,
            read_delay: spec.read_delay.unwrap_or_default(),
            busy_until: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// Whether the socket comes back by itself after closing.
    pub fn reconnects(&self) -> bool {
        self.policy != Reconnect::Never
    }

    /// Number the next tracked message; the marker's send time is `sent`.
    pub fn marker(&self, key: usize, sent: Instant) -> (Marker, u64) {
        let (seq, others) = self.room.next_message(self.member);
        let marker = Marker {
            key: u32::try_from(key).unwrap_or(u32::MAX),
            seq,
            sent_us: micros(sent.saturating_duration_since(self.t0)),
            from: self.me,
        };
        (marker, others)
    }

    /// Send one text message; the socket is gone if this fails.
    pub async fn send(&mut self, text: String) -> Outcome {
        let Some(stream) = self.stream.as_mut() else {
            return Outcome::Io;
        };
        match stream.send(Message::text(text)).await {
            Ok(()) => Outcome::Ok { status: 101 },
            Err(_) => {
                self.lost();
                Outcome::Io
            }
        }
    }

    /// The next event: a message, the socket ending, or (when one is due)
    /// a reconnect attempt. Never resolves on a closed socket with no
    /// reconnect pending. Safe to cancel: an interrupted reconnect is
    /// retried on the next call.
    pub async fn event(&mut self) -> Event {
        if let Some(stream) = self.stream.as_mut() {
            if let Some(until) = self.busy_until {
                tokio::time::sleep_until(until).await;
                self.busy_until = None;
            }
            return match stream.next().await {
                Some(Ok(Message::Text(t))) => {
                    if !self.read_delay.is_zero() {
                        self.busy_until = Some(Instant::now() + self.read_delay);
                    }
                    Event::Text(t)
                }
                Some(Ok(Message::Close(frame))) => {
                    // Answer the close handshake; tungstenite queued the
                    // reply, a flush sends it. Bounded: the peer may be gone.
                    let _ = tokio::time::timeout(CLOSE_WAIT, stream.flush()).await;
                    Event::Closed(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => Event::Other,
                Some(Err(_)) | None => Event::Broken,
            };
        }
        match self.retry_at {
            Some(at) => {
                tokio::time::sleep_until(at).await;
                let started = Instant::now();
                // Boxed: the handshake's state is large, and an idle
                // viewer should not carry room for it in its future.
                let r = Box::pin(connect(&self.dial)).await.map(Box::new);
                Event::Reconnected(r, started.elapsed())
            }
            None => std::future::pending().await,
        }
    }

    /// Record `event` and act on it (schedule a reconnect, adopt a new
    /// stream). Returns the text of a message for whoever is waiting for one.
    pub fn handle(&mut self, event: Event, sink: &LiveSink) -> Option<Utf8Bytes> {
        let now_us = micros(Instant::now().saturating_duration_since(self.t0));
        let mut rec = sink.lock();
        match event {
            Event::Text(text) => {
                if let Some(ws) = rec.ws.get_mut(self.key) {
                    ws.messages_in += 1;
                }
                if let Some(m) = self.finder.find(text.as_bytes()) {
                    if let Some(ws) = rec.ws.get_mut(m.key as usize) {
                        if m.from == self.me {
                            ws.echoes += 1;
                        } else if m.seq < self.expects.0 || m.seq > self.expects.1 {
                            // Sent while this socket was not in the room:
                            // nobody counted on it getting the message.
                            ws.unexpected += 1;
                        } else {
                            match self.seen.note(m.seq, m.sent_us) {
                                Arrival::Duplicate => ws.duplicates += 1,
                                Arrival::First { out_of_order } => {
                                    ws.note_delivery(now_us.saturating_sub(m.sent_us), out_of_order)
                                }
                            }
                        }
                    }
                }
                return Some(text);
            }
            Event::Other => {
                if let Some(ws) = rec.ws.get_mut(self.key) {
                    ws.messages_in += 1;
                }
            }
            Event::Closed(code) => {
                if let Some(ws) = rec.ws.get_mut(self.key) {
                    // 1005: no status code in the close frame (RFC 6455 §7.4.1).
                    *ws.closed_by_server.entry(code.unwrap_or(1005)).or_default() += 1;
                }
                drop(rec);
                self.lost();
            }
            Event::Broken => {
                if let Some(ws) = rec.ws.get_mut(self.key) {
                    ws.broken += 1;
                }
                drop(rec);
                self.lost();
            }
            Event::Reconnected(result, took) => {
                if let Some(step) = rec.steps.get_mut(self.key) {
                    let outcome = match &result {
                        Ok(_) => Outcome::Ok { status: 101 },
                        Err(o) => *o,
                    };
                    step.record(outcome, micros(took));
                }
                match result {
                    Ok(stream) => {
                        if let Some(ws) = rec.ws.get_mut(self.key) {
                            ws.reconnects += 1;
                        }
                        self.stream = Some(*stream);
                        self.retry_at = None;
                        self.attempt = 0;
                        self.seen.reset();
                        self.expects = (self.room.join(), u64::MAX);
                        self.member = true;
                    }
                    Err(_) => self.schedule_retry(),
                }
            }
        }
        None
    }

    fn leave_room(&mut self) {
        if self.member {
            self.expects.1 = self.room.leave();
            self.member = false;
        }
    }

    /// The stream is gone: leave the room and, by policy, plan a reconnect.
    fn lost(&mut self) {
        self.stream = None;
        self.leave_room();
        self.schedule_retry();
    }

    fn schedule_retry(&mut self) {
        let now = Instant::now();
        let wait = match self.policy {
            Reconnect::Never => {
                self.retry_at = None;
                return;
            }
            Reconnect::Immediate if self.attempt == 0 => Duration::ZERO,
            Reconnect::Immediate => IMMEDIATE_RETRY,
            Reconnect::Backoff { base, max } => {
                let cap = base.saturating_mul(1u32 << self.attempt.min(20)).min(max);
                // Full jitter: uniform in [0, cap].
                cap.mul_f64(self.rng.random::<f64>())
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        self.retry_at = Some(now + wait);
    }

    /// Start leaving: stop any reconnecting, stop counting messages sent to
    /// the room from now on, and keep reading for [`LEAVE_SETTLE`] so the
    /// messages counted on reaching this socket can still arrive.
    pub async fn settle(&mut self, sink: &LiveSink) {
        self.policy = Reconnect::Never;
        self.retry_at = None;
        self.leave_room();
        let until = Instant::now() + LEAVE_SETTLE;
        while self.stream.is_some() {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return,
                ev = self.event() => {
                    let _ = self.handle(ev, sink);
                }
            }
        }
    }

    /// Leave: settle (if not done yet), close with the closing handshake
    /// and wait (bounded) for the server's answer, recording messages that
    /// were still on their way.
    pub async fn close(&mut self, sink: &LiveSink) -> Outcome {
        if self.member || self.reconnects() {
            self.settle(sink).await;
        }
        let Some(mut stream) = self.stream.take() else {
            return Outcome::Io;
        };
        if stream.close(None).await.is_err() {
            return Outcome::Io;
        }
        let read_delay = self.read_delay;
        let drain = async {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(t) = msg {
                    // Deliveries sent before we left still count.
                    let _ = self.handle(Event::Text(t), sink);
                    // A slow device is slow while it leaves, too.
                    if !read_delay.is_zero() {
                        tokio::time::sleep(read_delay).await;
                    }
                }
            }
        };
        match tokio::time::timeout(CLOSE_WAIT, drain).await {
            Ok(()) => Outcome::Ok { status: 101 },
            Err(_) => Outcome::Timeout,
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.member {
            self.room.leave();
        }
    }
}
