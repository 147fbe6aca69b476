//! Live rooms against the demo platform: comment fan-out to a full room,
//! a viewer too slow for the platform's queue, and the platform closing
//! every socket mid-run.

mod support;

use std::path::Path;
use std::time::Duration;

use flashcrowd::demo::{DemoConfig, DemoServer, SlowPolicy};
use flashcrowd::engine::RunResult;
use flashcrowd::metrics::{Counts, WsStats};
use flashcrowd::scenario::Scenario;

struct Ran {
    scenario: Scenario,
    r: RunResult,
}

impl Ran {
    /// Metric key of step `name` in phase `phase`.
    fn key(&self, phase: &str, name: &str) -> usize {
        let pi = self
            .scenario
            .phases
            .iter()
            .position(|p| p.name == phase)
            .unwrap();
        let flow = &self.scenario.flows[self.scenario.phases[pi].flow];
        let si = flow.steps.iter().position(|s| s.name == name);
        self.r
            .keys
            .key(pi, si.unwrap_or_else(|| panic!("no step {name}")), 0)
    }

    fn ws(&self, phase: &str, name: &str) -> &WsStats {
        &self.r.recorder.ws[self.key(phase, name)]
    }

    fn counts(&self, phase: &str, name: &str) -> &Counts {
        &self.r.recorder.steps[self.key(phase, name)].counts
    }
}

async fn run(demo: &DemoServer, yaml: &str) -> Ran {
    let yaml = yaml.replace("TARGET", &demo.url());
    let scenario = flashcrowd::scenario::load_str(Path::new("room.yaml"), &yaml).unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        support::run_scenario(scenario.clone()),
    )
    .await
    .expect("the run ends by itself");
    Ran { scenario, r }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_comment_reaches_every_other_viewer_of_a_200_viewer_room() {
    let demo = support::demo::spawn(DemoConfig::default()).await;
    // 200 viewers hold their sockets for the whole phase. After everyone
    // is in, each comments once at a random moment within 2.5 s and a
    // quarter of them once more: ~250 comments in ~5 s, ~50/s.
    let ran = run(
        &demo,
        r#"
name: room-200
target: TARGET
seed: 11
phases:
  - name: room
    duration: 7s
    load: { users: 200 }
    flow: viewer
flows:
  viewer:
    - { name: join, ws: "/ws/live/main?user=v{{ seq() }}", timeout: 5s }
    - { name: welcome, await: { type: welcome }, timeout: 5s }
    - think: 1s
    - think: 0s .. 2.5s
    - { name: comment, send: { type: comment, text: "hello from {{ seq() }}" } }
    - choose:
        - weight: 25%
          steps:
            - think: 0s .. 2.5s
            - { name: comment-again, send: { type: comment, text: "again {{ seq() }}" } }
        - { weight: 75%, steps: [] }
    - think: 60s
"#,
    )
    .await;
    assert_eq!(
        (
            ran.counts("room", "join").ok,
            ran.counts("room", "join").errors
        ),
        (200, 0)
    );
    let mut comments = 0;
    for step in ["comment", "comment-again"] {
        let c = ran.ws("room", step);
        comments += c.messages;
        assert_eq!(
            c.expected,
            c.messages * 199,
            "{step}: every other viewer was in the room"
        );
        assert_eq!(c.received, c.expected, "{step}: delivery ratio 1.0");
        assert_eq!(
            c.fanout.len(),
            c.received,
            "{step}: one sample per delivery"
        );
        assert_eq!((c.duplicates, c.echoes), (0, 0));
        // Loopback fan-out takes milliseconds, not the phase's seconds.
        let p99 = c.fanout.value_at_quantile(0.99);
        assert!(p99 < 1_000_000, "{step}: p99 {p99} µs");
    }
    assert!((200..=300).contains(&comments), "{comments} comments");
    // The platform agrees.
    let room = support::demo::get(demo.addr, "/api/rooms/main").await;
    assert_eq!(room.json["broadcasts"], comments);
    assert_eq!(room.json["deliveries"], comments * 199);
    assert_eq!(room.json["dropped"], 0);
    demo.shutdown().await;
}

