//! `flashcrowd crosscheck`: the same closed-model scenario run by
//! flashcrowd's engine and then by Goose, against the same target, and
//! their latencies compared step by step.
//!
//! Owns the order of the two runs, where their reports go and the exit
//! code. Each run is an ordinary `run` (so an embedded target starts afresh
//! for each engine); the comparison itself is `report::crosscheck`. Must
//! not contain domain rules.

use std::path::PathBuf;

use super::{exit, run, CrosscheckArgs, Engine, RunArgs};
use crate::report::crosscheck::{self, Agreement, Tolerance};
use crate::report::{self, Format};
use crate::shutdown::Interrupts;

pub(super) async fn run(args: CrosscheckArgs, interrupts: Interrupts) -> u8 {
    // Refused before either engine sends anything.
    let Some(scenario) = super::validate::load_or_report(&args.file) else {
        return exit::INVALID_INPUT;
    };
    let refused = crate::goose_engine::unsupported(&scenario);
    if !refused.is_empty() {
        eprintln!(
            "error: {}: the Goose engine cannot run this scenario, so there is nothing to cross-check:",
            args.file.display()
        );
        for u in &refused {
            eprintln!("  {u}");
        }
        return exit::INVALID_INPUT;
    }
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "{}-crosscheck-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            super::run::slug(&scenario.name)
        ))
    });
    let mut reports = Vec::with_capacity(2);
    for engine in [Engine::Flashcrowd, Engine::Goose] {
        let dir = out.join(engine.name());
        if !args.quiet {
            eprintln!(
                "crosscheck: running {} with {}'s engine (report in {})",
                args.file.display(),
                engine.name(),
                dir.display()
            );
        }
        let code = run::run(run_args(&args, engine, dir.clone()), interrupts.clone()).await;
        // An SLO verdict is the run's own business: the crosscheck judges
        // agreement. Anything else ends it.
        if !matches!(code, exit::PASS | exit::SLO_FAILED | exit::INCONCLUSIVE) {
            return code;
        }
        match report::read(&dir) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::HARNESS_FAILURE;
            }
        }
    }
    let [native, goose] = match <[report::Report; 2]>::try_from(reports) {
        Ok(pair) => pair,
        Err(_) => return exit::HARNESS_FAILURE,
    };
    let tolerance = Tolerance {
        body: args.tolerance,
        tail: args.tail_tolerance,
        floor_us: u64::try_from(args.floor.as_micros()).unwrap_or(u64::MAX),
    };
    let c = crosscheck::compare(&native, &goose, tolerance);
    print!("{}", c.render_text());
    match report::write_atomic(&out, "crosscheck.md", c.render_markdown().as_bytes()) {
        Ok(path) => println!("  written: {}", path.display()),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HARNESS_FAILURE;
        }
    }
    match c.agreement {
        Agreement::Agree => exit::PASS,
        Agreement::Disagree => exit::SLO_FAILED,
        Agreement::Inconclusive => exit::INCONCLUSIVE,
    }
}

/// The `run` of one engine: the crosscheck's flags, report.json only, no
/// summary of its own.
fn run_args(args: &CrosscheckArgs, engine: Engine, out: PathBuf) -> RunArgs {
    RunArgs {
        file: args.file.clone(),
        target: args.target.clone(),
        reshape: args.reshape.clone(),
        out: Some(out),
        format: vec![Format::Json],
        connections: args.connections,
        backlog: 100_000,
        source_addrs: None,
        quiet: true,
        workers: None,
        coordinator_listen: None,
        remote_workers: false,
        barrier_timeout: std::time::Duration::from_secs(30),
        allow_partial: false,
        demo_faults: Vec::new(),
        allow_targets: args.allow_targets.clone(),
        dry_run: false,
        tls: super::TlsFlags::default(),
        otlp: super::OtlpFlags::default(),
        engine,
    }
}
