//! Signatures for simulations: real ed25519, or an explicit fast mode for large runs.
//!
//! The fast scheme signs with a keyed hash, `tagged_hash("keel/sim-fast-sig/v1", secret ‖
//! domain tag ‖ 0 ‖ message)`, and verifies by recomputing it with the signer's secret, which
//! every verifier in the one simulated world may look up (a [`FastRegistry`]). It is not a
//! signature scheme anyone could deploy — whoever can verify can forge — but inside the
//! simulator only a node's own scheme signs for it, so it keeps what the simulation needs:
//! a signature verifies only for the exact (signer, domain, message) it was made for, and a
//! Byzantine node's flipped bits, wrong keys and replays across domains are all rejected. It
//! costs two SHA-256 compressions instead of an ed25519 verification (about 40x cheaper).

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_consensus::{Ed25519Scheme, SignatureScheme};
use keel_crypto::{Keypair, PublicKey, Signature, SigningDomain, TaggedHasher};

/// Which signatures a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureMode {
    /// Real ed25519, exactly as the node signs.
    Ed25519,
    /// The keyed-hash scheme of this module, for large simulations.
    Fast,
}

/// Every validator's secret, by public key: the fast scheme's verification table.
#[derive(Debug, Default)]
pub struct FastRegistry {
    secrets: BTreeMap<PublicKey, [u8; 32]>,
}

impl FastRegistry {
    /// A registry of `keypairs`.
    pub fn new(keypairs: &[Keypair]) -> Arc<Self> {
        Arc::new(FastRegistry { secrets: keypairs.iter().map(|k| (k.public(), *k.secret_bytes())).collect() })
    }
}

/// The fast keyed-hash scheme (see the module docs).
pub struct FastScheme {
    public_key: PublicKey,
    secret: [u8; 32],
    registry: Arc<FastRegistry>,
}

impl FastScheme {
    /// The scheme of `keypair`, verifying against `registry`.
    pub fn new(keypair: &Keypair, registry: Arc<FastRegistry>) -> Self {
        FastScheme { public_key: keypair.public(), secret: *keypair.secret_bytes(), registry }
    }
}

fn fast_signature(secret: &[u8; 32], domain: SigningDomain, message: &[u8]) -> Signature {
    let digest = TaggedHasher::new("keel/sim-fast-sig/v1")
        .chain(secret)
        .chain(domain.tag().as_bytes())
        .chain(&[0])
        .chain(message)
        .finish();
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(digest.as_bytes());
    bytes[32..].copy_from_slice(digest.as_bytes());
    Signature::from_bytes(&bytes)
}

impl SignatureScheme for FastScheme {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn sign(&self, domain: SigningDomain, message: &[u8]) -> Signature {
        fast_signature(&self.secret, domain, message)
    }

    fn verify(&self, signer: &PublicKey, domain: SigningDomain, message: &[u8], signature: &Signature) -> bool {
        let Some(secret) = self.registry.secrets.get(signer) else { return false };
        fast_signature(secret, domain, message).to_bytes() == signature.to_bytes()
    }
}

/// The scheme a node of a run signs and verifies with.
pub fn scheme_for(mode: SignatureMode, keypair: &Keypair, registry: &Arc<FastRegistry>) -> Box<dyn SignatureScheme> {
    match mode {
        SignatureMode::Ed25519 => Box::new(Ed25519Scheme::new(keypair.clone())),
        SignatureMode::Fast => Box::new(FastScheme::new(keypair, registry.clone())),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn fast_signatures_verify_only_what_was_signed_by_whom() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let keys = [Keypair::generate(&mut rng), Keypair::generate(&mut rng)];
        let registry = FastRegistry::new(&keys);
        let a = FastScheme::new(&keys[0], registry.clone());
        let b = FastScheme::new(&keys[1], registry);
        let signature = a.sign(SigningDomain::Vote, b"m");
        assert!(b.verify(&keys[0].public(), SigningDomain::Vote, b"m", &signature));
        assert!(!b.verify(&keys[1].public(), SigningDomain::Vote, b"m", &signature), "wrong signer");
        assert!(!b.verify(&keys[0].public(), SigningDomain::Timeout, b"m", &signature), "wrong domain");
        assert!(!b.verify(&keys[0].public(), SigningDomain::Vote, b"n", &signature), "wrong message");
        let mut flipped = signature.to_bytes();
        flipped[40] ^= 1;
        assert!(!b.verify(&keys[0].public(), SigningDomain::Vote, b"m", &Signature::from_bytes(&flipped)));
        let stranger = Keypair::generate(&mut rng);
        let forged = FastScheme::new(&stranger, FastRegistry::new(&[])).sign(SigningDomain::Vote, b"m");
        assert!(!b.verify(&stranger.public(), SigningDomain::Vote, b"m", &forged), "unknown signer");
    }
}
