//! WebSocket metrics of one step key: fan-out delivery of the messages a
//! `send` step sent (latency, expected vs received, duplicates, order), and
//! the life of the sockets a `ws` connect step opened (reconnects, how they
//! closed, what arrived on them).
//!
//! Owns the counters and their exact merge. Must not decode messages or
//! decide verdicts.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{latency_histogram, record_clamped, MergeError};

/// WebSocket counters and the fan-out histogram of one (phase, step).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WsStats {
    // ---- messages a `send` step sent
    /// Tracked messages sent.
    pub messages: u64,
    /// Deliveries expected: for each message, the other sockets of its room
    /// that were open when it was sent.
    pub expected: u64,
    /// Distinct deliveries received by the other sockets.
    pub received: u64,
    /// A socket got the same message more than once.
    pub duplicates: u64,
    /// A message arrived after one sent at least [`OUT_OF_ORDER_SLACK_US`]
    /// later.
    pub out_of_order: u64,
    /// The sender got its own message back (not counted as a delivery).
    pub echoes: u64,
    /// A socket got a message sent while it was not in the room (before it
    /// joined or after it left); not counted as a delivery.
    pub unexpected: u64,
    /// Receive time minus intended send time, µs, per delivery.
    #[serde(with = "super::wire::hist")]
    pub fanout: Histogram<u64>,
    // ---- sockets a `ws` step opened
    /// Connections opened again after the socket closed or failed.
    pub reconnects: u64,
    /// Sockets the server closed with a close frame, by close code.
    pub closed_by_server: BTreeMap<u16, u64>,
    /// Sockets that broke without a close frame (reset, EOF, protocol
    /// error).
    pub broken: u64,
    /// Messages received on these sockets, tracked or not.
    pub messages_in: u64,
}

/// How much earlier a message may have been sent than one already received
/// before its late arrival counts as out of order. Messages sent at nearly
/// the same moment by different viewers reach the server in either order;
/// that is not a fault of the platform.
pub const OUT_OF_ORDER_SLACK_US: u64 = 1_000;

impl Default for WsStats {
    fn default() -> Self {
        WsStats {
            messages: 0,
            expected: 0,
            received: 0,
            duplicates: 0,
            out_of_order: 0,
            echoes: 0,
            unexpected: 0,
            fanout: latency_histogram(),
            reconnects: 0,
            closed_by_server: BTreeMap::new(),
            broken: 0,
            messages_in: 0,
        }
    }
}

impl WsStats {
    /// A tracked message was sent while `others` other sockets of its room
    /// were open.
    pub fn note_sent(&mut self, others: u64) {
        self.messages += 1;
        self.expected += others;
    }

    /// A delivery arrived `latency_us` after its intended send time.
    pub fn note_delivery(&mut self, latency_us: u64, out_of_order: bool) {
        self.received += 1;
        self.out_of_order += u64::from(out_of_order);
        record_clamped(&mut self.fanout, latency_us);
    }

    /// Received deliveries over expected ones; `None` before any message
    /// had a receiver.
    pub fn delivery_ratio(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.received as f64 / self.expected as f64)
    }

    /// Whether anything WebSocket-related was recorded here.
    pub fn is_empty(&self) -> bool {
        self.messages == 0
            && self.received == 0
            && self.duplicates == 0
            && self.echoes == 0
            && self.unexpected == 0
            && self.reconnects == 0
            && self.closed_by_server.is_empty()
            && self.broken == 0
            && self.messages_in == 0
    }

    /// Add another key's counters and samples exactly.
    pub fn merge(&mut self, o: &WsStats) -> Result<(), MergeError> {
        self.fanout
            .add(&o.fanout)
            .map_err(|e| MergeError(format!("{e:?}")))?;
        self.messages += o.messages;
        self.expected += o.expected;
        self.received += o.received;
        self.duplicates += o.duplicates;
        self.out_of_order += o.out_of_order;
        self.echoes += o.echoes;
        self.unexpected += o.unexpected;
        self.reconnects += o.reconnects;
        for (code, n) in &o.closed_by_server {
            *self.closed_by_server.entry(*code).or_default() += n;
        }
        self.broken += o.broken;
        self.messages_in += o.messages_in;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_fanout_counts_and_ratio_add_up() {
        let mut a = WsStats::default();
        a.note_sent(3);
        a.note_delivery(1_000, false);
        a.note_delivery(2_000, true);
        a.closed_by_server.insert(1012, 2);
        let mut b = WsStats::default();
        b.note_sent(3);
        for _ in 0..4 {
            b.note_delivery(3_000, false);
        }
        b.closed_by_server.insert(1012, 1);
        b.closed_by_server.insert(1001, 1);
        a.merge(&b).unwrap();
        assert_eq!((a.messages, a.expected, a.received), (2, 6, 6));
        assert_eq!(a.out_of_order, 1);
        assert_eq!(a.fanout.len(), 6);
        assert_eq!(a.delivery_ratio(), Some(1.0));
        assert_eq!(a.closed_by_server.get(&1012), Some(&3));
        assert_eq!(a.closed_by_server.get(&1001), Some(&1));
    }

    #[test]
    fn no_receivers_means_no_ratio() {
        let mut s = WsStats::default();
        s.note_sent(0);
        assert_eq!(s.delivery_ratio(), None);
        assert!(!s.is_empty());
    }
}
