//! Fan-out tracking: the id flashcrowd puts in every tracked WebSocket
//! message, the rooms that say which sockets should receive it, and each
//! receiving socket's memory of what it has already seen.
//!
//! A tracked message carries `"<track>":"fc1.<run>.<key>.<seq>.<sent>.<from>"`
//! where `run` tells this run's messages from any other traffic, `key` is
//! the sending step's metric key, `seq` the message's number within its
//! room, `sent` its intended send time in µs since the run started and
//! `from` the sending session. Receivers find the field by searching the
//! raw text, so it works whatever envelope the platform wraps around the
//! payload, as long as it passes the field through.
//!
//! Owns the marker's format and the duplicate/order bookkeeping. Must not
//! touch sockets or the clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memchr::memmem;

use crate::metrics::OUT_OF_ORDER_SLACK_US;

/// Version prefix of the marker value.
const PREFIX: &str = "fc1.";

/// The sockets of one room, as this run sees them.
///
/// Joining, leaving and numbering a message take one short lock, so every
/// message's count of receivers and every socket's window of messages it
/// should get agree exactly: a socket expects message `seq` if and only if
/// the sender counted it. Taken per connect, per leave and per tracked
/// message sent, never per message received.
#[derive(Debug, Default)]
pub(crate) struct Room(Mutex<RoomState>, Arc<AtomicU64>);

#[derive(Debug, Default)]
struct RoomState {
    /// Sockets open (handshake done, not yet closing) right now.
    members: u64,
    /// Tracked messages sent to the room so far (the last seq).
    sent: u64,
}

impl Room {
    fn state(&self) -> std::sync::MutexGuard<'_, RoomState> {
        // Plain counters: still consistent if a holder panicked.
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A member joined; returns the first message seq it should receive.
    pub fn join(&self) -> u64 {
        let mut st = self.state();
        st.members += 1;
        self.1.fetch_add(1, Ordering::Relaxed);
        st.sent + 1
    }

    /// A member left; returns the last message seq it should receive.
    pub fn leave(&self) -> u64 {
        let mut st = self.state();
        if st.members > 0 {
            self.1.fetch_sub(1, Ordering::Relaxed);
        }
        st.members = st.members.saturating_sub(1);
        st.sent
    }

    /// Number the next message and say how many other members should get
    /// it (`sender_in`: whether the sender itself is a member).
    pub fn next_message(&self, sender_in: bool) -> (u64, u64) {
        let mut st = self.state();
        st.sent += 1;
        (st.sent, st.members.saturating_sub(u64::from(sender_in)))
    }
}

/// Every room of a run by name, and one marker finder per tracking field
/// name, shared by all sockets. Looked up once per connect, never per
/// message.
#[derive(Default)]
pub(crate) struct Rooms {
    by_name: Mutex<HashMap<String, Arc<Room>>>,
    finders: Mutex<HashMap<String, Arc<Finder>>>,
    /// Sockets open in every room together (a live gauge).
    open: Arc<AtomicU64>,
}

impl Rooms {
    pub fn get(&self, name: &str) -> Arc<Room> {
        shared_entry(&self.by_name, name, || {
            Room(Mutex::default(), self.open.clone())
        })
    }

    /// WebSocket connections open right now, over every room.
    pub fn open_sockets(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// The finder for `track` in run `run` (a run has one tag, so the
    /// field name is the key).
    pub fn finder(&self, track: &str, run: u32) -> Arc<Finder> {
        shared_entry(&self.finders, track, || Finder::new(track, run))
    }
}

fn shared_entry<T>(
    map: &Mutex<HashMap<String, Arc<T>>>,
    key: &str,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    // A poisoned map only means another session panicked mid-insert; the
    // map itself is still consistent.
    let mut map = match map.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    if let Some(v) = map.get(key) {
        return v.clone();
    }
    let v = Arc::new(make());
    map.insert(key.to_owned(), v.clone());
    v
}

/// A decoded marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    pub key: u32,
    pub seq: u64,
    pub sent_us: u64,
    pub from: u64,
}

/// Append `,"<track>":"fc1...."` to a rendered JSON object (or fill `{}`).
/// Returns false if `json` is not an object.
pub(crate) fn stamp(json: &mut Vec<u8>, track: &str, run: u32, m: Marker) -> bool {
    if json.last() != Some(&b'}') {
        return false;
    }
    json.pop();
    let empty = json.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !empty {
        json.push(b',');
    }
    json.push(b'"');
    json.extend_from_slice(track.as_bytes());
    json.extend_from_slice(b"\":\"");
    json.extend_from_slice(PREFIX.as_bytes());
    for (i, n) in [u64::from(run), u64::from(m.key), m.seq, m.sent_us, m.from]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            json.push(b'.');
        }
        push_hex(json, n);
    }
    json.extend_from_slice(b"\"}");
    true
}

fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Finds this run's markers in received text.
pub(crate) struct Finder {
    needle: memmem::Finder<'static>,
    run: u32,
}

impl Finder {
    pub fn new(track: &str, run: u32) -> Self {
        let needle = format!("\"{track}\":\"{PREFIX}");
        Finder {
            needle: memmem::Finder::new(needle.as_bytes()).into_owned(),
            run,
        }
    }

    /// The marker of this run in `text`, if any.
    pub fn find(&self, text: &[u8]) -> Option<Marker> {
        let at = self.needle.find(text)? + self.needle.needle().len();
        let rest = text.get(at..)?;
        let end = memchr::memchr(b'"', rest)?;
        let mut parts = rest[..end].split(|&b| b == b'.').map(parse_hex);
        let run = parts.next()??;
        let key = parts.next()??;
        let seq = parts.next()??;
        let sent_us = parts.next()??;
        let from = parts.next()??;
        if parts.next().is_some() || run != u64::from(self.run) {
            return None;
        }
        Some(Marker {
            key: u32::try_from(key).ok()?,
            seq,
            sent_us,
            from,
        })
    }
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc << 4 | u64::from(d))
    })
}

