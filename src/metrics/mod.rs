//! Run metrics: HDR latency histograms and outcome counters.
//!
//! Owns how samples are recorded and merged. A [`Recorder`] belongs to one
//! task and is written without locks; recorders travel to the collector by
//! message and are merged by adding histograms bucket by bucket (never by
//! averaging percentiles). Must not decide verdicts or format output.

use hdrhistogram::Histogram;

pub mod interval;
pub mod split;
pub mod traces;
pub mod wire;
mod ws;

pub use interval::{IntervalBuf, IntervalPart};
pub use split::Split;
pub use traces::SlowTrace;
pub use ws::{WsStats, OUT_OF_ORDER_SLACK_US};

/// Significant digits of every latency histogram: 0.1% value precision.
pub const SIGFIG: u8 = 3;

/// A latency histogram in microseconds, 3 significant digits, growing its
/// range on demand so no sample is ever out of bounds and memory follows the
/// largest value seen rather than the run length.
pub fn latency_histogram() -> Histogram<u64> {
    // `new(3)` auto-resizes; it only fails for an invalid sigfig, which 3 is not.
    Histogram::new(SIGFIG).unwrap_or_else(|_| unreachable_sigfig())
}

fn unreachable_sigfig() -> Histogram<u64> {
    // Bounds that are valid by construction; reached only if the crate's
    // contract changes.
    Histogram::new_with_bounds(1, u64::MAX / 2, SIGFIG).unwrap_or_else(|_| std::process::abort())
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response whose status and checks were as expected.
    Ok { status: u16 },
    /// A response with a status the step does not accept.
    BadStatus { status: u16 },
    /// An accepted status, but a JSON check failed (or the body was not JSON).
    CheckFailed { status: u16 },
    /// No complete response within the step's timeout.
    Timeout,
    /// The connection could not be established.
    Connect,
    /// The connection broke while sending or receiving.
    Io,
    /// Cut off by an interrupt before it finished.
    Aborted,
    /// The rendered request was not valid HTTP (e.g. a template produced a
    /// space in the path or a newline in a header); nothing was sent.
    Invalid,
    /// A template used a session variable no earlier step captured (or a
    /// unique feeder ran out of rows); nothing was sent, and the session's
    /// flow ended there. Neither a success nor an error.
    Unresolved,
}

impl Outcome {
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }

    fn status(self) -> Option<u16> {
        match self {
            Outcome::Ok { status }
            | Outcome::BadStatus { status }
            | Outcome::CheckFailed { status } => Some(status),
            _ => None,
        }
    }

    /// Whether the latency of this outcome says something about the target.
    /// Timeouts do (a lower bound: the target took at least that long);
    /// refused connections and interrupts do not.
    fn has_latency(self) -> bool {
        !matches!(
            self,
            Outcome::Connect | Outcome::Aborted | Outcome::Invalid | Outcome::Unresolved
        )
    }
}

/// Counters of one (phase, step).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Requests attempted; always `ok + errors`.
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    /// Responses by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    pub status_1xx: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub bad_status: u64,
    pub check_failed: u64,
    pub timeout: u64,
    pub connect_error: u64,
    pub io_error: u64,
    pub aborted: u64,
    pub invalid_request: u64,
    pub unresolved_var: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.ok += o.ok;
        self.errors += o.errors;
        self.status_1xx += o.status_1xx;
        self.status_2xx += o.status_2xx;
        self.status_3xx += o.status_3xx;
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
        self.bad_status += o.bad_status;
        self.check_failed += o.check_failed;
        self.timeout += o.timeout;
        self.connect_error += o.connect_error;
        self.io_error += o.io_error;
        self.aborted += o.aborted;
        self.invalid_request += o.invalid_request;
        self.unresolved_var += o.unresolved_var;
    }
}

/// Requests that ended in one second of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Second {
    pub sent: u32,
    pub errors: u32,
}

/// Longest per-second series kept (two days); later requests count in the
/// last second, so memory stays bounded whatever the run length.
pub const MAX_SERIES_SECONDS: usize = 2 * 24 * 3600;

/// Histogram and counters of one (phase, step, region).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// Latency in µs, from the intended start of the request.
    #[serde(with = "wire::hist")]
    pub latency: Histogram<u64>,
    pub counts: Counts,
    /// Requests and errors by the second of the run they ended in.
    pub series: Vec<Second>,
}

impl Default for StepStats {
    fn default() -> Self {
        StepStats {
            latency: latency_histogram(),
            counts: Counts::default(),
            series: Vec::new(),
        }
    }
}

