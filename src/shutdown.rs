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
        tokio::spawn(async move {
            for token in [&tokens.stop, &tokens.force] {
                if !wait_for_signal().await {
                    return;
                }
                token.cancel();
            }
        });
        me
    }
}

/// Wait for SIGINT or SIGTERM; false if no listener could be installed.
async fn wait_for_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
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
