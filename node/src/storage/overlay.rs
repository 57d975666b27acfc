//! A batch that is being written, readable before it is: its operations sorted by column and key,
//! and the rules for reading "this batch over the store" that [`super::RocksKv`]'s write-behind
//! mode follows while the batch is in flight.
//!
//! Every read answers as the store will once the batch is in it: a key the batch puts has the
//! batch's value, a key it deletes (alone or in a range) is absent, any other key is the store's.

use std::sync::{Mutex, OnceLock};

use keel_ledger::{Column, Entry, RangeDelete, WriteBatch, WriteOp};

/// A batch's operations, sorted by (column, key), the last operation on each key kept (a later
/// operation on a key wins, as in the batch). Sorted on first use: by the writer thread as it
/// starts, so that the thread handing the batch over does not wait for it (a reader that comes
/// first sorts, and the writer then finds it done).
#[derive(Debug)]
pub(super) struct Overlay {
    unsorted: Mutex<Vec<WriteOp>>,
    sorted: OnceLock<Vec<WriteOp>>,
    /// Applied before the operations (see [`WriteBatch`]).
    range_deletes: Vec<RangeDelete>,
}

/// What the overlay says about a key.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Overlaid<'a> {
    /// The batch puts this value.
    Put(&'a [u8]),
    /// The batch deletes the key (alone or in a range).
    Deleted,
    /// The batch does not touch it: the store answers.
    Untouched,
}

impl Overlay {
    /// The overlay of a batch.
    pub(super) fn new(batch: WriteBatch) -> Overlay {
        let (range_deletes, ops) = batch.into_parts();
        Overlay { unsorted: Mutex::new(ops), sorted: OnceLock::new(), range_deletes }
    }

    /// The batch's range deletes (which go before its operations).
    pub(super) fn range_deletes(&self) -> &[RangeDelete] {
        &self.range_deletes
    }

    /// The operations, sorted by (column, key), one per key.
    pub(super) fn ops(&self) -> &[WriteOp] {
        self.sorted.get_or_init(|| {
            let mut ops = std::mem::take(&mut *self.unsorted.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            // Stable, so that equal keys keep batch order; then each run of equal keys keeps its
            // last.
            ops.sort_by(|a, b| (a.column(), a.key()).cmp(&(b.column(), b.key())));
            ops.dedup_by(|later, earlier| {
                let same = later.column() == earlier.column() && later.key() == earlier.key();
                if same {
                    std::mem::swap(later, earlier);
                }
                same
            });
            ops
        })
    }

    /// The operations of `column` with `start <= key < end`, in key order.
    fn range(&self, column: Column, start: &[u8], end: &[u8]) -> &[WriteOp] {
        let from = self.ops().partition_point(|op| (op.column(), op.key()) < (column, start));
        let to = self.ops().partition_point(|op| (op.column(), op.key()) < (column, end));
        &self.ops()[from..to.max(from)]
    }

    /// What the batch does to `key`.
    pub(super) fn get(&self, column: Column, key: &[u8]) -> Overlaid<'_> {
        match self.ops().binary_search_by(|op| (op.column(), op.key()).cmp(&(column, key))) {
            Ok(index) => match &self.ops()[index] {
                WriteOp::Put { value, .. } => Overlaid::Put(value),
                WriteOp::Delete { .. } => Overlaid::Deleted,
            },
            Err(_) if self.range_deletes.iter().any(|range| range.covers(column, key)) => Overlaid::Deleted,
            Err(_) => Overlaid::Untouched,
        }
    }

    /// The entry with the greatest key `<= key` that the batch puts.
    fn put_at_or_before(&self, column: Column, key: &[u8]) -> Option<Entry> {
        let end = self.ops().partition_point(|op| (op.column(), op.key()) <= (column, key));
        self.ops()[..end].iter().rev().take_while(|op| op.column() == column).find_map(|op| match op {
            WriteOp::Put { key, value, .. } => Some((key.to_vec(), value.to_vec())),
            WriteOp::Delete { .. } => None,
        })
    }

