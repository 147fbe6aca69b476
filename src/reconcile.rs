//! Reconciliation: after the load and a settle delay, read the platform's
//! final state through the read paths the scenario declares (stock per
//! SKU, orders per SKU, a room's comments), and hand it with the run's
//! history to the invariant checkers.
//!
//! Read shapes, by convention (the demo platform's): an inventory answers
//! `{"initial", "sold", "remaining"}`; a page of orders is
//! `{"orders": [{"order_id", "idempotency_key", "sku"}], "next_after"}`; a
//! page of comments is `{"comments": [{"id"}], "next_since", "has_more",
//! "truncated"}`. Pages are followed until the cursor is null, `has_more`
//! is false or a page comes back empty.
//!
//! Owns the reads and which checker runs on what. Must not judge
//! (`invariants` does) or touch the load's metrics.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::engine::h1::H1Conn;
use crate::engine::tls::{TlsOptions, TlsTarget};
use crate::invariants::{self, FinalState, Log, Order, Verdict};
use crate::scenario::{InvariantKind, Invariants};

/// Deadline of one read.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most pages one listing is followed for; a platform whose cursor never
/// ends must not keep the run alive.
const MAX_PAGES: usize = 10_000;

/// Where reads go: the target's address, `Host` and path prefix.
#[derive(Debug, Clone)]
pub struct ReadTarget {
    pub addr: SocketAddr,
    pub host: String,
    pub base_path: String,
    /// Set for `https://` targets.
    pub tls: Option<TlsTarget>,
}

impl ReadTarget {
    /// Reads go to `addr` (the target resolved), with the target URL's
    /// `Host` and path prefix, over TLS (as the run's requests) for
    /// `https://`.
    pub fn new(url: &url::Url, addr: SocketAddr, tls: &TlsOptions) -> Result<Self, String> {
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => addr.to_string(),
        };
        let tls = match (url.scheme(), url.host_str()) {
            ("https", Some(h)) => Some(TlsTarget::new(h, tls).map_err(|e| e.to_string())?),
            _ => None,
        };
        Ok(ReadTarget {
            addr,
            host,
            base_path: url.path().trim_end_matches('/').to_owned(),
            tls,
        })
    }
}

/// The outcome of reconciliation, as the report keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconciled {
    /// One verdict per declared invariant, in the scenario's order.
    pub verdicts: Vec<Verdict>,
    /// Invariants that could not be judged because a read failed, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<(String, String)>,
    /// How many ledger records the history holds.
    pub attempts: u64,
    pub polls: u64,
    pub comments: u64,
    /// Attempts whose outcome was unknown.
    pub unknown: u64,
    /// The settle delay waited before reading, in ms.
    pub settle_ms: u64,
}

impl Reconciled {
    pub fn broken(&self) -> bool {
        self.verdicts.iter().any(|v| !v.holds)
    }
}

/// Why a read failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("GET {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("GET {path}: the answer lacks `{field}`")]
    Shape { path: String, field: &'static str },
    #[error("interrupted")]
    Interrupted,
}

/// Where the platform's state is read and how its tracking statuses are
/// ordered, for whatever the scenario does not say itself. The caller
/// supplies them (the embedded demo's conventions), so this module does not
/// depend on the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPaths {
    pub inventory: String,
    pub orders: String,
    pub comments: String,
    pub tracking_order: Vec<String>,
}

impl ReadPaths {
    /// These, with the scenario's own paths and order where it gives them.
    fn overridden_by(&self, spec: &Invariants) -> ReadPaths {
        let pick = |own: &Option<String>, default: &String| own.clone().unwrap_or(default.clone());
        ReadPaths {
            inventory: pick(&spec.inventory, &self.inventory),
            orders: pick(&spec.orders, &self.orders),
            comments: pick(&spec.comments, &self.comments),
            tracking_order: spec
                .tracking_order
                .clone()
                .unwrap_or_else(|| self.tracking_order.clone()),
        }
    }
}

