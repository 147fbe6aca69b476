//! The direct mode of a pipe: forwarding bytes unchanged while its
//! direction has no toxic, as cheaply as the platform allows.
//!
//! Owns only moving bytes from one socket to the other and noticing, between
//! two moves, that the toxic chain changed. Bytes are copied through a
//! reused buffer, and a move always finishes (every byte read has been
//! written) before the chain is looked at again, so handing over to the
//! toxic mode never loses or reorders a byte. It must not apply toxics or
//! decide how a pipe ends.
//!
//! `splice(2)` through a kernel pipe was tried here and measured slower on
//! loopback (about 1.5 against 1.9 GB/s for 1 MiB bodies, and more CPU per
//! byte), as were 64 and 256 KiB buffers; see `tests/bench/README.md`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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
    // Both waits are armed once per chain change rather than once per read:
    // re-arming them for every small message was several percent of the
    // proxy's CPU time per request.
    let mut cancelled = std::pin::pin!(cancel.cancelled());
    loop {
        if super::link::acts_on_bytes(&chain.borrow_and_update()) {
            return Stop::Toxics;
        }
        let mut changed = std::pin::pin!(chain.changed());
        loop {
            let read = tokio::select! {
                biased;
                _ = cancelled.as_mut() => return Stop::Close,
                c = changed.as_mut() => match c {
                    Ok(()) => break,
                    // The proxy is gone.
                    Err(_) => return Stop::Close,
                },
                read = from.read(buf) => read,
            };
            let n = match read {
                Ok(0) => return Stop::Eof,
                Ok(n) => n,
                Err(_) => return Stop::Close,
            };
            let chunk = buf.get(..n).unwrap_or_default();
            let written = tokio::select! {
                biased;
                _ = cancelled.as_mut() => false,
                w = to.write_all(chunk) => w.is_ok(),
            };
            if !written {
                return Stop::Close;
            }
        }
    }
}
