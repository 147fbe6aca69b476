//! Behaviour of the embedded demo platform over real HTTP: stock is never
//! oversold, idempotency keys yield one order, comment feeds page
//! correctly, tracking only moves forward, bad input gets JSON errors, and
//! the payment stage bounds checkout throughput.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use flashcrowd::demo::{DemoConfig, DemoServer, Faults};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::demo::{all_orders, checkout, get, post, request, Resp};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn one_sku(sku: &str, stock: u64) -> DemoConfig {
    DemoConfig {
        stock: vec![(sku.to_owned(), stock)],
        ..DemoConfig::default()
    }
}

async fn inventory(addr: SocketAddr, sku: &str) -> Value {
    let resp = get(addr, &format!("/api/inventory/{sku}")).await;
    assert_eq!(resp.status, StatusCode::OK);
    resp.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_checkouts_sell_exactly_fifty_units() {
    let server = support::demo::spawn(one_sku("drop-x", 50)).await;
    let addr = server.addr;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            tokio::spawn(async move {
                let body = json!({"sku": "drop-x", "qty": 1, "user": format!("u{i}")});
                checkout(addr, &body, Some(&format!("key-{i}"))).await
            })
        })
        .collect();
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    let mut ids = HashSet::new();
    for task in tasks {
        let resp = task.await.unwrap();
        *by_status.entry(resp.status.as_u16()).or_default() += 1;
        match resp.status {
            StatusCode::CREATED => {
                assert_eq!(resp.json["status"], "placed");
                assert!(ids.insert(resp.json["order_id"].as_str().unwrap().to_owned()));
            }
            StatusCode::CONFLICT => assert_eq!(resp.error(), "sold_out"),
            other => panic!("unexpected {other}: {}", resp.json),
        }
    }
    assert_eq!(by_status.get(&201), Some(&50), "{by_status:?}");
    assert_eq!(by_status.get(&409), Some(&150), "{by_status:?}");

    let inv = inventory(addr, "drop-x").await;
    assert_eq!(inv["initial"], 50);
    assert_eq!(inv["sold"], 50);
    assert_eq!(inv["reserved"], 0);
    assert_eq!(inv["remaining"], 0);

    // Paged listing (20 + 20 + 10) sees exactly the acknowledged orders.
    let listed = all_orders(addr, Some("drop-x"), 20).await;
    assert_eq!(listed.len(), 50);
    let listed_ids: HashSet<String> = listed
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed_ids, ids);
    let qty: u64 = listed.iter().map(|o| o["qty"].as_u64().unwrap()).sum();
    assert_eq!(qty, 50);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_idempotency_key_twenty_times_concurrently_places_one_order() {
    let cfg = DemoConfig {
        payment_latency: Duration::from_millis(20),
        ..one_sku("drop-k", 100)
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let body = json!({"sku": "drop-k", "qty": 2, "user": "ana"});
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move { checkout(addr, &body, Some("\"retry-me\"")).await })
        })
        .collect();
    let mut order_ids = HashSet::new();
    let mut replays = 0;
    for task in tasks {
        let resp = task.await.unwrap();
        assert!(resp.status.is_success(), "{} {}", resp.status, resp.json);
        assert_eq!(resp.json["idempotency_key"], "retry-me");
        order_ids.insert(resp.json["order_id"].as_str().unwrap().to_owned());
        if resp.header("idempotent-replayed") == Some("true") {
            replays += 1;
        }
    }
    assert_eq!(order_ids.len(), 1, "{order_ids:?}");
    assert_eq!(replays, 19);
    let order_id = order_ids.into_iter().next().unwrap();

    let inv = inventory(addr, "drop-k").await;
    assert_eq!(inv["sold"], 2);
    assert_eq!(inv["remaining"], 98);
    let by_key = get(addr, "/api/orders?key=retry-me").await;
    let listed = by_key.json["orders"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["order_id"], order_id.as_str());

    // A later retry replays the very same response.
    let again = checkout(addr, &body, Some("retry-me")).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json["order_id"], order_id.as_str());

    // Same key, different body: refused, nothing sold.
    let other = json!({"sku": "drop-k", "qty": 3, "user": "ana"});
    let mismatch = checkout(addr, &other, Some("retry-me")).await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(mismatch.error(), "idempotency_key_mismatch");
    assert_eq!(inventory(addr, "drop-k").await["sold"], 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_comments_then_since_ten_returns_twenty_in_order() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    for i in 1..=30u64 {
        let resp = post(
            addr,
            "/api/rooms/live-1/comments",
            &json!({"user": "viewer", "text": format!("comment {i}")}),
        )
        .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.json);
        assert_eq!(resp.json["id"], i);
        assert_eq!(resp.json["room"], "live-1");
        assert!(resp.json["at"].as_str().is_some());
    }
    let page = get(addr, "/api/rooms/live-1/comments?since=10").await;
    assert_eq!(page.status, StatusCode::OK);
    let comments = page.json["comments"].as_array().unwrap();
    let ids: Vec<u64> = comments.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (11..=30).collect::<Vec<_>>());
    assert_eq!(comments[0]["text"], "comment 11");
    assert_eq!(page.json["next_since"], 30);
    assert_eq!(page.json["has_more"], false);

    let capped = get(addr, "/api/rooms/live-1/comments?since=10&limit=5").await;
    assert_eq!(capped.json["comments"].as_array().unwrap().len(), 5);
    assert_eq!(capped.json["has_more"], true);

    let info = get(addr, "/api/rooms/live-1").await;
    assert_eq!(info.json["comment_count"], 30);
    assert_eq!(info.json["last_comment_id"], 30);
    let other = get(addr, "/api/rooms/quiet").await;
    assert_eq!(other.json["comment_count"], 0);

    let empty = post(
        addr,
        "/api/rooms/live-1/comments",
        &json!({"user": "v", "text": "  "}),
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let long = "x".repeat(501);
    let too_long = post(
        addr,
        "/api/rooms/live-1/comments",
        &json!({"user": "v", "text": long}),
    )
    .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        get(addr, "/api/rooms/live-1").await.json["comment_count"],
        30
    );
    server.shutdown().await;
}

