//! Where a run's objectives come from, end to end: a scenario without
//! `slos:` is judged by the default objectives (so a total outage fails and
//! a healthy platform passes, with the defaults in every report), and
//! `slos: []` measures only, saying "no objectives" everywhere instead of
//! looking like a pass of real objectives.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "flashcrowd-objectives-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Two steps at 10 arrivals/s for 2 s against `target`, then `tail`
/// (e.g. an `slos:` block, or nothing).
fn write_scenario(dir: &Path, target: &str, tail: &str) -> PathBuf {
    let yaml = format!(
        "name: objectives\ntarget: {target}\nseed: 5\nphases:\n  - {{ name: browse, duration: 2s, load: {{ rate: 10/s }}, flow: shop }}\nflows:\n  shop:\n    - {{ name: catalog, get: /api/products, timeout: 2s }}\n    - {{ name: product, get: /api/products/sku-1, timeout: 2s }}\n{tail}"
    );
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

fn run(file: &Path, out: &Path) -> Output {
    bin()
        .arg("run")
        .arg(file)
        .args(["--quiet", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn read(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&read(out, "report.json")).unwrap()
}

/// A port on loopback where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn without_slos_a_total_outage_fails_on_the_default_objectives() {
    let dir = tmp_dir("outage");
    let file = write_scenario(&dir, &format!("http://127.0.0.1:{}", closed_port()), "");
    let out = dir.join("out");
    let o = run(&file, &out);
    let r = report(&out);
    assert_eq!(o.status.code(), Some(1), "{:#}", r["verdict_reasons"]);
    assert_eq!(r["verdict"], "fail");
    assert_eq!(r["objectives"], "defaults");
    assert_eq!(r["totals"]["ok"], 0);
    let reasons: Vec<&str> = r["verdict_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "default SLO failed: error_rate(catalog) < 1% (observed 100 %)",
            "default SLO failed: ok(catalog) > 0 (observed 0 requests)",
            // A failed step ends its session: the next step never ran, and
            // says so rather than passing.
            "no samples for default SLO: error_rate(product) < 1%",
            "no samples for default SLO: ok(product) > 0",
        ]
    );
    let junit = read(&out, "junit.xml");
    assert!(
        junit.contains(r#"name="error_rate(catalog) &lt; 1% (default)""#),
        "{junit}"
    );
    assert!(junit.contains("<failure"), "{junit}");
}

#[test]
fn without_slos_a_healthy_platform_passes_with_the_defaults_in_every_report() {
    let dir = tmp_dir("healthy");
    let file = write_scenario(&dir, "embedded", "");
    let out = dir.join("out");
    let o = run(&file, &out);
    let r = report(&out);
    assert_eq!(o.status.code(), Some(0), "{:#}", r["verdict_reasons"]);
    assert_eq!(r["objectives"], "defaults");
    let slos = r["slos"].as_array().unwrap();
    let exprs: Vec<&str> = slos.iter().map(|s| s["expr"].as_str().unwrap()).collect();
    assert_eq!(
        exprs,
        [
            "error_rate(catalog) < 1%",
            "ok(catalog) > 0",
            "error_rate(product) < 1%",
            "ok(product) > 0"
        ]
    );
    for s in slos {
        assert_eq!(s["default"], true, "{s}");
        assert_eq!(s["status"], "pass", "{s}");
        assert!(s.get("line").is_none(), "a default has no line: {s}");
    }
    assert_eq!(slos[1]["observed"], 20.0, "20 product lists succeeded");
    let md = read(&out, "summary.md");
    assert!(md.contains("**default objectives**"), "{md}");
    assert!(
        md.contains(r"| error\_rate(catalog) \< 1% (default) | 0 % | \< 1 % | pass |"),
        "{md}"
    );
    let junit = read(&out, "junit.xml");
    assert!(
        junit.contains(r#"name="ok(product) &gt; 0 (default)""#),
        "{junit}"
    );
    let html = read(&out, "report.html");
    assert!(html.contains(r#"id="default-objectives""#));
    assert_eq!(
        html.matches(r#"<span class="badge default">default</span>"#)
            .count(),
        4
    );
}

#[test]
fn an_empty_slos_list_measures_only_and_every_report_says_no_objectives() {
    let dir = tmp_dir("none");
    let file = write_scenario(&dir, "embedded", "slos: []\n");
    let out = dir.join("out");
    let o = run(&file, &out);
    let r = report(&out);
    assert_eq!(o.status.code(), Some(0), "{:#}", r["verdict_reasons"]);
    assert_eq!(r["objectives"], "none");
    assert_eq!(r["slos"].as_array().unwrap().len(), 0);
    assert!(
        r["verdict_reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("no objectives"),
        "{:#}",
        r["verdict_reasons"]
    );
    let md = read(&out, "summary.md");
    assert!(
        md.lines()
            .next()
            .unwrap()
            .contains("PASS (no objectives: measured only)"),
        "{md}"
    );
    let junit = read(&out, "junit.xml");
    assert!(
        junit.contains(r#"<testcase classname="slo" name="no objectives" time="0.000">"#),
        "{junit}"
    );
    assert!(
        junit.contains("<skipped message=\"the scenario says `slos: []`"),
        "{junit}"
    );
    let html = read(&out, "report.html");
    assert!(html.contains(r#"id="no-objectives""#));
    let terminal = bin()
        .arg("report")
        .arg(&out)
        .args(["--format", "github"])
        .output()
        .unwrap();
    let annotations = String::from_utf8_lossy(&terminal.stdout);
    assert!(
        annotations.contains("no objectives (slos: []), measured only"),
        "{annotations}"
    );
}

#[test]
fn validate_plan_and_dry_run_list_the_defaults_before_anything_is_sent() {
    let dir = tmp_dir("listed");
    let port = closed_port();
    let file = write_scenario(&dir, &format!("http://127.0.0.1:{port}"), "");
    let v = bin().arg("validate").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(0));
    assert!(
        text.contains("no `slos:`, so 4 default objectives"),
        "{text}"
    );
    assert!(text.contains("  default: ok(product) > 0"), "{text}");
    for args in [vec!["plan"], vec!["run", "--dry-run"]] {
        let o = bin().args(&args).arg(&file).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {text}");
        assert!(text.contains("objectives: defaults"), "{args:?}: {text}");
        assert!(
            text.contains("slo: error_rate(catalog) < 1%  (default)"),
            "{args:?}: {text}"
        );
    }
    let none = write_scenario(&dir, "embedded", "slos: []\n");
    let v = bin().arg("validate").arg(&none).output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains("no objectives (`slos: []`)"));
}
