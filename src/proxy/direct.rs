//! The direct mode of a pipe: forwarding bytes unchanged while its
//! direction has no toxic, as cheaply as the platform allows.
//!
//! Owns only moving bytes from one socket to the other and noticing, between
//! two moves, that the toxic chain changed or the connection was told to
//! stop. Bytes are copied through a reused buffer, and a move always
//! finishes (every byte read has been written) before the chain is looked at
//! again, so handing over to the toxic mode never loses or reorders a byte.
//! It must not apply toxics or decide how a pipe ends.
//!
//! `splice(2)` through a kernel pipe was tried here and measured slower on
//! loopback (about 1.5 against 1.9 GB/s for 1 MiB bodies, and more CPU per
//! byte), as were 64 and 256 KiB buffers; handing the bytes over inside
//! the kernel (a sockmap redirect) gained nothing either. See
//! `tests/bench/README.md`.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::attention::Attention;
use super::link::Chain;

/// Size of the copying buffer: the same 32 KiB chunk Toxiproxy works in,
/// and on the benchmark machine faster for bulk transfers than 64 or
/// 256 KiB.
const COPY_CHUNK: usize = 32 * 1024;

/// Why direct forwarding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The chain is not empty any more; nothing read is left unwritten.
    Toxics,
    /// The source closed; everything before the close was written.
    Eof,
    /// An error, a closed chain sender or a shutdown.
    Close,
}

/// What one step of the copying loop saw.
enum Event {
    Cancelled,
    /// The chain changed (`true`) or its sender is gone (`false`).
    Changed(bool),
    /// Bytes read into the buffer; 0 is the source's end.
    Read(usize),
    Failed,
}

/// Forwards `from` to `to` until a toxic acting on bytes is in the chain, the source ends,
/// or `cancel` fires. `buf` is the copying buffer, allocated on first use.
pub(super) async fn forward(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    chain: &mut watch::Receiver<Chain>,
    cancel: &CancellationToken,
    buf: &mut Vec<u8>,
) -> Stop {
    if buf.len() < COPY_CHUNK {
        buf.resize(COPY_CHUNK, 0);
    }
    // The stop token and the chain's change are polled only when they
    // fired (see `attention`).
    let (attention, control) = Attention::new();
    let mut cancelled = pin!(cancel.cancelled());
    loop {
        if super::link::acts_on_bytes(&chain.borrow_and_update()) {
            return Stop::Toxics;
        }
        let mut changed = pin!(chain.changed());
        // The new change future has not been polled yet: it must be, once,
        // to be registered.
        attention.arm();
        loop {
            let event = poll_fn(|cx| {
                if attention.take(cx) {
                    let mut ccx = Context::from_waker(&control);
                    if cancelled.as_mut().poll(&mut ccx).is_ready() {
                        return Poll::Ready(Event::Cancelled);
                    }
                    if let Poll::Ready(r) = changed.as_mut().poll(&mut ccx) {
                        return Poll::Ready(Event::Changed(r.is_ok()));
                    }
                }
                let mut read = ReadBuf::new(buf);
                match Pin::new(&mut *from).poll_read(cx, &mut read) {
                    Poll::Ready(Ok(())) => Poll::Ready(Event::Read(read.filled().len())),
                    Poll::Ready(Err(_)) => Poll::Ready(Event::Failed),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            let n = match event {
                Event::Read(0) => return Stop::Eof,
                Event::Read(n) => n,
                Event::Changed(true) => break,
                // The proxy is gone.
                Event::Changed(false) | Event::Cancelled | Event::Failed => return Stop::Close,
            };
            let chunk = buf.get(..n).unwrap_or_default();
            if !write_all(to, chunk, &attention, &control, cancelled.as_mut()).await {
                return Stop::Close;
            }
        }
    }
}

/// Writes all of `chunk`, unless the connection is stopped first (false).
/// A chain change that fires meanwhile stays marked in `attention`, so the
/// next read looks at it once the move is complete.
async fn write_all(
    to: &mut OwnedWriteHalf,
    chunk: &[u8],
    attention: &Attention,
    control: &Waker,
    mut cancelled: Pin<&mut impl Future<Output = ()>>,
) -> bool {
    let mut rest = chunk;
    while !rest.is_empty() {
        let wrote = poll_fn(|cx| {
            if attention.peek(cx) {
                let mut ccx = Context::from_waker(control);
                if cancelled.as_mut().poll(&mut ccx).is_ready() {
                    return Poll::Ready(None);
                }
            }
            match Pin::new(&mut *to).poll_write(cx, rest) {
                Poll::Ready(Ok(n)) if n > 0 => Poll::Ready(Some(n)),
                Poll::Ready(_) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match wrote {
            Some(n) => rest = rest.get(n..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}
