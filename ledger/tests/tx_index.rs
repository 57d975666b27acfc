//! The transaction index written in runs: every transaction that took effect is found from the
//! block that commits it on, whether its entry still waits in memory, is in the store, or was
//! read back from the receipts after a reopen or a dropped batch; rejected ones are never found.

mod common;

use std::sync::Arc;

use common::*;
use keel_crypto::Hash;
use keel_ledger::{tx_hash, Column, Height, KvStore, Ledger, LedgerConfig, MemKv, ReasonCode};

/// A ledger writing a run once 5 entries wait.
fn config() -> LedgerConfig {
    LedgerConfig { tx_index_run_entries: 5, ..LedgerConfig::default() }
}

/// Block `height`'s transactions: two transfers that apply (accounts 0 and 1 send their nonce
/// `height - 1`) and one rejected for its nonce.
fn block(height: u64) -> Vec<Vec<u8>> {
    vec![transfer(0, 2, height - 1, 1, 1), transfer(2, 3, 1_000 + height, 1, 1), transfer(1, 2, height - 1, 1, 1)]
}

/// The ledger in `kv` (genesis written on first open).
fn open(kv: &Arc<MemKv>) -> Ledger<Arc<MemKv>> {
    Ledger::open(kv.clone(), &genesis(&[1_000, 1_000, 0, 0]), config()).unwrap()
}

/// Executes and commits [`block`] `height`.
fn commit_block(ledger: &mut Ledger<Arc<MemKv>>, height: u64) {
    let outcome = ledger.execute(&block(height), &context(height)).unwrap();
    assert_eq!(outcome.receipts[1].code, ReasonCode::NonceTooHigh);
    ledger.commit(outcome).unwrap();
}

fn in_store(kv: &MemKv, hash: &Hash) -> bool {
    kv.get(Column::TxIndex, hash.as_bytes()).unwrap().is_some()
}

/// Checks every transaction of blocks `1..=last`: found where it took effect, or not at all.
fn check_all_found(ledger: &Ledger<Arc<MemKv>>, last: u64) {
    for height in 1..=last {
        let txs = block(height);
        for (index, applied) in [(0u32, true), (1, false), (2, true)] {
            let found = ledger.tx_location(&tx_hash(&txs[index as usize])).unwrap();
            let expected = applied.then_some((Height(height), index));
            assert_eq!(found.map(|l| (l.height, l.index)), expected, "block {height}, entry {index}");
        }
    }
}

#[test]
fn transactions_are_found_before_and_after_their_run_is_written_and_after_a_reopen() {
    let kv = Arc::new(MemKv::new());
    let mut ledger = open(&kv);
    for height in 1..=7 {
        commit_block(&mut ledger, height);
        check_all_found(&ledger, height);
        // Two entries a block: blocks 1 and 2 wait, block 3 writes the run of six; 4, 5 and 6
        // likewise; block 7's wait.
        let first = tx_hash(&block(height)[0]);
        assert_eq!(in_store(&kv, &first), height == 3 || height == 6, "block {height}'s entries in the store");
    }
    assert!(in_store(&kv, &tx_hash(&block(1)[0])), "a run holds every block before it");
    assert!(!in_store(&kv, &tx_hash(&block(1)[1])), "rejected transactions are never indexed");
    assert!(!in_store(&kv, &tx_hash(&block(7)[0])));

    // A reopen reads block 7's entries back from its receipts ...
    drop(ledger);
    let mut reopened = open(&kv);
    check_all_found(&reopened, 7);
    // ... and they go into the next run, which block 9 writes.
    for height in 8..=9 {
        commit_block(&mut reopened, height);
        let written = in_store(&kv, &tx_hash(&block(7)[2]));
        assert_eq!(written, height == 9, "entries read back from receipts are in the run after block {height}");
    }
    check_all_found(&reopened, 9);
}

#[test]
fn a_dropped_batch_that_held_a_run_leaves_the_index_of_the_blocks_before() {
    let kv = Arc::new(MemKv::new());
    let mut ledger = open(&kv);
    for height in 1..=2 {
        commit_block(&mut ledger, height);
    }
    // Block 3 would write the run of blocks 1 to 3; its batch never reaches the store.
    kv.drop_next_writes(1);
    let outcome = ledger.execute(&block(3), &context(3)).unwrap();
    assert!(ledger.commit(outcome).is_err());
    drop(ledger);
    let mut reopened = open(&kv);
    assert_eq!(reopened.last_committed().height, Height(2));
    check_all_found(&reopened, 2);
    assert_eq!(reopened.tx_location(&tx_hash(&block(3)[0])).unwrap(), None, "block 3 did not commit");
    commit_block(&mut reopened, 3);
    assert!(in_store(&kv, &tx_hash(&block(1)[0])) && in_store(&kv, &tx_hash(&block(3)[2])));
    check_all_found(&reopened, 3);
}

#[test]
fn a_chain_of_few_transactions_writes_a_run_every_1024_blocks() {
    let kv = Arc::new(MemKv::new());
    let genesis = genesis(&[1_000, 1_000, 0, 0]);
    let config = LedgerConfig { tx_index_run_entries: usize::MAX, ..LedgerConfig::default() };
    let mut ledger = Ledger::open(kv.clone(), &genesis, config.clone()).unwrap();
    let first = transfer(0, 2, 0, 1, 1);
    for height in 1..=keel_ledger::tx_index::RUN_BLOCKS_MAX {
        let txs = if height == 1 { vec![first.clone()] } else { Vec::new() };
        let outcome = ledger.execute(&txs, &context(height)).unwrap();
        ledger.commit(outcome).unwrap();
        let written = height == keel_ledger::tx_index::RUN_BLOCKS_MAX;
        assert_eq!(in_store(&kv, &tx_hash(&first)), written, "after block {height}");
    }
    drop(ledger);
    let reopened = Ledger::open(kv, &genesis, config).unwrap();
    assert_eq!(reopened.tx_location(&tx_hash(&first)).unwrap().map(|l| l.height), Some(Height(1)));
}
