//! The compact human summary printed at the end of a run.
//!
//! Owns layout only: a per-step table (count, rps, p50/p99/p99.9/max,
//! errors), WebSocket fan-out and socket lines, the schedule line, each SLO
//! with ✓/✗ and the verdict. Must not
//! compute statistics; everything comes from the [`Report`].

use std::fmt::Write as _;

pub(crate) use crate::figures::{num, pct};

use super::{Latency, Report, StepReport};
use crate::slo::{Objectives, SloStatus, Verdict};

/// Render the summary as text (ends with a newline).
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nflashcrowd {} · scenario {} · seed {} · scale {} · {:.1} s · {}",
        r.flashcrowd_version,
        r.scenario.name,
        r.seed,
        num(r.scale),
        r.duration_s,
        r.target
    );
    if r.insecure {
        let _ = writeln!(
            out,
            "  ⚠ INSECURE RUN: TLS certificates were not verified (--insecure)"
        );
    }
    let header = [
        "phase", "step", "count", "rps", "p50", "p99", "p99.9", "max", "errors",
    ];
    let mut rows: Vec<[String; 9]> = vec![header.map(str::to_owned)];
    for s in &r.steps {
        rows.push(step_row(s));
        // Region rows under their step, so regions compare at a glance.
        for g in s.regions.iter().filter(|g| g.count > 0) {
            rows.push(row(
                String::new(),
                format!("└ {}", g.region),
                g.count,
                g.rps,
                &g.latency_us,
                g.errors,
            ));
        }
    }
    let mut widths = [0usize; 9];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::from("  ");
        for (c, (cell, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Names left-aligned, numbers right-aligned.
            if c < 2 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
                line.push_str("  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * widths.len();
            let _ = writeln!(out, "  {}", "─".repeat(total.saturating_sub(2)));
        }
    }
    for s in r.steps.iter().filter(|s| s.errors > 0) {
        let _ = writeln!(
            out,
            "  {}/{} errors: {}",
            s.phase,
            s.step,
            error_breakdown(s)
        );
    }
    ws_lines(&mut out, r);
    chaos_lines(&mut out, r);
    let t = &r.totals;
    let _ = writeln!(
        out,
        "\n  schedule: {} scheduled, {} started, {} late (> {} ms), {} dropped · dispatch lag p99 {} ms · start delay p99 {} ms",
        t.scheduled,
        t.started,
        t.late,
        num(r.generator.late_after_ms),
        t.dropped,
        num(r.generator.dispatch_lag_p99_ms),
        num(r.generator.start_delay_p99_ms),
    );
    let _ = writeln!(
        out,
        "  requests: {} sent, {} ok, {} errors",
        t.sent, t.ok, t.errors
    );
    if let Some(e) = &r.generator.engine {
        let _ = writeln!(out, "  {}", engine_line(e));
    }
    slo_lines(&mut out, r);
    if let Some(inv) = &r.invariants {
        let _ = writeln!(
            out,
            "\n  Invariants ({} checkout attempts, {} unknown; {} polls; {} comments)",
            inv.attempts, inv.unknown, inv.polls, inv.comments
        );
        for v in &inv.verdicts {
            let unit = crate::invariants::counted(&v.name);
            let (mark, what) = if v.holds {
                ("✓", format!("holds over {} {unit}", v.checked))
            } else {
                (
                    "✗",
                    format!("{} of {} {unit} break it", v.violations, v.checked),
                )
            };
            let _ = writeln!(out, "  {mark} {:<22} {what}", v.name);
            for e in v.examples.iter().take(3) {
                let _ = writeln!(out, "      {e}");
            }
        }
        for (name, why) in &inv.unread {
            let _ = writeln!(out, "  ? {name:<22} not judged: {why}");
        }
    }
    trace_lines(&mut out, r);
    let _ = writeln!(out);
    for reason in &r.verdict_reasons {
        let _ = writeln!(out, "  · {reason}");
    }
    let (word, code) = match r.verdict {
        Verdict::Pass => ("PASS", 0),
        Verdict::Fail => ("FAIL", 1),
        Verdict::Inconclusive => ("INCONCLUSIVE", 3),
    };
    let _ = writeln!(
        out,
        "  verdict: {word} (exit {code}{})",
        if r.partial { ", partial" } else { "" }
    );
    out
}

