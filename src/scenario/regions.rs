//! The validated model of where traffic comes from and what happens to the
//! network on the way: `regions:` (a share of the traffic and a network
//! profile each) and `chaos:` (a backend and a timeline of events).
//!
//! Owns these types only. Must not do I/O, parse text or apply anything to
//! traffic (`chaos` does).

use std::time::Duration;

use super::profile::Profile;
use crate::netem::Loss;

/// Where a share of the viewers sit and the path between them and the
/// platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub name: String,
    /// Share of each phase's arrivals, by phase index. For every phase the
    /// shares of all regions add up to 1.
    pub shares: Vec<f64>,
    /// The path's conditions; `None`: an undegraded path (through the
    /// region's proxy, so chaos can still act on it).
    pub profile: Option<Profile>,
}

/// The `chaos:` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chaos {
    pub backend: ChaosBackend,
    /// How long whatever is injected may outlive the run if the harness
    /// dies; `None`: the run's length plus a margin.
    pub ttl: Option<Duration>,
    /// In file order.
    pub events: Vec<ChaosEvent>,
}

/// Which proxies carry the regions' traffic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChaosBackend {
    /// flashcrowd's own proxy, in process, on loopback.
    #[default]
    Embedded,
    /// Toxiproxy-compatible servers the scenario names.
    Toxiproxy(ToxiproxyServers),
}

/// Where the external servers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToxiproxyServers {
    /// Control API `host:port` for each region, by region index.
    pub api: Vec<String>,
    /// The target as the servers reach it (`host:port`); `None`: the
    /// scenario's target address.
    pub upstream: Option<String>,
}

/// One event of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ChaosEvent {
    /// Given, or `chaos-N` (N counted from 1 in file order).
    pub name: String,
    /// Region indices it acts on.
    pub regions: Vec<usize>,
    /// From the start of the run.
    pub at: Duration,
    /// How long it lasts; `None`: until the run ends.
    pub length: Option<Duration>,
    /// The effect grows from nothing to full over this time.
    pub ramp: Option<Duration>,
    /// On for `on`, off for `off`, repeatedly, while the event lasts.
    pub flap: Option<Flap>,
    pub action: ChaosAction,
}

impl ChaosEvent {
    /// When the event ends, if it does.
    pub fn until(&self) -> Option<Duration> {
        self.length.map(|l| self.at + l)
    }
}

/// An on/off cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    pub on: Duration,
    pub off: Duration,
}

/// One direction or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Directions {
    #[default]
    Both,
    /// Viewer → platform.
    Upstream,
    /// Platform → viewer.
    Downstream,
}

impl Directions {
    pub fn upstream(self) -> bool {
        self != Directions::Downstream
    }

    pub fn downstream(self) -> bool {
        self != Directions::Upstream
    }
}

/// How a partition cuts a region off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionMode {
    /// New connections are refused and open ones reset: the platform is
    /// gone.
    Refuse,
    /// Bytes go nowhere and nothing closes (in the given directions: one
    /// direction is a half-open path).
    Blackhole(Directions),
    /// Every connection is reset, open or new.
    Reset,
}

/// What an event does.
#[derive(Debug, Clone, PartialEq)]
pub enum ChaosAction {
    /// Switch the region to its profile's `degraded` overlay.
    Degrade,
    Partition(PartitionMode),
    /// Worse conditions on top of the profile.
    Impair(Impairment),
    /// A toxic given as Toxiproxy takes it.
    Toxic(RawToxic),
}

/// Extra degradation of an `Impair` event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Impairment {
    pub directions: Directions,
    /// Added to the round trip (half in each direction when both).
    pub latency: Duration,
    /// Spread of the added latency (uniform ±).
    pub jitter: Duration,
    pub loss: Option<Loss>,
    /// Bytes per second, per connection.
    pub bandwidth: Option<u64>,
}

/// A toxic written out in the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct RawToxic {
    pub kind: String,
    /// Upstream when true.
    pub upstream: bool,
    pub toxicity: f32,
    pub attributes: Vec<(String, u64)>,
}
