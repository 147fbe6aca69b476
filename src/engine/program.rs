//! The flow interpreter: a program of requests, funnel draws, pauses,
//! loops and branches, run by whatever sends the requests — a session of
//! flashcrowd's own engine, or a user of the Goose engine — so both read a
//! scenario exactly alike.
//!
//! Owns the meaning of each [`Action`]. Must not send requests, sleep or
//! record anything itself: the [`Player`] does.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rand::Rng;
use rand_pcg::Pcg64Mcg;
use tokio::time::Instant;

use crate::scenario::Action;

/// Whether the program goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Go,
    /// A funnel exit, a failed request, or time is up.
    Stop,
}

/// What runs a program.
pub(crate) trait Player: Send {
    /// The random stream funnel draws, pauses and branches draw from.
    fn rng(&mut self) -> &mut Pcg64Mcg;
    /// The player must leave now (its time is over or the run stopped).
    fn time_is_up(&self) -> bool;
    /// The next request's time origin: when it was due (a periodic loop
    /// round), or `None` for when it leaves (after a pause).
    fn set_origin(&mut self, _from: Option<Instant>) {}
    /// Run request step `step`.
    fn play_step(&mut self, step: usize) -> impl Future<Output = Next> + Send;
    /// Sleep until `when`, or less if the player must leave first.
    fn pause_until(&mut self, when: Instant) -> impl Future<Output = Next> + Send;
}

type Boxed<'s> = Pin<Box<dyn Future<Output = Next> + Send + 's>>;

/// Run `actions` in order. Boxed because loops and branches recurse.
pub(crate) fn exec<'s, 'a: 's, P: Player>(p: &'s mut P, actions: &'a [Action]) -> Boxed<'s> {
    Box::pin(run_actions(p, actions))
}

/// Run `actions` in order, unboxed: for the top of a program.
pub(crate) async fn run_actions<P: Player>(p: &mut P, actions: &[Action]) -> Next {
    for action in actions {
        if p.time_is_up() {
            return Next::Stop;
        }
        let go = match action {
            Action::Request { step, chance } => {
                if *chance < 1.0 && !p.rng().random_bool(chance.clamp(0.0, 1.0)) {
                    Next::Stop
                } else {
                    p.play_step(*step).await
                }
            }
            Action::Think(dist) => {
                // A pause before the first request is part of the plan,
                // not of anyone's latency.
                p.set_origin(None);
                let pause = dist.sample(p.rng());
                p.pause_until(Instant::now() + pause).await
            }
            Action::Loop { times, every, body } => run_loop(p, *times, *every, body).await,
            Action::Choose(branches) => match pick(branches, p.rng().random()) {
                Some(body) => exec(p, body).await,
                None => Next::Go,
            },
        };
        if go == Next::Stop {
            return Next::Stop;
        }
    }
    Next::Go
}

/// Run a loop's body `times` times (or until the player leaves), a round
/// every `every` if given. Not boxed: the recursion goes through [`exec`].
async fn run_loop<P: Player>(
    p: &mut P,
    times: Option<u32>,
    every: Option<Duration>,
    body: &[Action],
) -> Next {
    let mut round = 0u32;
    let mut started = Instant::now();
    while times.is_none_or(|t| round < t) {
        if every.is_some() && round > 0 {
            // A periodic round is timed from when it was due, so a round
            // that starts late (the previous one overran) is charged for it.
            p.set_origin(Some(started));
        }
        if exec(p, body).await == Next::Stop {
            return Next::Stop;
        }
        round += 1;
        let more = times.is_none_or(|t| round < t);
        if let (Some(every), true) = (every, more) {
            started += every;
            if p.pause_until(started).await == Next::Stop {
                return Next::Stop;
            }
        } else if times.is_none() {
            // An endless loop without a period must still let the runtime
            // breathe; the player's time bounds it.
            tokio::task::yield_now().await;
        }
    }
    Next::Go
}

/// The branch whose weight band holds `x` (uniform in [0, 1)); the last one
/// if rounding leaves `x` past every band.
pub(crate) fn pick(branches: &[(f64, Vec<Action>)], mut x: f64) -> Option<&[Action]> {
    for (w, body) in branches {
        if x < *w {
            return Some(body);
        }
        x -= w;
    }
    branches.last().map(|(_, b)| b.as_slice())
}
