//! [`VecMap`]: a map kept as a sorted `Vec`, for the Session's small bounded tables, and
//! [`grow_by_half`], [`retain_queue`], [`remove_at`] and [`move_entry`] for its queues.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::borrow::Borrow;

/// Makes room for one more entry, growing by half the length (at least `first`, at most up
/// to `bound` entries when that leaves room) instead of doubling: these queues keep their
/// capacity for the session's lifetime, so the slack of doubling would be held for good, and
/// growth stays geometric (amortised O(1)).
#[inline(always)]
pub(crate) fn grow_by_half<T>(queue: &mut VecDeque<T>, first: usize, bound: usize) {
    // Only the comparison is on the hot path; growing is rare.
    if queue.len() == queue.capacity() {
        grow_queue(queue, first, bound);
    }
}

#[cold]
#[inline(never)]
fn grow_queue<T>(queue: &mut VecDeque<T>, first: usize, bound: usize) {
    let len = queue.len();
    let room = bound.saturating_sub(len).max(1);
    queue.reserve_exact((len / 2).max(first).min(room));
}

/// Keeps the entries of `queue` for which `keep` returns true, in order, like
/// `VecDeque::retain_mut`, by turning the queue once around (each entry popped from the front
/// and pushed back if kept; the capacity never changes).
///
/// For the Session's cold paths (what a CONNACK gives up). `VecDeque::retain_mut` handles the
/// ring's two halves and is monomorphised for every closure: four call sites cost 1.5 KB of
/// flash (issue 15). Here `keep` is a trait object, so there is one small instance per entry
/// type. O(n) like `retain_mut`.
pub(crate) fn retain_queue<T>(queue: &mut VecDeque<T>, keep: &mut dyn FnMut(&mut T) -> bool) {
    for _ in 0..queue.len() {
        if let Some(mut entry) = queue.pop_front() {
            if keep(&mut entry) {
                queue.push_back(entry);
            }
        }
    }
}

/// Removes and returns the entry at `index` (`None` past the end), like `VecDeque::remove`:
/// the entries between it and the nearer end move up by one, in order.
///
/// By swaps towards that end, then a pop there. `VecDeque::remove` and `insert` link the
/// ring buffer's general `wrap_copy` for every entry type (about 500 B of flash each, issue
/// 15); these queues are short and remove from the middle only when acknowledgements come
/// out of order or a message is given up. O(distance to the nearer end), like `remove`.
pub(crate) fn remove_at<T>(queue: &mut VecDeque<T>, index: usize) -> Option<T> {
    let len = queue.len();
    if index >= len {
        return None;
    }
    if index < len / 2 {
        for k in (0..index).rev() {
            queue.swap(k, k + 1);
        }
        queue.pop_front()
    } else {
        for k in index..len - 1 {
            queue.swap(k, k + 1);
        }
        queue.pop_back()
    }
}

/// Moves the entry at `from` to `to`, shifting the entries in between by one towards `from`:
/// the order `remove(from)` then `insert(to, _)` gives, without linking either (see
/// [`remove_at`]). Indices past the end leave the queue as it is.
pub(crate) fn move_entry<T>(queue: &mut VecDeque<T>, from: usize, to: usize) {
    let len = queue.len();
    if from >= len || to >= len {
        return;
    }
    if from < to {
        for k in from..to {
            queue.swap(k, k + 1);
        }
    } else {
        for k in (to..from).rev() {
            queue.swap(k, k + 1);
        }
    }
}

