//! [`VecMap`]: a map kept as a sorted `Vec`, for the Session's small bounded tables;
//! [`VecQueue`]: a first-in first-out list (a `VecDeque`, or a `Vec` in firmware built
//! without `fast-paths`), for its queues bounded by configuration; and [`retain_queue`] and [`remove_at`] for its `VecDeque`s.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::borrow::Borrow;

/// Keeps the entries of `queue` for which `keep` returns true, in order, like
/// `VecDeque::retain_mut`, by turning the queue once around (each entry popped from the front
/// and pushed back if kept; the capacity never changes).
///
/// For the Session's cold paths (what a CONNACK gives up). `VecDeque::retain_mut` handles the
/// ring's two halves and is monomorphised for every closure: four call sites cost 1.5 KB of
/// flash (issue 15). Here `keep` is a trait object, so there is one small instance per entry
/// type. O(n) like `retain_mut`.
// The offline queue is their only user.
#[cfg_attr(not(feature = "offline-queue"), allow(dead_code))]
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
// The offline queue is their only user.
#[cfg_attr(not(feature = "offline-queue"), allow(dead_code))]
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

/// A first-in first-out list with the `VecDeque` method names the Session's flows use, for
/// its queues bounded by configuration: the in-flight window (`max_inflight`, receive
/// maximum) and the pending requests (`max_pending_requests`).
///
/// Two storages, picked by the cargo feature `fast-paths`:
///
/// - with it (the default), a `VecDeque`: taking the oldest entry off the front is O(1),
///   so a window of any size acknowledged in order costs the same per message;
/// - without it (firmware that counts bytes), one `Vec`: a `VecDeque` links its ring-buffer
///   code (growth that unwraps the ring, wrapped indexing, iterators over two halves) once
///   per element type, a `Vec` only its growth and a `memmove` (issue 15: 1.2 KB). Taking
///   an entry off the front then moves the ones behind it (O(len)): nothing for a window of
///   one, about 10% more instructions per publish and PUBACK with 100 in flight (callgrind,
///   x86-64: 2,702 vs 2,450), and quadratic for windows of thousands, which firmware does
///   not configure.
#[derive(Clone, Debug)]
pub(crate) struct VecQueue<T> {
    /// Oldest first.
    items: Storage<T>,
}

/// [`VecQueue`]'s storage (see there).
#[cfg(feature = "fast-paths")]
type Storage<T> = VecDeque<T>;
/// [`VecQueue`]'s storage (see there).
#[cfg(not(feature = "fast-paths"))]
type Storage<T> = Vec<T>;

impl<T> Default for VecQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> VecQueue<T> {
    pub(crate) const fn new() -> Self {
        Self {
            items: Storage::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.items.get(index)
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.items.get_mut(index)
    }

    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    pub(crate) fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut T> + ExactSizeIterator {
        self.items.iter_mut()
    }

    /// The entries from `start` on (none when `start` is past the end).
    pub(crate) fn iter_from(&self, start: usize) -> impl Iterator<Item = &T> {
        self.items.iter().skip(start)
    }

    /// The entries from `start` on, to change (none when `start` is past the end).
    pub(crate) fn iter_mut_from(&mut self, start: usize) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().skip(start)
    }

    /// The newest entry.
    pub(crate) fn last_mut(&mut self) -> Option<&mut T> {
        #[cfg(feature = "fast-paths")]
        return self.items.back_mut();
        #[cfg(not(feature = "fast-paths"))]
        return self.items.last_mut();
    }

    pub(crate) fn push_back(&mut self, item: T) {
        #[cfg(feature = "fast-paths")]
        self.items.push_back(item);
        #[cfg(not(feature = "fast-paths"))]
        self.items.push(item);
    }

    pub(crate) fn push_front(&mut self, item: T) {
        #[cfg(feature = "fast-paths")]
        self.items.push_front(item);
        #[cfg(not(feature = "fast-paths"))]
        self.items.insert(0, item);
    }

