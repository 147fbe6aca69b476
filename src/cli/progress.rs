//! Live progress while a run goes: the phases under way, elapsed and
//! remaining time, requests per second against the planned arrival rate,
//! the p99 and errors of the second that just ended, live sessions, and
//! every chaos transition as it fires.
//!
//! On a terminal one status line is redrawn every second (on stderr, so
//! stdout stays the summary); elsewhere (CI logs) a plain line is printed
//! every few seconds. Owns the layout only: the figures come from the
//! engine's progress channel and the chaos timeline. Must not compute
//! statistics.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::chaos::Transition;
use crate::engine::Progress;
use crate::report::terminal::num;
use crate::scenario::Scenario;
use crate::schedule::Schedule;

/// Redraw period on a terminal, and line period elsewhere.
const TTY_EVERY: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What the display reads.
pub(super) struct Feeds {
    pub progress: watch::Receiver<Progress>,
    pub chaos: Option<mpsc::UnboundedReceiver<Transition>>,
}

/// Show progress until `done`; clears its line on a terminal when done.
pub(super) async fn show(
    scenario: &Scenario,
    schedule: &Schedule,
    t0: Instant,
    mut feeds: Feeds,
    done: CancellationToken,
) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty { TTY_EVERY } else { LOG_EVERY };
    // Read after the engine has gathered the second that just ended, so
    // the line shows that second, not an older one.
    let mut tick = tokio::time::interval_at(t0 + every + 2 * crate::engine::PROGRESS_SETTLE, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut chaos_open = feeds.chaos.is_some();
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            t = async {
                match feeds.chaos.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            }, if chaos_open => match t {
                Some(t) => emit(tty, &chaos_line(&t)),
                None => chaos_open = false,
            },
            _ = tick.tick() => {
                let p = *feeds.progress.borrow();
                let line = status(scenario, schedule, t0.elapsed(), &p);
                if tty {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{line}");
                    let _ = err.flush();
                } else {
                    eprintln!("{line}");
                }
            }
        }
    }
    if tty {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// A line of its own; on a terminal it goes above the status line.
fn emit(tty: bool, line: &str) {
    if tty {
        eprintln!("\r\x1b[2K{line}");
    } else {
        eprintln!("{line}");
    }
}

fn chaos_line(t: &Transition) -> String {
    let failed = t
        .error
        .as_deref()
        .map_or(String::new(), |e| format!(" FAILED: {e}"));
    format!(
        "  chaos {:>7.2}s  {} {} {} ({}){failed}",
        t.at_s, t.region, t.event, t.change, t.action
    )
}

/// The status line at `elapsed` into the run.
pub(super) fn status(
    scenario: &Scenario,
    schedule: &Schedule,
    elapsed: Duration,
    p: &Progress,
) -> String {
    let end = schedule.end();
    let active: Vec<&str> = scenario
        .phases
        .iter()
        .zip(&schedule.phases)
        .filter(|(_, ps)| elapsed >= ps.start && elapsed < ps.start + ps.duration)
        .map(|(ph, _)| ph.name.as_str())
        .collect();
    let phases = if active.is_empty() {
        if elapsed >= end {
            "draining".to_owned()
        } else {
            "between phases".to_owned()
        }
    } else {
        active.join("+")
    };
    let mut line = format!(
        "  [{:>6.1}s / {:.0}s] {phases}",
        elapsed.as_secs_f64().min(end.as_secs_f64() + 3600.0),
        end.as_secs_f64()
    );
    if let Some(l) = p.latest {
        // The planned rate of the same second the figures are from.
        let at = Duration::from_secs(u64::from(l.second)) + Duration::from_millis(500);
        let planned: f64 = schedule
            .phases
            .iter()
            .filter(|ps| at >= ps.start && at < ps.start + ps.duration)
            .map(|ps| ps.rate_at(at - ps.start))
            .sum();
        let errors = if l.sent == 0 {
            0.0
        } else {
            l.errors as f64 * 100.0 / l.sent as f64
        };
        line.push_str(&format!(
            " · {} req/s (arrivals planned {}/s) · p99 {} · errors {}%",
            l.sent,
            num(planned),
            l.p99
                .map_or("-".to_owned(), |v| format!("{} ms", num(v as f64 / 1000.0))),
            num(errors),
        ));
    }
    if p.sessions > 0 {
        line.push_str(&format!(" · {} sessions", p.sessions));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::interval::Totals;

    #[test]
    fn the_status_line_names_the_phase_and_the_latest_second() {
        let scenario = crate::scenario::load_str(
            std::path::Path::new("p.yaml"),
            "name: p\nphases:\n  - { name: warm, duration: 10s, load: { rate: 100/s }, flow: f }\n  - { name: rush, duration: 10s, load: { rate: 50/s .. 150/s }, flow: f }\nflows:\n  f:\n    - { name: x, get: / }\n",
        )
        .unwrap();
        let schedule = Schedule::new(&scenario.phases, 1, 1.0, None);
        let p = Progress {
            latest: Some(Totals {
                second: 14,
                sent: 96,
                errors: 3,
                p99: Some(12_500),
            }),
            sessions: 0,
            sockets: 0,
        };
        let line = status(&scenario, &schedule, Duration::from_secs(16), &p);
        assert!(line.contains("[  16.0s / 20s] rush"), "{line}");
        // Second 14 of the ramp: 50 + 100 × 4.5/10 = 95/s planned.
        assert!(line.contains("96 req/s (arrivals planned 95/s)"), "{line}");
        assert!(line.contains("p99 12.5 ms"), "{line}");
        assert!(line.contains("errors 3.12%"), "{line}");
        let idle = status(
            &scenario,
            &schedule,
            Duration::from_secs(25),
            &Progress::default(),
        );
        assert!(idle.contains("draining"), "{idle}");
    }
}