    /// `get_at_or_before` over the store: `store_at_or_before` must give the store's entry with
    /// the greatest key `<= key` among those for which its argument returns false (keys the
    /// batch touches are skipped; the batch's own entry for them is its put, if any).
    pub(super) fn at_or_before<E>(
        &self,
        column: Column,
        key: &[u8],
        store_at_or_before: impl FnOnce(&dyn Fn(&[u8]) -> bool) -> Result<Option<Entry>, E>,
    ) -> Result<Option<Entry>, E> {
        let touched = |stored: &[u8]| self.get(column, stored) != Overlaid::Untouched;
        let stored = store_at_or_before(&touched)?;
        let ours = self.put_at_or_before(column, key);
        Ok(match (stored, ours) {
            (Some(stored), Some(ours)) => Some(if stored.0 > ours.0 { stored } else { ours }),
            (stored, ours) => stored.or(ours),
        })
    }

    /// `scan` over the store: `store_scan(start, end, limit)` must give the store's first `limit`
    /// entries with `start <= key < end` (it is asked once for each part of the range that the
    /// batch's range deletes leave).
    pub(super) fn scan<E>(
        &self,
        column: Column,
        start: &[u8],
        end: &[u8],
        limit: usize,
        mut store_scan: impl FnMut(&[u8], &[u8], usize) -> Result<Vec<Entry>, E>,
    ) -> Result<Vec<Entry>, E> {
        let ours = self.range(column, start, end);
        let mut stored = Vec::new();
        for (from, to) in self.uncovered(column, start, end) {
            // Each of our operations hides at most one stored entry: this many more stored
            // entries leave at least `limit` visible ones, or all there are.
            stored.extend(store_scan(from, to, limit.saturating_add(ours.len()))?);
            if stored.len() >= limit.saturating_add(ours.len()) {
                break;
            }
        }
        let stored = stored.into_iter().filter(|(key, _)| self.get(column, key) == Overlaid::Untouched);
        let ours = ours.iter().filter_map(|op| match op {
            WriteOp::Put { key, value, .. } => Some((key.to_vec(), value.to_vec())),
            WriteOp::Delete { .. } => None,
        });
        let mut merged: Vec<Entry> = stored.chain(ours).collect();
        merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        merged.truncate(limit);
        Ok(merged)
    }

