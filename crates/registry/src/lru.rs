//! A bounded least-recently-used map from keys to values, O(1) per operation.
//!
//! The recency list is doubly linked through a slab of nodes by index (no pointers, no unsafe):
//! `head` is the most recently used entry, `tail` the least. Slots freed by removal are reused
//! before the slab grows, so the slab never holds more nodes than the largest number of entries
//! the map ever held, which is at most its capacity.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroUsize;

/// The index that marks "no node" at either end of the recency list.
const NIL: usize = usize::MAX;

/// A position in the slab, valid until that entry is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot(usize);

/// One entry and its neighbours in the recency list.
struct Node<K, V> {
    key: K,
    value: V,
    /// The next more recently used node, or [`NIL`].
    prev: usize,
    /// The next less recently used node, or [`NIL`].
    next: usize,
}

/// A map of at most `capacity` entries that evicts the least recently used one when full.
pub(crate) struct Lru<K, V> {
    index: HashMap<K, usize>,
    nodes: Vec<Option<Node<K, V>>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    capacity: NonZeroUsize,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// An empty map that keeps at most `capacity` entries. Allocates nothing until used.
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        Self {
            index: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity,
        }
    }

    /// The most entries this map keeps.
    pub(crate) fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Where `key`'s entry is, without changing its recency.
    pub(crate) fn find<Q>(&self, key: &Q) -> Option<Slot>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.get(key).copied().map(Slot)
    }

    /// The value at `slot`, without changing its recency.
    pub(crate) fn value(&self, slot: Slot) -> Option<&V> {
        self.node(slot.0).map(|node| &node.value)
    }

    /// Marks the entry at `slot` as the most recently used.
    pub(crate) fn touch(&mut self, slot: Slot) {
        if self.head != slot.0 && self.node(slot.0).is_some() {
            self.unlink(slot.0);
            self.push_front(slot.0);
        }
    }

    /// Inserts or replaces `key`'s value and marks it most recently used. Returns the value it
    /// displaced: the key's previous value, or the least recently used entry's value when the map
    /// was full.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(slot) = self.find(&key) {
            let previous = self
                .node_mut(slot.0)
                .map(|node| std::mem::replace(&mut node.value, value));
            self.touch(slot);
            return previous;
        }
        let evicted = if self.len() >= self.capacity.get() {
            self.remove_slot(Slot(self.tail))
        } else {
            None
        };
        let node = Node {
            key: key.clone(),
            value,
            prev: NIL,
            next: NIL,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(cell) = self.nodes.get_mut(slot) {
                    *cell = Some(node);
                }
                slot
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len().saturating_sub(1)
            }
        };
        self.index.insert(key, slot);
        self.push_front(slot);
        evicted
    }

    /// Removes `key`'s entry, returning its value.
    #[cfg(test)]
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.find(key)?;
        self.remove_slot(slot)
    }

    /// Removes the entry at `slot`, returning its value.
    pub(crate) fn remove_slot(&mut self, slot: Slot) -> Option<V> {
        self.node(slot.0)?;
        self.unlink(slot.0);
        let node = self.nodes.get_mut(slot.0)?.take()?;
        self.index.remove(&node.key);
        self.free.push(slot.0);
        Some(node.value)
    }

    /// Removes every entry for which `keep` returns false, returning their values. Recency order
    /// of the entries kept is unchanged.
    pub(crate) fn remove_unless(&mut self, mut keep: impl FnMut(&V) -> bool) -> Vec<V> {
        let doomed: Vec<usize> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(slot, node)| match node {
                Some(node) if !keep(&node.value) => Some(slot),
                _ => None,
            })
            .collect();
        doomed
            .into_iter()
            .filter_map(|slot| self.remove_slot(Slot(slot)))
            .collect()
    }

    /// The keys from most to least recently used.
    #[cfg(test)]
    pub(crate) fn keys_by_recency(&self) -> Vec<K> {
        let mut keys = Vec::with_capacity(self.len());
        let mut at = self.head;
        while let Some(node) = self.node(at) {
            keys.push(node.key.clone());
            at = node.next;
        }
        keys
    }

    /// The keys from least to most recently used, following the backward links.
    #[cfg(test)]
    pub(crate) fn keys_by_recency_backward(&self) -> Vec<K> {
        let mut keys = Vec::with_capacity(self.len());
        let mut at = self.tail;
        while let Some(node) = self.node(at) {
            keys.push(node.key.clone());
            at = node.prev;
        }
        keys
    }

    /// The number of slab slots allocated (live and free).
    #[cfg(test)]
    pub(crate) fn slab_len(&self) -> usize {
        self.nodes.len()
    }

    fn node(&self, slot: usize) -> Option<&Node<K, V>> {
        self.nodes.get(slot)?.as_ref()
    }

    fn node_mut(&mut self, slot: usize) -> Option<&mut Node<K, V>> {
        self.nodes.get_mut(slot)?.as_mut()
    }

    /// Detaches the node at `slot` from the recency list, joining its neighbours.
    fn unlink(&mut self, slot: usize) {
        let Some((prev, next)) = self.node(slot).map(|node| (node.prev, node.next)) else {
            return;
        };
        match self.node_mut(prev) {
            Some(node) => node.next = next,
            None => self.head = next,
        }
        match self.node_mut(next) {
            Some(node) => node.prev = prev,
            None => self.tail = prev,
        }
        if let Some(node) = self.node_mut(slot) {
            node.prev = NIL;
            node.next = NIL;
        }
    }

    /// Attaches the detached node at `slot` as the most recently used.
    fn push_front(&mut self, slot: usize) {
        let old_head = self.head;
        if let Some(node) = self.node_mut(slot) {
            node.prev = NIL;
            node.next = old_head;
        } else {
            return;
        }
        match self.node_mut(old_head) {
            Some(node) => node.prev = slot,
            None => self.tail = slot,
        }
        self.head = slot;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use proptest::prelude::*;

    fn cap(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    /// The keys from most to least recently used, after checking that the forward and backward
    /// links agree and that the index names exactly the listed entries.
    fn keys(lru: &Lru<Arc<str>, u32>) -> Vec<String> {
        let forward = lru.keys_by_recency();
        let mut backward = lru.keys_by_recency_backward();
        backward.reverse();
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), lru.len());
        for key in &forward {
            assert!(lru.find(&**key).is_some());
        }
        forward.iter().map(|key| key.to_string()).collect()
    }

    #[test]
    fn evicts_the_least_recently_used_entry() {
        let mut lru = Lru::new(cap(3));
        assert_eq!(lru.insert("a".into(), 1), None);
        assert_eq!(lru.insert("b".into(), 2), None);
        assert_eq!(lru.insert("c".into(), 3), None);
        assert_eq!(keys(&lru), ["c", "b", "a"]);
        // A lookup refreshes "a", so "b" is now the oldest.
        let a = lru.find("a").unwrap();
        lru.touch(a);
        assert_eq!(keys(&lru), ["a", "c", "b"]);
        assert_eq!(lru.insert("d".into(), 4), Some(2));
        assert_eq!(keys(&lru), ["d", "a", "c"]);
        assert_eq!(lru.find("b"), None);
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.slab_len(), 3);
    }

    #[test]
    fn reinsertion_replaces_and_refreshes() {
        let mut lru = Lru::new(cap(2));
        lru.insert("a".into(), 1);
        lru.insert("b".into(), 2);
        assert_eq!(lru.insert("a".into(), 10), Some(1));
        assert_eq!(keys(&lru), ["a", "b"]);
        assert_eq!(lru.insert("c".into(), 3), Some(2));
        assert_eq!(keys(&lru), ["c", "a"]);
        assert_eq!(lru.value(lru.find("a").unwrap()), Some(&10));
    }

    #[test]
    fn removal_frees_slots_for_reuse() {
        let mut lru = Lru::new(cap(4));
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            lru.insert(key.into(), u32::try_from(i).unwrap());
        }
        assert_eq!(lru.remove("b"), Some(1));
        assert_eq!(lru.remove("b"), None);
        assert_eq!(lru.remove("d"), Some(3));
        assert_eq!(keys(&lru), ["c", "a"]);
        lru.insert("e".into(), 4);
        lru.insert("f".into(), 5);
        assert_eq!(keys(&lru), ["f", "e", "c", "a"]);
        assert_eq!(lru.slab_len(), 4);
        let removed = lru.remove_unless(|value| value % 2 == 0);
        assert_eq!(removed, [5]);
        assert_eq!(keys(&lru), ["e", "c", "a"]);
        assert_eq!(lru.remove("a"), Some(0));
        assert_eq!(lru.remove("e"), Some(4));
        assert_eq!(lru.remove("c"), Some(2));
        assert_eq!(keys(&lru), Vec::<String>::new());
        assert_eq!(lru.len(), 0);
        lru.insert("g".into(), 6);
        assert_eq!(keys(&lru), ["g"]);
        assert_eq!(lru.slab_len(), 4);
    }

    #[test]
    fn capacity_one_keeps_the_latest() {
        let mut lru = Lru::new(cap(1));
        lru.insert("a".into(), 1);
        assert_eq!(lru.insert("b".into(), 2), Some(1));
        assert_eq!(keys(&lru), ["b"]);
        let b = lru.find("b").unwrap();
        lru.touch(b);
        assert_eq!(keys(&lru), ["b"]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Get(u8),
        Remove(u8),
        RemoveOdd,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u8..12).prop_map(Op::Get),
            (0u8..12).prop_map(Op::Remove),
            Just(Op::RemoveOdd),
        ]
    }

    proptest! {
        /// The slab LRU behaves exactly like a vector kept in recency order.
        #[test]
        fn matches_a_simple_model(capacity in 1usize..6, ops in proptest::collection::vec(op(), 0..200)) {
            let mut lru = Lru::new(cap(capacity));
            // Most recently used first.
            let mut model: Vec<(String, u32)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let key = k.to_string();
                        let expected = if let Some(at) = model.iter().position(|(mk, _)| *mk == key) {
                            let (_, old) = model.remove(at);
                            Some(old)
                        } else if model.len() == capacity {
                            model.pop().map(|(_, old)| old)
                        } else {
                            None
                        };
                        model.insert(0, (key.clone(), v));
                        prop_assert_eq!(lru.insert(key.into(), v), expected);
                    }
                    Op::Get(k) => {
                        let key = k.to_string();
                        let expected = model.iter().position(|(mk, _)| *mk == key).map(|at| {
                            let entry = model.remove(at);
                            let value = entry.1;
                            model.insert(0, entry);
                            value
                        });
                        let got = lru.find(key.as_str()).and_then(|slot| {
                            let value = lru.value(slot).copied();
                            lru.touch(slot);
                            value
                        });
                        prop_assert_eq!(got, expected);
                    }
                    Op::Remove(k) => {
                        let key = k.to_string();
                        let expected = model.iter().position(|(mk, _)| *mk == key).map(|at| model.remove(at).1);
                        prop_assert_eq!(lru.remove(key.as_str()), expected);
                    }
                    Op::RemoveOdd => {
                        let before = model.len();
                        model.retain(|(_, v)| v % 2 == 0);
                        prop_assert_eq!(lru.remove_unless(|v| v % 2 == 0).len(), before - model.len());
                    }
                }
                let model_keys: Vec<String> = model.iter().map(|(k, _)| k.clone()).collect();
                prop_assert_eq!(keys(&lru), model_keys);
                prop_assert!(lru.len() <= capacity);
                prop_assert!(lru.slab_len() <= capacity);
            }
        }
    }
}
