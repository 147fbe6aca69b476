//! Scenario validation from the outside: every shipped scenario loads, and
//! every malformed fixture produces exactly the diagnostics written next to
//! it.
//!
//! The corpus is `tests/fixtures/invalid/`: each `NAME.yaml` is loaded and
//! the result compared with `NAME.expected`, the exact text
//! `flashcrowd validate NAME.yaml` prints (every `FILE:LINE:COL: path:
//! message` line, its `hint:` line, and the count). A few inputs are too
//! big or too repetitive to commit (a file over the size cap, 10,000
//! nesting levels); [`GENERATED`] writes them in memory and they are
//! checked against `NAME.expected` the same way. Every diagnostic must
//! also have a line and a column of at least 1.
//!
//! After changing a message on purpose, or adding a fixture, write the
//! expected files again and review the diff:
//!
//! ```text
//! FLASHCROWD_BLESS=1 cargo test --test validate
//! ```
//!
//! (`UPDATE_EXPECTED=1` does the same.)

use std::fs;
use std::path::{Path, PathBuf};

use flashcrowd::scenario::{self, Diagnostic, LoadError, Scenario, MAX_FILE_BYTES};

const FIXTURES: &str = "tests/fixtures/invalid";

/// A malformed input built by code: its name (`FIXTURES/NAME.expected`)
/// and the function that writes it.
type Generated = (&'static str, fn() -> String);

const GENERATED: &[Generated] = &[
    ("generated-over-size-cap", over_size_cap),
    ("generated-deep-flow-10000-levels", deep_flow),
    ("generated-deep-block-2000-levels", deep_block),
    ("generated-long-flow-list", long_flow_list),
    ("generated-billion-laughs", billion_laughs),
    ("generated-too-many-problems", too_many_problems),
];

/// One byte over the cap, all of it a comment: refused before parsing.
fn over_size_cap() -> String {
    let line = "# padding to push the file over the size cap\n";
    let mut text = line.repeat(MAX_FILE_BYTES as usize / line.len() + 1);
    text.truncate(MAX_FILE_BYTES as usize + 1);
    text
}

fn deep_flow() -> String {
    format!(
        "name: deep\nvars:\n  x: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    )
}

/// Block nesting, one level per line: the parser streams it, the tree's
/// depth cap stops it.
fn deep_block() -> String {
    let mut text = String::from("name: deep\nvars:\n");
    for level in 1..=2000 {
        text.push_str(&" ".repeat(2 * level));
        text.push_str("x:\n");
    }
    text
}

fn long_flow_list() -> String {
    let skus: Vec<String> = (0..20_000).map(|i| format!("sku-{i}")).collect();
    format!("name: long\nvars:\n  skus: [{}]\n", skus.join(", "))
}

/// Nine anchors, each a list of nine uses of the one before: 9^9 nodes
/// if expanded, refused by the node budget after a few hundred thousand.
fn billion_laughs() -> String {
    let mut text =
        String::from("name: lol\nvars:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (prev, cur) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let uses = vec![format!("*{prev}"); 9].join(", ");
        text.push_str(&format!("  {cur}: &{cur} [{uses}]\n"));
    }
    text
}

/// More problems than are listed: the list stops at its cap.
fn too_many_problems() -> String {
    let mut text = String::from("name: many\nphases:\n");
    for i in 0..150 {
        text.push_str(&format!(
            "  - {{ name: p{i}, duration: {i} parsecs, load: {{ rate: 1/s }}, flow: f }}\n"
        ));
    }
    text.push_str("flows:\n  f:\n    - get: /a\n");
    text
}

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

/// What `flashcrowd validate` prints for a load result, and any diagnostic
/// that is not at a 1-based line and column.
fn printed(path: &Path, result: Result<Scenario, LoadError>) -> (String, Vec<String>) {
    match result {
        Err(LoadError::Invalid(d)) => {
            let unlocated = d
                .iter()
                .filter(|d| d.line < 1 || d.col < 1)
                .map(|d| format!("{}: {d}", path.display()))
                .collect();
            (format!("{d}\n"), unlocated)
        }
        Ok(_) => ("loaded without diagnostics\n".to_owned(), Vec::new()),
        Err(e) => (format!("{e}\n"), Vec::new()),
    }
}

#[test]
fn every_invalid_fixture_matches_its_expected_diagnostics() {
    let bless = ["FLASHCROWD_BLESS", "UPDATE_EXPECTED"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty() && v != "0"));
    let mut paths: Vec<PathBuf> = fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "only {} fixtures", paths.len());
    let mut cases: Vec<(PathBuf, (String, Vec<String>))> = paths
        .iter()
        .map(|p| (p.clone(), printed(p, scenario::load(p))))
        .collect();
    for (name, make) in GENERATED {
        let path = fixture(&format!("{name}.yaml"));
        let result = scenario::load_str(&path, &make());
        cases.push((path.clone(), printed(&path, result)));
    }
    let mut mismatches = Vec::new();
    for (path, (got, unlocated)) in &cases {
        mismatches.extend(unlocated.iter().map(|u| format!("not located: {u}")));
        let expected_path = path.with_extension("expected");
        if bless {
            fs::write(&expected_path, got).unwrap();
            continue;
        }
        match fs::read_to_string(&expected_path) {
            Ok(expected) if expected == *got => {}
            Ok(expected) => mismatches.push(format!(
                "== {}\n-- expected\n{expected}-- got\n{got}",
                path.display()
            )),
            Err(_) => mismatches.push(format!(
                "== {} has no {}; write it with FLASHCROWD_BLESS=1\n-- got\n{got}",
                path.display(),
                expected_path.display()
            )),
        }
    }
    // An expected file whose input is gone would pass silently forever.
    for entry in fs::read_dir(FIXTURES).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "expected")
            && !cases.iter().any(|(c, _)| c.with_extension("expected") == p)
        {
            mismatches.push(format!("{} belongs to no fixture", p.display()));
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

/// Hostile YAML is refused fast and without building what it describes.
/// The bound is 100 ms in a release build and 1 s in a debug build (ten
/// times slower code on a shared machine); each input gets the best of
/// three runs, so one descheduling does not fail the test. Memory is
/// bounded by the budgets themselves: each input must be refused by the
/// limit named next to it, before the tree is built past it.
#[test]
fn alias_bombs_and_deep_nesting_are_refused_within_100_ms() {
    let bound = if cfg!(debug_assertions) {
        std::time::Duration::from_secs(1)
    } else {
        std::time::Duration::from_millis(100)
    };
    let budget = "expands to more than 200000 nodes or 16 MiB of text";
    let depth = "nesting is deeper than 64 levels";
    let long = "collection is longer than 128 KiB";
    // 1 MiB of text behind an anchor, used twenty times: 20 MiB of text.
    let text_bomb = format!(
        "name: x\nvars:\n  a: &a \"{}\"\n  b: [{}]\n",
        "x".repeat(1 << 20),
        vec!["*a"; 20].join(", ")
    );
    // Nodes that double at each level: 2^40 if expanded.
    let mut doubling = String::from("name: x\nvars:\n  a0: &a0 [x]\n");
    for i in 1..40 {
        doubling.push_str(&format!("  a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
    }
    let inputs: Vec<(&str, String, &str)> = vec![
        ("billion laughs", billion_laughs(), budget),
        ("doubling aliases", doubling, budget),
        ("text bomb", text_bomb, budget),
        ("10,000 levels of [", deep_flow(), depth),
        ("10,000 unclosed {a:", "{a: ".repeat(10_000), depth),
        ("2,000 levels of block maps", deep_block(), depth),
        ("a 200 KiB flow list", long_flow_list(), long),
        (
            // The parser would buffer ~470 MB of tokens for this one.
            "a 3.9 MB flow list behind an anchor",
            format!("&a [{}]\n", "x, ".repeat(1_300_000)),
            long,
        ),
        (
            "a flow list after a comment ended by a lone CR",
            format!("name: x\r# note\r{}", long_flow_list()),
            long,
        ),
    ];
    for (what, text, refused_by) in &inputs {
        let mut best = std::time::Duration::MAX;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let result = scenario::load_str(Path::new("hostile.yaml"), text);
            best = best.min(start.elapsed());
            match result {
                Err(LoadError::Invalid(d)) => assert!(
                    d.len() == 1 && d.0[0].message.contains(refused_by),
                    "{what}: refused for another reason:\n{d}"
                ),
                other => panic!("{what}: not refused: {other:?}"),
            }
        }
        eprintln!("{what}: refused in {best:.2?} ({} bytes)", text.len());
        assert!(best < bound, "{what}: took {best:?}, more than {bound:?}");
    }
}
