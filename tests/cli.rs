//! The binary end to end: exit codes, reports on disk, interrupts, and
//! invalid input that never sends a request.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{spawn_target, TargetBehaviour};

/// Tests that put real load on the machine run one at a time: their
/// verdicts judge the generator's own timing, which a neighbour's load on a
/// two-core machine would disturb.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flashcrowd-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn read_report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `flashcrowd run FILE EXTRA... --out OUT`, FILE relative to the repository.
fn run_file(rel: &str, extra: &[&str], out: &Path) -> Output {
    let file = repo(rel);
    let mut args = vec!["run", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    run(&args)
}

/// `flashcrowd run scenarios/quickstart.yaml EXTRA... --out OUT`.
fn run_quickstart(extra: &[&str], out: &Path) -> Output {
    run_file("scenarios/quickstart.yaml", extra, out)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn quickstart_at_a_quarter_scale_passes_and_writes_a_schema_valid_report() {
    let _serial = heavy();
    let out = tmp_dir("quickstart");
    let o = run_quickstart(&["--scale", "0.25"], &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        code(&o),
        0,
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    assert!(
        stdout.contains("p99.9"),
        "the summary table is printed: {stdout}"
    );
    assert!(stdout.contains("✓ p99(checkout) < 250ms"), "{stdout}");
    let report = read_report(&out);
    assert_eq!(support::schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["partial"], false);
    // 25% of 2250 + 2000 + 15000 iterations, one request each.
    assert_eq!(report["totals"]["scheduled"], 4812);
    assert_eq!(report["totals"]["sent"], 4812);
    assert_eq!(report["totals"]["dropped"], 0);
}

#[test]
fn cutting_the_timeline_before_a_step_runs_is_inconclusive_not_a_pass() {
    let _serial = heavy();
    let out = tmp_dir("cut");
    let o = run_quickstart(&["--duration", "3s", "-q"], &out);
    assert_eq!(code(&o), 3);
    let report = read_report(&out);
    assert_eq!(report["verdict"], "inconclusive");
    let reasons = report["verdict_reasons"].to_string();
    assert!(
        reasons.contains("no samples for SLO: p99(checkout) < 250ms"),
        "{reasons}"
    );
    assert_eq!(support::schema_errors(&report), Vec::<String>::new());
}

#[test]
fn a_target_that_cannot_keep_up_fails_its_slo_with_exit_1() {
    let _serial = heavy();
    let out = tmp_dir("overload");
    let fixture = repo("tests/fixtures/cli/overload.yaml");
    let base = run(&[
        "run",
        fixture.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        code(&base),
        0,
        "at scale 1 the demo keeps up: {}",
        String::from_utf8_lossy(&base.stderr)
    );

    let o = run(&[
        "run",
        fixture.to_str().unwrap(),
        "--scale",
        "4",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let report = read_report(&out);
    assert_eq!(code(&o), 1, "{report:#}");
    assert_eq!(report["verdict"], "fail");
    assert_eq!(report["totals"]["scheduled"], 1280);
    // Queueing, not a lower rate: every scheduled checkout was sent, and the
    // wait behind the saturated payment stage shows up as lateness.
    assert!(
        report["totals"]["late"].as_u64().unwrap() > 100,
        "{report:#}"
    );
    let p99_ms = report["slos"][0]["observed"].as_f64().unwrap();
    assert!(p99_ms > 250.0, "p99 {p99_ms} ms");
}

#[test]
fn an_invalid_scenario_is_refused_before_any_request() {
    let target = tokio::runtime::Runtime::new().unwrap();
    let t = target.block_on(spawn_target(TargetBehaviour::default()));
    let dir = tmp_dir("invalid");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo("scenarios/quickstart.yaml")).unwrap();
    let bad = text
        .replacen("duration: 10s", "duration: 10 parsecs", 1)
        .replacen("seed: 42", "seed: 42\nsede: 43", 1);
    assert_ne!(bad, text);
    let file = dir.join("bad.yaml");
    std::fs::write(&file, bad).unwrap();

    let v = run(&["validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&v.stderr);
    assert_eq!(code(&v), 2, "{stderr}");
    let diags: Vec<&str> = stderr.lines().filter(|l| l.contains("bad.yaml:")).collect();
    assert_eq!(diags.len(), 2, "{stderr}");
    assert!(stderr.contains("parsecs"), "{stderr}");
    assert!(stderr.contains("sede"), "{stderr}");

    let url = format!("http://{}", t.addr);
    let r = run(&[
        "run",
        file.to_str().unwrap(),
        "--target",
        &url,
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(code(&r), 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(t.hits(), 0, "an invalid file must not send anything");
    assert!(!dir.join("out").exists());
}

#[test]
fn bad_flags_exit_2() {
    let q = repo("scenarios/quickstart.yaml");
    let q = q.to_str().unwrap();
    assert_eq!(code(&run(&["run", q, "--scale", "0"])), 2);
    assert_eq!(code(&run(&["run", q, "--duration", "soon"])), 2);
    assert_eq!(code(&run(&["run", q, "--target", "ftp://x"])), 2);
    assert_eq!(code(&run(&["run", "does-not-exist.yaml"])), 2);
    assert_eq!(code(&run(&["frobnicate"])), 2);
    assert_eq!(code(&run(&["--help"])), 0);
}

#[test]
fn plan_prints_the_timeline_and_sends_nothing() {
    let o = run(&[
        "plan",
        repo("scenarios/quickstart.yaml").to_str().unwrap(),
        "--scale",
        "0.5",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{stdout}");
    // Half of 2250 + 2000 + 15000 arrivals.
    assert!(stdout.contains("total: 9625 arrivals over 25s"), "{stdout}");
    assert!(stdout.contains("link-drop"), "{stdout}");
    assert!(stdout.contains("peak 800/s"), "{stdout}");
}

/// Start the minute-long `slow.yaml` run against `target` in the background.
fn spawn_slow_run(target: std::net::SocketAddr, out: &Path) -> std::process::Child {
    bin()
        .args([
            "run",
            repo("tests/fixtures/cli/slow.yaml").to_str().unwrap(),
        ])
        .args(["--target", &format!("http://{target}")])
        .args(["--out", out.to_str().unwrap(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn ctrl_c_writes_a_partial_inconclusive_report_and_exits_130() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(spawn_target(TargetBehaviour::default()));
    let out = tmp_dir("interrupt");
    let mut child = spawn_slow_run(t.addr, &out);
    std::thread::sleep(Duration::from_millis(1500));
    let sent_at = Instant::now();
    interrupt(child.id());
    let status = child.wait().unwrap();
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent_at.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let report = read_report(&out);
    assert_eq!(report["partial"], true);
    assert_eq!(report["verdict"], "inconclusive");
    assert!(report["totals"]["sent"].as_u64().unwrap() > 10);
    assert_eq!(support::schema_errors(&report), Vec::<String>::new());
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    // The target never answers within the test, so the first interrupt's
    // 2 s grace would run out; the second one must not wait for it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(spawn_target(TargetBehaviour {
        delay: Duration::from_secs(60),
        ..TargetBehaviour::default()
    }));
    let mut child = spawn_slow_run(t.addr, &tmp_dir("second"));
    std::thread::sleep(Duration::from_millis(1000));
    interrupt(child.id());
    std::thread::sleep(Duration::from_millis(100));
    let sent_at = Instant::now();
    interrupt(child.id());
    let status = child.wait().unwrap();
    assert!(
        sent_at.elapsed() < Duration::from_millis(1000),
        "{:?}",
        sent_at.elapsed()
    );
    assert_eq!(status.code(), Some(130));
}

#[test]
fn plan_explain_is_byte_identical_for_a_seed_and_differs_for_another() {
    let f = repo("scenarios/flash-sale-link-drop.yaml");
    let f = f.to_str().unwrap();
    let a = run(&["plan", f, "--explain", "20"]);
    let b = run(&["plan", f, "--explain", "20"]);
    let c = run(&["plan", f, "--explain", "20", "--seed", "7"]);
    assert_eq!(code(&a), 0);
    assert!(String::from_utf8_lossy(&a.stdout).contains("seq="));
    assert_eq!(a.stdout, b.stdout);
    // The chat phase's arrivals are Poisson: another seed moves them.
    assert_ne!(a.stdout, c.stdout);
}

#[test]
fn the_comment_flood_room_passes_at_one_percent_with_every_message_delivered() {
    let _serial = heavy();
    let out = tmp_dir("comment-flood");
    let o = run_file("scenarios/comment-flood.yaml", &["--scale", "0.01"], &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        code(&o),
        0,
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("WebSocket"), "{stdout}");
    let report = read_report(&out);
    assert_eq!(support::schema_errors(&report), Vec::<String>::new());
    let sends: Vec<&serde_json::Value> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["method"] == "WS SEND")
        .collect();
    // comment and like in two phases, vote in one.
    assert_eq!(sends.len(), 5);
    for s in sends {
        let ws = &s["ws"];
        assert!(ws["messages"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(ws["fanout_us"]["samples"], ws["received"], "{s}");
        // Loopback fan-out at 1% takes milliseconds; the SLO allows 2 s.
        assert!(ws["fanout_us"]["p99"].as_u64().unwrap() < 1_000_000, "{s}");
        assert_eq!(ws["duplicates"], 0, "{s}");
        if s["step"] == "vote" {
            // Voters join, vote and leave within milliseconds: a vote in
            // flight while another voter's socket opens or closes may go
            // either way on the platform.
            assert!(ws["delivery_ratio"].as_f64().unwrap() >= 0.999, "{s}");
        } else {
            assert_eq!(ws["received"], ws["expected"], "{s}");
            assert_eq!(ws["delivery_ratio"], 1.0, "{s}");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn proxy_refuses_a_non_loopback_api_without_a_token_and_a_bad_config_with_2() {
    let no_token = bin()
        .args(["proxy", "--listen", "0.0.0.0:0"])
        .env_remove("FLASHCROWD_PROXY_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&no_token), 2);
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("token"));
    let missing = run(&["proxy", "--listen", "127.0.0.1:0", "--config", "nope.json"]);
    assert_eq!(code(&missing), 2);
    let dir = tmp_dir("proxy-config");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"[{"name": "no-upstream"}]"#).unwrap();
    let o = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing required field: upstream"));
}

#[test]
fn proxy_loads_its_config_and_stops_on_ctrl_c_with_0() {
    use std::io::BufRead;
    let dir = tmp_dir("proxy-run");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("proxies.json");
    std::fs::write(
        &cfg,
        r#"[{"name": "shop", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}]"#,
    )
    .unwrap();
    let mut child = bin()
        .args(["proxy", "--listen", "127.0.0.1:0", "--seed", "7"])
        .args(["--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = std::io::BufReader::new(stdout)
        .lines()
        .take(2)
        .map(|l| l.unwrap())
        .collect();
    assert!(lines[0].contains("proxy shop: 127.0.0.1:"), "{lines:?}");
    assert!(lines[1].contains("API on http://127.0.0.1:"), "{lines:?}");
    let sent_at = Instant::now();
    interrupt(child.id());
    let status = child.wait().unwrap();
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent_at.elapsed()
    );
    assert_eq!(status.code(), Some(0));
}
