//! Regions and chaos end to end: the binary runs a scenario against the
//! embedded demo platform with each region's traffic through its own
//! proxy, and the report shows what each region lived through.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Both tests time the network; they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flashcrowd-chaos-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write `yaml` next to the report directory and run it.
fn run_yaml(name: &str, yaml: &str) -> (Output, Value, PathBuf) {
    let dir = tmp_dir(name);
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|e| {
            panic!(
                "no report ({e}):\n{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
    (o, report, dir)
}

/// The report's figures for one region of the first step.
fn region<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"][0]["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == name)
        .unwrap_or_else(|| panic!("no region {name} in {report:#}"))
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap() / 1_000.0
}

#[test]
fn a_long_haul_region_is_slower_by_its_round_trip_and_the_nearby_one_is_not() {
    let _serial = serial();
    let (o, r, _) = run_yaml(
        "rtt",
        r#"
name: two-regions
target: embedded
seed: 11
phases:
  - { name: steady, duration: 4s, load: { rate: 60/s }, flow: browse }
regions:
  local: { share: 50% }
  eu:
    share: 50%
    profile:
      upstream: { latency: 90ms, jitter: 8ms }
      downstream: { latency: 90ms, jitter: 8ms }
flows:
  browse:
    - { name: product, get: /api/products/sku-1, timeout: 3s }
slos:
  - "p50(product, region=local) < 20ms"
  - "p50(product, region=eu) > 150ms"
"#,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}\n{r:#}");
    assert!(
        support::schema_errors(&r).is_empty(),
        "{:#?}",
        support::schema_errors(&r)
    );
    let local = region(&r, "local");
    let eu = region(&r, "eu");
    let (n_local, n_eu) = (
        local["count"].as_u64().unwrap(),
        eu["count"].as_u64().unwrap(),
    );
    assert_eq!(n_local + n_eu, 240, "every arrival belongs to one region");
    assert!(
        (90..=150).contains(&n_local),
        "a 50/50 split of 240 arrivals: {n_local} / {n_eu}"
    );
    assert_eq!(local["errors"], 0);
    assert_eq!(eu["errors"], 0);
    let (p50_local, p50_eu) = (
        ms(&local["latency_us"]["p50"]),
        ms(&eu["latency_us"]["p50"]),
    );
    let shift = p50_eu - p50_local;
    assert!(
        p50_local < 20.0,
        "the undegraded region: p50 {p50_local:.1} ms"
    );
    assert!(
        (165.0..=215.0).contains(&shift),
        "p50 {p50_eu:.1} ms vs {p50_local:.1} ms: a 180 ms round trip should shift it by about 180 ms, got {shift:.1}"
    );
    // A new connection pays the handshake round trip too: the slowest
    // requests of the far region took about two round trips.
    assert!(
        ms(&eu["latency_us"]["max"]) >= 340.0,
        "{:#}",
        eu["latency_us"]
    );
    let regions = r["regions"].as_array().unwrap();
    assert_eq!(regions[1]["base_rtt_ms"], 180.0);
    assert!(regions[1]["route"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
}

#[test]
fn a_two_second_partition_shows_errors_in_its_window_only() {
    let _serial = serial();
    let (o, r, _) = run_yaml(
        "partition",
        r#"
name: partition
target: embedded
seed: 5
phases:
  - { name: steady, duration: 6s, load: { rate: 100/s }, flow: browse }
regions:
  sea: { share: 50% }
  eu: { share: 50% }
chaos:
  events:
    - { name: eu-cut, region: eu, at: steady+2s, for: 2s, partition: refuse }
flows:
  browse:
    - { name: product, get: /api/products/sku-2, timeout: 1s }
slos:
  - "error_rate(product, region=sea) < 0.1%"
"#,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}\n{r:#}");
    assert!(
        support::schema_errors(&r).is_empty(),
        "{:#?}",
        support::schema_errors(&r)
    );

    let sea = region(&r, "sea");
    let eu = region(&r, "eu");
    assert_eq!(sea["errors"], 0, "the other region never noticed");
    let errors: Vec<u64> = eu["series"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let sent: Vec<u64> = eu["series"]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    // Seconds 2 and 3 of the run: every request of the region failed
    // (refused or reset); before and after, none did.
    for (s, &e) in errors.iter().enumerate() {
        match s {
            2 | 3 => assert!(
                e + 2 >= sent[s] && e >= 40,
                "second {s}: {e} of {} failed; series {errors:?} of {sent:?}",
                sent[s]
            ),
            _ => assert_eq!(e, 0, "second {s}: series {errors:?} of {sent:?}"),
        }
    }
    assert!(eu["outcomes"]["connect_error"].as_u64().unwrap() >= 80);

    let t = r["chaos"]["transitions"].as_array().unwrap();
    let changes: Vec<(&str, &str, f64)> = t
        .iter()
        .map(|x| {
            (
                x["region"].as_str().unwrap(),
                x["change"].as_str().unwrap(),
                x["at_s"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes.len(), 2, "{t:#?}");
    assert_eq!((changes[0].0, changes[0].1), ("eu", "start"));
    assert_eq!((changes[1].0, changes[1].1), ("eu", "end"));
    assert!((changes[0].2 - 2.0).abs() < 0.05, "{changes:?}");
    assert!((changes[1].2 - 4.0).abs() < 0.05, "{changes:?}");
    assert!(t.iter().all(|x| x.get("error").is_none()), "{t:#?}");
    assert_eq!(r["chaos"]["cleanup_error"], Value::Null);
    assert_eq!(r["chaos"]["events"][0]["action"], "partition: refuse");
}

#[test]
fn the_cross_border_evening_runs_at_small_scale_with_its_whole_timeline() {
    let _serial = serial();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sea-crossborder-evening.yaml");
    let out = tmp_dir("sea-evening").join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--scale",
            "0.3",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{:#}",
        String::from_utf8_lossy(&o.stderr),
        r["slos"]
    );
    assert!(
        support::schema_errors(&r).is_empty(),
        "{:#?}",
        support::schema_errors(&r)
    );
    let names: Vec<&str> = r["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sea", "eu", "cn", "host"]);
    // The host's studio sends all of its phase and nothing else.
    for s in r["steps"].as_array().unwrap() {
        let host = s["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["region"] == "host")
            .unwrap();
        let host_count = host["count"].as_u64().unwrap();
        if s["step"] == "host-reply" {
            assert_eq!(host_count, s["count"].as_u64().unwrap());
            assert!(host_count > 0);
        } else {
            assert_eq!(host_count, 0, "{}", s["step"]);
        }
    }
    // Every planned change happened, on time: the wobble's four switches,
    // the path's start, full strength and end in two regions, and the cut.
    let t = r["chaos"]["transitions"].as_array().unwrap();
    let planned: Vec<(f64, &str, &str)> = t
        .iter()
        .map(|x| {
            (
                x["planned_s"].as_f64().unwrap(),
                x["region"].as_str().unwrap(),
                x["change"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            (45.0, "sea", "start"),
            (48.0, "sea", "off"),
            (55.0, "sea", "on"),
            (58.0, "sea", "off"),
            (65.0, "cn", "start"),
            (65.0, "host", "start"),
            (75.0, "cn", "full"),
            (75.0, "host", "full"),
            (105.0, "cn", "end"),
            (105.0, "host", "end"),
            (110.0, "eu", "start"),
            (115.0, "eu", "end"),
        ]
    );
    for x in t {
        let late = x["at_s"].as_f64().unwrap() - x["planned_s"].as_f64().unwrap();
        assert!((0.0..0.1).contains(&late), "{x:#}");
        assert!(x.get("error").is_none(), "{x:#}");
    }
}

/// `GET path` on a loopback HTTP server; the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

#[test]
fn an_interrupted_run_removes_its_proxies_from_an_external_toxiproxy_server() {
    let _serial = serial();
    let api = support::free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args(["proxy", "--listen", &format!("127.0.0.1:{api}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while http_get(api, "/version").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "proxy server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dir = tmp_dir("external");
    let file = dir.join("scenario.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
name: external
target: embedded
phases:
  - {{ name: steady, duration: 30s, load: {{ rate: 20/s }}, flow: browse }}
regions:
  eu: {{ share: 100%, profile: {{ upstream: {{ latency: 30ms }}, downstream: {{ latency: 30ms }} }} }}
chaos:
  backend: toxiproxy
  toxiproxy: 127.0.0.1:{api}
  events:
    - {{ region: eu, at: 1s, latency: 100ms }}
flows:
  browse:
    - {{ name: product, get: /api/products/sku-1 }}
"#
        ),
    )
    .unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(dir.join("out"))
        .spawn()
        .unwrap();
    // While it runs, the region's proxy carries profile and event.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let during = loop {
        let body = http_get(api, "/proxies/flashcrowd-eu/toxics").unwrap_or_default();
        if body.contains("\"latency\":80") {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "toxics never showed: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // 30 ms of profile + half of the event's 100 ms round trip, each way.
    assert!(
        during.contains("latency_upstream") && during.contains("latency_downstream"),
        "{during}"
    );
    let ok = Command::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let after = http_get(api, "/proxies").unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(after.trim(), "{}", "the run left proxies behind");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["chaos"]["backend"], "toxiproxy");
    assert_eq!(report["chaos"]["cleanup_error"], Value::Null);
    assert_eq!(report["partial"], true);
    let t = report["chaos"]["transitions"].as_array().unwrap();
    assert_eq!(t.last().unwrap()["change"], "cleanup", "{t:#?}");
}
