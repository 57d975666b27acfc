//! Proposing, receiving proposals, and voting.

use keel_crypto::{PublicKey, SigningDomain};
use tracing::debug;

use super::Core;
use crate::block::{Block, Payload, Proposal, SealedBlock, StateCommitment};
use crate::event::Action;
use crate::evidence::Statement;
use crate::message::Message;
use crate::signing::proposal_bytes;
use crate::types::{BlockId, Round};

impl Core {
    /// Proposal rule: a proposal for round r from r's leader, well-shaped and verified, first
    /// feeds its QC and TC to the node (which may move it to round r); then, if the node is in
    /// round r and has the parent, the block joins the tree and — after the application's
    /// verdict, when configured — the node applies the vote rule.
    pub(super) fn on_proposal(&mut self, from: PublicKey, proposal: Proposal) {
        let block = &proposal.block;
        let round = block.round;
        // No upper bound on the round: a proposal that verifies carries a QC or TC of the round
        // before it, signed by a quorum, so however far ahead it is, it is where the chain is.
        // Taking it in is how a node that fell behind jumps forward (and fetches the blocks).
        if round < self.pacemaker.round() {
            debug!(round = %round, current = %self.pacemaker.round(), "proposal ignored: stale round");
            return;
        }
        if let Err(error) = block.verify_shape(&self.config) {
            debug!(round = %round, %error, "proposal ignored: malformed block");
            self.invalid_messages += 1;
            return;
        }
        let leader = self.leaders.leader(round);
        if block.proposer != leader {
            debug!(round = %round, proposer = %block.proposer, %leader, "proposal ignored: not the leader");
            return;
        }
        let id = block.id();
        if let Err(error) = self.verifier.verify_proposal(&proposal, &id) {
            debug!(round = %round, %error, "proposal ignored: does not verify");
            self.invalid_messages += 1;
            return;
        }
        if !self.is_far_future(round) {
            self.record_statement(
                block.proposer,
                round,
                Statement::Proposal { block_id: id, signature: proposal.signature },
            );
        }
        self.process_qc(block.qc.clone(), Some(from));
        if let Some(tc) = block.tc.clone() {
            self.process_tc(tc, Some(from));
        }
        assert!(self.pacemaker.round() >= round, "a verified block's certificates lead at least to its round");
        if round < self.pacemaker.round() {
            debug!(round = %round, "proposal not voted: its round is over");
            return;
        }
        self.accept_proposal(from, id, proposal);
    }

    /// Puts a verified proposal of the current round into the tree (or waits for its parent),
    /// then validates or votes.
    pub(super) fn accept_proposal(&mut self, from: PublicKey, id: BlockId, proposal: Proposal) {
        if !self.tree.contains(&proposal.block.parent) {
            self.wait_for_parent(from, proposal);
            return;
        }
        let block = SealedBlock::from_parts(id, proposal.block);
        if !self.insert_block(Some(from), block.clone()) {
            return;
        }
        if block.round != self.pacemaker.round() {
            return;
        }
        if !self.config.validate_blocks || block.proposer == self.me {
            self.try_vote(id, &block);
            return;
        }
        if self.pending_validations.contains_key(&id) {
            return;
        }
        if self.pending_validations.len() >= self.config.pending_validations_max {
            debug!(round = %block.round, "proposal not validated: validation buffer full");
            return;
        }
        self.pending_validations.insert(id, block.clone());
        self.emit(Action::ValidateBlock { block });
    }

    /// Buffers a proposal whose parent is missing (within `pending_proposals_max`) and fetches
    /// the parent from the proposer's relay.
    fn wait_for_parent(&mut self, from: PublicKey, proposal: Proposal) {
        let waiting: usize = self.pending_parents.values().map(Vec::len).sum();
        if waiting >= self.config.pending_proposals_max {
            debug!(round = %proposal.block.round, "proposal dropped: too many waiting for parents");
            return;
        }
        let (parent, parent_height) = (proposal.block.parent, proposal.block.qc.height);
        self.pending_parents.entry(parent).or_default().push((from, proposal));
        self.fetch(from, parent, parent_height);
    }

    /// The application's verdict on a proposal this node asked about.
    pub(super) fn on_block_validated(&mut self, block_id: BlockId, valid: bool) {
        let Some(block) = self.pending_validations.remove(&block_id) else {
            debug!(block = %block_id, "validation result ignored: not pending");
            return;
        };
        if !valid {
            debug!(block = %block_id, round = %block.round, "proposal refused by the application");
            return;
        }
        if block.round != self.pacemaker.round() {
            debug!(block = %block_id, round = %block.round, "validated proposal not voted: its round is over");
            return;
        }
        self.try_vote(block_id, &block);
    }

    /// Vote rule (see `safety.rs`); the vote goes to the next round's leader, after the safety
    /// state that records it is persisted.
    fn try_vote(&mut self, id: BlockId, block: &Block) {
        if !self.is_validator {
            return;
        }
        let chain_id = *self.verifier.chain_id();
        let signed = match self.safety.try_vote(self.verifier.scheme(), &chain_id, id, block) {
            Ok(signed) => signed,
            Err(refusal) => {
                debug!(round = %block.round, %refusal, "not voting");
                return;
            }
        };
        self.safety_dirty |= signed.fresh;
        self.flush_safety();
        let vote = signed.message;
        let next_leader = self.leaders.leader(vote.round.next());
        if next_leader == self.me {
            self.add_vote(vote);
        } else {
            self.emit(Action::Send { to: next_leader, message: Message::Vote(vote) });
        }
    }

    /// Leader rule, second half: the payload for the round this node leads arrived; sign the
    /// block, broadcast it and take it in like any proposal.
    pub(super) fn on_payload_ready(&mut self, round: Round, payload: Payload, state: StateCommitment) {
        let Some(request) = self.payload_request.take_if(|r| r.round == round) else {
            debug!(round = %round, "payload ignored: not requested for the current round");
            return;
        };
        assert_eq!(round, self.pacemaker.round(), "the payload request is cleared when the round changes");
        if let Err(error) = payload.verify_limits(&self.config) {
            panic!("the environment's payload for round {round} breaks the configured limits: {error}");
        }
        let height = request.qc.height.next();
        assert!(state.height < height, "the environment's state commitment is below the new block");
        let block = Block {
            parent: request.qc.block_id,
            round,
            height,
            proposer: self.me,
            payload,
            state,
            qc: request.qc,
            tc: request.tc,
        };
        let id = block.id();
        let bytes = proposal_bytes(self.verifier.chain_id(), &id, round);
        let signature = self.verifier.scheme().sign(SigningDomain::Proposal, &bytes);
        let proposal = Proposal { block, signature };
        debug!(round = %round, block = %id, "proposing");
        self.emit(Action::Broadcast { message: Message::Proposal(proposal.clone()) });
        let me = self.me;
        self.accept_proposal(me, id, proposal);
    }
}
