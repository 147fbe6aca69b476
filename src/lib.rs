//! flashcrowd: a load and chaos testing harness for live-commerce platforms.
//!
//! This file is only the module map. Each module's own header says what it
//! owns and what it must not do.
//!
//! Data flows one way through a run:
//! `scenario` (file → validated model) → `schedule` (model → intended arrival
//! times) → `engine` (arrivals → requests, recorded by `metrics`) → `slo`
//! (merged metrics → verdict) → `report` (everything → files and terminal).
//! `goose_engine` (the `goose` feature) replays closed-model flows through
//! Goose instead of `engine`, to cross-check it.
//! `figures` writes numbers the same way for every output.
//! `demo` is the embedded live-commerce target; `proxy` is an embedded
//! Toxiproxy-compatible chaos proxy to put between them; `k8s` renders the
//! Kubernetes manifests of a distributed run; `cli` wires it all together.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod chaos;
pub mod cli;
pub mod demo;
pub mod dist;
pub mod engine;
pub mod figures;
#[cfg(feature = "goose")]
pub mod goose_engine;
pub mod invariants;
pub mod k8s;
pub mod metrics;
pub mod netem;
pub mod proxy;
pub mod reconcile;
pub mod report;
pub mod safety;
pub mod scenario;
pub mod schedule;
pub mod shutdown;
pub mod slo;
pub mod telemetry;
