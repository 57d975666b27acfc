//! Opening the RocksDB instance with every column family the node uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_ledger::Column;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, CompactOptions, DBCompressionType, Options,
    SliceTransform, DB,
};

/// The shared block cache.
const BLOCK_CACHE_BYTES: usize = 256 * 1024 * 1024;
/// Memtable size of the two tree columns (up to four each).
const TREE_MEMTABLE_BYTES: usize = 128 * 1024 * 1024;
/// Memtable size of the transaction index (random keys: see [`Database::open`]).
const TX_INDEX_MEMTABLE_BYTES: usize = 8 * 1024 * 1024;
/// All memtables of the database together.
const MEMTABLES_BYTES_MAX: usize = 768 * 1024 * 1024;
/// `ledger_tree_values` keys are `key hash (32) ‖ version (8)`; reads stay within one key hash.
pub(super) const TREE_VALUE_PREFIX_BYTES: usize = 32;
use thiserror::Error;

/// Column families of the consensus driver (the ledger's are [`Column::ALL`]).
pub(super) mod consensus_columns {
    /// `"safety"` → borsh(SafetyState); `"high_qc"`, `"high_tc"`, `"root"`, `"root_qc"`.
    pub const META: &str = "consensus_meta";
    /// Uncommitted blocks: block id (32) → borsh(Block).
    pub const PENDING: &str = "consensus_pending_blocks";
    /// Committed blocks: height (8, BE) → borsh(CommittedRecord).
    pub const COMMITTED: &str = "consensus_committed_blocks";
    /// Committed block ids: block id (32) → height (8, BE).
    pub const COMMITTED_IDS: &str = "consensus_committed_ids";

    /// All of them.
    pub const ALL: [&str; 4] = [META, PENDING, COMMITTED, COMMITTED_IDS];
}

/// Ledger certificates: height (8, BE) → borsh(LedgerCertificate).
pub(super) const CERTIFICATES: &str = "ledger_certificates";

/// Why the database failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// Another process (a second `keel start` on this home) holds the database.
    #[error("the database {path} is in use by another keel process (RocksDB lock held): {detail}")]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's message.
        detail: String,
    },
    /// RocksDB reported an error.
    #[error("database error: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// Stored bytes did not decode: the database is damaged or from another version.
    #[error("database is corrupt: {what}: {reason}")]
    Corrupt {
        /// What was being read.
        what: String,
        /// Why it did not decode.
        reason: String,
    },
}

/// The open database, shared by the ledger and the consensus driver.
pub struct Database {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("path", &self.path).finish()
    }
}

