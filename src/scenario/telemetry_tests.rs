//! Unit tests of the `telemetry:` block through the whole loader: the
//! defaults, every field read, and every mistake reported at its
//! `file:line:col` with its field path.

use std::path::Path;
use std::time::Duration;

use super::*;

fn no_files(_: &Path) -> Result<Vec<u8>, String> {
    Err("no such file".into())
}

const BASE: &str = "name: t\nphases:\n  - { name: p, duration: 1s, load: { rate: 1/s }, flow: f }\nflows:\n  f:\n    - { name: x, get: / }\n";

fn load(block: &str) -> Scenario {
    match load_with(
        Path::new("t.yaml"),
        &format!("{BASE}{block}"),
        &mut no_files,
    ) {
        Ok(s) => s,
        Err(e) => panic!("expected a scenario, got:\n{e}"),
    }
}

/// `line:col path: message` of every problem.
fn problems(block: &str) -> Vec<String> {
    match load_with(
        Path::new("t.yaml"),
        &format!("{BASE}{block}"),
        &mut no_files,
    ) {
        Err(LoadError::Invalid(d)) => {
            d.0.iter()
                .map(|d| format!("{}:{} {}: {}", d.line, d.col, d.path, d.message))
                .collect()
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected problems"),
    }
}

#[test]
fn without_a_block_metrics_and_chaos_are_exported_and_nothing_is_traced() {
    let t = load("").telemetry;
    assert_eq!(t, Telemetry::default());
    assert!(t.metrics && t.chaos && !t.logs);
    assert_eq!(t.histogram, HistogramKind::Exponential);
    assert_eq!(t.temporality, Temporality::Cumulative);
    assert_eq!(t.interval, None);
    assert_eq!(t.sample(), 0.0);
}

#[test]
fn every_field_is_read() {
    let t = load(
        r#"telemetry:
  metrics: true
  interval: 2s
  histogram: explicit
  buckets: [1ms, 10ms, 1s]
  temporality: delta
  attributes: { deployment.environment: staging, team: live }
  chaos: false
  logs: true
  trace: { sample: 2.5%, baggage: false, slowest: 3 }
"#,
    )
    .telemetry;
    assert_eq!(t.interval, Some(Duration::from_secs(2)));
    assert_eq!(t.histogram, HistogramKind::Explicit);
    assert_eq!(t.buckets, [1, 10, 1000].map(Duration::from_millis).to_vec());
    assert_eq!(t.temporality, Temporality::Delta);
    assert_eq!(
        t.attributes,
        [("deployment.environment", "staging"), ("team", "live")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
    );
    assert!(!t.chaos && t.logs);
    let tr = t.trace.unwrap();
    assert!((tr.sample - 0.025).abs() < 1e-12);
    assert!(!tr.baggage);
    assert_eq!(tr.slowest, 3);
}

#[test]
fn a_sample_of_zero_or_of_everything_is_allowed() {
    for (text, want) in [
        ("0", 0.0),
        ("0%", 0.0),
        ("0.0", 0.0),
        ("1", 1.0),
        ("100%", 1.0),
    ] {
        let t = load(&format!(
            "telemetry: {{ trace: {{ sample: \"{text}\" }} }}\n"
        ))
        .telemetry;
        assert_eq!(t.sample(), want, "{text}");
        assert_eq!(t.trace.unwrap().slowest, 5);
    }
}

#[test]
fn every_mistake_is_reported_at_its_place() {
    let p = problems(
        r#"telemetry:
  interval: 500ms
  histogram: exponental
  buckets: [10ms, 5ms]
  temporality: sometimes
  attributes: { service.name: shop, flashcrowd.run_id: x }
  logs: maybe
  trace: { sample: 150%, slowest: 1000, colour: red }
  exporter: otlp
"#,
    );
    let has = |needle: &str| p.iter().any(|t| t.contains(needle));
    assert!(
        has("8:13 telemetry.interval: the export interval must be at least 1s"),
        "{p:#?}"
    );
    assert!(
        has("9:14 telemetry.histogram: unknown histogram kind `exponental`"),
        "{p:#?}"
    );
    // `exponental` was not taken, so the kind stays exponential and the
    // buckets are out of place.
    assert!(
        has("10:12 telemetry.buckets: buckets apply to explicit histograms only"),
        "{p:#?}"
    );
    assert!(
        has("11:16 telemetry.temporality: unknown temporality `sometimes`"),
        "{p:#?}"
    );
    assert!(has("12:17 telemetry.attributes[\"service.name\"]: `service.name` is set by flashcrowd itself"), "{p:#?}");
    assert!(has("12:37 telemetry.attributes[\"flashcrowd.run_id\"]: `flashcrowd.run_id` is set by flashcrowd itself"), "{p:#?}");
    assert!(has("13:9 telemetry.logs: expected true or false"), "{p:#?}");
    assert!(
        has("14:20 telemetry.trace.sample: `150%` is more than 100%"),
        "{p:#?}"
    );
    assert!(
        has("14:35 telemetry.trace.slowest: keep at most 100 per step"),
        "{p:#?}"
    );
    assert!(
        has("14:41 telemetry.trace.colour: unknown field `colour`"),
        "{p:#?}"
    );
    assert!(
        has("15:3 telemetry.exporter: unknown field `exporter`"),
        "{p:#?}"
    );
}

#[test]
fn buckets_must_go_up_and_trace_needs_a_sample() {
    let p = problems(
        "telemetry:\n  histogram: explicit\n  buckets: [10ms, 5ms]\n  trace: { baggage: true }\n",
    );
    assert!(
        p.iter().any(|t| t
            .starts_with("9:19 telemetry.buckets[1]: bucket bounds must go up: 5ms follows 10ms")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|t| t.contains("telemetry.trace.sample: missing required field `sample`")),
        "{p:#?}"
    );
}
