//! The exporter of one run: two tasks beside the engine. The builder takes
//! in closed seconds, sampled requests, chaos transitions and log lines,
//! and every interval turns them into export requests; the sender posts
//! those one at a time. Between them a small bounded queue: when the
//! collector is slow or down, new exports are dropped and counted rather
//! than piling up, and nothing ever waits on the engine's side.
//!
//! Owns the export cadence, the queue, the counts of what was sent,
//! failed or dropped, and the bounded final flush. Must not block or slow
//! the run: every input is a channel the engine writes without waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::Client;
use super::config::{OtlpConfig, Signal};
use super::metrics::{Gauges, MetricState, Slowest};
use super::signals::{self, LogLine, SpanNames};
use super::wire::encode;
use crate::chaos::Transition;
use crate::engine::{Progress, SpanRecord, StepKeys};
use crate::metrics::interval::Closed;
use crate::scenario::Scenario;
use crate::schedule::PhaseSchedule;

/// Export requests waiting for the sender; more are dropped.
const QUEUE: usize = 16;
/// Sampled requests the engine may hand over before the builder reads
/// them; more are dropped (and counted by the engine).
pub const SPAN_QUEUE: usize = 8_192;
/// Spans per traces export.
const SPAN_BATCH: usize = 512;
/// Spans and log records kept between exports; more are dropped.
const MAX_BUFFERED: usize = 8_192;
/// Log lines the harness may hand over before the builder reads them.
pub const LOG_QUEUE: usize = 1_024;
/// Spans and logs go out at least this often, whatever the metric interval.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What went to the collector, for the warning and the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportStats {
    /// The collector, e.g. `http://otel:4318 (http/protobuf)`.
    pub endpoint: String,
    /// Exports the collector accepted.
    pub sent: u64,
    /// Exports that were sent and refused or not answered.
    pub failed: u64,
    /// Exports never sent: the queue was full while the collector was
    /// slow, or the final flush ran out of time.
    pub dropped: u64,
    /// Client spans accepted by the collector.
    pub spans: u64,
    /// Sampled requests whose spans were not exported.
    pub spans_dropped: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl ExportStats {
    pub fn lost(&self) -> u64 {
        self.failed + self.dropped
    }
}

/// Everything the exporter needs to know about the run.
pub struct Setup {
    pub config: OtlpConfig,
    pub resource: Resource,
    pub scenario: Arc<Scenario>,
    pub keys: StepKeys,
    /// The resolved timeline, for the planned rate.
    pub phases: Vec<PhaseSchedule>,
    /// The target's host and port, as spans name it.
    pub server: (String, u16),
    /// Export the run's metrics (off on a distributed run's workers: the
    /// coordinator exports the merged figures).
    pub metrics: bool,
    /// Live figures for the gauges.
    pub progress: Option<watch::Receiver<Progress>>,
}

impl Setup {
    /// The exporter of one run (or one worker's part of it): the resource
    /// names `identity`, spans name the target's host and port, and the
    /// planned rate comes from `schedule`.
    pub fn for_run(
        config: OtlpConfig,
        scenario: &Arc<Scenario>,
        schedule: &crate::schedule::Schedule,
        target: &url::Url,
        identity: &super::wire::RunIdentity,
        metrics: bool,
        progress: watch::Receiver<Progress>,
    ) -> Setup {
        let resource =
            super::wire::resource(&config.resource, &scenario.telemetry.attributes, identity);
        Setup {
            config,
            resource,
            scenario: scenario.clone(),
            keys: StepKeys::new(scenario),
            phases: schedule.phases.clone(),
            server: (
                target.host_str().unwrap_or_default().to_owned(),
                target.port_or_known_default().unwrap_or(80),
            ),
            metrics,
            progress: Some(progress),
        }
    }
}

/// The channels the run writes into; dropping them is fine at any time.
pub struct Feeds {
    pub closed: mpsc::UnboundedSender<Closed>,
    pub spans: mpsc::Sender<SpanRecord>,
    pub chaos: mpsc::UnboundedSender<Transition>,
    pub logs: mpsc::Sender<LogLine>,
}

/// A running exporter.
pub struct Exporter {
    origin: Starter,
    finish: CancellationToken,
    builder: tokio::task::JoinHandle<()>,
    sender: tokio::task::JoinHandle<()>,
    counts: Arc<Counts>,
    /// Sampled requests the engine could not hand over.
    pub engine_dropped: Arc<AtomicU64>,
}

