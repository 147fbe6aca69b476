//! The run's operation history as recorded (checkout attempts, tracking
//! polls, acknowledged comments), its JSON-lines file, and its export as a
//! Jepsen `set-full` history that elle-cli reads.
//!
//! Owns the record shapes and both file formats. Must not judge anything.

use serde::{Deserialize, Serialize};

use super::{Attempt, FinalState, Outcome};

/// One read of an order's tracking status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    pub order_id: String,
    pub status: String,
    pub session: u64,
    /// When the answer arrived, µs from the start of the run.
    pub at_us: u64,
}

/// One acknowledged comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub id: String,
    pub session: u64,
    pub at_us: u64,
}

/// Everything the ledger steps recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    pub checkouts: Vec<Attempt>,
    pub polls: Vec<Poll>,
    pub comments: Vec<Posted>,
}

impl Log {
    pub fn is_empty(&self) -> bool {
        self.checkouts.is_empty() && self.polls.is_empty() && self.comments.is_empty()
    }

    pub fn append(&mut self, other: &Log) {
        self.checkouts.extend_from_slice(&other.checkouts);
        self.polls.extend_from_slice(&other.polls);
        self.comments.extend_from_slice(&other.comments);
    }

    /// Put every record in the order it ended (lanes hand theirs over in
    /// batches).
    pub fn sort(&mut self) {
        self.checkouts
            .sort_by_key(|a| (a.at_us, a.session, a.attempt));
        self.polls.sort_by_key(|p| (p.at_us, p.session));
        self.comments.sort_by_key(|c| (c.at_us, c.session));
    }

    /// The polled statuses, order by order, in the order they were read.
    pub fn poll_pairs(&self) -> Vec<(String, String)> {
        let mut polls: Vec<&Poll> = self.polls.iter().collect();
        polls.sort_by_key(|p| p.at_us);
        polls
            .into_iter()
            .map(|p| (p.order_id.clone(), p.status.clone()))
            .collect()
    }
}

/// A line of the history file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Checkout(Attempt),
    Track(Poll),
    Comment(Posted),
}

impl Record {
    fn at_us(&self) -> u64 {
        match self {
            Record::Checkout(a) => a.at_us,
            Record::Track(p) => p.at_us,
            Record::Comment(c) => c.at_us,
        }
    }
}

/// One JSON object per line, one line per attempt, poll or comment, in
/// the order they ended; each names its `op`.
pub fn to_jsonl(log: &Log) -> String {
    let mut records: Vec<Record> = log
        .checkouts
        .iter()
        .cloned()
        .map(Record::Checkout)
        .chain(log.polls.iter().cloned().map(Record::Track))
        .chain(log.comments.iter().cloned().map(Record::Comment))
        .collect();
    records.sort_by_key(Record::at_us);
    let mut out = String::new();
    for r in &records {
        // Plain strings and integers: serialising cannot fail.
        if let Ok(line) = serde_json::to_string(r) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Read back what [`to_jsonl`] wrote; the line number of the first bad
/// line on error.
pub fn from_jsonl(text: &str) -> Result<Log, (usize, String)> {
    let mut log = Log::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line).map_err(|e| (i + 1, e.to_string()))? {
            Record::Checkout(a) => log.checkouts.push(a),
            Record::Track(p) => log.polls.push(p),
            Record::Comment(c) => log.comments.push(c),
        }
    }
    Ok(log)
}

/// The checkouts as a Jepsen `set-full` history (a JSON array of
/// operations) for `elle-cli --model set-full`: each attempt adds its
/// logical key, invoked when it was sent and completed `ok`, `fail` or
/// `info` (unknown) when it ended; the final read holds the keys of the
/// orders the platform listed. Every attempt is its own process, so an
/// `info` never leaves a process that goes on to issue more.
pub fn to_elle(log: &Log, state: Option<&FinalState>) -> String {
    struct Event<'a> {
        at_us: u64,
        process: usize,
        /// `invoke`, or how the attempt ended.
        kind: &'static str,
        key: &'a str,
    }
    let mut events: Vec<Event<'_>> = Vec::with_capacity(log.checkouts.len() * 2);
    for (i, a) in log.checkouts.iter().enumerate() {
        events.push(Event {
            at_us: a.started_us.min(a.at_us),
            process: i,
            kind: "invoke",
            key: &a.key,
        });
        events.push(Event {
            at_us: a.at_us,
            process: i,
            kind: match a.outcome {
                Outcome::Ok { .. } => "ok",
                Outcome::Fail => "fail",
                Outcome::Unknown => "info",
            },
            key: &a.key,
        });
    }
    // A stable sort by time: at one instant an attempt's invocation, pushed
    // first, stays ahead of its own completion.
    events.sort_by_key(|e| e.at_us);
    let mut lines: Vec<String> = Vec::with_capacity(events.len() + 2);
    let mut last_us = 0;
    for (index, e) in events.iter().enumerate() {
        last_us = last_us.max(e.at_us);
        lines.push(
            serde_json::json!({
                "type": e.kind,
                "f": "add",
                "value": e.key,
                "process": e.process,
                "time": e.at_us.saturating_mul(1000),
                "index": index,
            })
            .to_string(),
        );
    }
    if let Some(state) = state {
        let mut keys: Vec<&str> = state
            .orders
            .iter()
            .filter_map(|o| o.key.as_deref())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let reader = log.checkouts.len();
        let at = last_us.saturating_add(1).saturating_mul(1000);
        let n = lines.len();
        lines.push(
            serde_json::json!({"type": "invoke", "f": "read", "value": null,
                "process": reader, "time": at, "index": n})
            .to_string(),
        );
        lines.push(
            serde_json::json!({"type": "ok", "f": "read", "value": keys,
                "process": reader, "time": at + 1000, "index": n + 1})
            .to_string(),
        );
    }
    format!("[{}]\n", lines.join(",\n"))
}
