//! Counting for `mqtt bench`: a latency histogram of bounded size (any number of messages
//! in a few tens of KiB, within 1/64 of the true value) and a per-subscriber tally of what
//! arrived, lost and duplicated.

/// Values below this are counted exactly.
const EXACT: u64 = 128;
/// Sub-buckets per power of two above `EXACT`: 1/64 relative precision.
const SUB: u64 = 64;
/// Powers of two from 2^7 to 2^63.
const BUCKETS: usize = EXACT as usize + 57 * SUB as usize;

/// Latencies in nanoseconds.
#[derive(Clone)]
pub(crate) struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    // v >= 128, so exp is in 7..=63 and v >> (exp - 6) in 64..128.
    let exp = u64::from(63 - v.leading_zeros());
    let mantissa = v >> (exp - 6);
    (EXACT + (exp - 7) * SUB + (mantissa - SUB)) as usize
}

/// The middle of the values bucket `i` holds.
fn value_of(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let exp = 7 + (i - EXACT) / SUB;
    let mantissa = SUB + (i - EXACT) % SUB;
    let width = 1u64 << (exp - 6);
    (mantissa << (exp - 6)) + width / 2
}

impl Histogram {
    /// Counts one latency.
    pub(crate) fn record(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    /// Adds another histogram's counts.
    pub(crate) fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many latencies were counted.
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    /// The largest latency, exactly.
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The latency at or below which `percent` % of the counts lie (`None` when empty).
    pub(crate) fn percentile(&self, percent: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((percent / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // The bucket's middle, but never above the largest value seen.
                return Some(value_of(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// What one subscriber received of a run of `publishers` x `count` messages.
pub(crate) struct Tally {
    count: u64,
    publishers: u32,
    seen: Vec<u64>,
    pub(crate) unique: u64,
    pub(crate) duplicates: u64,
    /// Messages on the bench topics whose payload is not one of this run's.
    pub(crate) foreign: u64,
    pub(crate) bytes: u64,
    pub(crate) latency: Histogram,
}

impl Tally {
    pub(crate) fn new(publishers: u32, count: u64) -> Self {
        let bits = u64::from(publishers) * count;
        Self {
            count,
            publishers,
            seen: vec![0; bits.div_ceil(64) as usize],
            unique: 0,
            duplicates: 0,
            foreign: 0,
            bytes: 0,
            latency: Histogram::default(),
        }
    }

    /// Counts message `seq` of `publisher`, `latency` nanoseconds after it was sent.
    pub(crate) fn record(&mut self, publisher: u32, seq: u64, latency: u64, bytes: usize) {
        if publisher >= self.publishers || seq >= self.count {
            self.foreign += 1;
            return;
        }
        let bit = u64::from(publisher) * self.count + seq;
        let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
        let Some(w) = self.seen.get_mut(word) else {
            self.foreign += 1;
            return;
        };
        if *w & mask != 0 {
            self.duplicates += 1;
        } else {
            *w |= mask;
            self.unique += 1;
        }
        self.bytes += bytes as u64;
        self.latency.record(latency);
    }

    /// Messages of the run that never arrived.
    pub(crate) fn lost(&self) -> u64 {
        (u64::from(self.publishers) * self.count).saturating_sub(self.unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_within_1_64() {
        let mut last = 0;
        for v in (0..2000u64).chain([1 << 20, 123_456_789, u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b < BUCKETS);
            assert!(b >= last || v > 2000, "{v}");
            last = b;
            let back = value_of(b);
            let err = back.abs_diff(v) as f64 / (v.max(1)) as f64;
            assert!(err <= 1.0 / 64.0, "{v} -> {back}");
        }
    }

    #[test]
    fn percentiles_of_a_known_spread() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let close = |p: f64, want: u64| {
            let got = h.percentile(p).unwrap();
            assert!(
                got.abs_diff(want) as f64 <= want as f64 / 64.0,
                "p{p}: {got} vs {want}"
            );
        };
        close(50.0, 500_000);
        close(90.0, 900_000);
        close(99.0, 990_000);
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.len(), 1000);
        assert!(Histogram::default().percentile(50.0).is_none());
        let mut merged = Histogram::default();
        merged.merge(&h);
        merged.merge(&h);
        assert_eq!(merged.len(), 2000);
        assert_eq!(merged.percentile(50.0), h.percentile(50.0));
    }

    #[test]
    fn the_tally_tells_lost_from_duplicated_and_foreign() {
        let mut t = Tally::new(2, 3);
        t.record(0, 0, 10, 20);
        t.record(0, 0, 10, 20);
        t.record(1, 2, 10, 20);
        t.record(2, 0, 10, 20);
        t.record(0, 3, 10, 20);
        assert_eq!((t.unique, t.duplicates, t.foreign, t.lost()), (2, 1, 2, 4));
        assert_eq!(t.latency.len(), 3);
    }
}
