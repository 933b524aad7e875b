//! [`PacketIdSet`]: which packet identifiers are in use, and allocation of free ones.

use alloc::vec;
use alloc::vec::Vec;

use mqtt_proto::PacketId;

/// The set of packet identifiers in use, over the whole 1..=65535 space.
///
/// A bitmap of 8 KiB: membership and release are O(1); allocation scans forward from the
/// last identifier handed out, wrapping past 65535 to 1, so identifiers are not reused sooner
/// than necessary and 0 is never produced [MQTT-2.3.1-1].
#[derive(Clone, Debug)]
pub(crate) struct PacketIdSet {
    words: Vec<u64>,
    used: usize,
    last: PacketId,
}

impl PacketIdSet {
    pub(crate) fn new() -> Self {
        Self {
            words: vec![0; 1024],
            used: 0,
            last: PacketId::MAX,
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

    /// The next free identifier after the last one handed out, now marked used.
    pub(crate) fn allocate(&mut self) -> Option<PacketId> {
        if self.used >= usize::from(u16::MAX) {
            return None;
        }
        let mut id = self.last;
        loop {
            id = id.next();
            if self.insert(id) {
                self.last = id;
                return Some(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_starts_at_1_and_never_yields_0() {
        // Regression for the seed's code, which could generate packet id 0 [MQTT-2.3.1-1].
        let mut set = PacketIdSet::new();
        assert_eq!(set.allocate().map(PacketId::get), Some(1));
        for _ in 1..u16::MAX {
            let id = set.allocate().expect("free ids remain");
            assert_ne!(id.get(), 0);
        }
        assert_eq!(set.len(), 65535);
        assert_eq!(set.allocate(), None);
    }

    #[test]
    fn allocation_skips_ids_in_use_and_wraps() {
        let mut set = PacketIdSet::new();
        let a = set.allocate().unwrap();
        let b = set.allocate().unwrap();
        assert!(set.remove(a));
        // Next is 3, not the freed 1: ids are not reused sooner than necessary.
        assert_eq!(set.allocate().unwrap().get(), 3);
        assert!(set.contains(b));
        // Fill up to 65535, then wrap: 1 is free again; then nothing is.
        while set.allocate().unwrap().get() != u16::MAX {}
        assert_eq!(set.allocate().unwrap().get(), 1);
        assert_eq!(set.allocate(), None);
    }
}
