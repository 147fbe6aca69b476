//! Live rooms' fan-out: who watches a room, the room's broadcast ring, the
//! broadcast sequence, the admin disconnect signal and the counters that
//! `GET /api/rooms/{room}` shows; plus the platform-wide viewer bound and
//! the lifecycle (stop, force, tracking) every viewer task runs under.
//!
//! Owns viewer numbering and the order in which a room's messages are
//! numbered and handed to its viewers. It must not touch sockets or parse
//! frames (`viewer` and `frames` do), and it takes no lock per delivery:
//! one short lock per broadcast keeps sequence numbers in ring order.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::frames::Kind;
use super::shard::lock;

/// One broadcast as every viewer of the room receives it: serialised once,
/// shared by reference count, tagged with its sender so the sender's own
/// task can skip it, and with its sequence number so a lagging viewer can
/// tell which skipped messages were its own.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub(crate) from: u64,
    pub(crate) seq: u64,
    pub(crate) text: Utf8Bytes,
}

/// A room's counters; every field only grows except `viewers`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    viewers: AtomicU64,
    joined: AtomicU64,
    broadcasts: AtomicU64,
    likes: AtomicU64,
    votes: AtomicU64,
    deliveries: AtomicU64,
    dropped: AtomicU64,
    slow_disconnects: AtomicU64,
    admin_disconnects: AtomicU64,
}

impl Counters {
    /// A broadcast frame was written to a viewer.
    pub(crate) fn delivered(&self) {
        self.deliveries.fetch_add(1, Ordering::Relaxed);
    }

    /// A lagging viewer skipped `n` messages.
    pub(crate) fn skipped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn slow_disconnect(&self) {
        self.slow_disconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn admin_disconnect(&self) {
        self.admin_disconnects.fetch_add(1, Ordering::Relaxed);
    }
}

/// The live part of `GET /api/rooms/{room}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct LiveStats {
    /// Viewers connected now.
    pub(crate) viewers: u64,
    /// Viewers that ever joined.
    pub(crate) joined: u64,
    /// Viewer messages accepted and broadcast.
    pub(crate) broadcasts: u64,
    pub(crate) likes: u64,
    pub(crate) votes: u64,
    /// Broadcast frames written to viewers (welcome, error and lag notices
    /// are not counted).
    pub(crate) deliveries: u64,
    /// Broadcasts lagging viewers skipped under the `lag` policy.
    pub(crate) dropped: u64,
    pub(crate) slow_disconnects: u64,
    pub(crate) admin_disconnects: u64,
}

/// One room's live audience.
#[derive(Debug)]
pub(crate) struct LiveRoom {
    id: String,
    queue: usize,
    /// Created by the first viewer: a room that only ever gets HTTP comments
    /// never pays for a ring.
    channel: OnceLock<broadcast::Sender<Outbound>>,
    seq: Mutex<u64>,
    next_viewer: AtomicU64,
    /// The platform's stop signal, parent of every `close` token.
    stop: CancellationToken,
    /// Cancelled (and replaced) by an admin disconnect, and with `stop`; so a
    /// viewer waits on one token for both. Joins take it under the same lock
    /// as the swap, so every counted viewer holds the token being cancelled.
    close: Mutex<CancellationToken>,
    pub(crate) counters: Counters,
}

