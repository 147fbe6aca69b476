//! Playing a scenario's chaos timeline against the regions' proxies while
//! the load runs, and recording every transition with the moment it took
//! effect.
//!
//! Owns when things change (sleeping on tokio's clock until each change
//! point) and the log of transitions. Must not decide what a region's
//! proxy carries (`state`) or how a server is told (`backend`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backend::Backend;
use super::state::{self, Desired};
use crate::scenario::{ChaosAction, ChaosEvent, Directions, PartitionMode, Scenario};

/// One change of one event in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// When it took effect, seconds from the start of the run.
    pub at_s: f64,
    /// When the timeline asked for it.
    pub planned_s: f64,
    pub event: String,
    pub region: String,
    /// `start`, `end`, `on`/`off` (flapping), `full` (a ramp at its top), or
    /// `cleanup` (removed when the run ended).
    pub change: String,
    /// What the event does, in words.
    pub action: String,
    /// The server refused the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a region's proxy carries now, and what the timeline has logged.
pub struct Player<'a> {
    scenario: &'a Scenario,
    backend: &'a Backend,
    current: Vec<Desired>,
    pub log: Vec<Transition>,
    /// Told every transition as it happens (live progress).
    pub announce: Option<tokio::sync::mpsc::UnboundedSender<Transition>>,
}

impl<'a> Player<'a> {
    pub fn new(scenario: &'a Scenario, backend: &'a Backend) -> Self {
        Player {
            scenario,
            backend,
            current: vec![Vec::new(); scenario.regions.len()],
            log: Vec::new(),
            announce: None,
        }
    }

    /// Bring every region to its state at `t`, logging the events whose
    /// state changed since `prev` (`None`: the first application).
    pub async fn step(&mut self, t: Duration, prev: Option<Duration>, t0: Instant) {
        let events = &self.scenario.chaos.events;
        for (ri, region) in self.scenario.regions.iter().enumerate() {
            let want = state::desired(region.profile.as_ref(), ri, events, t);
            let error = if self.current.get(ri) != Some(&want) {
                match self.backend.apply(ri, &region.name, &want).await {
                    Ok(()) => {
                        if let Some(c) = self.current.get_mut(ri) {
                            *c = want;
                        }
                        None
                    }
                    Err(e) => {
                        tracing::warn!(region = %region.name, error = %e, "chaos change failed");
                        Some(e.to_string())
                    }
                }
            } else {
                None
            };
            let applied = Instant::now().saturating_duration_since(t0);
            for e in events.iter().filter(|e| e.regions.contains(&ri)) {
                let before = prev.and_then(|p| state::strength(e, p));
                let now = state::strength(e, t);
                let Some(change) = change_of(e, t, before, now) else {
                    continue;
                };
                let tr = Transition {
                    at_s: applied.as_secs_f64(),
                    planned_s: t.as_secs_f64(),
                    event: e.name.clone(),
                    region: region.name.clone(),
                    change: change.to_owned(),
                    action: describe(&e.action),
                    error: error.clone(),
                };
                if let Some(a) = &self.announce {
                    // Nobody listening any more is fine.
                    let _ = a.send(tr.clone());
                }
                self.log.push(tr);
            }
        }
    }

    /// Play the timeline from `t0` until `end` or `cancel`.
    pub async fn play(&mut self, t0: Instant, end: Duration, cancel: &CancellationToken) {
        let points = state::change_points(&self.scenario.chaos.events, end);
        let mut prev = Some(Duration::ZERO);
        for &p in points.iter().filter(|p| !p.is_zero()) {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(t0 + p) => {}
            }
            self.step(p, prev, t0).await;
            prev = Some(p);
        }
    }

    /// Log the end of every event still in effect at `t` (the run is over
    /// and its proxies are about to go).
    pub fn log_cleanup(&mut self, t: Duration, t0: Instant) {
        let at = Instant::now().saturating_duration_since(t0).as_secs_f64();
        for (ri, region) in self.scenario.regions.iter().enumerate() {
            for e in self.scenario.chaos.events.iter() {
                if e.regions.contains(&ri) && state::strength(e, t).is_some() {
                    self.log.push(Transition {
                        at_s: at,
                        planned_s: t.as_secs_f64(),
                        event: e.name.clone(),
                        region: region.name.clone(),
                        change: "cleanup".to_owned(),
                        action: describe(&e.action),
                        error: None,
                    });
                }
            }
        }
    }
}

fn change_of(
    e: &ChaosEvent,
    t: Duration,
    before: Option<f64>,
    now: Option<f64>,
) -> Option<&'static str> {
    let started_before = t > e.at;
    let over = e.until().is_some_and(|u| t >= u);
    match (before, now) {
        // A flapping event switching on again.
        (None, Some(_)) if e.flap.is_some() && started_before => Some("on"),
        (None, Some(_)) => Some("start"),
        (Some(_), None) if e.flap.is_some() && !over => Some("off"),
        (Some(_), None) => Some("end"),
        (Some(a), Some(b)) if a < 1.0 && b >= 1.0 => Some("full"),
        _ => None,
    }
}

/// An action in words, for the report.
pub fn describe(a: &ChaosAction) -> String {
    let dirs = |d: Directions| match d {
        Directions::Both => "",
        Directions::Upstream => " upstream",
        Directions::Downstream => " downstream",
    };
    match a {
        ChaosAction::Degrade => "degrade".into(),
        ChaosAction::Partition(PartitionMode::Refuse) => "partition: refuse".into(),
        ChaosAction::Partition(PartitionMode::Reset) => "partition: reset".into(),
        ChaosAction::Partition(PartitionMode::Blackhole(Directions::Both)) => {
            "partition: blackhole".into()
        }
        ChaosAction::Partition(PartitionMode::Blackhole(d)) => {
            format!("partition: half-open{}", dirs(*d))
        }
        ChaosAction::Impair(i) => {
            let mut parts = Vec::new();
            if !i.latency.is_zero() {
                parts.push(format!("+{} ms", i.latency.as_millis()));
            }
            if !i.jitter.is_zero() {
                parts.push(format!("±{} ms", i.jitter.as_millis()));
            }
            if let Some(l) = i.loss {
                parts.push(format!("{:.2}% loss", l.mean() * 100.0));
            }
            if let Some(b) = i.bandwidth {
                parts.push(format!("{} kB/s", b / 1000));
            }
            format!("{}{}", parts.join(", "), dirs(i.directions))
        }
        ChaosAction::Toxic(t) => format!(
            "toxic {} ({})",
            t.kind,
            if t.upstream { "upstream" } else { "downstream" }
        ),
    }
}
