//! [`Ledger`]: the state, receipts and indexes of one chain in a [`KvStore`], committed one
//! whole block per write batch.
//!
//! Commit contract: everything a block changes (tree nodes and values, pruning index entries
//! and deletions, receipts, the height record and the `last_committed` pointer) goes into one
//! [`WriteBatch`]. The transaction index is derived from the receipts and written in runs of
//! many blocks, each in one block's batch; the entries of the blocks after the last run are
//! answered from memory and read back from their receipts on open (see [`crate::tx_index`]). A
//! store therefore always holds whole blocks; on open it reports the last one
//! ([`Ledger::last_committed`]), and executing the next block on it gives the same root as on
//! any other store at that height. A failed write poisons the ledger: the
//! caller must reopen, which finds the last whole block.
//!
//! Pruning: the states of the last `versions_kept_max` heights are kept; older tree nodes and
//! values are deleted every `prune_interval` heights, together (at most
//! `prune_entries_per_block_max` per block, the rest at the next block). Receipts, the
//! transaction index and height records are history and are kept.

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{Address, Hash, PublicKey};
use keel_genesis::Genesis;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::account::{decode_value, encode_value, Account, ChainState, StateKey};
use crate::check::{check_block, ChainRules, CheckedBlock};
use crate::commitment::{StateCommitment, StateWrites};
use crate::error::{corrupt, LedgerError};
use crate::execute::{execute_block, BlockContext, BlockOutcome, StateView};
use crate::height::Height;
use crate::kv::{Column, KvStore, WriteBatch};
use crate::proof::AccountProof;
use crate::receipt::{receipts_hash, stored_receipts, Receipt};
use crate::smt::SmtCommitment;
use crate::transaction::Payload;
use crate::tx_index::TxIndex;
pub use crate::tx_index::TxLocation;

const META_LAST_COMMITTED: &[u8] = b"last_committed";
const META_GENESIS_HASH: &[u8] = b"genesis_hash";
/// Which tree layout the store holds ([`StateCommitment::FORMAT`]); absent in stores written
/// before it was recorded, which are all jmt's.
const META_STATE_FORMAT: &[u8] = b"state_format";
const STATE_FORMAT_BEFORE_RECORDED: &str = "jmt-v1";

/// Ledger settings. Not consensus rules: nodes may differ in them and still agree on roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    /// How many recent heights keep their full state (readable, provable). At least 1.
    /// Default 1000.
    pub versions_kept_max: u64,
    /// Most tree nodes and values deleted by pruning in one block's batch, so that a batch stays
    /// bounded (a range delete counts as one). At least 1. Default 200000.
    pub prune_entries_per_block_max: usize,
    /// Pruning runs when the oldest kept height is a multiple of this (and at the first block
    /// after an open, and at the next block when it left work over), deleting together what
    /// became prunable since: the tree then deletes its dead nodes in fewer, longer ranges. The
    /// states of at most this many heights beyond `versions_kept_max` wait on disk; reads of
    /// them are refused all the same. At least 1 (every block). Default 16.
    pub prune_interval: u64,
    /// Threads for signature checks; results never depend on it. Default 1.
    pub signature_threads: usize,
    /// Threads for updating the state tree (each of its 16 subtrees below the root is a task
    /// that a free thread takes); results never depend on it. Default 1.
    pub tree_threads: usize,
    /// Most state values (newest version) kept in memory; 0 turns the cache off. Results never
    /// depend on it. Default [`SmtCommitment::VALUES_CACHED_DEFAULT`].
    pub values_cached_max: usize,
    /// Most live Merkle tree nodes kept in memory; 0 turns the cache off. Results never depend
    /// on it. Default [`SmtCommitment::NODES_CACHED_DEFAULT`].
    pub nodes_cached_max: usize,
    /// Transaction index entries held in memory before they are written to the store together,
    /// in one block's batch (see [`crate::tx_index`]); at least 1. Answers never depend on it.
    /// Default 65536.
    pub tx_index_run_entries: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            versions_kept_max: 1000,
            prune_entries_per_block_max: 200_000,
            prune_interval: 16,
            signature_threads: 1,
            tree_threads: 1,
            values_cached_max: SmtCommitment::VALUES_CACHED_DEFAULT,
            nodes_cached_max: SmtCommitment::NODES_CACHED_DEFAULT,
            tx_index_run_entries: 65_536,
        }
    }
}

/// What the store records for each committed height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct HeightRecord {
    /// The height.
    pub height: Height,
    /// The state root after it.
    pub state_root: Hash,
    /// Hash of its receipts.
    pub receipts_hash: Hash,
    /// Number of block entries (and receipts).
    pub tx_count: u32,
    /// Who proposed it (`None` for genesis).
    pub proposer: Option<PublicKey>,
}

