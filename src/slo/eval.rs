//! Judging SLOs against merged run metrics.
//!
//! Owns what "observed" means for each metric and the rule that nothing
//! passes on zero samples. Input is whatever the caller measured, already
//! merged per (phase, step); output is one result per objective (the
//! verdict over them is `verdict`'s).
//! Must not do I/O or read clocks.

use std::time::Duration;

use super::{Metric, Selector, Slo};
use crate::metrics::{StepStats, WsStats};

/// How one objective came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloStatus {
    Pass,
    Fail,
    /// No request matched, so nothing can be claimed.
    NoData,
}

/// One objective with what was observed.
#[derive(Debug, Clone)]
pub struct SloResult {
    pub slo: Slo,
    /// In the metric's display unit ([`Metric::unit`]); `None` without data.
    pub observed: Option<f64>,
    /// Threshold in the display unit.
    pub threshold: f64,
    pub status: SloStatus,
    /// Requests the objective looked at.
    pub samples: u64,
}

/// A measured (phase, step) as the evaluator sees it.
pub struct StepView<'a> {
    pub phase: &'a str,
    pub step: &'a str,
    /// `None` when the scenario names no regions.
    pub region: Option<&'a str>,
    pub stats: &'a StepStats,
    /// WebSocket deliveries of the step, for fan-out objectives.
    pub ws: &'a WsStats,
    /// How long the step's phase actually ran (for throughput).
    pub active: Duration,
}

