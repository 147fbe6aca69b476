//! Interrupt handling: turns Ctrl-C and SIGTERM into cancellation tokens.
//!
//! Owns the process's signal listeners. The first signal cancels `stop`
//! (finish gracefully: stop scheduling, let requests end, write a partial
//! report); the second cancels `force` (leave at once). Nothing here exits
//! the process: the binary's edge decides what a cancelled token means.
//!
//! With the `goose` feature, SIGINT is taken through the `ctrlc` crate
//! rather than tokio's listener (see [`sigint`]): Goose installs a `ctrlc`
//! handler of its own whenever it runs, which would otherwise replace
//! flashcrowd's for the rest of the process.

use tokio_util::sync::CancellationToken;

/// Tokens cancelled by the first and second interrupt.
#[derive(Clone, Debug, Default)]
pub struct Interrupts {
    pub stop: CancellationToken,
    pub force: CancellationToken,
}

impl Interrupts {
    /// Start listening on the current runtime. The listener ends with the
    /// runtime or after the second signal.
    pub fn listen() -> Interrupts {
        let me = Interrupts::default();
        let tokens = me.clone();
        // Claimed before the task starts, so no SIGINT can fall between
        // this call and the listener's first wait.
        let mut signals = Signals::new();
        tokio::spawn(async move {
            for token in [&tokens.stop, &tokens.force] {
                if !signals.next().await {
                    return;
                }
                token.cancel();
            }
        });
        me
    }
}

/// Where the interrupts come from.
struct Signals {
    /// SIGINTs counted by flashcrowd's own `ctrlc` handler, and how many of
    /// them were handed out already.
    #[cfg(all(unix, feature = "goose"))]
    forwarded: Option<(tokio::sync::watch::Receiver<u64>, u64)>,
}

impl Signals {
    fn new() -> Self {
        Signals {
            #[cfg(all(unix, feature = "goose"))]
            forwarded: sigint::claim().map(|rx| {
                let seen = *rx.borrow();
                (rx, seen)
            }),
        }
    }

    /// Wait for the next SIGINT or SIGTERM; false if no listener could be
    /// installed.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return false;
            };
            #[cfg(feature = "goose")]
            if let Some((rx, seen)) = &mut self.forwarded {
                return next_forwarded(rx, seen, &mut term).await;
            }
            let Ok(mut int) = signal(SignalKind::interrupt()) else {
                return false;
            };
            tokio::select! {
                _ = int.recv() => true,
                _ = term.recv() => true,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

/// The next SIGINT the `ctrlc` handler counted (one at a time, however
/// quickly they came), or SIGTERM.
#[cfg(all(unix, feature = "goose"))]
async fn next_forwarded(
    rx: &mut tokio::sync::watch::Receiver<u64>,
    seen: &mut u64,
    term: &mut tokio::signal::unix::Signal,
) -> bool {
    // Bounded: every pass either hands out a counted signal or waits.
    loop {
        if *rx.borrow_and_update() > *seen {
            *seen += 1;
            return true;
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return false;
                }
            }
            _ = term.recv() => return true,
        }
    }
}

/// SIGINT through the `ctrlc` crate, which Goose also uses.
///
/// `ctrlc` lets one handler be set per process and replaces whatever
/// handled SIGINT before (tokio's listener included). Goose calls it at the
/// start of every run; when a handler is already set, Goose's call fails
/// harmlessly. So flashcrowd sets its own first and forwards every SIGINT to
/// its [`Interrupts`]: Goose's handler never exists, and Ctrl-C means the
/// same before, during and after a Goose run.
#[cfg(all(unix, feature = "goose"))]
pub(crate) mod sigint {
    use std::sync::OnceLock;

    use tokio::sync::watch;

    /// Counts SIGINTs once the handler is set; `None` inside when `ctrlc`
    /// refused (someone else in the process set a handler first).
    static SEEN: OnceLock<Option<watch::Sender<u64>>> = OnceLock::new();

    /// Set flashcrowd's SIGINT handler, once per process, and subscribe to
    /// the count of SIGINTs. `None` when the handler could not be set.
    pub(crate) fn claim() -> Option<watch::Receiver<u64>> {
        SEEN.get_or_init(|| {
            let (tx, _) = watch::channel(0u64);
            ctrlc::set_handler(forward).ok().map(|()| tx)
        })
        .as_ref()
        .map(watch::Sender::subscribe)
    }

    /// Runs on `ctrlc`'s own thread for every SIGINT.
    fn forward() {
        match SEEN.get().and_then(Option::as_ref) {
            Some(tx) if tx.receiver_count() > 0 => tx.send_modify(|n| *n += 1),
            // Nobody in the process listens for interrupts (a library
            // caller that ran the Goose engine without `Interrupts`): end
            // the process, as SIGINT's default would.
            _ => std::process::exit(130),
        }
    }
}
