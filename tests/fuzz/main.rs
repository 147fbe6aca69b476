//! Hostile input never crashes flashcrowd: bounded fuzzing of every parser
//! that reads what a user (or anyone who can reach the proxy's API) sends.
//!
//! Targets, each a proptest run over generated input:
//! - the scenario loader, fed arbitrary bytes (invalid UTF-8 included, via
//!   a file), shipped scenarios with random edits, and YAML trees built
//!   from the scenario vocabulary: it loads or returns diagnostics, each
//!   at a line and column inside the text;
//! - the template language and the SLO expression parser: errors point at
//!   a character inside the text; what parses, renders;
//! - the chaos proxy's control API bodies: toxic bodies decoded and
//!   applied directly, and every body-taking route driven over HTTP on a
//!   loopback server, which must answer with a known status and keep
//!   serving.
//!
//! A plain `cargo test` gives each target at most 8 s (about a minute of
//! CPU in all; the targets run in parallel). Longer runs:
//!
//! ```text
//! FLASHCROWD_FUZZ_CASES=1000000 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! `FLASHCROWD_FUZZ_CASES` is cases per target (naming it alone lifts the
//! time limit), `FLASHCROWD_FUZZ_SECS` seconds per target, and
//! `FLASHCROWD_FUZZ_SEED` replays the run a failure names. Each target
//! prints how many cases it ran (visible with `--nocapture`).

#[path = "../support/mod.rs"]
mod support;

mod budget;
mod proxy;
mod scenario;
mod text;

use std::path::PathBuf;

use flashcrowd::scenario::{self as sc, LoadError};
use proptest::prelude::*;

use budget::fuzz;

#[test]
fn scenario_loader_survives_arbitrary_bytes() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-bytes");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.yaml");
    fuzz("scenario-bytes", scenario::scenario_bytes(), |bytes| {
        match std::str::from_utf8(&bytes) {
            Ok(text) => scenario::check_load(text),
            Err(_) => {
                // Only a file can hold invalid UTF-8: the loader reads it
                // and must refuse it with one located diagnostic.
                std::fs::write(&file, &bytes).unwrap();
                match sc::load(&file) {
                    Err(LoadError::Invalid(d)) => {
                        prop_assert_eq!(d.len(), 1);
                        let lossy = String::from_utf8_lossy(&bytes);
                        scenario::check_located(&lossy, &d.0[0])
                    }
                    other => Err(TestCaseError::fail(format!("invalid UTF-8 gave {other:?}"))),
                }
            }
        }
    });
}

#[test]
fn scenario_loader_survives_edited_scenarios() {
    fuzz("scenario-edits", scenario::edited_scenario(), |text| {
        scenario::check_load(&text)
    });
}

#[test]
fn scenario_loader_survives_random_scenario_trees() {
    fuzz("scenario-trees", scenario::vocabulary_yaml(), |text| {
        scenario::check_load(&text)
    });
}

#[test]
fn template_parser_survives_arbitrary_text() {
    fuzz("template", text::template_text(), |t| {
        text::check_template(&t)
    });
}

#[test]
fn slo_parser_survives_arbitrary_text() {
    fuzz("slo", text::slo_text(), |t| text::check_slo(&t));
}

#[test]
fn toxic_bodies_decode_or_are_refused() {
    fuzz(
        "toxic-bodies",
        (proxy::body(), proxy::body()),
        |(create, update)| proxy::check_toxic_body(&create, &update),
    );
}

#[test]
fn proxy_api_answers_every_body() {
    let api = proxy::Api::start();
    fuzz(
        "proxy-api",
        (proxy::route(), proxy::body()),
        |(route, body)| api.check(route, body),
    );
}
