//! Distinct values numbered in order of first appearance, so that a value repeated across many
//! records is held (or written) once and referred to by a small index.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};

/// Each distinct value once, with its number (from 0, in order of first appearance). The
/// values are held once: the index maps a value's 64-bit hash to its number (values whose
/// hashes collide are told apart by comparing them).
#[derive(Debug, Clone)]
pub struct Interner<T> {
    by_hash: HashMap<u64, u32>,
    /// Further values with a hash already in `by_hash`.
    colliding: HashMap<u64, Vec<u32>>,
    values: Vec<T>,
    hasher: RandomState,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            by_hash: HashMap::new(),
            colliding: HashMap::new(),
            values: Vec::new(),
            hasher: RandomState::new(),
        }
    }
}

impl<T: Hash + Eq> Interner<T> {
    /// The number of `value`, numbering it if it is new.
    pub fn id(&mut self, value: T) -> u32 {
        let h = self.hasher.hash_one(&value);
        let next = self.values.len() as u32;
        match self.by_hash.get(&h) {
            None => {
                self.by_hash.insert(h, next);
            }
            Some(&i) if self.values[i as usize] == value => return i,
            Some(_) => {
                let more = self.colliding.entry(h).or_default();
                if let Some(&i) = more.iter().find(|&&i| self.values[i as usize] == value) {
                    return i;
                }
                more.push(next);
            }
        }
        self.values.push(value);
        next
    }

    /// The value numbered `i`.
    pub fn get(&self, i: u32) -> &T {
        &self.values[i as usize]
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values in number order.
    pub fn into_values(self) -> Vec<T> {
        self.values
    }

    pub fn values(&self) -> &[T] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_in_order_of_first_appearance() {
        let mut i = Interner::default();
        assert_eq!(
            ["b", "a", "b", "c", "a"].map(|v| i.id(v.to_string())),
            [0, 1, 0, 2, 1]
        );
        assert_eq!(i.get(2), "c");
        assert_eq!(i.len(), 3);
        assert_eq!(i.into_values(), ["b", "a", "c"]);
    }

    /// A hash that puts every value in one bucket: values are still told apart.
    #[test]
    fn colliding_hashes_keep_values_apart() {
        #[derive(PartialEq, Eq)]
        struct Same(u8);
        impl Hash for Same {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                0u8.hash(state);
            }
        }
        let mut i = Interner::default();
        let ids: Vec<u32> = [1, 2, 1, 3, 2, 3].iter().map(|&v| i.id(Same(v))).collect();
        assert_eq!(ids, [0, 1, 0, 2, 1, 2]);
        assert_eq!(i.get(2).0, 3);
    }
}
