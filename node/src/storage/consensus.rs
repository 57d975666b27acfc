//! The consensus driver's storage: what `Core` asks to persist, and the committed chain.
//!
//! | action | written | durability |
//! |---|---|---|
//! | `PersistSafety` | `meta/"safety"` | synced before returning: the vote or timeout that follows depends on it |
//! | `PersistBlock` | `pending/<height ‖ id>` | not synced: losing it costs a refetch, never safety |
//! | `PersistQuorumCert` / `PersistTimeoutCert` | `meta/"high_qc"` / `"high_tc"` | not synced, same reason |
//! | `Commit` | `committed/<height>` and `committed_ids/<id>` per block, `meta/"root"`, `"root_qc"`; pending blocks at or below the root leave `pending` | one synced batch |
//!
//! RocksDB writes its log in order, so a synced write also makes every earlier unsynced one
//! durable: after a crash the store holds a prefix of what the driver wrote. The committed chain
//! is kept whole (it is what lagging peers and the ledger replay from); `pending` holds only
//! blocks above the last commit. An in-memory index of the pending keys (read once on open)
//! lets commits prune them with point deletes and lookups by id go straight to the key: no
//! scan of the column ever happens after open, so its tombstones cost nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use borsh::{BorshDeserialize, BorshSerialize};
use keel_consensus::{
    Block, BlockId, CommitProof, Height, QuorumCert, RecoveryData, SafetyState, SealedBlock, TimeoutCert,
};
use keel_crypto::Hash;
use rocksdb::{IteratorMode, WriteBatch, WriteOptions};

use super::database::{consensus_columns as columns, Database, StorageError};

const SAFETY: &[u8] = b"safety";
const HIGH_QC: &[u8] = b"high_qc";
const HIGH_TC: &[u8] = b"high_tc";
const ROOT: &[u8] = b"root";
const ROOT_QC: &[u8] = b"root_qc";

/// `height (8, BE) ‖ id (32)`: pending blocks sort by height, so pruning is one range delete.
fn pending_key(height: Height, id: &BlockId) -> Vec<u8> {
    let mut key = height.get().to_be_bytes().to_vec();
    key.extend_from_slice(id.0.as_bytes());
    key
}

fn parse_pending_key(key: &[u8]) -> Result<(Height, BlockId), StorageError> {
    if key.len() != 40 {
        return Err(corrupt("pending block key", format!("{} bytes, expected 40", key.len())));
    }
    let height = u64::from_be_bytes(key[..8].try_into().expect("eight bytes"));
    let id: [u8; 32] = key[8..].try_into().expect("32 bytes");
    Ok((Height(height), BlockId(Hash::from_bytes(id))))
}

/// A key and value as RocksDB returns them.
type RawEntry = (Box<[u8]>, Box<[u8]>);

/// Everything a peer needs to check, without trusting us, that a block committed: its QC, the
/// QC of its child from the next round, and that child (whose parent must be the block).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitEvidence {
    /// The two QCs.
    pub proof: CommitProof,
    /// The certified child.
    pub child: Block,
}

/// A committed block as stored, with the evidence of its commit when it was the last block of a
/// commit (and this node held the child).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommittedRecord {
    /// The block.
    pub block: Block,
    /// `Some` when this block ended a commit.
    pub commit: Option<CommitEvidence>,
}

/// A [`CommittedRecord`] by reference, with its block's id, as it is written.
struct CommittedEntry<'a> {
    id: BlockId,
    block: &'a Block,
    commit: Option<&'a CommitEvidence>,
}

impl CommittedEntry<'_> {
    /// The stored bytes: exactly `borsh(CommittedRecord { block, commit })` (fields in order),
    /// without copying the block into a record first.
    fn encode(&self) -> Vec<u8> {
        let mut bytes = encode(self.block);
        borsh::to_writer(&mut bytes, &self.commit).expect("borsh into a Vec cannot fail");
        bytes
    }
}

/// The consensus columns of the node database.
#[derive(Debug, Clone)]
pub struct ConsensusStore {
    database: Arc<Database>,
    /// The keys of `pending`: block id → height.
    pending: Arc<Mutex<BTreeMap<BlockId, Height>>>,
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt { what: what.to_owned(), reason: error.to_string() }
}

fn decode<T: BorshDeserialize>(what: &str, bytes: &[u8]) -> Result<T, StorageError> {
    borsh::from_slice(bytes).map_err(|e| corrupt(what, e))
}

fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail")
}

fn synced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

