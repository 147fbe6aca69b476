//! `run --engine goose` and `crosscheck` end to end, through the binary:
//! a valid report whose counts are what the platform served, refusals that
//! name what Goose cannot do, the two engines agreeing on a known service
//! time, and Ctrl-C keeping its meaning while Goose runs.

#![cfg(feature = "goose")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use flashcrowd::demo::DemoConfig;

/// Runs that put load on the machine take turns: their timing is judged.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flashcrowd-goose-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_scenario(dir: &Path, yaml: &str) -> PathBuf {
    let f = dir.join("scenario.yaml");
    std::fs::write(&f, yaml).unwrap();
    f
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Users posting a comment and buying one unit, back to back.
const SHOP: &str = r#"
name: goose-shop
target: embedded
seed: 7
defaults: { timeout: 5s }
phases:
  - { name: shop, duration: 3s, load: { users: 8 }, flow: shop }
flows:
  shop:
    - name: comment
      post: /api/rooms/main/comments
      json: { user: "viewer-{{ seq() }}", text: "3-2-1!" }
      expect: 201
    - name: checkout
      post: /api/checkout
      headers: { Idempotency-Key: "{{ uuid() }}" }
      json: { sku: drop-1, qty: 1, user: "buyer-{{ seq() }}" }
      expect: 201
slos:
  - "p99(checkout) < 1s"
"#;

