//! Every checker on hand-written histories, including the `unknown` cases:
//! an unknown attempt that did take effect, and one that did not.

use super::*;

fn ok(key: &str, attempt: u32, id: &str) -> Attempt {
    Attempt {
        key: key.into(),
        attempt,
        sku: "drop-1".into(),
        session: 7,
        started_us: u64::from(attempt) * 1_000 - 500,
        at_us: u64::from(attempt) * 1_000,
        outcome: Outcome::Ok {
            order_id: id.into(),
        },
    }
}

fn fail(key: &str, attempt: u32) -> Attempt {
    Attempt {
        outcome: Outcome::Fail,
        ..ok(key, attempt, "")
    }
}

fn unknown(key: &str, attempt: u32) -> Attempt {
    Attempt {
        outcome: Outcome::Unknown,
        ..ok(key, attempt, "")
    }
}

fn order(id: &str, key: &str) -> Order {
    Order {
        id: id.into(),
        key: Some(key.into()),
        sku: "drop-1".into(),
    }
}

/// Stock 3; `sold` units gone; these orders in the final read.
fn state(sold: u64, orders: Vec<Order>) -> FinalState {
    FinalState {
        initial: [("drop-1".to_owned(), 3)].into(),
        remaining: [("drop-1".to_owned(), 3u64.saturating_sub(sold))].into(),
        sold: [("drop-1".to_owned(), sold)].into(),
        orders,
    }
}

#[test]
fn a_clean_sale_with_a_retried_timeout_holds_everything() {
    // k1 timed out and its retry was acknowledged: idempotency did its
    // job. k2 sold; k3 was definitely refused (sold out).
    let h = vec![
        unknown("k1", 1),
        ok("k1", 2, "o-1"),
        ok("k2", 1, "o-2"),
        fail("k3", 1),
    ];
    let s = state(2, vec![order("o-1", "k1"), order("o-2", "k2")]);
    for v in [
        no_oversell(&h, &s),
        accounting(&h, &s),
        idempotent(&s),
        no_lost_ack(&h, &s),
    ] {
        assert!(v.holds, "{v:?}");
        assert!(v.checked > 0);
    }
}

#[test]
fn an_unknown_attempt_that_took_effect_is_neither_lost_nor_a_duplicate() {
    // k9's only attempt timed out, yet the platform placed the order.
    let h = vec![ok("k1", 1, "o-1"), unknown("k9", 1)];
    let s = state(2, vec![order("o-1", "k1"), order("o-9", "k9")]);
    assert!(accounting(&h, &s).holds, "1 acked ≤ 2 sold ≤ 1 + 1 unknown");
    assert!(no_lost_ack(&h, &s).holds);
    assert!(idempotent(&s).holds);
    assert!(no_oversell(&h, &s).holds);
}

#[test]
fn an_unknown_attempt_that_did_not_take_effect_is_fine_too() {
    let h = vec![ok("k1", 1, "o-1"), unknown("k9", 1)];
    let s = state(1, vec![order("o-1", "k1")]);
    assert!(accounting(&h, &s).holds);
    assert!(no_lost_ack(&h, &s).holds);
}

#[test]
fn more_sold_than_acknowledged_and_unknown_breaks_accounting() {
    let h = vec![ok("k1", 1, "o-1"), fail("k2", 1)];
    let s = state(2, vec![order("o-1", "k1"), order("o-2", "k2")]);
    let v = accounting(&h, &s);
    assert!(!v.holds);
    assert_eq!(v.violations, 1);
    assert!(
        v.examples[0].contains("2 sold, more than 1 acknowledged + 0 unknown"),
        "{v:?}"
    );
}

#[test]
fn stock_that_does_not_add_up_breaks_accounting() {
    let h = vec![ok("k1", 1, "o-1")];
    let mut s = state(1, vec![order("o-1", "k1")]);
    s.remaining.insert("drop-1".into(), 1);
    let v = accounting(&h, &s);
    assert!(!v.holds);
    assert!(
        v.examples[0].contains("stock 3 − remaining 1 ≠ 1 sold"),
        "{v:?}"
    );
}

#[test]
fn acknowledging_past_the_stock_is_an_oversell() {
    let h: Vec<Attempt> = (1..=4)
        .map(|i| ok(&format!("k{i}"), 1, &format!("o-{i}")))
        .collect();
    let s = state(
        4,
        (1..=4)
            .map(|i| order(&format!("o-{i}"), &format!("k{i}")))
            .collect(),
    );
    let v = no_oversell(&h, &s);
    assert!(!v.holds);
    assert_eq!(v.violations, 1);
    // The SKU, then the purchase acknowledged once the stock was gone.
    assert_eq!(
        v.examples,
        [
            "drop-1: 4 acknowledged, 4 sold, stock was 3",
            "k4: order o-4 acknowledged after the 3 units of drop-1 were gone"
        ]
    );
}

#[test]
fn two_orders_for_one_key_are_a_duplicate() {
    let s = state(
        3,
        vec![order("o-1", "k1"), order("o-2", "k1"), order("o-3", "k3")],
    );
    let v = idempotent(&s);
    assert!(!v.holds);
    assert_eq!(v.checked, 2);
    assert_eq!(v.examples, ["k1: 2 orders (o-1, o-2)"]);
}

#[test]
fn an_acknowledged_order_missing_from_the_read_is_lost() {
    let h = vec![ok("k1", 1, "o-1"), ok("k2", 1, "o-2")];
    let s = state(1, vec![order("o-1", "k1")]);
    let v = no_lost_ack(&h, &s);
    assert!(!v.holds);
    assert_eq!(v.examples, ["k2: order o-2 was acknowledged and is gone"]);
}

