//! A read-only picture of a core's state, for operators asking why the chain is or is not
//! moving (the node's `keel_consensusState`). Taking one changes nothing.

use keel_crypto::PublicKey;

use crate::types::{BlockId, Height, Round, Time, VotingPower};

/// Votes received for one block in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VotesSeen {
    /// The round.
    pub round: Round,
    /// The block voted for.
    pub block_id: BlockId,
    /// Their voting power.
    pub power: VotingPower,
    /// Who voted, in key order.
    pub voters: Vec<PublicKey>,
}

/// Timeouts received for one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutsSeen {
    /// The round.
    pub round: Round,
    /// Their voting power.
    pub power: VotingPower,
    /// Who timed out, in key order.
    pub signers: Vec<PublicKey>,
}

/// The state of a core at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsensusSnapshot {
    /// The current round.
    pub round: Round,
    /// Its leader.
    pub leader: PublicKey,
    /// When the current round times out (the core's time).
    pub round_deadline: Time,
    /// The current round's timeout length (after back-off).
    pub round_timeout_ms: u64,
    /// Highest round voted or timed out in.
    pub last_voted_round: Round,
    /// The 2-chain lock.
    pub locked_round: Round,
    /// The highest QC: its round and block.
    pub high_qc: (Round, BlockId),
    /// The round of the highest TC, if any.
    pub high_tc_round: Option<Round>,
    /// The last committed block.
    pub committed: (Height, BlockId),
    /// Votes held by the aggregator (rounds not yet pruned).
    pub votes: Vec<VotesSeen>,
    /// Timeouts held by the aggregator.
    pub timeouts: Vec<TimeoutsSeen>,
}
