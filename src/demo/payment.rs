//! The payment stage: a fixed number of concurrent authorisations, each
//! taking a fixed time.
//!
//! Owns the demo's deliberate bottleneck. With `slots` slots and `latency`
//! per authorisation, checkout throughput tops out near `slots / latency`,
//! and queueing beyond that shows up as checkout latency, which is what a
//! load test should be able to see. It must not know about stock or orders.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::error::DemoError;

/// Slots and per-authorisation latency.
#[derive(Debug)]
pub(crate) struct Payment {
    /// `None` means unlimited concurrency.
    slots: Option<Arc<Semaphore>>,
    latency: Duration,
}

impl Payment {
    pub(crate) fn new(slots: usize, latency: Duration) -> Self {
        Payment {
            // Clamped because the semaphore panics above its maximum.
            slots: (slots > 0).then(|| Arc::new(Semaphore::new(slots.min(Semaphore::MAX_PERMITS)))),
            latency,
        }
    }

    /// Waits for a slot (FIFO, tokio's semaphore is fair), then holds it for
    /// the authorisation time.
    pub(crate) async fn authorise(&self) -> Result<(), DemoError> {
        let _permit = match &self.slots {
            Some(slots) => Some(
                slots
                    .acquire()
                    .await
                    .map_err(|_| DemoError::Internal("payment stage closed"))?,
            ),
            None => None,
        };
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// Time for 10 concurrent authorisations of 50 ms each with `slots`.
    async fn ten_authorisations(slots: usize) -> Duration {
        let payment = Arc::new(Payment::new(slots, Duration::from_millis(50)));
        let start = Instant::now();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let p = Arc::clone(&payment);
                tokio::spawn(async move { p.authorise().await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn throughput_is_slots_over_latency() {
        // 10 authorisations, 2 at a time, 50 ms each: 5 rounds.
        assert_eq!(ten_authorisations(2).await, Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_slots_means_unlimited() {
        assert_eq!(ten_authorisations(0).await, Duration::from_millis(50));
    }
}