impl StepStats {
    /// Record one request. `latency_us` is measured from the intended start.
    pub fn record(&mut self, outcome: Outcome, latency_us: u64) {
        let c = &mut self.counts;
        if outcome == Outcome::Unresolved {
            // Not sent, so neither ok nor an error: the session had nothing
            // to send (a buyer whose checkout was sold out has no order to
            // track). Counted so a scenario that never captures shows it.
            c.unresolved_var += 1;
            return;
        }
        c.sent += 1;
        if outcome.is_ok() {
            c.ok += 1;
        } else {
            c.errors += 1;
        }
        if let Some(status) = outcome.status() {
            match status / 100 {
                1 => c.status_1xx += 1,
                2 => c.status_2xx += 1,
                3 => c.status_3xx += 1,
                4 => c.status_4xx += 1,
                _ => c.status_5xx += 1,
            }
        }
        match outcome {
            Outcome::Ok { .. } => {}
            Outcome::BadStatus { .. } => c.bad_status += 1,
            Outcome::CheckFailed { .. } => c.check_failed += 1,
            Outcome::Timeout => c.timeout += 1,
            Outcome::Connect => c.connect_error += 1,
            Outcome::Io => c.io_error += 1,
            Outcome::Aborted => c.aborted += 1,
            Outcome::Invalid => c.invalid_request += 1,
            // Counted (and returned) before anything else.
            Outcome::Unresolved => {}
        }
        if outcome.has_latency() {
            // The histogram grows to fit; only a value beyond its largest
            // possible range would fail, and that one is clamped.
            record_clamped(&mut self.latency, latency_us);
        }
    }

    /// Count a request that ended `second` seconds into the run.
    pub fn tick(&mut self, second: u32, outcome: Outcome) {
        if outcome == Outcome::Unresolved {
            return;
        }
        let i = (second as usize).min(MAX_SERIES_SECONDS - 1);
        if self.series.len() <= i {
            self.series.resize(i + 1, Second::default());
        }
        if let Some(s) = self.series.get_mut(i) {
            s.sent = s.sent.saturating_add(1);
            s.errors = s.errors.saturating_add(u32::from(!outcome.is_ok()));
        }
    }

    /// Add another step's samples: exact, bucket by bucket.
    pub fn merge(&mut self, other: &StepStats) -> Result<(), MergeError> {
        self.latency
            .add(&other.latency)
            .map_err(|e| MergeError(format!("{e:?}")))?;
        self.counts.add(&other.counts);
        if self.series.len() < other.series.len() {
            self.series.resize(other.series.len(), Second::default());
        }
        for (a, b) in self.series.iter_mut().zip(&other.series) {
            a.sent = a.sent.saturating_add(b.sent);
            a.errors = a.errors.saturating_add(b.errors);
        }
        Ok(())
    }
}

/// Counters of the schedule itself (flow iterations, not requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleCounts {
    /// Iterations whose intended start came while the run was scheduling.
    pub scheduled: u64,
    /// Iterations that started.
    pub started: u64,
    /// Started later than the lateness threshold after their intended time.
    pub late: u64,
    /// Scheduled but never started (backlog full, or cut off by an interrupt).
    pub dropped: u64,
    /// When the last of these arrivals actually started, in µs from the
    /// run's start: where a phase really ended if sending fell behind.
    pub last_start_us: u64,
}

impl ScheduleCounts {
    fn add(&mut self, o: &ScheduleCounts) {
        self.scheduled += o.scheduled;
        self.started += o.started;
        self.late += o.late;
        self.dropped += o.dropped;
        self.last_start_us = self.last_start_us.max(o.last_start_us);
    }
}

/// Everything one task measured. Indexed by step key (see
/// `engine::StepKeys`) and by phase.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Recorder {
    pub steps: Vec<StepStats>,
    /// WebSocket counters per step key (empty for HTTP steps).
    pub ws: Vec<WsStats>,
    /// Whole-run schedule counters.
    pub schedule: ScheduleCounts,
    /// The same counters per phase (arrivals are iterations or session
    /// joins).
    pub phases: Vec<ScheduleCounts>,
    /// Delay between an arrival's intended start and the moment it
    /// started, in µs: queueing for a free connection plus generator lag.
    #[serde(with = "wire::hist")]
    pub start_delay: Histogram<u64>,
    /// Delay between an arrival's intended start and the moment the
    /// dispatcher handed it over, in µs: the generator's own lag only.
    #[serde(with = "wire::hist")]
    pub dispatch_lag: Histogram<u64>,
    /// Latency by second, not yet handed to the collector (never sent:
    /// intervals travel on their own).
    #[serde(skip)]
    pub intervals: IntervalBuf,
    /// What the ledger steps recorded, for the invariant checks.
    #[serde(default)]
    pub history: crate::invariants::Log,
    /// By step key: the slowest requests that carried trace context
    /// (empty when none is sampled).
    #[serde(default)]
    pub traces: Vec<Vec<SlowTrace>>,
}

