//! Gathering ledger certificates: this validator signs the state after each height it executes,
//! sends the signature to every peer, and collects theirs until a quorum by power signs one
//! [`LedgerInfo`] (see [`keel_ledger::certificate`]).
//!
//! Memory is bounded: signatures are kept only for heights from [`WINDOW`] below to [`WINDOW`]
//! above this node's executed height, one per validator and height (a second one from the same
//! validator is ignored). A peer whose signed state differs from ours at a height we executed is
//! logged: with deterministic execution that means a bug or a fault, and operators must see it.

use std::collections::BTreeMap;

use keel_crypto::{Hash, Keypair, PublicKey};
use keel_ledger::{Committee, Height, LedgerCertificate, LedgerInfo, LedgerSignature};
use tracing::{info, warn};

/// How far from the executed height signatures are kept.
pub const WINDOW: u64 = 256;

/// Signatures gathered for one height.
#[derive(Debug, Default)]
struct HeightVotes {
    /// Statements by digest, with who signed each.
    statements: BTreeMap<Hash, (LedgerInfo, BTreeMap<PublicKey, LedgerSignature>)>,
    /// Which statement each validator signed.
    signers: BTreeMap<PublicKey, Hash>,
}

/// What happened to a signature.
#[derive(Debug, PartialEq)]
pub enum Gathered {
    /// Kept (or ignored as a duplicate or out of the window); no certificate yet.
    Pending,
    /// The signature completed a quorum.
    Certified(LedgerCertificate),
    /// Refused: not a validator, or the signature does not verify.
    Invalid,
}

/// The gatherer.
pub struct Certifier {
    keypair: Keypair,
    committee: Committee,
    heights: BTreeMap<Height, HeightVotes>,
    /// Our own statements, for spotting divergence.
    own: BTreeMap<Height, Hash>,
    executed: Height,
}

impl Certifier {
    /// A gatherer signing with `keypair` for `committee`, on a ledger executed to `executed`.
    pub fn new(keypair: Keypair, committee: Committee, executed: Height) -> Self {
        Certifier { keypair, committee, heights: BTreeMap::new(), own: BTreeMap::new(), executed }
    }

    /// The chain this node certifies for.
    pub fn chain_id(&self) -> &str {
        self.committee.chain_id()
    }

    /// This node executed `info.height`: signs it and counts its own signature. Returns the
    /// signature to send to peers and a certificate if ours completed a quorum.
    pub fn on_executed(&mut self, info: LedgerInfo) -> (LedgerSignature, Option<LedgerCertificate>) {
        self.executed = self.executed.max(info.height);
        self.own.insert(info.height, info.digest());
        let signature = LedgerSignature::sign(&self.keypair, &info);
        let certificate = match self.add(info, signature) {
            Gathered::Certified(certificate) => Some(certificate),
            _ => None,
        };
        self.prune();
        (signature, certificate)
    }

    /// A peer's signature.
    pub fn on_signature(&mut self, info: LedgerInfo, signature: LedgerSignature) -> Gathered {
        if info.chain_id != self.committee.chain_id() || self.committee.power_of(&signature.signer).is_none() {
            return Gathered::Invalid;
        }
        let in_window = info.height.0.saturating_add(WINDOW) >= self.executed.0
            && info.height.0 <= self.executed.0.saturating_add(WINDOW);
        if !in_window {
            return Gathered::Pending;
        }
        // One statement per validator and height: a second one is dropped before any work, so a
        // faulty validator cannot make us verify or log without bound.
        if self.heights.get(&info.height).is_some_and(|votes| votes.signers.contains_key(&signature.signer)) {
            return Gathered::Pending;
        }
        if !signature.verify(&info) {
            return Gathered::Invalid;
        }
        if let Some(own) = self.own.get(&info.height) {
            if *own != info.digest() {
                warn!(
                    height = info.height.0,
                    signer = %signature.signer,
                    their_root = %info.state_root,
                    "a validator signed a different state for a height this node executed"
                );
            }
        }
        self.add(info, signature)
    }

