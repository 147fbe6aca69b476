//! Values captured from one response drive the next request: checkout's
//! order id becomes the tracking URL, against the embedded demo platform.

mod support;

use std::path::Path;

use flashcrowd::demo::{DemoConfig, DemoServer};
use flashcrowd::scenario;
use support::run_scenario;
use tokio_util::sync::CancellationToken;

const SCENARIO: &str = r#"
name: correlation
target: embedded
seed: 5
phases:
  - { name: buy, duration: 2s, load: { rate: 100/s }, flow: buy-and-track }
flows:
  buy-and-track:
    - name: checkout
      post: /api/checkout
      headers: { Idempotency-Key: "{{ uuid() }}" }
      json: { sku: sku-1, qty: 1, user: "buyer-{{ seq() }}" }
      expect: 201
      capture:
        order_id: { json: order_id }
        order_no: { regex: "\"o-(\\d+)\"" }
        location: { header: Location }
    - name: tracking
      get: "/api/orders/{{ order_id }}/tracking"
      headers: { X-Order-Location: "{{ location }}" }
      expect: { status: 200, json: { status: { exists: true } } }
    - name: by-number
      get: "/api/orders/{{ order_no }}"
      expect: { status: 200, json: { sku: sku-1 } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_order_id_drives_the_tracking_request() {
    let cancel = CancellationToken::new();
    let demo = DemoServer::spawn(
        ([127, 0, 0, 1], 0).into(),
        DemoConfig::default(),
        cancel.clone(),
    )
    .await
    .unwrap();
    let mut s = scenario::load_str(Path::new("correlation.yaml"), SCENARIO).unwrap();
    assert_eq!(s.flows[0].vars, ["order_id", "order_no", "location"]);
    s.target = scenario::Target::Url(url::Url::parse(&format!("http://{}", demo.addr)).unwrap());
    let r = run_scenario(s).await;
    let c: Vec<_> = r.recorder.steps.iter().map(|s| s.counts.clone()).collect();
    assert_eq!(c[0].ok, 200, "checkout {:?}", c[0]);
    assert_eq!(c[1].ok, 200, "tracking {:?}", c[1]);
    assert_eq!(c[2].ok, 200, "by number {:?}", c[2]);
    assert!(
        c.iter().all(|c| c.unresolved_var == 0 && c.errors == 0),
        "{c:?}"
    );
    cancel.cancel();
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_nobody_captured_is_not_sent_and_is_counted() {
    // Sold out after 5 units: the other buyers get 409, capture nothing, and
    // their tracking request is skipped rather than sent as garbage.
    let cancel = CancellationToken::new();
    let cfg = DemoConfig {
        stock: vec![("sku-1".into(), 5)],
        ..DemoConfig::default()
    };
    let demo = DemoServer::spawn(([127, 0, 0, 1], 0).into(), cfg, cancel.clone())
        .await
        .unwrap();
    let text = SCENARIO.replace("expect: 201\n", "expect: [201, 409]\n");
    let mut s = scenario::load_str(Path::new("correlation.yaml"), &text).unwrap();
    s.target = scenario::Target::Url(url::Url::parse(&format!("http://{}", demo.addr)).unwrap());
    let r = run_scenario(s).await;
    let c: Vec<_> = r.recorder.steps.iter().map(|s| s.counts.clone()).collect();
    assert_eq!(c[0].ok, 200);
    assert_eq!(c[0].status_2xx, 5);
    assert_eq!(c[1].ok, 5);
    assert_eq!(c[1].unresolved_var, 195);
    assert_eq!(c[1].sent, 5);
    assert_eq!(c[1].errors, 0);
    cancel.cancel();
    demo.shutdown().await;
}