impl ConsensusStore {
    /// The consensus columns of `database`.
    pub fn open(database: Arc<Database>) -> Result<Self, StorageError> {
        let mut pending = BTreeMap::new();
        let mut iterator = database.db().raw_iterator_cf(database.column(columns::PENDING));
        iterator.seek_to_first();
        while let Some(key) = iterator.key() {
            let (height, id) = parse_pending_key(key)?;
            pending.insert(id, height);
            iterator.next();
        }
        iterator.status()?;
        drop(iterator);
        Ok(ConsensusStore { database, pending: Arc::new(Mutex::new(pending)) })
    }

    fn pending_index(&self) -> std::sync::MutexGuard<'_, BTreeMap<BlockId, Height>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn put(&self, column: &str, key: &[u8], value: Vec<u8>, sync: bool) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.database.column(column), key, value);
        let options = if sync { synced() } else { WriteOptions::default() };
        Ok(self.database.db().write_opt(batch, &options)?)
    }

    fn get(&self, column: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.database.db().get_cf(self.database.column(column), key)?)
    }

    /// `PersistSafety`: durable when this returns.
    pub fn save_safety(&self, safety: &SafetyState) -> Result<(), StorageError> {
        self.put(columns::META, SAFETY, encode(safety), true)
    }

    /// `PersistBlock`.
    pub fn save_block(&self, block: &SealedBlock) -> Result<(), StorageError> {
        let id = block.id();
        self.put(columns::PENDING, &pending_key(block.height, &id), encode::<Block>(block), false)?;
        self.pending_index().insert(id, block.height);
        Ok(())
    }

    /// `PersistQuorumCert`.
    pub fn save_high_qc(&self, qc: &QuorumCert) -> Result<(), StorageError> {
        self.put(columns::META, HIGH_QC, encode(qc), false)
    }

    /// `PersistTimeoutCert`.
    pub fn save_high_tc(&self, tc: &TimeoutCert) -> Result<(), StorageError> {
        self.put(columns::META, HIGH_TC, encode(tc), false)
    }

    /// `Commit { blocks, proof }`: the blocks join the committed chain and the last becomes the
    /// root, in one synced batch. Blocks must follow the stored root.
    pub fn save_commit(&self, blocks: &[SealedBlock], proof: &CommitProof) -> Result<(), StorageError> {
        let Some(last) = blocks.last() else { return Ok(()) };
        let child = self.get(columns::PENDING, &pending_key(proof.child_qc.height, &proof.child_qc.block_id))?;
        let child: Option<Block> = child.map(|bytes| decode("pending block", &bytes)).transpose()?;
        let commit =
            child.filter(|c| c.parent == last.id()).map(|child| CommitEvidence { proof: proof.clone(), child });
        let entries: Vec<CommittedEntry<'_>> = blocks
            .iter()
            .map(|block| CommittedEntry {
                id: block.id(),
                block,
                commit: if std::ptr::eq(block, last) { commit.as_ref() } else { None },
            })
            .collect();
        self.write_committed(&entries, &proof.block_qc)
    }

    /// Committed blocks learned from a peer (checked by the caller), the last becoming the root
    /// certified by `root_qc`; one synced batch.
    pub fn save_committed(&self, records: &[CommittedRecord], root_qc: &QuorumCert) -> Result<(), StorageError> {
        let entries: Vec<CommittedEntry<'_>> = records
            .iter()
            .map(|record| CommittedEntry {
                id: record.block.id(),
                block: &record.block,
                commit: record.commit.as_ref(),
            })
            .collect();
        self.write_committed(&entries, root_qc)
    }

    /// Writes committed blocks, the last becoming the root, in one synced batch. A block comes
    /// with the id its caller already knows: a commit's sealed blocks are not hashed again.
    fn write_committed(&self, entries: &[CommittedEntry<'_>], root_qc: &QuorumCert) -> Result<(), StorageError> {
        let Some(last) = entries.last().map(|entry| entry.block) else { return Ok(()) };
        let mut batch = WriteBatch::default();
        let committed = self.database.column(columns::COMMITTED);
        let committed_ids = self.database.column(columns::COMMITTED_IDS);
        let pending = self.database.column(columns::PENDING);
        for entry in entries {
            let height = entry.block.height.get().to_be_bytes();
            batch.put_cf(committed, height, entry.encode());
            batch.put_cf(committed_ids, entry.id.0.as_bytes(), height);
        }
        // Pending blocks at or below the new root are committed or on an abandoned fork.
        let mut index = self.pending_index();
        let pruned: Vec<(BlockId, Height)> =
            index.iter().filter(|(_, height)| **height <= last.height).map(|(id, height)| (*id, *height)).collect();
        for (id, height) in &pruned {
            batch.delete_cf(pending, pending_key(*height, id));
        }
        let meta = self.database.column(columns::META);
        batch.put_cf(meta, ROOT, encode(last));
        batch.put_cf(meta, ROOT_QC, encode(root_qc));
        self.database.db().write_opt(batch, &synced())?;
        for (id, _) in pruned {
            index.remove(&id);
        }
        Ok(())
    }

    fn pending_entries(&self) -> Result<Vec<RawEntry>, StorageError> {
        let cf = self.database.column(columns::PENDING);
        let mut entries = Vec::new();
        for entry in self.database.db().iterator_cf(cf, IteratorMode::Start) {
            entries.push(entry?);
        }
        Ok(entries)
    }

    /// What `Core::new` needs: the stored state, or `genesis` when nothing was stored.
    pub fn load_recovery(&self, genesis: RecoveryData) -> Result<RecoveryData, StorageError> {
        let safety = match self.get(columns::META, SAFETY)? {
            Some(bytes) => decode("safety state", &bytes)?,
            None => genesis.safety.clone(),
        };
        let (root, root_qc) = match (self.get(columns::META, ROOT)?, self.get(columns::META, ROOT_QC)?) {
            (Some(root), Some(qc)) => (decode("root block", &root)?, decode("root QC", &qc)?),
            _ => (genesis.root.clone(), genesis.root_qc),
        };
        let mut blocks = Vec::new();
        for (_, value) in self.pending_entries()? {
            blocks.push(decode::<Block>("pending block", &value)?);
        }
        let high_qc = self.get(columns::META, HIGH_QC)?.map(|b| decode("high QC", &b)).transpose()?;
        let high_tc = self.get(columns::META, HIGH_TC)?.map(|b| decode("high TC", &b)).transpose()?;
        Ok(RecoveryData { safety, root, root_qc, blocks, high_qc, high_tc })
    }

    /// The height of the last stored commit's root (0 before any commit).
    pub fn committed_root_height(&self) -> Result<u64, StorageError> {
        match self.get(columns::META, ROOT)? {
            Some(bytes) => Ok(decode::<Block>("root block", &bytes)?.height.get()),
            None => Ok(0),
        }
    }

    /// The committed block at `height`, with its proof if it ended a commit.
    pub fn committed(&self, height: Height) -> Result<Option<CommittedRecord>, StorageError> {
        self.get(columns::COMMITTED, &height.get().to_be_bytes())?
            .map(|bytes| decode("committed block", &bytes))
            .transpose()
    }

    /// Consecutive committed records from `from`, at most `count` of them and about `bytes_max`
    /// bytes (at least one if any is stored).
    pub fn committed_range(
        &self,
        from: Height,
        count: usize,
        bytes_max: usize,
    ) -> Result<Vec<CommittedRecord>, StorageError> {
        let cf = self.database.column(columns::COMMITTED);
        let mut records = Vec::new();
        let mut bytes = 0;
        let start = from.get().to_be_bytes();
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        for entry in self.database.db().iterator_cf(cf, mode) {
            let (_, value) = entry?;
            let record: CommittedRecord = decode("committed block", &value)?;
            if record.block.height.get() != from.get() + records.len() as u64 {
                break;
            }
            bytes += value.len();
            records.push(record);
            if records.len() >= count || bytes >= bytes_max {
                break;
            }
        }
        Ok(records)
    }

    /// The height of the committed block `id`, if it is committed.
    pub fn committed_height_of(&self, id: &BlockId) -> Result<Option<Height>, StorageError> {
        match self.get(columns::COMMITTED_IDS, id.0.as_bytes())? {
            Some(bytes) => {
                let array: [u8; 8] = bytes.as_slice().try_into().map_err(|e| corrupt("committed id index", e))?;
                Ok(Some(Height(u64::from_be_bytes(array))))
            }
            None => Ok(None),
        }
    }

    /// A block this node stored under `id`: committed or pending.
    pub fn block(&self, id: &BlockId) -> Result<Option<Block>, StorageError> {
        if let Some(height) = self.committed_height_of(id)? {
            return Ok(self.committed(height)?.map(|record| record.block));
        }
        let Some(height) = self.pending_index().get(id).copied() else { return Ok(None) };
        self.get(columns::PENDING, &pending_key(height, id))?.map(|bytes| decode("pending block", &bytes)).transpose()
    }
}

