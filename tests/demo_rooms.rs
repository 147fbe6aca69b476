//! The demo platform's live rooms over WebSocket: fan-out to every other
//! viewer in order, refused frames answered without closing, the two
//! slow-viewer policies, admin and shutdown closes with their codes, and
//! the platform-wide viewer bound. Every wait is bounded by a timeout.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use flashcrowd::demo::{DemoConfig, DemoServer, SlowPolicy, MAX_WIRE_BYTES, SHUTDOWN_GRACE};
use futures_util::{SinkExt, StreamExt};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::demo::{get, post, request};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upper bound for any single wait on a socket.
const STEP: Duration = Duration::from_secs(10);

fn url(addr: SocketAddr, room: &str, user: Option<&str>) -> String {
    match user {
        Some(u) => format!("ws://{addr}/ws/live/{room}?user={u}"),
        None => format!("ws://{addr}/ws/live/{room}"),
    }
}

/// Joins `room` and returns the socket with its welcome frame.
async fn join(addr: SocketAddr, room: &str, user: Option<&str>) -> (Ws, Value) {
    // Nagle's algorithm would hold back every other frame for a delayed ACK.
    let connect = tokio_tungstenite::connect_async_with_config(url(addr, room, user), None, true);
    let (mut ws, _) = timeout(STEP, connect)
        .await
        .expect("connect timed out")
        .expect("upgrade refused");
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

/// Joins with a tiny receive buffer, so a viewer that stops reading backs
/// up into the server after a few frames instead of megabytes of kernel
/// buffer.
async fn join_with_small_buffer(addr: SocketAddr, room: &str) -> Ws {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = timeout(STEP, socket.connect(addr)).await.unwrap().unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut ws, _) = timeout(
        STEP,
        tokio_tungstenite::client_async(
            url(addr, room, Some("slow")),
            MaybeTlsStream::Plain(stream),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "welcome");
    ws
}

/// The next text frame as JSON; pings and pongs are skipped, anything else
/// fails the test.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = timeout(STEP, ws.next())
            .await
            .expect("no frame within the step timeout")
            .expect("socket ended")
            .expect("socket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame and returns its code, with the
/// text frames before it; then reads on, as a well-behaved client does, so
/// the reply goes out and the handshake completes.
async fn read_to_close(ws: &mut Ws) -> (Vec<Value>, u16) {
    let mut texts = Vec::new();
    for _ in 0..100_000 {
        let msg = timeout(STEP, ws.next())
            .await
            .expect("no close within the step timeout")
            .expect("socket ended without a close frame")
            .expect("socket error");
        match msg {
            Message::Text(t) => texts.push(serde_json::from_str(&t).unwrap()),
            Message::Close(Some(frame)) => {
                let ended = timeout(STEP, ws.next()).await.expect("no end after close");
                assert!(ended.is_none(), "frame after close: {ended:?}");
                return (texts, u16::from(frame.code));
            }
            Message::Close(None) => panic!("close frame without a code"),
            _ => {}
        }
    }
    panic!("no close frame after 100000 frames");
}

async fn send(ws: &mut Ws, v: &Value) {
    timeout(STEP, ws.send(Message::text(v.to_string())))
        .await
        .unwrap()
        .unwrap();
}

async fn stats(addr: SocketAddr, room: &str) -> Value {
    let resp = get(addr, &format!("/api/rooms/{room}")).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.json);
    resp.json
}

/// Polls the room until `done` holds; the counters are updated by the
/// viewer tasks right after the frames the test has already seen.
async fn stats_when(addr: SocketAddr, room: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + STEP;
    loop {
        let s = stats(addr, room).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < until, "room never reached the state: {s}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nothing arrives on `ws` for a short while.
async fn silent(ws: &mut Ws) {
    let got = timeout(Duration::from_millis(200), ws.next()).await;
    assert!(got.is_err(), "expected silence, got {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_reaches_every_other_viewer_in_order_with_client_fields() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    let mut viewers = Vec::new();
    for i in 1..=20u64 {
        let (ws, welcome) = join(addr, "live-1", Some(&format!("u{i}"))).await;
        assert_eq!(welcome["room"], "live-1");
        assert_eq!(welcome["viewer"], i);
        assert_eq!(welcome["viewers"], i);
        viewers.push(ws);
    }
    let mut sender = viewers.remove(0);
    for i in 0..10 {
        let msg = json!({"type": "comment", "text": format!("hello {i}"), "fc": format!("x-{i}")});
        send(&mut sender, &msg).await;
    }
    for ws in &mut viewers {
        let mut last_seq = 0;
        for i in 0..10 {
            let m = next_json(ws).await;
            assert_eq!(m["type"], "comment");
            assert_eq!(m["fc"], format!("x-{i}"));
            assert_eq!(m["text"], format!("hello {i}"));
            assert_eq!(
                (m["room"].as_str(), m["user"].as_str()),
                (Some("live-1"), Some("u1"))
            );
            assert!(m["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{m}");
            let seq = m["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "seq {seq} after {last_seq}");
            last_seq = seq;
        }
        assert_eq!(last_seq, 10);
    }
    silent(&mut sender).await;

    let s = stats_when(addr, "live-1", |s| s["deliveries"] == 190).await;
    assert_eq!(s["broadcasts"], 10);
    assert_eq!(s["deliveries"], 190);
    assert_eq!(s["dropped"], 0);
    assert_eq!(s["viewers"], 20);
    assert_eq!(s["joined"], 20);
    assert_eq!(s["comment_count"], 10);
    let page = get(addr, "/api/rooms/live-1/comments").await;
    let texts: Vec<&str> = page.json["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        (0..10).map(|i| format!("hello {i}")).collect::<Vec<_>>()
    );
    assert_eq!(page.json["comments"][0]["user"], "u1");
    drop((sender, viewers));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_frames_get_an_error_reply_and_the_socket_stays_usable() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    let (mut a, welcome) = join(addr, "chat", None).await;
    assert_eq!(welcome["viewer"], 1);
    let (mut b, _) = join(addr, "chat", Some("bea")).await;

    let bad = [
        (Message::text("not json"), "malformed_json"),
        (Message::text("x".repeat(9_000)), "payload_too_large"),
        (Message::text(r#"[1,2]"#), "invalid_body"),
        (Message::text(r#"{"type":"dance"}"#), "invalid_field"),
        (
            Message::text(r#"{"type":"comment","text":""}"#),
            "invalid_field",
        ),
        (Message::binary(vec![1u8, 2, 3]), "invalid_body"),
    ];
    for (frame, code) in bad {
        timeout(STEP, a.send(frame)).await.unwrap().unwrap();
        let reply = next_json(&mut a).await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["error"], code, "{reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    timeout(STEP, a.send(Message::Ping(b"hi".to_vec().into())))
        .await
        .unwrap()
        .unwrap();
    let pong = timeout(STEP, a.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(pong, Message::Pong(b"hi".to_vec().into()));

    send(
        &mut a,
        &json!({"type": "vote", "option": 2, "user": "spoof", "seq": 77}),
    )
    .await;
    let got = next_json(&mut b).await;
    assert_eq!(got["type"], "vote");
    assert_eq!(got["option"], 2);
    assert_eq!(got["user"], "viewer-1");
    assert_eq!(got["seq"], 1);
    silent(&mut a).await;

    // A frame beyond what the socket reads at all is the one refusal that
    // closes it; the server reads no further, so the close may end in a
    // reset instead of a handshake.
    let huge = json!({"type": "like", "pad": "x".repeat(MAX_WIRE_BYTES)});
    send(&mut a, &huge).await;
    let close = timeout(STEP, a.next()).await.unwrap().unwrap().unwrap();
    match close {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a close frame, got {other:?}"),
    }
    let s = stats_when(addr, "chat", |s| s["viewers"] == 1).await;
    assert_eq!(
        (s["broadcasts"].as_u64(), s["votes"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["comment_count"], 0);
    drop(b);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_the_upgrade_are_json_errors() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    let plain = get(addr, "/ws/live/live-1").await;
    assert_eq!(plain.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(plain.error(), "upgrade_required");
    match tokio_tungstenite::connect_async(format!("ws://{addr}/ws/live/no%20spaces")).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::BAD_REQUEST),
        other => panic!("expected 400, got {other:?}"),
    }
    let long_user = "u".repeat(65);
    match tokio_tungstenite::connect_async(url(addr, "live-1", Some(&long_user))).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY),
        other => panic!("expected 422, got {other:?}"),
    }
    let missing = request(
        addr,
        Method::POST,
        "/api/rooms/nobody/disconnect",
        &[],
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error(), "room_not_found");
    server.shutdown().await;
}

/// Most messages a flood may take before the slow viewer must be behind.
const MAX_FLOOD: u64 = 20_000;

/// A sender, a fast viewer that keeps up, and a slow viewer that reads
/// nothing while large likes are broadcast. The sender waits for the fast
/// viewer every few messages so only the slow one can fall behind, and
/// stops once the room's counters show the slow viewer's writes stalled
/// with more than `backlog` messages sent since: however much the kernel
/// buffers, it is then past the queue. Returns the sockets and the count.
async fn flood_past_a_slow_viewer(addr: SocketAddr, room: &str, backlog: u64) -> ([Ws; 3], u64) {
    let (mut sender, _) = join(addr, room, Some("host")).await;
    let (mut fast, _) = join(addr, room, Some("fast")).await;
    let slow = join_with_small_buffer(addr, room).await;
    let pad = "p".repeat(6_000);
    let mut sent = 0u64;
    while sent < MAX_FLOOD {
        for i in sent..sent + 4 {
            let like = json!({"type": "like", "fc": format!("m-{i}"), "pad": pad});
            send(&mut sender, &like).await;
        }
        for i in sent..sent + 4 {
            let m = next_json(&mut fast).await;
            assert_eq!(m["fc"], format!("m-{i}"), "fast viewer lost a message");
            assert_eq!(m["seq"], i + 1);
        }
        sent += 4;
        if sent % 64 == 0 {
            // Deliveries are the fast viewer's `sent` plus the slow one's.
            let delivered = stats(addr, room).await["deliveries"].as_u64().unwrap();
            let slow_behind = sent - delivered.saturating_sub(sent).min(sent);
            if slow_behind > backlog {
                return ([sender, fast, slow], sent);
            }
        }
    }
    panic!("the slow viewer kept up with {MAX_FLOOD} messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_policy_skips_what_a_slow_viewer_missed_and_says_how_many() {
    let cfg = DemoConfig {
        ws_queue: 8,
        ws_slow_policy: SlowPolicy::Lag,
        ..DemoConfig::default()
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let ([_sender, _fast, mut slow], count) = flood_past_a_slow_viewer(addr, "lag", 64).await;

    // The slow viewer reads on: what its socket held, one lag notice, then
    // the newest messages up to the last one.
    let mut received = 0u64;
    let mut missed = 0u64;
    let mut last_seq = 0;
    for _ in 0..=count {
        let m = next_json(&mut slow).await;
        if m["type"] == "lagged" {
            let n = m["missed"].as_u64().unwrap();
            assert!(n > 0);
            missed += n;
            continue;
        }
        let seq = m["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
        received += 1;
        if m["fc"] == format!("m-{}", count - 1) {
            break;
        }
    }
    assert!(missed > 0, "the slow viewer never lagged");
    assert_eq!(received + missed, count);
    let s = stats_when(addr, "lag", |s| {
        s["deliveries"].as_u64() == Some(count + received)
    })
    .await;
    assert_eq!(s["dropped"], missed);
    assert_eq!(s["broadcasts"], count);
    assert_eq!(s["likes"], count);
    assert_eq!(s["slow_disconnects"], 0);
    assert_eq!(s["viewers"], 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_policy_closes_a_slow_viewer_with_1008_only() {
    let cfg = DemoConfig {
        ws_queue: 8,
        ws_slow_policy: SlowPolicy::Disconnect,
        ..DemoConfig::default()
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let ([mut sender, mut fast, mut slow], count) =
        flood_past_a_slow_viewer(addr, "strict", 64).await;
    let (texts, code) = read_to_close(&mut slow).await;
    assert_eq!(code, 1008);
    assert!(
        (texts.len() as u64) < count,
        "the slow viewer got all {count}"
    );
    assert!(texts.iter().all(|m| m["type"] == "like"));
    let s = stats_when(addr, "strict", |s| s["viewers"] == 2).await;
    assert_eq!(s["slow_disconnects"], 1);
    assert_eq!(s["dropped"], 0);
    // The others are still served.
    send(&mut sender, &json!({"type": "like", "fc": "after"})).await;
    assert_eq!(next_json(&mut fast).await["fc"], "after");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_disconnect_closes_every_viewer_with_1012() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    let mut viewers = Vec::new();
    for _ in 0..5 {
        viewers.push(join(addr, "restart", None).await.0);
    }
    let resp = post(addr, "/api/rooms/restart/disconnect", &json!({})).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json, json!({"closed": 5}));
    for ws in &mut viewers {
        let (texts, code) = read_to_close(ws).await;
        assert!(texts.is_empty());
        assert_eq!(code, 1012);
    }
    let s = stats_when(addr, "restart", |s| s["viewers"] == 0).await;
    assert_eq!(s["admin_disconnects"], 5);
    assert_eq!(s["joined"], 5);
    // The room takes viewers again at once, as a reconnect storm needs.
    let (_again, welcome) = join(addr, "restart", None).await;
    assert_eq!(welcome["viewer"], 6);
    assert_eq!(welcome["viewers"], 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_viewers_with_1001_within_the_grace() {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let parent = CancellationToken::new();
    let server = DemoServer::spawn(listen, DemoConfig::default(), parent.clone())
        .await
        .unwrap();
    let addr = server.addr;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(async move {
                let (mut ws, _) = join(addr, "bye", None).await;
                read_to_close(&mut ws).await.1
            })
        })
        .collect();
    stats_when(addr, "bye", |s| s["viewers"] == 3).await;
    let started = Instant::now();
    parent.cancel();
    server.shutdown().await;
    let took = started.elapsed();
    assert!(took < SHUTDOWN_GRACE, "shutdown took {took:?}");
    for r in readers {
        assert_eq!(timeout(STEP, r).await.unwrap().unwrap(), 1001);
    }
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_bound_refuses_one_more_with_503_until_a_slot_frees() {
    let cfg = DemoConfig {
        ws_max_viewers: 3,
        ..DemoConfig::default()
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let mut viewers = Vec::new();
    for room in ["a", "b", "a"] {
        viewers.push(join(addr, room, None).await.0);
    }
    match tokio_tungstenite::connect_async(url(addr, "c", None)).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"], "capacity_exhausted");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // A client's close is answered, and its slot given back.
    let mut first = viewers.remove(0);
    timeout(STEP, first.close(None)).await.unwrap().unwrap();
    let reply = timeout(STEP, first.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(reply, Message::Close(_)), "{reply:?}");
    assert!(timeout(STEP, first.next()).await.unwrap().is_none());
    let until = Instant::now() + STEP;
    loop {
        match tokio_tungstenite::connect_async(url(addr, "c", None)).await {
            Ok(_) => break,
            Err(WsError::Http(resp)) if resp.status() == StatusCode::SERVICE_UNAVAILABLE => {
                assert!(Instant::now() < until, "the slot was never given back");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    server.shutdown().await;
}