/// A chain's ledger over a store.
#[derive(Debug)]
pub struct Ledger<K: KvStore, C: StateCommitment = SmtCommitment> {
    kv: K,
    commitment: C,
    rules: ChainRules,
    config: LedgerConfig,
    last: HeightRecord,
    poisoned: bool,
    tx_index: TxIndex,
    /// Whether the next block prunes whatever its interval: after an open, or when the last
    /// pruning reached its bound.
    prune_next: bool,
}

/// The state at one height, as a [`StateView`].
#[derive(Debug, Clone, Copy)]
pub struct LedgerView<'a, K, C> {
    kv: &'a K,
    commitment: &'a C,
    height: Height,
    root: Hash,
    /// Values read ahead at this height ([`Ledger::prefetch`]), answered before the tree.
    prefetched: Option<&'a Prefetched>,
}

/// A block's accounts, read at the last committed height before the block executes
/// ([`Ledger::prefetch`]).
#[derive(Debug, Default)]
pub struct Prefetched {
    height: Height,
    values: FxHashMap<StateKey, Option<Vec<u8>>>,
}

impl<K: KvStore, C: StateCommitment> StateView for LedgerView<'_, K, C> {
    fn height(&self) -> Height {
        self.height
    }

    fn root(&self) -> Hash {
        self.root
    }

    fn read(&self, key: &StateKey) -> Result<Option<Vec<u8>>, LedgerError> {
        if let Some(value) = self.prefetched.and_then(|prefetched| prefetched.values.get(key)) {
            return Ok(value.clone());
        }
        self.commitment.read(self.kv, self.height, key)
    }

    fn apply(&self, writes: &StateWrites) -> Result<(Hash, WriteBatch), LedgerError> {
        let next = self.height.next().expect("heights never reach u64::MAX");
        self.commitment.apply(self.kv, next, writes)
    }
}

impl<K: KvStore> Ledger<K, SmtCommitment> {
    /// Opens the ledger in `kv` with Keel's sparse Merkle tree (see [`Ledger::open_with`]).
    pub fn open(kv: K, genesis: &Genesis, config: LedgerConfig) -> Result<Self, LedgerError> {
        let commitment = SmtCommitment::with_cache(config.values_cached_max, config.nodes_cached_max)
            .with_threads(config.tree_threads);
        Self::open_with(kv, commitment, genesis, config)
    }
}

impl<K: KvStore, C: StateCommitment> Ledger<K, C> {
    /// Opens the ledger in `kv`: an empty store gets the genesis state at height 0 (one batch);
    /// a used one must belong to `genesis` and resumes at its last committed height.
    pub fn open_with(kv: K, commitment: C, genesis: &Genesis, config: LedgerConfig) -> Result<Self, LedgerError> {
        assert!(config.versions_kept_max >= 1, "versions_kept_max must be at least 1");
        assert!(config.prune_entries_per_block_max >= 1, "prune_entries_per_block_max must be at least 1");
        assert!(config.prune_interval >= 1, "prune_interval must be at least 1");
        let rules = ChainRules::from_genesis(genesis);
        let last = match kv.get(Column::Meta, META_GENESIS_HASH)? {
            Some(stored) => {
                let stored = Hash::try_from_slice(&stored).map_err(|e| corrupt(Column::Meta, e.to_string()))?;
                if stored != genesis.hash() {
                    return Err(LedgerError::GenesisMismatch { stored, expected: genesis.hash() });
                }
                let format = kv.get(Column::Meta, META_STATE_FORMAT)?;
                let format = format.as_deref().unwrap_or(STATE_FORMAT_BEFORE_RECORDED.as_bytes());
                if format != C::FORMAT.as_bytes() {
                    return Err(LedgerError::StateFormatMismatch {
                        stored: String::from_utf8_lossy(format).into_owned(),
                        expected: C::FORMAT,
                    });
                }
                let bytes = kv
                    .get(Column::Meta, META_LAST_COMMITTED)?
                    .ok_or_else(|| corrupt(Column::Meta, "no last_committed"))?;
                HeightRecord::try_from_slice(&bytes).map_err(|e| corrupt(Column::Meta, e.to_string()))?
            }
            None => Self::write_genesis(&kv, &commitment, genesis)?,
        };
        commitment.opened(last.height);
        let tx_index = TxIndex::open(&kv, last.height, config.tx_index_run_entries)?;
        Ok(Ledger { kv, commitment, rules, config, last, poisoned: false, tx_index, prune_next: true })
    }

