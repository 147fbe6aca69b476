//! Unit tests of WebSocket steps through the whole loader: what each kind
//! becomes in the model, defaults, and the captures an `await` feeds.

use std::path::Path;
use std::time::Duration;

use super::*;

fn no_files(_: &Path) -> Result<Vec<u8>, String> {
    Err("no such file".into())
}

fn load(items: &str) -> Scenario {
    let text = format!(
        "name: t\nvars:\n  room: main\nphases:\n  - {{ name: p, duration: 1m, load: {{ users: 2 }}, flow: f }}\nflows:\n  f:\n{items}"
    );
    match load_with(Path::new("t.yaml"), &text, &mut no_files) {
        Ok(s) => s,
        Err(e) => panic!("expected a scenario, got:\n{e}"),
    }
}

fn ws(s: &Scenario, i: usize) -> &WsStep {
    match &s.flows[0].steps[i].kind {
        StepKind::Ws(w) => w,
        StepKind::Http(_) => panic!("step {i} is HTTP"),
    }
}

#[test]
fn the_four_kinds_reach_the_model_with_their_defaults() {
    let s = load(
        r#"    - { name: join, ws: "/ws/live/{{ room }}?u={{ seq() }}", headers: { X-Token: t } }
    - { name: hello, await: { type: welcome }, timeout: 2s, capture: { me: { json: viewer } } }
    - { name: say, send: { type: comment, text: "hi {{ me }}" } }
    - { name: raw, send: "ping" }
    - close: true
"#,
    );
    let WsStep::Connect(c) = ws(&s, 0) else {
        panic!("not a connect")
    };
    assert_eq!(c.path.source(), "/ws/live/{{ room }}?u={{ seq() }}");
    assert_eq!(c.headers.len(), 1);
    assert_eq!(
        (c.track.as_str(), c.reconnect, c.read_delay),
        ("fc", Reconnect::Never, None)
    );
    assert!(c.room.is_none());
    assert_eq!(s.flows[0].steps[0].timeout, Duration::from_secs(10));
    let WsStep::Await(a) = ws(&s, 1) else {
        panic!("not an await")
    };
    assert_eq!(a.checks.len(), 1);
    assert_eq!(a.captures.len(), 1);
    assert_eq!(s.flows[0].steps[1].timeout, Duration::from_secs(2));
    assert!(matches!(ws(&s, 2), WsStep::Send(WsSend::Tracked(_))));
    assert!(matches!(ws(&s, 3), WsStep::Send(WsSend::Text(_))));
    assert!(matches!(ws(&s, 4), WsStep::Close));
    assert_eq!(s.flows[0].steps[4].name, "f.4");
    assert_eq!(s.flows[0].steps[2].method_label(), "WS SEND");
    // The captured `me` is a session variable the send's template uses.
    assert_eq!(s.flows[0].vars, ["me"]);
}

#[test]
fn reconnect_policies_and_connect_options_are_read() {
    let s = load(
        r#"    - { name: a, ws: /a, reconnect: immediate, room: "{{ room }}", track: x_id, read_delay: 50ms }
    - { name: b, ws: /b, reconnect: { backoff: 100ms, max: 2s } }
    - { name: c, ws: /c, reconnect: { backoff: 1s } }
"#,
    );
    let WsStep::Connect(a) = ws(&s, 0) else {
        panic!()
    };
    assert_eq!(a.reconnect, Reconnect::Immediate);
    assert_eq!(a.track, "x_id");
    assert_eq!(a.read_delay, Some(Duration::from_millis(50)));
    assert_eq!(a.room.as_ref().map(|r| r.source()), Some("{{ room }}"));
    let WsStep::Connect(b) = ws(&s, 1) else {
        panic!()
    };
    assert_eq!(
        b.reconnect,
        Reconnect::Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2)
        }
    );
    // Without `max`, 32 times the base.
    let WsStep::Connect(c) = ws(&s, 2) else {
        panic!()
    };
    assert_eq!(
        c.reconnect,
        Reconnect::Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(32)
        }
    );
}
