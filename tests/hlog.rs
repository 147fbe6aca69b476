//! `latency.hlog` read back with the `hdrhistogram` crate's own interval
//! log reader gives the same counts and percentiles as `report.json`, tag
//! by tag.

use std::collections::BTreeMap;

use base64::Engine as _;
use std::process::Command;

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::Value;

#[test]
fn the_interval_log_round_trips_to_the_reports_figures_per_tag() {
    let dir = std::env::temp_dir().join(format!("flashcrowd-hlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.yaml");
    std::fs::write(
        &file,
        r#"
name: hlog
target: embedded
seed: 3
phases:
  - { name: warm, duration: 2s, load: { rate: 80/s }, flow: shop }
  - { name: rush, duration: 2s, load: { rate: 150/s }, flow: shop }
regions:
  near: { share: 60% }
  far:
    share: 40%
    profile: { upstream: { latency: 20ms, jitter: 5ms }, downstream: { latency: 20ms } }
flows:
  shop:
    - { name: product, get: /api/products/sku-3 }
    - { name: room, get: /api/rooms/main }
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let log = std::fs::read(out.join("latency.hlog")).unwrap();

    let mut by_tag: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut intervals = 0;
    let mut d = Deserializer::new();
    for entry in IntervalLogIterator::new(&log) {
        let LogEntry::Interval(h) = entry.unwrap() else {
            continue;
        };
        intervals += 1;
        assert_eq!(h.duration().as_secs_f64(), 1.0);
        let tag = h.tag().unwrap().as_str().to_owned();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(h.encoded_histogram())
            .unwrap();
        let hist: Histogram<u64> = d.deserialize(&mut bytes.as_slice()).unwrap();
        // The max column is in milliseconds.
        assert!((h.max() - hist.max() as f64 / 1000.0).abs() < 0.01, "{tag}");
        by_tag
            .entry(tag)
            .or_insert_with(|| Histogram::new(3).unwrap())
            .add(&hist)
            .unwrap();
    }
    assert!(intervals >= 8, "{intervals} intervals");

    let mut compared = 0;
    for step in report["steps"].as_array().unwrap() {
        for r in step["regions"].as_array().unwrap() {
            let tag = format!(
                "{}/{}@{}",
                step["phase"].as_str().unwrap(),
                step["step"].as_str().unwrap(),
                r["region"].as_str().unwrap()
            );
            let h = by_tag.get(&tag).unwrap_or_else(|| panic!("no tag {tag}"));
            let l = &r["latency_us"];
            assert_eq!(h.len(), l["samples"].as_u64().unwrap(), "{tag}");
            assert_eq!(
                h.value_at_quantile(0.5),
                l["p50"].as_u64().unwrap(),
                "{tag}"
            );
            assert_eq!(
                h.value_at_quantile(0.99),
                l["p99"].as_u64().unwrap(),
                "{tag}"
            );
            assert_eq!(h.max(), l["max"].as_u64().unwrap(), "{tag}");
            compared += 1;
        }
    }
    assert_eq!(compared, 8, "2 phases × 2 steps × 2 regions");
    assert_eq!(by_tag.len(), 8);
    let header = String::from_utf8_lossy(&log[..200]);
    assert!(
        header.contains("#[Histogram log format version 1.3]"),
        "{header}"
    );
    assert!(header.contains("#[BaseTime: "), "{header}");
}
