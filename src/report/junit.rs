//! `junit.xml`: the run as a JUnit test suite, for CI systems that gate on
//! (and display) test results.
//!
//! Owns the mapping from a [`Report`] to test cases and the XML itself, in
//! the shape of Apache Ant's JUnit report (the schema Jenkins, GitLab and
//! most CI systems read) with the widely read `skipped` extension. Must not
//! judge anything: every outcome is read from the report's SLO results and
//! generator health.
//!
//! The suite holds:
//! - one `classname="slo"` case per SLO, named by its expression: a failed
//!   SLO carries a `<failure>` with the observed value and the threshold; an
//!   SLO without samples is `<skipped>` (it proves nothing either way);
//!   A default objective's case is named `<expression> (default)`; one the
//!   generator's lag could turn is `<skipped>`; a scenario with `slos: []`
//!   gets one skipped `no objectives` case, so nothing reads as a pass of
//!   objectives that do not exist;
//! - one `classname="run"` case, `schedule held`, failing when iterations
//!   were dropped, the generator's lag could decide an objective or the run
//!   was interrupted, so a gate that only reads JUnit still sees an
//!   inconclusive run.
//!
//! Business invariants, once the report carries them, become one more case
//! each: write their `fn … -> Case` and append its results in [`cases`].

use std::fmt::Write as _;

use super::terminal::{num, pct};
use super::{Report, SloReport};
use crate::slo::{Objectives, SloStatus, Verdict};

/// How one test case came out.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Passed,
    Failed {
        /// One line, shown by CI systems next to the case's name.
        message: String,
        /// What kind of check failed (`slo`, `schedule`).
        kind: &'static str,
        /// The details, shown when the case is opened.
        details: String,
    },
    Skipped {
        message: String,
    },
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
struct Case {
    classname: &'static str,
    name: String,
    time_s: f64,
    outcome: Outcome,
}

/// Render `junit.xml` (ends with a newline).
pub fn render(r: &Report) -> String {
    let cases = cases(r);
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
        .count();
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites>");
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" package=\"flashcrowd\" id=\"0\" hostname=\"{}\" \
         timestamp=\"{}\" time=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\">",
        escape(&format!("flashcrowd: {}", r.scenario.name)),
        escape(if r.host.is_empty() {
            "localhost"
        } else {
            &r.host
        }),
        escape(&timestamp(&r.started_at)),
        seconds(r.duration_s),
        cases.len(),
    );
    properties(&mut out, r);
    for case in &cases {
        write_case(&mut out, case);
    }
    let _ = writeln!(
        out,
        "    <system-out>{}</system-out>",
        escape(&verdict_text(r))
    );
    let _ = writeln!(out, "    <system-err></system-err>");
    let _ = writeln!(out, "  </testsuite>");
    let _ = writeln!(out, "</testsuites>");
    out
}

/// Every test case of the run, in report order.
fn cases(r: &Report) -> Vec<Case> {
    let mut out: Vec<Case> = r.slos.iter().map(slo_case).collect();
    if r.objectives == Objectives::None {
        // Skipped, not passed: nothing here may read as objectives met.
        out.push(Case {
            classname: "slo",
            name: "no objectives".to_owned(),
            time_s: 0.0,
            outcome: Outcome::Skipped {
                message: "the scenario says `slos: []`: measured only, no objective judged"
                    .to_owned(),
            },
        });
    }
    if let Some(inv) = &r.invariants {
        out.extend(inv.verdicts.iter().map(invariant_case));
        out.extend(inv.unread.iter().map(|(name, why)| Case {
            classname: "invariant",
            name: name.clone(),
            time_s: 0.0,
            outcome: Outcome::Skipped {
                message: format!("not judged: {why}"),
            },
        }));
    }
    out.push(schedule_case(r));
    out
}