/// Wait `spec.settle`, read what the declared invariants need and judge
/// them, reading through `defaults` where the scenario names no path.
/// Never fails as a whole: a failed read leaves the invariants that needed
/// it unjudged, listed in `unread`.
pub async fn run(
    spec: &Invariants,
    defaults: &ReadPaths,
    target: &ReadTarget,
    log: &Log,
    stop: &CancellationToken,
) -> (Reconciled, Option<FinalState>) {
    let mut out = Reconciled {
        attempts: log.checkouts.len() as u64,
        polls: log.polls.len() as u64,
        comments: log.comments.len() as u64,
        unknown: log
            .checkouts
            .iter()
            .filter(|a| a.outcome == invariants::Outcome::Unknown)
            .count() as u64,
        settle_ms: u64::try_from(spec.settle.as_millis()).unwrap_or(u64::MAX),
        ..Reconciled::default()
    };
    tokio::select! {
        () = tokio::time::sleep(spec.settle) => {}
        () = stop.cancelled() => {}
    }
    let paths = defaults.overridden_by(spec);
    let needs_orders = spec.check.iter().any(|k| k.reads_orders());
    let state = if needs_orders {
        Some(read_state(&paths, target, log, stop).await)
    } else {
        None
    };
    let feed = if spec.check.contains(&InvariantKind::ExactlyOnceComments) {
        Some(read_feed(&paths, &spec.room, target, stop).await)
    } else {
        None
    };
    for kind in &spec.check {
        let name = kind.name();
        let verdict = match kind {
            InvariantKind::MonotonicTracking => {
                let order: Vec<&str> = paths.tracking_order.iter().map(String::as_str).collect();
                Ok(invariants::monotonic_tracking(&log.poll_pairs(), &order))
            }
            InvariantKind::ExactlyOnceComments => match &feed {
                Some(Ok(feed)) => Ok(judge_comments(log, feed)),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("not read".into()),
            },
            k => match &state {
                Some(Ok(st)) => Ok(match k {
                    InvariantKind::NoOversell => invariants::no_oversell(&log.checkouts, st),
                    InvariantKind::Accounting => invariants::accounting(&log.checkouts, st),
                    InvariantKind::Idempotent => invariants::idempotent(st),
                    _ => invariants::no_lost_ack(&log.checkouts, st),
                }),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("not read".into()),
            },
        };
        match verdict {
            Ok(v) => out.verdicts.push(v),
            Err(e) => out.unread.push((name.to_owned(), e)),
        }
    }
    let state = state.and_then(Result::ok);
    (out, state)
}

/// A room's feed: comment ids in feed order, and whether older comments
/// were already evicted.
struct Feed {
    ids: Vec<String>,
    truncated: bool,
}

fn judge_comments(log: &Log, feed: &Feed) -> Verdict {
    let mut acked: Vec<String> = log.comments.iter().map(|c| c.id.clone()).collect();
    if feed.truncated {
        // Comments older than what the feed still holds cannot be
        // confirmed either way: judge only those from its first one on.
        let first = feed.ids.iter().filter_map(|i| i.parse::<u64>().ok()).min();
        acked.retain(|id| match (id.parse::<u64>(), first) {
            (Ok(n), Some(f)) => n >= f,
            _ => true,
        });
    }
    invariants::exactly_once_comments(&acked, &feed.ids)
}

async fn read_state(
    spec: &ReadPaths,
    target: &ReadTarget,
    log: &Log,
    stop: &CancellationToken,
) -> Result<FinalState, ReadError> {
    let skus: BTreeSet<&str> = log
        .checkouts
        .iter()
        .map(|a| a.sku.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    let mut st = FinalState::default();
    for sku in skus {
        let path = spec.inventory.replace("{sku}", &encode(sku));
        let inv = get(target, &path, stop).await?;
        let field = |name: &'static str| {
            inv.get(name)
                .and_then(Value::as_u64)
                .ok_or(ReadError::Shape {
                    path: path.clone(),
                    field: name,
                })
        };
        st.initial.insert(sku.to_owned(), field("initial")?);
        st.sold.insert(sku.to_owned(), field("sold")?);
        st.remaining.insert(sku.to_owned(), field("remaining")?);
        let path = |after: &str| {
            spec.orders
                .replace("{sku}", &encode(sku))
                .replace("{after}", &encode(after))
        };
        listing(target, stop, "", path, "orders", |_, items| {
            for o in items {
                let Some(id) = o.get("order_id").and_then(text) else {
                    continue;
                };
                st.orders.push(Order {
                    id,
                    key: o.get("idempotency_key").and_then(text),
                    sku: o
                        .get("sku")
                        .and_then(text)
                        .unwrap_or_else(|| sku.to_owned()),
                });
            }
        })
        .await?;
    }
    Ok(st)
}

async fn read_feed(
    spec: &ReadPaths,
    room: &str,
    target: &ReadTarget,
    stop: &CancellationToken,
) -> Result<Feed, ReadError> {
    let mut feed = Feed {
        ids: Vec::new(),
        truncated: false,
    };
    let path = |after: &str| {
        spec.comments
            .replace("{room}", &encode(room))
            .replace("{after}", &encode(after))
    };
    listing(target, stop, "0", path, "comments", |page, items| {
        feed.truncated |= page.get("truncated").and_then(Value::as_bool) == Some(true);
        feed.ids
            .extend(items.iter().filter_map(|c| c.get("id").and_then(text)));
    })
    .await?;
    Ok(feed)
}

