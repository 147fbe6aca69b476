//! WebSocket steps against a small platform of the tests' own that wraps
//! every message in an envelope before broadcasting it (as many real
//! platforms do): fan-out is matched by flashcrowd's tracking field, not
//! by the message's shape.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use flashcrowd::engine::RunResult;
use flashcrowd::metrics::{Counts, WsStats};
use flashcrowd::scenario::Scenario;

/// How the fixture platform behaves.
#[derive(Clone, Copy, Default)]
struct Platform {
    /// Close every socket (code 1012) once, this long after start.
    kick_after: Option<Duration>,
    /// Also send each message back to its sender.
    echo: bool,
}

/// The `traceparent` headers of the handshakes a fixture platform saw.
type Seen = Arc<std::sync::Mutex<Vec<String>>>;

/// Accepts a handshake, noting its `traceparent` header if it has one.
// The callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn handshake<S>(stream: S, seen: &Seen) -> Option<tokio_tungstenite::WebSocketStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let note = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
        if let Some(v) = req.headers().get("traceparent") {
            if let Ok(mut s) = seen.lock() {
                s.push(v.to_str().unwrap_or_default().to_owned());
            }
        }
        Ok(resp)
    };
    tokio_tungstenite::accept_hdr_async(stream, note).await.ok()
}

/// A broadcast server on 127.0.0.1:0: every text message a client sends
/// goes to every connected client (all of one room) as
/// `{"seq":N,"payload":<message>}`; the first message on connect is
/// `{"type":"welcome"}`.
async fn spawn_platform(p: Platform) -> SocketAddr {
    spawn_platform_on(p, None, Seen::default()).await
}

