//! Fuzz targets for the chaos proxy's control API bodies: toxic bodies
//! decoded and applied directly, and every body-taking route driven
//! in-process over HTTP.
//!
//! Owns the JSON generators and the checks: decoding never panics, an
//! accepted toxic serializes and yields its models, and the API answers
//! every body with a known status (errors as Toxiproxy's JSON) and keeps
//! serving. Must not bind anything but loopback: generated `listen`
//! addresses are loopback or unparseable, `upstream`s are allow-listed.

use std::net::SocketAddr;

use flashcrowd::proxy::toxic::{NewToxic, ToxicUpdate};
use flashcrowd::proxy::{ProxyOptions, ProxyServer};
use http::Method;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::support::demo as common;

/// The only upstream the fuzzed server accepts: a closed port, so no
/// proxied byte ever leaves the machine.
const UPSTREAM: &str = "127.0.0.1:9";

const FIELDS: &[&str] = &[
    "name",
    "type",
    "stream",
    "toxicity",
    "attributes",
    "listen",
    "upstream",
    "enabled",
    "latency",
    "jitter",
    "rate",
    "delay",
    "timeout",
    "average_size",
    "size_variation",
    "bytes",
    "stdev",
    "shape_x100",
    "rate_ppm",
    "burst",
    "rtt",
    "rtt_var",
    "mss",
    "ttl",
    "",
];

const STRINGS: &[&str] = &[
    "p",
    "q",
    "t",
    "",
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
    "latency_normal",
    "latency_pareto",
    "loss",
    "connect_delay",
    "blackhole",
    "reset",
    "refuse",
    "nope",
    "upstream",
    "downstream",
    "UpStream",
    "sideways",
    UPSTREAM,
    "127.0.0.1:1",
    "evil.example:80",
    "127.0.0.1:0",
    "localhost:0",
    "[::1]:0",
    "127.0.0.1:99999",
    "nonsense",
    "é",
    "\u{0}",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        (0u64..100_000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        select(&[0.0f64, 0.5, 1.0, 1.5, -1.0, 1e300][..]).prop_map(Value::from),
    ]
}

/// JSON shaped like the API's bodies, with wrong types and values mixed in.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => number(),
        3 => select(STRINGS).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((select(FIELDS), inner), 0..8)
                .prop_map(|kv| Value::Object(to_map(kv))),
        ]
    })
}

fn to_map(kv: Vec<(&str, Value)>) -> Map<String, Value> {
    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// An object with the body's usual fields, each present or not and of
/// the right type or not.
fn body_object() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            select(FIELDS),
            prop_oneof![2 => select(STRINGS).prop_map(Value::from), 1 => json_value()],
        ),
        0..8,
    )
    .prop_map(|kv| Value::Object(to_map(kv)))
}

/// A request body: raw bytes, a serialized JSON value, or JSON cut short.
pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..128),
        4 => body_object().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(body_object(), 0..4).prop_map(|v| Value::Array(v).to_string().into_bytes()),
        1 => (body_object(), any::<usize>()).prop_map(|(v, cut)| {
            let mut b = v.to_string().into_bytes();
            b.truncate(cut % (b.len() + 1));
            b
        }),
    ]
}

/// Decode a toxic as `POST /proxies/{p}/toxics` does, then use everything
/// the proxy would use of it; then an update body on top.
pub fn check_toxic_body(create: &[u8], update: &[u8]) -> Result<(), TestCaseError> {
    let Ok(new) = serde_json::from_slice::<NewToxic>(create) else {
        return Ok(());
    };
    let Ok(mut toxic) = new.into_toxic(1) else {
        return Ok(());
    };
    use_toxic(&toxic)?;
    if let Ok(u) = serde_json::from_slice::<ToxicUpdate>(update) {
        let before = toxic.clone();
        match toxic.update(u) {
            Ok(_) => use_toxic(&toxic)?,
            // All or nothing: a refused update changes nothing.
            Err(_) => prop_assert_eq!(format!("{toxic:?}"), format!("{before:?}")),
        }
    }
    Ok(())
}

fn use_toxic(t: &flashcrowd::proxy::toxic::Toxic) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(&t.to_json())
        .map_err(|e| TestCaseError::fail(format!("toxic does not serialize: {e}")))?;
    prop_assert!(text.contains("\"attributes\""));
    let _ = t.kind.delay();
    let _ = t.kind.loss_model();
    let _ = t.kind.on_bytes();
    Ok(())
}

/// A proxy server on loopback with one proxy `p` and its toxic `t`.
pub struct Api {
    pub rt: Runtime,
    pub server: ProxyServer,
}

impl Api {
    pub fn start() -> Api {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(async {
            ProxyServer::spawn(
                ProxyOptions {
                    listen: ([127, 0, 0, 1], 0).into(),
                    seed: 1,
                    token: None,
                    allow_upstream: Some(vec![UPSTREAM.to_owned()]),
                },
                CancellationToken::new(),
            )
            .await
            .unwrap()
        });
        Api { rt, server }
    }

    /// Put `p` and `t` back if a fuzzed body removed or moved them, so the
    /// routes that need them reach their body handling.
    fn restore(&self) {
        let addr = self.server.addr;
        self.rt.block_on(async {
            let p = json!({"name": "p", "listen": "127.0.0.1:0", "upstream": UPSTREAM});
            common::post(addr, "/proxies", &p).await;
            let t = json!({"name": "t", "type": "latency", "attributes": {"latency": 1}});
            common::post(addr, "/proxies/p/toxics", &t).await;
        });
    }

    /// Send `body` to a body-taking route and check the answer.
    pub fn check(&self, route: usize, body: Vec<u8>) -> Result<(), TestCaseError> {
        self.restore();
        let (method, path) = ROUTES[route % ROUTES.len()].clone();
        let addr: SocketAddr = self.server.addr;
        let resp = self
            .rt
            .block_on(common::request(addr, method.clone(), path, &[], Some(body)));
        let status = resp.status.as_u16();
        prop_assert!(
            [200, 201, 204, 400, 403, 404, 409, 500].contains(&status),
            "{method} {path}: status {status}"
        );
        if status >= 400 {
            prop_assert!(
                resp.json["error"].is_string(),
                "{method} {path}: error body {:?}",
                String::from_utf8_lossy(&resp.raw)
            );
            prop_assert_eq!(resp.json["status"].as_u64(), Some(u64::from(status)));
        }
        let version = self.rt.block_on(common::get(addr, "/version"));
        prop_assert_eq!(version.status.as_u16(), 200, "API stopped answering");
        Ok(())
    }
}

const ROUTES: [(Method, &str); 7] = [
    (Method::POST, "/proxies"),
    (Method::POST, "/populate"),
    (Method::POST, "/proxies/p"),
    (Method::PATCH, "/proxies/p"),
    (Method::POST, "/proxies/p/toxics"),
    (Method::POST, "/proxies/p/toxics/t"),
    (Method::PATCH, "/proxies/p/toxics/t"),
];

pub fn route() -> impl Strategy<Value = usize> {
    0..ROUTES.len()
}
