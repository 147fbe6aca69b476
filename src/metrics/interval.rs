//! Interval data: latency histograms of the requests that ended in each
//! second of the run, per step key, so time series can be drawn and re-cut
//! and `latency.hlog` written.
//!
//! Owns the two halves: [`IntervalBuf`], where a recording task keeps the
//! histograms it has not handed on yet (at most about a second's worth),
//! and [`Collector`], which merges the tasks' parts by message, closes a
//! second once late parts can no longer be expected, and keeps only a
//! small summary of each closed second in memory; the closed histograms
//! themselves go to a sink (the log file) and are dropped. Memory stays
//! bounded whatever the run length. Must not do I/O or read clocks.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use super::split::Split;
use super::{latency_histogram, record_clamped, Outcome, MAX_SERIES_SECONDS};

/// One task's figures of one second and one key.
#[derive(Debug, Clone)]
pub struct IntervalPart {
    pub second: u32,
    pub key: usize,
    /// Requests that ended, and of those, errors.
    pub sent: u64,
    pub errors: u64,
    /// The same requests by status class and error kind.
    pub split: Split,
    /// Latency of those that have one (not refused connections).
    pub latency: Histogram<u64>,
}

impl IntervalPart {
    fn add(&mut self, o: &IntervalPart) {
        self.sent += o.sent;
        self.errors += o.errors;
        self.split.add(&o.split);
        // Same constructor on both sides: adding cannot fail.
        let _ = self.latency.add(&o.latency);
    }
}

/// The figures a recording task has not handed on yet.
#[derive(Debug, Clone, Default)]
pub struct IntervalBuf {
    parts: HashMap<(u32, usize), IntervalPart>,
}

impl IntervalBuf {
    /// One request of `key` that ended in `second` as `outcome`;
    /// `latency_us` when it says something about the target.
    pub fn record(&mut self, second: u32, key: usize, outcome: Outcome, latency_us: Option<u64>) {
        let second = second.min(MAX_SERIES_SECONDS as u32 - 1);
        let p = self
            .parts
            .entry((second, key))
            .or_insert_with(|| IntervalPart {
                second,
                key,
                sent: 0,
                errors: 0,
                split: Split::default(),
                latency: latency_histogram(),
            });
        p.sent += 1;
        p.errors += u64::from(!outcome.is_ok());
        p.split.count(outcome);
        if let Some(v) = latency_us {
            record_clamped(&mut p.latency, v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Everything held, leaving the buffer empty.
    pub fn take(&mut self) -> Vec<IntervalPart> {
        self.parts.drain().map(|(_, p)| p).collect()
    }

    /// Add another buffer's parts.
    pub fn absorb(&mut self, other: &mut IntervalBuf) {
        for (at, p) in other.parts.drain() {
            match self.parts.get_mut(&at) {
                Some(mine) => mine.add(&p),
                None => {
                    self.parts.insert(at, p);
                }
            }
        }
    }
}

/// What is kept of a closed second of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests with a latency.
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// A closed second: every key's merged figures.
#[derive(Debug, Clone)]
pub struct Closed {
    pub second: u32,
    /// By key, in key order.
    pub parts: Vec<IntervalPart>,
}

/// The whole run's figures of one closed second (all keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub second: u32,
    pub sent: u64,
    pub errors: u64,
    /// `None` when no request of that second had a latency.
    pub p99: Option<u64>,
}

/// Per-second summaries of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summaries {
    /// By step key: a summary per second (index = second; `None` for a
    /// second without requests of that key).
    pub by_key: Vec<Vec<Option<Summary>>>,
    /// The same for every group of `regions` consecutive keys (a step over
    /// all its regions).
    pub by_step: Vec<Vec<Option<Summary>>>,
}

/// Merges parts from every task and closes seconds in order.
#[derive(Debug)]
pub struct Collector {
    open: BTreeMap<u32, HashMap<usize, IntervalPart>>,
    /// Seconds before this one are closed.
    closed_before: u32,
    /// Consecutive keys that make one step (its regions).
    regions: usize,
    summaries: Summaries,
    /// The newest closed second with any request.
    pub latest: Option<Totals>,
    /// Parts that came after their second was closed (written as a
    /// second entry for it; counted into its summary's count and max).
    pub late_parts: u64,
}

impl Collector {
    /// `keys` step keys, grouped by `regions` into steps.
    pub fn new(keys: usize, regions: usize) -> Self {
        let regions = regions.max(1);
        Collector {
            open: BTreeMap::new(),
            closed_before: 0,
            regions,
            summaries: Summaries {
                by_key: vec![Vec::new(); keys],
                by_step: vec![Vec::new(); keys.div_ceil(regions)],
            },
            latest: None,
            late_parts: 0,
        }
    }

