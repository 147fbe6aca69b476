//! `summary.md`: a compact Markdown summary of a run, sized for a
//! pull-request comment.
//!
//! Owns the layout (GitHub-flavoured tables) and Markdown escaping, which
//! `compare` reuses. Must not compute statistics beyond per-cell
//! arithmetic on the report's figures (an error share from two counts).
//! Status words only, no emoji, so the text reads the same in any client.

use std::fmt::Write as _;

use super::junit::{threshold, value, verdict_word};
use super::terminal::{dur, num, pct};
use super::{Latency, Report};
use crate::slo::{Objectives, SloStatus};

/// Render `summary.md` (ends with a newline).
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### flashcrowd: {} — {}{}{}\n",
        cell(&r.scenario.name),
        verdict_word(r.verdict),
        if r.partial { " (partial)" } else { "" },
        if r.objectives == Objectives::None {
            " (no objectives: measured only)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "Run {} · seed {} · scale {} · {} s · target {} · flashcrowd {}\n",
        code(&r.run_id),
        r.seed,
        num(r.scale),
        num(r.duration_s),
        cell(&r.target),
        cell(&r.flashcrowd_version),
    );
    if r.insecure {
        let _ = writeln!(
            out,
            "> **Insecure run:** TLS certificates were not verified (`--insecure`).\n"
        );
    }
    for reason in &r.verdict_reasons {
        let _ = writeln!(out, "- {}", cell(reason));
    }
    if !r.verdict_reasons.is_empty() {
        out.push('\n');
    }

    match r.objectives {
        Objectives::None => out.push_str(
            "No objectives: the scenario says `slos: []`, so nothing was judged but the run \
             itself (requests sent, nothing dropped, invariants).\n\n",
        ),
        Objectives::Defaults => out.push_str(
            "Judged by the **default objectives**: the scenario has no `slos:`. Write your \
             own under `slos:` to judge what matters, or `slos: []` to only measure.\n\n",
        ),
        Objectives::Written => {}
    }
    if !r.slos.is_empty() {
        let rows: Vec<Vec<String>> = r
            .slos
            .iter()
            .map(|s| {
                let observed = s
                    .observed
                    .map_or("no samples".to_owned(), |o| value(o, &s.unit));
                let status = match s.status {
                    _ if s.generator_doubt => "not settled (generator lag)",
                    SloStatus::Pass => "pass",
                    SloStatus::Fail => "FAIL",
                    SloStatus::NoData => "no data",
                };
                let expr = if s.default {
                    format!("{} (default)", cell(&s.expr))
                } else {
                    cell(&s.expr)
                };
                vec![expr, observed, cell(&threshold(s)), status.to_owned()]
            })
            .collect();
        out.push_str(&table(
            &[
                ("SLO", Align::Left),
                ("observed", Align::Right),
                ("threshold", Align::Right),
                ("status", Align::Left),
            ],
            &rows,
        ));
        out.push('\n');
    }

    if let Some(inv) = &r.invariants {
        let mut rows: Vec<Vec<String>> = inv
            .verdicts
            .iter()
            .map(|v| {
                vec![
                    code(&v.name),
                    format!("{} {}", v.checked, crate::invariants::counted(&v.name)),
                    v.violations.to_string(),
                    if v.holds { "holds" } else { "BROKEN" }.to_owned(),
                    cell(
                        &v.examples
                            .iter()
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ]
            })
            .collect();
        rows.extend(inv.unread.iter().map(|(name, why)| {
            vec![
                code(name),
                String::new(),
                String::new(),
                "not judged".to_owned(),
                cell(why),
            ]
        }));
        out.push_str(&table(
            &[
                ("invariant", Align::Left),
                ("checked", Align::Right),
                ("violations", Align::Right),
                ("status", Align::Left),
                ("examples", Align::Left),
            ],
            &rows,
        ));
        out.push('\n');
    }

    let mut rows = Vec::new();
    for s in &r.steps {
        let name = format!("{}/{}", s.phase, s.step);
        rows.push(step_cells(&name, s.count, s.rps, &s.latency_us, s.errors));
        // Region rows follow their step; empty regions only add noise.
        for g in s.regions.iter().filter(|g| g.count > 0) {
            let name = format!("{name} · {}", g.region);
            rows.push(step_cells(&name, g.count, g.rps, &g.latency_us, g.errors));
        }
    }
    if !rows.is_empty() {
        out.push_str(&table(
            &[
                ("phase/step", Align::Left),
                ("count", Align::Right),
                ("rps", Align::Right),
                ("p50", Align::Right),
                ("p99", Align::Right),
                ("max", Align::Right),
                ("errors", Align::Right),
            ],
            &rows,
        ));
        out.push('\n');
    }

    let t = &r.totals;
    let _ = writeln!(
        out,
        "Schedule: {} scheduled, {} started, {} late, {} dropped; generator {}. \
         Requests: {} sent, {} ok, {} errors.",
        t.scheduled,
        t.started,
        t.late,
        t.dropped,
        if r.generator.saturated {
            "SATURATED"
        } else {
            "kept up"
        },
        t.sent,
        t.ok,
        t.errors,
    );
    if let Some(e) = &r.generator.engine {
        let _ = writeln!(out, "\n{}.", super::terminal::engine_line(e));
    }
    let traced: Vec<Vec<String>> = r
        .steps
        .iter()
        .flat_map(|s| {
            s.traces.iter().take(3).map(move |t| {
                vec![
                    cell(&format!("{}/{}", s.phase, s.step)),
                    cell(t.region.as_deref().unwrap_or("–")),
                    super::terminal::dur(t.latency_us, 1),
                    code(&t.trace_id),
                ]
            })
        })
        .collect();
    if !traced.is_empty() {
        out.push_str("\nSlowest traced requests (open them in the target's tracing backend):\n\n");
        out.push_str(&table(
            &[
                ("step", Align::Left),
                ("region", Align::Left),
                ("latency", Align::Right),
                ("trace id", Align::Left),
            ],
            &traced,
        ));
    }
    // Regions without events still bring a chaos backend; only a timeline
    // that did something is worth a line.
    if let Some(c) = r
        .chaos
        .as_ref()
        .filter(|c| !c.events.is_empty() || !c.transitions.is_empty() || c.cleanup_error.is_some())
    {
        let failed = c.transitions.iter().filter(|t| t.error.is_some()).count();
        let _ = writeln!(
            out,
            "\nChaos ({}): {} events, {} changes applied{}{}.",
            cell(&c.backend),
            c.events.len(),
            c.transitions.len() - failed,
            if failed > 0 {
                format!(", {failed} FAILED")
            } else {
                String::new()
            },
            if c.cleanup_error.is_some() {
                ", cleanup FAILED"
            } else {
                ""
            },
        );
    }
    out
}

