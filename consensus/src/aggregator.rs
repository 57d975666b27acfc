//! Gathering verified votes into QCs and verified timeouts into TCs.
//!
//! Each signer counts once per round: the first vote (or timeout) it sent for a round is the
//! one counted, a second different one is equivocation (reported by the evidence module, never
//! counted). A certificate forms the moment its signers reach a quorum, once per round. The
//! caller drops messages outside its round window before adding them, so each aggregator holds at
//! most `window × validators` messages.

use std::collections::{BTreeMap, BTreeSet};

use keel_crypto::PublicKey;

use crate::quorum_cert::QuorumCert;
use crate::snapshot::{TimeoutsSeen, VotesSeen};
use crate::timeout::{Timeout, TimeoutCert};
use crate::types::{BlockId, Round, VotingPower};
use crate::validators::ValidatorSet;
use crate::vote::Vote;

#[derive(Debug, Clone, Default)]
struct RoundVotes {
    by_block: BTreeMap<BlockId, (VotingPower, BTreeMap<PublicKey, Vote>)>,
    voters: BTreeSet<PublicKey>,
    formed: bool,
}

/// Votes per round and block.
#[derive(Debug, Clone, Default)]
pub struct VoteAggregator {
    rounds: BTreeMap<Round, RoundVotes>,
}

impl VoteAggregator {
    /// Adds a verified vote from a validator; returns the QC when this vote completes a quorum.
    pub fn add(&mut self, vote: Vote, validators: &ValidatorSet) -> Option<QuorumCert> {
        let power = validators.power_of(&vote.voter).expect("verified votes come from validators");
        let round = self.rounds.entry(vote.round).or_default();
        if round.formed || !round.voters.insert(vote.voter) {
            return None;
        }
        let (total, votes) = round.by_block.entry(vote.block_id).or_default();
        *total = total.plus(power);
        votes.insert(vote.voter, vote);
        if !validators.is_quorum(*total) {
            return None;
        }
        round.formed = true;
        let qc = QuorumCert::from_votes(votes);
        assert!(validators.is_quorum(*total) && qc.votes.len() == votes.len(), "a QC holds its quorum's votes");
        Some(qc)
    }

    /// Forgets rounds below `round`.
    pub fn prune_below(&mut self, round: Round) {
        self.rounds = self.rounds.split_off(&round);
    }

    /// The votes held, by round then block.
    pub fn seen(&self) -> Vec<VotesSeen> {
        self.rounds
            .iter()
            .flat_map(|(round, votes)| {
                votes.by_block.iter().map(|(block_id, (power, voters))| VotesSeen {
                    round: *round,
                    block_id: *block_id,
                    power: *power,
                    voters: voters.keys().copied().collect(),
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
struct RoundTimeouts {
    by_signer: BTreeMap<PublicKey, Timeout>,
    power: VotingPower,
    formed: bool,
    third_reached: bool,
}

/// What adding a timeout achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeoutProgress {
    /// A TC, the moment the round's timeouts reach a quorum.
    pub tc: Option<TimeoutCert>,
    /// True the first time the round's timeouts hold more than a third of the power: at least
    /// one honest validator gave up on it, so waiting longer is pointless.
    pub third_reached: bool,
}

/// Timeouts per round.
#[derive(Debug, Clone, Default)]
pub struct TimeoutAggregator {
    rounds: BTreeMap<Round, RoundTimeouts>,
}

impl TimeoutAggregator {
    /// Adds a verified timeout from a validator.
    pub fn add(&mut self, timeout: Timeout, validators: &ValidatorSet) -> TimeoutProgress {
        let power = validators.power_of(&timeout.signer).expect("verified timeouts come from validators");
        let round = self.rounds.entry(timeout.round).or_default();
        if round.formed || round.by_signer.contains_key(&timeout.signer) {
            return TimeoutProgress::default();
        }
        round.by_signer.insert(timeout.signer, timeout);
        round.power = round.power.plus(power);
        let mut progress = TimeoutProgress::default();
        if !round.third_reached && validators.is_third(round.power) {
            round.third_reached = true;
            progress.third_reached = true;
        }
        if validators.is_quorum(round.power) {
            round.formed = true;
            progress.tc = Some(TimeoutCert::from_timeouts(&round.by_signer));
        }
        progress
    }

    /// Forgets rounds below `round`.
    pub fn prune_below(&mut self, round: Round) {
        self.rounds = self.rounds.split_off(&round);
    }

    /// The timeouts held, by round.
    pub fn seen(&self) -> Vec<TimeoutsSeen> {
        self.rounds
            .iter()
            .map(|(round, timeouts)| TimeoutsSeen {
                round: *round,
                power: timeouts.power,
                signers: timeouts.by_signer.keys().copied().collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Fixture;

    #[test]
    fn a_qc_forms_once_at_quorum_and_counts_each_voter_once() {
        let fixture = Fixture::new(4);
        let block = fixture.child_of_genesis(Round(1));
        let mut votes = VoteAggregator::default();
        assert_eq!(votes.add(fixture.vote(0, &block), &fixture.validators), None);
        assert_eq!(votes.add(fixture.vote(0, &block), &fixture.validators), None, "a repeat does not count");
        assert_eq!(votes.add(fixture.vote(1, &block), &fixture.validators), None);
        let qc = votes.add(fixture.vote(2, &block), &fixture.validators).expect("3 of 4 is a quorum");
        assert_eq!((qc.block_id, qc.votes.len()), (block.id(), 3));
        assert_eq!(votes.add(fixture.vote(3, &block), &fixture.validators), None, "formed once");
    }

    #[test]
    fn a_tc_forms_at_quorum_with_the_highest_qc_and_a_third_is_flagged_once() {
        let fixture = Fixture::new(4);
        let mut timeouts = TimeoutAggregator::default();
        let first = timeouts.add(fixture.timeout(0, Round(1)), &fixture.validators);
        assert_eq!(first, TimeoutProgress::default());
        let second = timeouts.add(fixture.timeout(1, Round(1)), &fixture.validators);
        assert!(second.third_reached && second.tc.is_none());
        let third = timeouts.add(fixture.timeout(2, Round(1)), &fixture.validators);
        assert!(!third.third_reached);
        let tc = third.tc.expect("3 of 4 is a quorum");
        assert_eq!((tc.round, tc.timeouts.len(), tc.high_qc_round()), (Round(1), 3, Round(0)));
    }
}
