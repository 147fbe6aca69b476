//! Fuzz targets for the two small languages inside scenario strings: the
//! template holes (`{{ ... }}`) and the SLO expressions.
//!
//! Owns their generators and checks: parsing never panics, every error
//! offset is a character boundary inside the text, and a template that
//! parses also renders. Must not assert particular messages.

use std::sync::Arc;

use flashcrowd::scenario::template::{RenderCtx, Scope, Template, VarValue};
use flashcrowd::slo;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// Text from `tokens`, or any short string, or a mix.
fn soup(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(select(tokens), 0..24).prop_map(|v| v.concat()),
        1 => ".{0,64}",
        1 => (prop::collection::vec(select(tokens), 0..12), ".{0,8}")
            .prop_map(|(v, s)| format!("{}{s}{}", v.concat(), v.concat())),
    ]
}

const TEMPLATE_TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{",
    "}",
    " ",
    "uuid()",
    "uuid",
    "seq()",
    "int(",
    "pick(",
    "(",
    ")",
    ",",
    "\"",
    "'",
    "\\",
    "\\\"",
    "1",
    "-1",
    "0",
    "99999999999999999999",
    "-9223372036854775808",
    "5, 1",
    "skus",
    "room",
    "empty",
    "users",
    "users.id",
    "users.nope",
    "broken.x",
    "v",
    "order_id",
    ".",
    "..",
    "a",
    "é",
    "\u{1F600}",
    "\0",
    "\n",
    "/api/",
    "uid()",
    "{{ \"{{\" }}",
];

const SLO_TOKENS: &[&str] = &[
    "p99",
    "p99.9",
    "p0",
    "p100",
    "p101",
    "p",
    "fanout_p99",
    "fanout_",
    "fanout_max",
    "mean",
    "avg",
    "min",
    "max",
    "error_rate",
    "throughput",
    "rps",
    "count",
    "delivery",
    "duplicates",
    "(",
    ")",
    "*",
    "/",
    ",",
    " ",
    "region=",
    "region",
    "=",
    "eu",
    "checkout",
    "link-drop",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "250",
    "1.5",
    ".",
    "..",
    "0",
    "1e9",
    "99999999999999999999",
    "ms",
    "s",
    "us",
    "µs",
    "m",
    "h",
    "%",
    "/s",
    "/min",
    "-",
    "é",
    "\u{1F600}",
    "\t",
    "\n",
];

pub fn template_text() -> impl Strategy<Value = String> {
    soup(TEMPLATE_TOKENS)
}

pub fn slo_text() -> impl Strategy<Value = String> {
    // Well-formed up to the threshold, whose number may be huge or odd.
    let metric = select(
        &[
            "p99",
            "mean",
            "error_rate",
            "delivery",
            "throughput",
            "count",
        ][..],
    );
    let unit = select(&["ms", "s", "%", "/s", "/min", ""][..]);
    let shaped = (metric, "[0-9]{1,400}(\\.[0-9]{0,3})?", unit)
        .prop_map(|(m, n, u)| format!("{m}(checkout) < {n}{u}"));
    prop_oneof![3 => soup(SLO_TOKENS), 1 => shaped]
}

fn offset_in(text: &str, offset: usize) -> Result<(), TestCaseError> {
    prop_assert!(offset <= text.len(), "offset {offset} past {}", text.len());
    prop_assert!(
        text.is_char_boundary(offset),
        "offset {offset} inside a character"
    );
    Ok(())
}

/// Parse with a scope that has one of everything, then render what parsed.
pub fn check_template(text: &str) -> Result<(), TestCaseError> {
    let vars = [
        ("room".to_owned(), VarValue::One("main".to_owned())),
        (
            "skus".to_owned(),
            VarValue::List(Arc::from(vec!["a".to_owned(), "b".to_owned()])),
        ),
        ("empty".to_owned(), VarValue::List(Arc::from(Vec::new()))),
    ];
    let feeders = [
        ("users".to_owned(), Some(vec!["id".to_owned()])),
        // A feeder that failed to load: every column is accepted.
        ("broken".to_owned(), None),
    ];
    let session = ["v".to_owned(), "order_id".to_owned()];
    let scope = Scope {
        vars: &vars,
        feeders: &feeders,
        session: &session,
    };
    match Template::parse(text, &scope) {
        Ok(t) => {
            prop_assert_eq!(t.source(), text);
            // No feeders and one captured value: the rest renders empty.
            let mut rng = Pcg64Mcg::seed_from_u64(7);
            let captured = [Some("o-1".to_owned())];
            let mut ctx = RenderCtx {
                seq: 3,
                iter_seed: 11,
                rng: &mut rng,
                feeders: &[],
                session: &captured,
                unresolved: 0,
            };
            let mut out = String::new();
            t.render(&mut ctx, &mut out);
            Ok(())
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.len() <= 10, "{} errors", errors.len());
            for e in &errors {
                offset_in(text, e.offset)?;
                prop_assert!(!e.message.is_empty());
            }
            Ok(())
        }
    }
}

pub fn check_slo(text: &str) -> Result<(), TestCaseError> {
    match slo::parse(text) {
        Ok(s) => {
            prop_assert!(
                s.threshold.is_finite() && s.threshold >= 0.0,
                "threshold {} from {text:?}",
                s.threshold
            );
            Ok(())
        }
        Err(e) => {
            offset_in(text, e.offset)?;
            prop_assert!(!e.message.is_empty());
            Ok(())
        }
    }
}
