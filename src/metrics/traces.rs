//! The slowest sampled requests of each step key, by trace id, so a report
//! can point at them in the target's tracing backend.
//!
//! Owns keeping the top few by latency and merging lists. Must not decide
//! which requests are sampled or format reports.

use serde::{Deserialize, Serialize};

use super::split::Split;
use super::Outcome;

/// One sampled request, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowTrace {
    /// W3C trace id, 32 lower-case hex digits.
    pub trace_id: String,
    /// The client span's id, 16 hex digits: the parent of the target's
    /// server span.
    pub span_id: String,
    /// From the intended start, as every latency in the report.
    pub latency_us: u64,
    pub attempt: u32,
    /// The answer's status; `None` without an answer.
    pub status: Option<u16>,
    /// What went wrong (`status`, `check`, `timeout`, ...); `None` when
    /// the request succeeded.
    pub error: Option<String>,
}

impl SlowTrace {
    pub fn new(
        trace_id: String,
        span_id: String,
        latency_us: u64,
        attempt: u32,
        o: Outcome,
    ) -> Self {
        let status = match o {
            Outcome::Ok { status }
            | Outcome::BadStatus { status }
            | Outcome::CheckFailed { status } => Some(status),
            _ => None,
        };
        let error = Split::slot(o)
            .and_then(|s| Split::label(s).1)
            .map(str::to_owned);
        SlowTrace {
            trace_id,
            span_id,
            latency_us,
            attempt,
            status,
            error,
        }
    }
}

/// Whether a request `latency_us` long would make a list of `keep`.
pub fn qualifies(list: &[SlowTrace], latency_us: u64, keep: usize) -> bool {
    keep > 0 && (list.len() < keep || list.last().is_some_and(|l| latency_us > l.latency_us))
}

/// Put `t` into `list` (slowest first), keeping at most `keep`.
pub fn keep_slowest(list: &mut Vec<SlowTrace>, t: SlowTrace, keep: usize) {
    if !qualifies(list, t.latency_us, keep) {
        return;
    }
    let at = list.partition_point(|l| l.latency_us >= t.latency_us);
    list.insert(at, t);
    list.truncate(keep);
}

/// Merge `other` into `list`, keeping the slowest `keep` (ties: first
/// come, so a merge in a fixed order gives a fixed list).
pub fn merge_slowest(list: &mut Vec<SlowTrace>, other: &[SlowTrace], keep: usize) {
    for t in other {
        keep_slowest(list, t.clone(), keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, latency_us: u64) -> SlowTrace {
        SlowTrace::new(
            id.into(),
            "s".into(),
            latency_us,
            1,
            Outcome::Ok { status: 200 },
        )
    }

    #[test]
    fn only_the_slowest_few_are_kept_slowest_first() {
        let mut list = Vec::new();
        for (i, l) in [5, 90, 30, 70, 10, 90].into_iter().enumerate() {
            keep_slowest(&mut list, t(&i.to_string(), l), 3);
        }
        let got: Vec<(String, u64)> = list
            .iter()
            .map(|x| (x.trace_id.clone(), x.latency_us))
            .collect();
        assert_eq!(got, [("1".into(), 90), ("5".into(), 90), ("3".into(), 70)]);
        let mut other = vec![t("x", 80)];
        merge_slowest(&mut other, &list, 2);
        assert_eq!(
            other.iter().map(|x| x.latency_us).collect::<Vec<_>>(),
            [90, 90]
        );
        assert!(!qualifies(&other, 50, 2));
        assert!(!qualifies(&[], 50, 0));
    }

    #[test]
    fn an_error_is_named_and_its_status_kept() {
        let e = SlowTrace::new(
            "a".into(),
            "b".into(),
            1,
            2,
            Outcome::BadStatus { status: 503 },
        );
        assert_eq!((e.status, e.error.as_deref()), (Some(503), Some("status")));
        let t = SlowTrace::new("a".into(), "b".into(), 1, 1, Outcome::Timeout);
        assert_eq!((t.status, t.error.as_deref()), (None, Some("timeout")));
    }
}