/// Follow a paged listing from cursor `first`: `path` names the page at a
/// cursor, `items` is the field holding its entries, and `each` sees every
/// page with its entries. Stops at the end of the listing or after
/// [`MAX_PAGES`].
async fn listing(
    target: &ReadTarget,
    stop: &CancellationToken,
    first: &str,
    path: impl Fn(&str) -> String,
    items: &'static str,
    mut each: impl FnMut(&Value, &[Value]),
) -> Result<(), ReadError> {
    let mut after = first.to_owned();
    for _ in 0..MAX_PAGES {
        let p = path(&after);
        let page = get(target, &p, stop).await?;
        let list = page
            .get(items)
            .and_then(Value::as_array)
            .ok_or(ReadError::Shape {
                path: p,
                field: items,
            })?;
        each(&page, list);
        match next_cursor(&page, &after) {
            Some(c) if !list.is_empty() => after = c,
            _ => break,
        }
    }
    Ok(())
}

/// The cursor of the next page, if there is one and it moved.
fn next_cursor(page: &Value, current: &str) -> Option<String> {
    if page.get("has_more").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    let next = ["next_after", "next_since", "next"]
        .iter()
        .find_map(|k| page.get(*k))
        .and_then(text)?;
    (next != current).then_some(next)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Percent-encode a value placed into a query or path.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One GET, decoded as JSON; non-2xx is an error.
async fn get(
    target: &ReadTarget,
    path: &str,
    stop: &CancellationToken,
) -> Result<Value, ReadError> {
    let err = |reason: String| ReadError::Read {
        path: path.to_owned(),
        reason,
    };
    let request = format!(
        "GET {}{path} HTTP/1.1\r\nhost: {}\r\naccept: application/json\r\nuser-agent: flashcrowd/{}\r\nconnection: close\r\n\r\n",
        target.base_path,
        target.host,
        env!("CARGO_PKG_VERSION"),
    );
    let exchange = async {
        let mut conn = H1Conn::connect_to(target.addr, target.tls.as_ref())
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut body = Vec::new();
        let head = conn
            .exchange(request.as_bytes(), false, true, &mut body)
            .await
            .map_err(|e| err(format!("{e:?}")))?;
        Ok::<_, ReadError>((head.status, body))
    };
    let (status, body) = tokio::select! {
        r = tokio::time::timeout(READ_TIMEOUT, exchange) => match r {
            Ok(r) => r?,
            Err(_) => return Err(err(format!("no answer within {READ_TIMEOUT:?}"))),
        },
        () = stop.cancelled() => return Err(ReadError::Interrupted),
    };
    if !(200..300).contains(&status) {
        return Err(err(format!("status {status}")));
    }
    serde_json::from_slice(&body).map_err(|e| err(format!("not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenarios_own_paths_and_order_win_over_the_defaults() {
        let defaults = ReadPaths {
            inventory: "/api/inventory/{sku}".into(),
            orders: "/api/orders?sku={sku}&after={after}".into(),
            comments: "/c/{room}?since={after}".into(),
            tracking_order: vec!["placed".into(), "delivered".into()],
        };
        let spec = Invariants {
            inventory: Some("/stock/{sku}".into()),
            tracking_order: Some(vec!["new".into(), "done".into()]),
            ..Invariants::default()
        };
        let paths = defaults.overridden_by(&spec);
        assert_eq!(paths.inventory, "/stock/{sku}");
        assert_eq!(paths.orders, defaults.orders);
        assert_eq!(paths.comments, defaults.comments);
        assert_eq!(paths.tracking_order, ["new", "done"]);
        assert_eq!(defaults.overridden_by(&Invariants::default()), defaults);
    }

    #[test]
    fn cursors_stop_on_null_no_more_or_no_progress() {
        let page = serde_json::json!({"next_after": "o-9"});
        assert_eq!(next_cursor(&page, ""), Some("o-9".into()));
        assert_eq!(next_cursor(&page, "o-9"), None);
        assert_eq!(
            next_cursor(&serde_json::json!({"next_after": null}), ""),
            None
        );
        let more = serde_json::json!({"next_since": 40, "has_more": true});
        assert_eq!(next_cursor(&more, "0"), Some("40".into()));
        let done = serde_json::json!({"next_since": 40, "has_more": false});
        assert_eq!(next_cursor(&done, "0"), None);
        assert_eq!(encode("a b/ü"), "a%20b%2F%C3%BC");
    }

    #[test]
    fn comments_evicted_from_the_feed_are_not_called_lost() {
        let log = Log {
            comments: ["3", "7", "8"]
                .iter()
                .map(|id| invariants::Posted {
                    id: (*id).into(),
                    session: 1,
                    at_us: 0,
                })
                .collect(),
            ..Log::default()
        };
        let feed = Feed {
            ids: vec!["7".into(), "8".into(), "9".into()],
            truncated: true,
        };
        let v = judge_comments(&log, &feed);
        assert!(v.holds, "{v:?}");
        assert_eq!(v.checked, 2);
        let whole = Feed {
            truncated: false,
            ..feed
        };
        assert!(!judge_comments(&log, &whole).holds);
    }
}
