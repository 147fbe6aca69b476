//! Toxics that act on a whole connection rather than on its bytes: what
//! happens between accept and the upstream dial, and resetting a
//! connection at any time.
//!
//! Before the dial: `reset` (either stream) resets the new client at once;
//! an upstream `blackhole` holds the dial while present, like a SYN sent
//! into a partition; `connect_delay` (either stream, delays adding up)
//! holds it for `delay ± jitter` counted from the accept. The client's
//! first bytes wait in the kernel meanwhile and are forwarded after the
//! dial. Afterwards, [`watch_resets`] resets an open connection as soon as
//! a `reset` toxic applying to it appears.
//!
//! Owns these decisions, drawn from the connection's seeded dice (the
//! pipes' dice for stream toxics, so a pipe later agrees with what
//! admission decided). It must not dial, move bytes or speak HTTP:
//! `registry` dials, `link` moves bytes and carries the reset out.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::dice::Dice;
use super::link::{Chain, Stop};
use super::toxic::Kind;

/// What to do with a newly accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Dial the upstream now.
    Dial,
    /// Reset the client without dialing.
    Reset,
    /// The proxy is stopping: close quietly.
    Closed,
}

/// Whether a `reset` toxic on either stream applies to this connection.
fn resets(up: &Chain, down: &Chain, conn: &mut Dice) -> bool {
    up.iter()
        .chain(down.iter())
        .any(|t| t.kind == Kind::Reset && conn.applies(t))
}

/// Waits until the connection accepted at `accepted` may dial its
/// upstream, re-reading the toxics whenever they change (so removing a
/// `blackhole` or a `connect_delay` releases the wait at once, and a
/// `reset` added meanwhile still resets). `pipes` are the upstream and
/// downstream dice, `conn` the connection's own.
pub async fn admit(
    chains: &mut [watch::Receiver<Chain>; 2],
    pipes: &mut [Dice; 2],
    conn: &mut Dice,
    accepted: Instant,
    cancel: &CancellationToken,
) -> Admission {
    let [up_rx, down_rx] = chains;
    let [up_dice, down_dice] = pipes;
    // One draw per `connect_delay` toxic and connection, kept across
    // re-reads so a change elsewhere does not re-roll the delay.
    let mut drawn: HashMap<u64, Duration> = HashMap::new();
    // Each turn consumes one chain change (an API call), or ends the wait.
    loop {
        let up = up_rx.borrow_and_update().clone();
        let down = down_rx.borrow_and_update().clone();
        if resets(&up, &down, conn) {
            return Admission::Reset;
        }
        let held = up
            .iter()
            .any(|t| t.kind == Kind::Blackhole && up_dice.applies(t));
        let mut delay = Duration::ZERO;
        for (chain, dice) in [(&up, &mut *up_dice), (&down, &mut *down_dice)] {
            for t in chain.iter() {
                if !matches!(t.kind, Kind::ConnectDelay { .. }) || !dice.applies(t) {
                    continue;
                }
                delay += *drawn.entry(t.id).or_insert_with(|| match t.kind.delay() {
                    Some(d) => d.sample(&mut dice.rng),
                    None => Duration::ZERO,
                });
            }
        }
        let until = accepted + delay;
        if !held && Instant::now() >= until {
            return Admission::Dial;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Admission::Closed,
            changed = up_rx.changed() => {
                if changed.is_err() {
                    return Admission::Closed;
                }
            }
            changed = down_rx.changed() => {
                if changed.is_err() {
                    return Admission::Closed;
                }
            }
            _ = sleep_until(until), if !held => {}
        }
    }
}

/// Resets the connection (RST to both peers, via `stop.reset` then
/// `stop.cancel`) once a `reset` toxic applying to it appears. Never
/// completes: run it in a `select!` with the connection's pipes, which
/// finish the reset and end the connection.
pub async fn watch_resets(chains: [watch::Receiver<Chain>; 2], mut conn: Dice, stop: Stop) {
    let [mut up_rx, mut down_rx] = chains;
    // Each turn consumes one chain change (an API call), or ends the watch.
    loop {
        let up = up_rx.borrow_and_update().clone();
        let down = down_rx.borrow_and_update().clone();
        conn.retain(|id| up.iter().chain(down.iter()).any(|t| t.id == id));
        if resets(&up, &down, &mut conn) {
            // `reset` first: a pipe woken by `cancel` must already see it.
            stop.reset.cancel();
            stop.cancel.cancel();
            break;
        }
        tokio::select! {
            _ = stop.cancel.cancelled() => break,
            changed = up_rx.changed() => if changed.is_err() { break },
            changed = down_rx.changed() => if changed.is_err() { break },
        }
    }
    std::future::pending::<()>().await;
}
