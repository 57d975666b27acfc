//! The benchmark-only queue of opaque transactions: bytes admitted without decoding or checks,
//! first come first served, deduplicated by hash. It exists to measure consensus alone (the
//! setup HotStuff implementations publish: fixed-size opaque transactions); the ledger rejects
//! such bytes as malformed when a block carrying them executes, so they change no state. Enabled
//! only by `[mempool] opaque_transactions = true`, never on a network that matters.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use keel_crypto::Hash;

/// Opaque transactions in arrival order.
#[derive(Debug, Default)]
pub struct OpaqueQueue {
    by_arrival: BTreeMap<u64, (Hash, Arc<Vec<u8>>)>,
    arrival_of: BTreeMap<Hash, u64>,
    next_arrival: u64,
    bytes: usize,
}

impl OpaqueQueue {
    /// Adds `bytes` under `hash`; false if it is already queued.
    pub fn insert(&mut self, hash: Hash, bytes: Vec<u8>) -> bool {
        if self.arrival_of.contains_key(&hash) {
            return false;
        }
        self.bytes += bytes.len();
        self.arrival_of.insert(hash, self.next_arrival);
        self.by_arrival.insert(self.next_arrival, (hash, Arc::new(bytes)));
        self.next_arrival += 1;
        true
    }

    /// The oldest entries not in `in_flight`, within the limits.
    pub fn select(&self, txs_max: usize, bytes_max: usize, in_flight: &BTreeSet<Hash>) -> Vec<Arc<Vec<u8>>> {
        let mut chosen = Vec::new();
        let mut bytes = 0;
        for (hash, tx) in self.by_arrival.values() {
            if chosen.len() >= txs_max || bytes + tx.len() > bytes_max {
                break;
            }
            if !in_flight.contains(hash) {
                bytes += tx.len();
                chosen.push(tx.clone());
            }
        }
        chosen
    }

    /// Drops committed entries.
    pub fn remove(&mut self, hashes: &[Hash]) {
        for hash in hashes {
            if let Some(arrival) = self.arrival_of.remove(hash) {
                if let Some((_, tx)) = self.by_arrival.remove(&arrival) {
                    self.bytes -= tx.len();
                }
            }
        }
    }

    /// Whether `hash` is queued.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.arrival_of.contains_key(hash)
    }

    /// Entries and bytes queued.
    pub fn size(&self) -> (usize, usize) {
        (self.by_arrival.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_dedupe_skip_in_flight_and_remove() {
        let mut queue = OpaqueQueue::default();
        let hash = |i: u8| Hash::sha256(&[i]);
        for i in 0..4u8 {
            assert!(queue.insert(hash(i), vec![i; 10]));
        }
        assert!(!queue.insert(hash(1), vec![1; 10]), "a duplicate is not queued twice");
        assert_eq!(queue.size(), (4, 40));
        let in_flight = BTreeSet::from([hash(0)]);
        let chosen = queue.select(2, 1000, &in_flight);
        assert_eq!(chosen.iter().map(|t| t[0]).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(queue.select(10, 25, &BTreeSet::new()).len(), 2, "the byte limit holds");
        queue.remove(&[hash(0), hash(2)]);
        assert_eq!(queue.size(), (2, 20));
        assert!(!queue.contains(&hash(2)) && queue.contains(&hash(3)));
    }
}
