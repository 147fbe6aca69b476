//! What TCP makes of loss: a lost segment is not missing data but a pause
//! until its retransmission arrives. The model follows the sender's
//! recovery closely enough for rehearsals:
//!
//! - a loss with at least three segments after it in the same chunk is
//!   repaired by fast retransmit (three duplicate ACKs): about one RTT;
//! - a loss among the last three segments of a chunk (a "tail" loss, which
//!   is what small API responses and WebSocket messages suffer) waits for
//!   the retransmission timeout, RTO = SRTT + 4·RTTVAR, at least
//!   [`RTO_MIN`] (Linux's 200 ms);
//! - a lost retransmission doubles the timeout (exponential back-off), up
//!   to [`RTO_MAX`]; retransmissions are lost at the path's long-run rate,
//!   since they leave well after the burst that took the original.
//!
//! For bulk transfers the average rate under loss is bounded by Mathis et
//! al.'s formula, `MSS/RTT · 1.22/√p` ([`mathis_rate`]).
//!
//! Owns these rules. Must not sleep or touch sockets.

use std::time::Duration;

use rand::Rng;

use super::loss::LossProcess;

/// Smallest retransmission timeout (Linux `TCP_RTO_MIN`).
pub const RTO_MIN: Duration = Duration::from_millis(200);
/// Largest retransmission timeout (Linux `TCP_RTO_MAX`).
pub const RTO_MAX: Duration = Duration::from_secs(120);
/// Duplicate ACKs that trigger fast retransmit.
const DUPACK_THRESHOLD: usize = 3;

/// The path a connection's segments take, as TCP sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TcpPath {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Round-trip variation (the jitter of the RTT).
    pub rtt_var: Duration,
    /// Bytes per segment.
    pub mss: usize,
}

impl TcpPath {
    /// The usual Internet segment size.
    pub const DEFAULT_MSS: usize = 1460;

    /// The retransmission timeout of this path.
    pub fn rto(&self) -> Duration {
        (self.rtt + self.rtt_var * 4).clamp(RTO_MIN, RTO_MAX)
    }

    /// How long a chunk of `bytes` is held up by loss on this path: the sum
    /// of the recovery time of every lost segment in it (zero when nothing
    /// was lost). Draws from `loss` once per segment, and once more per
    /// retransmission.
    pub fn stall<R: Rng + ?Sized>(
        &self,
        loss: &mut LossProcess,
        bytes: usize,
        rng: &mut R,
    ) -> Duration {
        let segments = bytes.div_ceil(self.mss.max(1)).max(1);
        let mut total = Duration::ZERO;
        for i in 0..segments {
            if !loss.lost(rng) {
                continue;
            }
            let after = segments - 1 - i;
            let mut wait = if after >= DUPACK_THRESHOLD {
                self.rtt
            } else {
                self.rto()
            };
            let mut timeout = self.rto();
            // The retransmission itself can be lost: back off and retry.
            // It leaves at least a round trip after the original, by which
            // time a burst of a few segments has long passed, so it meets
            // the path's long-run loss rate rather than the burst's.
            let p_retx = loss.model().mean();
            while p_retx > 0.0 && rng.random::<f64>() < p_retx && total + wait < RTO_MAX {
                timeout = (timeout * 2).min(RTO_MAX);
                wait += timeout;
            }
            total += wait;
            if total >= RTO_MAX {
                return RTO_MAX;
            }
        }
        total
    }
}

