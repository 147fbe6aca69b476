//! `flashcrowd worker`: load the scenario and run one slice of a
//! distributed run for its coordinator.
//!
//! Owns the exit code of a worker. Must not print results (the coordinator
//! reports).

use std::sync::Arc;

use super::{exit, WorkerArgs};
use crate::dist::{self, DistError};
use crate::shutdown::Interrupts;

pub(super) async fn run(args: WorkerArgs, interrupts: Interrupts) -> u8 {
    let Some(scenario) = super::validate::load_or_report(&args.file) else {
        return exit::INVALID_INPUT;
    };
    let coordinator = match tokio::net::lookup_host(args.coordinator.as_str())
        .await
        .ok()
        .and_then(|mut a| a.next())
    {
        Some(a) => a,
        None => {
            eprintln!(
                "error: --coordinator: cannot resolve `{}`",
                args.coordinator
            );
            return exit::INVALID_INPUT;
        }
    };
    if args.index >= args.workers {
        eprintln!(
            "error: --index {} is not below --workers {}",
            args.index, args.workers
        );
        return exit::INVALID_INPUT;
    }
    let otlp = match super::otel::config(&args.otlp) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
    };
    let opts = dist::worker::Options {
        coordinator,
        index: args.index,
        count: args.workers,
        region: args.region,
        otlp,
        allowed: args.allow_targets.clone(),
        tls: args.tls.options(),
    };
    match dist::worker::run(Arc::new(scenario), opts, interrupts.stop.clone()).await {
        Ok(()) if interrupts.stop.is_cancelled() => exit::INTERRUPTED,
        Ok(()) => exit::PASS,
        Err(e @ (DistError::Refused(..) | DistError::NotAllowed(_))) => {
            eprintln!("error: worker {}: {e}", args.index);
            exit::INVALID_INPUT
        }
        Err(e) => {
            eprintln!("error: worker {}: {e}", args.index);
            exit::HARNESS_FAILURE
        }
    }
}
