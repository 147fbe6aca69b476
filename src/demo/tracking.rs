//! Order tracking: which status an order has reached and when each status
//! began, derived purely from the time elapsed since it was placed.
//!
//! Owns the status sequence and the time → status function. Because status
//! is a function of monotonic time, it cannot regress. It must not store
//! per-order state or read the clock itself; callers pass the instants.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::clock::Clock;

/// Lifecycle of a shipped order, in the only order it can move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    /// Order accepted.
    Placed,
    /// Payment captured.
    Paid,
    /// Packed in the warehouse.
    Packed,
    /// Handed to the carrier.
    Shipped,
    /// Moving through the carrier's network.
    InTransit,
    /// With the courier for the last mile.
    OutForDelivery,
    /// Delivered; final.
    Delivered,
}

impl TrackingStatus {
    /// Every status, first to last.
    pub const ALL: [TrackingStatus; 7] = [
        TrackingStatus::Placed,
        TrackingStatus::Paid,
        TrackingStatus::Packed,
        TrackingStatus::Shipped,
        TrackingStatus::InTransit,
        TrackingStatus::OutForDelivery,
        TrackingStatus::Delivered,
    ];

    /// The wire name, as used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::Placed => "placed",
            TrackingStatus::Paid => "paid",
            TrackingStatus::Packed => "packed",
            TrackingStatus::Shipped => "shipped",
            TrackingStatus::InTransit => "in_transit",
            TrackingStatus::OutForDelivery => "out_for_delivery",
            TrackingStatus::Delivered => "delivered",
        }
    }
}

/// How many steps past `Placed` an order is after `elapsed`. A zero step
/// means "deliver instantly" rather than a division by zero.
fn steps_done(elapsed: Duration, step: Duration) -> usize {
    let last = TrackingStatus::ALL.len() - 1;
    if step.is_zero() {
        return last;
    }
    let steps = elapsed.as_nanos() / step.as_nanos();
    usize::try_from(steps).unwrap_or(last).min(last)
}

/// Status of an order placed at `placed` when observed at `now`.
pub fn status_at(placed: Instant, now: Instant, step: Duration) -> TrackingStatus {
    TrackingStatus::ALL[steps_done(now.saturating_duration_since(placed), step)]
}

/// One reached status and when it began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TrackingEvent {
    pub(crate) status: TrackingStatus,
    pub(crate) at: String,
}

/// `GET /api/orders/{id}/tracking` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TrackingView {
    pub(crate) order_id: String,
    pub(crate) status: TrackingStatus,
    pub(crate) history: Vec<TrackingEvent>,
    /// When the next status is due; absent once delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_status_at: Option<String>,
}

/// Builds the tracking view; history lists every reached status with its
/// projected start time, oldest first.
pub(crate) fn view(
    order_id: String,
    placed: Instant,
    now: Instant,
    step: Duration,
    clock: &Clock,
) -> TrackingView {
    let done = steps_done(now.saturating_duration_since(placed), step);
    let at = |k: usize| clock.rfc3339_after(placed, step.saturating_mul(k as u32));
    let history = TrackingStatus::ALL[..=done]
        .iter()
        .enumerate()
        .map(|(k, status)| TrackingEvent {
            status: *status,
            at: at(k),
        })
        .collect();
    let next_status_at = (done + 1 < TrackingStatus::ALL.len()).then(|| at(done + 1));
    TrackingView {
        order_id,
        status: TrackingStatus::ALL[done],
        history,
        next_status_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn status_advances_one_step_per_interval_and_stops_at_delivered() {
        let placed = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..20 {
            seen.push(status_at(placed, Instant::now(), STEP));
            tokio::time::advance(Duration::from_millis(700)).await;
        }
        assert_eq!(seen[0], TrackingStatus::Placed);
        assert_eq!(seen[3], TrackingStatus::Paid); // 2.1 s
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "regressed: {seen:?}");
        assert_eq!(*seen.last().unwrap(), TrackingStatus::Delivered);
    }

    #[tokio::test(start_paused = true)]
    async fn history_lists_every_reached_status_in_order() {
        let clock = Clock::new();
        let placed = clock.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        let v = view("o-1".into(), placed, clock.now(), STEP, &clock);
        assert_eq!(v.status, TrackingStatus::Packed);
        let statuses: Vec<_> = v.history.iter().map(|e| e.status).collect();
        assert_eq!(statuses, TrackingStatus::ALL[..3]);
        assert!(v.history.windows(2).all(|w| w[0].at < w[1].at));
        assert!(v.next_status_at.is_some());
        tokio::time::advance(Duration::from_secs(60)).await;
        let v = view("o-1".into(), placed, clock.now(), STEP, &clock);
        assert_eq!(v.status, TrackingStatus::Delivered);
        assert_eq!(v.history.len(), 7);
        assert!(v.next_status_at.is_none());
    }

    #[test]
    fn zero_step_delivers_immediately() {
        let now = Instant::now();
        assert_eq!(
            status_at(now, now, Duration::ZERO),
            TrackingStatus::Delivered
        );
    }
}