#[test]
fn tracking_that_moves_backwards_is_caught_once_per_order() {
    let order_names = ["placed", "paid", "shipped", "delivered"];
    let polls: Vec<(String, String)> = [
        ("o-1", "placed"),
        ("o-1", "shipped"),
        ("o-1", "delivered"),
        ("o-2", "paid"),
        ("o-2", "delivered"),
        ("o-2", "shipped"),
        ("o-2", "paid"),
        ("o-3", "mystery"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    let v = monotonic_tracking(&polls, &order_names);
    assert!(!v.holds);
    assert_eq!(v.checked, 2, "an unknown status is not judged");
    assert_eq!(v.examples, ["o-2: delivered then shipped"]);
}

#[test]
fn comments_must_appear_exactly_once() {
    let s = |x: &[&str]| x.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    let v = exactly_once_comments(&s(&["c1", "c2", "c3"]), &s(&["c1", "c3", "c3", "c4"]));
    assert!(!v.holds);
    assert_eq!(v.checked, 3);
    assert_eq!(
        v.examples,
        [
            "c2: acknowledged, not in the feed",
            "c3: 2 times in the feed"
        ]
    );
    assert!(exactly_once_comments(&s(&["c1"]), &s(&["c1", "c9"])).holds);
}

#[test]
fn examples_stop_at_twenty() {
    let h: Vec<Attempt> = (0..50)
        .map(|i| ok(&format!("k{i}"), 1, &format!("o-{i}")))
        .collect();
    let v = no_lost_ack(&h, &state(0, Vec::new()));
    assert_eq!(v.violations, 50);
    assert_eq!(v.examples.len(), MAX_EXAMPLES);
}

#[test]
fn the_history_exports_as_one_json_object_per_attempt() {
    let log = Log {
        checkouts: vec![unknown("k1", 1), ok("k1", 2, "o-1"), fail("k2", 3)],
        polls: vec![Poll {
            order_id: "o-1".into(),
            status: "paid".into(),
            session: 7,
            at_us: 2_500,
        }],
        comments: Vec::new(),
    };
    let text = to_jsonl(&log);
    assert_eq!(text.lines().count(), 4);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["op"], "checkout");
    assert_eq!(lines[0]["key"], "k1");
    assert_eq!(lines[0]["attempt"], 1);
    assert_eq!(lines[0]["outcome"], "unknown");
    assert_eq!(lines[1]["outcome"], "ok");
    assert_eq!(lines[1]["order_id"], "o-1");
    // In the order they ended: the poll at 2.5 ms sits between attempts.
    assert_eq!(lines[2]["op"], "track");
    assert_eq!(lines[2]["status"], "paid");
    assert_eq!(from_jsonl(&text).unwrap(), log);
    assert_eq!(
        from_jsonl("{\"op\":\"checkout\",\"key\":1}\n")
            .unwrap_err()
            .0,
        1
    );
}

#[test]
fn the_elle_export_is_a_well_formed_set_full_history() {
    let log = Log {
        checkouts: vec![unknown("k1", 1), ok("k1", 2, "o-1"), fail("k2", 3)],
        ..Log::default()
    };
    let st = state(0, vec![order("o-1", "k1")]);
    let ops: Vec<serde_json::Value> = serde_json::from_str(&to_elle(&log, Some(&st))).unwrap();
    // Three attempts, each invoked and completed, then the final read.
    assert_eq!(ops.len(), 8);
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op["index"], i);
    }
    let times: Vec<u64> = ops.iter().map(|o| o["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let kinds: Vec<&str> = ops.iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "invoke").count(), 4);
    assert!(kinds.contains(&"info") && kinds.contains(&"fail"));
    // Every process completes what it invoked, and never invokes twice.
    for p in 0..3 {
        let mine: Vec<&str> = ops
            .iter()
            .filter(|o| o["process"] == p)
            .map(|o| o["type"].as_str().unwrap())
            .collect();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0], "invoke");
    }
    // An attempt that ended in the microsecond it started is still
    // invoked before it completes.
    let mut instant = fail("k3", 1);
    instant.started_us = instant.at_us;
    let single: Vec<serde_json::Value> = serde_json::from_str(&to_elle(
        &Log {
            checkouts: vec![instant],
            ..Log::default()
        },
        None,
    ))
    .unwrap();
    assert_eq!(single[0]["type"], "invoke");
    assert_eq!(single[1]["type"], "fail");
    let read = &ops[7];
    assert_eq!(read["f"], "read");
    assert_eq!(read["value"], serde_json::json!(["k1"]));
}

#[test]
fn a_duplicate_after_an_unknown_attempt_breaks_idempotency_not_the_books() {
    // k1's first answer was cut off (it placed o-1); its retry placed o-2
    // instead of replaying o-1. Two sold, one acknowledged, one unknown:
    // the books add up, the key bought twice.
    let h = vec![unknown("k1", 1), ok("k1", 2, "o-2")];
    let st = state(2, vec![order("o-1", "k1"), order("o-2", "k1")]);
    assert!(accounting(&h, &st).holds, "{:?}", accounting(&h, &st));
    assert!(no_oversell(&h, &st).holds);
    assert!(no_lost_ack(&h, &st).holds);
    let v = idempotent(&st);
    assert!(!v.holds);
    assert_eq!(v.examples, vec!["k1: 2 orders (o-1, o-2)".to_owned()]);
}
