//! Running the demo platform on a socket: bind, serve on a task, shut down
//! gracefully within a bound.
//!
//! Owns the listener, the server task, its cancellation and the order of
//! shutdown: stop accepting, let requests finish, close every WebSocket
//! viewer with 1001, and drop whatever is still open when the grace runs
//! out. It must not know any route or business rule.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::DemoConfig;
use super::live::Lifecycle;

/// How long [`DemoServer::shutdown`] waits for in-flight requests and
/// closing WebSocket viewers before it drops whatever is left.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Part of the grace kept for viewers dropped by force: they end at their
/// next poll, which takes far less.
const FORCE_MARGIN: Duration = Duration::from_millis(250);

/// Accept-queue length requested from the kernel (which caps it at its own
/// limit). Tokio's default of 128 makes a burst of new connections, as a
/// load test opening its pool produces, lose SYNs and stall for the 1 s
/// retransmission timeout: a stall the demo would be blamed for.
const LISTEN_BACKLOG: u32 = 4096;

/// Kernel send buffer of every connection (accepted sockets inherit the
/// listener's). Fixed rather than auto-tuned so that a live-room viewer who
/// stops reading is noticed by the room's slow-viewer policy after about
/// this much, instead of after megabytes held invisibly by the kernel;
/// ample for the demo's small HTTP responses.
const SEND_BUFFER: u32 = 64 * 1024;

fn bind(listen: SocketAddr) -> io::Result<TcpListener> {
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Same as tokio's own bind: a restarted demo can reuse its port at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(listen)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Handle of a running demo platform. Dropping it stops the server (without
/// waiting); call [`DemoServer::shutdown`] to wait for it.
#[derive(Debug)]
pub struct DemoServer {
    /// The address actually bound (useful when listening on port 0).
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
    viewers: Lifecycle,
}

impl DemoServer {
    /// Binds `listen`, starts serving on a new task and returns at once.
    ///
    /// The server stops when `cancel` (or [`DemoServer::shutdown`]) fires.
    /// An invalid configuration is reported as
    /// [`io::ErrorKind::InvalidInput`] before anything is bound.
    pub async fn spawn(
        listen: SocketAddr,
        cfg: DemoConfig,
        cancel: CancellationToken,
    ) -> io::Result<DemoServer> {
        cfg.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = bind(listen)?;
        let addr = listener.local_addr()?;
        // Small JSON responses on a keep-alive connection would otherwise
        // wait for Nagle's algorithm and distort every latency measured.
        let listener = listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "demo: cannot set TCP_NODELAY");
            }
        });
        let cancel = cancel.child_token();
        let viewers = Lifecycle {
            stop: cancel.child_token(),
            ..Lifecycle::default()
        };
        let app = super::router_with(&cfg, viewers.clone());
        let stop = cancel.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(%err, "demo platform stopped with an error");
            }
        });
        tracing::info!(%addr, "demo platform listening");
        Ok(DemoServer {
            addr,
            cancel,
            task: Some(task),
            viewers,
        })
    }

    /// Stops accepting connections, lets in-flight requests finish and
    /// WebSocket viewers close (code 1001) for up to [`SHUTDOWN_GRACE`]
    /// in all, then aborts whatever is left.
    pub async fn shutdown(mut self) {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        self.cancel.cancel();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!("demo platform did not stop within the grace period; aborting");
                task.abort();
            }
        }
        // Only now: the server task has ended, so no handler can start
        // another viewer behind the tracker's back.
        let tracker = &self.viewers.tracker;
        tracker.close();
        let polite = deadline.checked_sub(FORCE_MARGIN).unwrap_or(deadline);
        if tokio::time::timeout_at(polite, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = tracker.len(),
                "live viewers did not close within the grace period; dropping their sockets"
            );
            self.viewers.force.cancel();
            let _ = tokio::time::timeout_at(deadline, tracker.wait()).await;
        }
    }

    /// Base URL of the running server, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        // A forgotten handle must not leave a server running for the rest
        // of the process (tests create many).
        self.cancel.cancel();
    }
}
