//! `flashcrowd compare BASE_DIR CANDIDATE_DIR`: set a candidate run beside a
//! base run, print the differences and write `compare.md`/`compare.html`.
//!
//! Owns the refusal to compare different scenarios and the exit code. Must
//! not judge figures itself; `report::compare` does.

use super::{exit, CompareArgs};
use crate::report::{self, compare};

pub(super) fn run(args: &CompareArgs) -> u8 {
    let (base, candidate) = match (report::read(&args.base), report::read(&args.candidate)) {
        (Ok(b), Ok(c)) => (b, c),
        (b, c) => {
            for e in [b.err(), c.err()].into_iter().flatten() {
                eprintln!("error: {e}");
            }
            return exit::INVALID_INPUT;
        }
    };
    if !compare::same_scenario(&base, &candidate) && !args.allow_different_scenario {
        eprintln!(
            "error: the runs come from different scenario files (base {} sha256 {}, candidate {} \
             sha256 {}): the same step name need not mean the same work, so their figures are \
             not compared. Pass --allow-different-scenario to compare them anyway.",
            base.scenario.name,
            base.scenario.sha256,
            candidate.scenario.name,
            candidate.scenario.sha256
        );
        return exit::INVALID_INPUT;
    }
    let thresholds = args.max_regression.clone().unwrap_or_default();
    let comparison = compare::compare(&base, &candidate, &thresholds);
    if !args.quiet {
        print!("{}", compare::render_text(&comparison));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| super::report::run_dir(&args.candidate));
    match compare::write(&out, &comparison) {
        Ok(paths) => {
            if !args.quiet {
                for p in paths {
                    println!("  wrote {}", p.display());
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HARNESS_FAILURE;
        }
    }
    if comparison.regressions() > 0 {
        exit::SLO_FAILED
    } else {
        exit::PASS
    }
}
