//! The node's database: one RocksDB instance under `<home>/data/db` holding the ledger's columns
//! (through [`RocksKv`], the ledger's [`KvStore`](keel_ledger::KvStore)) and the consensus
//! driver's (through [`ConsensusStore`]) and the ledger certificates (through [`CertificateStore`]).
//!
//! RocksDB takes a lock file on open, so a second `keel start` on the same home fails with
//! [`StorageError::Locked`] instead of corrupting the first one's data. Every write is a
//! `WriteBatch`, atomic across column families; the ones that must survive a power cut are
//! written with `sync` (see each store for which).

mod certificates;
mod consensus;
mod database;
mod overlay;
mod rocks_kv;

pub use certificates::CertificateStore;
#[cfg(test)]
pub(crate) use consensus::test_child;
pub use consensus::{CommitEvidence, CommittedRecord, ConsensusStore};
pub use database::{Database, StorageError};
pub use rocks_kv::RocksKv;
