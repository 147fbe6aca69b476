//! Exit codes: the one place that says what each process exit status means.
//!
//! Must not decide verdicts; it only maps them.

use std::process::ExitCode;

use crate::slo::Verdict;

/// Every SLO held.
pub const PASS: u8 = 0;
/// At least one SLO failed.
pub const SLO_FAILED: u8 = 1;
/// Invalid input: the scenario or the flags.
pub const INVALID_INPUT: u8 = 2;
/// Inconclusive: zero samples, the generator could not keep its schedule,
/// or iterations were dropped.
pub const INCONCLUSIVE: u8 = 3;
/// The harness itself failed (cannot bind, cannot write the report, ...).
pub const HARNESS_FAILURE: u8 = 4;
/// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT, as shells expect).
pub const INTERRUPTED: u8 = 130;

/// Exit status for a finished run's verdict; `interrupted` (by the user)
/// wins over the verdict.
pub fn for_verdict(v: Verdict, interrupted: bool) -> u8 {
    match v {
        _ if interrupted => INTERRUPTED,
        Verdict::Pass => PASS,
        Verdict::Fail => SLO_FAILED,
        Verdict::Inconclusive => INCONCLUSIVE,
    }
}

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
