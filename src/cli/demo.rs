//! `flashcrowd demo`: run the embedded live-commerce platform standalone.
//!
//! Owns only the wiring from flags to [`DemoServer`]. Must not implement any
//! endpoint.

use tokio_util::sync::CancellationToken;

use super::{exit, DemoArgs};
use crate::demo::{DemoConfig, DemoServer, Faults};
use crate::shutdown::Interrupts;

pub(super) async fn run(args: DemoArgs, interrupts: Interrupts) -> u8 {
    let faults: Faults = args.faults.iter().copied().collect();
    let cfg = DemoConfig {
        faults,
        seed: args.seed,
        tracking_step: args.tracking_step,
        payment_slots: args.payment_slots,
        payment_latency: args.payment_latency,
        ws_queue: args.ws_queue,
        ws_slow_policy: args.ws_slow_policy,
        ws_max_viewers: args.ws_max_viewers,
        ..DemoConfig::default()
    };
    let cancel = CancellationToken::new();
    let server = match DemoServer::spawn(args.listen, cfg, cancel.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return exit::HARNESS_FAILURE;
        }
    };
    println!(
        "flashcrowd demo platform listening on http://{}",
        server.addr
    );
    println!("  try: curl http://{}/api/products/drop-1", server.addr);
    println!("  live room: ws://{}/ws/live/main?user=ana", server.addr);
    println!("  stop with Ctrl-C");
    if faults.any() {
        // On stderr and loud: a platform that breaks invariants on purpose
        // must not be mistaken for the real demo.
        eprintln!(
            "warning: seeded faults ON (seed {}): {faults}; this platform breaks business invariants on purpose",
            args.seed
        );
    }
    interrupts.stop.cancelled().await;
    cancel.cancel();
    server.shutdown().await;
    exit::PASS
}
