//! Judging SLOs against merged metrics. STUB.
use super::Slo;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}
#[derive(Debug, Clone)]
pub struct SloResult {
    pub slo: Slo,
}
pub fn evaluate() {}