fn tracking_rank(status: &str) -> usize {
    [
        "placed",
        "paid",
        "packed",
        "shipped",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    .iter()
    .position(|s| *s == status)
    .unwrap_or_else(|| panic!("unknown status {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_advances_to_delivered_and_never_regresses() {
    let cfg = DemoConfig {
        tracking_step: Duration::from_millis(60),
        ..DemoConfig::default()
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let placed = checkout(addr, &json!({"sku": "sku-3", "qty": 1}), None).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    let id = placed.json["order_id"].as_str().unwrap().to_owned();

    let mut seen = Vec::new();
    for _ in 0..200 {
        let resp = get(addr, &format!("/api/orders/{id}/tracking")).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.json["order_id"], id.as_str());
        let rank = tracking_rank(resp.json["status"].as_str().unwrap());
        let history = resp.json["history"].as_array().unwrap();
        assert_eq!(history.len(), rank + 1, "{}", resp.json);
        for (k, event) in history.iter().enumerate() {
            assert_eq!(tracking_rank(event["status"].as_str().unwrap()), k);
        }
        seen.push(rank);
        if rank == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "regressed: {seen:?}");
    assert_eq!(seen.last(), Some(&6), "never delivered: {seen:?}");
    let distinct: HashSet<_> = seen.iter().collect();
    assert!(distinct.len() >= 3, "too few steps observed: {seen:?}");
    let order = get(addr, &format!("/api/orders/{id}")).await;
    assert_eq!(order.json["status"], "delivered");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_json_errors_and_the_server_stays_healthy() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    let before = get(addr, "/api/inventory").await.json;

    struct Case {
        method: Method,
        path: &'static str,
        key: Option<&'static str>,
        body: Option<String>,
        status: u16,
        code: &'static str,
    }
    let post_case = |path, body: &str, status, code| Case {
        method: Method::POST,
        path,
        key: None,
        body: Some(body.to_owned()),
        status,
        code,
    };
    let get_case = |path, status, code| Case {
        method: Method::GET,
        path,
        key: None,
        body: None,
        status,
        code,
    };
    let big = format!("{{\"user\":\"u\",\"text\":\"{}\"}}", "x".repeat(20_000));
    let good_checkout = r#"{"sku":"drop-1","qty":1}"#;
    let cases = vec![
        post_case("/api/checkout", r#"{"sku":"#, 400, "malformed_json"),
        post_case("/api/checkout", "", 400, "malformed_json"),
        post_case(
            "/api/checkout",
            r#"{"sku":"nope","qty":1}"#,
            404,
            "unknown_sku",
        ),
        post_case(
            "/api/checkout",
            r#"{"sku":"drop-1","qty":0}"#,
            422,
            "invalid_field",
        ),
        post_case(
            "/api/checkout",
            r#"{"sku":"drop-1","qty":11}"#,
            422,
            "invalid_field",
        ),
        post_case("/api/checkout", r#"{"qty":1}"#, 422, "invalid_body"),
        post_case(
            "/api/checkout",
            r#"{"sku":"drop-1","qty":"two"}"#,
            422,
            "invalid_body",
        ),
        post_case(
            "/api/checkout",
            r#"{"sku":"drop-1","qty":-3}"#,
            422,
            "invalid_body",
        ),
        Case {
            key: Some("\"\""),
            ..post_case(
                "/api/checkout",
                good_checkout,
                400,
                "invalid_idempotency_key",
            )
        },
        post_case(
            "/api/cart",
            r#"{"user":"u","sku":"drop-1","qty":0}"#,
            422,
            "invalid_field",
        ),
        post_case(
            "/api/cart",
            r#"{"user":"u","sku":"nope","qty":1}"#,
            404,
            "unknown_sku",
        ),
        post_case("/api/cart", "[1,2]", 422, "invalid_body"),
        post_case(
            "/api/rooms/r1/comments",
            r#"{"text":"hi"}"#,
            422,
            "invalid_body",
        ),
        post_case("/api/rooms/r1/comments", &big, 413, "payload_too_large"),
        get_case("/api/rooms/r1/comments?since=abc", 400, "invalid_query"),
        get_case("/api/products/nope", 404, "unknown_sku"),
        get_case("/api/inventory/nope", 404, "unknown_sku"),
        get_case("/api/orders/o-999999", 404, "order_not_found"),
        get_case("/api/orders/garbage/tracking", 404, "order_not_found"),
        get_case("/api/orders?after=zzz", 400, "invalid_query"),
        get_case("/api/orders?sku=nope", 404, "unknown_sku"),
        get_case("/api/nothing-here", 404, "not_found"),
        get_case("/api/rooms/a%2Fb", 400, "invalid_path"),
        get_case("/api/products/%FF", 400, "invalid_path"),
        Case {
            method: Method::DELETE,
            ..get_case("/api/checkout", 405, "method_not_allowed")
        },
    ];
    for case in cases {
        let what = format!("{} {}", case.method, case.path);
        let headers: Vec<(&str, &str)> = case
            .key
            .map(|k| ("idempotency-key", k))
            .into_iter()
            .collect();
        let body = case.body.map(String::into_bytes);
        let resp: Resp = request(addr, case.method, case.path, &headers, body).await;
        assert_eq!(resp.status.as_u16(), case.status, "{what}: {}", resp.json);
        assert_eq!(resp.error(), case.code, "{what}: {}", resp.json);
        assert!(
            resp.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert_eq!(
            resp.header("content-type"),
            Some("application/json"),
            "{what}"
        );
    }

    let health = get(addr, "/api/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json, json!({"status": "ok"}));
    assert_eq!(
        get(addr, "/api/inventory").await.json,
        before,
        "bad input moved stock"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_payment_slots_of_fifty_ms_take_at_least_250ms_for_ten_checkouts() {
    let cfg = DemoConfig {
        payment_slots: 2,
        payment_latency: Duration::from_millis(50),
        ..DemoConfig::default()
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let start = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            tokio::spawn(
                async move { checkout(addr, &json!({"sku": "sku-1", "qty": 1}), None).await },
            )
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().status, StatusCode::CREATED);
    }
    let elapsed = start.elapsed();
    // 10 authorisations, 2 at a time, 50 ms each = 5 rounds.
    assert!(
        elapsed >= Duration::from_millis(245),
        "too fast: {elapsed:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_cart_and_inventory_reconcile_with_orders() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    let products = get(addr, "/api/products").await;
    let list = products.json.as_array().unwrap();
    assert_eq!(list.len(), 22);
    assert_eq!(list[0]["sku"], "drop-1");
    assert_eq!(list[0]["stock_initial"], 5000);
    let one = get(addr, "/api/products/drop-2").await;
    assert_eq!(one.json["stock_remaining"], 2000);
    assert_eq!(one.json["currency"], "EUR");
    assert!(one.json["price_cents"].as_u64().unwrap() > 0);

    let cart = post(
        addr,
        "/api/cart",
        &json!({"user": "ana", "sku": "sku-2", "qty": 2}),
    )
    .await;
    assert_eq!(cart.status, StatusCode::OK);
    post(
        addr,
        "/api/cart",
        &json!({"user": "ana", "sku": "drop-1", "qty": 1}),
    )
    .await;
    let cart = get(addr, "/api/cart/ana").await;
    assert_eq!(cart.json["item_count"], 3);
    assert_eq!(cart.json["items"].as_array().unwrap().len(), 2);
    assert_eq!(get(addr, "/api/cart/nobody").await.json["item_count"], 0);

    for (sku, qty) in [("drop-1", 3), ("drop-1", 2), ("sku-5", 1), ("drop-2", 4)] {
        let resp = checkout(addr, &json!({"sku": sku, "qty": qty, "user": "ana"}), None).await;
        assert_eq!(resp.status, StatusCode::CREATED);
        assert_eq!(
            resp.header("location").map(str::to_owned),
            Some(format!(
                "/api/orders/{}",
                resp.json["order_id"].as_str().unwrap()
            ))
        );
    }
    let orders = all_orders(addr, None, 3).await;
    assert_eq!(orders.len(), 4);
    let mut sold_by_orders: HashMap<String, u64> = HashMap::new();
    for o in &orders {
        *sold_by_orders
            .entry(o["sku"].as_str().unwrap().to_owned())
            .or_default() += o["qty"].as_u64().unwrap();
    }
    let inv = get(addr, "/api/inventory").await;
    for item in inv.json.as_array().unwrap() {
        let sku = item["sku"].as_str().unwrap();
        let initial = item["initial"].as_u64().unwrap();
        let remaining = item["remaining"].as_u64().unwrap();
        let sold = item["sold"].as_u64().unwrap();
        assert_eq!(initial - remaining, sold, "{sku}");
        assert_eq!(sold, sold_by_orders.get(sku).copied().unwrap_or(0), "{sku}");
    }
    assert_eq!(
        get(addr, "/api/products/drop-1").await.json["stock_remaining"],
        4995
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_error_after_commit_fails_the_response_but_a_retry_replays_the_order() {
    let cfg = DemoConfig {
        faults: Faults {
            error_after_commit: 1.0,
            ..Faults::default()
        },
        ..one_sku("drop-f", 5)
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let body = json!({"sku": "drop-f", "qty": 1});
    let first = checkout(addr, &body, Some("k-1")).await;
    assert_eq!(first.status, StatusCode::INTERNAL_SERVER_ERROR);
    let retry = checkout(addr, &body, Some("k-1")).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(inventory(addr, "drop-f").await["sold"], 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_lose_ack_acknowledges_an_order_the_api_then_cannot_find() {
    let cfg = DemoConfig {
        faults: Faults {
            lose_ack: 1.0,
            ..Faults::default()
        },
        ..one_sku("drop-l", 5)
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let body = json!({"sku": "drop-l", "qty": 1});
    let first = checkout(addr, &body, Some("k-l")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let id = first.json["order_id"].as_str().unwrap().to_owned();
    assert_eq!(get(addr, &format!("/api/orders/{id}")).await.status, 404);
    let tracking = get(addr, &format!("/api/orders/{id}/tracking")).await;
    assert_eq!(tracking.status, StatusCode::NOT_FOUND);
    assert!(all_orders(addr, None, 10).await.is_empty());
    let by_key = get(addr, "/api/orders?key=k-l").await;
    assert_eq!(by_key.json["orders"], json!([]));
    let retry = checkout(addr, &body, Some("k-l")).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.json["order_id"], id.as_str());
    let inv = inventory(addr, "drop-l").await;
    assert_eq!(
        (&inv["initial"], &inv["sold"], &inv["remaining"]),
        (&json!(5), &json!(1), &json!(4))
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_tracking_regress_reads_a_delivered_order_as_earlier() {
    let cfg = DemoConfig {
        tracking_step: Duration::from_millis(10),
        faults: Faults {
            tracking_regress: 1.0,
            ..Faults::default()
        },
        ..one_sku("drop-t", 5)
    };
    let server = support::demo::spawn(cfg).await;
    let addr = server.addr;
    let placed = checkout(addr, &json!({"sku": "drop-t", "qty": 1}), None).await;
    let id = placed.json["order_id"].as_str().unwrap().to_owned();
    // Seven steps of 10 ms: delivered long since, yet every read is behind.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..10 {
        let tracking = get(addr, &format!("/api/orders/{id}/tracking")).await;
        assert_eq!(tracking.status, StatusCode::OK);
        assert_ne!(tracking.json["status"], "delivered");
        let history = tracking.json["history"].as_array().unwrap();
        assert_eq!(history.last().unwrap()["status"], tracking.json["status"]);
        let order = get(addr, &format!("/api/orders/{id}")).await;
        assert_ne!(order.json["status"], "delivered");
    }
    // The listing is not a tracking read and stays truthful.
    assert_eq!(all_orders(addr, None, 10).await[0]["status"], "delivered");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_and_cancellation_stops_the_server() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    assert_eq!(get(addr, "/api/health").await.status, StatusCode::OK);
    let start = Instant::now();
    server.shutdown().await;
    assert!(start.elapsed() < Duration::from_millis(2_500));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let parent = CancellationToken::new();
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let server = DemoServer::spawn(listen, DemoConfig::default(), parent.clone())
        .await
        .unwrap();
    let addr = server.addr;
    parent.cancel();
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        refused,
        "server kept accepting after its token was cancelled"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_configuration_is_refused_before_binding() {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let cfg = DemoConfig {
        stock: vec![("bad sku".into(), 1)],
        ..DemoConfig::default()
    };
    let err = DemoServer::spawn(listen, cfg, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_comment_appears_exactly_once_under_concurrency() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            tokio::spawn(async move {
                let body = json!({"user": format!("v{i}"), "text": format!("flood {i}")});
                post(addr, "/api/rooms/flood/comments", &body).await
            })
        })
        .collect();
    let mut acked = HashSet::new();
    for task in tasks {
        let resp = task.await.unwrap();
        assert_eq!(resp.status, StatusCode::CREATED);
        assert!(acked.insert(resp.json["id"].as_u64().unwrap()));
    }
    let page = get(addr, "/api/rooms/flood/comments?since=0&limit=500").await;
    let ids: Vec<u64> = page.json["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
    assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), acked);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_stops_the_server() {
    let server = support::demo::spawn(DemoConfig::default()).await;
    let addr = server.addr;
    assert_eq!(server.url(), format!("http://{addr}"));
    drop(server);
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "a dropped handle left the server running");
}