impl Recorder {
    pub fn new(step_keys: usize, phases: usize) -> Self {
        Recorder {
            steps: (0..step_keys).map(|_| StepStats::default()).collect(),
            ws: (0..step_keys).map(|_| WsStats::default()).collect(),
            schedule: ScheduleCounts::default(),
            phases: vec![ScheduleCounts::default(); phases],
            start_delay: latency_histogram(),
            dispatch_lag: latency_histogram(),
            intervals: IntervalBuf::default(),
            history: crate::invariants::Log::default(),
            traces: Vec::new(),
        }
    }

    /// A sampled request of step key `key`: kept if it is among the
    /// `keep` slowest. The trace's hex ids are only made for those.
    #[allow(clippy::too_many_arguments)]
    pub fn note_trace(
        &mut self,
        key: usize,
        (trace, span): (&[u8; 16], &[u8; 8]),
        latency_us: u64,
        attempt: u32,
        outcome: Outcome,
        keep: usize,
    ) {
        if self.traces.len() <= key {
            self.traces.resize_with(key + 1, Vec::new);
        }
        let list = &mut self.traces[key];
        if traces::qualifies(list, latency_us, keep) {
            let t = SlowTrace::new(
                hex::encode(trace),
                hex::encode(span),
                latency_us,
                attempt,
                outcome,
            );
            traces::keep_slowest(list, t, keep);
        }
    }

    /// Record one request of step key `key` that ended `second` seconds
    /// into the run: whole-run figures, the per-second counts, and the
    /// second's histogram.
    pub fn record_request(&mut self, key: usize, outcome: Outcome, latency_us: u64, second: u32) {
        let Some(stats) = self.steps.get_mut(key) else {
            return;
        };
        stats.record(outcome, latency_us);
        stats.tick(second, outcome);
        if outcome != Outcome::Unresolved {
            let latency = outcome.has_latency().then_some(latency_us);
            self.intervals.record(second, key, outcome, latency);
        }
    }

    fn phase(&mut self, phase: usize) -> Option<&mut ScheduleCounts> {
        self.phases.get_mut(phase)
    }

    /// The dispatcher released an arrival `lag_us` after its intended time.
    pub fn note_scheduled(&mut self, phase: usize, lag_us: u64) {
        self.schedule.scheduled += 1;
        if let Some(p) = self.phase(phase) {
            p.scheduled += 1;
        }
        record_clamped(&mut self.dispatch_lag, lag_us);
    }

    /// An arrival started `delay_us` after its intended time, `at_us`
    /// after the run's start.
    pub fn note_started(&mut self, phase: usize, delay_us: u64, late: bool, at_us: u64) {
        self.schedule.started += 1;
        self.schedule.late += u64::from(late);
        self.schedule.last_start_us = self.schedule.last_start_us.max(at_us);
        if let Some(p) = self.phase(phase) {
            p.started += 1;
            p.late += u64::from(late);
            p.last_start_us = p.last_start_us.max(at_us);
        }
        record_clamped(&mut self.start_delay, delay_us);
    }

    /// An arrival was scheduled but will never start.
    pub fn note_dropped(&mut self, phase: usize) {
        self.schedule.dropped += 1;
        if let Some(p) = self.phase(phase) {
            p.dropped += 1;
        }
    }