/// One business invariant: observed violations against the threshold of
/// none, with the example keys that break it.
fn invariant_case(v: &crate::invariants::Verdict) -> Case {
    let outcome = if v.holds {
        Outcome::Passed
    } else {
        Outcome::Failed {
            message: format!(
                "observed {} violation(s) in {} checked, threshold 0",
                v.violations, v.checked
            ),
            kind: "invariant",
            details: format!(
                "Invariant {} is broken: {} of {} checked.\n{}",
                v.name,
                v.violations,
                v.checked,
                v.examples.join("\n")
            ),
        }
    };
    Case {
        classname: "invariant",
        name: v.name.clone(),
        time_s: 0.0,
        outcome,
    }
}

fn slo_case(s: &SloReport) -> Case {
    let outcome = match s.status {
        // Proves nothing either way, like a missing sample: the run's
        // `schedule held` case carries the failure.
        SloStatus::Pass | SloStatus::Fail if s.generator_doubt => Outcome::Skipped {
            message: format!(
                "not settled: observed {}, but the generator's own lag could turn it",
                s.observed
                    .map_or("nothing".to_owned(), |o| value(o, &s.unit))
            ),
        },
        SloStatus::Pass => Outcome::Passed,
        SloStatus::NoData => Outcome::Skipped {
            message: "no samples".to_owned(),
        },
        SloStatus::Fail => {
            let observed = s
                .observed
                .map_or("nothing".to_owned(), |o| value(o, &s.unit));
            let threshold = threshold(s);
            Outcome::Failed {
                message: format!("observed {observed}, threshold {threshold}"),
                kind: "slo",
                details: format!(
                    "SLO {} failed: observed {observed} over {} samples; the objective is {threshold}.",
                    s.expr, s.samples
                ),
            }
        }
    };
    Case {
        classname: "slo",
        name: if s.default {
            format!("{} (default)", s.expr)
        } else {
            s.expr.clone()
        },
        // SLOs are judged after the run; the run's time is on `schedule held`.
        time_s: 0.0,
        outcome,
    }
}

/// Whether the generator kept the schedule: dropped iterations, a saturated
/// generator or an interrupted run make the numbers incomplete.
fn schedule_case(r: &Report) -> Case {
    let mut problems = Vec::new();
    if r.totals.dropped > 0 {
        problems.push(format!(
            "{} of {} scheduled iterations were dropped",
            r.totals.dropped, r.totals.scheduled
        ));
    }
    // A generator that fell behind only fails this case when its lag
    // could have decided an objective; otherwise the pass stands (the
    // suite's output carries the warning).
    let doubted: Vec<&str> = r
        .slos
        .iter()
        .filter(|s| s.generator_doubt)
        .map(|s| s.expr.as_str())
        .collect();
    if !doubted.is_empty() {
        problems.push(format!(
            "the generator fell behind (dispatch lag max {} ms, p99 {} ms) and its lag could \
             decide {}",
            num(r.generator.dispatch_lag_max_ms),
            num(r.generator.dispatch_lag_p99_ms),
            doubted.join(", ")
        ));
    }
    if r.partial {
        problems.push("the run was interrupted before its schedule ended".to_owned());
    }
    let outcome = if problems.is_empty() {
        Outcome::Passed
    } else {
        let details = format!(
            "{}.\nscheduled {}, started {}, late {}, dropped {}.\nThe run is inconclusive: \
             its figures do not cover the load the scenario asked for.",
            problems.join("; "),
            r.totals.scheduled,
            r.totals.started,
            r.totals.late,
            r.totals.dropped
        );
        Outcome::Failed {
            message: problems.join("; "),
            kind: "schedule",
            details,
        }
    };
    Case {
        classname: "run",
        name: "schedule held".to_owned(),
        time_s: r.duration_s,
        outcome,
    }
}