fn step_cells(name: &str, count: u64, rps: f64, l: &Latency, errors: u64) -> Vec<String> {
    let share = if count == 0 {
        0.0
    } else {
        errors as f64 * 100.0 / count as f64
    };
    vec![
        cell(name),
        count.to_string(),
        num(rps),
        dur(l.p50, l.samples),
        dur(l.p99, l.samples),
        dur(l.max, l.samples),
        format!("{} %", pct(share)),
    ]
}

/// Column alignment of a [`table`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A GitHub-flavoured table. Cells must already be escaped ([`cell`]).
pub(crate) fn table(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let names: Vec<&str> = header.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(out, "| {} |", names.join(" | "));
    let rules: Vec<&str> = header
        .iter()
        .map(|(_, a)| match a {
            Align::Left => ":--",
            Align::Right => "--:",
        })
        .collect();
    let _ = writeln!(out, "|{}|", rules.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// Text from the report made safe for a table cell: `|` would end the cell,
/// a line break the row, and Markdown or HTML characters would change what
/// the reader sees, so each is escaped.
pub(crate) fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '~' | '#' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A value shown as code; backticks inside would end the span, so a run id
/// (which never has them) is the only thing shown this way.
fn code(s: &str) -> String {
    if s.contains('`') {
        cell(s)
    } else {
        format!("`{s}`")
    }
}

#[cfg(test)]
mod tests {
    use super::{cell, table, Align};

    #[test]
    fn cells_escape_pipes_breaks_and_markup() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("p99(x) < 1s"), "p99(x) \\< 1s");
        assert_eq!(cell("two\nlines"), "two lines");
        assert_eq!(cell("get_room*"), "get\\_room\\*");
    }

    #[test]
    fn tables_align_numbers_right() {
        let t = table(
            &[("name", Align::Left), ("n", Align::Right)],
            &[vec!["a".into(), "1".into()]],
        );
        assert_eq!(t, "| name | n |\n|:--|--:|\n| a | 1 |\n");
    }
}
