//! The run's verdict: pass, fail or inconclusive, and why.
//!
//! Owns the rule that turns objective results, the generator's health and
//! the business invariants into one verdict with its reasons, including how
//! far a lagging generator can have moved each objective. Latency is
//! measured from intended start times, so a generator that falls behind
//! only ever makes latencies look worse: a pass despite lag is a
//! conservative pass, a failure that the lag could explain is unknown.
//! Must not do I/O, read clocks or know how the figures were collected.

use super::{Metric, Op, SloResult, SloStatus};
use crate::figures::num;

/// Outcome of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

/// Where the objectives a run was judged by came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objectives {
    /// The scenario's own `slos:`.
    #[default]
    Written,
    /// No `slos:` at all: flashcrowd's built-in defaults.
    Defaults,
    /// `slos: []`: nothing to judge, only to measure.
    None,
}

/// What the generator may have added to the figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratorHealth {
    /// The most its dispatcher released any arrival after its intended
    /// time, in µs. Every latency is measured from the intended time, so
    /// this bounds what the generator's own lag added to any of them.
    pub lag_max_us: u64,
    /// It did not keep its schedule (its lag or its start delay passed
    /// their limits); the facts are in `notes`.
    pub behind: bool,
    /// It ran out of CPU: it may have read answers late, so no figure it
    /// measured can be trusted to be the target's alone.
    pub out_of_cpu: bool,
    /// One sentence per fact about the generator (how late, how busy),
    /// said whatever the verdict.
    pub notes: Vec<String>,
}

/// Why a run is not a plain pass, besides the objectives' results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunHealth {
    /// Stopped before the schedule ended.
    pub partial: bool,
    /// Requests sent in the whole run.
    pub sent: u64,
    /// Arrivals that were scheduled but never started.
    pub dropped: u64,
    pub generator: GeneratorHealth,
    pub objectives: Objectives,
}

/// The business invariants' part in a verdict, already phrased.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvariantFindings {
    /// One line per broken invariant: a fact about the platform, which
    /// fails the run however the run went.
    pub broken: Vec<String>,
    /// One line per invariant that could not be judged.
    pub unjudged: Vec<String>,
}

/// How far the generator's condition can have moved one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    /// The result is the same whatever the generator added.
    Yes,
    /// Without what the generator may have added it could come out the
    /// other way.
    GeneratorDoubt,
}

/// The verdict and its reasons, in the order a reader needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Why the verdict is what it is; on a pass, only warnings (what went
    /// wrong with the run and why it could not change the verdict).
    pub reasons: Vec<String>,
    /// Per objective, in the order given.
    pub settled: Vec<Settled>,
}

/// Whether a result holds whatever the generator may have added to it.
///
/// Each metric is moved in one direction only by a generator in trouble:
/// latencies up by at most its lag once it fell behind (unbounded when it
/// ran out of CPU);
/// throughput down when it fell behind; error rates up and successes and
/// deliveries down when it ran out of CPU. The true value then lies in a
/// range from the observed one; the result is settled when the objective
/// comes out the same at both ends of it.
pub fn settled(r: &SloResult, g: &GeneratorHealth) -> Settled {
    let (Some(observed), SloStatus::Pass | SloStatus::Fail) = (r.observed, r.status) else {
        return Settled::Yes;
    };
    let unbounded = f64::INFINITY;
    // (how much lower, how much higher) the true value may be, in the
    // display unit.
    let (down, up) = match r.slo.metric {
        m if m.is_latency() && g.out_of_cpu => (observed, 0.0),
        // Within the schedule's limits the dispatcher's lag is the timer's
        // own noise, a millisecond or so, and is not held against results.
        m if m.is_latency() && g.behind => (g.lag_max_us as f64 / 1_000.0, 0.0),
        Metric::Throughput if g.behind || g.out_of_cpu => (0.0, unbounded),
        Metric::ErrorRate if g.out_of_cpu => (observed, 0.0),
        Metric::Ok | Metric::DeliveryRatio if g.out_of_cpu => (0.0, unbounded),
        _ => (0.0, 0.0),
    };
    let holds = |v: f64| r.slo.op.holds(v, r.threshold);
    let (lo, hi) = ((observed - down).max(0.0), observed + up);
    if holds(lo) == holds(hi) {
        Settled::Yes
    } else {
        Settled::GeneratorDoubt
    }
}

