//! Conformance of the chaos proxy's control API with Toxiproxy v2: through
//! the published `toxiproxy_rust` client, and over raw HTTP for the exact
//! status codes and error bodies.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use flashcrowd::proxy::{ProxyError, ProxyOptions, ProxyServer};
use http::Method;
use serde_json::{json, Value};
use support::demo::{get, post, request};
use support::proxy::{add_toxic, delete, echo, proxy, server, server_with};
use tokio_util::sync::CancellationToken;
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

/// Runs `f` on this (blocking) thread while a proxy server and an echo
/// server run on their own runtime, as the blocking client requires.
fn with_server(f: impl FnOnce(SocketAddr, SocketAddr)) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (srv, echo) = rt.block_on(async { (server(0).await, echo().await) });
    f(srv.addr, echo);
    assert!(rt.block_on(srv.shutdown()));
}

/// One blocking round trip through `addr`; false if it cannot connect.
fn echoes(addr: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).is_ok() && &buf == b"ping"
}

#[test]
fn rust_client_populates_lists_toggles_and_deletes_proxies() {
    with_server(|api, echo| {
        let client = Client::new(api);
        assert!(client.is_running());
        assert!(client.version().unwrap().contains("2.12.0"));
        let created = client
            .populate(vec![ProxyPack::new(
                "shop".into(),
                "127.0.0.1:0".into(),
                echo.to_string(),
            )])
            .unwrap();
        assert_eq!(created.len(), 1);
        let listen = created[0].proxy_pack.listen.clone();
        assert_ne!(listen.parse::<SocketAddr>().unwrap().port(), 0);
        assert!(echoes(&listen));

        let all = client.all().unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), vec!["shop"]);
        let shop = client.find_proxy("shop").unwrap();
        assert_eq!(shop.proxy_pack.upstream, echo.to_string());

        shop.disable().unwrap();
        assert!(!client.find_proxy("shop").unwrap().proxy_pack.enabled);
        assert!(!echoes(&listen), "a disabled proxy must refuse");
        shop.enable().unwrap();
        assert!(client.find_proxy("shop").unwrap().proxy_pack.enabled);
        assert!(echoes(&listen));

        shop.with_down(|| assert!(!echoes(&listen))).unwrap();
        assert!(echoes(&listen));

        shop.delete().unwrap();
        assert_eq!(client.all().unwrap().len(), 0);
        assert!(client.find_proxy("shop").is_err());
    });
}

#[test]
fn rust_client_adds_lists_and_removes_every_toxic_it_knows() {
    with_server(|api, echo| {
        let client = Client::new(api);
        client
            .populate(vec![ProxyPack::new(
                "shop".into(),
                "127.0.0.1:0".into(),
                echo.to_string(),
            )])
            .unwrap();
        let shop = client.find_proxy("shop").unwrap();
        shop.with_latency("downstream".into(), 100, 10, 1.0)
            .with_bandwidth("upstream".into(), 500, 0.5)
            .with_slow_close("downstream".into(), 50, 1.0)
            .with_timeout("upstream".into(), 2000, 1.0)
            .with_slicer("downstream".into(), 64, 16, 10, 1.0)
            .with_limit_data("upstream".into(), 4096, 1.0);
        let toxics = shop.toxics().unwrap();
        let names: Vec<&str> = toxics.iter().map(|t| t.name.as_str()).collect();
        // Upstream chain first, then downstream, each in creation order.
        assert_eq!(
            names,
            vec![
                "bandwidth_upstream",
                "timeout_upstream",
                "limit_data_upstream",
                "latency_downstream",
                "slow_close_downstream",
                "slicer_downstream",
            ]
        );
        let latency = &toxics[3];
        assert_eq!(latency.attributes["latency"], 100);
        assert_eq!(latency.attributes["jitter"], 10);
        assert_eq!(toxics[0].toxicity, 0.5);
        assert_eq!(toxics[4].attributes["delay"], 50);
        assert_eq!(toxics[5].attributes["average_size"], 64);
        assert_eq!(toxics[2].attributes["bytes"], 4096);

        // The client cannot update; the API merges a partial update.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(post(
            api,
            "/proxies/shop/toxics/latency_downstream",
            &json!({"attributes": {"jitter": 3}, "toxicity": 0.25}),
        ));
        assert_eq!(r.status, 200);
        assert_eq!(r.json["attributes"], json!({"latency": 100, "jitter": 3}));
        assert_eq!(r.json["toxicity"], 0.25);

        shop.delete_all_toxics().unwrap();
        assert_eq!(shop.toxics().unwrap().len(), 0);
        let reset = client.find_and_reset_proxy("shop").unwrap();
        assert!(reset.proxy_pack.enabled);
        assert!(echoes(&reset.proxy_pack.listen));
    });
}

