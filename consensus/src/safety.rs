//! Safety rules: the only code that decides whether this node may sign a vote or a timeout.
//!
//! State ([`SafetyState`], persisted by the driver before any vote or timeout leaves the node):
//! - `last_voted_round`: the highest round this node voted or timed out in;
//! - `locked_round`: the highest QC round it has observed (the 2-chain lock);
//! - `last_vote`, `last_timeout`: what it signed last, to resend instead of signing again.
//!
//! Vote rule (DiemBFT v4 / Jolteon) for block B of round r carrying QC `qc` and maybe TC `tc`:
//! 1. if the stored vote is for round r: resend it when it is for B, refuse otherwise;
//! 2. `r > last_voted_round` (never two votes in a round, never a vote behind a timeout);
//! 3. B extends the previous round's QC, `r == qc.round + 1`, **or** B follows a TC of the
//!    previous round and extends a QC at least as high as every QC in it:
//!    `r == tc.round + 1 && qc.round >= tc.high_qc_round`.
//!
//! Timeout rule for round r with the node's highest QC `qc` and highest TC `tc`:
//! 1. if the stored timeout is for round r: resend it (one timeout per round, so two different
//!    timeouts from one key for one round are always equivocation);
//! 2. `r >= last_voted_round` (a node may time out the round it voted in, not an earlier one);
//! 3. `qc.round >= locked_round` (the timeout reports the lock, so a TC reports every QC a
//!    quorum has seen);
//! 4. the round was entered legitimately: `r == qc.round + 1` or `r == tc.round + 1`.
//!
//! Observing a QC raises `locked_round` to its round; it never goes down. Every change marks the
//! state dirty; the core emits `PersistSafety` before the message that depends on it.
//!
//! The lock is enforced through the TC rule rather than by comparing `qc.round` with
//! `locked_round` in the vote rule, as in Aptos' `safety_rules_2chain`: after a TC, a quorum's
//! timeouts reported their locks, so `qc.round >= tc.high_qc_round` already keeps a block from
//! skipping a lock held by a quorum; comparing with the local lock too would cost liveness (a
//! node whose timeout missed the TC could refuse an honest leader) without adding safety.

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::Hash;
use thiserror::Error;

use crate::block::Block;
use crate::config::SafetyWeakening;
use crate::quorum_cert::QuorumCert;
use crate::signing::SignatureScheme;
use crate::timeout::{Timeout, TimeoutCert};
use crate::types::{BlockId, Round};
use crate::vote::Vote;

/// What the safety rules remember; the driver persists it on every `PersistSafety`.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SafetyState {
    /// Highest round voted or timed out in.
    pub last_voted_round: Round,
    /// Highest QC round observed: the 2-chain lock.
    pub locked_round: Round,
    /// The last vote signed.
    pub last_vote: Option<Vote>,
    /// The last timeout signed.
    pub last_timeout: Option<Timeout>,
}

/// Why the safety rules refused to sign.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SafetyRefusal {
    /// Already voted for a different block in this round.
    #[error("already voted for {voted:?} in round {round}")]
    AlreadyVoted {
        /// The round.
        round: Round,
        /// The block voted for.
        voted: BlockId,
    },
    /// The round is not above the last round voted or timed out in.
    #[error("round {round} is not above last voted round {last_voted}")]
    RoundNotNewer {
        /// The block's round.
        round: Round,
        /// The last round voted or timed out in.
        last_voted: Round,
    },
    /// The block is justified neither by the previous round's QC nor by a TC it respects.
    #[error("not safe to vote in round {round}: qc round {qc_round}, tc {tc_round:?} with high qc {tc_high_qc_round:?}, lock {locked}")]
    NotSafeToVote {
        /// The block's round.
        round: Round,
        /// Its QC's round.
        qc_round: Round,
        /// Its TC's round, if any.
        tc_round: Option<Round>,
        /// Its TC's highest QC round, if any.
        tc_high_qc_round: Option<Round>,
        /// This node's lock, for the record.
        locked: Round,
    },
    /// The timeout is for a round below the last round voted in.
    #[error("timeout for round {round} is below last voted round {last_voted}")]
    TimeoutRoundStale {
        /// The round to time out.
        round: Round,
        /// The last round voted or timed out in.
        last_voted: Round,
    },
    /// The timeout would report a QC below the lock.
    #[error("timeout QC round {qc_round} is below the lock {locked}")]
    QcBelowLock {
        /// Round of the QC the timeout would carry.
        qc_round: Round,
        /// The lock.
        locked: Round,
    },
    /// The round to time out was not entered through a QC or TC of the round before.
    #[error("not safe to time out round {round}: qc round {qc_round}, tc round {tc_round:?}")]
    NotSafeToTimeout {
        /// The round to time out.
        round: Round,
        /// The highest QC's round.
        qc_round: Round,
        /// The highest TC's round, if any.
        tc_round: Option<Round>,
    },
}

