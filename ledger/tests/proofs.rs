//! Proofs: for random states, every present account has an inclusion proof and random absent
//! addresses have non-inclusion proofs, all verified by the pure verifier against the root;
//! flipping any byte of an encoded proof, or changing the root or address, makes it fail.

mod common;

use common::*;
use keel_crypto::Address;
use keel_ledger::{verify_account_proof, AccountProof, Height, Ledger, LedgerConfig, LedgerError, MemKv};
use proptest::prelude::*;

fn ledger_with_blocks(balances: &[u64], transfers: &[(u32, u32, u64)]) -> Ledger<MemKv> {
    let genesis = genesis(balances);
    let mut ledger = Ledger::open(MemKv::new(), &genesis, LedgerConfig::default()).unwrap();
    let mut nonces = vec![0u64; balances.len()];
    let txs: Vec<Vec<u8>> = transfers
        .iter()
        .map(|&(from, to, amount)| {
            let from = from % balances.len() as u32;
            nonces[from as usize] += 1;
            transfer(from, to, nonces[from as usize] - 1, amount, 1)
        })
        .collect();
    let outcome = ledger.execute(&txs, &context(1)).unwrap();
    ledger.commit(outcome).unwrap();
    ledger
}

fn assert_tampering_fails(root: &keel_crypto::Hash, address: &Address, proof: &AccountProof) {
    let bytes = proof.to_bytes();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80] {
            let mut tampered = bytes.clone();
            tampered[i] ^= flip;
            if let Ok(decoded) = AccountProof::from_bytes(&tampered) {
                assert!(verify_account_proof(root, address, &decoded).is_err(), "byte {i} ^ {flip:#x} still verifies");
            }
        }
    }
    let mut root_bytes = *root.as_bytes();
    root_bytes[0] ^= 1;
    assert!(verify_account_proof(&keel_crypto::Hash::from_bytes(root_bytes), address, proof).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn proofs_verify_and_tampering_fails(
        balances in prop::collection::vec(1u64..1_000_000, 1..40),
        transfers in prop::collection::vec((0u32..40, 0u32..80, 0u64..1_000), 0..30),
        absent in prop::collection::vec(any::<[u8; 32]>(), 1..4),
    ) {
        let ledger = ledger_with_blocks(&balances, &transfers);
        let height = Height(1);
        let root = ledger.last_committed().state_root;
        for i in 0..80u32 {
            let address = address(i);
            let proof = ledger.prove_account(&address, height).unwrap();
            let expected = ledger.account(&address, height).unwrap();
            prop_assert_eq!(verify_account_proof(&root, &address, &proof), Ok(expected));
            let decoded = AccountProof::from_bytes(&proof.to_bytes()).unwrap();
            prop_assert_eq!(&decoded, &proof);
            if i % 16 == 0 {
                assert_tampering_fails(&root, &address, &proof);
            }
            // A proof for one address never verifies for another.
            prop_assert!(verify_account_proof(&root, &common::address(i + 1000), &proof).is_err() || proof.account.is_none());
        }
        for bytes in absent {
            let address = Address::from_bytes(bytes);
            let proof = ledger.prove_account(&address, height).unwrap();
            prop_assert_eq!(verify_account_proof(&root, &address, &proof), Ok(None));
            assert_tampering_fails(&root, &address, &proof);
        }
    }
}

#[test]
fn old_heights_stay_provable_until_pruned() {
    let genesis = genesis(&[1_000, 1_000]);
    let config = LedgerConfig { versions_kept_max: 3, ..Default::default() };
    let mut ledger = Ledger::open(MemKv::new(), &genesis, config).unwrap();
    let mut roots = vec![ledger.last_committed().state_root];
    for height in 1..=6u64 {
        let outcome = ledger.execute(&[transfer(0, 1, height - 1, 10, 1)], &context(height)).unwrap();
        roots.push(ledger.commit(outcome).unwrap().state_root);
    }
    assert_eq!(ledger.oldest_kept(), Height(4));
    for height in 4..=6u64 {
        let proof = ledger.prove_account(&address(0), Height(height)).unwrap();
        let account = verify_account_proof(&roots[height as usize], &address(0), &proof).unwrap().unwrap();
        assert_eq!(account.balance, 1_000 - 11 * height);
    }
    assert!(matches!(ledger.prove_account(&address(0), Height(3)), Err(LedgerError::HeightUnavailable { .. })));
    // The height records (roots) of pruned heights are history and stay.
    assert_eq!(ledger.height_record(Height(1)).unwrap().unwrap().state_root, roots[1]);
}
