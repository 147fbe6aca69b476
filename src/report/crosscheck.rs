//! Two engines' runs of one scenario, side by side: whether flashcrowd's
//! engine and Goose agree on each step's latency distribution.
//!
//! Owns matching the two reports' steps, the agreement rule (a tolerance for
//! run-to-run noise, the histograms' own precision, and an absolute floor)
//! and the `crosscheck` table in text and Markdown. Must not run anything or
//! recompute percentiles: it reads the figures each report already holds.

use std::fmt::Write as _;

use super::terminal::num;
use super::{Latency, Report};

/// How precise two latencies from these reports can be at best, relative
/// to them: Goose's buckets (within 1/128) plus flashcrowd's HDR
/// histograms (3 significant digits, within 1/1000).
pub const HISTOGRAM_PRECISION: f64 = 1.0 / 128.0 + 0.001;

/// How far apart two runs' latencies may be and still agree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Run-to-run noise at p50 and p90, relative to the larger value.
    pub body: f64,
    /// Run-to-run noise at p99.
    pub tail: f64,
    /// Differences up to this (µs) always agree: below it the two HTTP
    /// clients' own costs, not the target, make the difference.
    pub floor_us: u64,
}

/// A percentile compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pct {
    P50,
    P90,
    P99,
}

impl Pct {
    pub const ALL: [Pct; 3] = [Pct::P50, Pct::P90, Pct::P99];

    pub fn name(self) -> &'static str {
        match self {
            Pct::P50 => "p50",
            Pct::P90 => "p90",
            Pct::P99 => "p99",
        }
    }

    fn of(self, l: &Latency) -> u64 {
        match self {
            Pct::P50 => l.p50,
            Pct::P90 => l.p90,
            Pct::P99 => l.p99,
        }
    }
}

impl Tolerance {
    /// The relative difference allowed at `pct`: noise plus precision.
    pub fn relative(&self, pct: Pct) -> f64 {
        let noise = match pct {
            Pct::P50 | Pct::P90 => self.body,
            Pct::P99 => self.tail,
        };
        noise + HISTOGRAM_PRECISION
    }

    /// The difference (µs) allowed between `a` and `b` at `pct`.
    pub fn allowed_us(&self, pct: Pct, a: u64, b: u64) -> u64 {
        let rel = self.relative(pct) * a.max(b) as f64;
        (rel as u64).max(self.floor_us)
    }
}

/// One percentile of one step in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub pct: Pct,
    /// µs; `None` without samples.
    pub native_us: Option<u64>,
    pub goose_us: Option<u64>,
    pub allowed_us: u64,
    /// `None` when either run has no samples of the step.
    pub agrees: Option<bool>,
}

impl Cell {
    /// Goose's value relative to flashcrowd's (+0.02 = 2% higher).
    pub fn difference(&self) -> Option<f64> {
        match (self.native_us, self.goose_us) {
            (Some(a), Some(b)) if a > 0 => Some((b as f64 - a as f64) / a as f64),
            _ => None,
        }
    }
}

/// One step in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub phase: String,
    pub step: String,
    /// Requests sent and errors, by each engine.
    pub native: (u64, u64),
    pub goose: (u64, u64),
    pub cells: Vec<Cell>,
}

/// What the comparison says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// Every percentile of every step agrees.
    Agree,
    /// At least one differs beyond what is allowed.
    Disagree,
    /// Nothing disagrees, but some step has no samples in a run.
    Inconclusive,
}

/// Both runs, step by step.
#[derive(Debug, Clone, PartialEq)]
pub struct Crosscheck {
    pub rows: Vec<Row>,
    pub tolerance: Tolerance,
    pub agreement: Agreement,
    /// The Goose engine's name and version, as its report says.
    pub goose_engine: String,
}