    fn write_genesis(kv: &K, commitment: &C, genesis: &Genesis) -> Result<HeightRecord, LedgerError> {
        let mut writes: StateWrites = genesis
            .accounts()
            .iter()
            .map(|a| (StateKey::Account(a.address), encode_value(&Account { balance: a.balance, nonce: 0 })))
            .collect();
        let chain = ChainState { height: Height::GENESIS, supply_genesis: genesis.total_supply(), burned_total: 0 };
        writes.insert(StateKey::Chain, encode_value(&chain));
        let (state_root, mut batch) = commitment.apply(kv, Height::GENESIS, &writes)?;
        let record = HeightRecord {
            height: Height::GENESIS,
            state_root,
            receipts_hash: receipts_hash(&[]),
            tx_count: 0,
            proposer: None,
        };
        batch.put(Column::Meta, META_GENESIS_HASH.to_vec(), genesis.hash().as_bytes().to_vec());
        batch.put(Column::Meta, META_STATE_FORMAT.to_vec(), C::FORMAT.as_bytes().to_vec());
        TxIndex::put_genesis(&mut batch);
        put_height_record(&mut batch, &record);
        kv.write(batch)?;
        // The genesis state is committed state like any block's: a node that starts from it has
        // it in memory, instead of reading each account through the tree on first touch.
        commitment.committed(Height::GENESIS, state_root, &writes);
        Ok(record)
    }

    /// The last committed height and its root.
    pub fn last_committed(&self) -> &HeightRecord {
        &self.last
    }

