//! The verdict under generator lag, injected on purpose: the generator's
//! process is frozen (SIGSTOP) for a fixed time in the middle of its
//! schedule, as a CPU-starved CI runner would freeze it, so every arrival
//! due meanwhile leaves late by up to that much. Whatever the machine is
//! doing, the injected lag dwarfs its own noise, so the outcomes below do
//! not depend on timing luck:
//! - objectives that hold despite the lag pass, with a warning naming it;
//! - an objective that only the lag breaks makes the run inconclusive;
//! - an objective broken beyond what the lag can explain fails the run;
//! - arrivals dropped for want of connections are always inconclusive.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the generator is frozen.
const STALL: Duration = Duration::from_millis(700);

/// These runs judge the generator's own timing: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flashcrowd-lag-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A 4-second run at 50 arrivals/s of one GET against `target`, judged by
/// `slos`.
fn scenario(dir: &Path, target: std::net::SocketAddr, slos: &[&str]) -> PathBuf {
    let list: Vec<String> = slos.iter().map(|s| format!("  - \"{s}\"")).collect();
    let yaml = format!(
        "name: lagged\ntarget: http://{target}\nseed: 3\nphases:\n  - {{ name: steady, duration: 4s, load: {{ rate: 50/s }}, flow: hit }}\nflows:\n  hit:\n    - {{ name: get, get: /, timeout: 5s }}\nslos:\n{}\n",
        list.join("\n")
    );
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

/// Run `file` with `extra` flags, freezing the generator for `stall` once
/// its first requests have reached the target (`seen`); the exit status
/// and the report.
fn run_frozen(
    file: &Path,
    extra: &[&str],
    seen: &std::sync::atomic::AtomicU64,
    stall: Duration,
) -> (Output, Value) {
    let out = file.with_file_name("out");
    let child = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("run")
        .arg(file)
        .args(extra)
        .args(["--quiet", "--format", "json,github", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if !stall.is_zero() {
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.load(Ordering::Relaxed) < 5 {
            assert!(
                Instant::now() < deadline,
                "the run never reached its target"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        signal(child.id(), "-STOP");
        std::thread::sleep(stall);
        signal(child.id(), "-CONT");
    }
    let o = child.wait_with_output().unwrap();
    let text = std::fs::read_to_string(out.join("report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&o.stderr)));
    (o, serde_json::from_str(&text).unwrap())
}

fn lag_max_ms(r: &Value) -> f64 {
    r["generator"]["dispatch_lag_max_ms"].as_f64().unwrap()
}

fn reasons(r: &Value) -> Vec<String> {
    r["verdict_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn objectives_that_hold_despite_injected_lag_pass_with_a_warning_naming_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (target, seen) = support::spawn_counted_service(Duration::ZERO);
    let dir = tmp_dir("pass");
    let file = scenario(&dir, target, &["p99(get) < 4s", "error_rate(get) < 1%"]);
    let (o, r) = run_frozen(&file, &[], &seen, STALL);
    assert!(
        lag_max_ms(&r) >= 500.0,
        "the stall shows as lag: {}",
        r["generator"]
    );
    assert_eq!(r["generator"]["saturated"], true);
    assert_eq!(o.status.code(), Some(0), "{:?}", reasons(&r));
    assert_eq!(r["verdict"], "pass");
    let warning = reasons(&r)
        .into_iter()
        .find(|x| x.starts_with("warning:"))
        .expect("a warning about the lag");
    assert!(warning.contains("ms late"), "{warning}");
    assert!(
        warning.contains("could not change the verdict"),
        "{warning}"
    );
    assert!(
        r["slos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("generator_doubt").is_none()),
        "{:#}",
        r["slos"]
    );
    // The pass is announced to GitHub as a notice, not an error.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.starts_with("::notice title=flashcrowd verdict%3A PASS::"),
        "{stdout}"
    );
}

#[test]
fn a_failure_only_the_injected_lag_explains_is_inconclusive() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (target, seen) = support::spawn_counted_service(Duration::ZERO);
    let dir = tmp_dir("doubt");
    // Every request answers at once; only the frozen arrivals (about 35 of
    // 200, far more than 1%) are slow, and by no more than the lag.
    let file = scenario(&dir, target, &["p99(get) < 250ms"]);
    let (o, r) = run_frozen(&file, &[], &seen, STALL);
    let slo = &r["slos"][0];
    assert!(slo["observed"].as_f64().unwrap() >= 250.0, "{slo}");
    assert_eq!(slo["status"], "fail");
    assert_eq!(slo["generator_doubt"], true, "{slo}");
    assert_eq!(o.status.code(), Some(3), "{:?}", reasons(&r));
    assert_eq!(r["verdict"], "inconclusive");
    assert!(
        reasons(&r)
            .iter()
            .any(|x| x.contains("not settled") && x.contains("could be as low as")),
        "{:?}",
        reasons(&r)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("::warning file=")
            && stdout.contains("title=SLO not settled%3A p99(get) < 250ms::"),
        "{stdout}"
    );
}

#[test]
fn a_failure_beyond_the_injected_lag_fails() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Every answer takes 400 ms: p99 stays above 250 ms with all of the
    // lag taken off.
    let (target, seen) = support::spawn_counted_service(Duration::from_millis(400));
    let dir = tmp_dir("fail");
    let file = scenario(&dir, target, &["p99(get) < 250ms"]);
    let (o, r) = run_frozen(&file, &[], &seen, STALL);
    let slo = &r["slos"][0];
    assert_eq!(slo["status"], "fail");
    assert!(slo.get("generator_doubt").is_none(), "{slo}");
    assert_eq!(o.status.code(), Some(1), "{:?}", reasons(&r));
    assert!(
        reasons(&r)[0].contains("fails even with the generator's own lag"),
        "{:?}",
        reasons(&r)
    );
    // The annotation points at the objective's line in the scenario.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let expected = format!(
        "::error file={},line=10,col=5,title=SLO failed%3A p99(get) < 250ms::",
        file.display()
            .to_string()
            .replace(':', "%3A")
            .replace(',', "%2C")
    );
    assert!(stdout.contains(&expected), "{expected}\n{stdout}");
}

#[test]
fn dropped_arrivals_are_inconclusive_even_when_every_objective_passes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // One connection to a target that takes 100 ms: 10 answers a second
    // against 50 arrivals, and a backlog of two per lane.
    let (target, seen) = support::spawn_counted_service(Duration::from_millis(100));
    let dir = tmp_dir("drops");
    let file = scenario(&dir, target, &["p99(get) < 30s", "error_rate(get) < 1%"]);
    let (o, r) = run_frozen(
        &file,
        &["--connections", "1", "--backlog", "2"],
        &seen,
        Duration::ZERO,
    );
    assert!(
        r["totals"]["dropped"].as_u64().unwrap() > 50,
        "{}",
        r["totals"]
    );
    assert!(r["slos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "pass"));
    assert_eq!(o.status.code(), Some(3), "{:?}", reasons(&r));
    assert!(reasons(&r)
        .iter()
        .any(|x| x.contains("scheduled arrivals were dropped")));
}
