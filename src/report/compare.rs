//! Comparing a candidate run with a base run of the same scenario: per
//! (phase, step) and per (phase, step, region), what changed and whether it
//! changed beyond the allowed limits.
//!
//! Owns the matching of rows, the deltas, the regression limits
//! ([`Thresholds`], the `--max-regression` syntax) and writing
//! `compare.md`/`compare.html`. Must not recompute percentiles: it compares
//! the figures each report already holds. Whether two runs may be compared
//! at all (same scenario) is the caller's decision; [`same_scenario`] tells.

mod render;

use std::path::{Path, PathBuf};

pub use render::{render_html, render_markdown, render_text};

use super::output::{write_atomic, ReportError};
use super::{Latency, Report};
use crate::slo::Verdict;

/// A figure compared between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    P50,
    P99,
    Max,
    /// Errors per request, in %; limits are absolute percentage points.
    ErrorRate,
    /// Requests per second; limits are a relative drop.
    Rps,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::P50,
        Metric::P99,
        Metric::Max,
        Metric::ErrorRate,
        Metric::Rps,
    ];

    /// The name in `--max-regression` and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::Max => "max",
            Metric::ErrorRate => "error_rate",
            Metric::Rps => "rps",
        }
    }

    fn is_latency(self) -> bool {
        matches!(self, Metric::P50 | Metric::P99 | Metric::Max)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How far each metric may move before it counts as a regression; `None`:
/// shown, never judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    limits: [Option<f64>; 5],
}

/// `--max-regression` defaults: median latency may rise 20 %, p99 10 %, the
/// error rate 0.1 percentage points, and throughput may fall 5 %. The
/// maximum is one request's worth of luck, so it is shown but not judged.
pub const DEFAULT_THRESHOLDS: &str = "p50=20%,p99=10%,max=off,error_rate=0.1pp,rps=-5%";

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            limits: [Some(20.0), Some(10.0), None, Some(0.1), Some(-5.0)],
        }
    }
}

impl Thresholds {
    /// Parse `p99=10%,p50=20%,error_rate=0.1pp,rps=-5%` over the defaults:
    /// metrics not listed keep their default; `off` stops judging one.
    pub fn parse(spec: &str) -> Result<Thresholds, ReportError> {
        let mut t = Thresholds::default();
        let bad = |m: String| Err(ReportError::Threshold(m));
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return bad(format!("`{item}`: expected METRIC=LIMIT, e.g. p99=10%"));
            };
            let (key, value) = (key.trim(), value.trim());
            let Some(metric) = Metric::ALL.into_iter().find(|m| m.name() == key) else {
                return bad(format!(
                    "`{key}` is not a compared metric; choose from p50, p99, max, error_rate, rps"
                ));
            };
            if value == "off" {
                t.limits[metric.index()] = None;
                continue;
            }
            let (number, hint) = match metric {
                Metric::ErrorRate => (
                    value.strip_suffix("pp"),
                    "give the error-rate limit in percentage points, e.g. error_rate=0.1pp \
                     (0.5 % → 0.6 % is +0.1 pp)"
                        .to_owned(),
                ),
                Metric::Rps => (
                    value.strip_suffix('%'),
                    "give the largest allowed throughput drop as a negative percentage, \
                     e.g. rps=-5%"
                        .to_owned(),
                ),
                _ => (
                    value.strip_suffix('%'),
                    format!(
                        "give a latency limit as the largest allowed rise in percent, e.g. {key}=10%"
                    ),
                ),
            };
            let parsed = number.and_then(|n| n.trim().parse::<f64>().ok());
            let limit = match (metric, parsed) {
                (Metric::Rps, Some(v)) if v.is_finite() && v <= 0.0 => v,
                (Metric::Rps, _) => return bad(format!("`{item}`: {hint}")),
                (_, Some(v)) if v.is_finite() && v >= 0.0 => v,
                _ => return bad(format!("`{item}`: {hint}")),
            };
            t.limits[metric.index()] = Some(limit);
        }
        Ok(t)
    }

    /// The limit for `m`, in its own terms (%, pp, or a negative %).
    pub fn limit(&self, m: Metric) -> Option<f64> {
        self.limits[m.index()]
    }
}

/// Whether two reports come from the same scenario file contents.
pub fn same_scenario(base: &Report, candidate: &Report) -> bool {
    base.scenario.sha256 == candidate.scenario.sha256
}

/// What a run was, for the heading of a comparison.
#[derive(Debug, Clone)]
pub struct RunRef {
    pub run_id: String,
    pub scenario: String,
    pub sha256: String,
    pub started_at: String,
    pub scale: f64,
    pub verdict: Verdict,
}

/// The compared figures of one row in one run.
#[derive(Debug, Clone, Copy)]
struct Figures {
    count: u64,
    errors: u64,
    rps: f64,
    latency: Latency,
}

