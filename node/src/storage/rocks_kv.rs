//! The ledger's [`KvStore`] on RocksDB: one column family per [`Column`], one synced
//! `WriteBatch` per [`KvStore::write`] (the ledger writes one per block, so a crash leaves
//! whole blocks only). `get_at_or_before` on `ledger_tree_values` stays within the key's 32-byte
//! hash prefix (prefix bloom filters), which is the only answer the ledger accepts there.

use std::sync::Arc;

use keel_ledger::{Column, Entry, KvStore, StoreError, WriteBatch, WriteOp};
use rocksdb::{ReadOptions, WriteOptions};

use super::database::{Database, TREE_VALUE_PREFIX_BYTES};

/// The ledger's view of the node database.
#[derive(Debug, Clone)]
pub struct RocksKv {
    database: Arc<Database>,
}

impl RocksKv {
    /// The ledger columns of `database`.
    pub fn new(database: Arc<Database>) -> Self {
        RocksKv { database }
    }
}

fn backend(error: rocksdb::Error) -> StoreError {
    StoreError::Io { reason: error.to_string() }
}

impl KvStore for RocksKv {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.database.column(column.name());
        self.database.db().get_cf(cf, key).map_err(backend)
    }

    fn get_at_or_before(&self, column: Column, key: &[u8]) -> Result<Option<Entry>, StoreError> {
        let cf = self.database.column(column.name());
        let mut read_options = ReadOptions::default();
        if column == Column::TreeValues && key.len() >= TREE_VALUE_PREFIX_BYTES {
            // Only entries of the same key hash can answer (the ledger checks the prefix of what
            // it gets); the prefix bloom then lets RocksDB skip files without that key hash.
            read_options.set_prefix_same_as_start(true);
        }
        let mut iterator = self.database.db().raw_iterator_cf_opt(cf, read_options);
        iterator.seek_for_prev(key);
        let entry = match (iterator.key(), iterator.value()) {
            (Some(k), Some(v)) => Some((k.to_vec(), v.to_vec())),
            _ => None,
        };
        iterator.status().map_err(backend)?;
        Ok(entry)
    }

    fn scan(&self, column: Column, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        let cf = self.database.column(column.name());
        let mut read_options = ReadOptions::default();
        read_options.set_iterate_upper_bound(end.to_vec());
        let mut iterator = self.database.db().raw_iterator_cf_opt(cf, read_options);
        iterator.seek(start);
        let mut entries = Vec::new();
        while entries.len() < limit {
            match (iterator.key(), iterator.value()) {
                (Some(k), Some(v)) => entries.push((k.to_vec(), v.to_vec())),
                _ => break,
            }
            iterator.next();
        }
        iterator.status().map_err(backend)?;
        Ok(entries)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut rocks_batch = rocksdb::WriteBatch::default();
        let mut ops = batch.into_ops();
        // Each memtable is a skip list that remembers where its last insert went: keys inserted
        // in order land next to each other and skip the search from the top. A block's batch
        // mixes columns and orders (hashes, versions), so it is sorted by column and key first.
        // The sort is stable, so a later op on the same key still wins.
        ops.sort_by(|a, b| (a.column(), a.key()).cmp(&(b.column(), b.key())));
        for op in ops {
            match op {
                WriteOp::Put { column, key, value } => {
                    rocks_batch.put_cf(self.database.column(column.name()), key, value)
                }
                WriteOp::Delete { column, key } => rocks_batch.delete_cf(self.database.column(column.name()), key),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.database.db().write_opt(rocks_batch, &options).map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: u8, version: u64) -> Vec<u8> {
        let mut key = vec![hash; 32];
        key.extend_from_slice(&version.to_be_bytes());
        key
    }

    #[test]
    fn reads_follow_the_kv_contract_and_versioned_values_stay_within_their_key_hash() {
        let dir = tempfile::tempdir().unwrap();
        let kv = RocksKv::new(Database::open(&dir.path().join("db")).unwrap());
        let mut batch = WriteBatch::new();
        for (hash, version) in [(1, 1), (1, 5), (3, 2)] {
            batch.put(Column::TreeValues, key(hash, version), vec![hash, version as u8]);
        }
        batch.put(Column::Meta, b"b".to_vec(), b"2".to_vec());
        batch.put(Column::Meta, b"d".to_vec(), b"4".to_vec());
        kv.write(batch).unwrap();

        let at = |hash, version| kv.get_at_or_before(Column::TreeValues, &key(hash, version)).unwrap();
        assert_eq!(at(1, 4), Some((key(1, 1), vec![1, 1])));
        assert_eq!(at(1, 9), Some((key(1, 5), vec![1, 5])));
        assert_eq!(at(1, 0), None);
        assert_eq!(at(2, 9), None, "another key hash's entry is never the answer");
        assert_eq!(at(3, 2), Some((key(3, 2), vec![3, 2])));

        assert_eq!(kv.get(Column::Meta, b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(kv.get(Column::Meta, b"c").unwrap(), None);
        assert_eq!(kv.get_at_or_before(Column::Meta, b"c").unwrap(), Some((b"b".to_vec(), b"2".to_vec())));
        assert_eq!(kv.scan(Column::Meta, b"a", b"d", 10).unwrap(), vec![(b"b".to_vec(), b"2".to_vec())]);
        assert_eq!(kv.scan(Column::Meta, b"a", b"z", 1).unwrap().len(), 1);
        let mut delete = WriteBatch::new();
        delete.delete(Column::Meta, b"b".to_vec());
        kv.write(delete).unwrap();
        assert_eq!(kv.get(Column::Meta, b"b").unwrap(), None);
    }
}