/// Tells an exporter when the run started.
#[derive(Clone)]
pub struct Starter(Arc<watch::Sender<Option<(Instant, SystemTime)>>>);

impl Starter {
    pub fn start(&self, t0: Instant, wall: SystemTime) {
        self.0.send_replace(Some((t0, wall)));
    }
}

#[derive(Default)]
struct Counts {
    queued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    spans_queued: AtomicU64,
    spans_sent: AtomicU64,
    /// Spans that never made it into the queue.
    spans_dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
    endpoint: String,
}

struct Job {
    signal: Signal,
    body: Vec<u8>,
    spans: u64,
}

impl Exporter {
    /// Start the builder and the sender.
    pub fn spawn(setup: Setup) -> (Exporter, Feeds) {
        let (closed_tx, closed_rx) = mpsc::unbounded_channel();
        let (spans_tx, spans_rx) = mpsc::channel(SPAN_QUEUE);
        let (chaos_tx, chaos_rx) = mpsc::unbounded_channel();
        let (logs_tx, logs_rx) = mpsc::channel(LOG_QUEUE);
        let (origin_tx, origin_rx) = watch::channel(None);
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE);
        let finish = CancellationToken::new();
        let counts = Arc::new(Counts {
            endpoint: setup.config.label(),
            ..Counts::default()
        });
        let client = Client::new(
            setup.config.protocol,
            setup.config.headers.clone(),
            setup.config.timeout,
        );
        let sender = tokio::spawn(send_all(
            client,
            setup.config.clone(),
            queue_rx,
            counts.clone(),
        ));
        let inputs = Inputs {
            closed: closed_rx,
            spans: spans_rx,
            chaos: chaos_rx,
            logs: logs_rx,
        };
        let builder = tokio::spawn(build_all(
            setup,
            inputs,
            origin_rx,
            Queue {
                tx: queue_tx,
                counts: counts.clone(),
            },
            finish.clone(),
        ));
        (
            Exporter {
                origin: Starter(Arc::new(origin_tx)),
                finish,
                builder,
                sender,
                counts,
                engine_dropped: Arc::new(AtomicU64::new(0)),
            },
            Feeds {
                closed: closed_tx,
                spans: spans_tx,
                chaos: chaos_tx,
                logs: logs_tx,
            },
        )
    }

    /// The run's time origin: exports start from here.
    pub fn start(&self, t0: Instant, wall: SystemTime) {
        self.origin.start(t0, wall);
    }

    /// A handle that can tell the exporter the run's time origin from
    /// elsewhere (where the origin becomes known).
    pub fn starter(&self) -> Starter {
        self.origin.clone()
    }

    /// Build the last exports from everything handed over so far and send
    /// them, giving up at `deadline` (a collector that is down costs the
    /// run at most that long). Call once the run's feeds are done.
    pub async fn finish(self, deadline: Instant) -> ExportStats {
        self.finish.cancel();
        let builder_abort = self.builder.abort_handle();
        if tokio::time::timeout_at(deadline, self.builder)
            .await
            .is_err()
        {
            builder_abort.abort();
        }
        let sender_abort = self.sender.abort_handle();
        if tokio::time::timeout_at(deadline, self.sender)
            .await
            .is_err()
        {
            sender_abort.abort();
        }
        let c = &self.counts;
        let (queued, sent, failed) = (
            c.queued.load(Ordering::Relaxed),
            c.sent.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
        );
        // Queued but neither sent nor failed: cut off by the deadline.
        let unsent = queued.saturating_sub(sent + failed);
        let mut last_error = c
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if unsent > 0 && last_error.is_none() {
            last_error = Some("the collector did not answer before the run ended".to_owned());
        }
        ExportStats {
            endpoint: c.endpoint.clone(),
            sent,
            failed,
            dropped: c.dropped.load(Ordering::Relaxed) + unsent,
            spans: c.spans_sent.load(Ordering::Relaxed),
            // Not queued, queued but refused or never sent, or not even
            // handed over by the engine.
            spans_dropped: c.spans_dropped.load(Ordering::Relaxed)
                + c.spans_queued
                    .load(Ordering::Relaxed)
                    .saturating_sub(c.spans_sent.load(Ordering::Relaxed))
                + self.engine_dropped.load(Ordering::Relaxed),
            last_error,
        }
    }
}

