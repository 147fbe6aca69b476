//! The open-model engine against targets with known behaviour: latency is
//! measured from intended start times, rates are kept, and what could not be
//! started is counted.

mod support;

use std::time::Duration;

use flashcrowd::engine::RunConfig;
use support::{constant_get, run_with, spawn_target, TargetBehaviour};
use tokio_util::sync::CancellationToken;

fn ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_freeze_is_charged_to_every_request_queued_behind_it() {
    // 200/s for 5 s; the target freezes from 2 s to 3 s. Measured from
    // intended send times, the 200 requests due during the freeze wait from
    // 1 s down to 0, so p99 ≈ S − T(1 − p) = 1 − 5·0.01 = 0.95 s. A
    // closed-loop tool would report a few milliseconds.
    let target = spawn_target(TargetBehaviour {
        freeze: Some((Duration::from_secs(2), Duration::from_secs(3))),
        ..TargetBehaviour::default()
    })
    .await;
    let scenario = constant_get(
        target.addr,
        200.0,
        Duration::from_secs(5),
        Duration::from_secs(10),
    );
    let r = run_with(scenario, RunConfig::default(), CancellationToken::new()).await;
    let s = &r.recorder.steps[0];
    let p50 = ms(s.latency.value_at_quantile(0.50));
    let p99 = ms(s.latency.value_at_quantile(0.99));
    let max = ms(s.latency.max());
    eprintln!("freeze 1 s at 200/s for 5 s: p50 {p50} ms, p99 {p99} ms, max {max} ms");
    assert_eq!(s.counts.sent, 1000);
    assert_eq!(s.counts.ok, 1000);
    assert!(p99 >= 750.0, "p99 {p99} ms should carry the freeze");
    assert!(p99 <= 1_100.0, "p99 {p99} ms");
    assert!((900.0..1_500.0).contains(&max), "max {max} ms");
    assert!(
        p50 < 100.0,
        "p50 {p50} ms: most requests never met the freeze"
    );
    assert_eq!(r.recorder.schedule.dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_service_time_shows_up_as_the_median() {
    let target = spawn_target(TargetBehaviour {
        delay: Duration::from_millis(50),
        ..TargetBehaviour::default()
    })
    .await;
    let scenario = constant_get(
        target.addr,
        100.0,
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
    let r = run_with(scenario, RunConfig::default(), CancellationToken::new()).await;
    let s = &r.recorder.steps[0];
    let p50 = ms(s.latency.value_at_quantile(0.5));
    assert_eq!(s.counts.sent, 200);
    assert!(
        (50.0..70.0).contains(&p50),
        "p50 {p50} ms for a 50 ms target"
    );
    assert!(ms(s.latency.min()) >= 49.9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_is_sent_in_full_and_reaches_the_target() {
    let target = spawn_target(TargetBehaviour::default()).await;
    let scenario = constant_get(
        target.addr,
        1_000.0,
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
    let r = run_with(scenario, RunConfig::default(), CancellationToken::new()).await;
    let sched = r.recorder.schedule;
    assert_eq!(sched.scheduled, 2_000);
    assert_eq!(sched.started, 2_000);
    assert_eq!(sched.dropped, 0);
    assert_eq!(r.recorder.steps[0].counts.ok, 2_000);
    assert_eq!(target.hits(), 2_000);
    // The schedule took its length, not less (nothing was sent early) and
    // not much more (the generator kept up).
    assert!(r.elapsed >= Duration::from_millis(1_995), "{:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(4), "{:?}", r.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_beyond_the_backlog_are_dropped_and_counted() {
    // Four connections to a target that takes 1 s each: at 200/s the
    // backlog of 20 fills at once and everything after it is dropped.
    let target = spawn_target(TargetBehaviour {
        delay: Duration::from_secs(1),
        ..TargetBehaviour::default()
    })
    .await;
    let scenario = constant_get(
        target.addr,
        200.0,
        Duration::from_secs(1),
        Duration::from_secs(5),
    );
    let cfg = RunConfig {
        connections: 4,
        lanes: 2,
        backlog: 20,
        ..RunConfig::default()
    };
    let r = run_with(scenario, cfg, CancellationToken::new()).await;
    let sched = r.recorder.schedule;
    assert_eq!(sched.scheduled, 200);
    assert_eq!(sched.started + sched.dropped, sched.scheduled);
    assert!(sched.dropped >= 150, "dropped {}", sched.dropped);
    assert!(sched.late > 0);
    assert_eq!(r.recorder.steps[0].counts.sent, sched.started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_scheduling_and_bounds_the_wait_for_requests_in_flight() {
    // A target that answers after 30 s: in-flight requests must be aborted
    // after the grace period, not awaited.
    let target = spawn_target(TargetBehaviour {
        delay: Duration::from_secs(30),
        ..TargetBehaviour::default()
    })
    .await;
    let scenario = constant_get(
        target.addr,
        100.0,
        Duration::from_secs(20),
        Duration::from_secs(60),
    );
    let stop = CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.cancel();
    });
    let cfg = RunConfig {
        interrupt_grace: Duration::from_millis(500),
        ..RunConfig::default()
    };
    let started = tokio::time::Instant::now();
    let r = run_with(scenario, cfg, stop).await;
    let took = started.elapsed();
    assert!(r.interrupted);
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let sched = r.recorder.schedule;
    assert!(
        (90..=110).contains(&sched.scheduled),
        "scheduled {}",
        sched.scheduled
    );
    assert_eq!(sched.started + sched.dropped, sched.scheduled);
    let c = &r.recorder.steps[0].counts;
    assert_eq!(c.aborted, c.sent, "every request was cut off: {c:?}");
    assert_eq!(c.ok + c.errors, c.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_counted_error_not_a_latency() {
    // Bind then drop: nothing listens on this port any more.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let scenario = constant_get(addr, 50.0, Duration::from_secs(1), Duration::from_secs(1));
    let r = run_with(scenario, RunConfig::default(), CancellationToken::new()).await;
    let s = &r.recorder.steps[0];
    assert_eq!(s.counts.sent, 50);
    assert_eq!(s.counts.connect_error, 50);
    assert_eq!(s.counts.errors, 50);
    assert_eq!(s.latency.len(), 0);
}