impl Figures {
    /// The metric's value; `None` where the run has nothing to say (no
    /// latency without samples, no error rate without requests).
    fn get(&self, m: Metric) -> Option<f64> {
        let l = &self.latency;
        match m {
            Metric::P50 | Metric::P99 | Metric::Max if l.samples == 0 => None,
            Metric::P50 => Some(l.p50 as f64),
            Metric::P99 => Some(l.p99 as f64),
            Metric::Max => Some(l.max as f64),
            Metric::ErrorRate if self.count == 0 => None,
            Metric::ErrorRate => Some(self.errors as f64 * 100.0 / self.count as f64),
            Metric::Rps => Some(self.rps),
        }
    }
}

/// How one metric of one row came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Beyond its limit.
    Regressed,
    /// Within its limit.
    Held,
    /// No limit for this metric.
    NotGated,
    /// One of the runs has no value.
    NoData,
}

/// One metric of one row: latencies in µs, the error rate in %, rps.
#[derive(Debug, Clone, Copy)]
pub struct Delta {
    pub metric: Metric,
    pub base: Option<f64>,
    pub candidate: Option<f64>,
    /// `candidate − base` (percentage points for the error rate).
    pub change: Option<f64>,
    /// The change relative to the base, in %; `None` for a zero base.
    pub relative_pct: Option<f64>,
    /// The limit it was judged against ([`Thresholds::limit`]).
    pub limit: Option<f64>,
    pub judgement: Judgement,
}

/// Which runs a row exists in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Both,
    BaseOnly,
    CandidateOnly,
}

/// One (phase, step) or (phase, step, region).
#[derive(Debug, Clone)]
pub struct Row {
    pub phase: String,
    pub step: String,
    pub region: Option<String>,
    pub presence: Presence,
    pub deltas: Vec<Delta>,
}

impl Row {
    /// `phase/step` or `phase/step · region`.
    pub fn label(&self) -> String {
        match &self.region {
            Some(r) => format!("{}/{} · {r}", self.phase, self.step),
            None => format!("{}/{}", self.phase, self.step),
        }
    }

    pub fn regressions(&self) -> impl Iterator<Item = &Delta> {
        self.deltas
            .iter()
            .filter(|d| d.judgement == Judgement::Regressed)
    }
}

/// A candidate run against a base run.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub base: RunRef,
    pub candidate: RunRef,
    pub thresholds: Thresholds,
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Metrics beyond their limit, over every row.
    pub fn regressions(&self) -> usize {
        self.rows.iter().map(|r| r.regressions().count()).sum()
    }

    pub fn same_scenario(&self) -> bool {
        self.base.sha256 == self.candidate.sha256
    }
}

/// Compare `candidate` with `base`, matching steps by (phase, step) and
/// region rows by (phase, step, region). Rows in one run only are listed,
/// not judged.
pub fn compare(base: &Report, candidate: &Report, thresholds: &Thresholds) -> Comparison {
    let base_rows = rows_of(base);
    let cand_rows = rows_of(candidate);
    let mut rows = Vec::new();
    for (key, b) in &base_rows {
        let c = cand_rows.iter().find(|(k, _)| k == key).map(|(_, f)| f);
        rows.push(row(key, Some(b), c, thresholds));
    }
    for (key, c) in &cand_rows {
        if !base_rows.iter().any(|(k, _)| k == key) {
            rows.push(row(key, None, Some(c), thresholds));
        }
    }
    Comparison {
        base: run_ref(base),
        candidate: run_ref(candidate),
        thresholds: thresholds.clone(),
        rows,
    }
}

/// Write `compare.md` and `compare.html` into `dir`. Returns the paths.
pub fn write(dir: &Path, c: &Comparison) -> Result<Vec<PathBuf>, ReportError> {
    Ok(vec![
        write_atomic(dir, "compare.md", render_markdown(c).as_bytes())?,
        write_atomic(dir, "compare.html", render_html(c).as_bytes())?,
    ])
}

type Key = (String, String, Option<String>);

/// Every step, then each of its regions with requests, in report order.
fn rows_of(r: &Report) -> Vec<(Key, Figures)> {
    let mut out = Vec::new();
    for s in &r.steps {
        out.push((
            (s.phase.clone(), s.step.clone(), None),
            Figures {
                count: s.count,
                errors: s.errors,
                rps: s.rps,
                latency: s.latency_us,
            },
        ));
        for g in s.regions.iter().filter(|g| g.count > 0) {
            out.push((
                (s.phase.clone(), s.step.clone(), Some(g.region.clone())),
                Figures {
                    count: g.count,
                    errors: g.errors,
                    rps: g.rps,
                    latency: g.latency_us,
                },
            ));
        }
    }
    out
}

