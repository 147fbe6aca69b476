//! `flashcrowd proxy`: run the embedded chaos proxy standalone.
//!
//! Owns only the wiring from flags (and the token's environment variable)
//! to [`ProxyServer`]. Must not implement any endpoint or toxic.

use tokio_util::sync::CancellationToken;

use super::{exit, ProxyArgs};
use crate::proxy::{ProxyOptions, ProxyServer};
use crate::shutdown::Interrupts;

/// Environment variable read when `--token` is not given, so the token
/// need not appear in the process list.
const TOKEN_ENV: &str = "FLASHCROWD_PROXY_TOKEN";

/// The runtime `flashcrowd proxy` runs on: a single thread unless asked for
/// more. A proxied message costs a handful of microseconds, most of it in
/// the kernel; with two worker threads, waking the other thread and moving
/// tasks between them cost more than that (on a 2-CPU machine shared with
/// the load generator and the target, 9.2 µs of proxy CPU per small request
/// with two workers against 7.3 µs with one).
pub(super) fn runtime(threads: usize) -> tokio::runtime::Builder {
    if threads <= 1 {
        return tokio::runtime::Builder::new_current_thread();
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(threads);
    builder
}

pub(super) async fn run(args: ProxyArgs, interrupts: Interrupts) -> u8 {
    let config = match &args.config {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return exit::INVALID_INPUT;
            }
        },
        None => None,
    };
    let allow_upstream = args.allow_upstream.map(|list| {
        list.into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let opts = ProxyOptions {
        listen: args.listen,
        seed: args.seed,
        token: args.token.or_else(|| std::env::var(TOKEN_ENV).ok()),
        allow_upstream,
    };
    let server = match ProxyServer::spawn(opts, CancellationToken::new()).await {
        Ok(s) => s,
        Err(e @ crate::proxy::ProxyError::TokenRequired(_)) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HARNESS_FAILURE;
        }
    };
    if let Some(json) = config {
        match server.populate_json(&json).await {
            Ok(proxies) => {
                for p in proxies {
                    say(&format!(
                        "  proxy {}: {} -> {}",
                        p.name, p.listen, p.upstream
                    ));
                }
            }
            Err(e) => {
                eprintln!("error: config: {e}");
                server.shutdown().await;
                return exit::INVALID_INPUT;
            }
        }
    }
    say(&format!(
        "flashcrowd chaos proxy API on http://{}",
        server.addr
    ));
    say(&format!("  try: curl http://{}/proxies", server.addr));
    say("  stop with Ctrl-C");
    interrupts.stop.cancelled().await;
    if !server.shutdown().await {
        eprintln!("flashcrowd proxy: some connections outlived the shutdown grace");
    }
    exit::PASS
}

/// Prints a line; a closed stdout (the reader went away) must not take the
/// proxy and its connections down, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
