//! Execution rules as a table: each step is a block, with the receipt codes and balances it must
//! produce. Every rejection and failure code is exercised.

mod common;

use std::sync::Arc;

use common::*;
use keel_crypto::Address;
use keel_genesis::ConsensusParams;
use keel_ledger::{
    BlockError, Height, Ledger, LedgerConfig, LedgerError, MemKv, Payload, ReasonCode, SignedTransaction, Transaction,
    TxStatus,
};

struct Step {
    desc: &'static str,
    txs: Vec<Vec<u8>>,
    codes: Vec<ReasonCode>,
    /// (account, balance, next nonce) after the block.
    expect: Vec<(u32, u64, u64)>,
}

fn with_key(tx: Vec<u8>, f: impl FnOnce(&mut Transaction)) -> Vec<u8> {
    let (mut signed, _) = SignedTransaction::decode(&tx, 1 << 16).unwrap();
    f(&mut signed.body);
    signed.body.sign(&key(0)).to_bytes()
}

#[test]
fn rules_table() {
    use ReasonCode::*;
    let max = u64::MAX - 1_050;
    let genesis = genesis(&[1_000, 50, 0, max]);
    let mut ledger = Ledger::open(MemKv::new(), &genesis, LedgerConfig::default()).unwrap();
    let replayed = transfer(0, 1, 0, 100, 10);
    let mut bad_signature = transfer(0, 1, 1, 5, 1);
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 1;
    let wrong_chain = with_key(transfer(0, 1, 1, 5, 1), |tx| tx.chain_id = "other-chain".into());
    let wrong_signer = Transaction {
        chain_id: CHAIN_ID.into(),
        sender: key(0).public(),
        nonce: 1,
        fee: 1,
        payload: Payload::Transfer { to: address(1), amount: 1 },
    }
    .sign(&key(1))
    .to_bytes();
    let steps = vec![
        Step {
            desc: "a transfer applies; its replay in the same block is rejected; a gap is rejected",
            txs: vec![replayed.clone(), replayed.clone(), transfer(0, 1, 5, 1, 1)],
            codes: vec![Ok, NonceTooLow, NonceTooHigh],
            expect: vec![(0, 890, 1), (1, 150, 0)],
        },
        Step {
            desc: "replayed in a later block, bad signature, wrong chain, wrong signer, garbage",
            txs: vec![replayed, bad_signature, wrong_chain, wrong_signer, vec![1, 2, 3], vec![]],
            codes: vec![NonceTooLow, BadSignature, WrongChain, BadSignature, Malformed, Malformed],
            expect: vec![(0, 890, 1), (1, 150, 0)],
        },
        Step {
            desc: "reordered nonces: 2 before 1 is rejected, 1 applies",
            txs: vec![transfer(0, 2, 2, 10, 0), transfer(0, 2, 1, 10, 0)],
            codes: vec![NonceTooHigh, Ok],
            expect: vec![(0, 880, 2), (2, 10, 0)],
        },
        Step {
            desc: "insufficient balance burns the fee and uses the nonce; fee not covered is free",
            txs: vec![transfer(1, 2, 0, 150, 5), transfer(1, 2, 1, 1, 146), transfer(1, 2, 1, 140, 5)],
            codes: vec![InsufficientBalance, FeeNotCovered, Ok],
            expect: vec![(1, 0, 2), (2, 150, 0)],
        },
        Step {
            desc: "amount + fee overflow burns the fee; transfer to self costs just the fee",
            txs: vec![transfer(2, 0, 0, u64::MAX, 1), transfer(2, 2, 1, 100, 7)],
            codes: vec![AmountOverflow, Ok],
            expect: vec![(2, 142, 2), (3, max, 0)],
        },
    ];
    let mut burned = 0;
    for (i, step) in steps.into_iter().enumerate() {
        let height = i as u64 + 1;
        let outcome = ledger.execute(&step.txs, &context(height)).unwrap();
        let codes: Vec<ReasonCode> = outcome.receipts.iter().map(|r| r.code).collect();
        assert_eq!(codes, step.codes, "{}", step.desc);
        for receipt in &outcome.receipts {
            assert_eq!(receipt.status, receipt.code.status());
            assert_eq!(receipt.fee_burned == 0, receipt.status == TxStatus::Rejected || receipt.fee_burned == 0);
            burned += receipt.fee_burned;
        }
        ledger.commit(outcome).unwrap();
        for (who, balance, nonce) in step.expect {
            let account = ledger.account(&address(who), Height(height)).unwrap().unwrap_or_default();
            assert_eq!((account.balance, account.nonce), (balance, nonce), "{}: account {who}", step.desc);
        }
        let chain = ledger.chain_state(Height(height)).unwrap();
        assert_eq!(chain.burned_total, burned, "{}", step.desc);
    }
    let total: u64 = (0..4).map(|i| ledger.account(&address(i), Height(5)).unwrap().unwrap().balance).sum();
    assert_eq!(total, ledger.chain_state(Height(5)).unwrap().supply_circulating(), "supply is conserved");
}

