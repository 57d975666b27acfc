//! Keel's ledger: signed transactions, a deterministic executor and Merkle-proven state.
//!
//! Not yet written: see the ledger issue. `execute_block` will be a pure function of the parent
//! state and the block, with storage behind a trait.