/// The objectives and how each came out; defaults are marked as such and a
/// run with `slos: []` says that nothing was judged.
fn slo_lines(out: &mut String, r: &Report) {
    match r.objectives {
        Objectives::None => {
            let _ = writeln!(
                out,
                "\n  SLOs: none (`slos: []`): measured only, no objective judged"
            );
            return;
        }
        Objectives::Defaults => {
            let _ = writeln!(
                out,
                "\n  SLOs: defaults (the scenario has no `slos:`; write your own to judge it, or `slos: []` for none)"
            );
        }
        Objectives::Written if r.slos.is_empty() => return,
        Objectives::Written => {
            let _ = writeln!(out, "\n  SLOs");
        }
    }
    let w = r
        .slos
        .iter()
        .map(|s| s.expr.chars().count())
        .max()
        .unwrap_or(0);
    for s in &r.slos {
        let mark = match s.status {
            _ if s.generator_doubt => "?",
            SloStatus::Pass => "✓",
            SloStatus::Fail => "✗",
            SloStatus::NoData => "?",
        };
        let observed = match s.observed {
            // A ratio near 100% needs its decimals: 99.95% is not 100%.
            Some(o) if s.unit == "%" => format!("observed {} %", pct(o)),
            Some(o) => format!("observed {} {}", num(o), s.unit),
            None => "no samples".to_owned(),
        };
        let pad = w - s.expr.chars().count();
        let tag = match (s.default, s.generator_doubt) {
            (_, true) => "  (not settled: generator lag)",
            (true, false) => "  (default)",
            (false, false) => "",
        };
        let _ = writeln!(
            out,
            "  {mark} {}{}  {observed}{tag}",
            s.expr,
            " ".repeat(pad)
        );
    }
}

/// The slowest traced request of each step, and what was exported.
fn trace_lines(out: &mut String, r: &Report) {
    let Some(t) = &r.telemetry else {
        return;
    };
    if t.trace_sample > 0.0 {
        let _ = writeln!(
            out,
            "\n  Traces ({} % of requests carried traceparent; slowest per step)",
            pct(t.trace_sample * 100.0)
        );
        for s in &r.steps {
            if let Some(x) = s.traces.first() {
                let _ = writeln!(
                    out,
                    "  {}/{}  {}  trace {}",
                    s.phase,
                    s.step,
                    dur(x.latency_us, 1),
                    x.trace_id
                );
            }
        }
    }
    if let Some(e) = &t.export {
        let _ = writeln!(
            out,
            "  OpenTelemetry: {} exports to {} accepted, {} failed, {} dropped; {} spans",
            e.sent, e.endpoint, e.failed, e.dropped, e.spans
        );
    }
}

fn step_row(s: &StepReport) -> [String; 9] {
    row(
        s.phase.clone(),
        s.step.clone(),
        s.count,
        s.rps,
        &s.latency_us,
        s.errors,
    )
}

fn row(phase: String, step: String, count: u64, rps: f64, l: &Latency, errors: u64) -> [String; 9] {
    let pct = if count == 0 {
        0.0
    } else {
        errors as f64 * 100.0 / count as f64
    };
    [
        phase,
        step,
        count.to_string(),
        num(rps),
        dur(l.p50, l.samples),
        dur(l.p99, l.samples),
        dur(l.p99_9, l.samples),
        dur(l.max, l.samples),
        format!("{errors} ({}%)", num(pct)),
    ]
}

