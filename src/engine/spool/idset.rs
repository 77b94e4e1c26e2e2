//! A set of record ids kept as disjoint inclusive ranges: ids are handed
//! out in order and mostly finish in order, so a segment's pending ids are
//! a few ranges however many records it holds.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent inclusive ranges, keyed by their first id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdSet {
    ranges: BTreeMap<u64, u64>,
}

impl IdSet {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The range holding `id`, or the last one before it.
    fn at_or_before(&self, id: u64) -> Option<(u64, u64)> {
        self.ranges.range(..=id).next_back().map(|(&a, &b)| (a, b))
    }

    /// Adds `id` (cheapest when it is one past the largest id).
    pub fn insert(&mut self, id: u64) {
        let before = self.at_or_before(id);
        if before.is_some_and(|(_, last)| last >= id) {
            return;
        }
        let after = id.checked_add(1).and_then(|next| self.ranges.get(&next).map(|&last| (next, last)));
        let joins_before = before.filter(|&(_, last)| last.checked_add(1) == Some(id));
        let last = match after {
            Some((next, last)) => {
                self.ranges.remove(&next);
                last
            }
            None => id,
        };
        let first = joins_before.map_or(id, |(first, _)| first);
        self.ranges.insert(first, last);
    }

    /// Removes every id in `first..=last` (nothing if `first > last`) and
    /// returns how many there were.
    pub fn remove_range(&mut self, first: u64, last: u64) -> u64 {
        if first > last {
            return 0;
        }
        let mut hit: Vec<(u64, u64)> = Vec::new();
        if let Some(r) = self.at_or_before(first).filter(|&(_, b)| b >= first) {
            hit.push(r);
        }
        hit.extend(self.ranges.range(first..=last).map(|(&a, &b)| (a, b)).filter(|&(a, _)| a > first));
        let mut removed = 0;
        for (a, b) in hit {
            self.ranges.remove(&a);
            if a < first {
                self.ranges.insert(a, first - 1);
            }
            if b > last {
                self.ranges.insert(last + 1, b);
            }
            removed += (b.min(last) - a.max(first)).saturating_add(1);
        }
        removed
    }

    /// Whether any id in `first..=last` is in the set.
    pub fn contains_any(&self, first: u64, last: u64) -> bool {
        first <= last && self.at_or_before(last).is_some_and(|(_, b)| b >= first)
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&a, &b)| (a, b))
    }

    /// Every id, in order.
    #[cfg(test)]
    pub fn ids(&self) -> Vec<u64> {
        self.ranges.iter().flat_map(|(&a, &b)| a..=b).collect()
    }
}

impl FromIterator<u64> for IdSet {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut s = Self::default();
        for id in iter {
            s.insert(id);
        }
        s
    }
}

/// `ranges` sorted, with overlapping and adjacent ones merged.
fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The ids in `spans` (inclusive ranges) that are in none of `sets`, as
/// sorted, disjoint ranges.
pub(crate) fn uncovered<'a>(
    spans: impl IntoIterator<Item = (u64, u64)>,
    sets: impl IntoIterator<Item = &'a IdSet>,
) -> Vec<(u64, u64)> {
    let covered = coalesce(sets.into_iter().flat_map(IdSet::ranges).collect());
    let mut out = Vec::new();
    let mut j = 0;
    for (lo, hi) in coalesce(spans.into_iter().filter(|&(a, b)| a <= b).collect()) {
        while j < covered.len() && covered[j].1 < lo {
            j += 1;
        }
        // `next`: the first id of the span not yet known to be covered.
        let mut next = Some(lo);
        for &(a, b) in covered[j..].iter().take_while(|&&(a, _)| a <= hi) {
            let Some(from) = next else { break };
            if a > from {
                out.push((from, a - 1));
            }
            next = if b >= hi { None } else { Some(b + 1) };
        }
        if let Some(from) = next {
            out.push((from, hi));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain set, over a deterministic mix of inserts and removals.
    #[test]
    fn matches_a_plain_set() {
        let mut model = std::collections::BTreeSet::new();
        let mut set = IdSet::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = x % 200;
            if x.is_multiple_of(3) {
                let b = a + (x >> 20) % 12;
                let expect = model.range(a..=b).count() as u64;
                model.retain(|&id| !(a..=b).contains(&id));
                assert_eq!(set.remove_range(a, b), expect, "remove {a}..={b}");
            } else {
                model.insert(a);
                set.insert(a);
            }
            assert_eq!(set.ids(), model.iter().copied().collect::<Vec<_>>());
            // Disjoint and not adjacent: the representation stays minimal.
            let r: Vec<_> = set.ranges.iter().map(|(&a, &b)| (a, b)).collect();
            assert!(r.iter().all(|&(a, b)| a <= b));
            assert!(r.windows(2).all(|w| w[0].1 + 1 < w[1].0), "{r:?}");
            let (lo, hi) = (a.saturating_sub(3), a + 3);
            assert_eq!(set.contains_any(lo, hi), model.range(lo..=hi).next().is_some());
        }
    }

    #[test]
    fn uncovered_ranges() {
        let a: IdSet = [3, 4, 5, 9].into_iter().collect();
        let b: IdSet = [6, 20].into_iter().collect();
        assert_eq!(uncovered([(1, 10)], [&a, &b]), [(1, 2), (7, 8), (10, 10)]);
        assert_eq!(uncovered([(3, 6), (8, 9)], [&a, &b]), [(8, 8)]);
        assert_eq!(uncovered([(1, 10), (5, 12), (30, 31)], [&a]), [(1, 2), (6, 8), (10, 12), (30, 31)]);
        assert_eq!(uncovered([(0, u64::MAX)], [&a]), [(0, 2), (6, 8), (10, u64::MAX)]);
        assert_eq!(uncovered([(4, 4)], [&a]), []);
        assert_eq!(uncovered([(5, 4)], [&a]), []);
        assert_eq!(uncovered([(7, 7)], Vec::<&IdSet>::new()), [(7, 7)]);
    }

    #[test]
    fn extremes() {
        let mut set: IdSet = [u64::MAX, 0, u64::MAX - 1].into_iter().collect();
        assert_eq!(set.ids(), [0, u64::MAX - 1, u64::MAX]);
        assert_eq!(set.remove_range(5, 4), 0);
        assert!(!set.contains_any(5, 4));
        assert_eq!(set.remove_range(1, u64::MAX), 2);
        assert_eq!(set.ids(), [0]);
        assert_eq!(set.remove_range(0, u64::MAX), 1);
        assert!(set.is_empty());
        // In-order inserts make one range.
        let set: IdSet = (10..1000).collect();
        assert_eq!(set.ranges.len(), 1);
    }
}
