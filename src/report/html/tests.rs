//! Page-level tests: escaping, determinism and what each section shows,
//! on a small hand-built report.

use super::*;
use crate::chaos::Transition;
use crate::metrics::Counts;
use crate::report::{
    ChaosEventInfo, ChaosReport, Generator, Latency, PercentilePoint, PhaseReport, RegionInfo,
    RegionStepReport, ScenarioInfo, Series, Sessions, SloReport, StepReport, Totals, WsReport,
};
use crate::slo::SloStatus;

fn latency(p50: u64) -> Latency {
    Latency {
        samples: 100,
        min: p50 / 2,
        p50,
        p90: p50 * 2,
        p99: p50 * 4,
        p99_9: p50 * 5,
        max: p50 * 6,
        mean: p50 as f64,
        stdev: 1.0,
    }
}

fn percentiles(p50: u64) -> Vec<PercentilePoint> {
    [
        (0.0, 1),
        (50.0, 2),
        (90.0, 4),
        (99.0, 8),
        (99.9, 10),
        (100.0, 12),
    ]
    .into_iter()
    .map(|(p, k)| PercentilePoint {
        percentile: p,
        value_us: p50 * k / 2,
    })
    .collect()
}

fn series(p50: u64) -> Series {
    Series {
        every_s: 1.0,
        sent: vec![10, 20, 20, 15],
        errors: vec![0, 0, 5, 0],
        p50_us: vec![Some(p50), Some(p50), None, Some(p50)],
        p99_us: vec![Some(p50 * 4), Some(p50 * 4), None, Some(p50 * 3)],
        max_us: vec![Some(p50 * 6), Some(p50 * 6), None, Some(p50 * 5)],
    }
}

fn step(phase: &str, name: &str, regions: &[&str]) -> StepReport {
    StepReport {
        phase: phase.to_owned(),
        flow: "browse".to_owned(),
        step: name.to_owned(),
        method: "GET".to_owned(),
        count: 65,
        ok: 60,
        errors: 5,
        rps: 16.25,
        latency_us: latency(4_000),
        percentiles: percentiles(4_000),
        outcomes: Counts::default(),
        ws: None,
        series: series(4_000),
        regions: regions
            .iter()
            .enumerate()
            .map(|(i, g)| RegionStepReport {
                region: (*g).to_owned(),
                count: 30,
                ok: 30,
                errors: 0,
                rps: 7.5,
                latency_us: latency(4_000 * (i as u64 + 1)),
                percentiles: percentiles(4_000 * (i as u64 + 1)),
                outcomes: Counts::default(),
                series: series(4_000 * (i as u64 + 1)),
                ws: None,
            })
            .collect(),
        traces: Vec::new(),
    }
}