/// An unsigned child of `parent` at `round` (its QC certifies the parent), for tests.
#[cfg(test)]
pub(crate) fn test_child(parent: &Block, round: u64) -> Block {
    let mut block = parent.clone();
    block.parent = parent.id();
    block.round = keel_consensus::Round(round);
    block.height = parent.height.next();
    block.qc = QuorumCert::unsigned(parent.id(), parent.round, parent.height);
    block.payload = keel_consensus::Payload { transactions: vec![round.to_be_bytes().to_vec()] };
    block.state = keel_consensus::StateCommitment::default();
    block
}

#[cfg(test)]
mod tests {
    use keel_consensus::{genesis_qc, Round, ValidatorSet};
    use keel_crypto::{Hash, Keypair};
    use rand_core::OsRng;

    use super::*;

    fn setup() -> (tempfile::TempDir, ConsensusStore, RecoveryData) {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(&dir.path().join("db")).unwrap();
        let key = Keypair::generate(&mut OsRng).public();
        let validators = ValidatorSet::equal_power([key]).unwrap();
        (dir, ConsensusStore::open(database).unwrap(), RecoveryData::genesis(&Hash::sha256(b"chain"), &validators))
    }

    #[test]
    fn a_committed_entry_encodes_exactly_as_its_record() {
        let (_dir, _store, genesis) = setup();
        let b1 = test_child(&genesis.root, 1);
        let b2 = test_child(&b1, 2);
        let proof = CommitProof {
            block_qc: QuorumCert::unsigned(b1.id(), b1.round, b1.height),
            child_qc: QuorumCert::unsigned(b2.id(), b2.round, b2.height),
        };
        let evidence = CommitEvidence { proof, child: b2.clone() };
        for commit in [None, Some(evidence)] {
            let entry = CommittedEntry { id: b1.id(), block: &b1, commit: commit.as_ref() };
            assert_eq!(entry.encode(), encode(&CommittedRecord { block: b1.clone(), commit }));
        }
    }

