//! Unit tests of `ledger:`, `retry:` and `invariants:` through the whole
//! loader: defaults, the long forms, and every mistake reported where it
//! is written.

use std::path::Path;
use std::time::Duration;

use super::*;

fn no_files(_: &Path) -> Result<Vec<u8>, String> {
    Err("no such file".into())
}

fn text(steps: &str, invariants: &str) -> String {
    format!(
        "name: t\nphases:\n  - {{ name: p, duration: 1s, load: {{ rate: 1/s }}, flow: f }}\nflows:\n  f:\n{steps}{invariants}"
    )
}

fn load(steps: &str, invariants: &str) -> Scenario {
    match load_with(Path::new("t.yaml"), &text(steps, invariants), &mut no_files) {
        Ok(s) => s,
        Err(e) => panic!("expected a scenario, got:\n{e}"),
    }
}

fn diags(steps: &str, invariants: &str) -> Vec<Diagnostic> {
    match load_with(Path::new("t.yaml"), &text(steps, invariants), &mut no_files) {
        Err(LoadError::Invalid(d)) => d.0,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected problems"),
    }
}

fn request(s: &Scenario, i: usize) -> &Request {
    s.flows[0].steps[i].http().expect("an HTTP step")
}

const CHECKOUT: &str = r#"    - name: checkout
      post: /api/checkout
      headers: { Idempotency-Key: "{{ uuid() }}" }
      json: { sku: drop-1, qty: 1 }
      ledger: checkout
      retry: { on: [timeout, reset, 5xx, 429] }
      capture: { order: { json: order_id } }
    - { name: track, get: "/api/orders/{{ order }}/tracking", ledger: track }
"#;

#[test]
fn the_short_forms_take_the_demo_platforms_conventions() {
    let s = load(
        CHECKOUT,
        "invariants: [no_oversell, accounting, idempotent, no_lost_ack, monotonic_tracking]\n",
    );
    let LedgerOp::Checkout {
        key_header,
        sku,
        order_id,
    } = request(&s, 0).ledger.clone().unwrap()
    else {
        panic!("not a checkout")
    };
    assert_eq!(key_header.as_str(), "idempotency-key");
    assert_eq!(sku, vec![JsonPathSeg::Key("sku".into())]);
    assert_eq!(order_id, vec![JsonPathSeg::Key("order_id".into())]);
    let retry = request(&s, 0).retry.clone().unwrap();
    assert_eq!(retry.max, 3);
    assert!(retry.same_key);
    assert_eq!(retry.backoff, Duration::from_millis(100));
    assert!(retry.on.timeout && retry.on.reset && !retry.on.connect);
    assert!(retry.on.status(503) && retry.on.status(429) && !retry.on.status(409));
    assert!(matches!(
        request(&s, 1).ledger,
        Some(LedgerOp::Track { .. })
    ));
    assert_eq!(s.invariants.check.len(), 5);
    assert_eq!(s.invariants.settle, Duration::from_secs(1));
    // Unnamed paths are left to the reader's defaults.
    assert_eq!(s.invariants.inventory, None);
    assert_eq!(s.invariants.tracking_order, None);
}

#[test]
fn the_long_forms_are_read_in_full() {
    let s = load(
        r#"    - name: buy
      post: /shop/buy
      headers: { X-Request-Id: "{{ uuid() }}" }
      json: { item: { id: a } }
      ledger: { op: checkout, key_header: X-Request-Id, sku: item.id, order_id: order.id }
      retry: { on: timeout, max: 5, same_key: false, backoff: 20ms }
"#,
        r#"invariants:
  check: [idempotent]
  settle: 3s
  inventory: "/stock/{sku}"
  orders: "/orders?item={sku}&cursor={after}"
"#,
    );
    let LedgerOp::Checkout {
        key_header, sku, ..
    } = request(&s, 0).ledger.clone().unwrap()
    else {
        panic!("not a checkout")
    };
    assert_eq!(key_header.as_str(), "x-request-id");
    assert_eq!(sku.len(), 2);
    let retry = request(&s, 0).retry.clone().unwrap();
    assert_eq!((retry.max, retry.same_key), (5, false));
    assert_eq!(retry.backoff, Duration::from_millis(20));
    assert!(retry.on.timeout && !retry.on.reset);
    assert_eq!(s.invariants.settle, Duration::from_secs(3));
    assert_eq!(
        s.invariants.orders.as_deref(),
        Some("/orders?item={sku}&cursor={after}")
    );
    assert_eq!(s.invariants.inventory.as_deref(), Some("/stock/{sku}"));
    assert_eq!(s.invariants.comments, None);
}

#[test]
fn every_mistake_is_reported_at_its_place() {
    let d = diags(
        r#"    - name: checkout
      post: /api/checkout
      json: { sku: drop-1 }
      ledger: checkout
    - name: other
      get: /x
      ledger: refund
      retry: { on: [timeout, sometimes], max: 0 }
"#,
        "invariants: { check: [no_oversell, monotonic_tracking, no_such_thing], orders: \"/o?page={page}\" }\n",
    );
    let missing = diags(
        "    - { name: t, get: /x }\n",
        "invariants: [monotonic_tracking]\n",
    );
    assert!(
        missing[0].message.contains("no step is `ledger: track`"),
        "{missing:?}"
    );
    let text: Vec<String> = d
        .iter()
        .map(|d| format!("{}:{} {} {}", d.line, d.col, d.path, d.message))
        .collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(has("idempotency-key` request header"), "{text:#?}");
    assert!(has("unknown ledger operation `refund`"), "{text:#?}");
    assert!(
        has("cannot retry on `sometimes`") || has("cannot retry on"),
        "{text:#?}"
    );
    assert!(has("retries must be 1 to 20"), "{text:#?}");
    assert!(has("unknown invariant `no_such_thing`"), "{text:#?}");
    // The checkout step has its own problem, so the invariants that need
    // it are not reported a second time.
    assert!(!has("no step is"), "{text:#?}");
    assert!(has("unknown placeholder `{page}`"), "{text:#?}");
    // Each at its own line, with the field path.
    assert!(
        text.iter()
            .any(|t| t.starts_with("12:15 flows.f[1].ledger")),
        "{text:#?}"
    );
    assert!(d.iter().all(|d| d.line > 0 && d.col > 0));
}
