//! The transaction index — transaction hash → where it took effect — written to the store in
//! runs of many blocks rather than block by block.
//!
//! Why runs: the index's keys are transaction hashes, random by design, so each block's entries
//! land all over the store's sorted structure. In RocksDB that is a memtable insert that misses
//! the CPU cache at most levels of the skip list: 1,000 such inserts were most of the ledger
//! writer's time for a 1,000-transfer block (about 6 ms of its 8–10). Tens of thousands of keys
//! inserted together, in key order (the node's store sorts each batch), land next to one another,
//! and the memtable remembers where the last insert went.
//!
//! Nothing is lost by waiting: a block's receipts, written in the block's own batch, name each of
//! its transactions in block order, and the index is a function of them (every receipt that is
//! not `Rejected`: a rejected transaction did not take effect, and its hash may take effect
//! later). The ledger keeps the entries of the blocks after the last run in memory and answers
//! from them first; a run is written in the batch of the block that brings the unwritten entries
//! to [`crate::LedgerConfig::tx_index_run_entries`] (or the unwritten blocks to
//! [`RUN_BLOCKS_MAX`]), together with the height it covers (`tx_indexed_through` in `Meta`). On
//! open, the entries of the blocks after that height are read back from their receipts. A store
//! written before runs existed has no such record: it indexed every block, so it is indexed
//! through its last block.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::{BufMut, BytesMut};
use keel_crypto::Hash;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{corrupt, LedgerError};
use crate::height::Height;
use crate::kv::{Column, KvStore, WriteBatch};
use crate::receipt::{stored_receipts, Receipt, TxStatus};

/// `Meta` key of the height through which the stored index is complete (8 bytes, BE).
const META_TX_INDEXED_THROUGH: &[u8] = b"tx_indexed_through";

/// Most blocks whose entries wait in memory, whatever their count: bounds how many blocks' receipts
/// an open reads back on a lightly loaded chain.
pub const RUN_BLOCKS_MAX: u64 = 1024;

/// Where a transaction that took effect is: its block height and position in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxLocation {
    /// The block height.
    pub height: Height,
    /// The position in the block.
    pub index: u32,
}

/// Bytes of an index entry: the transaction hash, then the borsh of its [`TxLocation`].
const ENTRY_BYTES: usize = 32 + 8 + 4;

/// The index's entries not yet in the store, and where the stored part ends.
#[derive(Debug)]
pub(crate) struct TxIndex {
    /// Every block up to this height has its entries in the store.
    indexed_through: Height,
    /// The entries of the blocks after `indexed_through`, in block order ...
    unwritten: Vec<(Hash, TxLocation)>,
    /// ... and by hash, to answer lookups.
    unwritten_by_hash: FxHashMap<Hash, TxLocation>,
    /// Unwritten entries that make a block write a run.
    run_entries: usize,
}

/// What a block's commit does to the index, decided before its batch is written
/// ([`TxIndex::add_block`]) and applied once it is ([`TxIndex::committed`]).
#[derive(Debug)]
pub(crate) enum IndexStep {
    /// The block's entries wait in memory.
    Held(Vec<(Hash, TxLocation)>),
    /// The batch holds a run: every unwritten entry, the block's included.
    Written(Height),
}

/// The index entries of the block at `height` with `receipts`, in block order.
fn block_entries(height: Height, receipts: &[Receipt]) -> impl Iterator<Item = (Hash, TxLocation)> + '_ {
    (0u32..)
        .zip(receipts)
        .filter(|(_, receipt)| receipt.status != TxStatus::Rejected)
        .map(move |(index, receipt)| (receipt.tx_hash, TxLocation { height, index }))
}

