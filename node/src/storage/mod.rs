//! The node's durable storage: one RocksDB database under `<home>/data/db`, holding the
//! ledger's columns (the ledger's [`KvStore`](keel_ledger::KvStore) contract) and the node's own.

pub mod rocks;

pub use rocks::RocksStore;