pub(super) fn fixture() -> Report {
    let transition = |at_s: f64, change: &str| Transition {
        at_s,
        planned_s: at_s,
        event: "eu-cut".to_owned(),
        region: "eu".to_owned(),
        change: change.to_owned(),
        action: "partition: refuse".to_owned(),
        error: None,
    };
    let mut ws_step = step("talk", "comment", &[]);
    ws_step.ws = Some(WsReport {
        messages: 10,
        expected: 90,
        received: 89,
        delivery_ratio: Some(89.0 / 90.0),
        missing: 1,
        duplicates: 0,
        out_of_order: 2,
        echoes: 0,
        unexpected: 0,
        fanout_us: latency(3_000),
        fanout_percentiles: percentiles(3_000),
        reconnects: 0,
        closed_by_server: Default::default(),
        broken: 0,
        messages_in: 0,
    });
    Report {
        schema_version: 1,
        run_id: "run-1".to_owned(),
        flashcrowd_version: "0.1.0".to_owned(),
        scenario: ScenarioInfo {
            name: "fixture & <friends>".to_owned(),
            file: "scenario.yaml".to_owned(),
            sha256: "ab".repeat(32),
        },
        seed: 7,
        started_at: "2025-01-01T00:00:00Z".to_owned(),
        duration_s: 4.0,
        target: "embedded".to_owned(),
        host: "box".to_owned(),
        scale: 1.0,
        verdict: Verdict::Fail,
        verdict_reasons: vec!["SLO p99(product) < 10ms failed".to_owned()],
        objectives: crate::slo::Objectives::Written,
        partial: false,
        totals: Totals {
            scheduled: 65,
            started: 65,
            sent: 65,
            ok: 60,
            errors: 5,
            late: 0,
            dropped: 0,
        },
        generator: Generator {
            connections: 4,
            lanes: 1,
            late_after_ms: 10.0,
            dispatch_lag_p99_ms: 0.2,
            dispatch_lag_max_ms: 0.4,
            start_delay_p99_ms: 0.3,
            start_delay_max_ms: 0.5,
            cpu_percent: Some(12.5),
            cores: 8,
            saturated: false,
            engine: None,
        },
        phases: vec![PhaseReport {
            name: "steady".to_owned(),
            model: "open".to_owned(),
            start_s: 0.0,
            duration_s: 4.0,
            scheduled: 65,
            started: 65,
            late: 0,
            dropped: 0,
        }],
        steps: vec![
            {
                let mut s = step("steady", "<script>alert(1)</script>", &["sea", "eu"]);
                s.traces = vec![crate::report::TraceRef {
                    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
                    span_id: "00f067aa0ba902b7".to_owned(),
                    latency_us: 42_000,
                    region: Some("eu".to_owned()),
                    attempt: 2,
                    status: Some(503),
                    error: Some("status".to_owned()),
                }];
                s
            },
            ws_step,
        ],
        slos: vec![SloReport {
            expr: "p99(product) < 10ms".to_owned(),
            observed: Some(16.0),
            threshold: 10.0,
            unit: "ms".to_owned(),
            passed: false,
            status: SloStatus::Fail,
            samples: 65,
            default: false,
            line: Some(12),
            column: Some(5),
            generator_doubt: false,
        }],
        sessions: Sessions {
            peak: 12,
            sample_every_s: 1.0,
            series: vec![(0.0, 0), (1.0, 5), (2.0, 12), (3.0, 9)],
        },
        regions: ["sea", "eu"]
            .iter()
            .map(|g| RegionInfo {
                name: (*g).to_owned(),
                profile: None,
                base_rtt_ms: 0.0,
                shares: vec![0.5],
                route: "127.0.0.1:1".to_owned(),
            })
            .collect(),
        chaos: Some(ChaosReport {
            backend: "embedded".to_owned(),
            events: vec![ChaosEventInfo {
                name: "eu-cut".to_owned(),
                regions: vec!["eu".to_owned()],
                action: "partition: refuse".to_owned(),
                at_s: 2.0,
                until_s: Some(3.0),
                ramp_s: None,
                flap_s: None,
            }],
            transitions: vec![transition(2.01, "start"), transition(3.02, "end")],
            cleanup_error: None,
        }),
        workers: Vec::new(),
        coverage: None,
        invariants: None,
        insecure: false,
        telemetry: Some(crate::report::TelemetryReport {
            trace_sample: 0.01,
            export: Some(crate::telemetry::ExportStats {
                endpoint: "http://otel:4318 (http/protobuf)".to_owned(),
                sent: 12,
                failed: 1,
                dropped: 0,
                spans: 40,
                spans_dropped: 0,
                last_error: Some("no answer within 10s".to_owned()),
            }),
        }),
    }
}

