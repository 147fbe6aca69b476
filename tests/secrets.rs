//! Secrets end to end: a token from `${env:...}` reaches the target in its
//! header and appears nowhere flashcrowd writes (terminal, stderr, any file
//! of the run directory); a missing variable is a validation error at its
//! place.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "tok-7f3a9c-SECRET-e21b";

/// An HTTP/1.1 server answering `200 ok` on keep-alive connections that
/// counts requests whose head carries `needle`; stops after 60 s at most.
fn header_counting_server(needle: &'static str) -> (u16, Arc<AtomicU64>, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (seen, total) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (s, t) = (seen.clone(), total.clone());
    std::thread::spawn(move || {
        l.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            let Ok((mut c, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let (s, t) = (s.clone(), t.clone());
            std::thread::spawn(move || {
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = c.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        t.fetch_add(1, Ordering::SeqCst);
                        if head.contains(needle) {
                            s.fetch_add(1, Ordering::SeqCst);
                        }
                        if c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, seen, total)
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_token_from_the_environment_is_sent_and_never_written_anywhere() {
    let (port, seen, total) = header_counting_server(TOKEN);
    let dir = std::env::temp_dir().join(format!("flashcrowd-secrets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
name: secret-header
target: http://127.0.0.1:{port}
phases:
  - {{ name: p, duration: 1s, load: {{ rate: 50/s }}, flow: f }}
flows:
  f:
    - name: account
      get: /api/me
      headers: {{ Authorization: "Bearer ${{env:FC_TEST_TOKEN}}" }}
slos:
  - "error_rate(account) < 1%"
"#
        ),
    )
    .unwrap();
    let out_dir = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .env("FC_TEST_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    // Every request carried it...
    let n = total.load(Ordering::SeqCst);
    assert!(n >= 45, "{n} requests");
    assert_eq!(seen.load(Ordering::SeqCst), n);
    // ... and nothing flashcrowd wrote shows it.
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    let written = files(&out_dir);
    assert!(written.len() >= 5, "{written:?}");
    for f in written {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "{} contains the token",
            f.display()
        );
    }
    // A missing variable: an error at its place, before anything is sent.
    let before = total.load(Ordering::SeqCst);
    let o = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("run")
        .arg(&file)
        .env_remove("FC_TEST_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("s.yaml:10:") && stderr.contains("`FC_TEST_TOKEN` is not set"),
        "{stderr}"
    );
    assert!(
        stderr.contains("flows.f[0].headers.Authorization"),
        "{stderr}"
    );
    assert_eq!(total.load(Ordering::SeqCst), before);
    let _ = std::fs::remove_dir_all(&dir);
}