    /// Merge parts in. Parts of a second already closed come back at once
    /// as their own [`Closed`] entry.
    pub fn add(&mut self, parts: Vec<IntervalPart>) -> Option<Closed> {
        let mut late: BTreeMap<usize, IntervalPart> = BTreeMap::new();
        let mut late_second = 0;
        for p in parts {
            if p.second < self.closed_before {
                self.late_parts += 1;
                self.note_late(&p);
                // Rare (a session that kept its results past the grace):
                // grouped by key under the last late second seen.
                late_second = p.second;
                match late.get_mut(&p.key) {
                    Some(mine) => mine.add(&p),
                    None => {
                        late.insert(p.key, p);
                    }
                }
                continue;
            }
            let keys = self.open.entry(p.second).or_default();
            match keys.get_mut(&p.key) {
                Some(mine) => mine.add(&p),
                None => {
                    keys.insert(p.key, p);
                }
            }
        }
        (!late.is_empty()).then(|| Closed {
            second: late_second,
            parts: late.into_values().collect(),
        })
    }

    /// Close every second before `second`, oldest first.
    pub fn close_before(&mut self, second: u32) -> Vec<Closed> {
        let mut out = Vec::new();
        while let Some((&s, _)) = self.open.first_key_value() {
            if s >= second {
                break;
            }
            let Some((s, keys)) = self.open.pop_first() else {
                break;
            };
            let mut parts: Vec<IntervalPart> = keys.into_values().collect();
            parts.sort_by_key(|p| p.key);
            self.summarise(s, &parts);
            out.push(Closed { second: s, parts });
        }
        self.closed_before = self.closed_before.max(second);
        out
    }

    /// The figures of the newest second before `before` that has any
    /// parts yet, although it is still open for late ones: for a live
    /// display, which should show the second that just ended rather than
    /// wait until it closes. Falls back to the newest closed second.
    pub fn provisional(&self, before: u32) -> Option<Totals> {
        let Some((&s, keys)) = self.open.range(..before).next_back() else {
            return self.latest;
        };
        let mut all = latency_histogram();
        let mut totals = Totals {
            second: s,
            ..Totals::default()
        };
        for p in keys.values() {
            totals.sent += p.sent;
            totals.errors += p.errors;
            let _ = all.add(&p.latency);
        }
        totals.p99 = (!all.is_empty()).then(|| all.highest_equivalent(all.value_at_quantile(0.99)));
        Some(totals)
    }

    /// Close everything.
    pub fn close_all(&mut self) -> Vec<Closed> {
        self.close_before(u32::MAX)
    }

    pub fn into_summaries(self) -> Summaries {
        self.summaries
    }

    fn summarise(&mut self, s: u32, parts: &[IntervalPart]) {
        let mut all = latency_histogram();
        let mut totals = Totals {
            second: s,
            ..Totals::default()
        };
        for p in parts {
            totals.sent += p.sent;
            totals.errors += p.errors;
            let _ = all.add(&p.latency);
            if let (false, Some(slot)) = (
                p.latency.is_empty(),
                slot(&mut self.summaries.by_key, s, p.key),
            ) {
                *slot = Some(summary(&p.latency));
            }
        }
        totals.p99 = (!all.is_empty()).then(|| all.highest_equivalent(all.value_at_quantile(0.99)));
        self.latest = Some(totals);
        // A step over all its regions: its keys are consecutive.
        let mut i = 0;
        while i < parts.len() {
            let group = parts[i].key / self.regions;
            let mut merged = parts[i].latency.clone();
            i += 1;
            while i < parts.len() && parts[i].key / self.regions == group {
                let _ = merged.add(&parts[i].latency);
                i += 1;
            }
            if let (false, Some(slot)) = (
                merged.is_empty(),
                slot(&mut self.summaries.by_step, s, group),
            ) {
                *slot = Some(summary(&merged));
            }
        }
    }

