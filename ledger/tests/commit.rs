//! Determinism and atomic commit: random transaction sequences give the same roots, receipts
//! and store bytes on independent stores and with any thread count; a batch dropped mid-block
//! leaves the store at the previous block, and re-executing that block gives the same root.

mod common;

use std::sync::Arc;

use common::*;
use keel_ledger::{Column, Height, Ledger, LedgerConfig, LedgerError, MemKv, ReasonCode};
use proptest::prelude::*;

const ACCOUNTS: u32 = 12;

/// (from, to, nonce skew, amount, fee, garbage instead of a transaction).
type Entry = (u32, u32, i8, u64, u64, bool);

/// A random entry: a transfer with a nonce near the sender's, sometimes garbage.
fn entry() -> impl Strategy<Value = Entry> {
    (0..ACCOUNTS, 0..ACCOUNTS + 4, -1i8..=1, 0u64..600, 0u64..20, prop::bool::weighted(0.05))
}

fn blocks(raw: &[Vec<Entry>]) -> Vec<Vec<Vec<u8>>> {
    let mut nonces = [0u64; ACCOUNTS as usize];
    raw.iter()
        .map(|block| {
            block
                .iter()
                .map(|&(from, to, nonce_skew, amount, fee, garbage)| {
                    if garbage {
                        return vec![from as u8; (amount % 200) as usize];
                    }
                    let nonce = nonces[from as usize].saturating_add_signed(nonce_skew.into());
                    if nonce_skew == 0 {
                        nonces[from as usize] += 1;
                    }
                    transfer(from, to, nonce, amount, fee)
                })
                .collect()
        })
        .collect()
}

