//! Service-level objectives: the expression language and verdicts.
//!
//! Owns parsing SLO expressions such as `p99(checkout) < 250ms` ([`parse`]) and
//! judging them against merged metrics ([`eval`]). Must not do I/O, read
//! clocks or know how metrics were collected.

pub mod eval;
mod expr;

pub use eval::{evaluate, verdict, RunHealth, SloResult, SloStatus, StepView, Verdict};
pub use expr::{parse, Metric, Op, Selector, Slo, SloError};
