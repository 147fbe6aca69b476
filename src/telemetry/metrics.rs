//! The run's metrics as OTLP: request and error counters, the latency
//! histogram, and the live gauges, built from the engine's closed seconds.
//!
//! Owns the metric names, units and attributes (the README's table lists
//! them), cumulative or delta bookkeeping, and the conversion of HDR
//! histograms into OpenTelemetry exponential or explicit-bucket
//! histograms. Works on closed seconds only, so nothing here touches the
//! engine's hot path. Must not send anything.

use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, AggregationTemporality,
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram as OtlpHistogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
};

use super::wire::kv;
use crate::engine::StepKeys;
use crate::metrics::interval::Closed;
use crate::metrics::{latency_histogram, Split};
use crate::scenario::{HistogramKind, Scenario, Telemetry, Temporality};

/// Metric names, as the README's table lists them.
pub const REQUESTS: &str = "flashcrowd.requests";
pub const ERRORS: &str = "flashcrowd.errors";
pub const DURATION: &str = "flashcrowd.request.duration";
pub const SESSIONS: &str = "flashcrowd.sessions.active";
pub const SOCKETS: &str = "flashcrowd.websocket.connections";
pub const PLANNED_RATE: &str = "flashcrowd.arrivals.planned_rate";
pub const SENT_RATE: &str = "flashcrowd.requests.sent_rate";

/// Most buckets of an exponential histogram: the OpenTelemetry SDKs'
/// default, which keeps about 8 buckets per doubling over a range from
/// 100 µs to 10 s.
pub const MAX_EXP_BUCKETS: i64 = 160;

/// Finest scale used (the specification's limit).
const MAX_SCALE: i32 = 20;

/// Figures read at export time rather than from closed seconds.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub sessions: u64,
    pub sockets: u64,
    /// Planned arrivals per second of each phase at the latest closed
    /// second (phase order); empty before any second closed.
    pub planned: Vec<f64>,
}

/// The slowest sampled request of a key since the last export.
#[derive(Debug, Clone, Copy)]
pub struct Slowest {
    pub time_ns: u64,
    pub latency_us: u64,
    pub trace: [u8; 16],
    pub span: [u8; 8],
}

/// Everything needed to build the next export.
pub struct MetricState {
    kind: HistogramKind,
    /// Explicit bucket bounds, in seconds.
    bounds: Vec<f64>,
    temporality: Temporality,
    /// By key: its attributes and its phase.
    keys: Vec<(Vec<KeyValue>, usize)>,
    /// By phase: its attribute.
    phases: Vec<KeyValue>,
    /// By key: requests by status class and error kind, since the start
    /// (cumulative) or since the last export (delta).
    counts: Vec<Split>,
    /// By key: latency in µs over the same span of time; allocated when
    /// the key first has a sample.
    hist: Vec<Option<Histogram<u64>>>,
    /// By key: the exemplar of the next export.
    slowest: Vec<Option<Slowest>>,
    /// Unix ns of the run's start and of the last export.
    start_ns: u64,
    last_ns: u64,
    /// The newest closed second, and requests per phase that ended in it.
    latest: Option<(u32, Vec<u64>)>,
}

impl MetricState {
    pub fn new(scenario: &Scenario, keys: &StepKeys, t: &Telemetry, start_ns: u64) -> Self {
        let named_regions = !scenario.regions.is_empty();
        let key_attrs = (0..keys.len())
            .map(|k| {
                let (pi, si, ri) = keys.triple(k);
                let phase = scenario.phases.get(pi);
                let step = phase
                    .and_then(|p| scenario.flows.get(p.flow))
                    .and_then(|f| f.steps.get(si));
                let mut attrs = vec![
                    kv("flashcrowd.phase", phase.map_or("", |p| p.name.as_str())),
                    kv("flashcrowd.step", step.map_or("", |s| s.name.as_str())),
                ];
                if let Some(r) = scenario.regions.get(ri).filter(|_| named_regions) {
                    attrs.push(kv("flashcrowd.region", r.name.as_str()));
                }
                (attrs, pi)
            })
            .collect();
        MetricState {
            kind: t.histogram,
            bounds: t.buckets.iter().map(|b| b.as_secs_f64()).collect(),
            temporality: t.temporality,
            keys: key_attrs,
            phases: scenario
                .phases
                .iter()
                .map(|p| kv("flashcrowd.phase", p.name.as_str()))
                .collect(),
            counts: vec![Split::default(); keys.len()],
            hist: vec![None; keys.len()],
            slowest: vec![None; keys.len()],
            start_ns,
            last_ns: start_ns,
            latest: None,
        }
    }

