//! The storage the ledger runs on: a few ordered byte maps ("columns") with atomic batches.
//!
//! The contract is what RocksDB gives with one column family per [`Column`]:
//!
//! | method | RocksDB |
//! |---|---|
//! | [`KvStore::get`] | `get_cf` |
//! | [`KvStore::get_at_or_before`] | iterator `seek_for_prev` on the column family |
//! | [`KvStore::scan`] | iterator `seek(start)` with `iterate_upper_bound = end`, at most `limit` entries |
//! | [`KvStore::write`] | one `WriteBatch` holding every put, delete and range delete (`DeleteRange`) |
//!
//! Keys compare as unsigned bytes (RocksDB's default comparator). [`KvStore::write`] is atomic:
//! after a crash the store holds either every operation of a batch or none of them, and the
//! batches it holds are the first ones written: a store may lose the last few (the node's writes
//! them without a log, and re-executes the committed blocks a crash lost). The ledger writes
//! nothing outside batches, so it only ever sees whole blocks.

use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;

/// A named column (RocksDB column family). Names are part of the on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    /// Merkle tree nodes. [`crate::SmtCommitment`]: `version (8, BE) ‖ path length (1) ‖ packed
    /// nibbles` → node, leaf values and child versions inside (see `smt/node.rs`); [`crate::JmtCommitment`]:
    /// `version (8, BE) ‖ borsh(nibble path)` → `borsh(jmt Node)`. The store records which
    /// (`state_format`).
    TreeNodes,
    /// Versioned state values (jmt only; the SMT keeps values in its leaves): `key hash (32) ‖
    /// version (8, BE)` → `0x01 ‖ value` or `0x00` (deleted).
    TreeValues,
    /// Nodes replaced at a version. SMT: `version (8, BE)` → borsh list of node keys; jmt:
    /// `stale since (8, BE) ‖ node key` → empty.
    StaleNodes,
    /// Values replaced at a version (jmt only): `stale since (8, BE) ‖ key hash (32) ‖ old
    /// version (8, BE)` → empty.
    StaleValues,
    /// Receipts: `height (8, BE)` → `borsh(Vec<Receipt>)`, the block's receipts in block order.
    Receipts,
    /// Transactions that took effect: `tx hash (32)` → `borsh(TxLocation)`.
    TxIndex,
    /// One record per committed height: `height (8, BE)` → `borsh(HeightRecord)`.
    Heights,
    /// Singletons: `"last_committed"` → `borsh(HeightRecord)`, `"genesis_hash"` → 32 bytes.
    Meta,
    /// How many of the tree nodes each version wrote at each depth are still in the newest tree
    /// (SMT only): `version (8, BE) ‖ path length (1)` → `borsh(GroupNodes)` (live count, and the
    /// version that replaced the last one), so that pruning can delete such a group with one
    /// range delete once all its nodes were replaced.
    TreeVersions,
}

impl Column {
    /// Every column, in a fixed order.
    pub const ALL: [Column; 9] = [
        Column::TreeNodes,
        Column::TreeValues,
        Column::StaleNodes,
        Column::StaleValues,
        Column::Receipts,
        Column::TxIndex,
        Column::Heights,
        Column::Meta,
        Column::TreeVersions,
    ];

    /// The column family name.
    pub const fn name(self) -> &'static str {
        match self {
            Column::TreeNodes => "ledger_tree_nodes",
            Column::TreeValues => "ledger_tree_values",
            Column::StaleNodes => "ledger_stale_nodes",
            Column::StaleValues => "ledger_stale_values",
            Column::Receipts => "ledger_receipts",
            Column::TxIndex => "ledger_tx_index",
            Column::Heights => "ledger_heights",
            Column::Meta => "ledger_meta",
            Column::TreeVersions => "ledger_tree_versions",
        }
    }

    /// Position in [`Column::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put {
        /// The column.
        column: Column,
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// Remove `key` (no effect if absent).
    Delete {
        /// The column.
        column: Column,
        /// The key.
        key: Bytes,
    },
}