/// What one receiving socket remembers: enough to recognise a duplicate
/// among the last [`WINDOW`] messages of its room, and the latest send time
/// seen for ordering. About 40 bytes, whatever the traffic.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    highest: u64,
    /// Bit i: message `highest - i` has arrived.
    window: u128,
    latest_sent_us: u64,
}

/// Messages a socket remembers individually.
pub(crate) const WINDOW: u64 = 128;

/// How a received message relates to what the socket saw before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    First { out_of_order: bool },
    Duplicate,
}

impl Seen {
    pub fn note(&mut self, seq: u64, sent_us: u64) -> Arrival {
        let out_of_order = sent_us.saturating_add(OUT_OF_ORDER_SLACK_US) < self.latest_sent_us;
        self.latest_sent_us = self.latest_sent_us.max(sent_us);
        if seq > self.highest {
            let shift = seq - self.highest;
            self.window = if shift >= WINDOW {
                0
            } else {
                self.window << shift
            };
            self.window |= 1;
            self.highest = seq;
            return Arrival::First { out_of_order };
        }
        let back = self.highest - seq;
        if back >= WINDOW {
            // Too old to remember: count it as a first, late arrival.
            return Arrival::First { out_of_order: true };
        }
        let bit = 1u128 << back;
        if self.window & bit != 0 {
            return Arrival::Duplicate;
        }
        self.window |= bit;
        Arrival::First { out_of_order }
    }

    /// Forget everything (a new connection may be in another room).
    pub fn reset(&mut self) {
        *self = Seen::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(seq: u64) -> Marker {
        Marker {
            key: 7,
            seq,
            sent_us: 1_234_567,
            from: 42,
        }
    }

    #[test]
    fn a_stamped_object_stays_json_and_its_marker_is_found_again() {
        let mut json = br#"{"type":"comment","text":"hi"}"#.to_vec();
        assert!(stamp(&mut json, "fc", 0xbeef, marker(9)));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["type"], "comment");
        assert!(v["fc"].as_str().unwrap().starts_with("fc1.beef."));
        // Wrapped by a platform in an envelope of its own.
        let wrapped = format!(
            r#"{{"seq":3,"payload":{}}}"#,
            String::from_utf8(json).unwrap()
        );
        let f = Finder::new("fc", 0xbeef);
        assert_eq!(f.find(wrapped.as_bytes()), Some(marker(9)));
        // Another run's marker is not ours.
        assert_eq!(Finder::new("fc", 0xbeee).find(wrapped.as_bytes()), None);
    }

    #[test]
    fn an_empty_object_gets_just_the_marker() {
        let mut json = b"{}".to_vec();
        assert!(stamp(&mut json, "t", 1, marker(1)));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
        let mut text = b"\"not an object\"".to_vec();
        assert!(!stamp(&mut text, "t", 1, marker(1)));
    }

    #[test]
    fn garbled_markers_are_ignored() {
        let f = Finder::new("fc", 1);
        for text in [
            r#"{"fc":"fc1.1.7.9"}"#,
            r#"{"fc":"fc1.1.7.9.1.2.3"}"#,
            r#"{"fc":"fc1.1.7.zz.1.2"}"#,
            r#"{"fc":"fc1.1.7.9.1.2"#,
            r#"{"fc":"fc1.1.7.11111111111111111.1.2"}"#,
        ] {
            assert_eq!(f.find(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn duplicates_within_the_window_are_recognised() {
        let mut s = Seen::default();
        assert_eq!(
            s.note(1, 100),
            Arrival::First {
                out_of_order: false
            }
        );
        assert_eq!(
            s.note(3, 300),
            Arrival::First {
                out_of_order: false
            }
        );
        assert_eq!(s.note(3, 300), Arrival::Duplicate);
        // 2 was sent only 100 µs before 3: concurrent, not out of order.
        assert_eq!(
            s.note(2, 200),
            Arrival::First {
                out_of_order: false
            }
        );
        assert_eq!(s.note(2, 200), Arrival::Duplicate);
        assert_eq!(s.note(1, 100), Arrival::Duplicate);
        // Sent 5 ms before the latest one seen: out of order.
        assert_eq!(
            s.note(200, 10_000),
            Arrival::First {
                out_of_order: false
            }
        );
        assert_eq!(s.note(199, 5_000), Arrival::First { out_of_order: true });
        // Beyond the window: counted once more, as late.
        assert_eq!(s.note(3, 300), Arrival::First { out_of_order: true });
    }

    #[test]
    fn rooms_count_the_other_members() {
        let rooms = Rooms::default();
        let r = rooms.get("live-1");
        assert_eq!(r.join(), 1);
        r.join();
        r.join();
        assert!(Arc::ptr_eq(&r, &rooms.get("live-1")));
        assert_eq!(r.next_message(true), (1, 2));
        // Leaving after message 1: it was the last one this member expects.
        assert_eq!(r.leave(), 1);
        assert_eq!(r.next_message(false), (2, 2));
        // A late joiner expects messages from 3 on.
        assert_eq!(r.join(), 3);
        assert_eq!(rooms.get("other").next_message(false), (1, 0));
        rooms.get("other").join();
        // Three members of live-1 and one of other are open.
        assert_eq!(rooms.open_sockets(), 4);
    }
}
