//! The ledger's error type.
//!
//! A bad *transaction* is never an error: it becomes a receipt. Errors are for a block that no
//! honest proposer could have made (`Block`), for storage failures (`Store`, fatal on write), and
//! for a store that does not belong to this chain or is used out of order (permanent).

use keel_crypto::Hash;
use thiserror::Error;

use crate::height::Height;
use crate::kv::StoreError;

/// Why a whole block cannot be executed. Permanent: the same block always fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    /// More transactions than the chain's `block_txs_max`.
    #[error("block holds {txs} transactions, the limit is {txs_max}")]
    TooManyTransactions {
        /// Count found.
        txs: usize,
        /// The limit.
        txs_max: usize,
    },
    /// Encoded transactions add up to more than `block_bytes_max`.
    #[error("block transactions total {bytes} bytes, the limit is {bytes_max}")]
    TooManyBytes {
        /// Total found.
        bytes: usize,
        /// The limit.
        bytes_max: usize,
    },
    /// The block does not extend the state it is executed on.
    #[error("block at height {height} cannot be executed on the state at height {parent}")]
    WrongHeight {
        /// The block's height.
        height: Height,
        /// The height of the state.
        parent: Height,
    },
}

/// Everything that can go wrong in the ledger, apart from bad transactions (which are receipts).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// The block is invalid as a whole.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The storage failed or is corrupt.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Merkle tree refused an operation: missing nodes (a pruned version) or corrupt nodes.
    #[error("merkle tree: {reason}")]
    Tree {
        /// The tree's message.
        reason: String,
    },
    /// The requested height is older than the oldest kept version, or not committed yet.
    #[error("state at height {height} is not available (kept: {oldest_kept}..={last_committed})")]
    HeightUnavailable {
        /// Requested.
        height: Height,
        /// Oldest height whose state is kept.
        oldest_kept: Height,
        /// Newest committed height.
        last_committed: Height,
    },
    /// The store was initialised with another genesis.
    #[error("store belongs to genesis {stored}, not {expected}")]
    GenesisMismatch {
        /// Hash in the store.
        stored: Hash,
        /// Hash of the genesis given.
        expected: Hash,
    },
    /// The store holds its state in another tree layout than the one it is opened with.
    #[error(
        "store holds state tree format {stored:?}, this node reads {expected:?}; resync into an empty data directory"
    )]
    StateFormatMismatch {
        /// The format recorded in the store.
        stored: String,
        /// The format of the tree it was opened with.
        expected: &'static str,
    },
    /// An outcome was committed on a state other than the one it was executed on.
    #[error("outcome for height {height} (parent root {parent_root}) does not extend the last committed state at {last_height} ({last_root})")]
    StaleOutcome {
        /// The outcome's height.
        height: Height,
        /// The root it was executed on.
        parent_root: Hash,
        /// The store's last height.
        last_height: Height,
        /// The store's last root.
        last_root: Hash,
    },
    /// A write failed earlier; the ledger refuses further use and must be reopened.
    #[error("a previous write failed; reopen the store")]
    Poisoned,
}

/// The stored bytes of `column` are not what the ledger wrote: `reason` says how.
pub(crate) fn corrupt(column: crate::kv::Column, reason: impl Into<String>) -> LedgerError {
    StoreError::Corrupt { column: column.name(), reason: reason.into() }.into()
}

impl LedgerError {
    pub(crate) fn tree(error: anyhow::Error) -> LedgerError {
        LedgerError::Tree { reason: format!("{error:#}") }
    }
}
