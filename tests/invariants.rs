//! Business invariants end to end: the shipped flash-sale scenario (retries
//! under packet loss and cut-off answers) runs against the embedded demo
//! platform, correct and with each seeded fault, and the report, the
//! JUnit file, the history and the exit code say what held.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const INVARIANTS: [&str; 5] = [
    "no_oversell",
    "accounting",
    "idempotent",
    "no_lost_ack",
    "monotonic_tracking",
];

/// The tests here each run flashcrowd processes, two at a time; one test
/// at a time keeps a two-core machine from starving their schedules.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seeds per platform here; `tests/bench/invariants.sh` runs twenty.
const SEEDS: [u64; 3] = [1, 2, 3];

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/flash-sale-invariants.yaml")
}

struct Ran {
    out: Output,
    dir: PathBuf,
    report: Value,
}

fn run(fault: Option<&str>, seed: u64) -> Ran {
    let dir = std::env::temp_dir().join(format!(
        "flashcrowd-inv-{}-{seed}-{}",
        fault.unwrap_or("correct"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashcrowd"));
    cmd.arg("run")
        .arg(scenario())
        .args(["--quiet", "--seed", &seed.to_string(), "--out"])
        .arg(&dir);
    if let Some(f) = fault {
        cmd.args(["--demo-fault", f]);
    }
    let out = cmd.output().unwrap();
    let report = std::fs::read_to_string(dir.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|e| {
            panic!(
                "no report ({e}):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    Ran { out, dir, report }
}

/// Every (fault, seed) run, two at a time (the machine has two cores and
/// each run is mostly waiting on its own schedule).
fn run_all(fault: Option<&'static str>) -> Vec<(u64, Ran)> {
    let mut out = Vec::new();
    for pair in SEEDS.chunks(2) {
        let handles: Vec<_> = pair
            .iter()
            .map(|&seed| std::thread::spawn(move || (seed, run(fault, seed))))
            .collect();
        out.extend(handles.into_iter().map(|h| h.join().unwrap()));
    }
    out
}

fn verdicts(report: &Value) -> Vec<(String, bool, u64, Vec<String>)> {
    report["invariants"]["verdicts"]
        .as_array()
        .unwrap_or_else(|| panic!("no invariants in {report:#}"))
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["holds"].as_bool().unwrap(),
                v["violations"].as_u64().unwrap(),
                v["examples"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// The run passed, or (on a machine too busy to keep the schedule) was
/// inconclusive for that reason alone: never failed, never for an
/// invariant.
fn assert_judged_clean(r: &Ran, context: &str) {
    let reasons = r.report["verdict_reasons"].to_string();
    match r.out.status.code() {
        Some(0) => {}
        Some(3) => assert!(!reasons.contains("invariant"), "{context}: {reasons}"),
        other => panic!("{context}: exit {other:?}: {reasons}"),
    }
}

#[test]
fn the_correct_platform_holds_every_invariant_under_retries_and_chaos() {
    let _serial = serial();
    let mut unknown_total = 0;
    let mut retried_total = 0;
    for (seed, r) in run_all(None) {
        let stderr = String::from_utf8_lossy(&r.out.stderr);
        assert_judged_clean(&r, &format!("seed {seed}: {stderr}"));
        assert_eq!(support::schema_errors(&r.report), Vec::<String>::new());
        let v = verdicts(&r.report);
        assert_eq!(
            v.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            INVARIANTS,
            "seed {seed}"
        );
        for (name, holds, _, examples) in &v {
            assert!(holds, "seed {seed}: {name} broke: {examples:?}");
        }
        let inv = &r.report["invariants"];
        unknown_total += inv["unknown"].as_u64().unwrap();
        assert!(inv["polls"].as_u64().unwrap() > 100, "seed {seed}: {inv}");

        // One history line per checkout attempt: as many as the step's
        // requests in the report, retries included.
        let checkout = r.report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == "checkout")
            .unwrap();
        let history = std::fs::read_to_string(r.dir.join("history.jsonl")).unwrap();
        let lines: Vec<Value> = history
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let attempts: Vec<&Value> = lines.iter().filter(|l| l["op"] == "checkout").collect();
        assert_eq!(attempts.len() as u64, checkout["count"].as_u64().unwrap());
        assert_eq!(attempts.len() as u64, inv["attempts"].as_u64().unwrap());
        for a in &attempts {
            assert!(a["key"].as_str().is_some_and(|k| k.len() == 36), "{a}");
            assert!(["ok", "fail", "unknown"].contains(&a["outcome"].as_str().unwrap()));
        }
        // A retry reuses its key: some key has an attempt 2.
        retried_total += attempts.iter().filter(|a| a["attempt"] != 1).count();

        // The Jepsen export: an array of operations, indexed in order.
        let elle: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(r.dir.join("history.elle.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(elle.len(), attempts.len() * 2 + 2);
        assert!(elle.iter().enumerate().all(|(i, op)| op["index"] == i));

        // One JUnit test case per invariant, all passing.
        let junit = std::fs::read_to_string(r.dir.join("junit.xml")).unwrap();
        for name in INVARIANTS {
            assert!(
                junit.contains(&format!("classname=\"invariant\" name=\"{name}\"")),
                "{junit}"
            );
        }
        let _ = std::fs::remove_dir_all(&r.dir);
    }
    // The chaos window made outcomes unknown, and their retries came back.
    assert!(unknown_total > 0, "no unknown outcomes in any run");
    assert!(retried_total > 0, "no retries in any run");
}

/// Each fault, and the invariant it must break.
const FAULTS: [(&str, &str); 4] = [
    ("oversell-race", "no_oversell"),
    ("duplicate-on-retry", "idempotent"),
    ("lose-ack", "no_lost_ack"),
    ("tracking-regress", "monotonic_tracking"),
];

#[test]
fn each_seeded_fault_breaks_its_invariant_with_example_keys() {
    let _serial = serial();
    for (fault, broken) in FAULTS {
        for (seed, r) in run_all(Some(fault)) {
            let stderr = String::from_utf8_lossy(&r.out.stderr);
            assert_eq!(
                r.out.status.code(),
                Some(1),
                "{fault} seed {seed}: {stderr}"
            );
            assert_eq!(support::schema_errors(&r.report), Vec::<String>::new());
            let v = verdicts(&r.report);
            for (name, holds, violations, examples) in &v {
                if name == broken {
                    assert!(!holds, "{fault} seed {seed}: {name} held");
                    assert!(*violations > 0 && !examples.is_empty());
                    assert!(examples.len() <= 20);
                } else if !(fault == "oversell-race" && name == "accounting") {
                    assert!(holds, "{fault} seed {seed}: {name} broke too: {examples:?}");
                }
            }
            let reasons = r.report["verdict_reasons"].to_string();
            assert!(
                reasons.contains(&format!("invariant {broken} broken")),
                "{reasons}"
            );
            let junit = std::fs::read_to_string(r.dir.join("junit.xml")).unwrap();
            assert!(junit.contains("type=\"invariant\""), "{junit}");
            let _ = std::fs::remove_dir_all(&r.dir);
        }
    }
}

/// Write `yaml` to a scenario file and run it with `extra` flags.
fn run_yaml(name: &str, yaml: &str, extra: &[&str]) -> Ran {
    let dir = std::env::temp_dir().join(format!("flashcrowd-inv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("run")
        .arg(&file)
        .args(["--quiet", "--out"])
        .arg(&out_dir)
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("report.json")).unwrap_or_else(|e| {
            panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr))
        }),
    )
    .unwrap();
    Ran {
        out,
        dir: out_dir,
        report,
    }
}

fn history(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every checkout answers 500 although it placed the order: each first
/// attempt is `unknown` and really happened.
fn committed_but_500(same_key: bool) -> String {
    format!(
        r#"
name: retry-{same_key}
target: embedded
seed: 11
demo: {{ stock: {{ drop-1: 1000 }} }}
phases:
  - {{ name: buy, duration: 1s, load: {{ rate: 40/s }}, flow: buy }}
flows:
  buy:
    - name: checkout
      post: /api/checkout
      headers: {{ Idempotency-Key: "{{{{ uuid() }}}}" }}
      json: {{ sku: drop-1, qty: 1 }}
      expect: 201
      retry: {{ on: 5xx, max: 2, same_key: {same_key}, backoff: 10ms }}
      ledger: checkout
invariants: [no_oversell, accounting, idempotent, no_lost_ack]
# Every answer is a 500 on purpose: the invariants judge this run, not SLOs.
slos: []
"#
    )
}

#[test]
fn a_retry_with_the_same_key_gets_the_first_order_and_a_new_key_orders_again() {
    let _serial = serial();
    let fault = ["--demo-fault", "error-after-commit=1"];
    // Same key: the retry is answered with the order the first attempt
    // placed; one order per purchase, and every unknown resolved.
    let same = run_yaml("same-key", &committed_but_500(true), &fault);
    assert_judged_clean(&same, &String::from_utf8_lossy(&same.out.stderr));
    let h = history(&same.dir);
    let keys: std::collections::BTreeSet<&str> =
        h.iter().map(|a| a["key"].as_str().unwrap()).collect();
    assert_eq!(h.len(), keys.len() * 2, "two attempts per key");
    for a in &h {
        let expected = if a["attempt"] == 1 { "unknown" } else { "ok" };
        assert_eq!(a["outcome"], expected, "{a}");
    }
    // A new key per retry: every attempt placed an order the client never
    // saw acknowledged. Sold = unknown attempts: the books still add up
    // (unknowns widen them) and no key has two orders.
    let fresh = run_yaml("new-key", &committed_but_500(false), &fault);
    let h = history(&fresh.dir);
    let keys: std::collections::BTreeSet<&str> =
        h.iter().map(|a| a["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), h.len(), "one key per attempt");
    assert!(h.iter().all(|a| a["outcome"] == "unknown"));
    assert_eq!(h.len() % 3, 0, "three attempts per purchase");
    for (name, holds, _, ex) in verdicts(&fresh.report) {
        assert!(holds, "{name}: {ex:?}");
    }
    let _ = std::fs::remove_dir_all(same.dir.parent().unwrap());
    let _ = std::fs::remove_dir_all(fresh.dir.parent().unwrap());
}

#[test]
fn acknowledged_comments_are_found_once_in_the_feed() {
    let _serial = serial();
    let r = run_yaml(
        "comments",
        r#"
name: comments-once
target: embedded
seed: 3
phases:
  - { name: chat, duration: 1500ms, load: { rate: 100/s }, flow: chat }
flows:
  chat:
    - name: comment
      post: /api/rooms/main/comments
      json: { user: "u{{ seq() }}", text: hi }
      expect: 201
      ledger: comment
invariants: [exactly_once_comments]
"#,
        &[],
    );
    assert_judged_clean(&r, &String::from_utf8_lossy(&r.out.stderr));
    let v = verdicts(&r.report);
    assert_eq!(v.len(), 1);
    assert!(v[0].1);
    assert_eq!(v[0].2, 0);
    let posted = history(&r.dir)
        .iter()
        .filter(|l| l["op"] == "comment")
        .count() as u64;
    assert!(posted >= 140, "{posted}");
    assert_eq!(r.report["invariants"]["verdicts"][0]["checked"], posted);
    let _ = std::fs::remove_dir_all(r.dir.parent().unwrap());
}
