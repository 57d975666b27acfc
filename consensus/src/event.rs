//! What goes into the core ([`Event`]) and what comes out ([`Action`]).
//!
//! Actions are ordered and the driver performs them in order. In particular a `PersistSafety`
//! (and any `PersistBlock` before it) must be durable — fsynced — before the driver performs
//! any later `Send` or `Broadcast`, because that message may be the vote or timeout the state
//! records. `Broadcast` means every validator except this node: the core handles its own
//! proposals, votes and timeouts itself.

use keel_crypto::PublicKey;

use crate::block::{Block, Payload, SealedBlock, StateCommitment};
use crate::block_tree::CommitProof;
use crate::evidence::Evidence;
use crate::message::{BlockRequest, Message};
use crate::quorum_cert::QuorumCert;
use crate::safety::SafetyState;
use crate::timeout::TimeoutCert;
use crate::types::{BlockId, Height, Round, Time};

/// An input to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The driver is ready: arm the first timer (and propose, when leading). Send once, after
    /// `Core::new`.
    Start,
    /// A decoded message from a peer (the driver authenticated the connection, not the
    /// content; the core verifies every signature).
    Message {
        /// The peer it came from.
        from: PublicKey,
        /// The message.
        message: Message,
    },
    /// The deadline of `SetTimer { round, .. }` passed.
    TimerFired {
        /// The round the timer was set for.
        round: Round,
    },
    /// The environment's answer to `RequestPayload`.
    PayloadReady {
        /// The round it was requested for.
        round: Round,
        /// Transactions, within the configured limits.
        payload: Payload,
        /// The environment's state commitment, below the block's height.
        state: StateCommitment,
    },
    /// The application's verdict on `ValidateBlock`.
    BlockValidated {
        /// The block judged.
        block_id: BlockId,
        /// Whether the application accepts it.
        valid: bool,
    },
    /// Blocks answering a `FetchBlocks`, newest first (from a peer or from storage).
    BlocksFetched {
        /// Where they came from.
        from: PublicKey,
        /// The blocks.
        blocks: Vec<Block>,
    },
}

/// An output of the core, for the driver to perform in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a message to one validator.
    Send {
        /// The recipient.
        to: PublicKey,
        /// The message.
        message: Message,
    },
    /// Send a message to every other validator.
    Broadcast {
        /// The message.
        message: Message,
    },
    /// Fire `TimerFired { round }` at `deadline`, replacing any earlier timer.
    SetTimer {
        /// The round.
        round: Round,
        /// When, on the driver's clock.
        deadline: Time,
    },
    /// Make the safety state durable before any later send.
    PersistSafety(SafetyState),
    /// Store a block (the tree's contents, for recovery and for serving peers).
    PersistBlock(SealedBlock),
    /// Store the new highest QC (for recovery; only the latest is needed).
    PersistQuorumCert(QuorumCert),
    /// Store the new highest TC (for recovery; only the latest is needed).
    PersistTimeoutCert(TimeoutCert),
    /// This node leads `round`: answer with `PayloadReady { round, .. }`.
    RequestPayload {
        /// The round to propose in.
        round: Round,
        /// The new block's height.
        height: Height,
        /// The block it will extend.
        parent: BlockId,
    },
    /// Ask the application whether `block` is acceptable; answer with `BlockValidated`.
    ValidateBlock {
        /// The proposed block.
        block: SealedBlock,
    },
    /// Blocks committed, in height order, consecutive with the previous commit.
    Commit {
        /// The blocks.
        blocks: Vec<SealedBlock>,
        /// The two QCs proving the last one committed.
        proof: CommitProof,
    },
    /// Fetch blocks this node lacks. A simple driver sends `Message::BlockRequest(request)` to
    /// `from`; a node may answer from its own storage instead. Answer with `BlocksFetched` (or
    /// the peer's `BlockResponse` message).
    FetchBlocks {
        /// A peer that should have them.
        from: PublicKey,
        /// What to fetch.
        request: BlockRequest,
    },
    /// A validator equivocated; reported once per (kind, signer, round).
    Evidence(Evidence),
}