    #[test]
    fn an_empty_store_recovers_to_genesis() {
        let (_dir, store, genesis) = setup();
        assert_eq!(store.load_recovery(genesis.clone()).unwrap(), genesis);
    }

    #[test]
    fn safety_blocks_and_commits_survive_a_reopen() {
        let (dir, store, genesis) = setup();
        let b1 = test_child(&genesis.root, 1);
        let b2 = test_child(&b1, 2);
        let b3 = test_child(&b2, 3);
        for block in [&b1, &b2, &b3] {
            store.save_block(&SealedBlock::seal(block.clone())).unwrap();
        }
        let safety = SafetyState { last_voted_round: Round(3), locked_round: Round(2), ..SafetyState::default() };
        store.save_safety(&safety).unwrap();
        let proof = CommitProof {
            block_qc: QuorumCert::unsigned(b1.id(), b1.round, b1.height),
            child_qc: QuorumCert::unsigned(b2.id(), b2.round, b2.height),
        };
        let evidence = CommitEvidence { proof: proof.clone(), child: b2.clone() };
        store.save_commit(&[SealedBlock::seal(b1.clone())], &proof).unwrap();
        drop(store);

        let store = ConsensusStore::open(Database::open(&dir.path().join("db")).unwrap()).unwrap();
        let recovery = store.load_recovery(genesis.clone()).unwrap();
        assert_eq!(recovery.safety, safety);
        assert_eq!(recovery.root, b1);
        assert_eq!(recovery.root_qc, proof.block_qc);
        let mut pending: Vec<Block> = recovery.blocks;
        pending.sort_by_key(|b| b.height);
        assert_eq!(pending, vec![b2.clone(), b3.clone()], "the committed block left the pending set");
        let record = store.committed(Height(1)).unwrap().unwrap();
        assert_eq!((record.block, record.commit), (b1.clone(), Some(evidence)), "the commit keeps its child");
        assert_eq!(store.committed_height_of(&b1.id()).unwrap(), Some(Height(1)));
        assert_eq!(store.block(&b3.id()).unwrap(), Some(b3));
        assert_eq!(store.block(&genesis_qc(&genesis.root).block_id).unwrap(), None);
    }

    #[test]
    fn a_second_open_of_the_same_database_is_refused_as_locked() {
        let (dir, _store, _) = setup();
        let error = Database::open(&dir.path().join("db")).unwrap_err();
        assert!(matches!(error, StorageError::Locked { .. }), "{error}");
    }
}