    /// The parts of `start..end` of `column` that no range delete of the batch covers, in order.
    fn uncovered<'a>(&'a self, column: Column, start: &'a [u8], end: &'a [u8]) -> Vec<(&'a [u8], &'a [u8])> {
        let mut ranges: Vec<&RangeDelete> = self.range_deletes.iter().filter(|range| range.column == column).collect();
        ranges.sort_by(|a, b| a.start.cmp(&b.start));
        let mut parts = Vec::new();
        let mut from = start;
        for range in ranges {
            if from >= end {
                break;
            }
            if range.end.as_slice() <= from {
                continue;
            }
            let to = range.start.as_slice().min(end);
            if from < to {
                parts.push((from, to));
            }
            from = from.max(range.end.as_slice());
        }
        if from < end {
            parts.push((from, end));
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use keel_ledger::WriteBatch;
    use proptest::prelude::*;

    use super::*;

    /// A column's contents as a sorted map.
    type Model = BTreeMap<Vec<u8>, Vec<u8>>;

    fn apply(model: &mut Model, batch: &WriteBatch) {
        for range in batch.range_deletes() {
            model.retain(|key, _| !range.covers(Column::Meta, key));
        }
        for op in batch.ops() {
            match op {
                WriteOp::Put { key, value, .. } => {
                    model.insert(key.to_vec(), value.to_vec());
                }
                WriteOp::Delete { key, .. } => {
                    model.remove(&key[..]);
                }
            }
        }
    }

    /// Keys of one or two bytes, so that prefixes and neighbours both occur.
    fn key_of(raw: u8) -> Vec<u8> {
        if raw % 3 == 0 {
            vec![raw / 16]
        } else {
            vec![raw / 16, raw % 16]
        }
    }

    /// A put, a delete or (for one raw operation in eight) a range delete to the next key
    /// `value` steps on.
    fn batch_of(raw: &[(bool, u8, u8)]) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for (put, key, value) in raw {
            match (put, value % 8) {
                (false, 0) => batch.delete_range(Column::Meta, key_of(*key), key_of(key.saturating_add(*value))),
                (true, _) => batch.put(Column::Meta, key_of(*key), vec![*value]),
                (false, _) => batch.delete(Column::Meta, key_of(*key)),
            }
        }
        batch
    }

    proptest! {
        /// Reads through the overlay over the old store answer exactly as the store with the
        /// batch applied.
        #[test]
        fn reads_answer_as_the_store_will(
            before in prop::collection::vec((any::<bool>(), any::<u8>(), any::<u8>()), 0..40),
            batch in prop::collection::vec((any::<bool>(), any::<u8>(), any::<u8>()), 0..40),
            probes in prop::collection::vec((any::<u8>(), any::<u8>(), 0usize..6), 1..20),
        ) {
            let mut store = Model::new();
            apply(&mut store, &batch_of(&before));
            let batch = batch_of(&batch);
            let mut after = store.clone();
            apply(&mut after, &batch);
            let overlay = Overlay::new(batch);
            for (a, b, limit) in probes {
                let (key, end) = (vec![a / 16, a % 16], vec![b / 16]);
                let got = overlay.get(Column::Meta, &key);
                let expected = after.get(&key).map(|v| &v[..]);
                match got {
                    Overlaid::Put(value) => prop_assert_eq!(Some(value), expected),
                    Overlaid::Deleted => prop_assert_eq!(None, expected),
                    Overlaid::Untouched => prop_assert_eq!(store.get(&key).map(|v| &v[..]), expected),
                }
                let at = overlay
                    .at_or_before::<()>(Column::Meta, &key, |skip| {
                        Ok(store.range(..=key.clone()).rev().find(|(k, _)| !skip(k)).map(|(k, v)| (k.clone(), v.clone())))
                    })
                    .unwrap();
                let expected = after.range(..=key.clone()).next_back().map(|(k, v)| (k.clone(), v.clone()));
                prop_assert_eq!(at, expected);
                let scanned = overlay
                    .scan::<()>(Column::Meta, &key, &end, limit, |from, to, n| {
                        Ok(store.range(from.to_vec()..).take_while(|(k, _)| k.as_slice() < to).take(n).map(|(k, v)| (k.clone(), v.clone())).collect())
                    })
                    .unwrap();
                let expected: Vec<Entry> = after
                    .range(key.clone()..)
                    .take_while(|(k, _)| **k < end)
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(scanned, expected);
            }
        }
    }

    #[test]
    fn the_last_operation_on_a_key_wins() {
        let mut batch = WriteBatch::new();
        batch.put(Column::Meta, b"k".to_vec(), b"1".to_vec());
        batch.delete(Column::Meta, b"k".to_vec());
        batch.put(Column::Meta, b"j".to_vec(), b"1".to_vec());
        batch.put(Column::Meta, b"j".to_vec(), b"2".to_vec());
        batch.put(Column::Heights, b"k".to_vec(), b"3".to_vec());
        let overlay = Overlay::new(batch);
        assert_eq!(overlay.get(Column::Meta, b"k"), Overlaid::Deleted);
        assert_eq!(overlay.get(Column::Meta, b"j"), Overlaid::Put(b"2"));
        assert_eq!(overlay.get(Column::Heights, b"k"), Overlaid::Put(b"3"));
        assert_eq!(overlay.get(Column::Heights, b"j"), Overlaid::Untouched);
        assert_eq!(overlay.ops().len(), 3);
    }
}
