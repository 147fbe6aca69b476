//! `report.html`: one self-contained page rendered from a [`Report`].
//!
//! Owns the page: its sections (verdict and SLOs, run metadata, steps with
//! time-series and percentile charts, WebSocket delivery, chaos), inline
//! CSS ([`style`]) and inline SVG charts ([`chart`]). The page loads
//! nothing from anywhere (no scripts, fonts or stylesheets from a network)
//! and escapes every text taken from the report. Rendering is
//! deterministic: the same report gives the same bytes.
//!
//! Must not compute statistics: every figure comes from the [`Report`];
//! this module only converts units and lays them out.

mod chart;
mod steps;
mod style;
mod summary;
mod timeline;
mod traces;
mod ws;

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::Report;
use crate::figures::{int, num, pct};
use crate::slo::Verdict;

/// Render the whole page.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let verdict = verdict_word(report.verdict);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"flashcrowd {}\">\n\
         <title>{} · {} · flashcrowd</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n",
        esc(&report.flashcrowd_version),
        esc(&report.scenario.name),
        verdict,
        style::CSS
    );
    let tl = timeline::Timeline::new(report);
    summary::header(&mut out, report);
    summary::slos(&mut out, report);
    summary::invariants(&mut out, report);
    summary::metadata(&mut out, report);
    steps::section(&mut out, report, &tl);
    ws::section(&mut out, report, &tl);
    summary::chaos(&mut out, report);
    traces::section(&mut out, report);
    let _ = write!(
        out,
        "<footer>flashcrowd {} · report schema v{} · run {}</footer>\n</main>\n</body>\n</html>\n",
        esc(&report.flashcrowd_version),
        report.schema_version,
        esc(&report.run_id)
    );
    out
}

/// Write `DIR/report.html` (creating `DIR`), via a temporary file and a
/// rename so a reader never sees half a page. Returns the path written.
pub fn write(dir: &Path, report: &Report) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.html");
    let tmp = dir.join(".report.html.tmp");
    std::fs::write(&tmp, render(report))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Escape text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

/// A latency in µs with a unit that keeps about 3 significant digits;
/// `–` when nothing was recorded.
fn dur(us: u64, samples: u64) -> String {
    if samples == 0 {
        return "–".to_owned();
    }
    let us = us as f64;
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{} ms", chart::fmt_num(us / 1_000.0))
    } else {
        format!("{} s", chart::fmt_num(us / 1_000_000.0))
    }
}

/// Seconds on the run's timeline.
fn secs(s: f64) -> String {
    format!("{s:.2} s")
}

#[cfg(test)]
mod tests;