impl TxIndex {
    /// The index of a store whose last committed block is `last`: where its stored part ends,
    /// and the entries of the blocks after it read back from their receipts.
    pub(crate) fn open<K: KvStore>(kv: &K, last: Height, run_entries: usize) -> Result<Self, LedgerError> {
        let indexed_through = match kv.get(Column::Meta, META_TX_INDEXED_THROUGH)? {
            None => last,
            Some(bytes) => {
                let bytes: [u8; 8] =
                    bytes.try_into().map_err(|_| corrupt(Column::Meta, "tx_indexed_through is not 8 bytes"))?;
                Height(u64::from_be_bytes(bytes))
            }
        };
        if indexed_through > last {
            return Err(corrupt(
                Column::Meta,
                format!("the transaction index is complete through {indexed_through}, after the last block {last}"),
            ));
        }
        let mut unwritten = Vec::new();
        for height in indexed_through.0 + 1..=last.0 {
            let height = Height(height);
            let Some(receipts) = stored_receipts(kv, height)? else {
                return Err(corrupt(Column::Receipts, format!("no receipts for committed block {height}")));
            };
            unwritten.extend(block_entries(height, &receipts));
        }
        let unwritten_by_hash = unwritten.iter().copied().collect();
        Ok(TxIndex { indexed_through, unwritten, unwritten_by_hash, run_entries: run_entries.max(1) })
    }

    /// Puts the record of an empty index complete through genesis into `batch`.
    pub(crate) fn put_genesis(batch: &mut WriteBatch) {
        batch.put(Column::Meta, META_TX_INDEXED_THROUGH.to_vec(), Height::GENESIS.to_be_bytes().to_vec());
    }

    /// Adds the block at `height` with `receipts` to `batch`: its entries wait in memory, or, when
    /// the unwritten entries reach a run, every unwritten entry goes into the batch.
    pub(crate) fn add_block(&self, height: Height, receipts: &[Receipt], batch: &mut WriteBatch) -> IndexStep {
        let entries: Vec<(Hash, TxLocation)> = block_entries(height, receipts).collect();
        let blocks_unwritten = height.0.saturating_sub(self.indexed_through.0);
        if self.unwritten.len() + entries.len() < self.run_entries && blocks_unwritten < RUN_BLOCKS_MAX {
            return IndexStep::Held(entries);
        }
        // In block order, not sorted here: the node's RocksDB store sorts every batch on its
        // writer thread before inserting it, off the thread that executes blocks.
        // A run is tens of thousands of entries: their keys and values are slices of one buffer
        // (two allocations each were a spike on the executing thread, and on the store's writer
        // that frees them).
        let mut arena = BytesMut::with_capacity(ENTRY_BYTES * (self.unwritten.len() + entries.len()));
        for (hash, location) in self.unwritten.iter().chain(&entries) {
            arena.extend_from_slice(hash.as_bytes());
            let key = arena.split().freeze();
            BorshSerialize::serialize(location, &mut (&mut arena).writer()).expect("borsh into a buffer cannot fail");
            debug_assert_eq!(key.len() + arena.len(), ENTRY_BYTES);
            batch.put(Column::TxIndex, key, arena.split().freeze());
        }
        batch.put(Column::Meta, META_TX_INDEXED_THROUGH.to_vec(), height.to_be_bytes().to_vec());
        IndexStep::Written(height)
    }

    /// The block's batch is in the store: takes `step` into account.
    pub(crate) fn committed(&mut self, step: IndexStep) {
        match step {
            IndexStep::Held(entries) => {
                self.unwritten_by_hash.extend(entries.iter().copied());
                self.unwritten.extend(entries);
            }
            IndexStep::Written(height) => {
                self.unwritten.clear();
                self.unwritten_by_hash.clear();
                self.indexed_through = height;
            }
        }
    }

    /// Where the transaction with `hash` took effect, if it did.
    pub(crate) fn get<K: KvStore>(&self, kv: &K, hash: &Hash) -> Result<Option<TxLocation>, LedgerError> {
        if let Some(location) = self.unwritten_by_hash.get(hash) {
            return Ok(Some(*location));
        }
        let Some(bytes) = kv.get(Column::TxIndex, hash.as_bytes())? else {
            return Ok(None);
        };
        TxLocation::try_from_slice(&bytes).map(Some).map_err(|e| corrupt(Column::TxIndex, e.to_string()))
    }
}
