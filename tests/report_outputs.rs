//! The files a run directory holds besides `report.json` — `junit.xml`,
//! `summary.md`, `compare.md`/`compare.html` — rendered from real reports,
//! and the `report` and `compare` commands end to end.
//!
//! `tests/fixtures/reports/gate/report.json` is a committed report of a real
//! run (`gate.yaml` beside it says how to re-create it): it failed one SLO,
//! had one without samples and ran from two regions.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use flashcrowd::report::{self, compare, Report};
use quick_xml::events::Event;
use quick_xml::XmlVersion;
use support::{spawn_target, TargetBehaviour};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flashcrowd-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gate() -> Report {
    report::read(&repo("tests/fixtures/reports/gate")).unwrap()
}

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An element of a parsed XML document.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Element> + 'a {
        let name = name.to_owned();
        self.children.iter().filter(move |c| c.name == name)
    }

    fn one(&self, name: &str) -> &Element {
        let found: Vec<_> = self.all(name).collect();
        assert_eq!(found.len(), 1, "one <{name}> in <{}>", self.name);
        found[0]
    }

    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .unwrap_or_else(|| panic!("<{}> has no {name}", self.name))
    }
}

/// Parse a whole document with quick-xml into a tree; panics on any
/// well-formedness error.
fn parse_xml(xml: &str) -> Element {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack = vec![Element::default()];
    let open = |e: &quick_xml::events::BytesStart| {
        let mut el = Element {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            ..Element::default()
        };
        for a in e.attributes() {
            let a = a.unwrap();
            el.attrs.insert(
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.normalized_value(XmlVersion::Explicit1_0)
                    .unwrap()
                    .into_owned(),
            );
        }
        el
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => {
                let el = open(&e);
                stack.last_mut().unwrap().children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(el);
            }
            Event::Text(t) => {
                let s = t.xml10_content().unwrap().into_owned();
                stack.last_mut().unwrap().text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().unwrap();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .unwrap_or_else(|| panic!("unknown entity &{name};"))
                            .to_owned()
                    }
                };
                stack.last_mut().unwrap().text.push_str(&resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.pop().unwrap()
}

/// Validate `xml` against the committed JUnit schema with xmllint, when it
/// is installed (`apt-get install libxml2-utils`); says so when it is not.
fn xsd_check(xml: &str, name: &str) {
    let dir = tmp_dir(&format!("xsd-{name}"));
    let file = dir.join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let schema = repo("tests/fixtures/junit/junit.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(o) => assert!(o.status.success(), "{xml}\n{}", text(&o)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("xmllint not installed: the XSD check of {name} is skipped");
        }
        Err(e) => panic!("xmllint: {e}"),
    }
}

#[test]
fn junit_of_a_failing_run_has_one_failure_per_failed_slo_and_fits_the_schema() {
    let r = gate();
    let xml = report::junit::render(&r);
    xsd_check(&xml, "gate");

    let root = parse_xml(&xml);
    assert_eq!(root.name, "testsuites");
    let suite = root.one("testsuite");
    assert_eq!(suite.attr("name"), "flashcrowd: gate");
    assert_eq!(suite.attr("tests"), "4", "3 SLOs and `schedule held`");
    assert_eq!(suite.attr("failures"), "1");
    assert_eq!(suite.attr("skipped"), "1");
    assert_eq!(suite.attr("errors"), "0");
    assert_eq!(suite.attr("time"), format!("{:.3}", r.duration_s));
    assert_eq!(suite.attr("timestamp"), &r.started_at[..19]);
    assert_eq!(suite.attr("hostname"), r.host);

    let cases: Vec<&Element> = suite.all("testcase").collect();
    let failed: Vec<&&Element> = cases
        .iter()
        .filter(|c| c.all("failure").count() > 0)
        .collect();
    let failed_slos: Vec<_> = r
        .slos
        .iter()
        .filter(|s| !s.passed && s.observed.is_some())
        .collect();
    assert_eq!(failed.len(), failed_slos.len());
    let f = failed[0];
    assert_eq!(f.attr("classname"), "slo");
    assert_eq!(f.attr("name"), "p99(list-products) < 1us");
    let failure = f.one("failure");
    assert_eq!(failure.attr("type"), "slo");
    // Observed (67.263 ms, to three digits as in the summary) and the
    // threshold, in the SLO's unit, with the comparison.
    assert_eq!(failed_slos[0].observed, Some(67.263));
    assert_eq!(
        failure.attr("message"),
        "observed 67.3 ms, threshold < 0.001 ms"
    );
    assert!(failure.text.contains("over 80 samples"), "{}", failure.text);

    let skipped: Vec<_> = cases
        .iter()
        .filter(|c| c.all("skipped").count() > 0)
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].attr("name"), "p99(inventory) < 250ms");
    assert_eq!(skipped[0].one("skipped").attr("message"), "no samples");

    let schedule = cases.last().unwrap();
    assert_eq!(
        (schedule.attr("classname"), schedule.attr("name")),
        ("run", "schedule held")
    );
    assert_eq!(schedule.children.len(), 0, "the schedule was kept");
    let props: BTreeMap<&str, &str> = suite
        .one("properties")
        .all("property")
        .map(|p| (p.attr("name"), p.attr("value")))
        .collect();
    assert_eq!(props["scenario_sha256"], r.scenario.sha256);
    assert_eq!(props["verdict"], "FAIL");
    assert!(suite.one("system-out").text.contains("SLO failed"));
}

