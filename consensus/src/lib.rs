//! Keel's consensus core: a sans-IO 2-chain HotStuff (DiemBFT v4 / Jolteon family) state
//! machine.
//!
//! [`Core::handle`]`(now, event) -> Vec<Action>` is the whole interface. The core reads no clock,
//! draws no randomness and does no I/O: the driver (the node with tokio and RocksDB, or
//! `keel-sim` with virtual time) feeds it [`Event`]s and performs its [`Action`]s in order.
//!
//! # Model
//!
//! n validators with voting power, fixed at genesis ([`ValidatorSet`]); Byzantine ones hold
//! less than a third of the power. A **quorum** is more than two thirds of the power. Rounds
//! have one leader each ([`LeaderElection`], round-robin by default). Every signature binds the
//! chain id ([`Config::chain_id`]) and a per-kind signing domain, and is made and checked
//! through a [`SignatureScheme`].
//!
//! # Protocol, one rule per event
//!
//! - **Start**: arm the current round's timer; the leader of the round asks for a payload.
//! - **Entering round r** happens on a QC or TC of round r − 1 (or higher), at once — no waiting
//!   for the deadline (optimistic responsiveness). The leader of r emits `RequestPayload`,
//!   extending the highest QC, attaching the TC of r − 1 when that QC is older than r − 1.
//! - **PayloadReady**: the leader signs the block, broadcasts it, and treats it as received.
//! - **Proposal** for round r: dropped when r is below the current round, and kept only when
//!   well-shaped ([`Block::verify_shape`]), from r's leader, and correctly signed with valid
//!   certificates. No upper bound on r: a verified proposal carries a quorum's certificate of
//!   round r − 1, so it is how a node that fell behind jumps forward. Its QC and TC are taken
//!   in (which moves the node to round r). If the
//!   parent is missing the proposal waits (bounded) while the parent is fetched. The block
//!   joins the tree (`PersistBlock`); when `validate_blocks` is set the application is asked
//!   (`ValidateBlock`) and the vote waits for `BlockValidated { valid: true }`; then the vote
//!   rule decides.
//! - **Vote rule** (`safety.rs`): vote for B of round r iff r > last voted round and either
//!   `r == B.qc.round + 1`, or `r == B.tc.round + 1` and `B.qc.round >= B.tc.high_qc_round`.
//!   `PersistSafety`, then `Send` the vote to the leader of r + 1. One vote per round, ever: a
//!   repeated proposal gets the stored vote again.
//! - **Vote** (at the next leader): verified, counted once per voter; a quorum for one block
//!   forms a QC, taken in at once.
//! - **TimerFired** for the current round: sign a timeout for it carrying the highest QC
//!   (timeout rule: round ≥ last voted, QC not below the lock, round entered by a QC or TC of
//!   the round before), `PersistSafety`, `Broadcast`, re-arm. Rebroadcast on each firing.
//! - **Timeout**: verified; its QC taken in; counted. Beyond `future_round_window` only its
//!   QC is taken in (one signer's far round proves nothing), which is how a node that fell
//!   behind catches up; a node that entered its round by a TC rebroadcasts that TC with each
//!   of its timeouts, so a validator that missed it can follow. More than a third of the power timing out
//!   the current round makes this node time out too; a quorum forms a TC, sent to the next
//!   leader and taken in: the node enters the next round with a doubled timeout.
//! - **TimeoutCert** (at the next leader): verified and taken in.
//! - **QC taken in**: raises the lock (`locked_round`, persisted) and the high QC
//!   (`PersistQuorumCert`), applies the commit rule, enters the next round, and fetches the
//!   certified block if unknown.
//! - **BlockRequest**: answered from the tree (and recently committed blocks), newest first, at
//!   most `blocks_per_response_max`. **BlockResponse / BlocksFetched**: accepted only as the
//!   answer to an outstanding fetch forming a parent chain, every block verified; blocks join
//!   the tree oldest first, held (bounded) while their own ancestors are fetched.
//! - **Equivocation**: two different verified proposals, votes or timeouts from one key for one
//!   round yield `Action::Evidence` once; evidence is kept (bounded).
//!
//! # Commit rule
//!
//! A block B commits when B and its child B' are both certified and B' is from round
//! `B.round + 1`. B's uncommitted ancestors commit with it, oldest first, in one
//! `Action::Commit` whose proof is (QC(B), QC(B')).
//!
//! ```text
//!   ┌────────┐   ┌────────┐   ┌────────┐   ┌────────┐
//!   │ A  r=4 │◄──│ B  r=5 │◄──│ B' r=6 │◄──│ C  r=7 │   block ◄── child (child carries QC of parent)
//!   └────────┘   └────────┘   └────────┘   └────────┘
//!                 QC(B) in B'  QC(B') in C
//!                 └───── consecutive rounds 5, 6, both certified ─────┘  ⇒ commit A, B
//! ```
//!
//! # Safety argument
//!
//! Suppose B (round r) commits: B' (round r + 1) has a QC, so a quorum voted for B' and, by the
//! vote rule, observed QC(B), so their locks are ≥ r and their last voted rounds ≥ r + 1. Any
//! certified block of a round above r + 1 extends B: by induction on rounds, such a block was
//! voted for by a quorum, which intersects that first quorum in an honest validator. If it
//! extends the previous round's QC, that QC's block extends B by induction. If it follows a TC
//! of the previous round, the TC holds a timeout from an honest member of the first quorum,
//! whose reported QC is ≥ r (timeouts carry a QC at least the lock), so the block's QC is ≥ r
//! too, and certifies B, B' or a block that extends B by induction. No other block of round r
//! or r + 1 can be certified (an honest validator votes once per round). Hence two committed
//! blocks never conflict.
//!
//! # Persistence contract
//!
//! The driver performs actions in order. `PersistSafety` must be durable (fsync) before any
//! later `Send`/`Broadcast`: the vote or timeout after it is what it records. A restarted node
//! passes the stored state in [`RecoveryData`] and never signs a second different vote or
//! timeout for a round it already signed in (the stored one is resent). `PersistBlock`,
//! `PersistQuorumCert` and `PersistTimeoutCert` feed recovery and serving peers; losing them
//! costs liveness, never safety.
//!
//! # Deviations from the papers
//!
//! - The vote rule does not compare the block's QC with the local lock; the TC rule covers it
//!   (as in Aptos' 2-chain safety rules; see `safety.rs` for why).
//! - A node signs at most one timeout per round (the Jolteon paper lets it re-sign with a newer
//!   QC), so any two different timeouts from one key for one round are evidence.
//! - A node that formed a TC sends it to the next leader, so that leader can propose even if it
//!   missed some timeouts.
//! - Timeouts are amplified: f + 1 (a third of the power) timing out a round makes a node time
//!   out at once, as in DiemBFT v4's pacemaker.
//! - A block carries an opaque state commitment from the environment and waits, optionally, for
//!   the application's verdict before the vote (like ABCI's ProcessProposal).
//! - No epochs or reconfiguration: the validator set is the genesis set.
//!
//! # Limits
//!
//! Every buffer has a named maximum in [`Config`]; messages are decoded with a byte limit
//! ([`Message::decode`]); certificates hold at most [`VALIDATORS_MAX`] signatures.
//!
//! # Test-only weakening
//!
//! [`Config::test_only_weakened_safety`] breaks a safety rule on purpose so that the simulator
//! can show its checker catches the result. It must never be set in a real deployment.