/// [`spawn_platform`], speaking TLS with `tls` when given (`wss://`), and
/// noting the handshakes' trace context in `seen`.
async fn spawn_platform_on(
    p: Platform,
    tls: Option<tokio_rustls::TlsAcceptor>,
    seen: Seen,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, _) = broadcast::channel::<(u64, Arc<String>)>(100_000);
    let kick = CancellationToken::new();
    if let Some(after) = p.kick_after {
        let kick = kick.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            kick.cancel();
        });
    }
    let seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
    tokio::spawn(async move {
        let mut next_id = 0u64;
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            next_id += 1;
            // Subscribed before the handshake: a viewer counts as joined
            // once it has the 101, and must get everything sent after.
            let room = Room {
                id: next_id,
                rx: tx.subscribe(),
                tx: tx.clone(),
                seq: seq.clone(),
                kick: kick.clone(),
                echo: p.echo,
            };
            let (tls, seen) = (tls.clone(), seen.clone());
            tokio::spawn(async move {
                match tls {
                    None => {
                        if let Some(ws) = handshake(tcp, &seen).await {
                            room.serve(ws).await;
                        }
                    }
                    Some(tls) => {
                        let Ok(stream) = tls.accept(tcp).await else {
                            return;
                        };
                        if let Some(ws) = handshake(stream, &seen).await {
                            room.serve(ws).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// One viewer's socket on the fixture platform.
struct Room {
    id: u64,
    rx: broadcast::Receiver<(u64, Arc<String>)>,
    tx: broadcast::Sender<(u64, Arc<String>)>,
    seq: Arc<std::sync::atomic::AtomicU64>,
    kick: CancellationToken,
    echo: bool,
}

impl Room {
    async fn serve<S>(mut self, mut ws: tokio_tungstenite::WebSocketStream<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let kicked = self.kick.is_cancelled();
        if ws
            .send(Message::text(r#"{"type":"welcome"}"#))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                _ = self.kick.cancelled(), if !kicked => {
                    let frame = CloseFrame { code: CloseCode::Restart, reason: "".into() };
                    let _ = ws.close(Some(frame)).await;
                    return;
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        let wrapped = format!(r#"{{"seq":{n},"payload":{}}}"#, t.as_str());
                        let _ = self.tx.send((self.id, Arc::new(wrapped)));
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
                out = self.rx.recv() => match out {
                    Ok((from, text)) if from != self.id || self.echo => {
                        if ws.send(Message::text(text.as_str())).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
            }
        }
    }
}

struct Ran {
    scenario: Scenario,
    r: RunResult,
}

async fn run_yaml(yaml: &str) -> Ran {
    let scenario = flashcrowd::scenario::load_str(Path::new("ws.yaml"), yaml).unwrap();
    let r = support::run_scenario(scenario.clone()).await;
    Ran { scenario, r }
}

impl Ran {
    /// Metric key of the first phase's step called `name`.
    fn key(&self, name: &str) -> usize {
        let flow = &self.scenario.flows[self.scenario.phases[0].flow];
        let step = flow.steps.iter().position(|s| s.name == name);
        self.r
            .keys
            .key(0, step.unwrap_or_else(|| panic!("no step {name}")), 0)
    }

    fn ws(&self, name: &str) -> &WsStats {
        &self.r.recorder.ws[self.key(name)]
    }

    fn counts(&self, name: &str) -> &Counts {
        &self.r.recorder.steps[self.key(name)].counts
    }

    fn ok_err(&self, name: &str) -> (u64, u64) {
        let c = self.counts(name);
        (c.ok, c.errors)
    }
}

fn room_scenario(addr: SocketAddr, viewers: u32, extra: &str, connect_extra: &str) -> String {
    // Users repeat their flow until the phase ends; the long last think
    // makes one pass last the whole phase.
    format!(
        r#"
name: ws-room
target: http://{addr}
seed: 7
phases:
  - name: room
    duration: 3s
    load: {{ users: {viewers} }}
    flow: viewer
flows:
  viewer:
    - name: join
      ws: /live/r1?user=v{{{{ seq() }}}}
      {connect_extra}
    - name: welcome
      await: {{ type: welcome }}
      timeout: 2s
    - think: 300ms
    - loop:
        times: 5
        every: 200ms
        steps:
          - name: comment
            send: {{ type: comment, text: "hi from {{{{ seq() }}}}" }}
    - think: 10s
{extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_comment_reaches_every_other_viewer_through_an_envelope() {
    let addr = spawn_platform(Platform::default()).await;
    let r = run_yaml(&room_scenario(addr, 20, "", "")).await;
    let joins = r.ok_err("join");
    assert_eq!(joins, (20, 0), "every viewer connects");
    assert_eq!(r.ok_err("welcome"), (20, 0));
    let c = r.ws("comment");
    // Users repeat the flow until the phase ends, so count what was sent.
    assert!(c.messages >= 100, "{} messages", c.messages);
    assert_eq!(c.expected, c.messages * 19);
    assert_eq!(c.received, c.expected, "delivery ratio 1.0");
    assert_eq!(c.fanout.len(), c.received);
    assert_eq!((c.duplicates, c.echoes), (0, 0));
    assert_eq!(c.delivery_ratio(), Some(1.0));
    // Loopback fan-out is fast; the histogram holds real latencies.
    assert!(
        c.fanout.value_at_quantile(0.99) < 500_000,
        "p99 {} µs",
        c.fanout.value_at_quantile(0.99)
    );
    // Every sample is a real delay, measured in µs from the intended send:
    // none can exceed the phase itself.
    assert!(c.fanout.max() < 3_000_000, "max {} µs", c.fanout.max());
    let join = r.ws("join");
    assert_eq!(join.reconnects, 0);
    assert!(join.messages_in >= c.received + 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_echoes_to_the_sender_is_not_counted_twice() {
    let addr = spawn_platform(Platform {
        echo: true,
        ..Platform::default()
    })
    .await;
    let r = run_yaml(&room_scenario(addr, 5, "", "")).await;
    let c = r.ws("comment");
    assert_eq!(c.echoes, c.messages);
    assert_eq!(c.received, c.messages * 4);
    assert_eq!(c.delivery_ratio(), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_closed_by_the_server_come_back_and_are_counted() {
    let addr = spawn_platform(Platform {
        kick_after: Some(Duration::from_millis(1_500)),
        ..Platform::default()
    })
    .await;
    let yaml = room_scenario(addr, 10, "", "reconnect: { backoff: 50ms, max: 200ms }");
    let r = run_yaml(&yaml).await;
    let join = r.ws("join");
    assert_eq!(join.closed_by_server.get(&1012), Some(&10), "{join:?}");
    assert_eq!(join.reconnects, 10);
    // The reconnects are connect attempts of the same step.
    let (ok, errors) = r.ok_err("join");
    assert!(ok >= 20 && errors == 0, "{ok} ok, {errors} errors");
    assert!(!r.r.interrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_reconnect_policy_a_closed_socket_stays_closed_and_sends_fail() {
    let addr = spawn_platform(Platform {
        kick_after: Some(Duration::from_millis(400)),
        ..Platform::default()
    })
    .await;
    let r = run_yaml(&room_scenario(addr, 4, "", "")).await;
    let join = r.ws("join");
    assert_eq!(join.closed_by_server.get(&1012), Some(&4));
    assert_eq!(join.reconnects, 0);
    let (_, errors) = r.ok_err("comment");
    assert!(errors >= 4, "each viewer's next send fails: {errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_await_that_sees_no_match_times_out() {
    let addr = spawn_platform(Platform::default()).await;
    let yaml = format!(
        r#"
name: ws-await
target: http://{addr}
seed: 1
phases:
  - name: p
    duration: 1s
    load: {{ sessions: {{ join: 2/s }} }}
    flow: f
flows:
  f:
    - name: join
      ws: /live/r2
    - name: never
      await: {{ type: goodbye }}
      timeout: 300ms
"#
    );
    let r = run_yaml(&yaml).await;
    let c = r.counts("never");
    assert_eq!((c.sent, c.timeout), (2, 2));
    let p50 = r.r.recorder.steps[r.key("never")]
        .latency
        .value_at_quantile(0.5);
    assert!(
        (300_000..400_000).contains(&p50),
        "timed out after {p50} µs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_leave_from_the_source_addresses_asked_for() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = peers.clone();
    tokio::spawn(async move {
        for _ in 0..6 {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            seen.lock().unwrap().push(peer.ip());
            tokio::spawn(async move {
                if let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await {
                    let _ = ws.send(Message::text(r#"{"type":"welcome"}"#)).await;
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    let yaml = format!(
        r#"
name: sources
target: http://{addr}
seed: 1
phases:
  - {{ name: p, duration: 1s, load: {{ users: 6 }}, flow: f }}
flows:
  f:
    - {{ name: join, ws: /live/s }}
    - {{ name: welcome, await: {{ type: welcome }} }}
    - think: 10s
"#
    );
    let scenario = flashcrowd::scenario::load_str(Path::new("s.yaml"), &yaml).unwrap();
    let cfg = flashcrowd::engine::RunConfig {
        sources: vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()],
        ..flashcrowd::engine::RunConfig::default()
    };
    let r = support::run_with(scenario, cfg, CancellationToken::new()).await;
    assert!(!r.interrupted);
    let mut ips: Vec<String> = peers
        .lock()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    ips.sort();
    assert_eq!(
        ips,
        [
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.3",
            "127.0.0.3"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_is_a_connect_error_not_a_hang() {
    // Bind and drop: nothing listens there any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml =
        room_scenario(addr, 3, "", "").replace("{ users: 3 }", "{ sessions: { join: 3/s } }");
    let r = run_yaml(&yaml).await;
    let c = r.counts("join");
    assert!(c.connect_error == 9 && c.ok == 0, "{c:?}");
    assert_eq!(r.ok_err("comment"), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_room_delivers_every_comment_over_tls_trusting_the_ca_file_only() {
    let (acceptor, pem) = support::tls::self_signed(&["localhost"]);
    let addr = spawn_platform_on(Platform::default(), Some(acceptor), Seen::default()).await;
    let dir = std::env::temp_dir().join(format!("flashcrowd-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let yaml = room_scenario(addr, 10, "", "").replace(
        &format!("target: http://{addr}"),
        &format!("target: https://localhost:{}", addr.port()),
    );
    let scenario = flashcrowd::scenario::load_str(Path::new("wss.yaml"), &yaml).unwrap();
    let cfg = |ca_file: Option<std::path::PathBuf>| flashcrowd::engine::RunConfig {
        tls: flashcrowd::engine::tls::TlsOptions {
            ca_file,
            insecure: false,
        },
        ..flashcrowd::engine::RunConfig::default()
    };

    let r = Ran {
        scenario: scenario.clone(),
        r: support::run_with(scenario.clone(), cfg(Some(ca)), CancellationToken::new()).await,
    };
    assert_eq!(r.ok_err("join"), (10, 0), "every viewer connects over TLS");
    assert_eq!(r.ok_err("welcome"), (10, 0));
    let c = r.ws("comment");
    assert!(c.messages >= 50, "{} messages", c.messages);
    assert_eq!(c.expected, c.messages * 9);
    assert_eq!(c.received, c.expected, "delivery ratio 1.0 over wss");
    assert_eq!((c.duplicates, c.echoes), (0, 0));

    // Without the CA the handshake is refused: no viewer joins.
    let refused = Ran {
        scenario: scenario.clone(),
        r: support::run_with(scenario, cfg(None), CancellationToken::new()).await,
    };
    let (ok, errors) = refused.ok_err("join");
    assert_eq!(ok, 0, "a join succeeded against an untrusted certificate");
    assert!(errors >= 10, "{errors} failed joins");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_handshake_carries_trace_context_and_is_listed_as_a_span() {
    let seen = Seen::default();
    let addr = spawn_platform_on(Platform::default(), None, seen.clone()).await;
    let yaml = room_scenario(addr, 8, "telemetry:\n  trace: { sample: 100% }\n", "");
    let scenario = flashcrowd::scenario::load_str(Path::new("ws.yaml"), &yaml).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let cfg = flashcrowd::engine::RunConfig {
        trace: Some(flashcrowd::engine::TraceSetup {
            run_id: "ws-trace".to_owned(),
            spans: Some(tx),
            dropped: Arc::default(),
        }),
        ..flashcrowd::engine::RunConfig::default()
    };
    let r = Ran {
        scenario: scenario.clone(),
        r: support::run_with(scenario, cfg, CancellationToken::new()).await,
    };
    assert_eq!(r.ok_err("join"), (8, 0));
    let headers = seen.lock().unwrap().clone();
    assert_eq!(headers.len(), 8, "{headers:?}");
    let join = r.key("join");
    let mut spans = Vec::new();
    while let Ok(s) = rx.try_recv() {
        if s.key as usize == join {
            spans.push(s);
        }
    }
    assert_eq!(spans.len(), 8, "one client span per handshake");
    for h in &headers {
        // version-trace-span-flags, sampled, and the span the engine exported.
        let parts: Vec<&str> = h.split('-').collect();
        assert_eq!(parts.len(), 4, "{h}");
        assert_eq!((parts[0], parts[3]), ("00", "01"), "{h}");
        assert!(
            spans
                .iter()
                .any(|s| s.ids.trace_hex() == parts[1] && s.ids.span_hex() == parts[2]),
            "{h} has no exported span"
        );
    }
    assert!(spans
        .iter()
        .all(|s| s.outcome == flashcrowd::metrics::Outcome::Ok { status: 101 }));
}
