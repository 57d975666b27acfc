//! Votes: a validator's signed statement that a block is safe to extend.
//!
//! A vote for block B signs `(chain_id, B.id, B.round, B.height)` in the `Vote` domain and goes
//! to the leader of round `B.round + 1`, which gathers a quorum of them into a
//! [`QuorumCert`](crate::QuorumCert).

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{Hash, PublicKey, Signature, SigningDomain};

use crate::block::Block;
use crate::signing::{vote_bytes, SignatureScheme};
use crate::types::{BlockId, Height, Round};

/// One validator's vote for one block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// The block voted for.
    pub block_id: BlockId,
    /// Its round.
    pub round: Round,
    /// Its height.
    pub height: Height,
    /// Who votes.
    pub voter: PublicKey,
    /// The voter's signature (see the module docs).
    pub signature: Signature,
}

impl Vote {
    /// Signs a vote for `block` (whose id is `block_id`) as `scheme`'s key. Callers must have
    /// passed the safety rules first.
    pub fn make(scheme: &dyn SignatureScheme, chain_id: &Hash, block_id: BlockId, block: &Block) -> Vote {
        let signature = scheme.sign(SigningDomain::Vote, &vote_bytes(chain_id, &block_id, block.round, block.height));
        Vote { block_id, round: block.round, height: block.height, voter: scheme.public_key(), signature }
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self, chain_id: &Hash) -> Vec<u8> {
        vote_bytes(chain_id, &self.block_id, self.round, self.height)
    }
}
