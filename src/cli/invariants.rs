//! After a run with `invariants:`: read the platform's final state, judge
//! the invariants, and write the run's history files beside the report.
//!
//! Owns which read paths apply (the scenario's, else the embedded demo's
//! conventions) and where the history goes. Must not judge anything
//! itself: `reconcile` reads and `invariants` checks.

use super::run::resolve;
use crate::engine;
use crate::invariants;
use crate::reconcile;
use crate::scenario::Scenario;
use crate::shutdown::Interrupts;

/// Judge the scenario's invariants on what the run recorded and the
/// platform's state after the settle delay; an unreadable platform leaves
/// them unjudged, never passed.
pub(super) async fn check(
    scenario: &Scenario,
    target: &url::Url,
    tls: &engine::tls::TlsOptions,
    result: &engine::RunResult,
    out_dir: &std::path::Path,
    interrupts: &Interrupts,
    quiet: bool,
) -> reconcile::Reconciled {
    let mut log = result.recorder.history.clone();
    log.sort();
    if !quiet {
        eprintln!(
            "flashcrowd: checking {} invariant(s) after {} ms to settle ({} checkout attempts, {} polls, {} comments)",
            scenario.invariants.check.len(),
            scenario.invariants.settle.as_millis(),
            log.checkouts.len(),
            log.polls.len(),
            log.comments.len()
        );
    }
    let read = resolve(target)
        .await
        .and_then(|addr| reconcile::ReadTarget::new(target, addr, tls));
    let (reconciled, state) = match read {
        Ok(read) => {
            // The embedded demo's conventions, for the paths the scenario
            // does not name.
            let defaults = reconcile::ReadPaths {
                inventory: crate::demo::readout::INVENTORY.to_owned(),
                orders: crate::demo::readout::ORDERS.to_owned(),
                comments: crate::demo::readout::COMMENTS.to_owned(),
                tracking_order: crate::demo::readout::tracking_order(),
            };
            reconcile::run(
                &scenario.invariants,
                &defaults,
                &read,
                &log,
                &interrupts.stop,
            )
            .await
        }
        Err(e) => {
            let mut r = reconcile::Reconciled::default();
            for k in &scenario.invariants.check {
                r.unread.push((k.name().to_owned(), e.clone()));
            }
            (r, None)
        }
    };
    let files = [
        ("history.jsonl", invariants::to_jsonl(&log)),
        (
            "history.elle.json",
            invariants::to_elle(&log, state.as_ref()),
        ),
    ];
    for (name, text) in files {
        if let Err(e) =
            std::fs::create_dir_all(out_dir).and_then(|()| std::fs::write(out_dir.join(name), text))
        {
            eprintln!("warning: cannot write {name}: {e}");
        }
    }
    reconciled
}