    /// Take in one closed second.
    pub fn absorb(&mut self, c: &Closed) {
        let mut per_phase = vec![0u64; self.phases.len()];
        for p in &c.parts {
            if let Some(counts) = self.counts.get_mut(p.key) {
                counts.add(&p.split);
            }
            if let Some((_, phase)) = self.keys.get(p.key) {
                if let Some(n) = per_phase.get_mut(*phase) {
                    *n += p.sent;
                }
            }
            if !p.latency.is_empty() {
                if let Some(slot) = self.hist.get_mut(p.key) {
                    // Same constructor on both sides: adding cannot fail.
                    let _ = slot.get_or_insert_with(latency_histogram).add(&p.latency);
                }
            }
        }
        // A late part of an old second counts in the totals, not in the
        // rate of the newest second.
        if self.latest.as_ref().is_none_or(|(s, _)| c.second >= *s) {
            self.latest = Some((c.second, per_phase));
        }
    }

    /// The newest closed second, if any.
    pub fn latest_second(&self) -> Option<u32> {
        self.latest.as_ref().map(|(s, _)| *s)
    }

    /// Note a sampled request as a candidate exemplar of its key.
    pub fn exemplar(&mut self, key: usize, s: Slowest) {
        if let Some(slot) = self.slowest.get_mut(key) {
            if slot.is_none_or(|cur| s.latency_us > cur.latency_us) {
                *slot = Some(s);
            }
        }
    }

    /// The metrics of an export at `now_ns`. With delta temporality the
    /// figures start again from zero afterwards.
    pub fn build(&mut self, now_ns: u64, g: &Gauges) -> Vec<Metric> {
        let cumulative = self.temporality == Temporality::Cumulative;
        let start = if cumulative {
            self.start_ns
        } else {
            self.last_ns
        };
        let temporality = if cumulative {
            AggregationTemporality::Cumulative
        } else {
            AggregationTemporality::Delta
        } as i32;
        let point = |attrs: Vec<KeyValue>, v: number_data_point::Value| NumberDataPoint {
            attributes: attrs,
            start_time_unix_nano: start,
            time_unix_nano: now_ns,
            value: Some(v),
            ..Default::default()
        };
        let (mut requests, mut errors) = (Vec::new(), Vec::new());
        for (k, counts) in self.counts.iter().enumerate() {
            let Some((attrs, _)) = self.keys.get(k) else {
                continue;
            };
            // Per status class, errors and successes together.
            let mut by_class: Vec<(&str, u64)> = Vec::new();
            for (slot, n) in counts.nonzero() {
                let (class, error) = Split::label(slot);
                match by_class.iter_mut().find(|(c, _)| *c == class) {
                    Some((_, m)) => *m += n,
                    None => by_class.push((class, n)),
                }
                if let Some(e) = error {
                    let mut a = attrs.clone();
                    a.push(kv("flashcrowd.status_class", class));
                    a.push(kv("error.type", e));
                    errors.push(point(a, int(n)));
                }
            }
            for (class, n) in by_class {
                let mut a = attrs.clone();
                a.push(kv("flashcrowd.status_class", class));
                requests.push(point(a, int(n)));
            }
        }
        let mut out = vec![
            sum(
                REQUESTS,
                "Requests that ended, by status class of the answer (`none`: no answer)",
                "{request}",
                requests,
                temporality,
            ),
            sum(
                ERRORS,
                "Requests that failed, by status class and error type",
                "{request}",
                errors,
                temporality,
            ),
            self.latency(start, now_ns, temporality),
        ];
        out.push(gauge(
            SESSIONS,
            "Viewer and user sessions alive",
            "{session}",
            vec![point(Vec::new(), int(g.sessions))],
        ));
        out.push(gauge(
            SOCKETS,
            "WebSocket connections open",
            "{connection}",
            vec![point(Vec::new(), int(g.sockets))],
        ));
        if let Some((_, sent)) = &self.latest {
            let planned = self
                .phases
                .iter()
                .zip(&g.planned)
                .map(|(a, r)| point(vec![a.clone()], number_data_point::Value::AsDouble(*r)))
                .collect();
            let sent = self
                .phases
                .iter()
                .zip(sent)
                .map(|(a, n)| {
                    point(
                        vec![a.clone()],
                        number_data_point::Value::AsDouble(*n as f64),
                    )
                })
                .collect();
            out.push(gauge(
                PLANNED_RATE,
                "Arrivals per second the schedule planned, at the newest closed second",
                "{arrival}/s",
                planned,
            ));
            out.push(gauge(
                SENT_RATE,
                "Requests that ended in the newest closed second",
                "{request}/s",
                sent,
            ));
        }
        // Points are stamped with the export's time; an empty metric is
        // left out rather than sent without points.
        out.retain(|m| !is_empty(m));
        for p in out.iter_mut().filter_map(|m| match &mut m.data {
            Some(metric::Data::Gauge(g)) => Some(&mut g.data_points),
            _ => None,
        }) {
            for d in p.iter_mut() {
                d.start_time_unix_nano = 0;
            }
        }
        if !cumulative {
            self.counts.iter_mut().for_each(|c| *c = Split::default());
            self.hist.iter_mut().for_each(|h| *h = None);
        }
        self.slowest.iter_mut().for_each(|s| *s = None);
        self.last_ns = now_ns;
        out
    }

