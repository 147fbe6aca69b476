//! The built-in objectives a scenario without `slos:` is judged by.
//!
//! Owns what the defaults are and their thresholds, so that a run with no
//! objectives written never passes blindly (every request failing is not a
//! pass). Must not decide which steps run: the caller names them.

use super::{parse, Origin, Slo};

/// Highest error rate of a step the defaults accept, as written in their
/// expressions (k6's documentation uses the same 1% in its examples).
pub const ERROR_RATE: &str = "1%";

/// The default objectives for these steps (names as SLOs select them),
/// in the given order: per step, fewer than [`ERROR_RATE`] of its requests
/// fail, and at least one succeeds. Duplicate names are judged once.
pub fn defaults<'a>(steps: impl IntoIterator<Item = &'a str>) -> Vec<Slo> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for step in steps {
        if seen.contains(&step) {
            continue;
        }
        seen.push(step);
        for text in [
            format!("error_rate({step}) < {ERROR_RATE}"),
            format!("ok({step}) > 0"),
        ] {
            // Step names are validated before they get here, but a name the
            // grammar cannot select (it holds `)` or `,`) is skipped rather
            // than judged wrongly; `error_rate(*)` still covers it below.
            if let Ok(mut slo) = parse(&text) {
                if matches!(&slo.selector, super::Selector::Step(s) if s == step) {
                    slo.origin = Origin::Default;
                    out.push(slo);
                }
            }
        }
    }
    if out.len() < seen.len() * 2 {
        // Some step could not be named: judge every request together too.
        if let Ok(mut slo) = parse(&format!("error_rate(*) < {ERROR_RATE}")) {
            slo.origin = Origin::Default;
            out.push(slo);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::{Metric, Op, Selector};

    #[test]
    fn each_step_gets_an_error_rate_and_a_success_objective_once() {
        let d = defaults(["join", "checkout", "join"]);
        let exprs: Vec<&str> = d.iter().map(|s| s.expr.as_str()).collect();
        assert_eq!(
            exprs,
            [
                "error_rate(join) < 1%",
                "ok(join) > 0",
                "error_rate(checkout) < 1%",
                "ok(checkout) > 0"
            ]
        );
        assert!(d.iter().all(|s| s.origin == Origin::Default));
        assert_eq!(d[0].metric, Metric::ErrorRate);
        assert_eq!(d[0].threshold, 0.01);
        assert_eq!(
            (d[1].metric, d[1].op, d[1].threshold),
            (Metric::Ok, Op::Gt, 0.0)
        );
        assert_eq!(d[3].selector, Selector::Step("checkout".into()));
    }

    #[test]
    fn a_step_name_the_grammar_cannot_select_falls_back_to_every_request() {
        let d = defaults(["a,b"]);
        let exprs: Vec<&str> = d.iter().map(|s| s.expr.as_str()).collect();
        assert_eq!(exprs, ["error_rate(*) < 1%"]);
    }
}
