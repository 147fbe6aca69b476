//! Target safety end to end: a run refuses a destination off this machine
//! that nobody allowed, before a single connection, and `--dry-run` sends
//! nothing even to an allowed one.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

/// This machine's address on its default route, if it has one that is not
/// loopback. A UDP "connect" sends nothing; it only picks the interface.
fn outward_ip() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("10.255.255.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A listener on every interface that counts the connections it accepts,
/// until the returned flag is dropped (bounded: at most 60 s).
fn counting_listener() -> (u16, Arc<AtomicU64>, Arc<()>) {
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let alive = Arc::new(());
    let (count, weak) = (accepted.clone(), Arc::downgrade(&alive));
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(60);
        while weak.upgrade().is_some() && Instant::now() < until {
            match l.accept() {
                Ok(_) => {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, accepted, alive)
}

fn run(scenario: &str, args: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("flashcrowd-safety-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("s{}.yaml", args.len()));
    std::fs::write(&file, scenario).unwrap();
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("run")
        .arg(&file)
        .args(["--quiet", "--out"])
        .arg(dir.join("out"))
        .args(args)
        .output()
        .unwrap()
}

const SCENARIO: &str = r#"
name: safety
phases:
  - { name: p, duration: 1s, load: { rate: 20/s }, flow: f }
flows:
  f:
    - { name: home, get: /, timeout: 500ms }
"#;

#[test]
fn a_host_off_this_machine_is_refused_before_any_connection_unless_allowed() {
    let Some(ip) = outward_ip() else {
        eprintln!("no non-loopback interface: skipped");
        return;
    };
    let (port, accepted, _alive) = counting_listener();
    let addr = SocketAddr::new(ip, port);
    let url = format!("http://{addr}");

    let refused = run(SCENARIO, &["--target", &url]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("allow-list"), "{stderr}");
    assert!(
        stderr.contains(&format!("--allow-target {ip}:{port}")),
        "{stderr}"
    );

    // Allowed, but a dry run: the plan and its destinations, nothing sent.
    let dry = run(
        SCENARIO,
        &[
            "--target",
            &url,
            "--allow-target",
            &addr.to_string(),
            "--dry-run",
        ],
    );
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(stdout.contains("nothing was sent"), "{stdout}");
    assert!(
        stdout.contains(&format!("target          {ip}:{port}  (allowed)")),
        "{stdout}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a refused or dry run connected"
    );

    // The scenario's own list allows it too, and then it is really sent to.
    let listed = SCENARIO.replace(
        "name: safety",
        &format!("name: safety\nallow_targets: [\"{ip}\"]"),
    );
    let _ = run(&listed, &["--target", &url]);
    assert!(
        accepted.load(Ordering::SeqCst) > 0,
        "the allowed run never connected"
    );
}

#[test]
fn loopback_needs_no_allow_list_and_a_dry_run_sends_nothing() {
    let (port, accepted, _alive) = counting_listener();
    let url = format!("http://127.0.0.1:{port}");
    let dry = run(SCENARIO, &["--target", &url, "--dry-run"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(dry.status.code(), Some(0));
    assert!(stdout.contains("(loopback)"), "{stdout}");
    assert!(stdout.contains("plan: safety"), "{stdout}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}

#[test]
fn a_remote_worker_refuses_a_target_off_this_machine_it_was_not_allowed() {
    let Some(ip) = outward_ip() else {
        eprintln!("no non-loopback interface: skipped");
        return;
    };
    let (port, accepted, _alive) = counting_listener();
    let url = format!("http://{}", SocketAddr::new(ip, port));
    let dir = std::env::temp_dir().join(format!("flashcrowd-safety-worker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.yaml");
    std::fs::write(&file, SCENARIO).unwrap();
    let bin = env!("CARGO_BIN_EXE_flashcrowd");
    // The coordinator was allowed the host; the worker was not, and it is
    // the worker that would send.
    let coordinator_at = |allow_worker: bool| {
        let coordinator = format!("127.0.0.1:{}", support::free_port());
        let mut run = Command::new(bin)
            .arg("run")
            .arg(&file)
            .args(["--target", &url, "--allow-target", &ip.to_string()])
            .args(["--workers", "1", "--remote-workers"])
            .args([
                "--coordinator-listen",
                &coordinator,
                "--barrier-timeout",
                "10s",
            ])
            .args(["--quiet", "--out"])
            .arg(dir.join(format!("out-{allow_worker}")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        support::wait_listening(&coordinator);
        let mut worker = Command::new(bin);
        worker.arg("worker").arg(&file).args([
            "--coordinator",
            &coordinator,
            "--index",
            "0",
            "--workers",
            "1",
        ]);
        if allow_worker {
            worker.args(["--allow-target", &ip.to_string()]);
        }
        let out = worker.output().unwrap();
        // The coordinator ends by itself once its only worker is gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        while run.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = run.kill();
                panic!("the coordinator did not end");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        out
    };

    let refused = coordinator_at(false);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("allow-list"), "{stderr}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the refusing worker connected"
    );

    let allowed = coordinator_at(true);
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(
        accepted.load(Ordering::SeqCst) > 0,
        "the allowed worker never connected"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
