//! Ledger certificates: a quorum of the genesis validators' signatures over a height's state,
//! and the certified account answer a wallet checks with nothing but the validator set.

mod common;

use common::{address, key, CHAIN_ID};
use keel_crypto::{Hash, Keypair};
use keel_genesis::{Genesis, GenesisBuilder};
use keel_ledger::certificate::{
    verify_certificate, verify_certified_account, CertificateError, Committee, LedgerCertificate, LedgerInfo,
    LedgerSignature,
};
use keel_ledger::{Height, Ledger, LedgerConfig, MemKv};

/// Four validators with powers 1, 1, 1, 2 (total 5, quorum 4).
fn genesis() -> Genesis {
    let mut builder = GenesisBuilder::new(CHAIN_ID, 1_700_000_000_000);
    for (i, power) in [1u64, 1, 1, 2].iter().enumerate() {
        builder =
            builder.validator(format!("v{i}"), &validator(i).public(), format!("127.0.0.1:{}", 26600 + i), *power);
    }
    builder.account(&address(0), 1_000).build().expect("valid genesis")
}

fn validator(i: usize) -> Keypair {
    key(20_000 + i as u32)
}

fn info(state_root: Hash) -> LedgerInfo {
    LedgerInfo {
        chain_id: CHAIN_ID.into(),
        height: Height(0),
        block_id: Hash::sha256(b"block"),
        state_root,
        receipts_hash: Hash::sha256(b"receipts"),
    }
}

fn certificate(info: &LedgerInfo, signers: &[usize]) -> LedgerCertificate {
    LedgerCertificate {
        info: info.clone(),
        signatures: signers.iter().map(|&i| LedgerSignature::sign(&validator(i), info)).collect(),
    }
}

#[test]
fn a_quorum_by_power_certifies_and_less_does_not() {
    let committee = Committee::from_genesis(&genesis());
    assert_eq!(committee.quorum_power(), 4);
    let info = info(Hash::sha256(b"root"));
    assert_eq!(verify_certificate(&certificate(&info, &[0, 1, 3]), &committee), Ok(()));
    assert_eq!(verify_certificate(&certificate(&info, &[0, 1, 2, 3]), &committee), Ok(()));
    assert_eq!(
        verify_certificate(&certificate(&info, &[0, 1, 2]), &committee),
        Err(CertificateError::NoQuorum { power: 3, needed: 4 })
    );
}

#[test]
fn forged_duplicated_foreign_and_cross_chain_signatures_are_refused() {
    let committee = Committee::from_genesis(&genesis());
    let info = info(Hash::sha256(b"root"));

    let mut tampered = certificate(&info, &[0, 1, 3]);
    tampered.info.state_root = Hash::sha256(b"another root");
    assert!(matches!(verify_certificate(&tampered, &committee), Err(CertificateError::BadSignature(_))));

    let duplicated = certificate(&info, &[3, 3]);
    assert_eq!(
        verify_certificate(&duplicated, &committee),
        Err(CertificateError::DuplicateSigner(Box::new(validator(3).public())))
    );

    let mut foreign = certificate(&info, &[0, 1, 3]);
    foreign.signatures.push(LedgerSignature::sign(&key(99), &info));
    assert_eq!(
        verify_certificate(&foreign, &committee),
        Err(CertificateError::UnknownSigner(Box::new(key(99).public())))
    );

    let mut other_chain = info.clone();
    other_chain.chain_id = "another-chain".into();
    assert!(matches!(
        verify_certificate(&certificate(&other_chain, &[0, 1, 2, 3]), &committee),
        Err(CertificateError::WrongChain { .. })
    ));

    // A signature in another domain over the same bytes is no ledger signature.
    let mut wrong_domain = certificate(&info, &[0, 1, 3]);
    wrong_domain.signatures[2].signature = validator(3).sign(keel_crypto::SigningDomain::Vote, &info.signing_bytes());
    assert!(matches!(verify_certificate(&wrong_domain, &committee), Err(CertificateError::BadSignature(_))));
}

#[test]
fn a_certified_account_answer_verifies_and_a_tampered_one_does_not() {
    let genesis = genesis();
    let committee = Committee::from_genesis(&genesis);
    let ledger = Ledger::open(MemKv::default(), &genesis, LedgerConfig::default()).expect("ledger opens");
    let root = ledger.last_committed().state_root;
    let certified = certificate(&info(root), &[0, 1, 3]);

    let proof = ledger.prove_account(&address(0), Height(0)).expect("proof");
    let account = verify_certified_account(&committee, &certified, &address(0), Height(0), &proof).expect("verifies");
    assert_eq!(account.map(|a| a.balance), Some(1_000));

    let absent = ledger.prove_account(&address(7), Height(0)).expect("proof");
    assert_eq!(verify_certified_account(&committee, &certified, &address(7), Height(0), &absent), Ok(None));

    let mut richer = proof.clone();
    richer.account.as_mut().expect("exists").balance += 1;
    assert!(matches!(
        verify_certified_account(&committee, &certified, &address(0), Height(0), &richer),
        Err(CertificateError::Proof(_))
    ));
    assert!(matches!(
        verify_certified_account(&committee, &certified, &address(0), Height(1), &proof),
        Err(CertificateError::HeightMismatch { .. })
    ));
    let mut wrong_root = certificate(&info(Hash::sha256(b"not the root")), &[0, 1, 3]);
    assert!(matches!(
        verify_certified_account(&committee, &wrong_root, &address(0), Height(0), &proof),
        Err(CertificateError::Proof(_))
    ));
    wrong_root.signatures.pop();
    assert!(matches!(
        verify_certified_account(&committee, &wrong_root, &address(0), Height(0), &proof),
        Err(CertificateError::NoQuorum { .. })
    ));
}