/// Set `native` (flashcrowd's engine) and `goose` side by side. Steps are
/// matched by (phase, step); one missing from either run has no samples
/// there.
pub fn compare(native: &Report, goose: &Report, tolerance: Tolerance) -> Crosscheck {
    let mut rows = Vec::new();
    let empty = Latency::default();
    for n in &native.steps {
        let g = goose
            .steps
            .iter()
            .find(|g| g.phase == n.phase && g.step == n.step);
        let gl = g.map_or(&empty, |g| &g.latency_us);
        let cells = Pct::ALL
            .iter()
            .map(|&pct| {
                let a = (n.latency_us.samples > 0).then(|| pct.of(&n.latency_us));
                let b = (gl.samples > 0).then(|| pct.of(gl));
                let allowed_us = tolerance.allowed_us(pct, a.unwrap_or(0), b.unwrap_or(0));
                let agrees = a.zip(b).map(|(a, b)| a.abs_diff(b) <= allowed_us);
                Cell {
                    pct,
                    native_us: a,
                    goose_us: b,
                    allowed_us,
                    agrees,
                }
            })
            .collect();
        rows.push(Row {
            phase: n.phase.clone(),
            step: n.step.clone(),
            native: (n.count, n.errors),
            goose: g.map_or((0, 0), |g| (g.count, g.errors)),
            cells,
        });
    }
    let cells = || rows.iter().flat_map(|r| &r.cells);
    let agreement = if cells().any(|c| c.agrees == Some(false)) {
        Agreement::Disagree
    } else if rows.is_empty() || cells().any(|c| c.agrees.is_none()) {
        Agreement::Inconclusive
    } else {
        Agreement::Agree
    };
    let goose_engine = goose.generator.engine.as_ref().map_or_else(
        || "goose".to_owned(),
        |e| format!("{} {}", e.name, e.version),
    );
    Crosscheck {
        rows,
        tolerance,
        agreement,
        goose_engine,
    }
}

fn ms(us: Option<u64>) -> String {
    us.map_or("–".to_owned(), |us| {
        format!("{} ms", num(us as f64 / 1_000.0))
    })
}

fn signed_pct(d: Option<f64>) -> String {
    d.map_or("–".to_owned(), |d| format!("{:+.1}%", d * 100.0))
}

fn mark(agrees: Option<bool>) -> &'static str {
    match agrees {
        Some(true) => "✓",
        Some(false) => "✗ DIFFERS",
        None => "? no samples",
    }
}

impl Crosscheck {
    /// The tolerance in words, for the table's header.
    fn rule(&self) -> String {
        let t = &self.tolerance;
        format!(
            "agree within ±{}% at p50/p90 and ±{}% at p99 of the larger value \
             ({}% / {}% run-to-run noise + {}% histogram precision), or within {} ms",
            num(t.relative(Pct::P50) * 100.0),
            num(t.relative(Pct::P99) * 100.0),
            num(t.body * 100.0),
            num(t.tail * 100.0),
            num(HISTOGRAM_PRECISION * 100.0),
            num(t.floor_us as f64 / 1_000.0),
        )
    }

