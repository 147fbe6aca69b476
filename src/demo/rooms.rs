//! Live rooms and their comment feeds.
//!
//! Owns room creation, comment ids (strictly increasing per room, never
//! reused) and the memory bounds: a room keeps only its newest comments and
//! the number of rooms is capped. Each room carries its live audience
//! ([`LiveRoom`]), created with it. It must not know about HTTP, sockets or
//! products.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::config::DEFAULT_WS_QUEUE;
use super::error::DemoError;
use super::live::{LiveRoom, LiveStats};
use super::shard::{lock, ShardedMap};

/// Comments retained per room; older ones are evicted but ids keep growing.
pub const MAX_RETAINED_COMMENTS: usize = 10_000;
/// Rooms the platform will hold; creating one more is refused with 503.
pub const MAX_ROOMS: usize = 10_000;
/// Longest comment text, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;
/// Default and maximum page size of a comment listing.
pub const DEFAULT_COMMENT_PAGE: usize = 50;
/// Upper bound of the `limit` query parameter for comments.
pub const MAX_COMMENT_PAGE: usize = 500;

/// One comment as stored and as returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Comment {
    pub(crate) id: u64,
    pub(crate) room: String,
    pub(crate) user: String,
    pub(crate) text: String,
    pub(crate) at: String,
}

#[derive(Debug, Default)]
struct Feed {
    last_id: u64,
    /// Consecutive ids, oldest first, so `since` maps to an index directly.
    comments: VecDeque<Comment>,
}

#[derive(Debug)]
struct Room {
    id: String,
    feed: Mutex<Feed>,
    live: Arc<LiveRoom>,
}

/// `GET /api/rooms/{room}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RoomView {
    pub(crate) id: String,
    /// Comments ever posted (equals the last id).
    pub(crate) comment_count: u64,
    pub(crate) last_comment_id: u64,
    /// Comments still held; the oldest ones are evicted past the bound.
    pub(crate) retained: usize,
    /// WebSocket audience and fan-out counters.
    #[serde(flatten)]
    pub(crate) live: LiveStats,
}

/// `GET /api/rooms/{room}/comments` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CommentPage {
    pub(crate) room: String,
    pub(crate) comments: Vec<Comment>,
    /// Pass as `since` to get the next page.
    pub(crate) next_since: u64,
    /// More comments after this page.
    pub(crate) has_more: bool,
    /// Some comments after `since` were already evicted and cannot be
    /// returned; a reader checking "every acknowledged comment appears"
    /// must treat them as unknown, not lost.
    pub(crate) truncated: bool,
}

/// All rooms. Reads never create a room; only posting does.
#[derive(Debug)]
pub(crate) struct Rooms {
    rooms: ShardedMap<String, Arc<Room>>,
    count: AtomicUsize,
    max_rooms: usize,
    retain: usize,
    live_queue: usize,
    live_stop: CancellationToken,
}

impl Rooms {
    pub(crate) fn new() -> Self {
        Self::with_limits(MAX_ROOMS, MAX_RETAINED_COMMENTS)
    }

    pub(crate) fn with_limits(max_rooms: usize, retain: usize) -> Self {
        Rooms {
            rooms: ShardedMap::new(),
            count: AtomicUsize::new(0),
            max_rooms,
            retain: retain.max(1),
            live_queue: DEFAULT_WS_QUEUE,
            live_stop: CancellationToken::new(),
        }
    }

    /// Sets the viewer queue of rooms created from now on (see
    /// [`super::DemoConfig::ws_queue`]) and the signal that closes every
    /// room's viewers.
    pub(crate) fn with_live(mut self, queue: usize, stop: CancellationToken) -> Self {
        self.live_queue = queue.max(1);
        self.live_stop = stop;
        self
    }

    fn find(&self, id: &str) -> Option<Arc<Room>> {
        self.rooms.with_shard(id, |m| m.get(id).cloned())
    }

    fn find_or_create(&self, id: &str) -> Result<Arc<Room>, DemoError> {
        self.rooms.with_shard(id, |m| {
            if let Some(room) = m.get(id) {
                return Ok(Arc::clone(room));
            }
            // Reserve a slot before inserting; a loser of the race gives its
            // slot back, so the cap is exact even across shards.
            if self.count.fetch_add(1, Ordering::AcqRel) >= self.max_rooms {
                self.count.fetch_sub(1, Ordering::AcqRel);
                return Err(DemoError::Capacity("room"));
            }
            let room = Arc::new(Room {
                id: id.to_owned(),
                feed: Mutex::new(Feed::default()),
                live: Arc::new(LiveRoom::new(id, self.live_queue, &self.live_stop)),
            });
            m.insert(id.to_owned(), Arc::clone(&room));
            Ok(room)
        })
    }