    fn note_late(&mut self, p: &IntervalPart) {
        if p.latency.is_empty() {
            return;
        }
        let (count, max) = (p.latency.len(), p.latency.max());
        let group = p.key / self.regions;
        for (list, i) in [
            (&mut self.summaries.by_key, p.key),
            (&mut self.summaries.by_step, group),
        ] {
            if let Some(slot) = slot(list, p.second, i) {
                let s = slot.get_or_insert(Summary {
                    count: 0,
                    p50: max,
                    p99: max,
                    max,
                });
                s.count += count;
                s.max = s.max.max(max);
            }
        }
    }
}

fn summary(h: &Histogram<u64>) -> Summary {
    Summary {
        count: h.len(),
        p50: h.highest_equivalent(h.value_at_quantile(0.5)),
        p99: h.highest_equivalent(h.value_at_quantile(0.99)),
        max: h.highest_equivalent(h.max()),
    }
}

fn slot(lists: &mut [Vec<Option<Summary>>], second: u32, i: usize) -> Option<&mut Option<Summary>> {
    let list = lists.get_mut(i)?;
    let s = second as usize;
    if list.len() <= s {
        list.resize(s + 1, None);
    }
    list.get_mut(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(second: u32, key: usize, values: &[u64]) -> IntervalPart {
        let mut b = IntervalBuf::default();
        for &v in values {
            b.record(second, key, Outcome::Ok { status: 200 }, Some(v));
        }
        b.take().remove(0)
    }

    #[test]
    fn parts_of_one_second_from_several_tasks_merge_exactly() {
        let mut c = Collector::new(2, 2);
        assert!(c
            .add(vec![part(0, 0, &[100, 200]), part(1, 1, &[5])])
            .is_none());
        assert!(c.add(vec![part(0, 0, &[300]), part(0, 1, &[7])]).is_none());
        let closed = c.close_before(1);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].second, 0);
        let keys: Vec<(usize, u64)> = closed[0]
            .parts
            .iter()
            .map(|p| (p.key, p.latency.len()))
            .collect();
        assert_eq!(keys, [(0, 3), (1, 1)]);
        assert_eq!(
            c.latest,
            Some(Totals {
                second: 0,
                sent: 4,
                errors: 0,
                p99: Some(300)
            })
        );
        let rest = c.close_all();
        assert_eq!(rest.len(), 1);
        let s = c.into_summaries();
        assert_eq!(s.by_key[0][0].unwrap().count, 3);
        assert_eq!(s.by_key[0][0].unwrap().max, 300);
        assert_eq!(s.by_key[1][1].unwrap().count, 1);
        assert_eq!(s.by_key[1][0].unwrap().count, 1);
        // Keys 0 and 1 are two regions of one step.
        assert_eq!(s.by_step.len(), 1);
        assert_eq!(s.by_step[0][0].unwrap().count, 4);
        assert_eq!(s.by_step[0][1].unwrap().count, 1);
    }

    #[test]
    fn a_late_part_is_kept_as_its_own_entry_and_counted() {
        let mut c = Collector::new(1, 1);
        c.add(vec![part(3, 0, &[10])]);
        c.close_before(5);
        let late = c.add(vec![part(3, 0, &[90_000])]).unwrap();
        assert_eq!(late.second, 3);
        assert_eq!(late.parts[0].latency.len(), 1);
        assert_eq!(c.late_parts, 1);
        let s = c.into_summaries();
        let third = s.by_key[0][3].unwrap();
        assert_eq!(third.count, 2);
        // Within the histogram's 0.1% precision.
        assert!((90_000..=90_090).contains(&third.max), "{}", third.max);
    }
}