    fn verdict(&self) -> &'static str {
        match self.agreement {
            Agreement::Agree => "AGREE (exit 0)",
            Agreement::Disagree => "DISAGREE (exit 1)",
            Agreement::Inconclusive => "INCONCLUSIVE (exit 3)",
        }
    }

    /// The table for the terminal.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n  crosscheck: flashcrowd vs {}", self.goose_engine);
        let _ = writeln!(out, "  {}\n", self.rule());
        let head = [
            "step",
            "",
            "flashcrowd",
            self.goose_engine.as_str(),
            "diff",
            "allowed",
            "",
        ];
        let mut lines: Vec<[String; 7]> = Vec::new();
        for r in &self.rows {
            for (i, c) in r.cells.iter().enumerate() {
                let name = if i == 0 {
                    format!("{}/{}", r.phase, r.step)
                } else {
                    String::new()
                };
                lines.push([
                    name,
                    c.pct.name().to_owned(),
                    ms(c.native_us),
                    ms(c.goose_us),
                    signed_pct(c.difference()),
                    format!("±{}", ms(Some(c.allowed_us))),
                    mark(c.agrees).to_owned(),
                ]);
            }
        }
        let mut widths = head.map(|h| h.chars().count());
        for l in &lines {
            for (w, cell) in widths.iter_mut().zip(l) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let fmt = |cells: [&str; 7]| {
            let mut s = String::from(" ");
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = w.saturating_sub(cell.chars().count());
                // Names and marks to the left, figures to the right.
                if i < 2 || i == 6 {
                    let _ = write!(s, " {cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(s, " {}{cell}", " ".repeat(pad));
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", fmt(head));
        let rule_len = widths.iter().sum::<usize>() + widths.len();
        let _ = writeln!(out, "  {}", "─".repeat(rule_len));
        for l in &lines {
            let _ = writeln!(out, "{}", fmt(l.each_ref().map(String::as_str)));
        }
        let _ = writeln!(out);
        for r in &self.rows {
            let _ = writeln!(
                out,
                "  {}/{}: flashcrowd sent {} ({} errors), {} sent {} ({} errors)",
                r.phase, r.step, r.native.0, r.native.1, self.goose_engine, r.goose.0, r.goose.1
            );
        }
        let _ = writeln!(out, "\n  verdict: {}", self.verdict());
        out
    }

    /// `crosscheck.md`.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Crosscheck: flashcrowd vs {}\n", self.goose_engine);
        let _ = writeln!(out, "**{}**. Latencies {}.\n", self.verdict(), self.rule());
        let _ = writeln!(
            out,
            "| step | | flashcrowd | {} | diff | allowed | |",
            self.goose_engine
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---|");
        for r in &self.rows {
            for c in &r.cells {
                let _ = writeln!(
                    out,
                    "| {}/{} | {} | {} | {} | {} | ±{} | {} |",
                    md(&r.phase),
                    md(&r.step),
                    c.pct.name(),
                    ms(c.native_us),
                    ms(c.goose_us),
                    signed_pct(c.difference()),
                    ms(Some(c.allowed_us)),
                    mark(c.agrees)
                );
            }
        }
        let _ = writeln!(
            out,
            "\n| step | flashcrowd sent | errors | {} sent | errors |",
            self.goose_engine
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {}/{} | {} | {} | {} | {} |",
                md(&r.phase),
                md(&r.step),
                r.native.0,
                r.native.1,
                r.goose.0,
                r.goose.1
            );
        }
        out
    }
}

/// A name safe inside a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance {
        body: 0.10,
        tail: 0.25,
        floor_us: 1_000,
    };

    #[test]
    fn the_allowed_difference_adds_noise_and_precision_and_never_falls_below_the_floor() {
        // 20 ms at p50: 10% + 0.88% of 20 ms.
        assert_eq!(TOL.allowed_us(Pct::P50, 20_000, 19_000), 2_176);
        assert_eq!(TOL.allowed_us(Pct::P99, 40_000, 41_000), 10_611);
        // Sub-millisecond latencies: the floor decides.
        assert_eq!(TOL.allowed_us(Pct::P50, 200, 350), 1_000);
    }

    fn report_with(p50: u64, p90: u64, p99: u64, samples: u64) -> Report {
        let mut r: Report = serde_json::from_str(include_str!(
            "../../tests/fixtures/reports/gate/report.json"
        ))
        .unwrap();
        r.steps.truncate(1);
        let l = &mut r.steps[0].latency_us;
        (l.p50, l.p90, l.p99, l.samples) = (p50, p90, p99, samples);
        r
    }

    #[test]
    fn engines_within_the_tolerance_agree_and_one_beyond_it_disagrees() {
        let native = report_with(20_100, 20_600, 24_000, 500);
        let close = report_with(20_500, 21_000, 27_000, 480);
        let c = compare(&native, &close, TOL);
        assert_eq!(c.agreement, Agreement::Agree, "{}", c.render_text());
        assert!((c.rows[0].cells[0].difference().unwrap() - 0.0199).abs() < 0.001);
        // Goose 30% slower at the median: one of them has a bug.
        let far = report_with(26_200, 27_000, 30_000, 480);
        let c = compare(&native, &far, TOL);
        assert_eq!(c.agreement, Agreement::Disagree);
        assert_eq!(c.rows[0].cells[0].agrees, Some(false));
        assert!(c.render_text().contains("✗ DIFFERS"));
        assert!(c.render_markdown().contains("DISAGREE (exit 1)"));
    }

    #[test]
    fn a_step_without_samples_in_one_run_is_inconclusive_never_an_agreement() {
        let native = report_with(20_100, 20_600, 24_000, 500);
        let none = report_with(0, 0, 0, 0);
        let c = compare(&native, &none, TOL);
        assert_eq!(c.agreement, Agreement::Inconclusive);
        assert!(c.render_text().contains("no samples"));
    }
}