fn write_case(out: &mut String, c: &Case) {
    let open = format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        c.classname,
        escape(&c.name),
        seconds(c.time_s)
    );
    match &c.outcome {
        Outcome::Passed => {
            let _ = writeln!(out, "{open}/>");
        }
        Outcome::Failed {
            message,
            kind,
            details,
        } => {
            let _ = writeln!(out, "{open}>");
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{kind}\">{}</failure>",
                escape(message),
                escape(details)
            );
            let _ = writeln!(out, "    </testcase>");
        }
        Outcome::Skipped { message } => {
            let _ = writeln!(out, "{open}>");
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", escape(message));
            let _ = writeln!(out, "    </testcase>");
        }
    }
}

/// The run's settings, for whoever opens the suite in a CI system.
fn properties(out: &mut String, r: &Report) {
    let props = [
        ("run_id", r.run_id.clone()),
        ("flashcrowd_version", r.flashcrowd_version.clone()),
        ("scenario_file", r.scenario.file.clone()),
        ("scenario_sha256", r.scenario.sha256.clone()),
        ("seed", r.seed.to_string()),
        ("scale", num(r.scale)),
        ("target", r.target.clone()),
        ("verdict", verdict_word(r.verdict).to_owned()),
        ("partial", r.partial.to_string()),
        ("tls_verified", (!r.insecure).to_string()),
    ];
    let _ = writeln!(out, "    <properties>");
    for (name, value) in props {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape(&value)
        );
    }
    let _ = writeln!(out, "    </properties>");
}

fn verdict_text(r: &Report) -> String {
    let mut text = format!("verdict: {}", verdict_word(r.verdict));
    for reason in &r.verdict_reasons {
        text.push_str("\n- ");
        text.push_str(reason);
    }
    text
}

pub(crate) fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive => "INCONCLUSIVE",
    }
}

/// An SLO's threshold with its comparison: `< 250 ms`.
pub(crate) fn threshold(s: &SloReport) -> String {
    // The report keeps the expression, not its parts; it parsed when the
    // run started, so only a hand-edited report loses the operator.
    match crate::slo::parse(&s.expr) {
        Ok(slo) => format!("{} {}", slo.op, value(s.threshold, &s.unit)),
        Err(_) => value(s.threshold, &s.unit),
    }
}

/// A value in its SLO unit: `312 ms`, `99.95 %` (a ratio near 100 % keeps
/// its decimals).
pub(crate) fn value(v: f64, unit: &str) -> String {
    match unit {
        "" => num(v),
        "%" => format!("{} %", pct(v)),
        _ => format!("{} {unit}", num(v)),
    }
}

/// Seconds with millisecond precision, as JUnit readers expect (a plain
/// decimal, never an exponent or a non-number).
fn seconds(s: f64) -> String {
    if s.is_finite() && s > 0.0 {
        format!("{s:.3}")
    } else {
        "0.000".to_owned()
    }
}

/// Ant's timestamp: `2026-11-22T01:51:03`, no fraction and no zone (the
/// report's time is UTC). A time that does not parse is passed through.
fn timestamp(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// Escape text for an XML attribute value or element content. Line breaks
/// and tabs become character references so attributes keep them; characters
/// XML 1.0 cannot carry at all become U+FFFD.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// XML 1.0's `Char` production (tab, newline and carriage return are
/// handled before this is asked).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::{escape, timestamp};

    #[test]
    fn escaping_covers_markup_quotes_breaks_and_forbidden_characters() {
        assert_eq!(
            escape("p99(a&b) < 1s \"x\" 'y'\n"),
            "p99(a&amp;b) &lt; 1s &quot;x&quot; &apos;y&apos;&#10;"
        );
        assert_eq!(escape("a\u{1}b\u{FFFE}c"), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(escape("ünïcode ✓"), "ünïcode ✓");
    }

    #[test]
    fn timestamps_follow_ant_without_fraction_or_zone() {
        assert_eq!(
            timestamp("2026-11-22T01:51:03.123456Z"),
            "2026-11-22T01:51:03"
        );
        assert_eq!(
            timestamp("2026-11-22T02:51:03+01:00"),
            "2026-11-22T01:51:03"
        );
        assert_eq!(timestamp("yesterday"), "yesterday");
    }
}
