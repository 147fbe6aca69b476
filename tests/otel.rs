//! OpenTelemetry metrics end to end: `flashcrowd run` against the embedded
//! demo platform exports to an OTLP/HTTP receiver started here (decoded
//! with `opentelemetry-proto`) counters and histograms that add up to the
//! report and match the README's table, and a collector that is down or
//! hangs changes neither the verdict nor the timings, only adds a warning.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::metric;
use support::otel::*;

const SHOP: &str = r#"name: otel-shop
target: embedded
seed: 7
regions:
  eu: { share: 50% }
  sea: { share: 50% }
chaos:
  - { region: eu, at: 1s, for: 1s, latency: 5ms }
phases:
  - { name: browse, duration: 3s, load: { rate: 60/s }, flow: shop }
flows:
  shop:
    - { name: product, get: /api/products/sku-1 }
    - { name: missing, get: /api/products/no-such-sku }
telemetry:
  interval: 1s
# `missing` answers 404 on purpose: measured, not judged.
slos: []
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_counters_and_histograms_add_up_to_the_report() {
    let (addr, got) = receiver().await;
    let file = scenario_file("shop", SHOP);
    let url = format!("http://{addr}");
    let ran = tokio::task::spawn_blocking(move || run(&file, "shop", &["--otlp", &url]))
        .await
        .unwrap();
    assert!(ran.out.status.success(), "{}", ran.stderr());
    assert!(!ran.stderr().contains("OpenTelemetry"), "{}", ran.stderr());
    let got = got.lock().unwrap();
    assert!(got.wrong.is_empty(), "{:?}", got.wrong);
    assert!(
        got.metrics.len() >= 3,
        "one export a second and a final one"
    );
    let r = &ran.report;

    // Every export names the run.
    for req in &got.metrics {
        let res = req.resource_metrics[0].resource.as_ref().unwrap();
        assert_eq!(
            text(&res.attributes, "service.name").as_deref(),
            Some("flashcrowd")
        );
        assert_eq!(
            text(&res.attributes, "flashcrowd.run_id"),
            r["run_id"].as_str().map(String::from)
        );
        assert_eq!(
            text(&res.attributes, "flashcrowd.scenario.name").as_deref(),
            Some("otel-shop")
        );
        assert_eq!(
            text(&res.attributes, "flashcrowd.scenario.sha256"),
            r["scenario"]["sha256"].as_str().map(String::from)
        );
    }

    // Counters add up to the report's totals per step.
    let requests = counter_totals(&got, "flashcrowd.requests");
    let errors = counter_totals(&got, "flashcrowd.errors");
    for s in r["steps"].as_array().unwrap() {
        let k = (
            s["phase"].as_str().unwrap().to_owned(),
            s["step"].as_str().unwrap().to_owned(),
        );
        assert_eq!(
            requests.get(&k).copied(),
            s["count"].as_u64(),
            "requests of {k:?}"
        );
        assert_eq!(
            errors.get(&k).copied().unwrap_or(0),
            s["errors"].as_u64().unwrap(),
            "errors of {k:?}"
        );
    }
    assert!(
        r["steps"][1]["errors"].as_u64().unwrap() > 0,
        "the missing product is an error"
    );

    // A latency histogram per step (and region), whose last count is the
    // step's samples.
    let mut hist_counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for m in all_metrics(&got).filter(|m| m.name == "flashcrowd.request.duration") {
        assert_eq!(m.unit, "s");
        let Some(metric::Data::ExponentialHistogram(h)) = &m.data else {
            panic!("the default histogram is exponential");
        };
        for p in &h.data_points {
            let step = text(&p.attributes, "flashcrowd.step").unwrap();
            let region = text(&p.attributes, "flashcrowd.region").unwrap();
            let buckets = p.positive.as_ref().unwrap();
            assert_eq!(buckets.bucket_counts.iter().sum::<u64>(), p.count);
            assert!(buckets.bucket_counts.len() <= 160);
            let e = hist_counts
                .entry(format!("{step}@{region}"))
                .or_insert((0, 0));
            if p.time_unix_nano >= e.0 {
                *e = (p.time_unix_nano, p.count);
            }
        }
    }
    for s in r["steps"].as_array().unwrap() {
        for g in s["regions"].as_array().unwrap() {
            let k = format!(
                "{}@{}",
                s["step"].as_str().unwrap(),
                g["region"].as_str().unwrap()
            );
            assert_eq!(
                hist_counts.get(&k).map(|c| c.1),
                g["latency_us"]["samples"].as_u64(),
                "histogram of {k}"
            );
        }
    }

    // The chaos event arrived as log records stamped when it took effect.
    let chaos: Vec<String> = got
        .logs
        .iter()
        .flat_map(|l| &l.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter(|l| l.event_name == "flashcrowd.chaos.transition")
        .map(|l| text(&l.attributes, "flashcrowd.chaos.change").unwrap())
        .collect();
    assert!(
        chaos.contains(&"start".to_owned()) && chaos.contains(&"end".to_owned()),
        "{chaos:?}"
    );
    // The report says what was exported.
    let e = &r["telemetry"]["export"];
    assert_eq!(e["failed"], 0);
    assert_eq!(e["dropped"], 0);
    assert!(e["sent"].as_u64().unwrap() >= 3);
    assert!(
        support::schema_errors(r).is_empty(),
        "{:?}",
        support::schema_errors(r)
    );

    // The README's table lists exactly what arrived.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let documented = readme_metrics(&readme);
    let seen = catalogue(&got);
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        seen.keys().collect::<Vec<_>>(),
        "metric names"
    );
    for (name, (kind, unit, attrs)) in &seen {
        let (dk, du, da) = &documented[name];
        assert_eq!((dk, du), (kind, unit), "{name}");
        assert_eq!(da, attrs, "attributes of {name}");
    }
}

