//! Closed-model sessions and flow programs: concurrency follows Little's
//! law, funnels and branches split traffic by their odds, users hold a
//! fixed population, loops keep their period.

mod support;

use std::time::Duration;

use flashcrowd::scenario::{Action, ArrivalProcess, Dist, Load, RateShape};
use support::{get_step, program_scenario, run_scenario, spawn_target, TargetBehaviour};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn open(per_sec: f64) -> Load {
    Load::Open {
        shape: RateShape::Constant { per_sec },
        arrivals: ArrivalProcess::Uniform,
    }
}

fn req(step: usize, chance: f64) -> Action {
    Action::Request { step, chance }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_sessions_reach_the_concurrency_littles_law_predicts() {
    // 300 joins/s; 60% stay 0.5 s on average, 40% stay 2 s: mean dwell
    // 1.1 s, so L = λW = 330 viewers once the longest group has settled.
    let target = spawn_target(TargetBehaviour::default()).await;
    let dwell = Dist::Mixture(vec![
        (0.6, Dist::Exponential { mean: secs(0.5) }),
        (0.4, Dist::Exponential { mean: secs(2.0) }),
    ]);
    let load = Load::Sessions {
        join: RateShape::Constant { per_sec: 300.0 },
        arrivals: ArrivalProcess::Uniform,
        dwell: Some(dwell),
    };
    let s = program_scenario(
        target.addr,
        load,
        secs(20.0),
        vec![get_step("join")],
        vec![req(0, 1.0)],
    );
    let r = run_scenario(s).await;
    let steady: Vec<f64> = r
        .sessions
        .iter()
        .filter(|(t, _)| (10.0..19.5).contains(t))
        .map(|&(_, n)| n as f64)
        .collect();
    assert!(steady.len() >= 30, "{} samples", steady.len());
    let mean = steady.iter().sum::<f64>() / steady.len() as f64;
    assert!(
        (mean - 330.0).abs() <= 330.0 * 0.05,
        "mean live sessions {mean}, Little's law says 330"
    );
    assert_eq!(r.recorder.steps[0].counts.sent, 6000);
    assert_eq!(r.recorder.steps[0].counts.ok, 6000);
    // Viewers outlive the join phase only until the rehearsal ends.
    assert!(r.elapsed < secs(21.0), "{:?}", r.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_funnel_thins_sessions_within_the_binomial_band_and_repeats_by_seed() {
    // view → cart 15% → checkout 39%, 10,000 seeded sessions.
    let target = spawn_target(TargetBehaviour::default()).await;
    let steps = vec![get_step("view"), get_step("cart"), get_step("checkout")];
    let program = vec![req(0, 1.0), req(1, 0.15), req(2, 0.39)];
    let counts = |r: &flashcrowd::engine::RunResult| -> Vec<u64> {
        r.recorder.steps.iter().map(|s| s.counts.ok).collect()
    };
    let s = program_scenario(
        target.addr,
        open(5_000.0),
        secs(2.0),
        steps.clone(),
        program.clone(),
    );
    let first = counts(&run_scenario(s.clone()).await);
    let (view, cart, checkout) = (first[0] as f64, first[1] as f64, first[2] as f64);
    assert_eq!(view, 10_000.0);
    let sd_cart = (10_000.0f64 * 0.15 * 0.85).sqrt();
    assert!((cart - 1_500.0).abs() <= 4.0 * sd_cart, "cart {cart}");
    let sd_checkout = (cart * 0.39 * 0.61).sqrt();
    assert!(
        (checkout - cart * 0.39).abs() <= 4.0 * sd_checkout,
        "checkout {checkout} of {cart}"
    );

    assert_eq!(
        counts(&run_scenario(s.clone()).await),
        first,
        "same seed, same funnel"
    );
    let mut other = s;
    other.seed += 1;
    assert_ne!(
        counts(&run_scenario(other).await),
        first,
        "another seed, another draw"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choose_picks_branches_by_weight() {
    let target = spawn_target(TargetBehaviour::default()).await;
    let steps = vec![get_step("a"), get_step("b")];
    let program = vec![Action::Choose(vec![
        (0.7, vec![req(0, 1.0)]),
        (0.3, vec![req(1, 1.0)]),
    ])];
    let r = run_scenario(program_scenario(
        target.addr,
        open(5_000.0),
        secs(2.0),
        steps,
        program,
    ))
    .await;
    let a = r.recorder.steps[0].counts.ok as f64;
    let b = r.recorder.steps[1].counts.ok as f64;
    assert_eq!(a + b, 10_000.0);
    let sd = (10_000.0f64 * 0.7 * 0.3).sqrt();
    assert!((a - 7_000.0).abs() <= 4.0 * sd, "a {a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_hold_a_fixed_population_and_think_between_requests() {
    // 10 users, each: request, think 100 ms, again, for 2 s: about 20
    // requests each, never more.
    let target = spawn_target(TargetBehaviour::default()).await;
    let program = vec![req(0, 1.0), Action::Think(Dist::Fixed(secs(0.1)))];
    let s = program_scenario(
        target.addr,
        Load::Users { count: 10 },
        secs(2.0),
        vec![get_step("poll")],
        program,
    );
    let r = run_scenario(s).await;
    let sent = r.recorder.steps[0].counts.sent;
    assert!((160..=200).contains(&sent), "sent {sent}");
    let peak = r.sessions.iter().map(|&(_, n)| n).max().unwrap_or(0);
    assert_eq!(peak, 10);
    assert!(
        r.elapsed < secs(3.0),
        "users stop at the phase end: {:?}",
        r.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_keeps_its_period_and_its_count() {
    // One iteration polling 5 times every 200 ms: 5 requests over ≥ 0.8 s.
    let target = spawn_target(TargetBehaviour::default()).await;
    let program = vec![Action::Loop {
        times: Some(5),
        every: Some(secs(0.2)),
        body: vec![req(0, 1.0)],
    }];
    let s = program_scenario(
        target.addr,
        open(1.0),
        secs(1.0),
        vec![get_step("poll")],
        program,
    );
    let r = run_scenario(s).await;
    assert_eq!(r.recorder.steps[0].counts.ok, 5);
    assert!(r.elapsed >= secs(0.8), "{:?}", r.elapsed);
    assert!(r.elapsed < secs(2.0), "{:?}", r.elapsed);
}
