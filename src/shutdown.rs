//! Interrupt handling: turns Ctrl-C and SIGTERM into cancellation tokens.
//!
//! Owns the process's signal listeners. The first signal cancels `stop`
//! (finish gracefully: stop scheduling, let requests end, write a partial
//! report); the second cancels `force` (leave at once). Nothing here exits
//! the process: the binary's edge decides what a cancelled token means.

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
        // Installed here, before the caller prints or binds anything: a
        // signal that arrived before a lazily started listener had run
        // would take the default action and kill the process outright.
        let listener = Listener::install();
        tokio::spawn(async move {
            let Some(mut listener) = listener else {
                return;
            };
            for token in [&tokens.stop, &tokens.force] {
                if !listener.next().await {
                    return;
                }
                token.cancel();
            }
        });
        me
    }
}

/// The installed SIGINT and SIGTERM handlers.
struct Listener {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Listener {
    /// `None` if no handler could be installed.
    fn install() -> Option<Listener> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Some(Listener {
                int: signal(SignalKind::interrupt()).ok()?,
                term: signal(SignalKind::terminate()).ok()?,
            })
        }
        #[cfg(not(unix))]
        {
            Some(Listener {})
        }
    }

    /// Wait for the next SIGINT or SIGTERM; false if the handlers are gone.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            tokio::select! {
                r = self.int.recv() => r.is_some(),
                r = self.term.recv() => r.is_some(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}
