//! Service-level objectives: the expression language and verdicts.
//!
//! Owns parsing SLO expressions such as `p99(checkout) < 250ms` ([`parse`]),
//! the built-in objectives of a scenario that writes none ([`defaults`]),
//! judging them against merged metrics ([`eval`]) and the run's verdict
//! ([`judge`]). Must not do I/O, read
//! clocks or know how metrics were collected.

mod defaults;
pub mod eval;
mod expr;
mod verdict;

pub use defaults::{defaults, ERROR_RATE as DEFAULT_ERROR_RATE};
pub use eval::{evaluate, SloResult, SloStatus, StepView};
pub use expr::{parse, Metric, Op, Origin, Selector, Slo, SloError};
pub use verdict::{
    judge, settled, GeneratorHealth, InvariantFindings, Judgement, Objectives, RunHealth, Settled,
    Verdict,
};