impl Database {
    /// Opens (creating if absent) the database at `path` with every column family.
    pub fn open(path: &Path) -> Result<Arc<Database>, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Both cores may flush and compact; the consensus thread must not wait on compaction.
        options.increase_parallelism(2);
        // All memtables together stay within this; a column over its share flushes early.
        options.set_db_write_buffer_size(MEMTABLES_BYTES_MAX);
        // The ledger writes its batches without RocksDB's log (see `RocksKv::write_behind`), so
        // what survives a crash is what was flushed. Flushing every column family at once keeps
        // that a whole number of blocks: were the transaction index to flush alone, a reopened
        // store could hold a block's index entries but not its tree. (Logged writes, the
        // consensus store's, are unaffected: the log replays them.)
        options.set_atomic_flush(true);
        // Flushed and compacted files are written around the page cache where the file system
        // allows it: a million accounts with 1,000-transfer blocks flush about 2.5 MB of nodes a
        // block, and the kernel copying them into the page cache was a tenth of all CPU samples
        // (with signatures checked, 33,000-39,000 -> 36,600-40,400 tx/s in four A/B pairs).
        // Reads still go through the page cache and RocksDB's block cache.
        options.set_use_direct_io_for_flush_and_compaction(direct_writes_supported(path));
        // One block cache for every column family; bloom filters so that point reads of absent
        // keys (most tree-node and index lookups) rarely touch a data block.
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let family = |name: &str| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            let mut family = Options::default();
            if name == Column::TreeValues.name() {
                // Versioned values are read as "newest entry of this key hash at or before a
                // version": a 32-byte prefix lets the iterator skip other keys' entries.
                family.set_prefix_extractor(SliceTransform::create_fixed_prefix(TREE_VALUE_PREFIX_BYTES));
                family.set_memtable_prefix_bloom_ratio(0.1);
                table.set_whole_key_filtering(false);
            }
            family.set_block_based_table_factory(&table);
            // Up to four memtables in every column family, not only the tree's: an atomic flush
            // switches every family's memtable at once, so a second flush while one runs (the
            // tree's 128 MiB take about a second to flush, which a million accounts' blocks
            // fill again) left the small families, with the default two, a memtable too many,
            // and RocksDB stopped writes until the first flush ended: 150-600 ms of a block's
            // write, a few times in 300 blocks (seen waiting in `DBImpl::DelayWrite`).
            family.set_max_write_buffer_number(4);
            if name == Column::TreeNodes.name() || name == Column::TreeValues.name() {
                // Each block writes megabytes of nodes and values: with the default two 64 MiB
                // memtables, writes stalled behind flushes every few blocks (a 10k-transfer
                // block's write took 435 ms after six blocks instead of 285 ms).
                family.set_write_buffer_size(TREE_MEMTABLE_BYTES);
                // Nodes are mostly hashes, which do not compress: snappy spent a third of each
                // flush finding that out.
                family.set_compression_type(DBCompressionType::None);
            }
            if name == Column::TxIndex.name() {
                // Keys are transaction hashes: each block inserts 10,000 random keys. In a 64 MiB
                // memtable (a million entries) each insert missed the cache at every level of the
                // skip list: about 85 ms a block. Small memtables stay in the CPU cache (over 60
                // blocks, a 10k-transfer block took 134 ms with 8 MiB against 162 ms with 64 MiB;
                // a hash memtable inserted fast but its flush sorted the million entries).
                family.set_write_buffer_size(TX_INDEX_MEMTABLE_BYTES);
            }
            ColumnFamilyDescriptor::new(name, family)
        };
        let names = Column::ALL.iter().map(|c| c.name()).chain(consensus_columns::ALL).chain([CERTIFICATES]);
        let descriptors: Vec<ColumnFamilyDescriptor> = names.map(family).collect();
        let db = DB::open_cf_descriptors(&options, path, descriptors).map_err(|error| {
            let detail = error.to_string();
            if detail.contains("lock") || detail.contains("LOCK") {
                StorageError::Locked { path: path.to_owned(), detail }
            } else {
                StorageError::Rocks(error)
            }
        })?;
        Ok(Arc::new(Database { db, path: path.to_owned() }))
    }

    /// Flushes every column family's memtables to disk, together, and waits for it: what the
    /// ledger has written without RocksDB's log is then on disk.
    ///
    /// Flushing column families one by one is not what unlogged ledger batches need; a manual
    /// compaction with `atomic_flush` on first flushes every column family atomically
    /// (`DBImpl::CompactRange`), so that is what this asks for, on the few keys of `ledger_meta`.
    /// The rocks_kv crash tests check the effect on the linked library: a child killed after it
    /// returns reopens with every column at the same batch.
    pub(super) fn persist_memtables(&self) {
        let meta = self.column(Column::Meta.name());
        let mut options = CompactOptions::default();
        // Not exclusive: an exclusive manual compaction first waits for the automatic ones
        // running, which may take seconds on the tree columns.
        options.set_exclusive_manual_compaction(false);
        self.db.compact_range_cf_opt(meta, None::<&[u8]>, None::<&[u8]>, &options);
    }

    /// The RocksDB handle.
    pub(super) fn db(&self) -> &DB {
        &self.db
    }

    /// A column family opened in [`Database::open`].
    pub(super) fn column(&self, name: &str) -> &ColumnFamily {
        self.db.cf_handle(name).expect("every column family is created on open")
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether files in the directory `path` (created if absent) can be opened for direct I/O: ext4
/// and xfs allow it, tmpfs does not, and RocksDB would fail its first flush there.
fn direct_writes_supported(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::create_dir_all(path).is_err() {
        // RocksDB's open reports the directory's problem.
        return false;
    }
    let probe = path.join("DIRECT_IO_PROBE");
    let opened =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).custom_flags(libc::O_DIRECT).open(&probe);
    let _ = std::fs::remove_file(&probe);
    opened.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_io_probe_leaves_nothing_behind_and_a_database_flushes_either_way() {
        let dir = tempfile::tempdir().unwrap();
        direct_writes_supported(dir.path());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the probe file is removed");
        let path = dir.path().join("db");
        let database = Database::open(&path).unwrap();
        let meta = database.column(Column::Meta.name());
        database.db().put_cf(meta, b"k", b"v").unwrap();
        database.persist_memtables();
        let tables =
            std::fs::read_dir(&path).unwrap().flatten().filter(|f| f.path().extension() == Some("sst".as_ref()));
        assert!(tables.count() > 0, "the flush wrote a table file");
        // A failed flush would have stopped writes.
        database.db().put_cf(meta, b"k2", b"v2").unwrap();
        drop(database);
        let reopened = Database::open(&path).unwrap();
        let meta = reopened.column(Column::Meta.name());
        assert_eq!(reopened.db().get_cf(meta, b"k").unwrap(), Some(b"v".to_vec()));
    }
}
