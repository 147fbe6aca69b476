//! Distributed runs: one rehearsal split across many worker processes (on
//! one machine, or as pods of a Kubernetes Indexed Job), with one exact
//! merged result.
//!
//! Each worker computes its own disjoint slice of every phase's arrivals
//! from (scenario, seed, worker count, index): arrival `seq` belongs to
//! worker `seq mod count` (`schedule::Segment`), so the slices' union is
//! exactly the single-machine schedule and no coordination is needed to
//! split it. The coordinator ([`coordinator`]) registers the workers,
//! holds them at a barrier, announces one start time (wall clock), merges
//! their per-second figures and final recorders by adding histograms
//! bucket by bucket, and hands one result to the report. Workers
//! ([`worker`]) talk to it over plain HTTP/1.1 with JSON bodies
//! (`proto`); histograms travel in HdrHistogram's V2 encoding.
//!
//! Must not replace a lost worker: replaying its slice late would load
//! the target twice for the same arrivals.

mod client;
pub mod coordinator;
pub mod proto;
pub mod worker;

/// What can go wrong between coordinator and workers.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{0}")]
    Transport(String),
    #[error("refused by the coordinator ({0}): {1}")]
    Refused(u16, String),
    #[error("the run did not start: {0}")]
    Barrier(String),
    #[error("the coordinator is gone; stopped")]
    CoordinatorLost,
    /// The target handed out is not loopback and not on this worker's
    /// allow-list.
    #[error("{0}")]
    NotAllowed(#[from] crate::safety::Refused),
}