#[test]
fn a_goose_run_writes_a_valid_report_whose_counts_are_what_the_demo_served() {
    let _turn = heavy();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let demo = rt.block_on(support::demo::spawn(DemoConfig {
        stock: vec![("drop-1".to_owned(), 1_000_000)],
        ..DemoConfig::default()
    }));
    let dir = tmp_dir("served");
    let file = write_scenario(&dir, SHOP);
    let out = dir.join("run");
    let o = bin()
        .arg("run")
        .arg(&file)
        .args(["--engine", "goose", "--target", &demo.url(), "--quiet"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(code(&o), 0, "{stdout}\n{stderr}");
    // Nothing of Goose's own on standard output, and no run folder.
    assert_eq!(stdout, "", "{stderr}");
    assert!(!dir.join("goose-runs").exists());

    let report = read_json(&out.join("report.json"));
    assert_eq!(support::schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["generator"]["engine"]["name"], "goose");
    assert_eq!(report["generator"]["engine"]["version"], "0.19.0");
    assert_eq!(report["generator"]["connections"], 8);
    assert_eq!(report["verdict"], "pass");
    let count = |step: &str| {
        let s = report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .unwrap();
        assert_eq!(s["errors"], 0, "{s}");
        assert_eq!(s["latency_us"]["samples"], s["count"], "{s}");
        s["count"].as_u64().unwrap()
    };
    let (comments, checkouts) = (count("comment"), count("checkout"));
    let room = rt.block_on(support::demo::get(demo.addr, "/api/rooms/main"));
    let stock = rt.block_on(support::demo::get(demo.addr, "/api/inventory/drop-1"));
    eprintln!("goose: {comments} comments, {checkouts} checkouts; demo: {room:?} {stock:?}");
    assert!(comments > 50, "{comments}");
    assert_eq!(room.json["comment_count"].as_u64(), Some(comments));
    assert_eq!(stock.json["sold"].as_u64(), Some(checkouts));
    // A checkout follows every comment that succeeded; one may have been
    // cut by the phase's end between the two.
    assert!(comments - checkouts <= 8, "{comments} vs {checkouts}");
    assert_eq!(report["totals"]["scheduled"], 8);
    assert_eq!(report["totals"]["started"], 8);
    assert!(out.join("latency.hlog").exists());
}

fn refused(yaml: &str, name: &str) -> (i32, String) {
    let dir = tmp_dir(name);
    let file = write_scenario(&dir, yaml);
    let o = bin()
        .arg("run")
        .arg(&file)
        .args(["--engine", "goose", "--target", "http://127.0.0.1:9", "-q"])
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    assert!(!dir.join("run").join("report.json").exists());
    (code(&o), text(&o).1)
}

#[test]
fn an_open_model_phase_is_refused_with_exit_2_naming_the_arrival_rate() {
    let (code, stderr) = refused(
        &SHOP.replace("load: { users: 8 }", "load: { rate: 50/s }"),
        "open",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the Goose engine cannot run this scenario"),
        "{stderr}"
    );
    assert!(
        stderr.contains("phase `shop`: open-model arrival rate"),
        "{stderr}"
    );
}

#[test]
fn a_websocket_step_is_refused_with_exit_2_naming_the_websocket() {
    let yaml = SHOP.replace(
        "    - name: comment\n",
        "    - { name: watch, ws: /ws/live/main }\n    - name: comment\n",
    );
    let (code, stderr) = refused(&yaml, "ws");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("flow `shop`, step `watch`: WebSocket step"),
        "{stderr}"
    );
}

const FIXED: &str = r#"
name: fixed-service
target: http://127.0.0.1:9
seed: 3
phases:
  - { name: steady, duration: 4s, load: { users: 8 }, flow: hit }
flows:
  hit:
    - { name: get, get: /, expect: 200 }
"#;

#[test]
fn crosscheck_finds_both_engines_p50_within_5_percent_of_each_other_and_of_20ms() {
    let _turn = heavy();
    let addr = support::spawn_fixed_service(Duration::from_millis(20));
    let dir = tmp_dir("crosscheck");
    let file = write_scenario(&dir, FIXED);
    let out = dir.join("out");
    // The tail is left out of this test's judgement: a debug build of
    // Goose (as `cargo test` makes) answers about one request in a hundred
    // late, a release build does not. The medians are the point here.
    let o = bin()
        .arg("crosscheck")
        .arg(&file)
        .args([
            "--target",
            &format!("http://{addr}"),
            "--tail-tolerance",
            "300%",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    eprintln!("{stdout}");
    assert_eq!(code(&o), 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("verdict: AGREE (exit 0)"), "{stdout}");
    assert!(out.join("crosscheck.md").exists());
    let p50 = |engine: &str| {
        let r = read_json(&out.join(engine).join("report.json"));
        r["steps"][0]["latency_us"]["p50"].as_f64().unwrap()
    };
    let (native, goose) = (p50("flashcrowd"), p50("goose"));
    // Goose keeps its times in buckets 0.78% wide (0.881% with rounding,
    // as crosscheck itself allows): a median just past 21 ms reads 21.135.
    for (v, precision) in [(native, 0.001), (goose, 0.00881)] {
        assert!(
            (v - 20_000.0).abs() <= (0.05 + precision) * 20_000.0,
            "p50 {v} µs for a 20 ms service"
        );
    }
    assert!(
        (native - goose).abs() <= 0.05 * native.max(goose),
        "flashcrowd {native} µs, goose {goose} µs"
    );
}

#[test]
fn ctrl_c_during_a_goose_run_writes_a_partial_report_and_exits_130() {
    let _turn = heavy();
    let addr = support::spawn_fixed_service(Duration::from_millis(5));
    let dir = tmp_dir("interrupt");
    let file = write_scenario(&dir, &FIXED.replace("duration: 4s", "duration: 60s"));
    let out = dir.join("run");
    let mut child = bin()
        .arg("run")
        .arg(&file)
        .args([
            "--engine",
            "goose",
            "--target",
            &format!("http://{addr}"),
            "-q",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_000));
    let sent_at = Instant::now();
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert!(
        sent_at.elapsed() < Duration::from_secs(4),
        "{:?}",
        sent_at.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["partial"], true);
    assert_eq!(report["verdict"], "inconclusive");
    assert!(report["totals"]["sent"].as_u64().unwrap() > 10);
}