    /// Add another recorder of the same shape.
    pub fn merge(&mut self, other: &Recorder) -> Result<(), MergeError> {
        if other.steps.len() != self.steps.len() || other.phases.len() != self.phases.len() {
            return Err(MergeError(format!(
                "recorders have {}/{} and {}/{} step keys/phases",
                self.steps.len(),
                self.phases.len(),
                other.steps.len(),
                other.phases.len()
            )));
        }
        for (a, b) in self.steps.iter_mut().zip(&other.steps) {
            a.merge(b)?;
        }
        for (a, b) in self.ws.iter_mut().zip(&other.ws) {
            a.merge(b)?;
        }
        let mut rest = other.intervals.clone();
        self.intervals.absorb(&mut rest);
        self.history.append(&other.history);
        if self.traces.len() < other.traces.len() {
            self.traces.resize_with(other.traces.len(), Vec::new);
        }
        for (a, b) in self.traces.iter_mut().zip(&other.traces) {
            // Each side kept its own slowest few; together they hold at
            // most both lists, and the report takes the slowest of those.
            a.extend(b.iter().cloned());
            a.sort_by_key(|x| std::cmp::Reverse(x.latency_us));
        }
        self.schedule.add(&other.schedule);
        for (a, b) in self.phases.iter_mut().zip(&other.phases) {
            a.add(b);
        }
        for (a, b) in [
            (&mut self.start_delay, &other.start_delay),
            (&mut self.dispatch_lag, &other.dispatch_lag),
        ] {
            a.add(b).map_err(|e| MergeError(format!("{e:?}")))?;
        }
        Ok(())
    }
}

pub(crate) fn record_clamped(h: &mut Histogram<u64>, v: u64) {
    let v = v.max(1);
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Two recorders could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot merge metrics: {0}")]
pub struct MergeError(String);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn outcomes_are_counted_by_kind_and_status_class() {
        let mut s = StepStats::default();
        s.record(Outcome::Ok { status: 201 }, 900);
        s.record(Outcome::BadStatus { status: 503 }, 1_200);
        s.record(Outcome::CheckFailed { status: 200 }, 800);
        s.record(Outcome::Timeout, 5_000_000);
        s.record(Outcome::Connect, 0);
        let c = &s.counts;
        assert_eq!((c.sent, c.ok, c.errors), (5, 1, 4));
        assert_eq!((c.status_2xx, c.status_5xx), (2, 1));
        assert_eq!((c.timeout, c.connect_error, c.check_failed), (1, 1, 1));
        // The refused connection has no latency; the timeout does.
        assert_eq!(s.latency.len(), 4);
        assert!(s.latency.max() >= 4_995_000);
    }

    #[test]
    fn merged_task_histograms_equal_one_histogram_of_all_samples() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let mut tasks: Vec<StepStats> = (0..4).map(|_| StepStats::default()).collect();
        let mut single = StepStats::default();
        for i in 0..200_000u64 {
            // Mostly fast, with a heavy tail up to 60 s.
            let v = if rng.random_bool(0.01) {
                rng.random_range(100_000..60_000_000)
            } else {
                rng.random_range(50..5_000)
            };
            let o = Outcome::Ok { status: 200 };
            tasks[(i % 4) as usize].record(o, v);
            single.record(o, v);
        }
        let mut merged = StepStats::default();
        for t in &tasks {
            merged.merge(t).unwrap();
        }
        assert_eq!(merged.counts, single.counts);
        assert_eq!(merged.latency.len(), single.latency.len());
        // Bucket by bucket, not only a few percentiles.
        let a: Vec<_> = merged
            .latency
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        let b: Vec<_> = single
            .latency
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        assert_eq!(a, b);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.latency.value_at_quantile(q),
                single.latency.value_at_quantile(q)
            );
        }
        assert_eq!(merged.latency.max(), single.latency.max());
    }

    #[test]
    fn merge_is_not_an_average_of_percentiles() {
        // Three quiet tasks and one that saw a stall: the merged p99 follows
        // the samples, while the mean of the four p99s would be far off.
        let mut tasks: Vec<StepStats> = (0..4).map(|_| StepStats::default()).collect();
        for (i, t) in tasks.iter_mut().enumerate() {
            for _ in 0..15_000 {
                t.record(Outcome::Ok { status: 200 }, 1_000);
            }
            if i == 0 {
                for _ in 0..600 {
                    t.record(Outcome::Ok { status: 200 }, 1_500_000);
                }
            }
        }
        let mean_of_p99: f64 = tasks
            .iter()
            .map(|t| t.latency.value_at_quantile(0.99) as f64)
            .sum::<f64>()
            / 4.0;
        let mut merged = StepStats::default();
        for t in &tasks {
            merged.merge(t).unwrap();
        }
        let p99 = merged.latency.value_at_quantile(0.99);
        assert!((999..=1_001).contains(&p99), "merged p99 {p99}");
        assert!(mean_of_p99 > 300_000.0);
    }

    #[test]
    fn recorders_of_different_shapes_refuse_to_merge() {
        let mut a = Recorder::new(2, 1);
        assert!(a.merge(&Recorder::new(3, 1)).is_err());
        assert!(a.merge(&Recorder::new(2, 2)).is_err());
    }
}
