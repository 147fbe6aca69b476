//! The Goose engine in process, against targets with known behaviour: it
//! runs a closed-model flow through Goose, counts what the target served,
//! takes its latency from Goose's buckets, stops on an interrupt, and
//! leaves nothing of Goose's behind in the process.

#![cfg(feature = "goose")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flashcrowd::engine::{RunConfig, RunResult};
use flashcrowd::scenario::{Load, Scenario, Target};
use flashcrowd::schedule::Schedule;
use support::{constant_get, spawn_fixed_service, spawn_target, TargetBehaviour};
use tokio_util::sync::CancellationToken;

/// Goose keeps process-wide state (its killswitch, its one load test at a
/// time): the tests of this file take turns, so one test's interrupt
/// cannot land in another's run.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn users(target: std::net::SocketAddr, count: u32, duration: Duration) -> Scenario {
    let mut s = constant_get(target, 1.0, duration, Duration::from_secs(5));
    s.phases[0].load = Load::Users { count };
    s
}

async fn run_goose(scenario: Scenario, stop: CancellationToken) -> RunResult {
    let schedule = Schedule::new(&scenario.phases, scenario.seed, 1.0, None);
    let Target::Url(url) = scenario.target.clone() else {
        panic!("test scenarios name their target")
    };
    flashcrowd::goose_engine::run(
        Arc::new(scenario),
        &schedule,
        &url,
        &RunConfig::default(),
        stop,
        None,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_the_target_served_is_counted_and_timed_by_goose() {
    let _serial = SERIAL.lock().await;
    let target = spawn_target(TargetBehaviour::default()).await;
    let r = run_goose(
        users(target.addr, 4, Duration::from_secs(1)),
        CancellationToken::new(),
    )
    .await;
    let s = &r.recorder.steps[0];
    assert!(s.counts.sent > 100, "{}", s.counts.sent);
    assert_eq!(s.counts.sent, target.hits());
    assert_eq!(s.counts.ok, s.counts.sent);
    // One latency per request, all from Goose's buckets.
    assert_eq!(s.latency.len(), s.counts.sent);
    let per_second: u64 = s.series.iter().map(|x| u64::from(x.sent)).sum();
    assert_eq!(per_second, s.counts.sent);
    assert_eq!(
        (r.recorder.schedule.scheduled, r.recorder.schedule.started),
        (4, 4)
    );
    assert_eq!(r.recorder.schedule.late, 0);
    assert!(
        r.sessions.iter().any(|&(_, live)| live == 4),
        "{:?}",
        r.sessions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_service_time_is_goose_s_median_and_its_minimum() {
    let _serial = SERIAL.lock().await;
    let addr = spawn_fixed_service(Duration::from_millis(20));
    let r = run_goose(
        users(addr, 4, Duration::from_secs(2)),
        CancellationToken::new(),
    )
    .await;
    let s = &r.recorder.steps[0];
    let p50 = s.latency.value_at_quantile(0.5);
    eprintln!(
        "goose, 20 ms service: {} requests, min {} µs, p50 {p50} µs, p99 {} µs",
        s.counts.sent,
        s.latency.min(),
        s.latency.value_at_quantile(0.99)
    );
    assert!(s.latency.min() >= 19_900, "min {} µs", s.latency.min());
    assert!((20_000..21_500).contains(&p50), "p50 {p50} µs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_makes_the_users_leave_and_the_result_partial() {
    let _serial = SERIAL.lock().await;
    let target = spawn_target(TargetBehaviour {
        delay: Duration::from_millis(5),
        ..TargetBehaviour::default()
    })
    .await;
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            stop.cancel();
        });
    }
    let began = Instant::now();
    let r = run_goose(users(target.addr, 3, Duration::from_secs(60)), stop).await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert!(r.interrupted);
    let s = &r.recorder.steps[0];
    assert!(s.counts.sent > 20, "{}", s.counts.sent);
    assert_eq!(s.counts.sent, target.hits());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_goose_stays_in_the_process_and_a_second_run_works() {
    let _serial = SERIAL.lock().await;
    let target = spawn_target(TargetBehaviour::default()).await;
    for _ in 0..2 {
        let scenario = users(target.addr, 2, Duration::from_millis(1_500));
        let run = tokio::spawn(run_goose(scenario, CancellationToken::new()));
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Goose's telnet controller listens here by default.
        assert!(
            tokio::net::TcpStream::connect("127.0.0.1:5116")
                .await
                .is_err(),
            "something listens on Goose's controller port"
        );
        let r = run.await.unwrap();
        assert!(r.recorder.steps[0].counts.ok > 0);
        assert!(!goose::is_killswitch_triggered());
    }
    // No run folder or report where Goose would put them.
    assert!(!std::path::Path::new("goose-runs").exists());
}
