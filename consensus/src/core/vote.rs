//! Receiving votes and forming QCs.

use keel_crypto::PublicKey;
use tracing::debug;

use super::Core;
use crate::evidence::Statement;
use crate::vote::Vote;

impl Core {
    /// Vote rule (leader side): a verified vote for round r, sent to r + 1's leader, counts
    /// once per voter; a quorum forms a QC, which moves this node to round r + 1 at once.
    pub(super) fn on_vote(&mut self, from: PublicKey, vote: Vote) {
        if vote.round < self.pacemaker.round() || self.is_far_future(vote.round) {
            debug!(round = %vote.round, voter = %vote.voter, "vote ignored: outside the round window");
            return;
        }
        if self.leaders.leader(vote.round.next()) != self.me {
            debug!(round = %vote.round, voter = %vote.voter, "vote ignored: this node does not lead the next round");
            return;
        }
        if let Err(error) = self.verifier.verify_vote(&vote) {
            debug!(round = %vote.round, %from, %error, "vote ignored: does not verify");
            self.invalid_messages += 1;
            return;
        }
        self.record_statement(vote.voter, vote.round, Statement::Vote(vote.clone()));
        self.add_vote(vote);
    }

    /// Counts a verified vote (a peer's, or this node's own).
    pub(super) fn add_vote(&mut self, vote: Vote) {
        let voter = vote.voter;
        if let Some(qc) = self.votes.add(vote, self.verifier.validators()) {
            debug!(round = %qc.round, block = %qc.block_id, "formed QC");
            let fetch_from = (voter != self.me).then_some(voter);
            self.process_qc(qc, fetch_from);
        }
    }
}
