//! Packet identifier bookkeeping.
//!
//! - [`InFlightIds`]: the identifiers of our own in-flight messages and requests, and
//!   allocation of free ones. Memory proportional to what is in flight (the window, the queue
//!   and the pending requests are bounded by the configuration), not to the identifier space.
//! - [`PacketIdSet`]: a 65,536-bit set, only for the incoming QoS 2 identifiers past the held
//!   budget (SPEC "Exactly once, bounded"), allocated lazily when the budget is first exceeded.

use alloc::vec;
use alloc::vec::Vec;

use mqtt_sansio_proto::PacketId;

/// The set of packet identifiers in use, over the whole 1..=65535 space.
///
/// A bitmap of 8 KiB: membership and release are O(1). Only for the incoming QoS 2 ids past
/// the held budget, where the broker, not we, chooses how many are outstanding.
#[derive(Clone, Debug)]
pub(crate) struct PacketIdSet {
    words: Vec<u64>,
    used: usize,
}

impl PacketIdSet {
    pub(crate) fn new() -> Self {
        Self {
            words: vec![0; 1024],
            used: 0,
        }
    }

    fn slot(id: PacketId) -> (usize, u64) {
        let v = usize::from(id.get());
        (v / 64, 1u64 << (v % 64))
    }

    pub(crate) fn contains(&self, id: PacketId) -> bool {
        let (w, bit) = Self::slot(id);
        self.words.get(w).is_some_and(|word| word & bit != 0)
    }

    pub(crate) fn len(&self) -> usize {
        self.used
    }

    /// Marks `id` used; false if it already was.
    pub(crate) fn insert(&mut self, id: PacketId) -> bool {
        let (w, bit) = Self::slot(id);
        match self.words.get_mut(w) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                self.used += 1;
                true
            }
            _ => false,
        }
    }

    /// Frees `id`; false if it was not in use.
    pub(crate) fn remove(&mut self, id: PacketId) -> bool {
        let (w, bit) = Self::slot(id);
        match self.words.get_mut(w) {
            Some(word) if *word & bit != 0 => {
                *word &= !bit;
                self.used -= 1;
                true
            }
            _ => false,
        }
    }
}

/// The packet identifiers in use by our outgoing messages and requests.
///
/// A sorted `Vec`: a session typically has a handful of ids in flight (the window is bounded),
/// so a binary search over a few entries beats a map and costs a few bytes per id instead of
/// 8 KiB per session. Allocation scans forward from the last identifier handed out, wrapping
/// past 65535 to 1, so identifiers are not reused sooner than necessary and 0 is never
/// produced [MQTT-2.3.1-1] — the same order as the bitmap this replaces.
#[derive(Clone, Debug)]
pub(crate) struct InFlightIds {
    /// Ascending, no duplicates.
    sorted: Vec<PacketId>,
    last: PacketId,
}

impl InFlightIds {
    pub(crate) const fn new() -> Self {
        Self {
            sorted: Vec::new(),
            last: PacketId::MAX,
        }
    }

