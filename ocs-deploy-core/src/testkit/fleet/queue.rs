//! The event queue: a radix heap, since virtual time only moves forward.

/// A monotone priority queue of `u128` keys (Ahuja, Mehlhorn, Orlin and Tarjan's radix
/// heap): each key sits in the bucket of the highest bit where it differs from the last
/// key popped, so a pop touches one bucket and each key moves down at most 128 times.
/// Cheaper than a binary heap of 100 000 events, whose every pop walks a cold tree.
///
/// A key below the last one popped (which the simulator never pushes) is popped next, as
/// if equal to it.
#[derive(Debug)]
pub(super) struct RadixHeap {
    last: u128,
    len: usize,
    buckets: Vec<Vec<u128>>,
}

impl RadixHeap {
    pub(super) fn new() -> Self {
        Self {
            last: 0,
            len: 0,
            buckets: vec![Vec::new(); 129],
        }
    }

    fn bucket(&self, key: u128) -> usize {
        if key <= self.last {
            0
        } else {
            128 - (key ^ self.last).leading_zeros() as usize
        }
    }

    pub(super) fn push(&mut self, key: u128) {
        let b = self.bucket(key);
        self.buckets[b].push(key);
        self.len += 1;
    }

    pub(super) fn pop(&mut self) -> Option<u128> {
        if self.len == 0 {
            return None;
        }
        if self.buckets[0].is_empty() {
            let i = self.buckets.iter().position(|b| !b.is_empty())?;
            let keys = std::mem::take(&mut self.buckets[i]);
            self.last = keys.iter().copied().min()?;
            for &k in &keys {
                let b = self.bucket(k);
                self.buckets[b].push(k);
            }
            // Give the emptied bucket its allocation back for later keys.
            let mut keys = keys;
            keys.clear();
            if self.buckets[i].is_empty() {
                self.buckets[i] = keys;
            }
        }
        self.len -= 1;
        self.buckets[0].pop()
    }
}

#[cfg(test)]
mod tests {
    use super::RadixHeap;
    use crate::testkit::rng::Rng;

    #[test]
    fn pops_in_order_like_a_sorted_list() {
        let mut rng = Rng::new(3, 0);
        let mut heap = RadixHeap::new();
        let mut expected = Vec::new();
        let mut now = 0u128;
        for round in 0..2_000u32 {
            for _ in 0..3 {
                let key = ((now + u128::from(rng.below(1 << 40))) << 20) | u128::from(round);
                heap.push(key);
                expected.push(key);
            }
            expected.sort_unstable();
            let want = expected.remove(0);
            assert_eq!(heap.pop(), Some(want));
            now = want >> 20;
        }
        expected.sort_unstable();
        for want in expected {
            assert_eq!(heap.pop(), Some(want));
        }
        assert_eq!(heap.pop(), None);
    }
}