fn error(r: &support::demo::Resp, status: u16, msg: &str) {
    assert_eq!(r.status, status, "{:?}", r.raw);
    assert_eq!(r.json, json!({"error": msg, "status": status}));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.raw.ends_with(b"\n"));
}

#[tokio::test]
async fn create_answers_201_with_the_bound_address_and_conflicts_with_409() {
    let srv = server(0).await;
    let up = echo().await;
    let r = post(
        srv.addr,
        "/proxies",
        &json!({"name": "a", "listen": "localhost:0", "upstream": up.to_string()}),
    )
    .await;
    assert_eq!(r.status, 201);
    let keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5);
    assert!(r.json["listen"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_ne!(r.json["listen"], "127.0.0.1:0");
    assert_eq!(r.json["enabled"], true);
    assert_eq!(r.json["toxics"], json!([]));
    assert!(r.header("x-toxiproxy-request-id").is_some());
    let again = post(
        srv.addr,
        "/proxies",
        &json!({"name": "a", "upstream": up.to_string()}),
    )
    .await;
    error(&again, 409, "proxy already exists");

    let disabled = post(
        srv.addr,
        "/proxies",
        &json!({"name": "b", "listen": "localhost:0", "upstream": up.to_string(), "enabled": false}),
    )
    .await;
    assert_eq!(disabled.status, 201);
    assert_eq!(disabled.json["listen"], "localhost:0");
    assert_eq!(disabled.json["enabled"], false);

    let conflict = post(
        srv.addr,
        "/proxies",
        &json!({"name": "c", "listen": r.json["listen"], "upstream": up.to_string()}),
    )
    .await;
    assert_eq!(conflict.status, 500);
    assert!(
        conflict.error().starts_with("listen tcp "),
        "{}",
        conflict.error()
    );
}

#[tokio::test]
async fn bad_bodies_and_missing_fields_are_400() {
    let srv = server(0).await;
    let raw = request(
        srv.addr,
        Method::POST,
        "/proxies",
        &[],
        Some(b"{nope".to_vec()),
    )
    .await;
    assert_eq!(raw.status, 400);
    assert!(
        raw.error().starts_with("bad request body: "),
        "{}",
        raw.error()
    );
    let r = post(srv.addr, "/proxies", &json!({"upstream": "127.0.0.1:1"})).await;
    error(&r, 400, "missing required field: name");
    let r = post(srv.addr, "/proxies", &json!({"name": "x"})).await;
    error(&r, 400, "missing required field: upstream");

    let up = echo().await;
    proxy(srv.addr, "p", up).await;
    let r = post(
        srv.addr,
        "/proxies/p/toxics",
        &json!({"type": "latency", "stream": "sideways"}),
    )
    .await;
    error(
        &r,
        400,
        "stream was invalid, can be either upstream or downstream",
    );
    let r = post(srv.addr, "/proxies/p/toxics", &json!({"type": "teleport"})).await;
    error(&r, 400, "invalid toxic type");
    let r = post(
        srv.addr,
        "/proxies/p/toxics",
        &json!({"type": "latency", "attributes": {"latency": 1.5}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.error().starts_with("bad request body: "));
}

#[tokio::test]
async fn missing_proxies_and_toxics_are_404_and_duplicate_toxics_409() {
    let srv = server(0).await;
    error(
        &get(srv.addr, "/proxies/ghost").await,
        404,
        "proxy not found",
    );
    error(
        &delete(srv.addr, "/proxies/ghost").await,
        404,
        "proxy not found",
    );
    error(
        &get(srv.addr, "/proxies/ghost/toxics").await,
        404,
        "proxy not found",
    );
    proxy(srv.addr, "p", echo().await).await;
    error(
        &get(srv.addr, "/proxies/p/toxics/t").await,
        404,
        "toxic not found",
    );
    error(
        &delete(srv.addr, "/proxies/p/toxics/t").await,
        404,
        "toxic not found",
    );

    let t = add_toxic(srv.addr, "p", json!({"type": "latency"})).await;
    assert_eq!(
        t.json,
        json!({"attributes": {"latency": 0, "jitter": 0}, "name": "latency_downstream",
               "type": "latency", "stream": "downstream", "toxicity": 1.0})
    );
    assert!(t.raw.starts_with(b"{\"attributes\":"));
    // Names are unique across both streams.
    let dup = post(
        srv.addr,
        "/proxies/p/toxics",
        &json!({"name": "latency_downstream", "type": "noop", "stream": "upstream"}),
    )
    .await;
    error(&dup, 409, "toxic already exists");
    assert_eq!(
        get(srv.addr, "/proxies/p/toxics/latency_downstream")
            .await
            .status,
        200
    );
    assert_eq!(
        delete(srv.addr, "/proxies/p/toxics/latency_downstream")
            .await
            .status,
        204
    );
    assert_eq!(get(srv.addr, "/proxies/p/toxics").await.json, json!([]));
    assert_eq!(delete(srv.addr, "/proxies/p").await.status, 204);
}

#[tokio::test]
async fn populate_keeps_unchanged_proxies_and_reports_partial_failure() {
    let srv = server(0).await;
    let up = echo().await.to_string();
    let first = post(
        srv.addr,
        "/populate",
        &json!([{"name": "a", "listen": "127.0.0.1:0", "upstream": up}]),
    )
    .await;
    assert_eq!(first.status, 201);
    let listen = first.json["proxies"][0]["listen"].clone();
    let same = post(
        srv.addr,
        "/populate",
        &json!([{"name": "a", "listen": listen, "upstream": up}]),
    )
    .await;
    assert_eq!(same.status, 201);
    assert_eq!(same.json["proxies"][0]["listen"], listen);

    let missing = post(
        srv.addr,
        "/populate",
        &json!([{"name": "b", "upstream": up}, {"name": "c"}]),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json["error"],
        "missing required field: upstream at proxy 2"
    );
    assert!(
        get(srv.addr, "/proxies/b").await.status == 404,
        "validated before creating"
    );

    let partial = post(
        srv.addr,
        "/populate",
        &json!([{"name": "d", "listen": "127.0.0.1:0", "upstream": up},
                {"name": "e", "listen": listen, "upstream": up}]),
    )
    .await;
    assert_eq!(partial.status, 500);
    assert_eq!(partial.json["status"], 500);
    assert_eq!(partial.json["proxies"].as_array().unwrap().len(), 1);
    assert_eq!(get(srv.addr, "/proxies/d").await.status, 200);

    let empty = post(srv.addr, "/populate", &json!([])).await;
    assert_eq!(empty.json, json!({"proxies": []}));
    let all = get(srv.addr, "/proxies").await;
    let names: Vec<&String> = all.json.as_object().unwrap().keys().collect();
    assert_eq!(names, vec!["a", "d"]);
}

#[tokio::test]
async fn reset_reenables_proxies_and_removes_toxics_and_version_is_json() {
    let srv = server(0).await;
    proxy(srv.addr, "p", echo().await).await;
    add_toxic(srv.addr, "p", json!({"type": "noop"})).await;
    let off = post(srv.addr, "/proxies/p", &json!({"enabled": false})).await;
    assert_eq!(off.json["enabled"], false);
    let patched = request(
        srv.addr,
        Method::PATCH,
        "/proxies/p",
        &[],
        Some(b"{}".to_vec()),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json["enabled"], false);
    let r = request(srv.addr, Method::POST, "/reset", &[], None).await;
    assert_eq!(r.status, 204);
    let p = get(srv.addr, "/proxies/p").await;
    assert_eq!(p.json["enabled"], true);
    assert_eq!(p.json["toxics"], json!([]));
    let v = get(srv.addr, "/version").await;
    assert_eq!(v.raw, "{\"version\": \"2.12.0\"}\n");
}

#[tokio::test]
async fn browsers_are_refused_with_403() {
    let srv = server(0).await;
    let ua = [("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")];
    let r = request(srv.addr, Method::GET, "/proxies", &ua, None).await;
    error(&r, 403, "User agent not allowed");
    let origin = [("origin", "http://evil.example")];
    let r = request(srv.addr, Method::POST, "/reset", &origin, None).await;
    error(&r, 403, "User agent not allowed");
    assert_eq!(get(srv.addr, "/proxies").await.status, 200);
}

#[tokio::test]
async fn a_token_is_required_on_every_request_when_set() {
    let srv = server_with(ProxyOptions {
        listen: ([127, 0, 0, 1], 0).into(),
        token: Some("s3cret".into()),
        ..ProxyOptions::default()
    })
    .await;
    error(&get(srv.addr, "/proxies").await, 401, "unauthorized");
    let wrong = [("authorization", "Bearer nope")];
    let r = request(srv.addr, Method::GET, "/version", &wrong, None).await;
    error(&r, 401, "unauthorized");
    let right = [("authorization", "Bearer s3cret")];
    let r = request(srv.addr, Method::GET, "/proxies", &right, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({}));
}

#[tokio::test]
async fn a_non_loopback_api_without_a_token_is_refused_before_binding() {
    let opts = ProxyOptions {
        listen: ([0, 0, 0, 0], 0).into(),
        ..ProxyOptions::default()
    };
    let r = ProxyServer::spawn(opts, CancellationToken::new()).await;
    assert!(matches!(r, Err(ProxyError::TokenRequired(_))));
}

#[tokio::test]
async fn upstreams_outside_the_allow_list_are_403() {
    let up = echo().await;
    let srv = server_with(ProxyOptions {
        listen: ([127, 0, 0, 1], 0).into(),
        allow_upstream: Some(vec![up.to_string()]),
        ..ProxyOptions::default()
    })
    .await;
    proxy(srv.addr, "ok", up).await;
    let r = post(
        srv.addr,
        "/proxies",
        &json!({"name": "no", "upstream": "127.0.0.1:9"}),
    )
    .await;
    error(&r, 403, "upstream not allowed: 127.0.0.1:9");
    let r = post(srv.addr, "/proxies/ok", &json!({"upstream": "127.0.0.1:9"})).await;
    assert_eq!(r.status, 403);
    let p: Value = get(srv.addr, "/proxies/ok").await.json;
    assert_eq!(p["upstream"], up.to_string());
}

#[tokio::test]
async fn changing_a_proxy_listen_of_port_0_moves_it_to_a_new_port() {
    let srv = server(0).await;
    let up = echo().await;
    let first = proxy(srv.addr, "p", up).await;
    let r = post(srv.addr, "/proxies/p", &json!({"listen": "localhost:0"})).await;
    assert_eq!(r.status, 200);
    let moved: SocketAddr = r.json["listen"].as_str().unwrap().parse().unwrap();
    assert_ne!(moved.port(), 0);
    assert_ne!(moved, first);
    assert!(tokio::net::TcpStream::connect(first).await.is_err());
    assert!(tokio::net::TcpStream::connect(moved).await.is_ok());
    // The same address again changes nothing and keeps the port.
    let same = post(
        srv.addr,
        "/proxies/p",
        &json!({"listen": moved.to_string()}),
    )
    .await;
    assert_eq!(same.json["listen"], moved.to_string());
}