#[test]
fn junit_escapes_what_a_scenario_may_contain_and_fails_a_schedule_not_kept() {
    let mut r = gate();
    r.scenario.name = "a <b> & \"c\" 'd'\u{1}".into();
    r.slos[0].expr = "p99(x&y) < 1us\nsecond line".into();
    r.verdict_reasons.push("tab\there ]]> <!-- -->".into());
    r.totals.dropped = 12;
    r.generator.saturated = true;
    // Saturation alone does not fail `schedule held`; lag that could turn
    // an objective does.
    r.slos[1].generator_doubt = true;
    let xml = report::junit::render(&r);
    xsd_check(&xml, "escaping");

    let root = parse_xml(&xml);
    let suite = root.one("testsuite");
    assert_eq!(suite.attr("name"), "flashcrowd: a <b> & \"c\" 'd'\u{FFFD}");
    assert_eq!(suite.attr("failures"), "2");
    let cases: Vec<&Element> = suite.all("testcase").collect();
    assert_eq!(cases[0].attr("name"), "p99(x&y) < 1us\nsecond line");
    let schedule = cases.last().unwrap().one("failure");
    assert_eq!(schedule.attr("type"), "schedule");
    let message = schedule.attr("message");
    assert!(
        message.contains("12 of 80 scheduled iterations were dropped"),
        "{message}"
    );
    assert!(
        message.contains("its lag could decide error_rate(*) < 1%"),
        "{message}"
    );
    assert!(suite
        .one("system-out")
        .text
        .contains("tab\there ]]> <!-- -->"));
}

#[test]
fn the_markdown_summary_has_an_slo_table_and_a_row_per_step_and_region() {
    let mut r = gate();
    r.steps[0].step = "list|products".into();
    let md = report::markdown::render(&r);
    let first = md.lines().next().unwrap();
    assert_eq!(first, "### flashcrowd: gate — FAIL");
    // Status words, no symbols or emoji.
    assert!(
        !md.chars()
            .any(|c| matches!(c, '\u{2600}'..='\u{27BF}' | '\u{1F000}'..='\u{1FAFF}')),
        "{md}"
    );
    assert!(
        md.contains("| p99(list-products) \\< 1us | 67.3 ms | \\< 0.001 ms | FAIL |"),
        "{md}"
    );
    assert!(md.contains("| p99(inventory) \\< 250ms | no samples | \\< 250 ms | no data |"));
    // Every table row has as many cells as its header: `|` in names is escaped.
    let step_rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| browse/") || l.starts_with("| tracking/"))
        .collect();
    // 2 steps × (step + 2 regions), and the inventory step without regions.
    assert_eq!(step_rows.len(), 7, "{md}");
    for row in &step_rows {
        let cells = row.replace("\\|", "").matches('|').count() - 1;
        assert_eq!(cells, 7, "{row}");
    }
    assert!(
        md.contains("| browse/list\\|products · far | 31 | 15.6 |"),
        "{md}"
    );
    assert!(md.contains("0 dropped; generator kept up"));
}

