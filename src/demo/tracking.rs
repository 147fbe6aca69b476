//! Order tracking: which status an order has reached and when each status
//! began, derived purely from the time elapsed since it was placed.
//!
//! Owns the status sequence and the time → status function. Because status
//! is a function of monotonic time, it cannot regress, except where the
//! seeded tracking-regress fault makes one read report an earlier status
//! (a stale read: the whole view, history included, is as it was then). It
//! must not store per-order state or read the clock itself; callers pass
//! the instants.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::clock::Clock;
use super::faults::FaultDice;

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

/// Steps past `Placed` that one read of an order reports at `now`: those
/// reached, fewer when the seeded tracking-regress fault fires for this
/// read, never fewer than zero.
pub(crate) fn reported_steps(
    placed: Instant,
    now: Instant,
    step: Duration,
    dice: &FaultDice,
) -> usize {
    let reached = steps_done(now.saturating_duration_since(placed), step);
    reached - dice.regress_steps(reached).min(reached)
}

/// The status `steps` past `Placed` (`Delivered` beyond the last).
pub(crate) fn status_after(steps: usize) -> TrackingStatus {
    TrackingStatus::ALL[steps.min(TrackingStatus::ALL.len() - 1)]
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

/// Builds the tracking view of an order `steps` past `Placed` (see
/// [`reported_steps`]); history lists every status up to it with its
/// projected start time, oldest first.
pub(crate) fn view(
    order_id: String,
    placed: Instant,
    steps: usize,
    step: Duration,
    clock: &Clock,
) -> TrackingView {
    let done = steps.min(TrackingStatus::ALL.len() - 1);
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

    fn dice(tracking_regress: f64) -> FaultDice {
        FaultDice::new(
            crate::demo::faults::Faults {
                tracking_regress,
                ..Default::default()
            },
            0,
        )
    }

    /// Statuses of `reads` reads of one order at the current time.
    fn reads(placed: Instant, dice: &FaultDice, reads: usize) -> Vec<TrackingStatus> {
        (0..reads)
            .map(|_| status_after(reported_steps(placed, Instant::now(), STEP, dice)))
            .collect()
    }

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
        let steps = reported_steps(placed, clock.now(), STEP, &dice(0.0));
        let v = view("o-1".into(), placed, steps, STEP, &clock);
        assert_eq!(v.status, TrackingStatus::Packed);
        let statuses: Vec<_> = v.history.iter().map(|e| e.status).collect();
        assert_eq!(statuses, TrackingStatus::ALL[..3]);
        assert!(v.history.windows(2).all(|w| w[0].at < w[1].at));
        assert!(v.next_status_at.is_some());
        tokio::time::advance(Duration::from_secs(60)).await;
        let steps = reported_steps(placed, clock.now(), STEP, &dice(0.0));
        let v = view("o-1".into(), placed, steps, STEP, &clock);
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

    #[tokio::test(start_paused = true)]
    async fn tracking_regress_reports_an_earlier_status_on_some_reads_only() {
        let placed = Instant::now();
        tokio::time::advance(Duration::from_secs(7)).await; // shipped
        let faulty = reads(placed, &dice(0.05), 400);
        let behind = faulty
            .iter()
            .filter(|&&s| s < TrackingStatus::Shipped)
            .count();
        assert!((5..50).contains(&behind), "{behind} of 400 reads behind");
        assert!(faulty.iter().all(|&s| s <= TrackingStatus::Shipped));
        assert!(faulty.contains(&TrackingStatus::Shipped));
        let honest = reads(placed, &dice(0.0), 400);
        assert!(honest.iter().all(|&s| s == TrackingStatus::Shipped));
    }

    #[tokio::test(start_paused = true)]
    async fn tracking_regress_is_seeded_and_never_goes_below_placed() {
        let placed = Instant::now();
        let at_placed = reads(placed, &dice(1.0), 50);
        assert!(at_placed.iter().all(|&s| s == TrackingStatus::Placed));
        tokio::time::advance(Duration::from_secs(60)).await; // delivered
        let a = reads(placed, &dice(1.0), 300);
        assert!(a.iter().all(|&s| s < TrackingStatus::Delivered));
        assert!(a.contains(&TrackingStatus::Placed), "goes back all the way");
        assert_eq!(a, reads(placed, &dice(1.0), 300), "same seed, same reads");
    }

    #[tokio::test(start_paused = true)]
    async fn a_regressed_view_is_the_whole_earlier_view() {
        let clock = Clock::new();
        let placed = clock.now();
        tokio::time::advance(Duration::from_secs(9)).await; // in transit
        let v = view("o-1".into(), placed, 1, STEP, &clock);
        assert_eq!(v.status, TrackingStatus::Paid);
        assert_eq!(v.history.len(), 2);
        assert!(v.next_status_at.is_some());
    }
}