/// Judge the run.
///
/// In order: an interrupted run proves nothing (inconclusive), whatever
/// failed; a broken invariant fails the run, even an interrupted one;
/// dropped arrivals mean the scenario's load was never offered
/// (inconclusive); an objective that fails whatever the generator added
/// fails the run; one the generator's lag could have decided makes it
/// inconclusive, as do objectives or invariants without data and a run
/// that sent nothing; otherwise it passes, with a warning when the
/// generator fell behind and why that could not change the verdict.
pub fn judge(results: &[SloResult], health: &RunHealth, inv: &InvariantFindings) -> Judgement {
    let g = &health.generator;
    let settled: Vec<Settled> = results.iter().map(|r| settled(r, g)).collect();
    let mut reasons = objective_reasons(results, &settled, g);
    let failed_for_sure = results
        .iter()
        .zip(&settled)
        .any(|(r, s)| r.status == SloStatus::Fail && *s == Settled::Yes);
    let doubted = settled.contains(&Settled::GeneratorDoubt);
    let no_data = results.iter().any(|r| r.status == SloStatus::NoData);
    if health.sent == 0 {
        reasons.push("no request was sent".to_owned());
    }
    if health.partial {
        reasons.push("the run was interrupted before its schedule ended (partial results)".into());
    }
    if health.dropped > 0 {
        reasons.push(format!(
            "{} scheduled arrivals were dropped: the backlog was full because the target \
             (or --connections) could not keep up, so the load the scenario asks for was \
             never offered",
            health.dropped
        ));
    }
    reasons.extend(inv.broken.iter().cloned());
    reasons.extend(inv.unjudged.iter().cloned());
    let verdict = if !inv.broken.is_empty() {
        Verdict::Fail
    } else if health.partial || health.dropped > 0 {
        Verdict::Inconclusive
    } else if failed_for_sure {
        Verdict::Fail
    } else if doubted || no_data || health.sent == 0 || !inv.unjudged.is_empty() {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    let troubled = g.behind || g.out_of_cpu;
    reasons.extend(g.notes.iter().cloned());
    if verdict == Verdict::Pass && troubled {
        reasons.push(pass_despite_lag(results, g));
    }
    if verdict == Verdict::Pass && health.objectives == Objectives::None {
        reasons.push(
            "no objectives: the scenario's `slos: []` asks only to measure, so nothing was \
             judged but the run itself (requests sent, nothing dropped, invariants)"
                .to_owned(),
        );
    }
    Judgement {
        verdict,
        reasons,
        settled,
    }
}

/// One reason per objective that did not plainly pass.
fn objective_reasons(
    results: &[SloResult],
    settled: &[Settled],
    g: &GeneratorHealth,
) -> Vec<String> {
    let mut out = Vec::new();
    for (r, s) in results.iter().zip(settled) {
        let default = if r.slo.origin.is_default() {
            "default "
        } else {
            ""
        };
        let unit = r.slo.metric.unit();
        match (r.status, r.observed, s) {
            (SloStatus::NoData, ..) => {
                out.push(format!("no samples for {default}SLO: {}", r.slo.expr));
            }
            (status, Some(o), Settled::GeneratorDoubt) => {
                let what = if status == SloStatus::Fail {
                    "failed"
                } else {
                    "passed"
                };
                out.push(format!(
                    "{default}SLO {what} but not settled: {} (observed {} {unit}); {}",
                    r.slo.expr,
                    num(o),
                    doubt(r, g)
                ));
            }
            (SloStatus::Fail, Some(o), Settled::Yes) => {
                let beyond_lag = if r.slo.metric.is_latency() && g.behind {
                    format!(
                        "; it fails even with the generator's own lag (at most {} ms) taken off",
                        num(g.lag_max_us as f64 / 1_000.0)
                    )
                } else {
                    String::new()
                };
                out.push(format!(
                    "{default}SLO failed: {} (observed {} {unit}){beyond_lag}",
                    r.slo.expr,
                    num(o)
                ));
            }
            _ => {}
        }
    }
    out
}

/// Why the generator could have decided one result.
fn doubt(r: &SloResult, g: &GeneratorHealth) -> String {
    match r.slo.metric {
        _ if g.out_of_cpu => "the generator ran out of CPU, so it may have read answers late \
                              and its figures may not be the target's alone"
            .to_owned(),
        m if m.is_latency() => format!(
            "the generator's own lag (its dispatcher was up to {} ms late) is part of every \
             latency, and without it the value could be as low as {} ms, which would {} the \
             objective",
            num(g.lag_max_us as f64 / 1_000.0),
            num(r
                .observed
                .map_or(0.0, |o| (o - g.lag_max_us as f64 / 1_000.0).max(0.0))),
            if r.status == SloStatus::Fail {
                "meet"
            } else {
                "break"
            }
        ),
        _ => "the generator fell behind its schedule, so it may not have offered the rate the \
              scenario asks for"
            .to_owned(),
    }
}

/// The warning on a pass won despite a generator in trouble.
fn pass_despite_lag(results: &[SloResult], g: &GeneratorHealth) -> String {
    let latency = results.iter().any(|r| r.slo.metric.is_latency());
    let throughput = results
        .iter()
        .any(|r| r.slo.metric == Metric::Throughput && matches!(r.slo.op, Op::Gt | Op::Ge));
    let mut why = format!(
        "warning: the generator fell behind (its dispatcher was up to {} ms late), but this \
         could not change the verdict: latency is measured from intended start times, so lag \
         only makes latencies look worse",
        num(g.lag_max_us as f64 / 1_000.0)
    );
    if latency {
        why.push_str(", and every latency objective held even so");
    }
    if throughput {
        why.push_str("; every throughput objective was met although lag only lowers throughput");
    }
    why.push_str("; nothing was dropped");
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::{parse, Origin};

    /// A result as `evaluate` gives it, observed in the display unit.
    fn result(expr: &str, observed: Option<f64>) -> SloResult {
        let slo = parse(expr).unwrap();
        let threshold = match slo.metric {
            m if m.is_latency() => slo.threshold / 1_000.0,
            Metric::ErrorRate | Metric::DeliveryRatio => slo.threshold * 100.0,
            _ => slo.threshold,
        };
        let status = match observed {
            None => SloStatus::NoData,
            Some(o) if slo.op.holds(o, threshold) => SloStatus::Pass,
            Some(_) => SloStatus::Fail,
        };
        SloResult {
            slo,
            observed,
            threshold,
            status,
            samples: 100,
        }
    }

    fn healthy() -> RunHealth {
        RunHealth {
            sent: 100,
            generator: GeneratorHealth {
                lag_max_us: 300,
                ..GeneratorHealth::default()
            },
            ..RunHealth::default()
        }
    }

    /// The generator fell behind: its dispatcher was up to `lag_ms` late.
    fn lagging(lag_ms: u64) -> RunHealth {
        RunHealth {
            generator: GeneratorHealth {
                lag_max_us: lag_ms * 1_000,
                behind: true,
                out_of_cpu: false,
                notes: vec![format!("the dispatcher ran {lag_ms} ms late")],
            },
            ..healthy()
        }
    }

    fn none() -> InvariantFindings {
        InvariantFindings::default()
    }

    #[test]
    fn a_pass_under_lag_stays_a_pass_with_a_warning_that_names_the_lag() {
        let r = [
            result("p99(checkout) < 250ms", Some(120.0)),
            result("error_rate(checkout) < 1%", Some(0.0)),
            result("throughput(checkout) >= 50/s", Some(55.0)),
        ];
        let j = judge(&r, &lagging(58), &none());
        assert_eq!(j.verdict, Verdict::Pass);
        assert_eq!(j.settled, [Settled::Yes; 3]);
        let warning = j.reasons.last().unwrap();
        assert!(warning.starts_with("warning:"), "{warning}");
        assert!(warning.contains("up to 58 ms late"), "{warning}");
        assert!(
            warning.contains("every latency objective held"),
            "{warning}"
        );
        assert!(
            warning.contains("every throughput objective was met"),
            "{warning}"
        );
        assert!(j
            .reasons
            .iter()
            .any(|x| x == "the dispatcher ran 58 ms late"));
    }

    #[test]
    fn a_failure_the_lag_could_explain_is_inconclusive() {
        // 280 ms observed, at most 60 ms of it the generator's: the true
        // p99 lies between 220 and 280 ms, on both sides of 250.
        let r = [result("p99(checkout) < 250ms", Some(280.0))];
        let j = judge(&r, &lagging(60), &none());
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert_eq!(j.settled, [Settled::GeneratorDoubt]);
        assert!(
            j.reasons[0].contains("could be as low as 220 ms"),
            "{:?}",
            j.reasons
        );
    }

    #[test]
    fn a_failure_beyond_the_lag_still_fails() {
        let r = [result("p99(checkout) < 250ms", Some(400.0))];
        let j = judge(&r, &lagging(60), &none());
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(j.settled, [Settled::Yes]);
        assert!(j.reasons[0].contains("taken off"), "{:?}", j.reasons);
    }

    #[test]
    fn lag_within_the_schedules_limits_is_not_held_against_a_result() {
        // 251 ms against < 250ms fails however small the lag, when the
        // generator kept its schedule.
        let mut health = healthy();
        health.generator.lag_max_us = 4_000;
        let r = [result("p99(checkout) < 250ms", Some(251.0))];
        assert_eq!(judge(&r, &health, &none()).verdict, Verdict::Fail);
    }

    #[test]
    fn a_lower_bound_on_latency_that_only_the_lag_meets_is_inconclusive() {
        // `min > 50ms` passes at 70 ms, but 30 ms of it may be lag.
        let r = [result("min(checkout) > 50ms", Some(70.0))];
        let j = judge(&r, &lagging(30), &none());
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(
            j.reasons[0].contains("passed but not settled"),
            "{:?}",
            j.reasons
        );
    }

    #[test]
    fn a_missed_throughput_under_lag_is_inconclusive_but_met_without_lag_fails() {
        let r = [result("throughput(checkout) >= 100/s", Some(80.0))];
        assert_eq!(
            judge(&r, &lagging(40), &none()).verdict,
            Verdict::Inconclusive
        );
        assert_eq!(judge(&r, &healthy(), &none()).verdict, Verdict::Fail);
    }

    #[test]
    fn errors_are_the_targets_unless_the_generator_ran_out_of_cpu() {
        let r = [result("error_rate(checkout) < 1%", Some(100.0))];
        assert_eq!(judge(&r, &lagging(200), &none()).verdict, Verdict::Fail);
        let mut starved = lagging(200);
        starved.generator.out_of_cpu = true;
        let j = judge(&r, &starved, &none());
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.reasons[0].contains("ran out of CPU"), "{:?}", j.reasons);
        // Out of CPU, any latency failure is unsettled, however large.
        let slow = [result("p99(checkout) < 250ms", Some(5_000.0))];
        assert_eq!(
            judge(&slow, &starved, &none()).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn drops_are_always_inconclusive() {
        let pass = [result("p99(checkout) < 250ms", Some(10.0))];
        let fail = [result("p99(checkout) < 250ms", Some(900.0))];
        for results in [&pass[..], &fail[..], &[]] {
            for mut health in [healthy(), lagging(80)] {
                health.dropped = 3;
                let j = judge(results, &health, &none());
                assert_eq!(j.verdict, Verdict::Inconclusive, "{results:?}");
                assert!(j
                    .reasons
                    .iter()
                    .any(|r| r.starts_with("3 scheduled arrivals")));
            }
        }
    }

    #[test]
    fn interrupted_is_inconclusive_but_a_broken_invariant_fails_anyway() {
        let pass = [result("p99(checkout) < 250ms", Some(10.0))];
        let partial = RunHealth {
            partial: true,
            ..healthy()
        };
        assert_eq!(
            judge(&pass, &partial, &none()).verdict,
            Verdict::Inconclusive
        );
        let broken = InvariantFindings {
            broken: vec!["invariant no_oversell broken".into()],
            unjudged: Vec::new(),
        };
        assert_eq!(judge(&pass, &partial, &broken).verdict, Verdict::Fail);
        let unjudged = InvariantFindings {
            broken: Vec::new(),
            unjudged: vec!["invariant accounting not judged".into()],
        };
        assert_eq!(
            judge(&pass, &healthy(), &unjudged).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn zero_samples_and_nothing_sent_never_pass() {
        let none_seen = [result("p99(checkout) < 1s", None)];
        assert_eq!(
            judge(&none_seen, &healthy(), &none()).verdict,
            Verdict::Inconclusive
        );
        let silent = RunHealth {
            sent: 0,
            ..healthy()
        };
        assert_eq!(judge(&[], &silent, &none()).verdict, Verdict::Inconclusive);
        // A definite failure outranks missing data.
        let mixed = [
            result("p99(checkout) < 1s", None),
            result("error_rate(cart) < 1%", Some(50.0)),
        ];
        assert_eq!(judge(&mixed, &healthy(), &none()).verdict, Verdict::Fail);
    }

    #[test]
    fn a_failed_default_objective_is_named_as_a_default() {
        let mut r = result("error_rate(checkout) < 1%", Some(100.0));
        r.slo.origin = Origin::Default;
        let j = judge(&[r], &healthy(), &none());
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(
            j.reasons[0],
            "default SLO failed: error_rate(checkout) < 1% (observed 100 %)"
        );
    }

    #[test]
    fn no_objectives_passes_but_says_nothing_was_judged() {
        let health = RunHealth {
            objectives: Objectives::None,
            ..healthy()
        };
        let j = judge(&[], &health, &none());
        assert_eq!(j.verdict, Verdict::Pass);
        assert!(j.reasons[0].starts_with("no objectives"), "{:?}", j.reasons);
    }
}
