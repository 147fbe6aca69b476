//! Goose's response-time buckets as flashcrowd's HDR histograms.
//!
//! Owns the conversion and its stated precision. Goose 0.19 keeps every
//! request's time, in µs, in a bucket: one bucket per µs below 128 µs, and
//! above that 64 equal buckets for each power of two. Each bucket stands for
//! the time at its middle, so a time read back from it is within half a
//! bucket, at most 1/128 (about 0.8%), of the time measured. The fastest and
//! slowest times are kept exactly. Must not read anything of Goose's but the
//! buckets, the minimum and the maximum.

use hdrhistogram::Histogram;

use crate::metrics::latency_histogram;

/// How far a time rebuilt from Goose's buckets may be from the time Goose
/// measured, relative to it: half of the widest bucket (1/64 of its lowest
/// time).
pub const BUCKET_PRECISION: f64 = 1.0 / 128.0;

/// Times below this have a bucket of their own.
const EXACT_BELOW: u64 = 128;

/// How many µs the bucket starting at `floor` spans: 1 below
/// [`EXACT_BELOW`], then 1/64 of the power of two the bucket lies in.
fn width(floor: u64) -> u64 {
    if floor < EXACT_BELOW {
        1
    } else {
        1 << (floor.ilog2() - 6)
    }
}

/// The time a bucket starting at `floor` stands for: its middle.
fn middle(floor: u64) -> u64 {
    floor.saturating_add(width(floor) / 2)
}

/// An HDR histogram (µs, flashcrowd's precision) holding each Goose bucket's
/// count at the bucket's middle, except that the fastest and the slowest
/// time are placed exactly: `min` and `max` are what Goose measured.
/// `buckets` are (lowest µs of the bucket, count) in any order.
pub fn histogram_from_buckets(
    buckets: impl IntoIterator<Item = (u64, usize)>,
    min: u64,
    max: u64,
) -> Histogram<u64> {
    let mut list: Vec<(u64, u64)> = buckets
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(floor, n)| (floor, n as u64))
        .collect();
    list.sort_unstable();
    let mut h = latency_histogram();
    let total: u64 = list.iter().map(|&(_, n)| n).sum();
    if total == 0 {
        return h;
    }
    // One time of the fastest bucket is the minimum and one of the slowest
    // the maximum; with a single time they are the same one.
    let exact: Vec<u64> = if total == 1 {
        vec![min]
    } else {
        vec![min, max]
    };
    if let Some(first) = list.first_mut() {
        first.1 -= 1;
    }
    if total > 1 {
        if let Some(last) = list.iter_mut().rev().find(|(_, n)| *n > 0) {
            last.1 -= 1;
        }
    }
    for (floor, n) in list.into_iter().filter(|&(_, n)| n > 0) {
        record(&mut h, middle(floor), n);
    }
    for v in exact {
        record(&mut h, v, 1);
    }
    h
}

fn record(h: &mut Histogram<u64>, us: u64, n: u64) {
    // Same floor as every other latency: a 0 µs time reads as 1 µs.
    let us = us.max(1);
    if h.record_n(us, n).is_err() {
        h.saturating_record_n(us, n);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng};

    use super::*;

    /// The lowest time of the bucket that holds `us`, by the scheme the
    /// module header describes.
    fn floor_of(us: u64) -> u64 {
        if us < EXACT_BELOW {
            us
        } else {
            let bits = us.ilog2() - 6;
            (us >> bits) << bits
        }
    }

    #[test]
    fn buckets_are_one_microsecond_below_128_and_64_per_power_of_two_above() {
        assert_eq!(width(127), 1);
        assert_eq!(width(128), 2);
        assert_eq!(width(255), 2);
        assert_eq!(width(256), 4);
        assert_eq!(width(20_000), 256);
        assert_eq!(middle(100), 100);
        assert_eq!(middle(20_224), 20_352);
        // Every bucket of a power of two is the same width, and 64 of them
        // fill it.
        let floors: std::collections::BTreeSet<u64> = (1024..2048).map(floor_of).collect();
        assert_eq!(floors.len(), 64);
    }

    #[test]
    fn a_rebuilt_histogram_keeps_counts_exact_extremes_and_percentiles_within_the_precision() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let mut times: Vec<u64> = (0..50_000)
            .map(|_| {
                if rng.random_bool(0.02) {
                    rng.random_range(100_000..3_000_000)
                } else {
                    rng.random_range(40..40_000)
                }
            })
            .collect();
        let mut buckets = BTreeMap::new();
        for &t in &times {
            *buckets.entry(floor_of(t)).or_insert(0usize) += 1;
        }
        times.sort_unstable();
        let (min, max) = (times[0], times[times.len() - 1]);
        let h = histogram_from_buckets(buckets, min, max);
        assert_eq!(h.len(), times.len() as u64);
        assert_eq!(h.min(), h.lowest_equivalent(min));
        assert_eq!(h.max(), h.highest_equivalent(max));
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1)] as f64;
            let rebuilt = h.value_at_quantile(q) as f64;
            // Goose's half bucket plus the HDR histogram's own 0.1%.
            let allowed = exact * (BUCKET_PRECISION + 0.001) + 1.0;
            assert!(
                (rebuilt - exact).abs() <= allowed,
                "p{q}: rebuilt {rebuilt} µs, measured {exact} µs"
            );
        }
    }

    #[test]
    fn a_single_time_is_kept_exactly_and_no_buckets_make_an_empty_histogram() {
        let h = histogram_from_buckets([(20_224, 1)], 20_300, 20_300);
        assert_eq!(h.len(), 1);
        assert_eq!(h.min(), h.lowest_equivalent(20_300));
        assert_eq!(h.max(), h.highest_equivalent(20_300));
        assert!(histogram_from_buckets([], 0, 0).is_empty());
        assert!(histogram_from_buckets([(500, 0)], 0, 0).is_empty());
    }
}