    /// Appends a comment; the id and timestamp are assigned under the room's
    /// lock so ids and times increase together.
    pub(crate) fn post(
        &self,
        room_id: &str,
        user: String,
        text: String,
        clock: &Clock,
    ) -> Result<Comment, DemoError> {
        let room = self.find_or_create(room_id)?;
        let mut feed = lock(&room.feed);
        feed.last_id += 1;
        let comment = Comment {
            id: feed.last_id,
            room: room.id.clone(),
            user,
            text,
            at: clock.rfc3339(clock.now()),
        };
        if feed.comments.len() >= self.retain {
            feed.comments.pop_front();
        }
        feed.comments.push_back(comment.clone());
        Ok(comment)
    }

    /// The room's audience, creating the room if needed (joining a room
    /// creates it, as posting does).
    pub(crate) fn live_or_create(&self, room_id: &str) -> Result<Arc<LiveRoom>, DemoError> {
        Ok(Arc::clone(&self.find_or_create(room_id)?.live))
    }

    /// The audience of an existing room.
    pub(crate) fn live(&self, room_id: &str) -> Option<Arc<LiveRoom>> {
        self.find(room_id).map(|room| Arc::clone(&room.live))
    }

    pub(crate) fn info(&self, room_id: &str) -> RoomView {
        let (last, retained, live) = match self.find(room_id) {
            Some(room) => {
                let feed = lock(&room.feed);
                (feed.last_id, feed.comments.len(), room.live.stats())
            }
            None => (0, 0, LiveStats::default()),
        };
        RoomView {
            id: room_id.to_owned(),
            comment_count: last,
            last_comment_id: last,
            retained,
            live,
        }
    }

    /// Comments with id > `since`, oldest first, at most `limit`.
    pub(crate) fn since(&self, room_id: &str, since: u64, limit: usize) -> CommentPage {
        let limit = limit.clamp(1, MAX_COMMENT_PAGE);
        let mut page = CommentPage {
            room: room_id.to_owned(),
            comments: Vec::new(),
            next_since: since,
            has_more: false,
            truncated: false,
        };
        let Some(room) = self.find(room_id) else {
            return page;
        };
        let feed = lock(&room.feed);
        let Some(first_id) = feed.comments.front().map(|c| c.id) else {
            return page;
        };
        page.truncated = since.saturating_add(1) < first_id;
        let start = usize::try_from(since.saturating_sub(first_id - 1)).unwrap_or(usize::MAX);
        page.comments = feed
            .comments
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect();
        if let Some(last) = page.comments.last() {
            page.next_since = last.id;
        }
        page.has_more = page.next_since < feed.last_id;
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post_n(rooms: &Rooms, room: &str, n: usize, clock: &Clock) {
        for i in 0..n {
            rooms
                .post(room, "u".into(), format!("c{i}"), clock)
                .unwrap();
        }
    }

    #[test]
    fn ids_increase_per_room_and_since_is_exclusive() {
        let clock = Clock::new();
        let rooms = Rooms::new();
        post_n(&rooms, "a", 30, &clock);
        post_n(&rooms, "b", 2, &clock);
        let page = rooms.since("a", 10, 50);
        let ids: Vec<u64> = page.comments.iter().map(|c| c.id).collect();
        assert_eq!(ids, (11..=30).collect::<Vec<_>>());
        assert_eq!(page.next_since, 30);
        assert!(!page.has_more && !page.truncated);
        assert_eq!(rooms.info("b").last_comment_id, 2);
    }

    #[test]
    fn eviction_keeps_ids_growing_and_flags_truncation() {
        let clock = Clock::new();
        let rooms = Rooms::with_limits(10, 5);
        post_n(&rooms, "a", 12, &clock);
        let info = rooms.info("a");
        assert_eq!((info.comment_count, info.retained), (12, 5));
        let page = rooms.since("a", 0, 50);
        assert!(page.truncated);
        assert_eq!(page.comments.first().map(|c| c.id), Some(8));
        let page = rooms.since("a", 9, 2);
        let ids: Vec<u64> = page.comments.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![10, 11]);
        assert!(page.has_more && !page.truncated);
        assert!(rooms.since("a", 12, 50).comments.is_empty());
        assert!(rooms.since("a", 99, 50).comments.is_empty());
        assert!(rooms.since("a", u64::MAX, 50).comments.is_empty());
    }

    #[test]
    fn room_cap_is_enforced_and_reads_do_not_create_rooms() {
        let clock = Clock::new();
        let rooms = Rooms::with_limits(2, 5);
        let _ = rooms.info("ghost");
        let _ = rooms.since("ghost", 0, 10);
        post_n(&rooms, "a", 1, &clock);
        post_n(&rooms, "b", 1, &clock);
        let err = rooms.post("c", "u".into(), "x".into(), &clock).unwrap_err();
        assert_eq!(err, DemoError::Capacity("room"));
        post_n(&rooms, "a", 1, &clock);
    }
}