fn row(key: &Key, base: Option<&Figures>, cand: Option<&Figures>, t: &Thresholds) -> Row {
    let presence = match (base, cand) {
        (Some(_), Some(_)) => Presence::Both,
        (Some(_), None) => Presence::BaseOnly,
        _ => Presence::CandidateOnly,
    };
    let deltas = Metric::ALL
        .into_iter()
        .map(|m| {
            delta(
                m,
                base.and_then(|f| f.get(m)),
                cand.and_then(|f| f.get(m)),
                t,
            )
        })
        .collect();
    Row {
        phase: key.0.clone(),
        step: key.1.clone(),
        region: key.2.clone(),
        presence,
        deltas,
    }
}

/// Floating-point slack so a change exactly at its limit is not a regression.
const EPSILON: f64 = 1e-9;

fn delta(m: Metric, base: Option<f64>, cand: Option<f64>, t: &Thresholds) -> Delta {
    let (change, relative_pct) = match (base, cand) {
        (Some(b), Some(c)) => (Some(c - b), (b != 0.0).then(|| (c - b) * 100.0 / b)),
        _ => (None, None),
    };
    let judgement = match (t.limit(m), change) {
        (_, None) => Judgement::NoData,
        (None, Some(_)) => Judgement::NotGated,
        (Some(limit), Some(change)) => {
            let regressed = if m == Metric::ErrorRate {
                change > limit + EPSILON
            } else if m == Metric::Rps {
                // A base without throughput cannot fall any further.
                relative_pct.is_some_and(|r| r < limit - EPSILON)
            } else {
                debug_assert!(m.is_latency());
                match relative_pct {
                    Some(r) => r > limit + EPSILON,
                    // From zero to anything is an unbounded rise.
                    None => change > 0.0,
                }
            };
            if regressed {
                Judgement::Regressed
            } else {
                Judgement::Held
            }
        }
    };
    Delta {
        metric: m,
        base,
        candidate: cand,
        change,
        relative_pct,
        limit: t.limit(m),
        judgement,
    }
}

fn run_ref(r: &Report) -> RunRef {
    RunRef {
        run_id: r.run_id.clone(),
        scenario: r.scenario.name.clone(),
        sha256: r.scenario.sha256.clone(),
        started_at: r.started_at.clone(),
        scale: r.scale,
        verdict: r.verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::{delta, Judgement, Metric, Thresholds, DEFAULT_THRESHOLDS};

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        assert_eq!(
            Thresholds::parse(DEFAULT_THRESHOLDS).unwrap(),
            Thresholds::default()
        );
    }

    #[test]
    fn limits_override_defaults_one_metric_at_a_time() {
        let t = Thresholds::parse("p99=15%, error_rate=0.5pp,rps=-10%,p50=off").unwrap();
        assert_eq!(t.limit(Metric::P99), Some(15.0));
        assert_eq!(t.limit(Metric::ErrorRate), Some(0.5));
        assert_eq!(t.limit(Metric::Rps), Some(-10.0));
        assert_eq!(t.limit(Metric::P50), None);
        assert_eq!(t.limit(Metric::Max), None);
    }

    #[test]
    fn bad_limits_say_how_to_write_them() {
        for (spec, hint) in [
            ("p99", "METRIC=LIMIT"),
            ("p95=10%", "choose from p50, p99, max, error_rate, rps"),
            ("p99=10", "p99=10%"),
            ("p99=-3%", "p99=10%"),
            ("error_rate=0.1%", "percentage points"),
            ("rps=5%", "negative percentage"),
            ("max=NaN%", "max=10%"),
        ] {
            let e = Thresholds::parse(spec).unwrap_err().to_string();
            assert!(e.contains(hint), "{spec}: {e}");
        }
    }

    #[test]
    fn each_metric_regresses_in_its_own_direction_and_unit() {
        let t = Thresholds::default();
        let j = |m, b, c| delta(m, Some(b), Some(c), &t).judgement;
        assert_eq!(j(Metric::P99, 100.0, 110.0), Judgement::Held);
        assert_eq!(j(Metric::P99, 100.0, 111.0), Judgement::Regressed);
        assert_eq!(j(Metric::P99, 100.0, 50.0), Judgement::Held);
        assert_eq!(j(Metric::P99, 0.0, 5.0), Judgement::Regressed);
        assert_eq!(j(Metric::ErrorRate, 0.5, 0.6), Judgement::Held);
        assert_eq!(j(Metric::ErrorRate, 0.5, 0.61), Judgement::Regressed);
        assert_eq!(j(Metric::Rps, 100.0, 95.0), Judgement::Held);
        assert_eq!(j(Metric::Rps, 100.0, 94.0), Judgement::Regressed);
        assert_eq!(j(Metric::Rps, 100.0, 300.0), Judgement::Held);
        assert_eq!(j(Metric::Max, 1.0, 1e9), Judgement::NotGated);
        assert_eq!(
            delta(Metric::P50, None, Some(1.0), &t).judgement,
            Judgement::NoData
        );
    }
}