    fn latency(&self, start: u64, now: u64, temporality: i32) -> Metric {
        let name = DURATION.to_owned();
        let description =
            "Request latency from the intended start (coordinated-omission free)".to_owned();
        let unit = "s".to_owned();
        let with_exemplar = |k: usize| -> Vec<Exemplar> {
            self.slowest
                .get(k)
                .copied()
                .flatten()
                .map(|s| Exemplar {
                    time_unix_nano: s.time_ns,
                    trace_id: s.trace.to_vec(),
                    span_id: s.span.to_vec(),
                    value: Some(
                        opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(
                            s.latency_us as f64 / 1e6,
                        ),
                    ),
                    ..Default::default()
                })
                .into_iter()
                .collect()
        };
        let filled = self.hist.iter().enumerate().filter_map(|(k, h)| {
            Some((
                k,
                h.as_ref().filter(|h| !h.is_empty())?,
                &self.keys.get(k)?.0,
            ))
        });
        let data = match self.kind {
            HistogramKind::Exponential => {
                let data_points = filled
                    .map(|(k, h, attrs)| {
                        let e = exponential(h);
                        ExponentialHistogramDataPoint {
                            attributes: attrs.clone(),
                            start_time_unix_nano: start,
                            time_unix_nano: now,
                            count: h.len(),
                            sum: Some(sum_s(h)),
                            scale: e.scale,
                            positive: Some(Buckets {
                                offset: e.offset,
                                bucket_counts: e.counts,
                            }),
                            min: Some(h.min() as f64 / 1e6),
                            max: Some(h.highest_equivalent(h.max()) as f64 / 1e6),
                            exemplars: with_exemplar(k),
                            ..Default::default()
                        }
                    })
                    .collect();
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points,
                    aggregation_temporality: temporality,
                })
            }
            HistogramKind::Explicit => {
                let data_points = filled
                    .map(|(k, h, attrs)| HistogramDataPoint {
                        attributes: attrs.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: h.len(),
                        sum: Some(sum_s(h)),
                        bucket_counts: explicit(h, &self.bounds),
                        explicit_bounds: self.bounds.clone(),
                        min: Some(h.min() as f64 / 1e6),
                        max: Some(h.highest_equivalent(h.max()) as f64 / 1e6),
                        exemplars: with_exemplar(k),
                        ..Default::default()
                    })
                    .collect();
                metric::Data::Histogram(OtlpHistogram {
                    data_points,
                    aggregation_temporality: temporality,
                })
            }
        };
        Metric {
            name,
            description,
            unit,
            data: Some(data),
            ..Default::default()
        }
    }
}

fn int(n: u64) -> number_data_point::Value {
    number_data_point::Value::AsInt(i64::try_from(n).unwrap_or(i64::MAX))
}

