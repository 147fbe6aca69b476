//! The messages between a distributed run's coordinator and its workers,
//! as JSON over plain HTTP/1.1 (histograms inside in HdrHistogram's V2
//! encoding).
//!
//! Owns the message shapes and the endpoint paths. Must not hold state or
//! touch sockets.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::metrics::{wire, IntervalPart, Recorder, Split};

pub const REGISTER: &str = "/v1/register";
pub const START: &str = "/v1/start";
pub const BATCH: &str = "/v1/batch";
pub const FINAL: &str = "/v1/final";

/// A worker announcing itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Register {
    pub index: u32,
    pub count: u32,
    /// The region it runs in, when it is pinned to one.
    pub region: Option<String>,
    /// SHA-256 of the scenario file it loaded: must be the coordinator's.
    pub scenario_sha256: String,
    pub version: String,
    pub host: String,
    /// It does not verify TLS certificates (`--insecure`): the run's
    /// reports must say so, whoever started it.
    #[serde(default)]
    pub insecure: bool,
}

/// The coordinator's answer to a refused registration, or any error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    pub error: String,
}

/// Everything a worker needs to run its slice, announced once the
/// barrier is full.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartAt {
    /// Wall-clock start of the run, ms since the Unix epoch.
    pub t0_unix_ms: u64,
    pub seed: u64,
    pub scale: f64,
    pub duration_ms: Option<u64>,
    /// The target every worker sends to (the coordinator's embedded demo,
    /// or the scenario's or `--target`'s URL).
    pub target: String,
    /// Each region's proxy address, by region index; empty: none.
    pub routes: Vec<String>,
    pub connections: u32,
    /// Arrivals each worker may hold waiting for a connection
    /// (`--backlog`, split like the connections).
    #[serde(default = "default_backlog")]
    pub backlog: u32,
    /// The region each worker registered with, by index: when every
    /// worker has one, each runs only its region's arrivals.
    #[serde(default)]
    pub worker_regions: Vec<Option<String>>,
    /// The coordinator's run id: in sampled requests' baggage and the
    /// workers' exported spans, and what keeps trace ids apart across runs.
    #[serde(default)]
    pub run_id: String,
}

/// The engine's own default, for a coordinator that sends none.
fn default_backlog() -> u32 {
    100_000
}

impl StartAt {
    /// The share of worker `index` when workers are pinned to regions
    /// (`regions` are the scenario's region names, in order): its region's
    /// index, its rank among that region's workers, and their number.
    pub fn pin(&self, index: u32, regions: &[String]) -> Option<(usize, u32, u32)> {
        if self.worker_regions.is_empty() || self.worker_regions.iter().any(Option::is_none) {
            return None;
        }
        let mine = self.worker_regions.get(index as usize)?.as_deref()?;
        let region = regions.iter().position(|r| r == mine)?;
        let same = |w: &Option<String>| w.as_deref() == Some(mine);
        let rank = self
            .worker_regions
            .iter()
            .take(index as usize)
            .filter(|w| same(w))
            .count() as u32;
        let of = self.worker_regions.iter().filter(|w| same(w)).count() as u32;
        Some((region, rank, of))
    }
}

impl StartAt {
    pub fn duration(&self) -> Option<Duration> {
        self.duration_ms.map(Duration::from_millis)
    }
}

/// One closed second of one step key, from one worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WirePart {
    pub second: u32,
    pub key: u32,
    pub sent: u64,
    pub errors: u64,
    /// The same requests by status class and error kind.
    #[serde(default)]
    pub split: Split,
    #[serde(with = "wire::hist")]
    pub latency: Histogram<u64>,
}

impl From<IntervalPart> for WirePart {
    fn from(p: IntervalPart) -> Self {
        WirePart {
            second: p.second,
            key: u32::try_from(p.key).unwrap_or(u32::MAX),
            sent: p.sent,
            errors: p.errors,
            split: p.split,
            latency: p.latency,
        }
    }
}

impl From<WirePart> for IntervalPart {
    fn from(p: WirePart) -> Self {
        IntervalPart {
            second: p.second,
            key: p.key as usize,
            sent: p.sent,
            errors: p.errors,
            split: p.split,
            latency: p.latency,
        }
    }
}

/// What a worker sends every second (possibly nothing but its heartbeat).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub index: u32,
    pub parts: Vec<WirePart>,
    /// Its viewer and user sessions alive now.
    pub sessions: u64,
    /// Its WebSocket connections open now.
    #[serde(default)]
    pub sockets: u64,
}

/// The coordinator's answer to a batch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Ack {
    /// Stop sending: the run was interrupted.
    pub stop: bool,
}

/// A worker's whole run, once it has ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Final {
    pub index: u32,
    pub recorder: Recorder,
    pub elapsed_ms: u64,
    pub interrupted: bool,
    /// Live sessions sampled over the run: (seconds since start, count).
    pub sessions: Vec<(f64, u64)>,
    pub cpu_ms: Option<u64>,
    /// Its wall clock when its run began, ms since the epoch: against the
    /// announced start, the start skew.
    pub started_unix_ms: u64,
}