/// Nineteen viewers send long comments, ~475 a second in all, while one
/// viewer reads a message every 20 ms: once the socket buffers between
/// them are full, the platform's queue for it (64 messages) overflows.
const SLOW_ROOM: &str = r#"
name: slow-viewer
target: TARGET
seed: 5
phases:
  - name: fast
    duration: 6s
    load: { users: 19 }
    flow: fast
  - name: slow
    at: 0s
    duration: 6s
    load: { users: 1 }
    flow: slow
flows:
  fast:
    - { name: join, ws: /ws/live/slow }
    - { name: welcome, await: { type: welcome } }
    - think: 500ms .. 540ms
    - loop:
        times: 100
        every: 40ms
        steps:
          - name: comment
            send: { type: comment, text: "{{ text }}" }
    - think: 60s
  slow:
    - { name: join, ws: /ws/live/slow, read_delay: 20ms }
    - { name: welcome, await: { type: welcome } }
    - think: 60s
vars:
  text: "LONGTEXT"
"#;

fn slow_room() -> String {
    SLOW_ROOM.replace("LONGTEXT", &"x".repeat(480))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_shows_up_as_missing_deliveries_not_a_hang() {
    let demo = support::demo::spawn(DemoConfig {
        ws_queue: 64,
        ws_slow_policy: SlowPolicy::Lag,
        ..DemoConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    let ran = run(&demo, &slow_room()).await;
    assert!(started.elapsed() < Duration::from_secs(20), "bounded");
    let c = ran.ws("fast", "comment");
    assert_eq!(c.messages, 19 * 100);
    // 18 fast receivers per message plus the slow one.
    assert_eq!(c.expected, c.messages * 19);
    let missing = c.expected - c.received;
    assert!(missing > 0, "the slow viewer missed messages");
    assert!(
        missing <= c.messages,
        "only the slow viewer misses: {missing}"
    );
    let room = support::demo::get(demo.addr, "/api/rooms/slow").await;
    assert!(room.json["dropped"].as_u64().unwrap() > 0, "{}", room.json);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_cut_off_by_the_platform_is_a_counted_close() {
    let demo = support::demo::spawn(DemoConfig {
        ws_queue: 64,
        ws_slow_policy: SlowPolicy::Disconnect,
        ..DemoConfig::default()
    })
    .await;
    let ran = run(&demo, &slow_room()).await;
    let slow = ran.ws("slow", "join");
    assert_eq!(slow.closed_by_server.get(&1008), Some(&1), "{slow:?}");
    assert_eq!(slow.reconnects, 0);
    let fast = ran.ws("fast", "join");
    assert!(fast.closed_by_server.is_empty() && fast.broken == 0);
    let room = support::demo::get(demo.addr, "/api/rooms/slow").await;
    assert_eq!(room.json["slow_disconnects"], 1);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_reconnect_after_the_platform_drops_every_socket() {
    let demo = support::demo::spawn(DemoConfig::default()).await;
    // At 2 s an operator restarts the room's socket server; viewers come
    // back with jittered back-off and keep receiving comments.
    let ran = run(
        &demo,
        r#"
name: restart
target: TARGET
seed: 3
phases:
  - name: room
    duration: 5s
    load: { users: 30 }
    flow: viewer
  - name: restart
    at: 2s
    duration: 1s
    load: { rate: 1/s }
    flow: restart
flows:
  viewer:
    - name: join
      ws: "/ws/live/rs?user=v{{ seq() }}"
      reconnect: { backoff: 100ms, max: 500ms }
    - { name: welcome, await: { type: welcome } }
    - loop:
        every: 500ms
        steps:
          - { name: comment, send: { type: comment, text: "still here" } }
  restart:
    - { name: kick, post: /api/rooms/rs/disconnect, expect: 200 }
"#,
    )
    .await;
    assert_eq!(ran.counts("restart", "kick").ok, 1);
    let join = ran.ws("room", "join");
    assert_eq!(join.closed_by_server.get(&1012), Some(&30), "{join:?}");
    assert_eq!(join.reconnects, 30);
    assert_eq!(join.broken, 0);
    let joins = ran.counts("room", "join");
    assert_eq!((joins.ok, joins.errors), (60, 0));
    // Comments went on after the restart and still reached the room.
    let c = ran.ws("room", "comment");
    assert!(c.messages > 200, "{} comments", c.messages);
    assert!(
        c.delivery_ratio().unwrap() > 0.9,
        "{:?}",
        c.delivery_ratio()
    );
    assert!(!ran.r.interrupted);
    demo.shutdown().await;
}
