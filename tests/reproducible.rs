//! Same scenario, seed and scale → the same requests; another seed →
//! different ones.

mod support;

use std::path::Path;

use flashcrowd::scenario;
use support::{run_scenario, spawn_recorder};

const SCENARIO: &str = r#"
name: repro
target: http://127.0.0.1:1
seed: 11
vars:
  skus: [sku-1, sku-2, sku-3, sku-4]
phases:
  - { name: steady, duration: 2s, load: { rate: 150/s, arrivals: poisson }, flow: buy }
  - { name: burst, at: 1s, duration: 1s, load: { spike: { base: 50/s, peak: 400/s, half_life: 200ms } }, flow: buy }
flows:
  buy:
    - name: order
      post: "/api/checkout?n={{ seq() }}"
      headers: { Idempotency-Key: "{{ uuid() }}" }
      json: { sku: "{{ pick(skus) }}", qty: "{{ int(1, 5) }}", note: "{{ pick(\"a\", \"b\") }}" }
"#;

async fn log_for(seed: u64) -> Vec<String> {
    let recorder = spawn_recorder().await;
    let mut s = scenario::load_str(Path::new("repro.yaml"), SCENARIO).unwrap();
    s.seed = seed;
    s.target =
        scenario::Target::Url(url::Url::parse(&format!("http://{}", recorder.addr)).unwrap());
    let r = run_scenario(s).await;
    assert_eq!(r.recorder.schedule.dropped, 0);
    recorder.sorted_log()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_sends_the_same_requests_and_another_seed_does_not() {
    let a = log_for(11).await;
    let b = log_for(11).await;
    assert!(a.len() > 300, "{} requests", a.len());
    assert_eq!(a, b);
    let c = log_for(12).await;
    assert_ne!(a, c);
    // Every body was rendered: no template left behind.
    assert!(a.iter().all(|l| !l.contains("{{")), "{:?}", &a[..3]);
}
