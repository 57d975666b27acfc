//! Timeouts and timeout certificates.
//!
//! A validator that gives up on round r signs `(chain_id, r, high_qc.round)` in the `Timeout`
//! domain and broadcasts it with its highest QC. A quorum of timeouts for r forms a
//! [`TimeoutCert`], which moves everyone to round r + 1. The TC keeps each signer's reported QC
//! round and the highest QC itself: a leader that extends a QC below that highest round after
//! the TC would be refused by the vote rule (see `safety.rs`).

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{Hash, PublicKey, Signature, SigningDomain};

use crate::quorum_cert::QuorumCert;
use crate::signing::{timeout_bytes, SignatureScheme};
use crate::types::Round;

/// One validator's signed wish to leave `round`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Timeout {
    /// The round given up on.
    pub round: Round,
    /// The signer's highest QC; its round is below `round`.
    pub high_qc: QuorumCert,
    /// Who times out.
    pub signer: PublicKey,
    /// Signature over `(chain_id, round, high_qc.round)`.
    pub signature: Signature,
}

impl Timeout {
    /// Signs a timeout for `round` carrying `high_qc`. Callers must have passed the safety rules.
    pub fn make(scheme: &dyn SignatureScheme, chain_id: &Hash, round: Round, high_qc: QuorumCert) -> Timeout {
        assert!(high_qc.round < round, "a timeout's QC is from an earlier round");
        let signature = scheme.sign(SigningDomain::Timeout, &timeout_bytes(chain_id, round, high_qc.round));
        Timeout { round, high_qc, signer: scheme.public_key(), signature }
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self, chain_id: &Hash) -> Vec<u8> {
        timeout_bytes(chain_id, self.round, self.high_qc.round)
    }
}

/// One signer's part of a timeout certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TimeoutSignature {
    /// The signer.
    pub signer: PublicKey,
    /// The round of the QC it reported.
    pub high_qc_round: Round,
    /// Its signature over `(chain_id, round, high_qc_round)`.
    pub signature: Signature,
}

/// A quorum of timeouts for one round.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TimeoutCert {
    /// The round that timed out.
    pub round: Round,
    /// The highest QC among the timeouts; its round is the highest `high_qc_round` below.
    pub high_qc: QuorumCert,
    /// The timeouts, sorted by signer key, strictly ascending.
    pub timeouts: Vec<TimeoutSignature>,
}

impl TimeoutCert {
    /// Builds the canonical certificate from timeouts for one round, keyed by signer. The
    /// caller has checked that they form a quorum.
    pub fn from_timeouts(timeouts: &BTreeMap<PublicKey, Timeout>) -> TimeoutCert {
        let first = timeouts.values().next().expect("a quorum has at least one timeout");
        assert!(timeouts.values().all(|t| t.round == first.round), "a TC is formed from timeouts for one round");
        let high_qc = timeouts
            .values()
            .map(|t| &t.high_qc)
            .max_by_key(|qc| qc.round)
            .expect("a quorum has at least one timeout")
            .clone();
        TimeoutCert {
            round: first.round,
            high_qc,
            timeouts: timeouts
                .values()
                .map(|t| TimeoutSignature { signer: t.signer, high_qc_round: t.high_qc.round, signature: t.signature })
                .collect(),
        }
    }

    /// The round of the highest QC its signers reported.
    pub fn high_qc_round(&self) -> Round {
        self.high_qc.round
    }
}
