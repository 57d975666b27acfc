//! The in-memory [`KvStore`] for simulations and tests: one `BTreeMap` per column.
//!
//! It can be told to drop the next batches ([`MemKv::drop_next_writes`]), which models a crash
//! that happens before a batch became durable: the write reports an I/O error and nothing of it
//! is applied, exactly what a crashed RocksDB write leaves behind.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::RwLock;

use crate::kv::{Column, Entry, KvStore, RangeDelete, StoreError, WriteBatch, WriteOp};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory store. Cloning copies the contents.
#[derive(Debug, Default)]
pub struct MemKv {
    columns: RwLock<[Map; Column::ALL.len()]>,
    writes_to_drop: AtomicU32,
}

impl MemKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `count` writes fail with [`StoreError::Io`] and apply nothing.
    pub fn drop_next_writes(&self, count: u32) {
        self.writes_to_drop.store(count, Ordering::SeqCst);
    }

    /// A copy of every column's contents, for comparing stores byte for byte.
    pub fn dump(&self) -> Vec<Map> {
        self.read().iter().cloned().collect()
    }

    /// Number of entries in `column`.
    pub fn len(&self, column: Column) -> usize {
        self.read()[column.index()].len()
    }

    /// Whether every column is empty.
    pub fn is_empty(&self) -> bool {
        self.read().iter().all(Map::is_empty)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, [Map; Column::ALL.len()]> {
        self.columns.read().expect("a MemKv lock is never poisoned: no code panics while holding it")
    }
}

impl Clone for MemKv {
    fn clone(&self) -> Self {
        let columns = self.read().clone();
        MemKv { columns: RwLock::new(columns), writes_to_drop: AtomicU32::new(0) }
    }
}

impl KvStore for MemKv {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()[column.index()].get(key).cloned())
    }

    fn get_at_or_before(&self, column: Column, key: &[u8]) -> Result<Option<Entry>, StoreError> {
        let columns = self.read();
        let found = columns[column.index()].range::<[u8], _>((Bound::Unbounded, Bound::Included(key))).next_back();
        Ok(found.map(|(k, v)| (k.clone(), v.clone())))
    }

    fn scan(&self, column: Column, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let columns = self.read();
        let range = columns[column.index()].range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
        Ok(range.take(limit).map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let dropped =
            self.writes_to_drop.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if dropped {
            return Err(StoreError::Io { reason: "injected fault: batch dropped before it was durable".into() });
        }
        let mut columns = self.columns.write().expect("a MemKv lock is never poisoned");
        let (range_deletes, ops) = batch.into_parts();
        for RangeDelete { column, start, end } in range_deletes {
            let map = &mut columns[column.index()];
            let covered: Vec<Vec<u8>> = map.range(start..end).map(|(key, _)| key.clone()).collect();
            for key in covered {
                map.remove(&key);
            }
        }
        for op in ops {
            match op {
                WriteOp::Put { column, key, value } => {
                    columns[column.index()].insert(Vec::from(key), Vec::from(value));
                }
                WriteOp::Delete { column, key } => {
                    columns[column.index()].remove(&key[..]);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_follow_the_contract() {
        let kv = MemKv::new();
        let mut batch = WriteBatch::new();
        for k in [1u8, 3, 5] {
            batch.put(Column::Meta, vec![k], vec![k * 10]);
        }
        batch.delete(Column::Meta, vec![5]);
        kv.write(batch).unwrap();
        assert_eq!(kv.get(Column::Meta, &[3]).unwrap(), Some(vec![30]));
        assert_eq!(kv.get(Column::Heights, &[3]).unwrap(), None, "columns are separate");
        assert_eq!(kv.get_at_or_before(Column::Meta, &[2]).unwrap(), Some((vec![1], vec![10])));
        assert_eq!(kv.get_at_or_before(Column::Meta, &[0]).unwrap(), None);
        assert_eq!(kv.scan(Column::Meta, &[0], &[9], 10).unwrap().len(), 2);
        assert_eq!(kv.scan(Column::Meta, &[0], &[9], 1).unwrap(), vec![(vec![1], vec![10])]);
        assert_eq!(kv.scan(Column::Meta, &[3], &[3], 10).unwrap(), vec![]);
    }

    #[test]
    fn a_range_delete_removes_its_range_only_and_goes_before_the_puts_of_its_batch() {
        let kv = MemKv::new();
        let mut batch = WriteBatch::new();
        for k in 1u8..=6 {
            batch.put(Column::Meta, vec![k], vec![k]);
            batch.put(Column::Heights, vec![k], vec![k]);
        }
        kv.write(batch).unwrap();
        let mut batch = WriteBatch::new();
        batch.put(Column::Meta, vec![3], vec![30]);
        batch.delete_range(Column::Meta, vec![2], vec![5]);
        kv.write(batch).unwrap();
        let keys: Vec<u8> = kv.scan(Column::Meta, &[0], &[9], 10).unwrap().iter().map(|(k, _)| k[0]).collect();
        assert_eq!(keys, vec![1, 3, 5, 6], "2 and 4 removed, 5 (the end) kept, 3 put after the range delete");
        assert_eq!(kv.get(Column::Meta, &[3]).unwrap(), Some(vec![30]));
        assert_eq!(kv.len(Column::Heights), 6, "other columns untouched");
    }

    #[test]
    fn a_dropped_write_applies_nothing() {
        let kv = MemKv::new();
        kv.drop_next_writes(1);
        let mut batch = WriteBatch::new();
        batch.put(Column::Meta, vec![1], vec![1]);
        assert!(kv.write(batch.clone()).is_err());
        assert!(kv.is_empty());
        kv.write(batch).unwrap();
        assert_eq!(kv.len(Column::Meta), 1);
    }
}