fn sum(
    name: &str,
    description: &str,
    unit: &str,
    points: Vec<NumberDataPoint>,
    temporality: i32,
) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn gauge(name: &str, description: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

fn is_empty(m: &Metric) -> bool {
    match &m.data {
        Some(metric::Data::Sum(s)) => s.data_points.is_empty(),
        Some(metric::Data::Gauge(g)) => g.data_points.is_empty(),
        Some(metric::Data::Histogram(h)) => h.data_points.is_empty(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.is_empty(),
        _ => true,
    }
}

/// The histogram's sum in seconds, from HDR's mean (within its 0.1%).
fn sum_s(h: &Histogram<u64>) -> f64 {
    h.mean() * h.len() as f64 / 1e6
}

/// Exponential buckets of a histogram in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpBuckets {
    pub scale: i32,
    pub offset: i32,
    pub counts: Vec<u64>,
}

/// The bucket of `v` (> 0) at `scale`: bucket `i` holds `(base^i,
/// base^(i+1)]` with `base = 2^(2^-scale)`.
pub fn exp_index(v: f64, scale: i32) -> i64 {
    (v.log2() * 2f64.powi(scale)).ceil() as i64 - 1
}

/// An HDR histogram of µs as base-2 exponential buckets of seconds, at the
/// finest scale whose buckets from the smallest to the largest value fit
/// [`MAX_EXP_BUCKETS`]. Every HDR bucket lands whole in one exponential
/// bucket, by its highest equivalent value.
pub fn exponential(h: &Histogram<u64>) -> ExpBuckets {
    if h.is_empty() {
        return ExpBuckets {
            scale: 0,
            offset: 0,
            counts: Vec::new(),
        };
    }
    let lo = h.highest_equivalent(h.min()).max(1) as f64 / 1e6;
    let hi = h.highest_equivalent(h.max()).max(1) as f64 / 1e6;
    let mut scale = MAX_SCALE;
    while scale > -10 && exp_index(hi, scale) - exp_index(lo, scale) + 1 > MAX_EXP_BUCKETS {
        scale -= 1;
    }
    let offset = exp_index(lo, scale);
    let mut counts = vec![0u64; (exp_index(hi, scale) - offset + 1).max(1) as usize];
    for v in h.iter_recorded() {
        let s = v.value_iterated_to().max(1) as f64 / 1e6;
        let i = (exp_index(s, scale) - offset).clamp(0, counts.len() as i64 - 1) as usize;
        counts[i] += v.count_at_value();
    }
    ExpBuckets {
        scale,
        offset: i32::try_from(offset).unwrap_or(0),
        counts,
    }
}

/// Counts per explicit bucket `(b[i-1], b[i]]` of seconds, plus the one
/// above the last bound.
pub fn explicit(h: &Histogram<u64>, bounds: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; bounds.len() + 1];
    for v in h.iter_recorded() {
        let s = v.value_iterated_to() as f64 / 1e6;
        counts[bounds.partition_point(|b| *b < s)] += v.count_at_value();
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = latency_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn exponential_buckets_hold_every_sample_in_at_most_160_buckets() {
        let values: Vec<u64> = (0..20_000u64).map(|i| 80 + i * i % 12_000_000).collect();
        let h = hist(&values);
        let e = exponential(&h);
        assert!(
            e.counts.len() as i64 <= MAX_EXP_BUCKETS,
            "{}",
            e.counts.len()
        );
        assert_eq!(e.counts.iter().sum::<u64>(), h.len());
        // 80 µs to 12 s is about 17 doublings: scale 3 gives 8 buckets each.
        assert_eq!(e.scale, 3);
        // Every value sits in its bucket: (base^i, base^(i+1)].
        let base = 2f64.powf(2f64.powi(-e.scale));
        for v in [80u64, 1_000, 250_000, 11_999_999] {
            let s = h.highest_equivalent(v) as f64 / 1e6;
            let i = exp_index(s, e.scale);
            assert!(
                base.powi(i as i32) < s && s <= base.powi(i as i32 + 1) * (1.0 + 1e-12),
                "{v}"
            );
        }
    }

    #[test]
    fn a_narrow_histogram_gets_a_fine_scale_and_powers_of_two_sit_at_bucket_tops() {
        let e = exponential(&hist(&[1_000, 1_001, 1_002]));
        assert!(e.scale >= 10, "{}", e.scale);
        assert_eq!(e.counts.iter().sum::<u64>(), 3);
        // 2^-1 s is the top of bucket -1 at scale 0: (1/4, 1/2].
        assert_eq!(exp_index(0.5, 0), -2);
        assert_eq!(exp_index(0.51, 0), -1);
        assert_eq!(exp_index(1.0, 0), -1);
        assert_eq!(exp_index(1.0, 3), -1);
    }

    #[test]
    fn explicit_buckets_are_upper_inclusive() {
        let h = hist(&[500, 1_000, 1_001, 40_000, 20_000_000]);
        let bounds = [0.001, 0.01, 0.1];
        assert_eq!(explicit(&h, &bounds), [2, 1, 1, 1]);
    }
}
