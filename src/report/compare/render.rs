//! A [`Comparison`] as text for the terminal, as `compare.md` and as
//! `compare.html`.
//!
//! Owns layout and number formatting only; every figure and judgement comes
//! from the comparison. The HTML page is self-contained (inline CSS, no
//! scripts, nothing fetched).

use std::fmt::Write as _;

use super::{Comparison, Delta, Judgement, Metric, Presence, Row, RunRef};
use crate::report::junit::{escape, verdict_word};
use crate::report::markdown::{cell, table, Align};
use crate::report::terminal::{dur, num, pct};

const COLUMNS: [&str; 6] = [
    "metric",
    "base",
    "candidate",
    "change",
    "change %",
    "status",
];

/// Render for the terminal (ends with a newline).
pub fn render_text(c: &Comparison) -> String {
    let mut out = String::new();
    for line in heading(c) {
        let _ = writeln!(out, "{line}");
    }
    for row in &c.rows {
        let _ = writeln!(out, "\n{}{}", row.label(), presence_note(row));
        let mut lines = vec![COLUMNS.map(str::to_owned)];
        lines.extend(row.deltas.iter().map(cells));
        let mut widths = [0usize; 6];
        for line in &lines {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for line in &lines {
            let mut text = String::from(" ");
            for (i, (cell, w)) in line.iter().zip(widths).enumerate() {
                let pad = " ".repeat(w - cell.chars().count());
                // The metric name and the status read left to right.
                if i == 0 || i == 5 {
                    let _ = write!(text, " {cell}{pad} ");
                } else {
                    let _ = write!(text, " {pad}{cell} ");
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        }
    }
    let _ = writeln!(out, "\n{}", conclusion(c));
    out
}

/// Render `compare.md` (ends with a newline).
pub fn render_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### flashcrowd compare: {}\n", cell(&conclusion(c)));
    for line in heading(c) {
        let _ = writeln!(out, "- {}", cell(&line));
    }
    let header = [
        (COLUMNS[0], Align::Left),
        (COLUMNS[1], Align::Right),
        (COLUMNS[2], Align::Right),
        (COLUMNS[3], Align::Right),
        (COLUMNS[4], Align::Right),
        (COLUMNS[5], Align::Left),
    ];
    for row in &c.rows {
        let _ = writeln!(
            out,
            "\n#### {}{}\n",
            cell(&row.label()),
            cell(&presence_note(row))
        );
        let rows: Vec<Vec<String>> = row
            .deltas
            .iter()
            .map(|d| cells(d).iter().map(|s| cell(s)).collect())
            .collect();
        out.push_str(&table(&header, &rows));
    }
    out
}

/// Render `compare.html`: one self-contained page.
pub fn render_html(c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>flashcrowd compare</title>\n<style>\n\
         body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1b1b1b}\n\
         table{border-collapse:collapse;margin:.5em 0 1.5em}\n\
         th,td{border:1px solid #ccc;padding:.25em .6em}\n\
         th{background:#f2f2f2;text-align:left}\n\
         td.n{text-align:right;font-variant-numeric:tabular-nums}\n\
         tr.regressed td{background:#fde2e1;font-weight:600}\n\
         p.verdict{font-size:1.2em;font-weight:600}\n\
         </style>\n</head>\n<body>\n",
    );
    let _ = writeln!(out, "<h1>flashcrowd compare</h1>");
    let _ = writeln!(
        out,
        "<p class=\"verdict\">{}</p>\n<ul>",
        escape(&conclusion(c))
    );
    for line in heading(c) {
        let _ = writeln!(out, "<li>{}</li>", escape(&line));
    }
    let _ = writeln!(out, "</ul>");
    for row in &c.rows {
        let _ = writeln!(
            out,
            "<h2>{}{}</h2>\n<table>\n<tr>{}</tr>",
            escape(&row.label()),
            escape(&presence_note(row)),
            COLUMNS
                .iter()
                .map(|h| format!("<th>{h}</th>"))
                .collect::<String>()
        );
        for d in &row.deltas {
            let class = if d.judgement == Judgement::Regressed {
                " class=\"regressed\""
            } else {
                ""
            };
            let tds: String = cells(d)
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let numeric = if (1..=4).contains(&i) {
                        " class=\"n\""
                    } else {
                        ""
                    };
                    format!("<td{numeric}>{}</td>", escape(s))
                })
                .collect();
            let _ = writeln!(out, "<tr{class}>{tds}</tr>");
        }
        let _ = writeln!(out, "</table>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The lines naming the two runs, the scenario and the limits.
fn heading(c: &Comparison) -> Vec<String> {
    let mut lines = vec![
        format!("base: {}", run_line(&c.base)),
        format!("candidate: {}", run_line(&c.candidate)),
    ];
    if c.same_scenario() {
        lines.push(format!(
            "scenario: {} (sha256 {})",
            c.base.scenario,
            short(&c.base.sha256)
        ));
    } else {
        lines.push(format!(
            "DIFFERENT scenarios: base {} (sha256 {}), candidate {} (sha256 {})",
            c.base.scenario,
            short(&c.base.sha256),
            c.candidate.scenario,
            short(&c.candidate.sha256)
        ));
    }
    let limits: Vec<String> = Metric::ALL
        .into_iter()
        .map(|m| match c.thresholds.limit(m) {
            Some(l) => format!("{} {}", m.name(), limit_text(m, l)),
            None => format!("{} not gated", m.name()),
        })
        .collect();
    lines.push(format!("limits: {}", limits.join(", ")));
    lines
}

fn run_line(r: &RunRef) -> String {
    format!(
        "{} ({}, scale {}, started {})",
        r.run_id,
        verdict_word(r.verdict),
        num(r.scale),
        r.started_at
    )
}

/// The one-line result.
fn conclusion(c: &Comparison) -> String {
    let n = c.regressions();
    if n == 0 {
        return format!("no regressions in {} compared rows", c.rows.len());
    }
    let list: Vec<String> = c
        .rows
        .iter()
        .flat_map(|row| {
            row.regressions()
                .map(move |d| format!("{} {} ({})", d.metric.name(), row.label(), moved(d)))
        })
        .collect();
    format!(
        "REGRESSED: {n} regression{}: {}",
        if n == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// How far a regressed metric moved, in the terms of its limit.
fn moved(d: &Delta) -> String {
    match (d.metric, d.relative_pct, d.change) {
        (Metric::ErrorRate, _, Some(ch)) => change(d.metric, ch),
        (_, Some(r), _) => signed_pct(r),
        (_, None, Some(ch)) => change(d.metric, ch),
        (_, None, None) => "-".to_owned(),
    }
}

fn presence_note(row: &Row) -> String {
    match row.presence {
        Presence::Both => String::new(),
        Presence::BaseOnly => " (only in the base run)".to_owned(),
        Presence::CandidateOnly => " (only in the candidate run)".to_owned(),
    }
}

/// A table row: metric, base, candidate, change, change %, status.
fn cells(d: &Delta) -> [String; 6] {
    let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| value(d.metric, v));
    let status = match d.judgement {
        Judgement::Held => "ok".to_owned(),
        Judgement::NotGated => "not gated".to_owned(),
        Judgement::NoData => "no data".to_owned(),
        Judgement::Regressed => match d.limit {
            Some(l) => format!("REGRESSION (limit {})", limit_text(d.metric, l)),
            None => "REGRESSION".to_owned(),
        },
    };
    [
        d.metric.name().to_owned(),
        show(d.base),
        show(d.candidate),
        d.change.map_or("-".to_owned(), |ch| change(d.metric, ch)),
        d.relative_pct.map_or("-".to_owned(), signed_pct),
        status,
    ]
}

/// A metric's value: latencies (µs) with a unit, the error rate in %.
fn value(m: Metric, v: f64) -> String {
    match m {
        Metric::ErrorRate => format!("{} %", pct(v)),
        Metric::Rps => num(v),
        _ => dur(v.max(0.0).round() as u64, 1),
    }
}

/// A signed change in the metric's terms: `+10.1ms`, `+0.25 pp`, `-3.2`.
fn change(m: Metric, v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    let a = v.abs();
    match m {
        Metric::ErrorRate => format!("{sign}{} pp", pct(a)),
        Metric::Rps => format!("{sign}{}", num(a)),
        _ => format!("{sign}{}", dur(a.round() as u64, 1)),
    }
}

fn signed_pct(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    format!("{sign}{}%", num(v.abs()))
}

fn limit_text(m: Metric, l: f64) -> String {
    match m {
        Metric::ErrorRate => format!("+{} pp", pct(l)),
        Metric::Rps => format!("-{}%", num(l.abs())),
        _ => format!("+{}%", num(l)),
    }
}

/// The first 12 hex digits: enough to tell scenarios apart at a glance.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
