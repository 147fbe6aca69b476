//! Distributed runs end to end: local worker processes, one merged report,
//! exact merging, lost workers, refused workers and the start barrier.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::Value;

/// These tests start several processes each; one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flashcrowd-dist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
}

fn scenario(dir: &Path, seconds: u32, rate: u32) -> PathBuf {
    let file = dir.join("scenario.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
name: dist-{seconds}
target: embedded
seed: 21
phases:
  - {{ name: steady, duration: {seconds}s, load: {{ rate: {rate}/s }}, flow: shop }}
flows:
  shop:
    - {{ name: product, get: /api/products/sku-4 }}
    - {{ name: room, get: /api/rooms/main }}
slos:
  - "p99(product) < 250ms"
"#
        ),
    )
    .unwrap();
    file
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `flashcrowd run FILE --workers N --quiet --out OUT` with local workers.
fn run_local(file: &Path, workers: u32, out: &Path) -> Output {
    bin()
        .args([
            "run",
            file.to_str().unwrap(),
            "--workers",
            &workers.to_string(),
        ])
        .args(["--quiet", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn four_local_workers_make_one_exact_report() {
    let _s = serial();
    let dir = tmp_dir("four");
    let file = scenario(&dir, 4, 200);
    let out = dir.join("out");
    let o = run_local(&file, 4, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(&out);
    // 800 arrivals, two requests each: split 200 per worker, all sent.
    assert_eq!(r["totals"]["scheduled"], 800);
    assert_eq!(r["totals"]["sent"], 1600);
    assert_eq!(r["coverage"]["ratio"], 1.0);
    let workers = r["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 4);
    let per_worker: Vec<u64> = workers
        .iter()
        .map(|w| w["sent"].as_u64().unwrap())
        .collect();
    assert_eq!(per_worker, [400, 400, 400, 400], "seq mod 4: an even split");
    assert!(workers.iter().all(|w| w["status"] == "done"));
    assert_eq!(r["verdict"], "pass");
    // Each worker's raw histograms, as it recorded them (kept in the run
    // directory), added up key by key...
    let mut raw: Vec<Histogram<u64>> = Vec::new();
    for i in 0..4 {
        let text = std::fs::read_to_string(out.join(format!("workers/worker-{i}.json"))).unwrap();
        let f: Value = serde_json::from_str(&text).unwrap();
        for (k, step) in f["recorder"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(step["latency"].as_str().unwrap())
                .unwrap();
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap();
            if raw.len() <= k {
                raw.push(Histogram::new(3).unwrap());
            }
            raw[k].add(&h).unwrap();
        }
    }
    // ...equal, bucket for bucket, what the coordinator merged from the
    // seconds they streamed (the interval log), and the report's figures.
    let (by_tag, _) = support::hlog_by_tag(&out.join("latency.hlog"));
    for (k, tag) in ["steady/product", "steady/room"].iter().enumerate() {
        let buckets = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        };
        assert_eq!(buckets(&raw[k]), buckets(&by_tag[*tag]), "{tag}");
    }
    for step in r["steps"].as_array().unwrap() {
        let tag = format!(
            "{}/{}",
            step["phase"].as_str().unwrap(),
            step["step"].as_str().unwrap()
        );
        let h = &by_tag[&tag];
        let l = &step["latency_us"];
        assert_eq!(h.len(), l["samples"].as_u64().unwrap(), "{tag}");
        assert_eq!(h.len(), 800);
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
    }
}

#[test]
fn a_killed_worker_makes_a_partial_inconclusive_report_and_is_not_replayed() {
    let _s = serial();
    let dir = tmp_dir("kill");
    let file = scenario(&dir, 8, 100);
    let out = dir.join("out");
    let mut run = bin()
        .args([
            "run",
            file.to_str().unwrap(),
            "--workers",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Worker 2 of this run (its command line names this scenario file).
    let pattern = format!("worker {} .*--index 2 ", file.display());
    let deadline = Instant::now() + Duration::from_secs(15);
    let pid = loop {
        let o = Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .unwrap();
        if let Some(pid) = String::from_utf8_lossy(&o.stdout).split_whitespace().next() {
            break pid.to_owned();
        }
        assert!(Instant::now() < deadline, "worker 2 never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Into the run (1.5 s lead, then 2.5 s of load).
    std::thread::sleep(Duration::from_secs(4));
    assert!(Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(3), "inconclusive");
    let r = report(&out);
    assert_eq!(r["partial"], true);
    assert_eq!(r["verdict"], "inconclusive");
    let w = &r["workers"][2];
    assert_eq!(w["status"], "lost");
    assert_eq!(w["segment"], "2/4");
    let from = w["missed_from_s"].as_f64().unwrap();
    assert!((1.5..4.5).contains(&from), "lost at {from}");
    assert_eq!(w["missed_to_s"], 8.0);
    // Three workers ran their whole slice (200 arrivals each); nothing
    // replayed the lost one's.
    let others: Vec<u64> = [0, 1, 3]
        .iter()
        .map(|&i| r["workers"][i]["sent"].as_u64().unwrap())
        .collect();
    assert_eq!(others, [400, 400, 400]);
    assert_eq!(r["totals"]["started"], 600);
    assert_eq!(r["coverage"]["planned"], 800);
    let reasons = r["verdict_reasons"].to_string();
    assert!(
        reasons.contains("worker 2 (slice 2/4) was lost"),
        "{reasons}"
    );
}

#[test]
fn a_worker_with_another_scenario_is_refused_and_an_unfilled_barrier_sends_nothing() {
    let _s = serial();
    let dir = tmp_dir("barrier");
    let file = scenario(&dir, 2, 50);
    let other = dir.join("other.yaml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("seed: 21", "seed: 22"),
    )
    .unwrap();
    let port = support::free_port();
    let coordinator = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let run = bin()
        .args([
            "run",
            file.to_str().unwrap(),
            "--workers",
            "2",
            "--remote-workers",
        ])
        .args([
            "--coordinator-listen",
            &coordinator,
            "--barrier-timeout",
            "3s",
            "--quiet",
        ])
        .arg("--out")
        .arg(dir.join("out"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The coordinator is up once it answers.
    support::wait_listening(&coordinator);
    let refused = bin()
        .args([
            "worker",
            other.to_str().unwrap(),
            "--coordinator",
            &coordinator,
        ])
        .args(["--index", "0", "--workers", "2"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("scenario mismatch"),
        "{}",
        stderr(&refused)
    );
    // One good worker of two: the barrier never fills.
    let mut good = bin()
        .args([
            "worker",
            file.to_str().unwrap(),
            "--coordinator",
            &coordinator,
        ])
        .args(["--index", "1", "--workers", "2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only 1 of 2 workers registered"),
        "{}",
        stderr(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let g = good.wait().unwrap();
    assert_eq!(g.code(), Some(4), "the waiting worker is told and gives up");
    // Nothing was sent: no report, and the interval log is empty.
    assert!(!dir.join("out/report.json").exists());
    let log = std::fs::read_to_string(dir.join("out/latency.hlog")).unwrap_or_default();
    assert!(!log.contains("Tag="), "{log}");
}

#[test]
fn eight_local_workers_start_within_fifty_milliseconds_of_each_other() {
    let _s = serial();
    let dir = tmp_dir("skew");
    let file = scenario(&dir, 2, 80);
    let out = dir.join("out");
    let o = run_local(&file, 8, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(&out);
    let offsets: Vec<f64> = r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["start_offset_ms"].as_f64().unwrap())
        .collect();
    assert_eq!(offsets.len(), 8);
    let (lo, hi) = offsets
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi - lo < 50.0, "start offsets {offsets:?}");
    assert!(
        offsets.iter().all(|o| o.abs() < 50.0),
        "against T0: {offsets:?}"
    );
}

#[test]
fn workers_pinned_to_regions_send_exactly_their_regions_traffic() {
    let _s = serial();
    let dir = tmp_dir("pinned");
    let file = dir.join("regions.yaml");
    std::fs::write(
        &file,
        r#"
name: pinned
target: embedded
seed: 5
phases:
  - { name: steady, duration: 3s, load: { rate: 100/s }, flow: shop }
regions:
  sea: { share: 70% }
  eu: { share: 30% }
flows:
  shop:
    - { name: product, get: /api/products/sku-2 }
"#,
    )
    .unwrap();
    let port = support::free_port();
    let coordinator = format!("127.0.0.1:{port}");
    let out = dir.join("out");
    let run = bin()
        .args([
            "run",
            file.to_str().unwrap(),
            "--workers",
            "3",
            "--remote-workers",
        ])
        .args(["--coordinator-listen", &coordinator, "--quiet", "--out"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let workers: Vec<std::process::Child> = [(0, "sea"), (1, "eu"), (2, "sea")]
        .iter()
        .map(|(i, region)| {
            bin()
                .args([
                    "worker",
                    file.to_str().unwrap(),
                    "--coordinator",
                    &coordinator,
                ])
                .args([
                    "--index",
                    &i.to_string(),
                    "--workers",
                    "3",
                    "--region",
                    region,
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    let o = run.wait_with_output().unwrap();
    for mut w in workers {
        assert_eq!(w.wait().unwrap().code(), Some(0));
    }
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(&out);
    assert_eq!(r["totals"]["sent"], 300, "every arrival once");
    let step = &r["steps"][0];
    let region_count = |name: &str| {
        step["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["region"] == name)
            .unwrap()["count"]
            .as_u64()
            .unwrap()
    };
    let sent: Vec<u64> = r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["sent"].as_u64().unwrap())
        .collect();
    // The two sea workers share sea's arrivals; the eu worker has all of
    // eu's and nothing else.
    assert_eq!(sent[0] + sent[2], region_count("sea"));
    assert_eq!(sent[1], region_count("eu"));
    assert!(
        (180..=240).contains(&region_count("sea")),
        "{}",
        region_count("sea")
    );
    assert!(sent[0].abs_diff(sent[2]) <= 20, "{sent:?}");
    assert_eq!(r["workers"][1]["region"], "eu");
}

#[test]
fn workers_stop_within_seconds_when_the_coordinator_is_gone() {
    let _s = serial();
    let dir = tmp_dir("orphan");
    let file = scenario(&dir, 30, 20);
    let port = support::free_port();
    let coordinator = format!("127.0.0.1:{port}");
    let mut run = bin()
        .args([
            "run",
            file.to_str().unwrap(),
            "--workers",
            "1",
            "--remote-workers",
        ])
        .args(["--coordinator-listen", &coordinator, "--quiet", "--out"])
        .arg(dir.join("out"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut worker = bin()
        .args([
            "worker",
            file.to_str().unwrap(),
            "--coordinator",
            &coordinator,
        ])
        .args(["--index", "0", "--workers", "1"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Well into the run: 1.5 s lead, then load.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is running"
    );
    run.kill().unwrap();
    let _ = run.wait();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = worker.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = worker.kill();
            panic!("the worker outlived its coordinator by 10 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(4));
    assert!(
        killed.elapsed() < Duration::from_secs(8),
        "{:?}",
        killed.elapsed()
    );
}
