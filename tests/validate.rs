//! Scenario validation from the outside: every shipped scenario loads, and
//! every malformed fixture produces exactly the diagnostics written next to
//! it.
//!
//! `tests/fixtures/invalid/NAME.yaml` is checked against
//! `tests/fixtures/invalid/NAME.expected`, the exact text a user would see.
//! After changing a message on purpose, regenerate the files with
//! `UPDATE_EXPECTED=1 cargo test --test validate` and review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use flashcrowd::scenario::{self, Diagnostic, LoadError, MAX_FILE_BYTES};

const FIXTURES: &str = "tests/fixtures/invalid";

fn diagnostics(path: &Path) -> Vec<Diagnostic> {
    match scenario::load(path) {
        Err(LoadError::Invalid(d)) => d.0,
        Ok(_) => panic!("{} loaded, but it is invalid", path.display()),
        Err(e) => panic!("{}: expected diagnostics, got {e}", path.display()),
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn located(d: &[Diagnostic]) -> Vec<(usize, usize, &str, &str)> {
    d.iter()
        .map(|d| (d.line, d.col, d.path.as_str(), d.message.as_str()))
        .collect()
}

#[test]
fn every_shipped_scenario_loads_without_diagnostics() {
    let mut count = 0;
    for entry in fs::read_dir("scenarios").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            if let Err(e) = scenario::load(&path) {
                panic!("{} does not load:\n{e}", path.display());
            }
            count += 1;
        }
    }
    assert!(
        count >= 3,
        "expected the quick start and at least two more scenarios"
    );
}

#[test]
fn every_invalid_fixture_matches_its_expected_diagnostics() {
    let update = std::env::var_os("UPDATE_EXPECTED").is_some();
    let mut paths: Vec<PathBuf> = fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 12, "only {} fixtures", paths.len());
    let mut mismatches = Vec::new();
    for path in &paths {
        let got = match scenario::load(path) {
            Err(LoadError::Invalid(d)) => format!("{d}\n"),
            Ok(_) => "loaded without diagnostics\n".to_owned(),
            Err(e) => format!("{e}\n"),
        };
        let expected_path = path.with_extension("expected");
        if update {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} is missing", expected_path.display()));
        if got != expected {
            mismatches.push(format!(
                "== {}\n-- expected\n{expected}-- got\n{got}",
                path.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn quickstart_with_a_bad_unit_and_a_typo_gives_exactly_two_diagnostics() {
    let d = diagnostics(&fixture("quickstart-two-mistakes.yaml"));
    assert_eq!(
        located(&d),
        [
            (
                36,
                18,
                "phases[0].duration",
                "unknown duration unit \"parsecs\""
            ),
            (69, 7, "flows.checkout[0].timout", "unknown field `timout`"),
        ]
    );
    assert!(d[0].hint.as_deref().unwrap().contains("ms, s, m"));
    assert_eq!(d[1].hint.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn alias_bomb_is_refused_by_the_node_budget() {
    let d = diagnostics(&fixture("alias-bomb.yaml"));
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("expands to more than"), "{}", d[0]);
}

#[test]
fn ten_megabytes_of_garbage_is_refused_before_parsing() {
    let dir = std::env::temp_dir().join(format!("flashcrowd-validate-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("garbage.yaml");
    let mut bytes = Vec::with_capacity(10 << 20);
    let mut x: u32 = 12345;
    while bytes.len() < 10 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    fs::write(&path, &bytes).unwrap();
    let result = scenario::load(&path);
    fs::remove_dir_all(&dir).unwrap();
    match result {
        Err(LoadError::TooLarge { size, limit, .. }) => {
            assert_eq!(size, 10 << 20);
            assert_eq!(limit, MAX_FILE_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let text = "#".repeat((MAX_FILE_BYTES + 1) as usize);
    assert!(matches!(
        scenario::load_str(Path::new("big.yaml"), &text),
        Err(LoadError::TooLarge { .. })
    ));
}

#[test]
fn unknown_slo_step_points_inside_the_string() {
    let d = diagnostics(&fixture("unknown-slo-step.yaml"));
    assert_eq!(
        located(&d)[0],
        (10, 10, "slos[0]", "unknown step `checkot`")
    );
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `checkout`?"));
}

#[test]
fn bad_template_function_points_at_the_function() {
    let d = diagnostics(&fixture("bad-template-function.yaml"));
    let f = d
        .iter()
        .find(|d| d.message == "unknown function `uid`")
        .unwrap();
    assert_eq!((f.line, f.col), (11, 39));
    assert_eq!(f.path, "flows.f[0].headers.Idempotency-Key");
}

#[test]
fn duplicate_phase_names_are_reported_at_the_second() {
    let d = diagnostics(&fixture("duplicate-phase-names.yaml"));
    assert_eq!(
        located(&d)[0],
        (7, 11, "phases[1].name", "duplicate phase name `warm-up`")
    );
}

#[test]
fn missing_and_unknown_flows_are_both_reported() {
    let d = diagnostics(&fixture("missing-flow.yaml"));
    assert_eq!(
        located(&d),
        [
            (3, 5, "phases[0].flow", "missing required field `flow`"),
            (9, 11, "phases[1].flow", "unknown flow `chekout`"),
        ]
    );
    assert_eq!(d[1].hint.as_deref(), Some("did you mean `checkout`?"));
}

#[test]
fn a_yaml_syntax_error_is_the_only_diagnostic() {
    let d = diagnostics(&fixture("yaml-syntax-error.yaml"));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].path, "");
    assert_eq!((d[0].line, d[0].col), (5, 3));
}

#[test]
fn display_lists_every_problem_then_counts_them() {
    let err = scenario::load(&fixture("missing-flow.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(
        "tests/fixtures/invalid/missing-flow.yaml:3:5: phases[0].flow: missing required field `flow`\n"
    ), "{text}");
    assert!(text.ends_with("\n2 problems found"), "{text}");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = scenario::load(Path::new("tests/fixtures/no-such-file.yaml")).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
}

#[test]
fn a_misspelt_session_variable_suggests_the_captured_one() {
    let d = diagnostics(&fixture("capture-problems.yaml"));
    let unknown = d
        .iter()
        .find(|d| d.message == "unknown variable `order_ud`")
        .unwrap();
    assert_eq!(
        (unknown.line, unknown.col, unknown.path.as_str()),
        (24, 34, "flows.buy[1].loop.steps[0].get")
    );
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `order_id`?"));
}

#[test]
fn weights_that_miss_one_hundred_percent_are_reported_at_their_list() {
    let d = diagnostics(&fixture("flow-program-problems.yaml"));
    assert!(located(&d).contains(&(
        11,
        9,
        "flows.buy[4].choose",
        "the weights add up to 90%, not 100%"
    )));
    let d = diagnostics(&fixture("closed-load-problems.yaml"));
    assert!(located(&d).contains(&(
        21,
        13,
        "phases[4].load.sessions.dwell.mixture",
        "the weights add up to 90%, not 100%"
    )));
}
