//! One live-room viewer over WebSocket: the lean socket settings of the
//! upgrade, the viewer's task (relay the room's broadcasts to the socket,
//! the viewer's messages to the room) and how that task ends, with which
//! close code.
//!
//! Owns the socket and the slow-viewer policy. It must not parse frames
//! (`frames`) or number and fan out messages (`live`), must never hold a
//! lock, and every way out of the task is bounded in time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::config::SlowPolicy;
use super::error::DemoError;
use super::frames;
use super::live::{Membership, Outbound, ViewerSlot};
use super::state::State;

/// Largest message a viewer may send; a larger one (up to
/// [`MAX_WIRE_BYTES`]) is refused with a `payload_too_large` error frame and
/// the socket stays open.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// Largest frame the socket reads at all; a larger one closes it with 1009.
/// The socket stops reading after such an error, so this cap sits well
/// above [`MAX_MESSAGE_BYTES`] to keep ordinary mistakes non-fatal.
pub const MAX_WIRE_BYTES: usize = 64 * 1024;

/// Initial read buffer per socket. Viewers mostly listen and send small
/// frames, and tens of thousands of idle ones must fit, so the buffer starts
/// small and grows only for a frame that needs it. With it, an idle viewer
/// costs the demo about 4 KiB in all.
const READ_BUFFER: usize = 1024;

/// Bound on bytes queued in a socket's write buffer: one broadcast (at most
/// [`MAX_MESSAGE_BYTES`] plus the server's fields) and the control frames
/// that may follow it while the peer is not reading.
const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// How long a closing viewer waits for its close frame to go out and the
/// peer's reply to come back; below the server's shutdown grace.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The same for a viewer closed as too slow: its close frame waits behind
/// everything it has not read yet. Longer than the grace on purpose; a
/// server shutdown drops such a viewer when the grace runs out.
const SLOW_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// While a write is stuck on a peer that stopped reading, how often the
/// `disconnect` policy checks whether the viewer fell too far behind. The
/// ring only reports a lag when the task receives, which a stuck write
/// prevents.
const STALL_CHECK: Duration = Duration::from_millis(50);

const GOING_AWAY: u16 = 1001;
const POLICY_VIOLATION: u16 = 1008;
const MESSAGE_TOO_BIG: u16 = 1009;
const SERVICE_RESTART: u16 = 1012;

/// Why a viewer's session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The connection broke; nothing left to say on it.
    Gone,
    /// The viewer sent a close frame; ours is the reply.
    ClientClosed,
    Shutdown,
    Admin,
    TooSlow,
    TooBig,
}

impl End {
    fn close_timeout(self) -> Duration {
        if self == End::TooSlow {
            SLOW_CLOSE_TIMEOUT
        } else {
            CLOSE_TIMEOUT
        }
    }

    fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            End::Gone | End::ClientClosed => None,
            End::Shutdown => Some((GOING_AWAY, "server shutting down")),
            End::Admin => Some((SERVICE_RESTART, "room restarting")),
            End::TooSlow => Some((POLICY_VIOLATION, "too slow")),
            End::TooBig => Some((MESSAGE_TOO_BIG, "message too big")),
        }
    }
}

/// Takes a platform slot and the room (creating it) before upgrading, so a
/// refusal is an ordinary JSON error. The viewer joins the room before the
/// `101` goes out: a client may send a message the moment its handshake
/// completes, and every other viewer whose handshake completed before that
/// must get it.
pub(crate) fn upgrade(
    st: Arc<State>,
    room: &str,
    user: Option<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, DemoError> {
    // A viewer joining a stopping server would only be closed again.
    if st.lifecycle.stop.is_cancelled() {
        return Err(DemoError::Capacity("viewer"));
    }
    let slot = st
        .viewer_slots
        .try_take()
        .ok_or(DemoError::Capacity("viewer"))?;
    let room = st.rooms.live_or_create(room)?;
    let member = room.join();
    // Taken before the response so the server's shutdown waits for this
    // viewer even if the socket is only being handed over.
    let task = st.lifecycle.tracker.token();
    let force = st.lifecycle.force.clone();
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_WIRE_BYTES)
        .max_frame_size(MAX_WIRE_BYTES);
    Ok(ws.on_upgrade(move |socket| {
        // Every future a session is moved into (axum's task among them)
        // lays it out again, and an `async fn` stores its arguments twice;
        // inline, that more than doubled an idle viewer's memory. So the
        // viewer is built here and its session boxed once, as a block.
        let mut viewer = Viewer::new(socket, st, member, user);
        let session = Box::pin(async move {
            let end = viewer.serve().await;
            viewer.finish(end).await;
        });
        async move {
            let _task = task;
            let _slot: ViewerSlot = slot;
            tokio::select! {
                () = force.cancelled() => {}
                () = session => {}
            }
        }
    }))
}

