//! HTTPS targets: a self-signed server is refused by default with a TLS
//! error that says what to do, trusted with `--ca-file`, and reached with
//! `--insecure` only with a banner on the summary and in every report.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

/// A self-signed certificate for `localhost` and 127.0.0.1, as PEM, and
/// an HTTPS server using it on a free port that answers `200 ok` and
/// counts the requests it served. Lives until the process ends.
fn spawn_https() -> (u16, String, Arc<AtomicU64>) {
    let (acceptor, cert_pem) = support::tls::self_signed(&["localhost", "127.0.0.1"]);
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, count) = (acceptor.clone(), count.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = match tokio::time::timeout(
                            Duration::from_secs(10),
                            tls.read(&mut chunk),
                        )
                        .await
                        {
                            Ok(Ok(n)) if n > 0 => n,
                            _ => return,
                        };
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            count.fetch_add(1, Ordering::SeqCst);
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if tls.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (port, cert_pem, served)
}

fn run(dir: &std::path::Path, port: u16, extra: &[&str]) -> Output {
    let file = dir.join("s.yaml");
    std::fs::write(
        &file,
        r#"
name: tls
phases:
  - { name: p, duration: 1s, load: { rate: 30/s }, flow: f }
flows:
  f:
    - { name: home, get: /, timeout: 2s }
slos:
  - "error_rate(home) < 1%"
"#,
    )
    .unwrap();
    let out = dir.join(format!("out-{}", extra.len()));
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("run")
        .arg(&file)
        .args(["--target", &format!("https://localhost:{port}"), "--out"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_self_signed_target_is_refused_by_default_trusted_by_ca_file_and_insecure_is_stamped() {
    let (port, cert_pem, served) = spawn_https();
    let dir = std::env::temp_dir().join(format!("flashcrowd-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let refused = run(&dir, port, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("TLS") && stderr.contains("--ca-file"),
        "{stderr}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 0);

    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert_pem).unwrap();
    let trusted = run(&dir, port, &["--ca-file", ca.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(!stdout.contains("INSECURE"));
    let n = served.load(Ordering::SeqCst);
    assert!(n >= 25, "{n} requests served over TLS");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out-2/report.json")).unwrap())
            .unwrap();
    assert!(report.get("insecure").is_none());

    let insecure = run(&dir, port, &["--insecure"]);
    let stdout = String::from_utf8_lossy(&insecure.stdout);
    assert_eq!(insecure.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("INSECURE RUN"), "{stdout}");
    let out = dir.join("out-1");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["insecure"], true);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"insecure\""));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("Insecure run"));
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"tls_verified\" value=\"false\""),
        "{junit}"
    );
    assert!(served.load(Ordering::SeqCst) >= n + 25);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn local_workers_trust_the_same_ca_file_as_their_coordinator() {
    let (port, cert_pem, served) = spawn_https();
    let dir = std::env::temp_dir().join(format!("flashcrowd-tls-workers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert_pem).unwrap();

    // Two worker processes send everything; were they not handed the CA,
    // every request would fail verification and the SLO would fail.
    let o = run(
        &dir,
        port,
        &["--workers", "2", "--ca-file", ca.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out-4/report.json")).unwrap())
            .unwrap();
    let sent = report["totals"]["sent"].as_u64().unwrap_or(0);
    let errors = report["totals"]["errors"].as_u64().unwrap_or(u64::MAX);
    assert!(sent >= 25, "{sent} requests in the report");
    assert_eq!(errors, 0, "{report}");
    assert!(served.load(Ordering::SeqCst) >= 25);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_remote_worker_that_skips_verification_makes_the_run_insecure() {
    let (port, cert_pem, served) = spawn_https();
    let dir = std::env::temp_dir().join(format!("flashcrowd-tls-remote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert_pem).unwrap();
    let coordinator = format!("127.0.0.1:{}", support::free_port());
    // The coordinator verifies (it trusts the CA); its one worker does not.
    let run = std::thread::spawn({
        let (dir, coordinator) = (dir.clone(), coordinator.clone());
        move || {
            run(
                &dir,
                port,
                &[
                    "--ca-file",
                    ca.to_str().unwrap(),
                    "--workers",
                    "1",
                    "--remote-workers",
                    "--coordinator-listen",
                    &coordinator,
                ],
            )
        }
    });
    support::wait_listening(&coordinator);
    let worker = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("worker")
        .arg(dir.join("s.yaml"))
        .args([
            "--coordinator",
            &coordinator,
            "--index",
            "0",
            "--workers",
            "1",
        ])
        .arg("--insecure")
        .output()
        .unwrap();
    assert_eq!(
        worker.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&worker.stderr)
    );
    let o = run.join().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("INSECURE RUN"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out-7/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["insecure"], true);
    assert!(served.load(Ordering::SeqCst) >= 25);
    let _ = std::fs::remove_dir_all(&dir);
}
