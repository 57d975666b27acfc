//! [`KvStore`] on RocksDB: one column family per ledger [`Column`], every batch one synced
//! RocksDB `WriteBatch`, so a crash or `kill -9` leaves each batch wholly applied or not at all.

use std::path::Path;

use keel_ledger::{Column, KvStore, StoreError, WriteBatch, WriteOp};
use rocksdb::{ColumnFamily, Direction, IteratorMode, Options, ReadOptions, WriteOptions, DB};

/// A RocksDB database with the ledger's column families.
pub struct RocksStore {
    db: DB,
}

impl RocksStore {
    /// Opens (creating if absent) the database at `path`. RocksDB takes a lock on the directory,
    /// so a second process opening the same database fails here instead of corrupting it.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Keys are big-endian heights and hashes; point lookups dominate.
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.set_max_open_files(512);
        let names = Column::ALL.iter().map(|c| c.name());
        let db = DB::open_cf(&options, path, names).map_err(io)?;
        Ok(RocksStore { db })
    }

    fn cf(&self, column: Column) -> &ColumnFamily {
        self.db.cf_handle(column.name()).expect("every column family is created at open")
    }
}

fn io(error: rocksdb::Error) -> StoreError {
    StoreError::Io { reason: error.into_string() }
}

impl KvStore for RocksStore {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(column), key).map_err(io)
    }

    fn get_at_or_before(&self, column: Column, key: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        let mut iterator = self.db.iterator_cf(self.cf(column), IteratorMode::From(key, Direction::Reverse));
        match iterator.next() {
            None => Ok(None),
            Some(Err(error)) => Err(io(error)),
            Some(Ok((k, v))) => Ok(Some((k.into_vec(), v.into_vec()))),
        }
    }

    fn scan(
        &self,
        column: Column,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(end.to_vec());
        let iterator = self.db.iterator_cf_opt(self.cf(column), read, IteratorMode::From(start, Direction::Forward));
        let mut entries = Vec::new();
        for entry in iterator.take(limit) {
            let (k, v) = entry.map_err(io)?;
            entries.push((k.into_vec(), v.into_vec()));
        }
        Ok(entries)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut rocks_batch = rocksdb::WriteBatch::default();
        for op in batch.into_ops() {
            match op {
                WriteOp::Put { column, key, value } => rocks_batch.put_cf(self.cf(column), key, value),
                WriteOp::Delete { column, key } => rocks_batch.delete_cf(self.cf(column), key),
            }
        }
        let mut options = WriteOptions::default();
        // The batch is durable before write returns: callers announce what it holds right after.
        options.set_sync(true);
        self.db.write_opt(rocks_batch, &options).map_err(io)
    }
}
