//! Keel's ledger: signed transactions, a deterministic executor and Merkle-proven state.
//!
//! ```text
//!  block bytes ──check_block──▶ CheckedBlock ──execute_block(parent view)──▶ BlockOutcome ──commit──▶ KvStore
//!  (limits, decode, chain id,    (stateless,     (nonce, balance, fees;        (root, receipts,   (one atomic
//!   batched signatures)           parallel)        pure, writes nothing)        writes, tree nodes) batch)
//! ```
//!
//! | concern | rule | where |
//! |---|---|---|
//! | transaction format | borsh body ‖ 64-byte ed25519 signature over `"keel/transaction/v1" ‖ 0x00 ‖ body` | [`transaction`] |
//! | transaction hash | `tagged_hash("keel/tx/v1", signed bytes)` | [`tx_hash`] |
//! | stateless checks | size ≤ `transaction_bytes_max`, strict decoding, chain id, signatures in fixed 512-entry batches | [`check_block`] |
//! | execution | nonce == next nonce, balance ≥ fee, then ≥ amount + fee, checked arithmetic | [`execute_block`] |
//! | failed transactions | rejected: no effect, not charged; failed: fee burned, nonce used | [`receipt`] |
//! | fees | burned; `ChainState.burned_total` tracks them, so Σ balances = `supply_genesis - burned_total` | [`ChainState`] |
//! | state | sparse Merkle tree hashed as jmt's (SHA-256), version = height, behind [`StateCommitment`]; jmt itself kept as the reference | [`SmtCommitment`], [`JmtCommitment`] |
//! | proofs | inclusion and non-inclusion, checked by the pure [`verify_account_proof`] | [`proof`] |
//! | certified roots | 2f+1 validator signatures over (height, block id, state root, receipts hash) | [`certificate`] |
//! | storage | [`KvStore`]: named columns, `get`, `seek_for_prev`, range scan, atomic batch | [`kv`] |
//! | commit | one batch per block; reopen finds the last whole block | [`Ledger`] |
//!
//! The crate reads no clock, no randomness and no file, and nothing here iterates a hash map
//! into a result: roots, receipts and writes are pure functions of (parent state, block). A bad
//! transaction is a receipt, never an error or a panic; errors are for blocks that break the
//! chain's limits and for storage failures. docs/transactions.md is the wire specification for
//! wallet developers and docs/vectors/transactions.json its test vectors.

#![warn(missing_docs)]

pub mod account;
pub mod certificate;
pub mod check;
pub mod commitment;
pub mod error;
pub mod execute;
pub mod height;
pub mod jmt_state;
pub mod kv;
pub mod ledger;
pub mod mem_kv;
pub mod proof;
pub mod receipt;
pub mod smt;
pub mod transaction;
pub mod tx_index;
pub mod value_cache;

pub use account::{Account, ChainState, StateKey};
pub use certificate::{
    verify_certificate, verify_certified_account, CertificateError, Committee, LedgerCertificate, LedgerInfo,
    LedgerSignature,
};
pub use check::{check_block, ChainRules, CheckedBlock, CheckedTx, SIGNATURE_CHUNK_LEN};
pub use commitment::{StateCommitment, StateWrites};
pub use error::{BlockError, LedgerError};
pub use execute::{execute_block, BlockContext, BlockOutcome, StateView};
pub use height::Height;
pub use jmt_state::JmtCommitment;
pub use kv::{Column, Entry, KvStore, RangeDelete, StoreError, WriteBatch, WriteOp};
pub use ledger::{HeightRecord, Ledger, LedgerConfig, LedgerView, Prefetched, TxLocation};
pub use mem_kv::MemKv;
pub use proof::{verify_account_proof, verify_merkle_proof, AccountProof, MerkleProof, ProofError, ProofLeaf};
pub use receipt::{receipts_hash, ReasonCode, Receipt, TxStatus};
pub use smt::SmtCommitment;
pub use transaction::{tx_hash, Payload, SignedTransaction, Transaction, TxDecodeError};