/// Mathis et al.'s bound on a bulk TCP transfer's rate, in bytes per
/// second, for segment size `mss`, round trip `rtt` and loss rate `p`;
/// `None` without loss (the bound does not apply).
pub fn mathis_rate(mss: usize, rtt: Duration, p: f64) -> Option<f64> {
    (p > 0.0 && !rtt.is_zero()).then(|| mss as f64 / rtt.as_secs_f64() * 1.22 / p.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netem::Loss;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn path(rtt_ms: u64) -> TcpPath {
        TcpPath {
            rtt: Duration::from_millis(rtt_ms),
            rtt_var: Duration::from_millis(10),
            mss: TcpPath::DEFAULT_MSS,
        }
    }

    #[test]
    fn the_timeout_follows_the_path_and_its_floor() {
        assert_eq!(path(50).rto(), RTO_MIN);
        assert_eq!(path(300).rto(), Duration::from_millis(340));
    }

    #[test]
    fn five_percent_loss_stalls_one_small_message_in_twenty_for_about_an_rto() {
        let p = path(180);
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut loss = LossProcess::new(Loss::Bernoulli { p: 0.05 });
        let n = 100_000;
        let stalls: Vec<Duration> = (0..n)
            .map(|_| p.stall(&mut loss, 300, &mut rng))
            .filter(|d| !d.is_zero())
            .collect();
        let share = stalls.len() as f64 / n as f64;
        let sd = (0.05 * 0.95 / n as f64).sqrt();
        assert!((share - 0.05).abs() < 4.0 * sd, "{share}");
        // One RTO (220 ms), or 220 + 440 when the retransmission was lost
        // too (5% of stalls), and so on.
        let rto = p.rto();
        assert!(stalls.iter().all(|&d| d >= rto));
        let once = stalls.iter().filter(|&&d| d == rto).count() as f64 / stalls.len() as f64;
        assert!((once - 0.95).abs() < 0.01, "{once}");
        assert!(stalls.contains(&(rto + rto * 2)));
    }

    #[test]
    fn losses_early_in_a_large_chunk_cost_a_round_trip_and_tail_losses_a_timeout() {
        let p = path(100);
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut loss = LossProcess::new(Loss::Bernoulli { p: 0.01 });
        let n = 200_000;
        let stalls: Vec<Duration> = (0..n)
            .map(|_| p.stall(&mut loss, 10 * TcpPath::DEFAULT_MSS, &mut rng))
            .collect();
        // Segments 1-7 of 10 are repaired by fast retransmit (100 ms), the
        // last 3 wait for the timeout (200 ms): 1% × (7 × 100 + 3 × 200)
        // = 13 ms per chunk on average, plus a little for lost
        // retransmissions.
        let mean = stalls.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e3;
        assert!((mean - 13.0).abs() < 0.8, "{mean} ms");
        assert!(stalls.contains(&p.rtt));
        assert!(stalls.contains(&p.rto()));
    }

    #[test]
    fn a_burst_takes_segments_but_not_their_retransmissions() {
        // 15% loss in bursts of 4 segments (China inbound at peak): a
        // retransmission is lost 15% of the time, not 75% as inside a
        // burst, so two back-offs in a row are rare and none is endless.
        let p = path(80);
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        let mut loss = LossProcess::new(Loss::bursts(0.15, 4.0).unwrap());
        let n = 50_000;
        let stalls: Vec<Duration> = (0..n)
            .map(|_| p.stall(&mut loss, 300, &mut rng))
            .filter(|d| !d.is_zero())
            .collect();
        let share = stalls.len() as f64 / n as f64;
        assert!((share - 0.15).abs() < 0.01, "{share}");
        let rto = p.rto();
        let backed_off = stalls.iter().filter(|&&d| d > rto).count() as f64 / stalls.len() as f64;
        assert!((backed_off - 0.15).abs() < 0.015, "{backed_off}");
        assert!(
            stalls.iter().all(|&d| d < Duration::from_secs(13)),
            "{:?}",
            stalls.iter().max()
        );
    }

    #[test]
    fn total_loss_is_bounded_by_the_largest_timeout() {
        let p = path(100);
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut loss = LossProcess::new(Loss::Bernoulli { p: 1.0 });
        assert_eq!(p.stall(&mut loss, 100, &mut rng), RTO_MAX);
    }

    #[test]
    fn mathis_bounds_bulk_rate_by_loss_and_round_trip() {
        // 1460 B, 100 ms, 1% loss: 1460 / 0.1 × 1.22 / 0.1 = 178,120 B/s.
        let r = mathis_rate(1460, Duration::from_millis(100), 0.01).unwrap();
        assert!((r - 178_120.0).abs() < 1.0, "{r}");
        assert_eq!(mathis_rate(1460, Duration::from_millis(100), 0.0), None);
    }
}
