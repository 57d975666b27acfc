//! The authenticated map behind the state, as a trait so that the tree can be replaced (by NOMT,
//! QMDB or a tree of our own) without touching the executor or the store.
//!
//! A commitment stores versioned values and whatever nodes it needs in [`KvStore`] columns, and
//! never writes by itself: [`StateCommitment::apply`] returns a [`WriteBatch`] that the ledger
//! commits together with the rest of the block. Versions are heights and must be applied in
//! order, each on top of the previous one.

use std::collections::BTreeMap;

use keel_crypto::Hash;

use crate::account::StateKey;
use crate::error::LedgerError;
use crate::height::Height;
use crate::kv::{KvStore, WriteBatch};
use crate::proof::MerkleProof;

/// The state changes of one block: each touched key and its new encoded value. Ordered, so that
/// anything derived from it is deterministic.
pub type StateWrites = BTreeMap<StateKey, Vec<u8>>;

/// An authenticated, versioned key-value map over a [`KvStore`].
pub trait StateCommitment: Send + Sync {
    /// The name of the layout it stores (recorded in the store, checked on open).
    const FORMAT: &'static str;

    /// The value of `key` in the state at `version` (the newest write at or before it).
    fn read<K: KvStore>(&self, kv: &K, version: Height, key: &StateKey) -> Result<Option<Vec<u8>>, LedgerError>;

    /// The root of the state at `version`, or `None` if that version was never written or has
    /// been pruned.
    fn root<K: KvStore>(&self, kv: &K, version: Height) -> Result<Option<Hash>, LedgerError>;

    /// Computes the state at `version` = the state at `version - 1` plus `writes` (or just
    /// `writes` at genesis, version 0), returning its root and the batch that stores it. Reads
    /// only; `writes` must not be empty.
    fn apply<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        writes: &StateWrites,
    ) -> Result<(Hash, WriteBatch), LedgerError>;

    /// The value of `key` at `version` and a proof of it (or of its absence) against that
    /// version's root.
    fn prove<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        key: &StateKey,
    ) -> Result<(Option<Vec<u8>>, MerkleProof), LedgerError>;

    /// The batch of `version` (from [`StateCommitment::apply`], with root `root` and `writes`)
    /// was written: the store answers reads with it (a write-behind store may still be making it
    /// durable). A commitment that keeps anything in memory updates it here; the default keeps
    /// nothing.
    fn committed(&self, version: Height, root: Hash, writes: &StateWrites) {
        let _ = (version, root, writes);
    }

    /// The store was opened with `version` as its newest committed version. Default: nothing.
    fn opened(&self, version: Height) {
        let _ = version;
    }

    /// The values of `keys` at `version` (the newest committed), in order, read on up to
    /// `threads` threads (the results never depend on it), so that executing a block does not
    /// wait on the store key by key. Default: one [`StateCommitment::read`] after another.
    fn read_many<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        keys: &[StateKey],
        threads: usize,
    ) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        let _ = threads;
        keys.iter().map(|key| self.read(kv, version, key)).collect()
    }

    /// Adds to `batch` the deletion of at most `entries_max` nodes and values that no version
    /// at or after `oldest_kept` needs; returns how many it deleted. Entries left over are found
    /// by the next call.
    fn prune<K: KvStore>(
        &self,
        kv: &K,
        oldest_kept: Height,
        entries_max: usize,
        batch: &mut WriteBatch,
    ) -> Result<usize, LedgerError>;
}
