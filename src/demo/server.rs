//! Running the demo platform on a socket: bind, serve on a task, shut down
//! gracefully within a bound.
//!
//! Owns the listener, the server task and its cancellation. It must not know
//! any route or business rule; it serves whatever [`super::router`] builds.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::DemoConfig;

/// How long [`DemoServer::shutdown`] waits for in-flight requests before it
/// aborts the server task.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Handle of a running demo platform.
#[derive(Debug)]
pub struct DemoServer {
    /// The address actually bound (useful when listening on port 0).
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
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
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        // Small JSON responses on a keep-alive connection would otherwise
        // wait for Nagle's algorithm and distort every latency measured.
        let listener = listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "demo: cannot set TCP_NODELAY");
            }
        });
        let cancel = cancel.child_token();
        let app = super::router(cfg);
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
        Ok(DemoServer { addr, cancel, task })
    }

    /// Stops accepting connections, lets in-flight requests finish for up to
    /// [`SHUTDOWN_GRACE`], then aborts whatever is left.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            tracing::warn!("demo platform did not stop within the grace period; aborting");
            task.abort();
        }
    }
}
