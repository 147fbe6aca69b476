//! Waiting on rare control events (a connection's stop, a change of its
//! toxic chain) without polling them at every wake-up of the task.
//!
//! Owns only that bookkeeping: a control future is polled with a waker that
//! marks it fired before waking the task, and the task polls it again only
//! when the mark is set. It must not know what the futures mean.
//!
//! Why: a connection's pipes and its reset watch share one task, so every
//! byte that arrives polls all of them; polling a stop token or a watch
//! takes a lock each, and doing so for every read and write was close to a
//! tenth of the proxy's CPU time per small request. An atomic flag costs
//! next to nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The mark and the task to wake. Starts marked, so each control future is
/// polled (and so registered) once.
pub(super) struct Attention {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Attention {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Attention {
    /// A new mark, set, with the waker its control futures are polled with.
    pub(super) fn new() -> (Arc<Attention>, Waker) {
        let attention = Arc::new(Attention {
            fired: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(Arc::clone(&attention));
        (attention, waker)
    }

    /// Records the task to wake; true (and the mark cleared) when a control
    /// future woke it since the last `take`.
    pub(super) fn take(&self, cx: &Context<'_>) -> bool {
        self.task.register(cx.waker());
        self.fired.swap(false, Ordering::AcqRel)
    }

    /// Like `take`, but leaves the mark for a later `take`.
    pub(super) fn peek(&self, cx: &Context<'_>) -> bool {
        self.task.register(cx.waker());
        self.fired.load(Ordering::Acquire)
    }

    /// Sets the mark: a control future not polled yet must be, once.
    pub(super) fn arm(&self) {
        self.fired.store(true, Ordering::Release);
    }
}

/// A future polled only when it woke its task (and once at first).
pub(super) struct OnWake<F> {
    inner: F,
    attention: Arc<Attention>,
    waker: Waker,
}

impl<F: Future + Unpin> OnWake<F> {
    pub(super) fn new(inner: F) -> OnWake<F> {
        let (attention, waker) = Attention::new();
        OnWake {
            inner,
            attention,
            waker,
        }
    }
}

impl<F: Future + Unpin> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if !this.attention.take(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::watch;

    #[tokio::test]
    async fn a_control_future_completes_once_it_fires_and_is_skipped_until_then() {
        let (tx, mut rx) = watch::channel(0u32);
        let mut changed = Box::pin(rx.changed());
        let mut on = OnWake::new(changed.as_mut());
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // First poll registers it.
        assert!(Pin::new(&mut on).poll(&mut cx).is_pending());
        assert!(!on.attention.fired.load(Ordering::Acquire));
        // Not fired: not even polled.
        assert!(Pin::new(&mut on).poll(&mut cx).is_pending());
        assert!(tx.send(1).is_ok());
        assert!(on.attention.fired.load(Ordering::Acquire));
        assert!(matches!(
            Pin::new(&mut on).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
    }
}
