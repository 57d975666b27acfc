//! The mempool: transactions waiting for a block.
//!
//! Admission (in [`Mempool::insert`]), after the caller has decoded the transaction, checked its
//! size and chain id, and verified its signature (in batches, off the consensus task):
//! - **dedupe**: a transaction already pending is reported as such, never as an error;
//! - **nonce**: below the sender's next nonce is stale; more than `sender_nonce_gap_max` ahead
//!   is refused, so one sender cannot park unbounded future transactions;
//! - **replace by fee**: a second transaction for a pending (sender, nonce) replaces it only if
//!   its fee is at least `fee_bump_percent_min` percent higher;
//! - **balance**: the sender's pending transactions together must not cost more than its
//!   balance (amounts plus fees), checked against the latest committed state;
//! - **limits**: at most `txs_max` transactions and `bytes_max` bytes in all, and
//!   `sender_txs_max` per sender; when full, a new transaction is refused (never silently
//!   dropped), so its submitter learns at once.
//!
//! Selection ([`Mempool::select`]) fills a block: it repeatedly takes the best ready transaction
//! — the lowest pending nonce of some sender, by fee and then by arrival — so a sender's
//! transactions are always proposed in nonce order, and transactions already in uncommitted
//! blocks (`in_flight`) are skipped as if executed. Commit ([`Mempool::on_committed`]) removes
//! what a block took and everything its senders' new nonces made stale.
//!
//! The structure is deterministic (ordered maps, arrival sequence numbers) and does no I/O.

mod admission;
mod opaque;
mod pool;

pub use admission::{AdmissionError, PooledTx, SharedMempool};

pub use pool::{InsertOutcome, Mempool, MempoolError, MempoolLimits, PoolTx, SenderState};