impl WriteOp {
    /// The column it writes.
    pub fn column(&self) -> Column {
        match self {
            WriteOp::Put { column, .. } | WriteOp::Delete { column, .. } => *column,
        }
    }

    /// The key it writes.
    pub fn key(&self) -> &[u8] {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// The removal of every key `start <= key < end` of a column (RocksDB's `DeleteRange`: one
/// entry however many keys it covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeDelete {
    /// The column.
    pub column: Column,
    /// The first key removed.
    pub start: Vec<u8>,
    /// The first key after the range (not removed).
    pub end: Vec<u8>,
}

impl RangeDelete {
    /// Whether the range covers `key` of `column`.
    pub fn covers(&self, column: Column, key: &[u8]) -> bool {
        self.column == column && self.start.as_slice() <= key && key < self.end.as_slice()
    }
}

/// Operations applied together or not at all. Puts and deletes apply in order (a later op on the
/// same key wins); range deletes apply before all of them, in whatever order they were added: a
/// batch never needs to write a key it deletes by range, and a store can then write the puts of
/// a batch in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
    range_deletes: Vec<RangeDelete>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, column: Column, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.ops.push(WriteOp::Put { column, key: key.into(), value: value.into() });
    }

    /// Adds a delete.
    pub fn delete(&mut self, column: Column, key: impl Into<Bytes>) {
        self.ops.push(WriteOp::Delete { column, key: key.into() });
    }

    /// Adds the deletion of every key `start <= key < end` of `column` (before the batch's other
    /// operations; see [`WriteBatch`]). Nothing if `start >= end`.
    pub fn delete_range(&mut self, column: Column, start: Vec<u8>, end: Vec<u8>) {
        if start < end {
            self.range_deletes.push(RangeDelete { column, start, end });
        }
    }

    /// Appends another batch's operations after this one's (and its range deletes to this
    /// one's).
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
        self.range_deletes.extend(other.range_deletes);
    }

    /// The puts and deletes, in order.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// The range deletes.
    pub fn range_deletes(&self) -> &[RangeDelete] {
        &self.range_deletes
    }

    /// Consumes the batch: its range deletes, and its puts and deletes in order.
    pub fn into_parts(self) -> (Vec<RangeDelete>, Vec<WriteOp>) {
        (self.range_deletes, self.ops)
    }

    /// Number of operations (a range delete counts one).
    pub fn len(&self) -> usize {
        self.ops.len() + self.range_deletes.len()
    }

    /// Whether there is no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.range_deletes.is_empty()
    }
}

/// A key and its value, as reads return them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The backend failed (disk, I/O). A failed write is fatal for the caller: it must stop and
    /// reopen, which finds the last whole block.
    #[error("storage I/O failed: {reason}")]
    Io {
        /// The backend's message.
        reason: String,
    },
    /// Stored bytes do not decode: the store is corrupt or from another format. Permanent.
    #[error("storage corrupt in {column}: {reason}")]
    Corrupt {
        /// The column family name.
        column: &'static str,
        /// What did not decode.
        reason: String,
    },
}

/// An ordered, column-partitioned byte store with atomic batches. See the module docs for the
/// contract and its RocksDB mapping.
pub trait KvStore: Send + Sync {
    /// The value at `key`.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entry with the greatest key `<= key`.
    fn get_at_or_before(&self, column: Column, key: &[u8]) -> Result<Option<Entry>, StoreError>;

    /// At most `limit` entries with `start <= key < end`, ascending.
    fn scan(&self, column: Column, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// Applies every operation of `batch`, or none of them.
    fn write(&self, batch: WriteBatch) -> Result<(), StoreError>;
}

impl<T: KvStore + ?Sized> KvStore for Arc<T> {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(column, key)
    }

    fn get_at_or_before(&self, column: Column, key: &[u8]) -> Result<Option<Entry>, StoreError> {
        (**self).get_at_or_before(column, key)
    }

    fn scan(&self, column: Column, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        (**self).scan(column, start, end, limit)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        (**self).write(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_distinct_and_indices_match() {
        let mut names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Column::ALL.len());
        for (i, column) in Column::ALL.iter().enumerate() {
            assert_eq!(column.index(), i);
        }
    }
}
