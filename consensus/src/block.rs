//! Blocks and proposals.
//!
//! A block names its parent by hash and carries the parent's quorum certificate, so a chain of
//! blocks is also a chain of certificates. Its identifier is
//! `tagged_hash("keel/block/v1", borsh(block))`.
//!
//! Shape rules every block must meet, whatever the round (checked by [`Block::verify_shape`];
//! signatures and the vote rule are checked elsewhere):
//! - `parent == qc.block_id`, `height == qc.height + 1`, `round > qc.round`;
//! - a TC, when present, is for the round just before: `tc.round + 1 == round`;
//! - the state commitment is below the block (`state.height < height`);
//! - the payload is within `block_txs_max` transactions and `block_payload_bytes_max` bytes.

use std::ops::Deref;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{tagged_hash, Hash, PublicKey, Signature};

use crate::config::Config;
use crate::error::VerifyError;
use crate::quorum_cert::QuorumCert;
use crate::timeout::TimeoutCert;
use crate::types::{BlockId, Height, Round};
use crate::validators::ValidatorSet;

/// The ordered, opaque transactions of a block. Consensus never interprets them.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Payload {
    /// Transactions in block order.
    pub transactions: Vec<Vec<u8>>,
}

impl Payload {
    /// Total bytes of the transactions (without length prefixes).
    pub fn bytes(&self) -> u64 {
        self.transactions.iter().map(|tx| tx.len() as u64).sum()
    }

    /// Refuses a payload over the configured limits.
    pub fn verify_limits(&self, config: &Config) -> Result<(), VerifyError> {
        let transactions = self.transactions.len() as u64;
        let bytes = self.bytes();
        if transactions > u64::from(config.block_txs_max) || bytes > config.block_payload_bytes_max {
            return Err(VerifyError::PayloadTooLarge {
                transactions,
                bytes,
                transactions_max: config.block_txs_max,
                bytes_max: config.block_payload_bytes_max,
            });
        }
        Ok(())
    }
}

/// The environment's state after executing the committed chain up to `height`. Opaque to
/// consensus: the leader receives it with its payload and the application may check it when it
/// validates the block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StateCommitment {
    /// The committed height the root belongs to.
    pub height: Height,
    /// The state root.
    pub root: Hash,
}

/// A block of the chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// The parent's id; equals `qc.block_id`.
    pub parent: BlockId,
    /// The round it was proposed in.
    pub round: Round,
    /// Its height: the parent's plus one.
    pub height: Height,
    /// The leader that proposed it.
    pub proposer: PublicKey,
    /// Its transactions.
    pub payload: Payload,
    /// The application state it was built on.
    pub state: StateCommitment,
    /// The certificate of the parent.
    pub qc: QuorumCert,
    /// The timeout certificate of the previous round, when the parent is not from it.
    pub tc: Option<TimeoutCert>,
}

impl Block {
    /// The genesis block of a chain: round 0, height 0, empty, proposed by the first validator.
    /// Its (virtual) parent hashes the chain id with the validator set, so every chain and every
    /// validator set has its own genesis.
    pub fn genesis(chain_id: &Hash, validators: &ValidatorSet) -> Block {
        let mut seed = chain_id.as_bytes().to_vec();
        seed.extend_from_slice(validators.digest().as_bytes());
        let parent = BlockId(tagged_hash("keel/genesis-parent/v1", &seed));
        Block {
            parent,
            round: Round::ZERO,
            height: Height::ZERO,
            proposer: validators.members()[0].public_key,
            payload: Payload::default(),
            state: StateCommitment::default(),
            qc: QuorumCert::unsigned(parent, Round::ZERO, Height::ZERO),
            tc: None,
        }
    }

