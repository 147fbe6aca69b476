//! `report.html` from a real run: the binary runs a short scenario with two
//! regions and a partition against the embedded demo, and the page rendered
//! from its `report.json` is self-contained and shows the SLOs, a chart per
//! step and the chaos timeline.

use std::path::PathBuf;
use std::process::Command;

use flashcrowd::report::{html, Report};

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flashcrowd-html-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run `yaml` with the binary and read back its report.
fn run(name: &str, yaml: &str) -> (Report, PathBuf) {
    let dir = tmp_dir(name);
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(out.join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (serde_json::from_str(&text).unwrap(), out)
}

/// Every way a page could pull something in from elsewhere.
fn external_loads(page: &str) -> Vec<String> {
    let lower = page.to_ascii_lowercase();
    let mut found = Vec::new();
    for attr in ["src=", "href="] {
        for (at, _) in lower.match_indices(attr) {
            let value = lower[at + attr.len()..].trim_start_matches(['"', '\'']);
            if value.starts_with("http:") || value.starts_with("https:") || value.starts_with("//")
            {
                found.push(page[at..(at + 60).min(page.len())].to_owned());
            }
        }
    }
    for needle in [
        "<link", "<script", "@import", "url(http", "url(//", "<iframe", "<img",
    ] {
        if lower.contains(needle) {
            found.push(needle.to_owned());
        }
    }
    found
}

#[test]
fn a_run_with_regions_and_a_partition_renders_a_self_contained_page() {
    let (report, out) = run(
        "partition",
        r#"
name: html-partition
target: embedded
seed: 9
phases:
  - { name: warm, duration: 2s, load: { rate: 40/s }, flow: browse }
  - { name: peak, at: 2s, duration: 3s, load: { rate: 60/s }, flow: buy }
regions:
  sea: { share: 50% }
  eu: { share: 50% }
chaos:
  events:
    - { name: eu-cut, region: eu, at: peak+1s, for: 1s, partition: refuse }
flows:
  browse:
    - { name: product, get: /api/products/sku-1, timeout: 1s }
  buy:
    - { name: product, get: /api/products/sku-2, timeout: 1s }
    - { name: stock, get: /api/inventory/sku-2, timeout: 1s }
slos:
  - "p99(product, region=sea) < 2s"
  - "error_rate(product, region=sea) < 1%"
  - "error_rate(stock) < 50%"
"#,
    );
    let page = html::render(&report);
    // Written next to report.json, so the page can be opened or screenshot
    // (tests/report/render-png.sh) after the test.
    html::write(&out, &report).unwrap();

    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    let external = external_loads(&page);
    assert!(external.is_empty(), "the page loads {external:?}");

    // The SLO table lists every objective, escaped.
    assert_eq!(report.slos.len(), 3);
    assert!(page.contains(r#"<table class="slos">"#));
    for s in &report.slos {
        let escaped = s.expr.replace('&', "&amp;").replace('<', "&lt;");
        assert!(
            page.contains(&format!("<code>{escaped}</code>")),
            "SLO {} missing",
            s.expr
        );
    }

    // One time-series chart per step, and one card per step.
    assert!(report.steps.len() >= 3, "{:?}", report.steps.len());
    let charts = page.matches(r#"class="chart" id="step-"#).count();
    let rate_charts = page
        .match_indices(r#"id="step-"#)
        .filter(|(at, _)| {
            page[*at..]
                .split('"')
                .nth(1)
                .is_some_and(|id| id.ends_with("-rate"))
        })
        .count();
    assert_eq!(rate_charts, report.steps.len());
    assert!(
        charts >= 2 * report.steps.len(),
        "throughput and distribution per step"
    );
    assert_eq!(
        page.matches(r#"<section class="card step""#).count(),
        report.steps.len()
    );
    for i in 0..report.steps.len() {
        assert!(page.contains(&format!(r#"id="step-{i}-rate""#)));
        assert!(page.contains(&format!(r#"id="step-{i}-dist""#)));
    }
    // Regions compare in the distribution plots.
    assert!(page.contains("<title>sea</title>") && page.contains("<title>eu</title>"));

    // The chaos event: in the plan, in the log with its times, and as a
    // labelled span on every time chart.
    let chaos = report.chaos.as_ref().unwrap();
    assert_eq!(chaos.transitions.len(), 2, "{:#?}", chaos.transitions);
    assert!(page.contains(r#"<table class="chaos-events">"#));
    assert!(page.contains("<td>eu-cut</td>"));
    for t in &chaos.transitions {
        assert!(
            page.contains(&format!("{:.2} s", t.at_s)),
            "transition at {} s missing",
            t.at_s
        );
    }
    let time_charts = page.matches(r#"-rate""#).count() + page.matches(r#"-latency""#).count();
    assert!(page.matches(">eu-cut · eu</text>").count() >= time_charts);

    // Same report, same bytes.
    assert_eq!(page, html::render(&report));
}