/// A viewer's place in a room; leaving (dropping it) updates the count.
#[derive(Debug)]
pub(crate) struct Membership {
    pub(crate) room: Arc<LiveRoom>,
    /// Unique within the room, from 1.
    pub(crate) viewer: u64,
    /// Viewers in the room right after this one joined.
    pub(crate) viewers: u64,
    pub(crate) rx: broadcast::Receiver<Outbound>,
    /// Cancelled when the viewer must close: an admin disconnect of the
    /// room or the platform stopping.
    pub(crate) close: CancellationToken,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.room.counters.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LiveRoom {
    /// A room whose viewers are also closed when `stop` is cancelled.
    pub(crate) fn new(id: &str, queue: usize, stop: &CancellationToken) -> Self {
        LiveRoom {
            id: id.to_owned(),
            queue: queue.max(1),
            channel: OnceLock::new(),
            seq: Mutex::new(0),
            next_viewer: AtomicU64::new(0),
            close: Mutex::new(stop.child_token()),
            stop: stop.clone(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Messages a viewer may fall behind before it lags: the configured
    /// queue rounded up to a power of two, as the ring allocates it.
    pub(crate) fn capacity(&self) -> usize {
        self.queue.next_power_of_two()
    }

    fn sender(&self) -> &broadcast::Sender<Outbound> {
        self.channel
            .get_or_init(|| broadcast::channel(self.queue).0)
    }

    /// Adds a viewer. It receives every broadcast published from now on.
    pub(crate) fn join(self: &Arc<Self>) -> Membership {
        let close = lock(&self.close);
        let viewer = self.next_viewer.fetch_add(1, Ordering::Relaxed) + 1;
        let viewers = self.counters.viewers.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.joined.fetch_add(1, Ordering::Relaxed);
        Membership {
            room: Arc::clone(self),
            viewer,
            viewers,
            rx: self.sender().subscribe(),
            close: close.clone(),
        }
    }

    /// Numbers and broadcasts `body`, a JSON object without `seq`, to every
    /// viewer; returns the sequence number given.
    pub(crate) fn publish(&self, from: u64, kind: Kind, body: &str) -> u64 {
        let rest = body.strip_prefix('{').unwrap_or("}");
        let mut text = String::with_capacity(body.len() + 24);
        // The ring delivers in send order, so numbering and sending happen
        // under one lock or two publishers could hand out 6 before 5.
        let seq = {
            let mut seq = lock(&self.seq);
            *seq += 1;
            text.push_str("{\"seq\":");
            let _ = write!(text, "{}", *seq);
            if rest != "}" {
                text.push(',');
            }
            text.push_str(rest);
            // An error only means nobody is subscribed: nothing to deliver.
            let _ = self.sender().send(Outbound {
                from,
                seq: *seq,
                text: text.into(),
            });
            *seq
        };
        let c = &self.counters;
        c.broadcasts.fetch_add(1, Ordering::Relaxed);
        // Comments are counted by the room's feed.
        let by_kind = match kind {
            Kind::Like => Some(&c.likes),
            Kind::Vote => Some(&c.votes),
            Kind::Comment => None,
        };
        if let Some(n) = by_kind {
            n.fetch_add(1, Ordering::Relaxed);
        }
        seq
    }

    /// Signals every viewer connected now to close with 1012; viewers joining
    /// afterwards are unaffected. Returns how many were signalled.
    pub(crate) fn disconnect_all(&self) -> u64 {
        let (old, n) = {
            let mut close = lock(&self.close);
            let n = self.counters.viewers.load(Ordering::Relaxed);
            (std::mem::replace(&mut *close, self.stop.child_token()), n)
        };
        old.cancel();
        n
    }

    pub(crate) fn stats(&self) -> LiveStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LiveStats {
            viewers: get(&c.viewers),
            joined: get(&c.joined),
            broadcasts: get(&c.broadcasts),
            likes: get(&c.likes),
            votes: get(&c.votes),
            deliveries: get(&c.deliveries),
            dropped: get(&c.dropped),
            slow_disconnects: get(&c.slow_disconnects),
            admin_disconnects: get(&c.admin_disconnects),
        }
    }
}

/// The platform-wide bound on WebSocket viewers.
#[derive(Debug)]
pub(crate) struct ViewerSlots {
    held: Arc<AtomicUsize>,
    max: usize,
}

/// One reserved viewer slot, given back on drop.
#[derive(Debug)]
pub(crate) struct ViewerSlot(Arc<AtomicUsize>);

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ViewerSlots {
    pub(crate) fn new(max: usize) -> Self {
        ViewerSlots {
            held: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A slot, or `None` when the platform already holds `max` viewers.
    pub(crate) fn try_take(&self) -> Option<ViewerSlot> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| ViewerSlot(Arc::clone(&self.held)))
    }
}

/// What every viewer task runs under: `stop` asks it to close its socket
/// with 1001, `force` drops the socket at once (the grace period ran out),
/// and `tracker` lets the server wait for the tasks to end.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lifecycle {
    pub(crate) stop: CancellationToken,
    pub(crate) force: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publish_numbers_from_one_and_reaches_every_viewer() {
        let room = Arc::new(LiveRoom::new("r", 4, &CancellationToken::new()));
        let mut a = room.join();
        let mut b = room.join();
        assert_eq!((a.viewer, a.viewers, b.viewer, b.viewers), (1, 1, 2, 2));
        assert_eq!(room.publish(1, Kind::Like, r#"{"type":"like"}"#), 1);
        assert_eq!(room.publish(2, Kind::Vote, "{}"), 2);
        for rx in [&mut a.rx, &mut b.rx] {
            let first = rx.recv().await.unwrap();
            assert_eq!(
                (first.from, first.text.as_str()),
                (1, r#"{"seq":1,"type":"like"}"#)
            );
            assert_eq!(rx.recv().await.unwrap().text.as_str(), r#"{"seq":2}"#);
        }
        let s = room.stats();
        assert_eq!(
            (s.viewers, s.joined, s.broadcasts, s.likes, s.votes),
            (2, 2, 2, 1, 1)
        );
        drop(a);
        assert_eq!(room.stats().viewers, 1);
    }

    #[tokio::test]
    async fn disconnect_signals_current_viewers_only_and_stop_signals_all() {
        let stop = CancellationToken::new();
        let room = Arc::new(LiveRoom::new("r", 1, &stop));
        let before: Vec<_> = (0..3).map(|_| room.join()).collect();
        assert_eq!(room.disconnect_all(), 3);
        assert!(before.iter().all(|m| m.close.is_cancelled()));
        let after = room.join();
        assert!(!after.close.is_cancelled());
        stop.cancel();
        assert!(after.close.is_cancelled());
        assert_eq!(room.capacity(), 1);
        assert_eq!(LiveRoom::new("r", 5, &stop).capacity(), 8);
    }

    #[test]
    fn viewer_slots_are_exact_and_given_back() {
        let slots = ViewerSlots::new(2);
        let a = slots.try_take();
        let b = slots.try_take();
        assert!(a.is_some() && b.is_some());
        assert!(slots.try_take().is_none());
        drop(a);
        assert!(slots.try_take().is_some());
    }
}
