//! How many workers each region gets, and which global indexes they hold.
//!
//! Owns the rule, which is pure arithmetic: a region's weight is its share
//! of the run's expected arrivals (its share in each phase times the
//! phase's expected arrivals at scale 1, summed); `N` workers are
//! apportioned by those weights with the largest-remainder method (ties to
//! the region listed first); every region with traffic then gets at least
//! one worker, each taken from the region holding the most seats above its
//! exact quota. Regions without traffic get none. Indexes are handed out in
//! the scenario's region order, so region `r` holds the contiguous range
//! starting at the sum of the counts before it. Must not build objects.

use crate::scenario::Scenario;
use crate::schedule::Schedule;

/// The workers of one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionWorkers {
    /// Index into the scenario's regions.
    pub region: usize,
    /// First global worker index of the region.
    pub offset: u32,
    pub count: u32,
}

/// Each region's expected share of the run's arrivals, by region index.
pub fn region_weights(s: &Scenario) -> Vec<f64> {
    let schedule = Schedule::new(&s.phases, s.seed, 1.0, None);
    let mut phase_weights: Vec<f64> = schedule
        .phases
        .iter()
        .map(|p| p.burst as f64 + p.expected())
        .map(|w| if w.is_finite() && w > 0.0 { w } else { 0.0 })
        .collect();
    // A timeline that expects no arrivals at all still has regions whose
    // shares say where traffic would come from: weigh phases equally.
    if phase_weights.iter().all(|w| *w == 0.0) {
        phase_weights.iter_mut().for_each(|w| *w = 1.0);
    }
    s.regions
        .iter()
        .map(|r| {
            r.shares
                .iter()
                .zip(&phase_weights)
                .map(|(share, w)| share * w)
                .sum()
        })
        .collect()
}

/// Why workers cannot be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// Fewer workers than regions with traffic.
    TooFew { needed: u32 },
    /// No region carries any traffic.
    NoTraffic,
}

/// Apportion `workers` among regions by `weights` (see the module doc).
pub fn split(workers: u32, weights: &[f64]) -> Result<Vec<RegionWorkers>, SplitError> {
    let weight = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let total: f64 = weights.iter().copied().map(weight).sum();
    let active = weights.iter().filter(|w| weight(**w) > 0.0).count() as u32;
    if active == 0 || total <= 0.0 {
        return Err(SplitError::NoTraffic);
    }
    if workers < active {
        return Err(SplitError::TooFew { needed: active });
    }
    let quotas: Vec<f64> = weights
        .iter()
        .map(|w| f64::from(workers) * weight(*w) / total)
        .collect();
    let mut seats: Vec<u32> = quotas.iter().map(|q| q.floor() as u32).collect();
    let left = workers.saturating_sub(seats.iter().sum());
    let mut by_remainder: Vec<usize> = (0..quotas.len()).filter(|i| quotas[*i] > 0.0).collect();
    // Stable sort: equal remainders keep region order.
    by_remainder.sort_by(|a, b| {
        let (ra, rb) = (
            quotas[*a] - quotas[*a].floor(),
            quotas[*b] - quotas[*b].floor(),
        );
        rb.total_cmp(&ra)
    });
    for i in by_remainder.iter().cycle().take(left as usize) {
        seats[*i] += 1;
    }
    // At least one worker for every region with traffic: its share of the
    // schedule needs a worker in that region to send it at all.
    while let Some(empty) = (0..seats.len()).find(|i| quotas[*i] > 0.0 && seats[*i] == 0) {
        let donor = (0..seats.len())
            .filter(|i| seats[*i] >= 2)
            .max_by(|a, b| {
                let (sa, sb) = (
                    f64::from(seats[*a]) - quotas[*a],
                    f64::from(seats[*b]) - quotas[*b],
                );
                // Ties go to the region listed first.
                sa.total_cmp(&sb).then(b.cmp(a))
            })
            .ok_or(SplitError::TooFew { needed: active })?;
        seats[donor] -= 1;
        seats[empty] += 1;
    }
    let mut offset = 0;
    let mut out = Vec::new();
    for (region, count) in seats.into_iter().enumerate() {
        if count > 0 {
            out.push(RegionWorkers {
                region,
                offset,
                count,
            });
            offset += count;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(workers: u32, weights: &[f64]) -> Vec<(usize, u32, u32)> {
        split(workers, weights)
            .unwrap()
            .into_iter()
            .map(|r| (r.region, r.offset, r.count))
            .collect()
    }

    #[test]
    fn workers_follow_traffic_shares() {
        assert_eq!(counts(10, &[0.9, 0.1]), [(0, 0, 9), (1, 9, 1)]);
        assert_eq!(
            counts(8, &[0.7, 0.15, 0.15]),
            [(0, 0, 6), (1, 6, 1), (2, 7, 1)]
        );
        assert_eq!(counts(4, &[1.0, 1.0]), [(0, 0, 2), (1, 2, 2)]);
    }

    #[test]
    fn ties_go_to_the_region_listed_first() {
        assert_eq!(counts(3, &[1.0, 1.0]), [(0, 0, 2), (1, 2, 1)]);
    }

    #[test]
    fn every_region_with_traffic_gets_a_worker() {
        assert_eq!(
            counts(3, &[0.98, 0.01, 0.01]),
            [(0, 0, 1), (1, 1, 1), (2, 2, 1)]
        );
        assert_eq!(counts(5, &[0.99, 0.01]), [(0, 0, 4), (1, 4, 1)]);
    }

    #[test]
    fn regions_without_traffic_get_no_workers() {
        assert_eq!(counts(2, &[0.0, 1.0, 0.0]), [(1, 0, 2)]);
    }

    #[test]
    fn too_few_workers_or_no_traffic_is_an_error() {
        assert_eq!(
            split(2, &[0.5, 0.3, 0.2]),
            Err(SplitError::TooFew { needed: 3 })
        );
        assert_eq!(split(2, &[0.0, 0.0]), Err(SplitError::NoTraffic));
        assert_eq!(split(2, &[]), Err(SplitError::NoTraffic));
    }

    #[test]
    fn counts_always_add_up_to_the_workers() {
        let weights = [0.31, 0.07, 0.0, 0.5, 0.12, 0.001];
        for n in 5..200 {
            let got = split(n, &weights).unwrap();
            assert_eq!(got.iter().map(|r| r.count).sum::<u32>(), n);
            assert!(got.iter().all(|r| r.count >= 1));
            let mut next = 0;
            for r in &got {
                assert_eq!(r.offset, next);
                next += r.count;
            }
        }
    }
}