fn run(kv: Arc<MemKv>, blocks: &[Vec<Vec<u8>>], threads: usize) -> (Vec<keel_ledger::HeightRecord>, Vec<ReasonCode>) {
    let genesis = genesis(&[1_000; ACCOUNTS as usize]);
    let config =
        LedgerConfig { signature_threads: threads, versions_kept_max: 2, prune_interval: 1, ..Default::default() };
    let mut ledger = Ledger::open(kv, &genesis, config).unwrap();
    let mut records = vec![*ledger.last_committed()];
    let mut codes = Vec::new();
    for (i, txs) in blocks.iter().enumerate() {
        let outcome = ledger.execute(txs, &context(i as u64 + 1)).unwrap();
        codes.extend(outcome.receipts.iter().map(|r| r.code));
        records.push(*ledger.commit(outcome).unwrap());
    }
    // Supply: balances of every possible account add up to genesis supply minus burned fees.
    let last = ledger.last_committed().height;
    let total: u64 =
        (0..ACCOUNTS + 4).map(|i| ledger.account(&address(i), last).unwrap().unwrap_or_default().balance).sum();
    assert_eq!(total, ledger.chain_state(last).unwrap().supply_circulating());
    (records, codes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn independent_stores_agree(raw in prop::collection::vec(prop::collection::vec(entry(), 0..150), 1..5)) {
        let blocks = blocks(&raw);
        let (a, b) = (Arc::new(MemKv::new()), Arc::new(MemKv::new()));
        let (records_a, codes_a) = run(a.clone(), &blocks, 1);
        let (records_b, codes_b) = run(b.clone(), &blocks, 3);
        prop_assert_eq!(records_a, records_b);
        prop_assert_eq!(codes_a, codes_b);
        prop_assert!(a.dump() == b.dump(), "the stores hold the same bytes");
    }
}

/// Executes `blocks` with the given cache sizes; before each commit it also executes a decoy (the
/// block's entries reversed) and throws it away, as a node does when it executes a block that
/// does not commit. Returns every height's record, each account's proof at each kept height,
/// and the store's bytes.
fn run_cached(
    blocks: &[Vec<Vec<u8>>],
    values: usize,
    nodes: usize,
) -> (Vec<keel_ledger::HeightRecord>, Vec<String>, Vec<u8>) {
    let genesis = genesis(&[1_000; ACCOUNTS as usize]);
    let config =
        LedgerConfig { versions_kept_max: 3, values_cached_max: values, nodes_cached_max: nodes, ..Default::default() };
    let kv = Arc::new(MemKv::new());
    let mut ledger = Ledger::open(kv.clone(), &genesis, config).unwrap();
    let mut records = vec![*ledger.last_committed()];
    let mut answers = Vec::new();
    for (i, txs) in blocks.iter().enumerate() {
        let decoy: Vec<Vec<u8>> = txs.iter().rev().cloned().collect();
        let outcome = ledger.execute(txs, &context(i as u64 + 1)).unwrap();
        // Applied after the block that commits: the cache must not take the decoy's nodes.
        ledger.execute(&decoy, &context(i as u64 + 1)).unwrap();
        records.push(*ledger.commit(outcome).unwrap());
        let last = ledger.last_committed().height;
        for height in ledger.oldest_kept().0..=last.0 {
            for account in 0..ACCOUNTS + 4 {
                let proof = ledger.prove_account(&address(account), Height(height)).unwrap();
                let read = ledger.account(&address(account), Height(height)).unwrap();
                assert_eq!(read, proof.account, "a read and a proof agree");
                answers.push(format!("{height}/{account}: {proof:?}"));
            }
        }
    }
    (records, answers, format!("{:?}", kv.dump()).into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The state cache changes nothing but speed: with it, without it, and with caches so small
    /// that they evict all the time, every root, read, proof and stored byte is the same.
    #[test]
    fn the_state_cache_changes_no_result(raw in prop::collection::vec(prop::collection::vec(entry(), 0..60), 1..6)) {
        let blocks = blocks(&raw);
        let uncached = run_cached(&blocks, 0, 0);
        prop_assert!(run_cached(&blocks, 1_000_000, 1_000_000) == uncached, "default-sized cache");
        prop_assert!(run_cached(&blocks, 3, 5) == uncached, "tiny, always-evicting cache");
    }
}

#[test]
fn a_dropped_batch_leaves_the_previous_block() {
    let raw: Vec<Vec<_>> = (0..4)
        .map(|b| (0..40).map(|i| ((i + b) % ACCOUNTS, (i * 7) % ACCOUNTS, 0i8, 5u64, 1u64, false)).collect())
        .collect();
    let blocks = blocks(&raw);
    let (reference, _) = run(Arc::new(MemKv::new()), &blocks, 1);

    let kv = Arc::new(MemKv::new());
    let genesis = genesis(&[1_000; ACCOUNTS as usize]);
    let mut ledger = Ledger::open(kv.clone(), &genesis, LedgerConfig::default()).unwrap();
    for (i, txs) in blocks[..2].iter().enumerate() {
        let outcome = ledger.execute(txs, &context(i as u64 + 1)).unwrap();
        ledger.commit(outcome).unwrap();
    }
    let before = kv.dump();
    kv.drop_next_writes(1);
    let outcome = ledger.execute(&blocks[2], &context(3)).unwrap();
    assert_eq!(outcome.state_root, reference[3].state_root, "execution itself is deterministic");
    assert!(matches!(ledger.commit(outcome.clone()), Err(LedgerError::Store(_))));
    assert_eq!(ledger.commit(outcome), Err(LedgerError::Poisoned), "a failed write is fatal");
    assert!(kv.dump() == before, "nothing of the dropped block reached the store");
    drop(ledger);

    let mut reopened = Ledger::open(kv.clone(), &genesis, LedgerConfig::default()).unwrap();
    assert_eq!(*reopened.last_committed(), reference[2], "reopens at the previous block");
    for (i, txs) in blocks.iter().enumerate().skip(2) {
        let outcome = reopened.execute(txs, &context(i as u64 + 1)).unwrap();
        assert_eq!(*reopened.commit(outcome).unwrap(), reference[i + 1], "re-execution gives the same root");
    }
}

/// A ledger of four accounts keeping two versions, pruning every `prune_interval` heights.
fn four_account_ledger(prune_interval: u64) -> Ledger<MemKv> {
    let config = LedgerConfig { versions_kept_max: 2, prune_interval, ..Default::default() };
    Ledger::open(MemKv::new(), &genesis(&[1_000_000; 4]), config).unwrap()
}

/// Commits block `height`: each of the four accounts sends 1 to the next (nonce `height - 1`).
fn commit_ring_transfers(ledger: &mut Ledger<MemKv>, height: u64) {
    let txs: Vec<Vec<u8>> = (0..4).map(|i| transfer(i, (i + 1) % 4, height - 1, 1, 1)).collect();
    let outcome = ledger.execute(&txs, &context(height)).unwrap();
    ledger.commit(outcome).unwrap();
}

#[test]
fn pruning_bounds_the_tree() {
    let mut ledger = four_account_ledger(1);
    let mut sizes = Vec::new();
    for height in 1..=40u64 {
        commit_ring_transfers(&mut ledger, height);
        sizes.push(ledger.kv().len(Column::TreeNodes) + ledger.kv().len(Column::TreeValues));
    }
    assert_eq!(sizes[39], sizes[20], "with two versions kept the tree stops growing: {sizes:?}");
    assert_eq!(ledger.account(&address(0), Height(40)).unwrap().unwrap().nonce, 40);
}

#[test]
fn pruning_every_interval_keeps_up_and_leaves_at_most_an_interval_waiting() {
    let mut ledger = four_account_ledger(32);
    let mut sizes_after_pruning = Vec::new();
    for height in 1..=200u64 {
        commit_ring_transfers(&mut ledger, height);
        // Each version's list of replaced nodes waits until pruning takes it: at most an
        // interval's worth beyond the kept versions, however many came due at once.
        let lists = ledger.kv().len(Column::StaleNodes);
        assert!(lists <= 2 + 32, "height {height}: {lists} stale lists wait");
        if height > 2 && ledger.oldest_kept().0 % 32 == 0 {
            sizes_after_pruning.push(ledger.kv().len(Column::TreeNodes));
        }
    }
    assert!(sizes_after_pruning.len() >= 5);
    assert!(
        sizes_after_pruning.windows(2).all(|pair| pair[0] == pair[1]),
        "after each pruning the tree is the same size: {sizes_after_pruning:?}"
    );
}
