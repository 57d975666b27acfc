//! Ledger certificates: 2f+1 validators' signatures over the state after a committed height.
//!
//! Consensus orders opaque payloads and never sees a state root, so a root is certified after
//! execution, as Aptos and Diem do with `LedgerInfoWithSignatures`: every validator, having
//! executed the block at height h, signs a [`LedgerInfo`] (chain id, height, block id, state
//! root, receipts hash) in the `keel/ledger-info/v1` domain and sends it to the others. More than
//! two thirds of the voting power signing the same `LedgerInfo` is a [`LedgerCertificate`].
//!
//! Execution is deterministic, so honest validators sign the same `LedgerInfo` for a height; a
//! certificate therefore says "at least one honest validator executed the committed chain to this
//! root". A wallet that holds only the genesis validator set checks a certificate with
//! [`verify_certificate`] and an account with [`verify_certified_account`], trusting nothing the
//! node says.
//!
//! Signed bytes: `"keel/ledger-info/v1" ‖ 0x00 ‖ borsh(LedgerInfo)`, where borsh writes the
//! chain id as a u32 little-endian length and its UTF-8 bytes, the height as a u64
//! little-endian, and each hash as its 32 raw bytes, in field order.

use std::collections::{BTreeMap, BTreeSet};

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{Address, Hash, PublicKey, Signature, SigningDomain};
use keel_genesis::Genesis;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::account::Account;
use crate::height::Height;
use crate::proof::{verify_account_proof, AccountProof, ProofError};

/// Most signatures a certificate may carry (larger ones are refused before any check).
pub const CERTIFICATE_SIGNATURES_MAX: usize = 1024;

/// What a validator states about a committed height.
#[derive(Debug, Clone, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct LedgerInfo {
    /// The chain.
    pub chain_id: String,
    /// The committed height.
    pub height: Height,
    /// The id of the consensus block committed at that height.
    pub block_id: Hash,
    /// The state root after executing it.
    pub state_root: Hash,
    /// The hash of its receipts.
    pub receipts_hash: Hash,
}

impl LedgerInfo {
    /// The message bytes a signature covers (before the domain tag).
    pub fn signing_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh into a Vec cannot fail")
    }

    /// A digest naming this statement, for grouping signatures.
    pub fn digest(&self) -> Hash {
        keel_crypto::tagged_hash("keel/ledger-info-digest/v1", &self.signing_bytes())
    }
}

/// One validator's signature over a [`LedgerInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct LedgerSignature {
    /// The validator.
    pub signer: PublicKey,
    /// Its signature in the `LedgerInfo` domain.
    pub signature: Signature,
}

impl LedgerSignature {
    /// Signs `info` with `keypair`.
    pub fn sign(keypair: &keel_crypto::Keypair, info: &LedgerInfo) -> Self {
        LedgerSignature {
            signer: keypair.public(),
            signature: keypair.sign(SigningDomain::LedgerInfo, &info.signing_bytes()),
        }
    }

    /// Whether the signature is `signer`'s over `info`.
    pub fn verify(&self, info: &LedgerInfo) -> bool {
        self.signer.verify(SigningDomain::LedgerInfo, &info.signing_bytes(), &self.signature).is_ok()
    }
}

/// A [`LedgerInfo`] signed by a quorum of validators.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct LedgerCertificate {
    /// The statement.
    pub info: LedgerInfo,
    /// The signatures, ordered by signer.
    pub signatures: Vec<LedgerSignature>,
}

/// The validator set a certificate is checked against: keys and voting powers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committee {
    chain_id: String,
    powers: BTreeMap<PublicKey, u64>,
    total: u64,
}

