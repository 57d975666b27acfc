//! How consensus signs and checks signatures, behind one small trait.
//!
//! [`SignatureScheme`] is the only way the core touches signatures. [`Ed25519Scheme`] is the
//! real one (crypto's domain-separated ed25519 and batch verification). A simulator of 100
//! validators may plug in a cheap keyed-hash scheme instead; it must still reject every
//! signature its signer did not make, so Byzantine forgeries are caught either way.
//!
//! What each kind of message signs (borsh of the tuple, in the given crypto domain):
//!
//! | message | domain | signed tuple |
//! |---|---|---|
//! | proposal | `Proposal` | `(chain_id, block_id, round)` |
//! | vote | `Vote` | `(chain_id, block_id, round, height)` |
//! | timeout | `Timeout` | `(chain_id, round, high_qc_round)` |
//!
//! Binding `chain_id` means a signature from one chain never verifies on another.

use keel_crypto::{verify_batch, BatchFailure, Hash, Keypair, PublicKey, Signature, SignedMessage, SigningDomain};

use crate::types::{BlockId, Height, Round};

/// Signs as this node and verifies other nodes' signatures.
pub trait SignatureScheme: Send {
    /// This node's public key: the one its signatures verify under.
    fn public_key(&self) -> PublicKey;

    /// Signs `message` in `domain`.
    fn sign(&self, domain: SigningDomain, message: &[u8]) -> Signature;

    /// Whether `signature` by `signer` over `message` in `domain` is valid.
    fn verify(&self, signer: &PublicKey, domain: SigningDomain, message: &[u8], signature: &Signature) -> bool;

    /// Checks every item; on failure names the bad positions, ascending. The default checks
    /// them one by one.
    fn verify_batch(&self, items: &[SignedMessage<'_>]) -> Result<(), BatchFailure> {
        let invalid: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| !self.verify(item.public_key, item.domain, item.message, item.signature))
            .map(|(index, _)| index)
            .collect();
        if invalid.is_empty() {
            Ok(())
        } else {
            Err(BatchFailure { invalid })
        }
    }
}

/// The production scheme: ed25519 with crypto's domain separation and batch verification.
#[derive(Debug, Clone)]
pub struct Ed25519Scheme {
    keypair: Keypair,
}

impl Ed25519Scheme {
    /// Signs with `keypair`.
    pub fn new(keypair: Keypair) -> Self {
        Ed25519Scheme { keypair }
    }
}

impl SignatureScheme for Ed25519Scheme {
    fn public_key(&self) -> PublicKey {
        self.keypair.public()
    }

    fn sign(&self, domain: SigningDomain, message: &[u8]) -> Signature {
        self.keypair.sign(domain, message)
    }

    fn verify(&self, signer: &PublicKey, domain: SigningDomain, message: &[u8], signature: &Signature) -> bool {
        signer.verify(domain, message, signature).is_ok()
    }

    fn verify_batch(&self, items: &[SignedMessage<'_>]) -> Result<(), BatchFailure> {
        verify_batch(items)
    }
}

/// The bytes a proposer signs for a block.
pub fn proposal_bytes(chain_id: &Hash, block_id: &BlockId, round: Round) -> Vec<u8> {
    borsh::to_vec(&(chain_id, block_id, round)).expect("borsh encoding into a Vec cannot fail")
}

/// The bytes a voter signs for a block.
pub fn vote_bytes(chain_id: &Hash, block_id: &BlockId, round: Round, height: Height) -> Vec<u8> {
    borsh::to_vec(&(chain_id, block_id, round, height)).expect("borsh encoding into a Vec cannot fail")
}

/// The bytes a validator signs when it gives up on a round, with the round of its highest QC.
pub fn timeout_bytes(chain_id: &Hash, round: Round, high_qc_round: Round) -> Vec<u8> {
    borsh::to_vec(&(chain_id, round, high_qc_round)).expect("borsh encoding into a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn signatures_bind_the_chain_id() {
        let scheme = Ed25519Scheme::new(Keypair::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1)));
        let block = BlockId(Hash::ZERO);
        let chain_a = vote_bytes(&Hash::sha256(b"a"), &block, Round(1), Height(1));
        let chain_b = vote_bytes(&Hash::sha256(b"b"), &block, Round(1), Height(1));
        let signature = scheme.sign(SigningDomain::Vote, &chain_a);
        assert!(scheme.verify(&scheme.public_key(), SigningDomain::Vote, &chain_a, &signature));
        assert!(!scheme.verify(&scheme.public_key(), SigningDomain::Vote, &chain_b, &signature));
        assert!(!scheme.verify(&scheme.public_key(), SigningDomain::Proposal, &chain_a, &signature));
    }

    #[test]
    fn default_batch_names_the_bad_items() {
        struct OneByOne(Ed25519Scheme);
        impl SignatureScheme for OneByOne {
            fn public_key(&self) -> PublicKey {
                self.0.public_key()
            }
            fn sign(&self, domain: SigningDomain, message: &[u8]) -> Signature {
                self.0.sign(domain, message)
            }
            fn verify(&self, signer: &PublicKey, domain: SigningDomain, message: &[u8], sig: &Signature) -> bool {
                self.0.verify(signer, domain, message, sig)
            }
        }
        let scheme = OneByOne(Ed25519Scheme::new(Keypair::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(2))));
        let key = scheme.public_key();
        let good = scheme.sign(SigningDomain::Timeout, b"m");
        let bad = scheme.sign(SigningDomain::Timeout, b"other");
        let item =
            |signature| SignedMessage { domain: SigningDomain::Timeout, message: b"m", public_key: &key, signature };
        assert_eq!(
            scheme.verify_batch(&[item(&good), item(&bad), item(&good)]),
            Err(BatchFailure { invalid: vec![1] })
        );
    }
}
