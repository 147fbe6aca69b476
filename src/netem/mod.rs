//! User-space network models: the random processes a chaos proxy uses to
//! make a TCP byte stream behave like a long, lossy path — delay
//! distributions with tails, packet-loss processes (independent or in
//! bursts), and how TCP turns a lost segment into a stall.
//!
//! A proxy sees bytes, not packets, so it cannot drop a packet: deleting
//! bytes from a stream (as some proxies do) corrupts it, which real loss
//! never does. What an application sees of loss is *time*: the stream
//! stops until the retransmission arrives. These models turn "5% loss on a
//! 180 ms path" into those pauses.
//!
//! Owns the mathematics and their parameters' validity. Must not touch
//! sockets or clocks, and draws every random number from the generator the
//! caller passes (seeded per connection), so a rehearsal's chaos is
//! reproducible.

mod delay;
mod loss;
mod tcp;

pub use delay::{Delay, DelayError};
pub use loss::{Loss, LossError, LossProcess};
pub use tcp::{mathis_rate, TcpPath, RTO_MAX, RTO_MIN};