    fn add(&mut self, info: LedgerInfo, signature: LedgerSignature) -> Gathered {
        let height = info.height;
        let digest = info.digest();
        let votes = self.heights.entry(height).or_default();
        if votes.signers.contains_key(&signature.signer) {
            return Gathered::Pending;
        }
        votes.signers.insert(signature.signer, digest);
        let (info, signatures) = votes.statements.entry(digest).or_insert_with(|| (info, BTreeMap::new()));
        signatures.insert(signature.signer, signature);
        let power: u64 = signatures.keys().filter_map(|key| self.committee.power_of(key)).sum();
        if power < self.committee.quorum_power() {
            return Gathered::Pending;
        }
        let certificate = LedgerCertificate { info: info.clone(), signatures: signatures.values().copied().collect() };
        self.heights.remove(&height);
        if height.0 % 1000 == 0 {
            info!(height = height.0, "ledger certified");
        }
        Gathered::Certified(certificate)
    }

    fn prune(&mut self) {
        let floor = Height(self.executed.0.saturating_sub(WINDOW));
        self.heights = self.heights.split_off(&floor);
        self.own = self.own.split_off(&floor);
    }
}

#[cfg(test)]
mod tests {
    use keel_crypto::tagged_hash;
    use keel_genesis::GenesisBuilder;

    use super::*;

    fn key(i: u8) -> Keypair {
        Keypair::from_secret_bytes(tagged_hash("certify-test", &[i]).as_bytes())
    }

    fn committee() -> Committee {
        let mut builder = GenesisBuilder::new("c", 1);
        for i in 0..4u8 {
            builder = builder.validator(format!("v{i}"), &key(i).public(), format!("127.0.0.1:{}", 1 + i), 1);
        }
        Committee::from_genesis(&builder.build().unwrap())
    }

    fn info(height: u64, root: &[u8]) -> LedgerInfo {
        LedgerInfo {
            chain_id: "c".into(),
            height: Height(height),
            block_id: Hash::sha256(&height.to_le_bytes()),
            state_root: Hash::sha256(root),
            receipts_hash: Hash::ZERO,
        }
    }

    #[test]
    fn three_of_four_matching_signatures_certify_once() {
        let mut certifier = Certifier::new(key(0), committee(), Height(0));
        let (own, certificate) = certifier.on_executed(info(5, b"r"));
        assert!(certificate.is_none());
        assert_eq!(own.signer, key(0).public());
        let sign = |i: u8, info: &LedgerInfo| LedgerSignature::sign(&key(i), info);
        assert_eq!(certifier.on_signature(info(5, b"r"), sign(1, &info(5, b"r"))), Gathered::Pending);
        // The same validator again, and one signing another root, add nothing.
        assert_eq!(certifier.on_signature(info(5, b"r"), sign(1, &info(5, b"r"))), Gathered::Pending);
        assert_eq!(certifier.on_signature(info(5, b"x"), sign(2, &info(5, b"x"))), Gathered::Pending);
        assert_eq!(certifier.on_signature(info(5, b"r"), sign(2, &info(5, b"r"))), Gathered::Pending);
        let Gathered::Certified(certificate) = certifier.on_signature(info(5, b"r"), sign(3, &info(5, b"r"))) else {
            panic!("three matching signatures of four validators are a quorum");
        };
        keel_ledger::verify_certificate(&certificate, &committee()).expect("the certificate verifies");
        assert_eq!(certificate.signatures.len(), 3);
    }

    #[test]
    fn forged_foreign_and_far_signatures_are_not_counted() {
        let mut certifier = Certifier::new(key(0), committee(), Height(0));
        certifier.on_executed(info(1, b"r"));
        let mut forged = LedgerSignature::sign(&key(1), &info(1, b"r"));
        forged.signature = key(1).sign(keel_crypto::SigningDomain::Vote, &info(1, b"r").signing_bytes());
        assert_eq!(certifier.on_signature(info(1, b"r"), forged), Gathered::Invalid);
        assert_eq!(
            certifier.on_signature(info(1, b"r"), LedgerSignature::sign(&key(9), &info(1, b"r"))),
            Gathered::Invalid
        );
        let far = info(1 + WINDOW + 1, b"r");
        assert_eq!(certifier.on_signature(far.clone(), LedgerSignature::sign(&key(1), &far)), Gathered::Pending);
        assert!(!certifier.heights.contains_key(&far.height), "signatures far ahead are not kept");
    }
}
