//! Quorum certificates: a quorum of votes for one block.
//!
//! Canonical form: the votes are sorted by voter key, strictly ascending, so one set of votes has
//! exactly one encoding and a repeated voter is visible as a non-increasing neighbour. A QC is
//! valid when every voter is a validator, their power is a quorum, and every signature verifies
//! over `(chain_id, block_id, round, height)` (checked by `Verifier::verify_qc`).
//!
//! The genesis QC is the one exception: round 0, no votes, certifying the genesis block by
//! definition.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{tagged_hash, Hash, PublicKey, Signature};

use crate::types::{BlockId, Height, Round};
use crate::vote::Vote;

/// One voter's signature inside a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct VoteSignature {
    /// The voter.
    pub voter: PublicKey,
    /// Its signature over the certified block's vote bytes.
    pub signature: Signature,
}

/// A quorum of votes for one block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct QuorumCert {
    /// The certified block.
    pub block_id: BlockId,
    /// Its round.
    pub round: Round,
    /// Its height.
    pub height: Height,
    /// The votes, sorted by voter key, strictly ascending.
    pub votes: Vec<VoteSignature>,
}

impl QuorumCert {
    /// A certificate without votes: the genesis QC, or the virtual QC inside the genesis block.
    pub fn unsigned(block_id: BlockId, round: Round, height: Height) -> QuorumCert {
        QuorumCert { block_id, round, height, votes: Vec::new() }
    }

    /// Builds the canonical certificate from votes for one block (keyed by voter, so already
    /// distinct and sorted). The caller has checked that they form a quorum.
    pub fn from_votes(votes: &BTreeMap<PublicKey, Vote>) -> QuorumCert {
        let first = votes.values().next().expect("a quorum has at least one vote");
        assert!(
            votes.values().all(|v| (v.block_id, v.round, v.height) == (first.block_id, first.round, first.height)),
            "a QC is formed from votes for one block"
        );
        QuorumCert {
            block_id: first.block_id,
            round: first.round,
            height: first.height,
            votes: votes.values().map(|v| VoteSignature { voter: v.voter, signature: v.signature }).collect(),
        }
    }

    /// A digest of the whole certificate, signatures included; identifies it in caches.
    pub fn digest(&self) -> Hash {
        tagged_hash("keel/quorum-cert/v1", &borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail"))
    }
}