struct Inputs {
    closed: mpsc::UnboundedReceiver<Closed>,
    spans: mpsc::Receiver<SpanRecord>,
    chaos: mpsc::UnboundedReceiver<Transition>,
    logs: mpsc::Receiver<LogLine>,
}

/// The builder's end of the queue.
struct Queue {
    tx: mpsc::Sender<Job>,
    counts: Arc<Counts>,
}

impl Queue {
    fn push(&self, signal: Signal, body: Vec<u8>, spans: u64) {
        match self.tx.try_send(Job {
            signal,
            body,
            spans,
        }) {
            Ok(()) => {
                self.counts.queued.fetch_add(1, Ordering::Relaxed);
                self.counts.spans_queued.fetch_add(spans, Ordering::Relaxed);
            }
            Err(_) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                self.counts
                    .spans_dropped
                    .fetch_add(spans, Ordering::Relaxed);
            }
        }
    }
}

/// What the builder holds between exports.
struct Pending {
    state: MetricState,
    names: SpanNames,
    spans: Vec<Span>,
    logs: Vec<LogRecord>,
    origin_ns: u64,
    chaos: bool,
    logs_on: bool,
}

impl Pending {
    fn span(&mut self, r: &SpanRecord, counts: &Counts) {
        if self.spans.len() >= MAX_BUFFERED {
            counts.spans_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.state.exemplar(
            r.key as usize,
            Slowest {
                time_ns: self.origin_ns.saturating_add(r.end_ns),
                latency_us: r.latency_us,
                trace: r.ids.trace,
                span: r.ids.span,
            },
        );
        self.spans
            .push(signals::span(r, &self.names, self.origin_ns));
    }

    fn log(&mut self, l: LogRecord) {
        if self.logs.len() < MAX_BUFFERED {
            self.logs.push(l);
        }
    }

    /// Queue what is held: spans and logs, and the metrics if `metrics`.
    fn flush(
        &mut self,
        setup: &Setup,
        resource: &Resource,
        queue: &Queue,
        metrics: bool,
        t0: Instant,
    ) {
        while !self.spans.is_empty() {
            let n = self.spans.len().min(SPAN_BATCH);
            let batch: Vec<Span> = self.spans.drain(..n).collect();
            let req = signals::traces_request(resource, batch);
            queue.push(Signal::Traces, encode(&req), n as u64);
        }
        if !self.logs.is_empty() {
            let req = signals::logs_request(resource, std::mem::take(&mut self.logs));
            queue.push(Signal::Logs, encode(&req), 0);
        }
        if metrics && setup.metrics && setup.scenario.telemetry.metrics {
            let now_ns = self
                .origin_ns
                .saturating_add(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
            let gauges = gauges(setup, self.state.latest_second());
            let req = signals::metrics_request(resource, self.state.build(now_ns, &gauges));
            queue.push(Signal::Metrics, encode(&req), 0);
        }
    }
}

fn gauges(setup: &Setup, latest: Option<u32>) -> Gauges {
    let p = setup
        .progress
        .as_ref()
        .map(|p| *p.borrow())
        .unwrap_or_default();
    let planned = match latest {
        Some(s) => {
            // The middle of the newest closed second, as the live status
            // line reads it.
            let at = Duration::from_secs(u64::from(s)) + Duration::from_millis(500);
            setup
                .phases
                .iter()
                .map(|ps| {
                    if at >= ps.start && at < ps.start + ps.duration {
                        ps.rate_at(at - ps.start)
                    } else {
                        0.0
                    }
                })
                .collect()
        }
        None => Vec::new(),
    };
    Gauges {
        sessions: p.sessions,
        sockets: p.sockets,
        planned,
    }
}

/// Unix ns of a wall-clock time.
fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

async fn build_all(
    setup: Setup,
    mut inputs: Inputs,
    mut origin: watch::Receiver<Option<(Instant, SystemTime)>>,
    queue: Queue,
    finish: CancellationToken,
) {
    // Nothing can be stamped before the run's clock exists (a distributed
    // run learns it after its barrier).
    let started = tokio::select! {
        o = origin.wait_for(Option::is_some) => o.ok().and_then(|o| *o),
        _ = finish.cancelled() => None,
    };
    let Some((t0, wall)) = started else {
        return;
    };
    let origin_ns = unix_ns(wall);
    let resource = setup.resource.clone();
    let t = &setup.scenario.telemetry;
    let interval = t
        .interval
        .or(setup.config.interval)
        .unwrap_or(super::DEFAULT_INTERVAL)
        .max(Duration::from_secs(1));
    let mut pending = Pending {
        state: MetricState::new(&setup.scenario, &setup.keys, t, origin_ns),
        names: SpanNames::new(
            &setup.scenario,
            &setup.keys,
            (setup.server.0.as_str(), setup.server.1),
        ),
        spans: Vec::new(),
        logs: Vec::new(),
        origin_ns,
        chaos: t.chaos,
        logs_on: t.logs,
    };
    let mut metric_tick = tokio::time::interval_at(t0 + interval, interval);
    metric_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush_tick = tokio::time::interval_at(t0 + FLUSH_EVERY, FLUSH_EVERY);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut closed_open, mut spans_open, mut chaos_open, mut logs_open) = (true, true, true, true);
    loop {
        tokio::select! {
            biased;
            _ = finish.cancelled() => break,
            c = inputs.closed.recv(), if closed_open => match c {
                Some(c) => pending.state.absorb(&c),
                None => closed_open = false,
            },
            s = inputs.spans.recv(), if spans_open => match s {
                Some(s) => pending.span(&s, &queue.counts),
                None => spans_open = false,
            },
            c = inputs.chaos.recv(), if chaos_open => match c {
                Some(c) if pending.chaos => pending.log(signals::chaos_log(&c, origin_ns)),
                Some(_) => {}
                None => chaos_open = false,
            },
            l = inputs.logs.recv(), if logs_open => match l {
                Some(l) if pending.logs_on => pending.log(signals::log_line(&l)),
                Some(_) => {}
                None => logs_open = false,
            },
            _ = metric_tick.tick() => pending.flush(&setup, &resource, &queue, true, t0),
            _ = flush_tick.tick() => {
                if pending.spans.len() >= SPAN_BATCH || !pending.logs.is_empty() || !pending.spans.is_empty() {
                    pending.flush(&setup, &resource, &queue, false, t0);
                }
            }
        }
    }
    // The final export: whatever is already waiting in the channels (each
    // read is bounded: nothing is waited for).
    for _ in 0..MAX_DRAIN {
        match inputs.closed.try_recv() {
            Ok(c) => pending.state.absorb(&c),
            Err(_) => break,
        }
    }
    for _ in 0..MAX_DRAIN {
        match inputs.spans.try_recv() {
            Ok(s) => pending.span(&s, &queue.counts),
            Err(_) => break,
        }
    }
    for _ in 0..MAX_DRAIN {
        match inputs.chaos.try_recv() {
            Ok(c) if pending.chaos => pending.log(signals::chaos_log(&c, origin_ns)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    for _ in 0..MAX_DRAIN {
        match inputs.logs.try_recv() {
            Ok(l) if pending.logs_on => pending.log(signals::log_line(&l)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    pending.flush(&setup, &resource, &queue, true, t0);
    // Dropping the queue's sender lets the sender finish after the rest.
}

/// Most items read from one channel in the final drain.
const MAX_DRAIN: usize = 1_000_000;

async fn send_all(
    mut client: Client,
    config: OtlpConfig,
    mut queue: mpsc::Receiver<Job>,
    counts: Arc<Counts>,
) {
    let mut warned = false;
    while let Some(job) = queue.recv().await {
        match client.send(config.url(job.signal), job.body).await {
            Ok(()) => {
                counts.sent.fetch_add(1, Ordering::Relaxed);
                counts.spans_sent.fetch_add(job.spans, Ordering::Relaxed);
            }
            Err(e) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                let text = e.to_string();
                if !warned {
                    warned = true;
                    // Once: the run goes on, and the end of the run says
                    // how many exports were lost.
                    tracing::warn!(
                        target: super::LOG_TARGET,
                        "OpenTelemetry export to {} failed ({text}); the run goes on, lost exports are counted",
                        counts.endpoint
                    );
                }
                *counts.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
            }
        }
    }
}
