//! Real reports satisfy the committed JSON Schema, and the summary shows
//! what the report says.

mod support;

use std::sync::Arc;
use std::time::Duration;

use flashcrowd::engine::{self, RunConfig};
use flashcrowd::report::{self, Report, RunInfo};
use flashcrowd::scenario::{Scenario, Target};
use flashcrowd::schedule::Schedule;
use flashcrowd::slo;
use support::{constant_get, spawn_target, TargetBehaviour};
use tokio_util::sync::CancellationToken;

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/reports/schema/report.v1.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Run `scenario` against its target with `cfg` and build its report.
async fn run_and_report(scenario: Scenario, cfg: RunConfig) -> Report {
    let schedule = Schedule::new(&scenario.phases, scenario.seed, 1.0, None);
    let Target::Url(url) = scenario.target.clone() else {
        unreachable!()
    };
    let scenario = Arc::new(scenario);
    let run = engine::run(
        scenario.clone(),
        &schedule,
        &url,
        &cfg,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let info = RunInfo {
        run_id: "20261122T000000Z-test-0000",
        started_at: chrono::Utc::now(),
        target: url.to_string(),
        scale: 1.0,
        config: &cfg,
        embedded: false,
        chaos: None,
        workers: None,
        allow_partial: false,
        invariants: None,
        insecure: false,
        engine: None,
        telemetry: None,
    };
    report::build(&scenario, &schedule, &run, &info)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_report_validates_against_the_committed_schema() {
    let target = spawn_target(TargetBehaviour::default()).await;
    let mut scenario = constant_get(
        target.addr,
        200.0,
        Duration::from_secs(1),
        Duration::from_secs(5),
    );
    scenario.slos = vec![
        slo::parse("p99(get) < 500ms").unwrap(),
        slo::parse("error_rate(get) < 1%").unwrap(),
        slo::parse("p99(nothing-matches) < 1s").unwrap(),
    ];
    let report = run_and_report(scenario, RunConfig::default()).await;
    let value = serde_json::to_value(&report).unwrap();

    let validator = jsonschema::validator_for(&schema()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // The contract's numbers hold together.
    assert_eq!(value["totals"]["sent"], 200);
    assert_eq!(value["totals"]["scheduled"], 200);
    assert_eq!(value["steps"][0]["count"], 200);
    assert_eq!(value["slos"][0]["passed"], true);
    assert_eq!(value["slos"][2]["status"], "no_data");
    assert_eq!(value["slos"][2]["observed"], serde_json::Value::Null);
    // A step nobody ran leaves the verdict inconclusive, never a pass.
    assert_eq!(value["verdict"], "inconclusive");

    let text = report::terminal::render(&report);
    for needle in [
        "steady",
        "get",
        "200",
        "✓ p99(get) < 500ms",
        "? p99(nothing-matches) < 1s",
        "verdict: INCONCLUSIVE (exit 3)",
    ] {
        assert!(text.contains(needle), "summary lacks {needle:?}:\n{text}");
    }
}

#[test]
fn the_schema_rejects_a_report_missing_its_verdict() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let bad = serde_json::json!({ "schema_version": 1, "run_id": "x" });
    assert!(!validator.is_valid(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_asked_for_ten_times_its_capacity_is_inconclusive_with_the_reason() {
    // Far beyond what one process can send on this machine: the backlog
    // fills and the rest is dropped, so even a met SLO cannot pass.
    let target = spawn_target(TargetBehaviour::default()).await;
    let mut scenario = constant_get(
        target.addr,
        300_000.0,
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
    scenario.slos = vec![slo::parse("p99(get) < 10s").unwrap()];
    let cfg = RunConfig {
        connections: 64,
        backlog: 5_000,
        ..RunConfig::default()
    };
    let report = run_and_report(scenario, cfg).await;
    assert!(report.slos[0].passed);
    assert_eq!(report.verdict, slo::Verdict::Inconclusive);
    assert!(report.totals.dropped > 100_000, "{:?}", report.totals);
    assert_eq!(report.totals.scheduled, 600_000);
    assert_eq!(
        report.totals.started + report.totals.dropped,
        report.totals.scheduled
    );
    assert_eq!(report.phases[0].dropped, report.totals.dropped);
    let reasons = report.verdict_reasons.join("\n");
    assert!(reasons.contains("dropped"), "{reasons}");
    assert!(
        report.generator.cpu_percent.is_some_and(|p| p > 50.0),
        "{:?}",
        report.generator
    );
}