/// A signature the rules allowed: new (state changed, persist first) or the stored one again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    /// The vote or timeout.
    pub message: T,
    /// Whether it was just signed (the state changed) rather than resent.
    pub fresh: bool,
}

/// The safety rules over a [`SafetyState`].
#[derive(Debug, Clone)]
pub struct SafetyRules {
    state: SafetyState,
    weakening: Option<SafetyWeakening>,
}

impl SafetyRules {
    /// Rules over a restored (or default) state. `weakening` is for tests only.
    pub fn new(state: SafetyState, weakening: Option<SafetyWeakening>) -> Self {
        SafetyRules { state, weakening }
    }

    /// The current state, to persist.
    pub fn state(&self) -> &SafetyState {
        &self.state
    }

    /// Raises the lock to `qc_round`; returns whether the state changed.
    pub fn observe_qc(&mut self, qc_round: Round) -> bool {
        if qc_round <= self.state.locked_round {
            return false;
        }
        self.state.locked_round = qc_round;
        true
    }

    /// Applies the vote rule (module docs) to `block` with id `block_id`, signing on success.
    pub fn try_vote(
        &mut self,
        scheme: &dyn SignatureScheme,
        chain_id: &Hash,
        block_id: BlockId,
        block: &Block,
    ) -> Result<Signed<Vote>, SafetyRefusal> {
        let round = block.round;
        let double_vote_allowed = self.weakening == Some(SafetyWeakening::AllowDoubleVote);
        if let Some(vote) = self.state.last_vote.as_ref().filter(|v| v.round == round) {
            if vote.block_id == block_id {
                return Ok(Signed { message: vote.clone(), fresh: false });
            }
            if !double_vote_allowed {
                return Err(SafetyRefusal::AlreadyVoted { round, voted: vote.block_id });
            }
        }
        let newer =
            round > self.state.last_voted_round || (double_vote_allowed && round == self.state.last_voted_round);
        if !newer {
            return Err(SafetyRefusal::RoundNotNewer { round, last_voted: self.state.last_voted_round });
        }
        if !self.is_justified(block) && self.weakening != Some(SafetyWeakening::IgnoreLock) {
            return Err(SafetyRefusal::NotSafeToVote {
                round,
                qc_round: block.qc.round,
                tc_round: block.tc.as_ref().map(|tc| tc.round),
                tc_high_qc_round: block.tc.as_ref().map(TimeoutCert::high_qc_round),
                locked: self.state.locked_round,
            });
        }
        let vote = Vote::make(scheme, chain_id, block_id, block);
        self.state.last_voted_round = round;
        self.observe_qc(block.qc.round);
        self.state.last_vote = Some(vote.clone());
        assert!(self.state.last_voted_round == round, "a fresh vote records its round");
        Ok(Signed { message: vote, fresh: true })
    }

    /// Applies the timeout rule (module docs) for `round`, signing on success.
    pub fn try_timeout(
        &mut self,
        scheme: &dyn SignatureScheme,
        chain_id: &Hash,
        round: Round,
        high_qc: &QuorumCert,
        high_tc: Option<&TimeoutCert>,
    ) -> Result<Signed<Timeout>, SafetyRefusal> {
        if let Some(timeout) = self.state.last_timeout.as_ref().filter(|t| t.round == round) {
            return Ok(Signed { message: timeout.clone(), fresh: false });
        }
        if round < self.state.last_voted_round {
            return Err(SafetyRefusal::TimeoutRoundStale { round, last_voted: self.state.last_voted_round });
        }
        if high_qc.round < self.state.locked_round {
            return Err(SafetyRefusal::QcBelowLock { qc_round: high_qc.round, locked: self.state.locked_round });
        }
        let tc_round = high_tc.map(|tc| tc.round);
        if high_qc.round.next() != round && tc_round.map(Round::next) != Some(round) {
            return Err(SafetyRefusal::NotSafeToTimeout { round, qc_round: high_qc.round, tc_round });
        }
        let timeout = Timeout::make(scheme, chain_id, round, high_qc.clone());
        self.state.last_voted_round = round;
        self.state.last_timeout = Some(timeout.clone());
        Ok(Signed { message: timeout, fresh: true })
    }

    /// Rule 3 of the vote rule.
    fn is_justified(&self, block: &Block) -> bool {
        let extends_previous_qc = block.round == block.qc.round.next();
        let extends_after_tc =
            block.tc.as_ref().is_some_and(|tc| block.round == tc.round.next() && block.qc.round >= tc.high_qc_round());
        extends_previous_qc || extends_after_tc
    }
}

#[cfg(test)]
#[path = "safety_tests.rs"]
mod tests;