struct Viewer {
    socket: WebSocket,
    member: Membership,
    user: String,
    st: Arc<State>,
    policy: SlowPolicy,
    capacity: usize,
    /// Sequence numbers of this viewer's broadcasts its receiver has not
    /// reached yet: when the ring reports a lag, these are told apart from
    /// other viewers' messages, which are the only ones the viewer missed.
    own: VecDeque<u64>,
    /// Positions the ring reported skipped and not yet attributed.
    lag: u64,
}

impl Viewer {
    fn new(socket: WebSocket, st: Arc<State>, member: Membership, user: Option<String>) -> Self {
        let user = user.unwrap_or_else(|| format!("viewer-{}", member.viewer));
        Viewer {
            policy: st.slow_policy,
            capacity: member.room.capacity(),
            socket,
            member,
            user,
            st,
            own: VecDeque::new(),
            lag: 0,
        }
    }

    /// Why the close token fired.
    fn closed(&self) -> End {
        if self.st.lifecycle.stop.is_cancelled() {
            End::Shutdown
        } else {
            End::Admin
        }
    }

    async fn serve(&mut self) -> End {
        let room = &self.member.room;
        let welcome = frames::welcome(room.id(), self.member.viewer, self.member.viewers);
        if let Err(end) = self.write(welcome).await {
            return end;
        }
        loop {
            // Futures are dropped before a branch's handler runs, so the
            // handlers may borrow the whole viewer again. Branches are polled
            // in random order: a busy room must not starve a viewer's own
            // frames, nor a chatty viewer its share of the room.
            let step = tokio::select! {
                () = self.member.close.cancelled() => Err(self.closed()),
                inbound = self.socket.recv() => match inbound {
                    Some(Ok(msg)) => self.on_frame(msg).await,
                    Some(Err(err)) => Err(read_error(&err)),
                    None => Err(End::Gone),
                },
                out = self.member.rx.recv() => self.on_broadcast(out).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_frame(&mut self, msg: Message) -> Result<(), End> {
        let refused = match msg {
            Message::Text(text) if text.len() > MAX_MESSAGE_BYTES => DemoError::Body {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("messages are limited to {MAX_MESSAGE_BYTES} bytes"),
            },
            Message::Text(text) => match self.accept(&text) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            },
            Message::Binary(_) => {
                DemoError::InvalidBody("binary frames are not supported; send JSON text".into())
            }
            Message::Close(_) => return Err(End::ClientClosed),
            // Pongs to pings are queued by the socket itself.
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
        };
        self.write(frames::error(&refused)).await
    }

    /// Checks a viewer's message, records a comment in the feed and hands
    /// the message to the room.
    fn accept(&mut self, frame: &str) -> Result<(), DemoError> {
        let msg = frames::parse(frame)?;
        let room = &self.member.room;
        let clock = &self.st.clock;
        let at = match msg.text {
            Some(text) => {
                self.st
                    .rooms
                    .post(room.id(), self.user.clone(), text, clock)?
                    .at
            }
            None => clock.rfc3339(clock.now()),
        };
        let body = frames::stamp(msg.fields, room.id(), &self.user, &at);
        let seq = room.publish(self.member.viewer, msg.kind, &body);
        self.own.push_back(seq);
        Ok(())
    }

    async fn on_broadcast(&mut self, out: Result<Outbound, RecvError>) -> Result<(), End> {
        let m = match out {
            Ok(m) => m,
            // Which skipped messages were the viewer's own is only known
            // once the next message shows where the receiver resumed.
            Err(RecvError::Lagged(n)) => {
                self.lag += n;
                return Ok(());
            }
            // The room holds the sender for as long as this viewer holds the
            // room, so this is unreachable; ending is the safe reading.
            Err(RecvError::Closed) => return Err(End::Shutdown),
        };
        let mut own_skipped = 0;
        while let Some(&seq) = self.own.front().filter(|&&seq| seq <= m.seq) {
            self.own.pop_front();
            own_skipped += u64::from(seq < m.seq);
        }
        let missed = std::mem::take(&mut self.lag).saturating_sub(own_skipped);
        if missed > 0 {
            match self.policy {
                SlowPolicy::Lag => {
                    self.member.room.counters.skipped(missed);
                    self.write(frames::lagged(missed)).await?;
                }
                SlowPolicy::Disconnect => return Err(End::TooSlow),
            }
        }
        if m.from != self.member.viewer {
            self.write(m.text).await?;
            self.member.room.counters.delivered();
        }
        Ok(())
    }

    /// Writes one text frame; gives up when the viewer must close or
    /// (`disconnect` policy) the peer stopped reading long enough to fall
    /// more than the queue behind.
    async fn write(&mut self, text: Utf8Bytes) -> Result<(), End> {
        let sent = {
            let Viewer {
                socket,
                member,
                policy,
                capacity,
                own,
                ..
            } = self;
            let watch =
                (*policy == SlowPolicy::Disconnect).then_some((&member.rx, &*own, *capacity));
            tokio::select! {
                biased;
                sent = socket.send(Message::Text(text)) => Ok(sent),
                () = member.close.cancelled() => Err(None),
                () = fell_behind(watch) => Err(Some(End::TooSlow)),
            }
        };
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(Some(end)) => Err(end),
            Err(None) => Err(self.closed()),
        }
    }

    /// Counts the ending, sends our close frame if we initiate, and lets the
    /// close handshake complete: reading on until the peer's reply (or the
    /// flush of ours) ends the stream, within [`End::close_timeout`].
    async fn finish(&mut self, end: End) {
        let counters = &self.member.room.counters;
        match end {
            End::TooSlow => counters.slow_disconnect(),
            End::Admin => counters.admin_disconnect(),
            _ => {}
        }
        if end == End::Gone {
            return;
        }
        let socket = &mut self.socket;
        let handshake = async {
            if let Some((code, reason)) = end.close_frame() {
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                if socket.send(Message::Close(Some(frame))).await.is_err() {
                    return;
                }
            }
            // After a read error (an oversized frame) the socket reads no
            // more and this ends at once; the peer's reply goes unread.
            while let Some(Ok(_)) = socket.recv().await {}
        };
        let _ = tokio::time::timeout(end.close_timeout(), handshake).await;
    }
}

/// Completes once a viewer whose write is stuck has fallen more than its
/// queue behind (not counting its own messages); never without `watch`.
/// The timer is boxed and made only once a write has actually stalled, so
/// the many writes that complete at once cost no clock reading and no
/// space in every viewer's task.
async fn fell_behind(watch: Option<(&Receiver<Outbound>, &VecDeque<u64>, usize)>) {
    let Some((rx, own, capacity)) = watch else {
        return std::future::pending().await;
    };
    let mut tick = Box::pin(tokio::time::sleep(STALL_CHECK));
    loop {
        tick.as_mut().await;
        if rx.len().saturating_sub(own.len()) > capacity {
            return;
        }
        tick.as_mut()
            .reset(tokio::time::Instant::now() + STALL_CHECK);
    }
}

/// A read error's ending. The socket's own error type belongs to a
/// WebSocket library version this crate does not name, so an oversized
/// message is recognised by its description.
fn read_error(err: &axum::Error) -> End {
    let text = err.to_string();
    if text.contains("Space limit exceeded") || text.contains("too long") {
        End::TooBig
    } else {
        End::Gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_initiated_ending_has_its_close_code() {
        let codes: Vec<_> = [End::Shutdown, End::Admin, End::TooSlow, End::TooBig]
            .into_iter()
            .filter_map(|e| e.close_frame().map(|(code, _)| code))
            .collect();
        assert_eq!(codes, vec![1001, 1012, 1008, 1009]);
        assert_eq!(End::ClientClosed.close_frame(), None);
        assert!(CLOSE_TIMEOUT < super::super::SHUTDOWN_GRACE);
    }
}
