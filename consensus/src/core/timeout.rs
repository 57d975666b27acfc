//! Round timers, timeouts and TCs.

use keel_crypto::PublicKey;
use tracing::debug;

use super::Core;
use crate::event::Action;
use crate::evidence::Statement;
use crate::message::Message;
use crate::timeout::{Timeout, TimeoutCert};
use crate::types::Round;

impl Core {
    /// Timer rule: the current round's deadline passed; time out (or repeat the timeout) and
    /// re-arm, so the timeout is rebroadcast until the round ends. Timers of other rounds, and
    /// early firings of a re-armed timer, are stale.
    pub(super) fn on_timer(&mut self, round: Round) {
        if round != self.pacemaker.round() || self.now < self.pacemaker.deadline() {
            debug!(round = %round, current = %self.pacemaker.round(), "timer ignored: stale");
            return;
        }
        self.local_timeout();
        self.forward_entry_tc(round);
        // Our own timeout may have completed a TC and moved us on; entering that round set its
        // timer, and re-arming the old round here would replace it with one that fires stale,
        // leaving the node with no timer at all.
        if self.pacemaker.round() == round {
            let deadline = self.pacemaker.arm(self.now);
            self.emit(Action::SetTimer { round, deadline });
        }
    }

    /// Sync rule: a node that entered `round` through a TC re-broadcasts that TC with each of
    /// its timeouts. The TC otherwise reaches only the next leader (or rides in its proposal),
    /// so a validator that missed it would keep timing out an older round that everyone else
    /// has left, and with two such validators no quorum would ever time out the same round
    /// again. Timeouts carry the sender's QC, which covers rounds entered by a QC; this covers
    /// the rest, as Aptos' sync info and Jolteon's timeout-carries-TC do.
    fn forward_entry_tc(&mut self, round: Round) {
        let Some(tc) = self.high_tc.as_ref().filter(|tc| tc.round.next() == round) else { return };
        let message = Message::TimeoutCert(tc.clone());
        self.emit(Action::Broadcast { message });
    }

    /// Timeout rule (see `safety.rs`): sign (or re-sign) a timeout for the current round with
    /// the highest QC, persist, broadcast, and count it.
    fn local_timeout(&mut self) {
        if !self.is_validator {
            return;
        }
        let round = self.pacemaker.round();
        let chain_id = *self.verifier.chain_id();
        let high_qc = self.tree.high_qc().clone();
        let signed =
            match self.safety.try_timeout(self.verifier.scheme(), &chain_id, round, &high_qc, self.high_tc.as_ref()) {
                Ok(signed) => signed,
                Err(refusal) => {
                    debug!(round = %round, %refusal, "not timing out");
                    return;
                }
            };
        self.safety_dirty |= signed.fresh;
        self.flush_safety();
        debug!(round = %round, "timing out");
        self.emit(Action::Broadcast { message: Message::Timeout(signed.message.clone()) });
        self.add_timeout(signed.message);
    }

    /// A peer's timeout: verified, its QC taken in, then counted if still for the current
    /// round or a later one.
    pub(super) fn on_timeout(&mut self, from: PublicKey, timeout: Timeout) {
        if timeout.round < self.pacemaker.round() {
            debug!(round = %timeout.round, signer = %timeout.signer, "timeout ignored: stale round");
            return;
        }
        if self.is_far_future(timeout.round) {
            // One signer's far-future round proves nothing and is not kept, but the QC it
            // carries was signed by a quorum: a node that fell behind catches up through it.
            if self.verifier.verify_qc(&timeout.high_qc).is_ok() {
                self.process_qc(timeout.high_qc, Some(from));
            }
            return;
        }
        if let Err(error) = self.verifier.verify_timeout(&timeout) {
            debug!(round = %timeout.round, %from, %error, "timeout ignored: does not verify");
            self.invalid_messages += 1;
            return;
        }
        let statement = Statement::Timeout { high_qc_round: timeout.high_qc.round, signature: timeout.signature };
        self.record_statement(timeout.signer, timeout.round, statement);
        self.process_qc(timeout.high_qc.clone(), Some(from));
        if timeout.round >= self.pacemaker.round() {
            self.add_timeout(timeout);
        }
    }

    /// Counts a verified timeout. A third of the power timing out the current round means an
    /// honest validator gave up on it, so this node joins at once (Bracha-style amplification);
    /// a quorum forms a TC, sent to the next leader and taken in.
    fn add_timeout(&mut self, timeout: Timeout) {
        let round = timeout.round;
        let progress = self.timeouts.add(timeout, self.verifier.validators());
        let already_timed_out = self.safety.state().last_timeout.as_ref().is_some_and(|t| t.round == round);
        if progress.third_reached && round == self.pacemaker.round() && !already_timed_out {
            self.local_timeout();
        }
        if let Some(tc) = progress.tc {
            debug!(round = %tc.round, "formed TC");
            let next_leader = self.leaders.leader(tc.round.next());
            if next_leader != self.me {
                self.emit(Action::Send { to: next_leader, message: Message::TimeoutCert(tc.clone()) });
            }
            self.process_tc(tc, None);
        }
    }

    /// A TC from a peer (as the next leader): verified and taken in.
    pub(super) fn on_timeout_cert(&mut self, from: PublicKey, tc: TimeoutCert) {
        // No upper bound, as for proposals: a verified TC is a quorum's word that its round ended.
        if tc.round < self.pacemaker.round() {
            debug!(round = %tc.round, "timeout certificate ignored: stale round");
            return;
        }
        if let Err(error) = self.verifier.verify_tc(&tc) {
            debug!(round = %tc.round, %from, %error, "timeout certificate ignored: does not verify");
            self.invalid_messages += 1;
            return;
        }
        self.process_tc(tc, Some(from));
    }
}
