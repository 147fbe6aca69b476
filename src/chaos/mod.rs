//! Regions and network chaos at run time: one proxy per region in front of
//! the target, the region's profile expressed as toxics on it, and the
//! scenario's chaos timeline played on those proxies while the load runs.
//!
//! Owns the order of things: start the backend, open every region's proxy
//! and apply its state at time zero before the first request, play the
//! timeline beside the load, and remove everything injected when the run
//! ends, however it ends. Must not send load or judge results.

mod backend;
pub mod state;
pub mod timeline;
mod toxiproxy;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use backend::Backend;
pub use state::{Desired, ToxicSpec};
pub use timeline::Transition;
/// Public for tests that drive a Toxiproxy-compatible server directly.
pub use toxiproxy::External;

use crate::scenario::{ChaosBackend, Scenario};

/// Longest the cleanup at the end of a run may take.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long injected toxics may outlive a run's timeline by default.
pub const TTL_MARGIN: Duration = Duration::from_secs(120);

/// Why chaos could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("chaos backend: {0}")]
    Backend(String),
    #[error("proxy {0}: {1}")]
    Proxy(String, String),
    #[error("chaos cleanup did not finish within {} s", CLEANUP_TIMEOUT.as_secs())]
    CleanupTimeout,
}

/// The regions' proxies, ready for traffic.
pub struct Regions {
    backend: Backend,
    /// Where each region's traffic goes, by region index.
    pub routes: Vec<SocketAddr>,
}

/// Start the backend and open every region's proxy in front of `upstream`,
/// each already carrying its state at time zero; any failure removes what
/// was created and is returned.
pub async fn start(
    scenario: &Scenario,
    upstream: SocketAddr,
    cancel: CancellationToken,
) -> Result<Regions, ChaosError> {
    let ttl = scenario
        .chaos
        .ttl
        .unwrap_or(scenario.timeline_end() + TTL_MARGIN);
    let backend = match &scenario.chaos.backend {
        ChaosBackend::Embedded => {
            Backend::Embedded(backend::Embedded::start(scenario.seed, Some(ttl), cancel).await?)
        }
        ChaosBackend::Toxiproxy(servers) => {
            Backend::External(toxiproxy::External::new(servers.clone()))
        }
    };
    let mut routes = Vec::with_capacity(scenario.regions.len());
    for (i, r) in scenario.regions.iter().enumerate() {
        // A region whose profile cannot be applied would be rehearsed over
        // the wrong network: refuse to start rather than mislead.
        let first = state::desired(
            r.profile.as_ref(),
            i,
            &scenario.chaos.events,
            Duration::ZERO,
        );
        let opened = match backend.open(i, &r.name, upstream).await {
            Ok(addr) => backend.apply(i, &r.name, &first).await.map(|()| addr),
            Err(e) => Err(e),
        };
        match opened {
            Ok(addr) => routes.push(addr),
            Err(e) => {
                let _ = tokio::time::timeout(CLEANUP_TIMEOUT, backend.close()).await;
                return Err(e);
            }
        }
    }
    Ok(Regions { backend, routes })
}

impl Regions {
    /// A player for this run's timeline.
    pub fn player<'a>(&'a self, scenario: &'a Scenario) -> timeline::Player<'a> {
        timeline::Player::new(scenario, &self.backend)
    }

    /// Remove every proxy and toxic this run created, within
    /// [`CLEANUP_TIMEOUT`].
    pub async fn close(self) -> Result<(), ChaosError> {
        match tokio::time::timeout(CLEANUP_TIMEOUT, self.backend.close()).await {
            Ok(r) => r,
            Err(_) => Err(ChaosError::CleanupTimeout),
        }
    }
}

/// Apply time zero, then play the timeline from `t0` until `end` or
/// `cancel`; returns the log of transitions (with a `cleanup` entry for each
/// event still in effect when it stopped).
pub async fn play(
    regions: &Regions,
    scenario: &Scenario,
    t0: Instant,
    end: Duration,
    cancel: CancellationToken,
    announce: Option<tokio::sync::mpsc::UnboundedSender<Transition>>,
) -> Vec<Transition> {
    let mut player = regions.player(scenario);
    player.announce = announce;
    player.step(Duration::ZERO, None, t0).await;
    player.play(t0, end, &cancel).await;
    let stopped_at = Instant::now().saturating_duration_since(t0);
    player.log_cleanup(stopped_at.min(end), t0);
    player.log
}