#[test]
fn report_rewrites_report_json_byte_for_byte_and_renders_the_other_formats() {
    let dir = tmp_dir("rerender");
    let original = std::fs::read(repo("tests/fixtures/reports/gate/report.json")).unwrap();
    std::fs::write(dir.join("report.json"), &original).unwrap();

    let o = bin(&["report", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(std::fs::read(dir.join("report.json")).unwrap(), original);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit, report::junit::render(&gate()));
    assert!(dir.join("summary.md").is_file());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("run directory: {}", dir.display())),
        "{stdout}"
    );

    // Only what is asked for.
    std::fs::remove_file(dir.join("summary.md")).unwrap();
    let o = bin(&["report", dir.to_str().unwrap(), "--format", "junit"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(!dir.join("summary.md").exists());

    // Not a run directory, or a bad format: invalid input.
    let empty = tmp_dir("rerender-empty");
    assert_eq!(code(&bin(&["report", empty.to_str().unwrap()])), 2);
    let o = bin(&["report", dir.to_str().unwrap(), "--format", "pdf"]);
    assert_eq!(code(&o), 2);
    for d in [&dir, &empty] {
        let _ = std::fs::remove_dir_all(d);
    }
    assert!(
        text(&o).contains("choose from json, html, junit, md"),
        "{}",
        text(&o)
    );
}

/// Run `steady.yaml` (50 requests/s for 1 s) against a target answering
/// after `delay`, into `out`.
fn steady_run(rt: &tokio::runtime::Runtime, delay: Duration, out: &Path) -> Output {
    let target = rt.block_on(spawn_target(TargetBehaviour {
        delay,
        ..TargetBehaviour::default()
    }));
    bin(&[
        "run",
        repo("tests/fixtures/reports/steady.yaml").to_str().unwrap(),
        "--target",
        &format!("http://{}", target.addr),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ])
}

#[test]
fn compare_flags_a_slower_candidate_and_refuses_another_scenario() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = tmp_dir("compare-base");
    let cand = tmp_dir("compare-cand");
    // Real runs: the same scenario against a 40 ms and a 60 ms target, so
    // the candidate's service time is 50 % higher. (At 20 ms and 30 ms a
    // few milliseconds of a cold start in the base's p99 — with 50 samples,
    // its slowest request — can halve the measured rise; 40/60 ms keeps it
    // well clear of the 10 % limit.)
    let o = steady_run(&rt, Duration::from_millis(40), &base);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = steady_run(&rt, Duration::from_millis(60), &cand);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // `run` wrote every format this build has, report.json unchanged by it.
    for f in ["report.json", "junit.xml", "summary.md"] {
        assert!(cand.join(f).is_file(), "{f}");
    }
    let json = std::fs::read(cand.join("report.json")).unwrap();
    let reread = report::read(&cand).unwrap();
    let mut again = serde_json::to_vec_pretty(&reread).unwrap();
    again.push(b'\n');
    assert_eq!(
        again, json,
        "a real report survives the round trip byte for byte"
    );

    // A run against itself: nothing moved.
    let o = bin(&["compare", base.to_str().unwrap(), base.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("no regressions"), "{}", text(&o));

    // The slower candidate: p99 (and p50) regress, exit 1.
    let o = bin(&["compare", base.to_str().unwrap(), cand.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let c = compare::compare(
        &report::read(&base).unwrap(),
        &reread,
        &compare::Thresholds::default(),
    );
    let step = &c.rows[0];
    assert_eq!(step.label(), "steady/get");
    let p99 = step
        .deltas
        .iter()
        .find(|d| d.metric == compare::Metric::P99)
        .unwrap();
    let rise = p99.relative_pct.unwrap();
    assert!((20.0..80.0).contains(&rise), "p99 rose {rise}%");
    assert_eq!(p99.judgement, compare::Judgement::Regressed);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("REGRESSION (limit +10%)"), "{stdout}");
    assert!(stdout.contains("p99 steady/get (+"), "{stdout}");
    let md = std::fs::read_to_string(cand.join("compare.md")).unwrap();
    assert!(md.contains("#### steady/get"), "{md}");
    assert!(md.contains("REGRESSED"), "{md}");
    let html = std::fs::read_to_string(cand.join("compare.html")).unwrap();
    assert!(html.contains("class=\"regressed\""));
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "self-contained"
    );

    // Limits loose enough for +50 % pass; a limit that does not parse is
    // invalid input.
    let out = tmp_dir("compare-out");
    let o = bin(&[
        "compare",
        base.to_str().unwrap(),
        cand.to_str().unwrap(),
        "--max-regression",
        "p99=100%,p50=100%",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(out.join("compare.md").is_file());
    let o = bin(&[
        "compare",
        base.to_str().unwrap(),
        cand.to_str().unwrap(),
        "--max-regression",
        "p99=10",
    ]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("p99=10%"), "{}", text(&o));

    // Another scenario file: refused with 2 unless allowed.
    let other = tmp_dir("compare-other");
    let edited = String::from_utf8(json)
        .unwrap()
        .replace(&reread.scenario.sha256, &"f".repeat(64));
    std::fs::write(other.join("report.json"), edited).unwrap();
    let o = bin(&["compare", base.to_str().unwrap(), other.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("--allow-different-scenario"),
        "{}",
        text(&o)
    );
    let o = bin(&[
        "compare",
        base.to_str().unwrap(),
        other.to_str().unwrap(),
        "--allow-different-scenario",
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("DIFFERENT scenarios"), "{}", text(&o));
    for d in [&base, &cand, &out, &other] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn compare_matches_region_rows_and_lists_rows_of_one_run_only() {
    let base = gate();
    let mut cand = gate();
    // The far region's get-room got 1.5 × slower; a step was renamed.
    let far = &mut cand.steps[1].regions[1];
    assert_eq!(far.region, "far");
    far.latency_us.p99 = far.latency_us.p99 * 3 / 2;
    cand.steps[0].step = "list-products-v2".into();
    let c = compare::compare(&base, &cand, &compare::Thresholds::default());
    assert_eq!(c.regressions(), 1, "{}", compare::render_text(&c));
    let regressed: Vec<String> = c
        .rows
        .iter()
        .filter(|r| r.regressions().count() > 0)
        .map(|r| r.label())
        .collect();
    assert_eq!(regressed, ["browse/get-room · far"]);
    let only: Vec<(String, compare::Presence)> = c
        .rows
        .iter()
        .filter(|r| r.presence != compare::Presence::Both)
        .map(|r| (r.label(), r.presence))
        .collect();
    assert_eq!(only.len(), 6, "3 rows gone, 3 new: {only:?}");
    let text = compare::render_text(&c);
    assert!(
        text.contains("browse/list-products (only in the base run)"),
        "{text}"
    );
}