    /// The block's identifier (see the module docs).
    pub fn id(&self) -> BlockId {
        BlockId(tagged_hash("keel/block/v1", &borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail")))
    }

    /// Checks the shape rules in the module docs.
    pub fn verify_shape(&self, config: &Config) -> Result<(), VerifyError> {
        if self.parent != self.qc.block_id {
            return Err(VerifyError::WrongParent { parent: self.parent, certified: self.qc.block_id });
        }
        let expected = self.qc.height.next();
        if self.height != expected {
            return Err(VerifyError::WrongHeight { height: self.height, expected });
        }
        if self.round <= self.qc.round {
            return Err(VerifyError::WrongRound {
                what: "block round above its QC's",
                round: self.round,
                expected: self.qc.round.next(),
            });
        }
        if let Some(tc) = &self.tc {
            if tc.round.next() != self.round {
                return Err(VerifyError::WrongRound {
                    what: "TC of the previous round",
                    round: tc.round,
                    expected: self.round.saturating_sub(1),
                });
            }
        }
        if self.state.height >= self.height {
            return Err(VerifyError::StateAhead { state_height: self.state.height, height: self.height });
        }
        self.payload.verify_limits(config)
    }
}

/// A block with its id computed once, behind a shared pointer. The core hands blocks to the
/// tree, to storage and to the application several times each; a sealed block is cloned by
/// copying a pointer and is never hashed again. It is read-only, so its id cannot go stale.
/// Reads of the block's fields go through `Deref`; `id()` is the cached id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlock {
    id: BlockId,
    block: Arc<Block>,
}

impl SealedBlock {
    /// Seals `block`, computing its id.
    pub fn seal(block: Block) -> Self {
        SealedBlock { id: block.id(), block: Arc::new(block) }
    }

    /// Seals `block` whose id the caller has just computed (checked in debug builds).
    pub(crate) fn from_parts(id: BlockId, block: Block) -> Self {
        debug_assert_eq!(id, block.id(), "a sealed block's id is its own");
        SealedBlock { id, block: Arc::new(block) }
    }

    /// The block's id.
    pub fn id(&self) -> BlockId {
        self.id
    }

    /// The block itself, shared.
    pub fn shared(&self) -> &Arc<Block> {
        &self.block
    }

    /// The block, copied only when it is shared.
    pub fn into_block(self) -> Block {
        Arc::unwrap_or_clone(self.block)
    }
}

impl PartialEq<Block> for SealedBlock {
    fn eq(&self, other: &Block) -> bool {
        *self.block == *other
    }
}

impl Deref for SealedBlock {
    type Target = Block;

    fn deref(&self) -> &Block {
        &self.block
    }
}

/// A block signed by its proposer.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// The proposed block.
    pub block: Block,
    /// The proposer's signature over `(chain_id, block id, round)` in the `Proposal` domain.
    pub signature: Signature,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Fixture;

    #[test]
    fn genesis_differs_per_chain_and_is_stable() {
        let fixture = Fixture::new(4);
        let genesis = Block::genesis(&fixture.config.chain_id, &fixture.validators);
        assert_eq!(genesis.id(), Block::genesis(&fixture.config.chain_id, &fixture.validators).id());
        assert_ne!(genesis.id(), Block::genesis(&Hash::sha256(b"other chain"), &fixture.validators).id());
    }

    #[test]
    fn shape_rules_refuse_each_broken_relation() {
        let fixture = Fixture::new(4);
        let good = fixture.child_of_genesis(Round(1));
        assert_eq!(good.verify_shape(&fixture.config), Ok(()));

        let mut wrong_height = good.clone();
        wrong_height.height = Height(5);
        assert!(matches!(wrong_height.verify_shape(&fixture.config), Err(VerifyError::WrongHeight { .. })));

        let mut wrong_parent = good.clone();
        wrong_parent.parent = BlockId(Hash::sha256(b"x"));
        assert!(matches!(wrong_parent.verify_shape(&fixture.config), Err(VerifyError::WrongParent { .. })));

        let mut stale_round = good.clone();
        stale_round.round = Round(0);
        assert!(matches!(stale_round.verify_shape(&fixture.config), Err(VerifyError::WrongRound { .. })));

        let mut state_ahead = good.clone();
        state_ahead.state.height = Height(1);
        assert!(matches!(state_ahead.verify_shape(&fixture.config), Err(VerifyError::StateAhead { .. })));
    }

    #[test]
    fn payload_at_the_limit_passes_and_one_over_fails() {
        let mut config = Fixture::new(1).config;
        config.block_txs_max = 2;
        config.block_payload_bytes_max = 10;
        let at_limit = Payload { transactions: vec![vec![0; 5], vec![0; 5]] };
        assert_eq!(at_limit.verify_limits(&config), Ok(()));
        let too_many = Payload { transactions: vec![vec![], vec![], vec![]] };
        assert!(too_many.verify_limits(&config).is_err());
        let too_big = Payload { transactions: vec![vec![0; 11]] };
        assert!(too_big.verify_limits(&config).is_err());
    }
}