/// The chaos timeline as it happened: one line per change.
fn chaos_lines(out: &mut String, r: &Report) {
    let Some(c) = &r.chaos else { return };
    if c.transitions.is_empty() && c.cleanup_error.is_none() {
        return;
    }
    let _ = writeln!(out, "\n  chaos ({})", c.backend);
    for t in &c.transitions {
        let failed = t
            .error
            .as_deref()
            .map_or(String::new(), |e| format!("  FAILED: {e}"));
        let _ = writeln!(
            out,
            "  {:>8.2} s  {:<8} {} {} ({}){failed}",
            t.at_s, t.region, t.event, t.change, t.action
        );
    }
    if let Some(e) = &c.cleanup_error {
        let _ = writeln!(out, "  cleanup FAILED: {e}");
    }
}

fn error_breakdown(s: &StepReport) -> String {
    let o = &s.outcomes;
    let parts = [
        ("unexpected status", o.bad_status),
        ("check failed", o.check_failed),
        ("timeout", o.timeout),
        ("connect error", o.connect_error),
        ("connection broken", o.io_error),
        ("aborted", o.aborted),
        ("invalid request", o.invalid_request),
    ];
    let mut text: Vec<String> = parts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    if o.status_5xx > 0 {
        text.push(format!("({} × 5xx)", o.status_5xx));
    }
    text.join(", ")
}

/// A latency in µs, shown with a unit that keeps 3 significant digits.
pub(crate) fn dur(us: u64, samples: u64) -> String {
    if samples == 0 {
        return "-".to_owned();
    }
    let us = us as f64;
    if us < 1_000.0 {
        format!("{us:.0}µs")
    } else if us < 1_000_000.0 {
        format!("{}ms", num(us / 1_000.0))
    } else {
        format!("{}s", num(us / 1_000_000.0))
    }
}

/// One line per WebSocket `send` step (fan-out) and per `ws` step whose
/// sockets closed, reconnected or broke.
fn ws_lines(out: &mut String, r: &Report) {
    let mut first = true;
    for s in &r.steps {
        let Some(ws) = &s.ws else { continue };
        let mut line = String::new();
        if ws.messages > 0 {
            let f = &ws.fanout_us;
            let ratio = ws
                .delivery_ratio
                .map_or("-".to_owned(), |d| format!("{}%", pct(d * 100.0)));
            let _ = write!(
                line,
                "{} messages → {} of {} deliveries ({ratio}), fan-out p50 {} p99 {} p99.9 {} max {}",
                ws.messages,
                ws.received,
                ws.expected,
                ms(f.p50),
                ms(f.p99),
                ms(f.p99_9),
                ms(f.max),
            );
            if ws.duplicates + ws.out_of_order > 0 {
                let _ = write!(
                    line,
                    ", {} duplicate, {} out of order",
                    ws.duplicates, ws.out_of_order
                );
            }
            if ws.unexpected > 0 {
                let _ = write!(
                    line,
                    ", {} to viewers not yet or no longer in the room",
                    ws.unexpected
                );
            }
        }
        if ws.reconnects > 0 || !ws.closed_by_server.is_empty() || ws.broken > 0 {
            let closes: Vec<String> = ws
                .closed_by_server
                .iter()
                .map(|(code, n)| format!("{n}×{code}"))
                .collect();
            let _ = write!(
                line,
                "{}sockets closed by server: {} · broken: {} · reconnects: {}",
                if line.is_empty() { "" } else { "; " },
                if closes.is_empty() {
                    "0".to_owned()
                } else {
                    closes.join(", ")
                },
                ws.broken,
                ws.reconnects
            );
        }
        if line.is_empty() {
            continue;
        }
        if first {
            let _ = writeln!(out, "\n  WebSocket");
            first = false;
        }
        let _ = writeln!(out, "  {}/{}: {line}", s.phase, s.step);
    }
}

/// Microseconds as milliseconds for the summary.
fn ms(us: u64) -> String {
    format!("{} ms", num(us as f64 / 1_000.0))
}

/// Which engine sent the requests and how precise its latencies are.
pub fn engine_line(e: &super::EngineInfo) -> String {
    format!(
        "engine: {} {} · latencies within ±{}% of what it measured · {}",
        e.name,
        e.version,
        num(e.latency_precision * 100.0),
        e.timing
    )
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(num(1234.6), "1235");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(3.0), "3");
    }
}
