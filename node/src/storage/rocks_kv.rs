//! The ledger's [`KvStore`] on RocksDB: one column family per [`Column`], one synced
//! `WriteBatch` per [`KvStore::write`] (the ledger writes one per block, so a crash leaves
//! whole blocks only).

use std::sync::Arc;

use keel_ledger::{Column, Entry, KvStore, StoreError, WriteBatch, WriteOp};
use rocksdb::{ReadOptions, WriteOptions};

use super::database::Database;

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
        let mut iterator = self.database.db().raw_iterator_cf(cf);
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
        for op in batch.into_ops() {
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