    /// The chain rules blocks are checked against.
    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }

    /// The oldest height whose state is still kept.
    pub fn oldest_kept(&self) -> Height {
        Height((self.last.height.0 + 1).saturating_sub(self.config.versions_kept_max))
    }

    /// The underlying store.
    pub fn kv(&self) -> &K {
        &self.kv
    }

    /// The last committed state, to execute the next block on.
    pub fn view(&self) -> LedgerView<'_, K, C> {
        LedgerView {
            kv: &self.kv,
            commitment: &self.commitment,
            height: self.last.height,
            root: self.last.state_root,
            prefetched: None,
        }
    }

    /// [`Ledger::view`], answering reads of `prefetched` values from memory (when they were read
    /// at the last committed height; else it is the plain view).
    pub fn view_prefetched<'a>(&'a self, prefetched: &'a Prefetched) -> LedgerView<'a, K, C> {
        let current = prefetched.height == self.last.height;
        LedgerView { prefetched: current.then_some(prefetched), ..self.view() }
    }

    /// Checks and executes the next block (`txs` in block order) on the last committed state.
    /// Writes nothing; pass the outcome to [`Ledger::commit`].
    pub fn execute<T: AsRef<[u8]> + Sync>(
        &self,
        txs: &[T],
        context: &BlockContext,
    ) -> Result<BlockOutcome, LedgerError> {
        let checked = check_block(txs, &self.rules, self.config.signature_threads)?;
        self.execute_checked(&checked, context)
    }

    /// Reads every account `checked` touches at the last committed height, on `tree_threads`
    /// threads, so that executing it does not wait on the store (or the caches' locks) account
    /// by account; execute on [`Ledger::view_prefetched`]. Changes no result;
    /// [`Ledger::execute`] and [`Ledger::execute_checked`] do it.
    pub fn prefetch(&self, checked: &CheckedBlock) -> Result<Prefetched, LedgerError> {
        let mut keys = Vec::with_capacity(checked.txs().len() * 2);
        for (tx, sender) in checked.txs().iter().zip(checked.senders()) {
            let (Ok(tx), Some(sender)) = (&tx.verdict, sender) else { continue };
            keys.push(StateKey::Account(*sender));
            match &tx.payload {
                Payload::Transfer { to, .. } => keys.push(StateKey::Account(*to)),
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let values = self.commitment.read_many(&self.kv, self.last.height, &keys, self.config.tree_threads)?;
        Ok(Prefetched { height: self.last.height, values: keys.into_iter().zip(values).collect() })
    }

    /// Executes a block whose entries the caller already checked (decoded, chain id, signature —
    /// for instance when its mempool verified them on admission), on the last committed state.
    /// The caller is responsible for the block limits and for every verdict being what
    /// [`check_block`] would give; the result is then identical to [`Ledger::execute`].
    pub fn execute_checked(&self, checked: &CheckedBlock, context: &BlockContext) -> Result<BlockOutcome, LedgerError> {
        let prefetched = self.prefetch(checked)?;
        execute_block(&self.view_prefetched(&prefetched), checked, context)
    }

    /// Stores `outcome` and everything derived from it in one batch (see the module docs).
    pub fn commit(&mut self, outcome: BlockOutcome) -> Result<&HeightRecord, LedgerError> {
        if self.poisoned {
            return Err(LedgerError::Poisoned);
        }
        if self.last.height.next() != Some(outcome.height) || outcome.parent_root != self.last.state_root {
            return Err(LedgerError::StaleOutcome {
                height: outcome.height,
                parent_root: outcome.parent_root,
                last_height: self.last.height,
                last_root: self.last.state_root,
            });
        }
        let tx_count = u32::try_from(outcome.receipts.len()).expect("block_txs_max bounds a block far below u32::MAX");
        let record = HeightRecord {
            height: outcome.height,
            state_root: outcome.state_root,
            receipts_hash: outcome.receipts_hash,
            tx_count,
            proposer: Some(outcome.proposer),
        };
        let mut batch = outcome.tree_batch;
        // A block's receipts are one entry: they are written together and read together.
        let receipts = borsh::to_vec(&outcome.receipts).expect("borsh into a Vec");
        batch.put(Column::Receipts, outcome.height.to_be_bytes().to_vec(), receipts);
        // The transaction index: the block's entries wait in memory, or go into this batch with
        // the others waiting, as one run (see `tx_index`).
        let index_step = self.tx_index.add_block(outcome.height, &outcome.receipts, &mut batch);
        put_height_record(&mut batch, &record);
        let oldest_kept = Height((record.height.0 + 1).saturating_sub(self.config.versions_kept_max));
        // Nothing is prunable while height 0 is still kept (what a version replaced is needed
        // below it).
        let prune = oldest_kept.0 > 0 && (self.prune_next || oldest_kept.0 % self.config.prune_interval == 0);
        let mut prune_next = false;
        if prune {
            let bound = self.config.prune_entries_per_block_max;
            prune_next = self.commitment.prune(&self.kv, oldest_kept, bound, &mut batch)? >= bound;
        }
        if let Err(error) = self.kv.write(batch) {
            self.poisoned = true;
            return Err(error.into());
        }
        self.commitment.committed(record.height, record.state_root, &outcome.writes);
        self.tx_index.committed(index_step);
        self.prune_next = prune_next;
        self.last = record;
        Ok(&self.last)
    }

    fn check_height(&self, height: Height) -> Result<(), LedgerError> {
        if height < self.oldest_kept() || height > self.last.height {
            return Err(LedgerError::HeightUnavailable {
                height,
                oldest_kept: self.oldest_kept(),
                last_committed: self.last.height,
            });
        }
        Ok(())
    }

    /// The account at `address` in the state at `height` (`None` if it does not exist).
    pub fn account(&self, address: &Address, height: Height) -> Result<Option<Account>, LedgerError> {
        self.check_height(height)?;
        match self.commitment.read(&self.kv, height, &StateKey::Account(*address))? {
            None => Ok(None),
            Some(bytes) => decode_value(&bytes).map(Some).map_err(|e| corrupt(Column::TreeValues, e)),
        }
    }

    /// The chain record at `height`.
    pub fn chain_state(&self, height: Height) -> Result<ChainState, LedgerError> {
        self.check_height(height)?;
        let bytes = self
            .commitment
            .read(&self.kv, height, &StateKey::Chain)?
            .ok_or_else(|| corrupt(Column::TreeValues, "no chain record"))?;
        decode_value(&bytes).map_err(|e| corrupt(Column::TreeValues, e))
    }

    /// A proof of the account at `address` (or of its absence) against the root at `height`.
    pub fn prove_account(&self, address: &Address, height: Height) -> Result<AccountProof, LedgerError> {
        self.check_height(height)?;
        let (value, merkle) = self.commitment.prove(&self.kv, height, &StateKey::Account(*address))?;
        let account = match value {
            None => None,
            Some(bytes) => Some(decode_value(&bytes).map_err(|e| corrupt(Column::TreeValues, e))?),
        };
        Ok(AccountProof { account, merkle })
    }

    /// The record of a committed height (kept for every height, pruned or not).
    pub fn height_record(&self, height: Height) -> Result<Option<HeightRecord>, LedgerError> {
        let Some(bytes) = self.kv.get(Column::Heights, &height.to_be_bytes())? else {
            return Ok(None);
        };
        HeightRecord::try_from_slice(&bytes).map(Some).map_err(|e| corrupt(Column::Heights, e.to_string()))
    }

    /// The receipts of the block at `height`, in block order (empty if none or not committed).
    pub fn receipts(&self, height: Height) -> Result<Vec<Receipt>, LedgerError> {
        Ok(stored_receipts(&self.kv, height)?.unwrap_or_default())
    }

    /// Where the transaction with `hash` took effect, if it did.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, LedgerError> {
        self.tx_index.get(&self.kv, hash)
    }
}

fn put_height_record(batch: &mut WriteBatch, record: &HeightRecord) {
    let bytes = borsh::to_vec(record).expect("borsh into a Vec cannot fail");
    batch.put(Column::Heights, record.height.to_be_bytes().to_vec(), bytes.clone());
    batch.put(Column::Meta, META_LAST_COMMITTED.to_vec(), bytes);
}