/// A "collector" that accepts connections and never answers.
async fn black_hole() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded by the test's lifetime; holds at most a few sockets.
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

const STEADY: &str = r#"name: otel-steady
target: embedded
seed: 3
phases:
  - { name: steady, duration: 3s, load: { rate: 100/s }, flow: f }
flows:
  f:
    - { name: product, get: /api/products/sku-1 }
slos:
  - "p99(product) < 250ms"
telemetry:
  interval: 1s
  trace: { sample: 10% }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_down_for_the_whole_run_changes_nothing_but_a_warning() {
    let file = scenario_file("steady", STEADY);
    let hole = black_hole().await;
    let refused = format!("http://127.0.0.1:{}", support::free_port());
    let hang = format!("http://{hole}");
    let (base, down, hung) = tokio::task::spawn_blocking(move || {
        (
            run(&file, "base", &[]),
            run(&file, "down", &["--otlp", &refused]),
            run(&file, "hung", &["--otlp", &hang]),
        )
    })
    .await
    .unwrap();
    assert!(base.out.status.success(), "{}", base.stderr());
    for (ran, what) in [(&down, "refused"), (&hung, "hanging")] {
        let r = &ran.report;
        assert_eq!(r["verdict"], base.report["verdict"], "{what}");
        assert_eq!(ran.out.status.code(), base.out.status.code(), "{what}");
        assert_eq!(r["totals"]["sent"], base.report["totals"]["sent"], "{what}");
        assert_eq!(r["totals"]["dropped"], 0, "{what}");
        // Late starts are the machine's noise (tests run side by side on
        // two cores), not the collector's doing: a handful at most.
        let late = r["totals"]["late"].as_u64().unwrap();
        assert!(
            late <= base.report["totals"]["late"].as_u64().unwrap() + 6,
            "{what}: {late} late"
        );
        let d =
            (r["duration_s"].as_f64().unwrap() - base.report["duration_s"].as_f64().unwrap()).abs();
        assert!(d < 0.5, "{what}: the run took {d} s longer");
        // The final flush gives up after 2 s, whatever the collector does.
        assert!(
            ran.wall < base.wall + Duration::from_millis(2_500),
            "{what}: {:?} against {:?}",
            ran.wall,
            base.wall
        );
        let e = &r["telemetry"]["export"];
        assert_eq!(e["sent"], 0, "{what}");
        let lost = e["failed"].as_u64().unwrap() + e["dropped"].as_u64().unwrap();
        assert!(lost >= 3, "{what}: {e}");
        let err = ran.stderr();
        assert!(err.contains("warning: OpenTelemetry:"), "{what}: {err}");
        assert!(
            err.contains(&format!("{lost} of {lost} exports")),
            "{what}: {err}"
        );
        assert!(support::schema_errors(r).is_empty());
    }
    eprintln!(
        "wall time: no collector {:?}, refused {:?}, hanging {:?}",
        base.wall, down.wall, hung.wall
    );
}