/// Judge every objective.
pub fn evaluate(slos: &[Slo], steps: &[StepView<'_>]) -> Vec<SloResult> {
    slos.iter().map(|slo| evaluate_one(slo, steps)).collect()
}

fn matches(slo: &Slo, v: &StepView<'_>) -> bool {
    if let Some(r) = &slo.region {
        if v.region != Some(r.as_str()) {
            return false;
        }
    }
    match &slo.selector {
        Selector::All => true,
        Selector::Step(s) => v.step == s,
        Selector::PhaseStep(p, s) => v.phase == p && v.step == s,
    }
}

fn evaluate_one(slo: &Slo, steps: &[StepView<'_>]) -> SloResult {
    let mut merged = StepStats::default();
    let mut ws = WsStats::default();
    let mut active = Duration::ZERO;
    let mut phases_seen: Vec<&str> = Vec::new();
    for v in steps.iter().filter(|v| matches(slo, v)) {
        // A failed merge cannot happen between histograms made by the same
        // constructor; if it did, the sample count below would show it.
        let _ = merged.merge(v.stats);
        let _ = ws.merge(v.ws);
        if !phases_seen.contains(&v.phase) {
            phases_seen.push(v.phase);
            active += v.active;
        }
    }
    if slo.metric.is_fanout() {
        return fanout(slo, &ws);
    }
    let sent = merged.counts.sent;
    let h = &merged.latency;
    let observed = match slo.metric {
        _ if sent == 0 => None,
        Metric::Percentile(q) if !h.is_empty() => Some(h.value_at_quantile(q / 100.0) as f64),
        Metric::Mean if !h.is_empty() => Some(h.mean()),
        Metric::Min if !h.is_empty() => Some(h.min() as f64),
        Metric::Max if !h.is_empty() => Some(h.max() as f64),
        Metric::ErrorRate => Some(merged.counts.errors as f64 / sent as f64),
        Metric::Throughput if !active.is_zero() => Some(sent as f64 / active.as_secs_f64()),
        Metric::Count => Some(sent as f64),
        Metric::Ok => Some(merged.counts.ok as f64),
        _ => None,
    };
    judged(slo, observed, sent)
}

/// A fan-out objective: over the deliveries of the selected `send` steps.
/// Nothing to judge until some message had a receiver.
fn fanout(slo: &Slo, ws: &WsStats) -> SloResult {
    let h = &ws.fanout;
    let observed = match slo.metric {
        _ if ws.expected == 0 => None,
        Metric::FanoutPercentile(q) if !h.is_empty() => Some(h.value_at_quantile(q / 100.0) as f64),
        Metric::FanoutMax if !h.is_empty() => Some(h.max() as f64),
        Metric::DeliveryRatio => ws.delivery_ratio(),
        Metric::Duplicates => Some(ws.duplicates as f64),
        _ => None,
    };
    judged(slo, observed, ws.expected)
}

/// The result of `slo` given what was observed (in the base unit; `None`
/// without data) over `samples`.
fn judged(slo: &Slo, observed: Option<f64>, samples: u64) -> SloResult {
    let status = match observed {
        None => SloStatus::NoData,
        Some(o) if slo.op.holds(o, slo.threshold) => SloStatus::Pass,
        Some(_) => SloStatus::Fail,
    };
    SloResult {
        slo: slo.clone(),
        observed: observed.map(|o| to_display(slo.metric, o)),
        threshold: to_display(slo.metric, slo.threshold),
        status,
        samples,
    }
}

/// Convert from the base unit (µs, fraction) to the display unit (ms, %).
fn to_display(metric: Metric, v: f64) -> f64 {
    match metric {
        m if m.is_latency() => v / 1_000.0,
        Metric::ErrorRate | Metric::DeliveryRatio => v * 100.0,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;
    use crate::slo::parse;

    fn stats(latencies_ms: &[u64], errors: u64) -> StepStats {
        let mut s = StepStats::default();
        for &l in latencies_ms {
            s.record(Outcome::Ok { status: 200 }, l * 1_000);
        }
        for _ in 0..errors {
            s.record(Outcome::BadStatus { status: 503 }, 1_000);
        }
        s
    }

    #[test]
    fn a_region_filter_judges_only_that_regions_requests() {
        let near = stats(&[10; 50], 0);
        let far = stats(&[190; 50], 5);
        let no_ws = WsStats::default();
        let view = |region, stats| StepView {
            phase: "p",
            region: Some(region),
            step: "checkout",
            stats,
            ws: &no_ws,
            active: Duration::from_secs(1),
        };
        let views = [view("sea", &near), view("eu", &far)];
        let slos: Vec<_> = [
            "p50(checkout, region=sea) < 20ms",
            "p50(checkout, region=eu) < 20ms",
            "error_rate(checkout, region=sea) < 1%",
            "count(checkout) >= 105",
            "count(checkout, region=na) > 0",
        ]
        .iter()
        .map(|s| parse(s).unwrap())
        .collect();
        let r = evaluate(&slos, &views);
        assert_eq!(r[0].status, SloStatus::Pass);
        assert_eq!(r[0].samples, 50);
        assert_eq!(r[1].status, SloStatus::Fail);
        assert!((r[1].observed.unwrap() - 190.0).abs() < 0.2);
        assert_eq!(r[2].observed, Some(0.0));
        assert_eq!(r[3].observed, Some(105.0), "no filter: every region");
        assert_eq!(r[4].status, SloStatus::NoData);
    }

    #[test]
    fn percentiles_rates_and_throughput_are_observed_in_display_units() {
        let lat: Vec<u64> = (1..=100).collect();
        let a = stats(&lat, 0);
        let b = stats(&[500], 1);
        let views = [
            StepView {
                phase: "warm",
                region: None,
                step: "product",
                stats: &a,
                ws: &WsStats::default(),
                active: Duration::from_secs(10),
            },
            StepView {
                phase: "drop",
                region: None,
                step: "checkout",
                stats: &b,
                ws: &WsStats::default(),
                active: Duration::from_secs(2),
            },
        ];
        let slos: Vec<_> = [
            "p99(product) < 100ms",
            "p50(product) <= 50ms",
            "error_rate(checkout) < 1%",
            "throughput(product) >= 10/s",
            "max(*) < 400ms",
        ]
        .iter()
        .map(|s| parse(s).unwrap())
        .collect();
        let r = evaluate(&slos, &views);
        // HDR reports the top of the value's bucket: within 0.1%.
        let close = |o: Option<f64>, v: f64| (o.unwrap() - v).abs() <= v * 0.001;
        assert!(close(r[0].observed, 99.0), "{:?}", r[0].observed);
        assert_eq!(r[0].status, SloStatus::Pass);
        assert!(close(r[1].observed, 50.0), "{:?}", r[1].observed);
        assert_eq!(r[2].observed, Some(50.0));
        assert_eq!(r[2].status, SloStatus::Fail);
        assert_eq!(r[3].observed, Some(10.0));
        assert_eq!(r[3].status, SloStatus::Pass);
        assert!(r[4].observed.unwrap() >= 499.0);
        assert_eq!(r[4].status, SloStatus::Fail);
        assert_eq!(r[4].samples, 102);
    }

    #[test]
    fn zero_samples_never_pass() {
        let empty = StepStats::default();
        let views = [StepView {
            phase: "p",
            region: None,
            step: "checkout",
            stats: &empty,
            ws: &WsStats::default(),
            active: Duration::from_secs(5),
        }];
        let r = evaluate(&[parse("p99(checkout) < 1s").unwrap()], &views);
        assert_eq!(r[0].status, SloStatus::NoData);
        assert_eq!(r[0].observed, None);
    }

    #[test]
    fn fanout_objectives_read_the_deliveries_of_send_steps() {
        let mut ws = WsStats::default();
        for _ in 0..10 {
            ws.note_sent(10);
        }
        for i in 1..=95u64 {
            ws.note_delivery(i * 10_000, false);
        }
        ws.duplicates = 2;
        let none = StepStats::default();
        let views = [StepView {
            phase: "flood",
            region: None,
            step: "comment",
            stats: &none,
            ws: &ws,
            active: Duration::from_secs(1),
        }];
        let slos: Vec<_> = [
            "fanout_p99(comment) < 2s",
            "delivery(comment) >= 99.9%",
            "duplicates(comment) <= 0",
            "fanout_max(comment) < 900ms",
            "fanout_p50(other) < 1s",
        ]
        .iter()
        .map(|s| parse(s).unwrap())
        .collect();
        let r = evaluate(&slos, &views);
        assert_eq!(r[0].status, SloStatus::Pass);
        assert!(
            (r[0].observed.unwrap() - 950.0).abs() < 1.0,
            "{:?}",
            r[0].observed
        );
        assert_eq!(r[0].samples, 100);
        assert_eq!(r[1].observed, Some(95.0));
        assert_eq!(r[1].status, SloStatus::Fail);
        assert_eq!((r[2].observed, r[2].status), (Some(2.0), SloStatus::Fail));
        assert_eq!(r[3].status, SloStatus::Fail);
        assert_eq!(r[4].status, SloStatus::NoData);
    }
}