/// A map from `K` to `V` stored as one `Vec` of pairs sorted by key.
///
/// The Session's tables are small and bounded by its configuration (subscriptions, held
/// incoming QoS 2 messages, topic aliases): a binary search over one contiguous block beats a
/// B-tree there in memory (no 11-slot nodes for a single entry) and in code size (one
/// monomorphised `BTreeMap::insert` costs over 1 KB of flash; issue 15). Insertion and removal
/// move the entries after the position, which for these bounds is a short `memmove`.
#[derive(Clone, Debug)]
pub(crate) struct VecMap<K, V> {
    /// Ascending by key, no duplicate keys.
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    // Only the topic alias tables look entries up by key.
    #[cfg_attr(not(feature = "topic-aliases"), allow(dead_code))]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.find(key).ok()?;
        self.entries.get(at).map(|(_, v)| v)
    }

    // Only the topic alias tables look entries up by key.
    #[cfg_attr(not(feature = "topic-aliases"), allow(dead_code))]
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.find(key).ok()?;
        self.entries.get_mut(at).map(|(_, v)| v)
    }

    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).is_ok()
    }

    /// Inserts or replaces; returns the value replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(at) => self
                .entries
                .get_mut(at)
                .map(|(_, v)| core::mem::replace(v, value)),
            Err(at) => {
                // Grow by half from one slot, not by doubling from four: a table holding one
                // subscription keeps one slot (amortised O(1) still).
                let len = self.entries.len();
                if len == self.entries.capacity() {
                    self.entries.reserve_exact((len / 2).max(1));
                }
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.find(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// The entries in ascending key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = alloc::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    /// Every queue of up to 9 entries, at every rotation of its ring buffer.
    fn wrapped_queues() -> impl Iterator<Item = VecDeque<u32>> {
        (0..10u32).flat_map(|len| {
            (0..len.max(1)).map(move |start| {
                let mut q: VecDeque<u32> = VecDeque::with_capacity(len as usize);
                q.extend(0..len);
                q.rotate_left(start as usize);
                q
            })
        })
    }

    #[test]
    fn remove_at_matches_vec_deque_remove() {
        for q in wrapped_queues() {
            for index in 0..=q.len() + 1 {
                let mut ours = q.clone();
                let mut std = q.clone();
                assert_eq!(
                    remove_at(&mut ours, index),
                    std.remove(index),
                    "{q:?} at {index}"
                );
                assert_eq!(ours, std, "{q:?} at {index}");
            }
        }
    }

    #[test]
    fn move_entry_matches_remove_then_insert() {
        for q in wrapped_queues() {
            for from in 0..q.len() {
                for to in 0..q.len() {
                    let mut ours = q.clone();
                    move_entry(&mut ours, from, to);
                    let mut std = q.clone();
                    if let Some(x) = std.remove(from) {
                        std.insert(to, x);
                    }
                    assert_eq!(ours, std, "{q:?} from {from} to {to}");
                }
            }
            let mut ours = q.clone();
            move_entry(&mut ours, q.len(), 0);
            move_entry(&mut ours, 0, q.len());
            assert_eq!(ours, q, "indices past the end");
        }
    }

    #[test]
    fn retain_queue_keeps_order_and_capacity() {
        for len in 0..10u32 {
            for start in 0..len.max(1) {
                // A queue that wraps around its buffer unless `start` is 0.
                let mut q: VecDeque<u32> = VecDeque::with_capacity(len as usize);
                q.extend(0..len);
                q.rotate_left(start as usize);
                let mut expected = q.clone();
                expected.retain_mut(|x| {
                    *x += 100;
                    *x % 3 != 0
                });
                let capacity = q.capacity();
                retain_queue(&mut q, &mut |x| {
                    *x += 100;
                    *x % 3 != 0
                });
                assert_eq!(q, expected, "len {len}, start {start}");
                assert_eq!(q.capacity(), capacity);
            }
        }
    }

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut m: VecMap<String, u8> = VecMap::new();
        assert_eq!(m.insert("b".into(), 2), None);
        assert_eq!(m.insert("a".into(), 1), None);
        assert_eq!(m.insert("c".into(), 3), None);
        assert_eq!(m.insert("b".into(), 20), Some(2));
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("b"), Some(&20));
        assert!(m.contains_key("c") && !m.contains_key("d"));
        if let Some(v) = m.get_mut("a") {
            *v = 10;
        }
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(m.remove("b"), Some(20));
        assert_eq!(m.remove("b"), None);
        let all: Vec<(String, u8)> = m.clone().into_iter().collect();
        assert_eq!(all, [("a".into(), 10), ("c".into(), 3)]);
        m.clear();
        assert!(m.is_empty());
    }
}