#![warn(missing_docs)]
// Errors and messages carry public keys and signatures by value (an ed25519 key keeps its
// decompressed point, about 200 bytes). Boxing them would buy an allocation per message on the
// hot path to shrink values that live a few microseconds.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod aggregator;
mod block;
mod block_tree;
mod config;
mod core;
mod error;
mod event;
mod evidence;
mod leader;
mod message;
mod pacemaker;
mod quorum_cert;
mod recovery;
mod safety;
mod signing;
mod snapshot;
mod sync;
mod timeout;
mod types;
mod validators;
mod verify;
mod vote;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use block::{Block, Payload, Proposal, SealedBlock, StateCommitment};
pub use block_tree::CommitProof;
pub use config::{Config, ConfigError, SafetyWeakening, MESSAGE_OVERHEAD_BYTES};
pub use core::Core;
pub use error::VerifyError;
pub use event::{Action, Event};
pub use evidence::{Evidence, Statement};
pub use leader::{LeaderElection, RoundRobin};
pub use message::{BlockRequest, BlockResponse, DecodeError, Message};
pub use quorum_cert::{QuorumCert, VoteSignature};
pub use recovery::{genesis_qc, RecoveryData};
pub use safety::{SafetyRefusal, SafetyRules, SafetyState, Signed};
pub use signing::{proposal_bytes, timeout_bytes, vote_bytes, Ed25519Scheme, SignatureScheme};
pub use snapshot::{ConsensusSnapshot, TimeoutsSeen, VotesSeen};
pub use timeout::{Timeout, TimeoutCert, TimeoutSignature};
pub use types::{BlockId, Height, Round, Time, VotingPower};
pub use validators::{Validator, ValidatorSet, ValidatorSetError, VALIDATORS_MAX};
pub use verify::Verifier;
pub use vote::Vote;