    /// Makes room for one more entry, growing by half the length (at least `first`, at most
    /// up to `bound` entries when that leaves room) instead of doubling: these queues keep
    /// their capacity for the session's lifetime, so the slack of doubling would be held for
    /// good, and growth stays geometric (amortised O(1)). Only the comparison is inlined.
    #[inline(always)]
    pub(crate) fn grow_by_half(&mut self, first: usize, bound: usize) {
        if self.items.len() == self.items.capacity() {
            grow(&mut self.items, first, bound);
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        #[cfg(feature = "fast-paths")]
        return self.items.pop_front();
        #[cfg(not(feature = "fast-paths"))]
        {
            // A single entry, the common case, moves nothing.
            if self.items.len() <= 1 {
                return self.items.pop();
            }
            Some(self.items.remove(0))
        }
    }

    /// Removes and returns the entry at `index` (`None` past the end), keeping the order of
    /// the others, like `VecDeque::remove`.
    pub(crate) fn remove(&mut self, index: usize) -> Option<T> {
        #[cfg(feature = "fast-paths")]
        return self.items.remove(index);
        #[cfg(not(feature = "fast-paths"))]
        {
            if index < self.items.len() {
                Some(self.items.remove(index))
            } else {
                None
            }
        }
    }

    /// Moves the entry at `from` to `to`, shifting the entries in between by one towards
    /// `from` (the order `remove(from)` then `insert(to, _)` gives). Indices past the end
    /// leave the queue as it is.
    ///
    /// By swaps: `rotate_left` would link the slice rotation algorithms per entry type.
    pub(crate) fn move_entry(&mut self, from: usize, to: usize) {
        let len = self.items.len();
        if from >= len || to >= len {
            return;
        }
        if from < to {
            for k in from..to {
                self.items.swap(k, k + 1);
            }
        } else {
            for k in (to..from).rev() {
                self.items.swap(k, k + 1);
            }
        }
    }

    /// Keeps the entries for which `keep` returns true, in order. `keep` is a trait object:
    /// one instance per entry type, not one per closure (see [`retain_queue`]).
    ///
    /// Kept entries are swapped forward over the dropped ones, which are truncated at the
    /// end: every entry stays owned by the collection throughout, so unlike `retain_mut`
    /// (whose guard doubles the code, issue 15: flash) nothing needs undoing if `keep`
    /// panics. O(n).
    pub(crate) fn retain(&mut self, keep: &mut dyn FnMut(&mut T) -> bool) {
        let mut kept = 0;
        for i in 0..self.items.len() {
            let Some(entry) = self.items.get_mut(i) else {
                break;
            };
            if keep(entry) {
                self.items.swap(kept, i);
                kept += 1;
            }
        }
        self.items.truncate(kept);
    }

    // Only a failed store restore empties the window at once.
    #[cfg_attr(not(feature = "store"), allow(dead_code))]
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}

#[cold]
#[inline(never)]
fn grow<T>(items: &mut Storage<T>, first: usize, bound: usize) {
    let len = items.len();
    let room = bound.saturating_sub(len).max(1);
    items.reserve_exact((len / 2).max(first).min(room));
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
    fn vec_queue_move_entry_matches_remove_then_insert() {
        for q in wrapped_queues() {
            for from in 0..q.len() {
                for to in 0..q.len() {
                    let mut ours = VecQueue::new();
                    q.iter().for_each(|&x| ours.push_back(x));
                    ours.move_entry(from, to);
                    let mut std = q.clone();
                    if let Some(x) = std.remove(from) {
                        std.insert(to, x);
                    }
                    assert!(ours.iter().eq(std.iter()), "{q:?} from {from} to {to}");
                }
            }
            let mut ours = VecQueue::new();
            q.iter().for_each(|&x| ours.push_back(x));
            ours.move_entry(q.len(), 0);
            ours.move_entry(0, q.len());
            assert!(ours.iter().eq(q.iter()), "indices past the end");
        }
    }

    #[test]
    fn vec_queue_behaves_like_a_vec_deque() {
        // The same operations on both, entries checked after each.
        let mut ours: VecQueue<u32> = VecQueue::new();
        let mut std: VecDeque<u32> = VecDeque::new();
        let mut state = 0x9e37_79b9_u32;
        for step in 0..5_000u32 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = (state >> 8) as usize % (std.len() + 2);
            match state % 7 {
                0 | 1 => {
                    ours.grow_by_half(4, 64);
                    ours.push_back(step);
                    std.push_back(step);
                }
                2 => {
                    ours.push_front(step);
                    std.push_front(step);
                }
                3 => assert_eq!(ours.pop_front(), std.pop_front()),
                4 => assert_eq!(ours.remove(at), std.remove(at)),
                5 => {
                    ours.retain(&mut |x| {
                        *x += 1;
                        *x % 5 != 0
                    });
                    std.retain_mut(|x| {
                        *x += 1;
                        *x % 5 != 0
                    });
                }
                _ if step % 500 == 0 => {
                    ours.clear();
                    std.clear();
                }
                _ => assert_eq!(ours.get(at), std.get(at)),
            }
            assert!(ours.iter().eq(std.iter()), "step {step}");
            assert_eq!(ours.len(), std.len());
        }
    }

    #[test]
    fn vec_queue_grows_by_half_toward_the_bound() {
        let mut q: VecQueue<u8> = VecQueue::new();
        q.grow_by_half(4, 100);
        assert_eq!(q.items.capacity(), 4);
        // By at least `first`, then by half the length: 4, 8, 12, 18.
        for expected in [8, 12, 18] {
            while q.len() < q.items.capacity() {
                q.push_back(0);
            }
            q.grow_by_half(4, 100);
            assert_eq!(q.items.capacity(), expected);
        }
        // Never past the bound while it leaves room; one slot past it otherwise.
        let mut q: VecQueue<u8> = VecQueue::new();
        q.grow_by_half(4, 2);
        assert_eq!(q.items.capacity(), 2);
        q.push_back(0);
        q.push_back(1);
        q.grow_by_half(4, 2);
        assert_eq!(q.items.capacity(), 3);
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
