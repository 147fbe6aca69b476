//! The WebSocket steps of a session's program: `ws` (connect), `send`,
//! `await` and `close`, each recorded like a request step (outcome and
//! latency under the step's key).
//!
//! Owns rendering a WebSocket step's templates and judging its outcome.
//! Must not read messages outside a step (the session's pump does) nor
//! know how the socket reconnects (the socket does).

use std::sync::Arc;

use http::HeaderValue;
use tokio::time::Instant;

use super::fanout::stamp;
use super::lane::micros;
use super::session::{Next, Session};
use super::trace::Ids;
use super::ws::{self, Dial, Socket, SocketSpec};
use crate::metrics::Outcome;
use crate::scenario::template::RenderCtx;
use crate::scenario::{Step, WsAwait, WsConnect, WsSend, WsStep};

/// What an accepted WebSocket step reports as its status: the handshake's
/// `101 Switching Protocols`, so status classes stay meaningful.
const WS_OK: Outcome = Outcome::Ok { status: 101 };

/// Receive buffer of a viewer with a `read_delay`, in bytes (the OS may
/// round it up).
const SLOW_RECV_BUFFER: u32 = 8 * 1024;

impl Session<'_> {
    pub(super) async fn ws_step(&mut self, key: usize, step: &Step, ws: &WsStep) -> Next {
        let started = Instant::now();
        let mut ids = None;
        let (outcome, from) = match ws {
            WsStep::Connect(c) => {
                let (outcome, traced) = self.ws_connect(key, step, c).await;
                ids = traced;
                (outcome, started)
            }
            WsStep::Send(m) => {
                let from = self.from.take().map_or(started, |t| t.min(started));
                (self.ws_send(key, step, m, from).await, from)
            }
            WsStep::Await(a) => (self.ws_await(step, a).await, started),
            WsStep::Close => match self.ws.take() {
                Some(mut sock) => {
                    // The step measures the closing handshake, not the
                    // listening a leaving socket does before it.
                    sock.settle(self.live).await;
                    let started = Instant::now();
                    (sock.close(self.live).await, started)
                }
                None => (Outcome::Io, started),
            },
        };
        let end = Instant::now();
        let latency = micros(end.saturating_duration_since(from));
        if let (Some(t), Some(ids)) = (self.shared.tracer.as_ref(), ids) {
            self.traced(t, ids, key, 1, (started, end), latency, outcome);
        }
        self.push_result(key, outcome, latency, end);
        match outcome {
            Outcome::Unresolved => Next::Stop,
            o if o.is_ok() => Next::Go,
            // A failed send on a socket that is coming back is one lost
            // comment, not the end of the viewer.
            _ if matches!(ws, WsStep::Send(_))
                && self.ws.as_ref().is_some_and(|s| s.reconnects()) =>
            {
                Next::Go
            }
            _ => Next::Stop,
        }
    }

    fn render_ctx(&mut self) -> RenderCtx<'_> {
        RenderCtx {
            seq: self.seq,
            iter_seed: self.iter_seed,
            rng: &mut self.rng,
            feeders: &self.shared.scenario.feeders,
            session: &self.vars,
            unresolved: 0,
        }
    }

    /// Connects the session's socket; the trace ids its handshake carried
    /// when it was sampled.
    async fn ws_connect(
        &mut self,
        key: usize,
        step: &Step,
        c: &WsConnect,
    ) -> (Outcome, Option<Ids>) {
        // One socket per session: connecting again replaces it.
        if let Some(mut old) = self.ws.take() {
            Box::pin(old.close(self.live)).await;
        }
        let shared = self.shared;
        let target = shared.target(self.region);
        let source = (!shared.sources.is_empty())
            .then(|| shared.sources[(self.seq % shared.sources.len() as u64) as usize]);
        let mut ctx = self.render_ctx();
        let mut path = String::new();
        c.path.render(&mut ctx, &mut path);
        let mut dial = Dial::new(target, &path, source, step.timeout);
        if c.read_delay.is_some() {
            // A slow device also has a small TCP window: what it has not
            // read waits at the platform, whose slow-viewer policy is what
            // the rehearsal is after, not in this machine's socket buffers.
            dial.recv_buffer = Some(SLOW_RECV_BUFFER);
        }
        let mut value = String::new();
        let mut invalid = false;
        for (name, tmpl) in &c.headers {
            value.clear();
            tmpl.render(&mut ctx, &mut value);
            match HeaderValue::from_str(&value) {
                Ok(v) => dial.headers.push((name.clone(), v)),
                Err(_) => invalid = true,
            }
        }
        let room = match &c.room {
            Some(t) => {
                let mut r = String::new();
                t.render(&mut ctx, &mut r);
                r
            }
            None => path.split('?').next().unwrap_or_default().to_owned(),
        };
        if ctx.unresolved > 0 {
            return (Outcome::Unresolved, None);
        }
        if invalid {
            return (Outcome::Invalid, None);
        }
        // A sampled handshake carries trace context like a request does
        // (it is one: a GET asking for an upgrade).
        let own_headers = dial.headers.len();
        let mut ids = None;
        if let Some(t) = shared.tracer.as_ref() {
            self.requests = self.requests.wrapping_add(1);
            ids = t.decide(self.seq, self.requests, 1);
            if let Some(ids) = &ids {
                dial.headers.extend(t.header_values(ids, key));
            }
        }
        // Boxed: the handshake's state is large, and the program's future
        // (which idle viewers keep) should not carry room for it.
        let stream = tokio::select! {
            r = Box::pin(ws::connect(&dial)) => r,
            _ = shared.abort.cancelled() => Err(Outcome::Aborted),
        };
        // A reconnect is a handshake of its own, not this span again.
        dial.headers.truncate(own_headers);
        let outcome = match stream {
            Ok(stream) => {
                let spec = SocketSpec {
                    dial,
                    key,
                    policy: c.reconnect,
                    room: shared.rooms.get(&room),
                    track: Arc::from(c.track.as_str()),
                    finder: shared.rooms.finder(&c.track, shared.run_tag),
                    me: self.seq,
                    seed: self.iter_seed ^ 0x5eed_50c4,
                    t0: shared.t0,
                    read_delay: c.read_delay,
                };
                self.ws = Some(Box::new(Socket::open(stream, spec)));
                WS_OK
            }
            Err(o) => o,
        };
        (outcome, ids)
    }

    async fn ws_send(&mut self, key: usize, step: &Step, m: &WsSend, from: Instant) -> Outcome {
        let mut ctx = self.render_ctx();
        let mut bytes = Vec::new();
        let tracked = match m {
            WsSend::Tracked(t) => {
                t.render(&mut ctx, &mut bytes);
                true
            }
            WsSend::Text(t) => {
                let mut text = String::new();
                t.render(&mut ctx, &mut text);
                bytes = text.into_bytes();
                false
            }
        };
        if ctx.unresolved > 0 {
            return Outcome::Unresolved;
        }
        let Some(sock) = self.ws.as_deref_mut() else {
            return Outcome::Io;
        };
        if !sock.is_open() {
            return Outcome::Io;
        }
        let mut others = None;
        if tracked {
            let (marker, n) = sock.marker(key, from);
            if !stamp(&mut bytes, &sock.track, self.shared.run_tag, marker) {
                return Outcome::Invalid;
            }
            others = Some(n);
        }
        // Rendered from UTF-8 templates and ASCII markers, so always UTF-8.
        let Ok(text) = String::from_utf8(bytes) else {
            return Outcome::Invalid;
        };
        let sent = tokio::select! {
            r = tokio::time::timeout(step.timeout, sock.send(text)) => r.unwrap_or(Outcome::Timeout),
            _ = self.shared.abort.cancelled() => Outcome::Aborted,
        };
        if let (true, Some(n)) = (sent.is_ok(), others) {
            if let Some(ws) = self.live.lock().ws.get_mut(key) {
                ws.note_sent(n);
            }
        }
        sent
    }

    async fn ws_await(&mut self, step: &Step, a: &WsAwait) -> Outcome {
        let deadline = Instant::now() + step.timeout;
        let Some(sock) = self.ws.as_deref_mut() else {
            return Outcome::Io;
        };
        let live = self.live;
        let stop = &self.shared.stop;
        let found = loop {
            let ev = tokio::select! {
                ev = sock.event() => ev,
                _ = tokio::time::sleep_until(deadline) => return Outcome::Timeout,
                _ = stop.cancelled() => return Outcome::Aborted,
            };
            let Some(text) = sock.handle(ev, live) else {
                if !sock.is_open() && !sock.reconnects() {
                    return Outcome::Io;
                }
                continue;
            };
            if a.checks.is_empty() {
                break text;
            }
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(text.as_bytes()) else {
                continue;
            };
            if a.checks.iter().all(|c| c.holds(&doc)) {
                break text;
            }
        };
        self.capture_from(&a.captures, found.as_bytes(), |_| None);
        WS_OK
    }
}