#[test]
fn oversized_transactions_and_blocks_are_refused() {
    let params =
        ConsensusParams { transaction_bytes_max: 170, block_txs_max: 3, block_bytes_max: 1024, ..Default::default() };
    let genesis = genesis_with(&[1_000], params);
    let ledger = Ledger::open(MemKv::new(), &genesis, LedgerConfig::default()).unwrap();
    let at_limit = transfer(0, 1, 0, 1, 1);
    assert!(at_limit.len() <= 170);
    let big = with_key(transfer(0, 1, 0, 1, 1), |tx| tx.chain_id = "x".repeat(60));
    assert!(big.len() > 170);
    let outcome = ledger.execute(&[big, at_limit.clone()], &context(1)).unwrap();
    assert_eq!(outcome.receipts[0].code, ReasonCode::Oversized);
    assert_eq!(outcome.receipts[1].code, ReasonCode::Ok);
    let four = vec![at_limit.clone(); 4];
    assert_eq!(
        ledger.execute(&four, &context(1)).unwrap_err(),
        LedgerError::Block(BlockError::TooManyTransactions { txs: 4, txs_max: 3 })
    );
    let fat = vec![vec![0u8; 600], vec![0u8; 600]];
    assert!(matches!(ledger.execute(&fat, &context(1)), Err(LedgerError::Block(BlockError::TooManyBytes { .. }))));
    assert!(matches!(
        ledger.execute(&[at_limit], &context(2)),
        Err(LedgerError::Block(BlockError::WrongHeight { .. }))
    ));
}

#[test]
fn reopening_reports_the_last_block_and_refuses_another_genesis() {
    let kv = Arc::new(MemKv::new());
    let genesis = genesis(&[1_000]);
    let mut ledger = Ledger::open(kv.clone(), &genesis, LedgerConfig::default()).unwrap();
    let outcome = ledger.execute(&[transfer(0, 1, 0, 10, 1)], &context(1)).unwrap();
    let record = *ledger.commit(outcome).unwrap();
    drop(ledger);
    let reopened = Ledger::open(kv.clone(), &genesis, LedgerConfig::default()).unwrap();
    assert_eq!(*reopened.last_committed(), record);
    let hash = keel_ledger::tx_hash(&transfer(0, 1, 0, 10, 1));
    assert_eq!(reopened.tx_location(&hash).unwrap().map(|l| (l.height, l.index)), Some((Height(1), 0)));
    assert_eq!(reopened.receipts(Height(1)).unwrap().len(), 1);
    let other = common::genesis(&[999]);
    assert!(matches!(Ledger::open(kv, &other, LedgerConfig::default()), Err(LedgerError::GenesisMismatch { .. })));
    let _ = Address::from_bytes([0; 32]);
}

#[test]
fn a_store_of_another_tree_format_is_refused_not_misread() {
    let kv = Arc::new(MemKv::new());
    let genesis = genesis(&[1_000]);
    let jmt = keel_ledger::JmtCommitment;
    let mut ledger = Ledger::open_with(kv.clone(), jmt, &genesis, LedgerConfig::default()).unwrap();
    let outcome = ledger.execute(&[transfer(0, 1, 0, 10, 1)], &context(1)).unwrap();
    ledger.commit(outcome).unwrap();
    drop(ledger);
    match Ledger::open(kv.clone(), &genesis, LedgerConfig::default()) {
        Err(LedgerError::StateFormatMismatch { stored, expected }) => {
            assert_eq!((stored.as_str(), expected), ("jmt-v1", "keel-smt-v4"));
        }
        other => panic!("expected a format mismatch, got {:?}", other.map(|l| *l.last_committed())),
    }
    // The store itself is untouched: the tree it was written with still opens it.
    let jmt = keel_ledger::JmtCommitment;
    assert_eq!(
        Ledger::open_with(kv, jmt, &genesis, LedgerConfig::default()).unwrap().last_committed().height,
        Height(1)
    );
}