    pub(crate) fn contains(&self, id: PacketId) -> bool {
        self.sorted.binary_search(&id).is_ok()
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Marks `id` used; false if it already was.
    #[cfg(any(test, feature = "store"))]
    pub(crate) fn insert(&mut self, id: PacketId) -> bool {
        match self.sorted.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.sorted.insert(at, id);
                true
            }
        }
    }

    /// Frees `id`; false if it was not in use.
    pub(crate) fn remove(&mut self, id: PacketId) -> bool {
        // Acknowledgements mostly arrive in order: the oldest id is the first. One `remove`
        // for both cases, not one inlined per case (issue 15: flash).
        let at = if self.sorted.first() == Some(&id) {
            0
        } else {
            match self.sorted.binary_search(&id) {
                Ok(at) => at,
                Err(_) => return false,
            }
        };
        self.sorted.remove(at);
        true
    }

    /// Makes `id` the last identifier handed out: allocation continues after it (a session
    /// restored from a store does not reuse the identifiers it used last).
    #[cfg(feature = "store")]
    pub(crate) fn continue_after(&mut self, id: PacketId) {
        self.last = id;
    }

    /// Inserts `id` (free) at `at` (its sorted position) and makes it the last handed out.
    fn push_sorted(&mut self, at: usize, id: PacketId) {
        // Grow by half, not by doubling: what is in flight is bounded, and the slack of
        // doubling would be held for the session's lifetime.
        let len = self.sorted.len();
        if len == self.sorted.capacity() {
            self.sorted.reserve_exact((len / 2).max(4));
        }
        // `insert` at the end moves nothing: no separate `push` branch (issue 15: flash).
        self.sorted.insert(at, id);
        self.last = id;
    }

    /// The next free identifier after the last one handed out, now marked used.
    pub(crate) fn allocate(&mut self) -> Option<PacketId> {
        if self.sorted.len() >= usize::from(u16::MAX) {
            return None;
        }
        // Walk the used ids above `last` in step with the candidate: the first gap is the
        // answer. At 65535 wrap to 1 and walk from the start; the length check above
        // guarantees a gap exists, so this ends within two passes.
        let mut candidate = self.last.next();
        // Usually every id in use is below the next one: append.
        if self.sorted.last().is_none_or(|&top| top < candidate) {
            self.push_sorted(self.sorted.len(), candidate);
            return Some(candidate);
        }
        let mut at = self.sorted.partition_point(|&used| used < candidate);
        loop {
            match self.sorted.get(at) {
                Some(&used) if used == candidate => {
                    if candidate == PacketId::MAX {
                        candidate = PacketId::MIN;
                        at = 0;
                    } else {
                        candidate = candidate.next();
                        at += 1;
                    }
                }
                _ => {
                    self.push_sorted(at, candidate);
                    return Some(candidate);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_allocation_starts_at_1_and_never_yields_0() {
        // [MQTT-2.3.1-1]: identifiers are non-zero; the full space can be handed out.
        let mut ids = InFlightIds::new();
        assert_eq!(ids.allocate().map(PacketId::get), Some(1));
        for _ in 1..u16::MAX {
            let id = ids.allocate().expect("free ids remain");
            assert_ne!(id.get(), 0);
        }
        assert_eq!(ids.len(), 65535);
        assert_eq!(ids.allocate(), None);
    }

    #[test]
    fn in_flight_allocation_matches_the_bitmap_order() {
        // Same order as PacketIdSet on a random mix of allocations and releases, so the
        // replacement changes no identifier a test or a broker sees.
        // The bitmap allocator this replaces: scan forward from the last id handed out.
        let mut bitmap = PacketIdSet::new();
        let mut last = PacketId::MAX;
        let mut bitmap_allocate = |set: &mut PacketIdSet| {
            if set.len() >= usize::from(u16::MAX) {
                return None;
            }
            loop {
                last = last.next();
                if set.insert(last) {
                    return Some(last);
                }
            }
        };
        let mut sorted = InFlightIds::new();
        let mut state = 0x2545_f491_u32;
        let mut live: Vec<PacketId> = Vec::new();
        for step in 0..200_000u32 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Mostly allocate early on so the set fills and wraps; release otherwise.
            if live.is_empty() || (!state.is_multiple_of(3) && step % 50_000 < 40_000) {
                let a = bitmap_allocate(&mut bitmap);
                assert_eq!(a, sorted.allocate(), "step {step}");
                live.extend(a);
            } else {
                let id = live.swap_remove(state as usize % live.len());
                assert!(bitmap.remove(id) && sorted.remove(id));
            }
            assert_eq!(bitmap.len(), sorted.len());
        }
    }

    #[test]
    fn in_flight_allocation_skips_ids_in_use_and_wraps() {
        let mut ids = InFlightIds::new();
        let a = ids.allocate().unwrap();
        let b = ids.allocate().unwrap();
        assert!(ids.remove(a));
        assert!(!ids.remove(a));
        // Next is 3, not the freed 1: ids are not reused sooner than necessary.
        assert_eq!(ids.allocate().unwrap().get(), 3);
        assert!(ids.contains(b));
        assert!(!ids.insert(b));
        // Jump near the end, then wrap past 65535: 1 is free, 2 and 3 are not, 4 is.
        assert!(ids.insert(PacketId::MAX));
        ids.last = PacketId::new(65534).unwrap();
        assert_eq!(ids.allocate().unwrap().get(), 1);
        assert_eq!(ids.allocate().unwrap().get(), 4);
        // Memory follows what is in flight: five ids, not 8 KiB.
        assert_eq!(ids.len(), 5);
        assert!(ids.sorted.capacity() < 64);
    }
}