#[test]
fn the_slowest_sampled_requests_are_listed_by_trace_id() {
    let html = render(&fixture());
    assert!(html.contains(r#"<h2 id="traces">"#), "no trace section");
    assert!(html.contains("<code>4bf92f3577b34da6a3ce929d0e0e4736</code>"));
    assert!(html.contains("503 (status), attempt 2"));
    assert!(html.contains("1% of requests carried W3C"));
    assert!(html.contains("12 exports accepted, 1 failed, 0 dropped"));
    let mut quiet = fixture();
    quiet.telemetry = None;
    assert!(!render(&quiet).contains(r#"id="traces""#));
}

#[test]
fn text_from_the_report_is_escaped() {
    let html = render(&fixture());
    assert!(
        !html.contains("<script"),
        "a step name must not become markup"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("fixture &amp; &lt;friends&gt;"));
    assert!(html.contains("<code>p99(product) &lt; 10ms</code>"));
    assert_eq!(esc(r#"a<b>&"c"'"#), "a&lt;b&gt;&amp;&quot;c&quot;&#39;");
}

#[test]
fn the_same_report_renders_the_same_bytes() {
    let r = fixture();
    assert_eq!(render(&r), render(&r));
    let round: Report =
        serde_json::from_str(&serde_json::to_string(&r).unwrap_or_default()).unwrap();
    assert_eq!(render(&r), render(&round), "through report.json and back");
}

#[test]
fn every_step_gets_its_charts_and_regions_their_lines() {
    let html = render(&fixture());
    for id in [
        "step-0-rate",
        "step-0-latency",
        "step-0-regions",
        "step-0-dist",
        "step-1-rate",
        "step-1-dist",
        "step-1-fanout",
        "sessions-chart",
    ] {
        assert!(html.contains(&format!(r#"id="{id}""#)), "no chart {id}");
    }
    // The second step has no regions: no per-region chart.
    assert!(!html.contains(r#"id="step-1-regions""#));
    assert!(html.contains("<title>sea p99</title>") && html.contains("<title>eu p99</title>"));
    // The fault span is labelled on every time chart (3 + 1 + 1 sessions).
    assert_eq!(html.matches(">eu-cut · eu</text>").count(), 6);
    assert!(html.contains("2.01 s") && html.contains("3.02 s"));
}

#[test]
fn an_interval_without_requests_breaks_the_latency_line() {
    let html = render(&fixture());
    let start = html.find(r#"id="step-1-latency""#).unwrap_or(0);
    let chart = &html[start..];
    let chart = &chart[..chart.find("</svg>").unwrap_or(chart.len())];
    let p50 = chart
        .split("<title>p50</title>")
        .nth(1)
        .and_then(|s| s.split("</g>").next())
        .unwrap_or("");
    // Seconds 0–1 form one path, second 3 a lone dot.
    assert_eq!(p50.matches("<path").count(), 1, "{p50}");
    assert_eq!(p50.matches("<circle").count(), 1, "{p50}");
}

#[test]
fn older_reports_without_interval_latency_still_render() {
    let mut r = fixture();
    for s in &mut r.steps {
        s.series.p50_us.clear();
        s.series.p99_us.clear();
        s.series.max_us.clear();
        for g in &mut s.regions {
            g.series = Series {
                p50_us: Vec::new(),
                p99_us: Vec::new(),
                max_us: Vec::new(),
                ..g.series.clone()
            };
        }
    }
    r.chaos = None;
    r.regions.clear();
    let html = render(&r);
    assert!(html.contains(r#"id="step-0-rate""#));
    assert!(!html.contains(r#"id="step-0-latency""#));
    assert!(html.contains("no latency per interval"));
}

#[test]
fn chaos_without_a_logged_transition_shows_the_planned_window() {
    let mut r = fixture();
    if let Some(c) = r.chaos.as_mut() {
        c.transitions.clear();
    }
    let html = render(&r);
    assert!(html.contains(">eu-cut · eu</text>"));
    assert!(html.contains("No change took effect."));
}

#[test]
fn counts_read_with_thousands_separators() {
    assert_eq!(int(0), "0");
    assert_eq!(int(999), "999");
    assert_eq!(int(1_000), "1,000");
    assert_eq!(int(1_234_567), "1,234,567");
    assert_eq!(dur(850, 1), "850 µs");
    assert_eq!(dur(12_340, 1), "12.3 ms");
    assert_eq!(dur(2_500_000, 1), "2.5 s");
    assert_eq!(dur(5, 0), "–");
}

#[test]
fn the_page_writes_atomically_into_its_directory() {
    let dir = std::env::temp_dir().join(format!("flashcrowd-html-{}", std::process::id()));
    let path = write(&dir, &fixture()).unwrap();
    assert_eq!(path, dir.join("report.html"));
    assert!(!dir.join(".report.html.tmp").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