impl Committee {
    /// The genesis validator set.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let powers: BTreeMap<PublicKey, u64> = genesis.validators().iter().map(|v| (v.public_key, v.power)).collect();
        let total = powers.values().sum();
        Committee { chain_id: genesis.chain_id().to_owned(), powers, total }
    }

    /// The smallest power that is a quorum: more than two thirds of the total (the same rule
    /// as consensus).
    pub fn quorum_power(&self) -> u64 {
        (u128::from(self.total) * 2 / 3) as u64 + 1
    }

    /// The power of `key`, if it is a validator.
    pub fn power_of(&self, key: &PublicKey) -> Option<u64> {
        self.powers.get(key).copied()
    }

    /// The chain this committee signs for.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }
}

/// Why a certificate or a certified answer does not hold. All permanent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    /// Signed for another chain.
    #[error("certificate is for chain {found:?}, expected {expected:?}")]
    WrongChain {
        /// The chain in the certificate.
        found: String,
        /// The chain the committee signs for.
        expected: String,
    },
    /// More signatures than any committee can have.
    #[error("certificate carries {0} signatures, at most {CERTIFICATE_SIGNATURES_MAX} are accepted")]
    TooManySignatures(usize),
    /// A signer is not a validator.
    #[error("signer {0} is not a validator")]
    UnknownSigner(Box<PublicKey>),
    /// A signer appears twice.
    #[error("signer {0} appears twice")]
    DuplicateSigner(Box<PublicKey>),
    /// A signature does not verify.
    #[error("signature of {0} does not verify")]
    BadSignature(Box<PublicKey>),
    /// The signers' power is not a quorum.
    #[error("signers hold power {power}, a quorum needs {needed}")]
    NoQuorum {
        /// The power that signed.
        power: u64,
        /// The quorum.
        needed: u64,
    },
    /// The certificate is for another height than the answer it comes with.
    #[error("certificate is for height {certified}, the answer for height {answered}")]
    HeightMismatch {
        /// The certified height.
        certified: Height,
        /// The height of the answer.
        answered: Height,
    },
    /// The account proof does not hold against the certified root.
    #[error("account proof: {0}")]
    Proof(#[from] ProofError),
}

/// Checks that `certificate` is signed by a quorum of `committee` for its chain.
pub fn verify_certificate(certificate: &LedgerCertificate, committee: &Committee) -> Result<(), CertificateError> {
    if certificate.info.chain_id != committee.chain_id {
        return Err(CertificateError::WrongChain {
            found: certificate.info.chain_id.clone(),
            expected: committee.chain_id.clone(),
        });
    }
    if certificate.signatures.len() > CERTIFICATE_SIGNATURES_MAX {
        return Err(CertificateError::TooManySignatures(certificate.signatures.len()));
    }
    let message = certificate.info.signing_bytes();
    let mut seen = BTreeSet::new();
    let mut power = 0u64;
    for entry in &certificate.signatures {
        let signer_power =
            committee.power_of(&entry.signer).ok_or_else(|| CertificateError::UnknownSigner(Box::new(entry.signer)))?;
        if !seen.insert(entry.signer) {
            return Err(CertificateError::DuplicateSigner(Box::new(entry.signer)));
        }
        entry
            .signer
            .verify(SigningDomain::LedgerInfo, &message, &entry.signature)
            .map_err(|_| CertificateError::BadSignature(Box::new(entry.signer)))?;
        power = power.saturating_add(signer_power);
    }
    let needed = committee.quorum_power();
    if power < needed {
        return Err(CertificateError::NoQuorum { power, needed });
    }
    Ok(())
}

/// Checks a node's answer about `address`: the certificate against `committee`, then the proof
/// against the certified state root. Returns the proven account (`None`: it does not exist).
pub fn verify_certified_account(
    committee: &Committee,
    certificate: &LedgerCertificate,
    address: &Address,
    height: Height,
    proof: &AccountProof,
) -> Result<Option<Account>, CertificateError> {
    verify_certificate(certificate, committee)?;
    if certificate.info.height != height {
        return Err(CertificateError::HeightMismatch { certified: certificate.info.height, answered: height });
    }
    Ok(verify_account_proof(&certificate.info.state_root, address, proof)?)
}
