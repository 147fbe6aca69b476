//! The demo platform's clock: monotonic `tokio::time` instants for every
//! decision, wall-clock strings only for display.
//!
//! Owns the mapping instant → RFC 3339 timestamp. It must not be bypassed
//! with `std::time::Instant` or `chrono::Utc::now()` elsewhere in the demo,
//! or paused-time tests and ordering guarantees break.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::time::Instant;

/// A monotonic clock anchored once to wall time, so displayed timestamps
/// never go backwards and follow tokio's (possibly paused) time.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    wall0: DateTime<Utc>,
    mono0: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            wall0: Utc::now(),
            mono0: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::now()
    }

    /// RFC 3339 (UTC, milliseconds) for a monotonic instant.
    pub(crate) fn rfc3339(&self, at: Instant) -> String {
        let since = at.saturating_duration_since(self.mono0);
        let wall = chrono::Duration::from_std(since)
            .ok()
            .and_then(|d| self.wall0.checked_add_signed(d))
            .unwrap_or(self.wall0);
        wall.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// RFC 3339 for `at + offset`, used for projected tracking times.
    pub(crate) fn rfc3339_after(&self, at: Instant, offset: Duration) -> String {
        self.rfc3339(at.checked_add(offset).unwrap_or(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timestamps_follow_paused_tokio_time() {
        let clock = Clock::new();
        let t0 = clock.now();
        let a = clock.rfc3339(t0);
        tokio::time::advance(Duration::from_secs(3)).await;
        let b = clock.rfc3339(clock.now());
        assert!(b > a, "{b} should be after {a}");
        assert_eq!(clock.rfc3339_after(t0, Duration::from_secs(3)), b);
    }
}
