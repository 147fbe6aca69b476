//! The checkers, one function per invariant.
//!
//! Owns each invariant's definition and its treatment of `unknown`
//! outcomes. Must not read or write anything.

use std::collections::{BTreeMap, BTreeSet};

use super::{fates, Attempt, FinalState, Outcome, Verdict};

/// Per SKU: the distinct order ids acknowledged, and the attempts whose
/// outcome is unknown. Unknowns are counted per attempt, not per key: on a
/// platform that is not idempotent each of them may have placed an order
/// of its own, and judging idempotency is `idempotent`'s job, not the
/// accounting's.
fn per_sku(history: &[Attempt]) -> (BTreeMap<&str, BTreeSet<&str>>, BTreeMap<&str, u64>) {
    let mut acked: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for a in history {
        match &a.outcome {
            Outcome::Ok { order_id } => {
                acked
                    .entry(a.sku.as_str())
                    .or_default()
                    .insert(order_id.as_str());
            }
            Outcome::Unknown => *unknown.entry(a.sku.as_str()).or_default() += 1,
            Outcome::Fail => {}
        }
    }
    (acked, unknown)
}

/// `no_oversell`: per SKU, acknowledged orders ≤ initial stock, and units
/// sold ≤ initial stock.
pub fn no_oversell(history: &[Attempt], state: &FinalState) -> Verdict {
    let mut v = Verdict::new("no_oversell");
    let (acked, _) = per_sku(history);
    for (sku, &initial) in &state.initial {
        v.checked += 1;
        let a = acked.get(sku.as_str()).map_or(0, |ids| ids.len() as u64);
        let sold = state.sold.get(sku).copied().unwrap_or(0);
        if a > initial || sold > initial {
            v.violation(format!(
                "{sku}: {a} acknowledged, {sold} sold, stock was {initial}"
            ));
            // Name the purchases acknowledged once the stock was gone.
            let mut late: Vec<&Attempt> = history
                .iter()
                .filter(|x| x.sku == *sku && matches!(x.outcome, Outcome::Ok { .. }))
                .collect();
            late.sort_by_key(|x| x.at_us);
            let mut seen = BTreeSet::new();
            for x in late {
                let Outcome::Ok { order_id } = &x.outcome else {
                    continue;
                };
                if seen.insert(order_id.as_str()) && seen.len() as u64 > initial {
                    v.example(format!(
                        "{}: order {order_id} acknowledged after the {initial} units of {sku} were gone",
                        x.key
                    ));
                }
            }
        }
    }
    v
}

/// `accounting`: per SKU, acknowledged ≤ sold ≤ acknowledged + unknown,
/// and initial − remaining = sold.
pub fn accounting(history: &[Attempt], state: &FinalState) -> Verdict {
    let mut v = Verdict::new("accounting");
    let (acked, unknown) = per_sku(history);
    for (sku, &initial) in &state.initial {
        v.checked += 1;
        let a = acked.get(sku.as_str()).map_or(0, |ids| ids.len() as u64);
        let u = unknown.get(sku.as_str()).copied().unwrap_or(0);
        let sold = state.sold.get(sku).copied().unwrap_or(0);
        let remaining = state.remaining.get(sku).copied().unwrap_or(initial);
        if sold < a {
            v.violation(format!("{sku}: {a} acknowledged but only {sold} sold"));
        } else if sold > a + u {
            v.violation(format!(
                "{sku}: {sold} sold, more than {a} acknowledged + {u} unknown"
            ));
        } else if initial.checked_sub(remaining) != Some(sold) {
            v.violation(format!(
                "{sku}: stock {initial} − remaining {remaining} ≠ {sold} sold"
            ));
        }
    }
    v
}

/// `idempotent`: at most one order per logical key in the final read.
pub fn idempotent(state: &FinalState) -> Verdict {
    let mut v = Verdict::new("idempotent");
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for o in &state.orders {
        if let Some(k) = &o.key {
            by_key.entry(k.as_str()).or_default().push(o.id.as_str());
        }
    }
    for (key, ids) in &by_key {
        v.checked += 1;
        if ids.len() > 1 {
            v.violation(format!("{key}: {} orders ({})", ids.len(), ids.join(", ")));
        }
    }
    v
}

/// `no_lost_ack`: every acknowledged order id is in the final read.
pub fn no_lost_ack(history: &[Attempt], state: &FinalState) -> Verdict {
    let mut v = Verdict::new("no_lost_ack");
    let present: BTreeSet<&str> = state.orders.iter().map(|o| o.id.as_str()).collect();
    for (key, f) in fates(history) {
        for id in &f.acked {
            v.checked += 1;
            if !present.contains(id.as_str()) {
                v.violation(format!("{key}: order {id} was acknowledged and is gone"));
            }
        }
    }
    v
}

/// `monotonic_tracking`: the statuses one client polled for an order, in
/// poll order, never move backwards along `order` (statuses not in it are
/// ignored).
pub fn monotonic_tracking(polls: &[(String, String)], order: &[&str]) -> Verdict {
    let mut v = Verdict::new("monotonic_tracking");
    let rank = |s: &str| order.iter().position(|o| *o == s);
    let mut last: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut broken: BTreeSet<&str> = BTreeSet::new();
    for (id, status) in polls {
        let Some(r) = rank(status) else { continue };
        seen.insert(id.as_str());
        if let Some(&(prev, prev_name)) = last.get(id.as_str()) {
            if r < prev && broken.insert(id.as_str()) {
                v.violation(format!("{id}: {prev_name} then {status}"));
            }
        }
        if last.get(id.as_str()).is_none_or(|&(p, _)| r >= p) {
            last.insert(id.as_str(), (r, status.as_str()));
        }
    }
    v.checked = seen.len() as u64;
    v
}

/// `exactly_once_comments`: every acknowledged comment appears once in
/// the room's feed (missing: lost; more than once: duplicated).
pub fn exactly_once_comments(acked: &[String], feed: &[String]) -> Verdict {
    let mut v = Verdict::new("exactly_once_comments");
    let mut count: BTreeMap<&str, u64> = BTreeMap::new();
    for id in feed {
        *count.entry(id.as_str()).or_default() += 1;
    }
    for id in acked {
        v.checked += 1;
        match count.get(id.as_str()).copied().unwrap_or(0) {
            1 => {}
            0 => v.violation(format!("{id}: acknowledged, not in the feed")),
            n => v.violation(format!("{id}: {n} times in the feed")),
        }
    }
    v
}
