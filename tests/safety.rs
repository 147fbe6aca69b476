//! Target safety end to end: a run refuses a destination off this machine
//! that nobody allowed, before a single connection, and `--dry-run` sends
//! nothing even to an allowed one.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
