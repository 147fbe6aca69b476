//! GitHub Actions workflow commands for a run: annotations that put a
//! failed objective on its line of the scenario file in the pull request.
//!
//! Owns the mapping from a [`Report`] to `::error`, `::warning` and
//! `::notice` commands and their escaping (as GitHub's own toolkit
//! escapes them: `%`, CR and LF in messages; also `:` and `,` in
//! properties). Must not judge anything or print: the caller decides where
//! the lines go (GitHub reads them from a step's standard output).

use std::fmt::Write as _;

use super::junit::{threshold, value, verdict_word};
use super::{Report, SloReport};
use crate::slo::{Objectives, SloStatus, Verdict};

/// The workflow commands for `r`, one per line (ends with a newline).
/// `file` is the scenario's path as the repository names it (relative to
/// the workspace), so GitHub can place line annotations on the diff.
pub fn render(r: &Report, file: &str) -> String {
    let mut out = String::new();
    for s in &r.slos {
        slo_command(&mut out, s, file);
    }
    if let Some(inv) = &r.invariants {
        for v in inv.verdicts.iter().filter(|v| !v.holds) {
            let mut msg = format!("{} of {} checked break it", v.violations, v.checked);
            if let Some(e) = v.examples.first() {
                let _ = write!(msg, ", e.g. {e}");
            }
            command(
                &mut out,
                "error",
                &[
                    ("file", file),
                    ("title", &format!("Invariant broken: {}", v.name)),
                ],
                &msg,
            );
        }
    }
    let (kind, word) = match r.verdict {
        Verdict::Pass => ("notice", verdict_word(r.verdict)),
        Verdict::Fail => ("error", verdict_word(r.verdict)),
        Verdict::Inconclusive => ("warning", verdict_word(r.verdict)),
    };
    let mut msg = format!(
        "{} at scale {} against {}",
        r.scenario.name,
        super::terminal::num(r.scale),
        r.target
    );
    if r.objectives == Objectives::None {
        msg.push_str(": no objectives (slos: []), measured only");
    }
    for reason in &r.verdict_reasons {
        msg.push('\n');
        msg.push_str(reason);
    }
    command(
        &mut out,
        kind,
        &[("title", &format!("flashcrowd verdict: {word}"))],
        &msg,
    );
    out
}

/// The annotation of one objective, if it did not plainly pass.
fn slo_command(out: &mut String, s: &SloReport, file: &str) {
    let observed = s
        .observed
        .map_or_else(|| "no samples".to_owned(), |o| value(o, &s.unit));
    let origin = if s.default {
        " (a default: the scenario has no `slos:`)"
    } else {
        ""
    };
    let (kind, title, msg) = match s.status {
        _ if s.generator_doubt => (
            "warning",
            "SLO not settled",
            format!(
                "{}: observed {observed}; the generator's own lag could turn it{origin}",
                s.expr
            ),
        ),
        SloStatus::Pass => return,
        SloStatus::Fail => (
            "error",
            "SLO failed",
            format!(
                "{}: observed {observed} over {} samples, objective {}{origin}",
                s.expr,
                s.samples,
                threshold(s)
            ),
        ),
        SloStatus::NoData => (
            "warning",
            "SLO without samples",
            format!("{}: no request matched it{origin}", s.expr),
        ),
    };
    let line = s.line.map(|l| l.to_string());
    let col = s.column.map(|c| c.to_string());
    let title = format!("{title}: {}", s.expr);
    let mut props: Vec<(&str, &str)> = vec![("file", file)];
    if let Some(l) = &line {
        props.push(("line", l));
    }
    if let Some(c) = &col {
        props.push(("col", c));
    }
    props.push(("title", &title));
    command(out, kind, &props, &msg);
}

/// `::KIND p1=v1,p2=v2::MESSAGE` and a newline.
fn command(out: &mut String, kind: &str, props: &[(&str, &str)], message: &str) {
    let _ = write!(out, "::{kind}");
    for (i, (name, v)) in props.iter().enumerate() {
        let sep = if i == 0 { ' ' } else { ',' };
        let _ = write!(out, "{sep}{name}={}", escape_property(v));
    }
    let _ = writeln!(out, "::{}", escape_data(message));
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real run's report (see `tests/fixtures/reports/gate.yaml`).
    const GATE: &str = include_str!("../../tests/fixtures/reports/gate/report.json");

    #[test]
    fn a_failed_run_annotates_each_objective_on_its_line_and_the_verdict() {
        let mut r: Report = serde_json::from_str(GATE).unwrap();
        r.slos[0].line = Some(21);
        r.slos[0].column = Some(5);
        r.slos[2].line = Some(23);
        r.slos[2].column = Some(5);
        let out = render(&r, "tests/fixtures/reports/gate.yaml");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "::error file=tests/fixtures/reports/gate.yaml,line=21,col=5,title=SLO failed%3A p99(list-products) < 1us::p99(list-products) < 1us: observed 67.3 ms over 80 samples, objective < 0.001 ms",
                "::warning file=tests/fixtures/reports/gate.yaml,line=23,col=5,title=SLO without samples%3A p99(inventory) < 250ms::p99(inventory) < 250ms: no request matched it",
                "::error title=flashcrowd verdict%3A FAIL::gate at scale 1 against http://127.0.0.1:36511/ (embedded demo)%0ASLO failed: p99(list-products) < 1us (observed 67.3 ms)%0Ano samples for SLO: p99(inventory) < 250ms",
            ]
        );
    }

    #[test]
    fn a_default_objective_has_no_line_and_says_it_is_a_default() {
        let mut r: Report = serde_json::from_str(GATE).unwrap();
        r.slos.truncate(1);
        r.slos[0].default = true;
        let out = render(&r, "gate.yaml");
        assert!(
            out.starts_with(
                "::error file=gate.yaml,title=SLO failed%3A p99(list-products) < 1us::"
            ),
            "{out}"
        );
        assert!(out
            .lines()
            .next()
            .unwrap()
            .ends_with("(a default: the scenario has no `slos:`)"));
    }

    #[test]
    fn escaping_follows_the_workflow_command_rules() {
        assert_eq!(
            escape_data("50% done\r\nnext: a, b"),
            "50%25 done%0D%0Anext: a, b"
        );
        assert_eq!(
            escape_property("p99(a, region=eu) < 1s: x%"),
            "p99(a%2C region=eu) < 1s%3A x%25"
        );
    }

    #[test]
    fn a_command_without_properties_has_no_space_before_the_message() {
        let mut out = String::new();
        command(&mut out, "notice", &[], "hi");
        assert_eq!(out, "::notice::hi\n");
    }
}
