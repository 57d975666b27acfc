//! The sans-IO consensus core: one handler per event, gluing the safety rules, pacemaker,
//! block tree, aggregators, sync and evidence together. The protocol it implements is the crate
//! documentation; each handler cites the rule it applies.
//!
//! Shape of every handler: filter (drop stale, far-future or malformed input with one `debug!`),
//! verify (signatures and quorums, see `verify.rs`), then act; after the filter, assertions.

mod proposal;
mod sync;
mod timeout;
mod vote;

use std::collections::BTreeMap;

use keel_crypto::PublicKey;
use tracing::debug;

use crate::aggregator::{TimeoutAggregator, VoteAggregator};
use crate::block::{Block, Proposal, SealedBlock};
use crate::block_tree::{BlockTree, Committed};
use crate::config::Config;
use crate::event::{Action, Event};
use crate::evidence::{EquivocationDetector, Evidence, Statement};
use crate::leader::{LeaderElection, RoundRobin};
use crate::message::Message;
use crate::pacemaker::{Entry, Pacemaker};
use crate::quorum_cert::QuorumCert;
use crate::recovery::{genesis_qc, RecoveryData};
use crate::safety::{SafetyRules, SafetyState};
use crate::signing::SignatureScheme;
use crate::snapshot::ConsensusSnapshot;
use crate::sync::SyncState;
use crate::timeout::TimeoutCert;
use crate::types::{BlockId, Height, Round, Time};
use crate::validators::ValidatorSet;
use crate::verify::Verifier;

/// What the leader asked the environment for, to build its block when the payload arrives.
#[derive(Debug, Clone)]
struct PayloadRequest {
    round: Round,
    qc: QuorumCert,
    tc: Option<TimeoutCert>,
}

/// One validator's consensus state machine. See the crate docs for the protocol.
pub struct Core {
    config: Config,
    me: PublicKey,
    is_validator: bool,
    verifier: Verifier,
    leaders: Box<dyn LeaderElection>,
    safety: SafetyRules,
    safety_dirty: bool,
    pacemaker: Pacemaker,
    tree: BlockTree,
    high_tc: Option<TimeoutCert>,
    votes: VoteAggregator,
    timeouts: TimeoutAggregator,
    detector: EquivocationDetector,
    sync: SyncState,
    /// Proposals waiting for a missing parent, keyed by that parent.
    pending_parents: BTreeMap<BlockId, Vec<(PublicKey, Proposal)>>,
    /// Proposals waiting for the application's verdict.
    pending_validations: BTreeMap<BlockId, SealedBlock>,
    payload_request: Option<PayloadRequest>,
    actions: Vec<Action>,
    now: Time,
    /// Messages that failed verification (for the driver's metrics).
    invalid_messages: u64,
}

impl Core {
    /// A core for the node signing with `scheme`, restored from `recovery`
    /// ([`RecoveryData::genesis`] on first start). Actions caused by recovery (commits of a
    /// stored 2-chain) come out of the first `handle` call; send [`Event::Start`] first.
    ///
    /// # Panics
    /// When `config` fails [`Config::check`], or `recovery` is inconsistent with the chain
    /// (its root QC does not certify its root): both are the operator's or driver's bugs.
    pub fn new(
        config: Config,
        validators: ValidatorSet,
        scheme: Box<dyn SignatureScheme>,
        recovery: RecoveryData,
    ) -> Core {
        if let Err(problem) = config.check() {
            panic!("Core::new needs a checked config: {problem}");
        }
        let genesis = Block::genesis(&config.chain_id, &validators);
        let me = scheme.public_key();
        let is_validator = validators.contains(&me);
        let leaders = Box::new(RoundRobin::new(&validators));
        let verifier = Verifier::new(config.chain_id, validators, scheme, genesis_qc(&genesis));
        let mut core = Core {
            me,
            is_validator,
            verifier,
            leaders,
            safety: SafetyRules::new(recovery.safety, config.test_only_weakened_safety),
            safety_dirty: false,
            pacemaker: Pacemaker::new(Round::ZERO, config.round_timeout_ms, config.round_timeout_ms_max),
            tree: BlockTree::new(recovery.root, recovery.root_qc, config.committed_blocks_kept),
            high_tc: None,
            votes: VoteAggregator::default(),
            timeouts: TimeoutAggregator::default(),
            detector: EquivocationDetector::new(config.evidence_max),
            sync: SyncState::new(config.fetches_in_flight_max, config.sync_blocks_buffered_max),
            pending_parents: BTreeMap::new(),
            pending_validations: BTreeMap::new(),
            payload_request: None,
            actions: Vec::new(),
            now: Time::ZERO,
            invalid_messages: 0,
            config,
        };
        core.restore(recovery.blocks, recovery.high_qc, recovery.high_tc);
        core
    }

    /// Messages dropped because they failed verification (a bad signature or certificate, a
    /// malformed block), since this core was created.
    pub fn invalid_messages(&self) -> u64 {
        self.invalid_messages
    }

    /// The leader of `round`.
    pub fn leader(&self, round: Round) -> PublicKey {
        self.leaders.leader(round)
    }

    /// Replaces round-robin leader election; every validator must use the same one.
    pub fn with_leader_election(mut self, leaders: Box<dyn LeaderElection>) -> Core {
        self.leaders = leaders;
        self
    }

    /// Handles one event at driver time `now`; returns the actions to perform, in order.
    pub fn handle(&mut self, now: Time, event: Event) -> Vec<Action> {
        self.now = now;
        match event {
            Event::Start => self.on_start(),
            Event::Message { from, message } => self.on_message(from, message),
            Event::TimerFired { round } => self.on_timer(round),
            Event::PayloadReady { round, payload, state } => self.on_payload_ready(round, payload, state),
            Event::BlockValidated { block_id, valid } => self.on_block_validated(block_id, valid),
            Event::BlocksFetched { from, blocks } => self.on_blocks(from, blocks),
        }
        self.flush_safety();
        std::mem::take(&mut self.actions)
    }

    /// This node's key.
    pub fn public_key(&self) -> PublicKey {
        self.me
    }

    /// The current round.
    pub fn round(&self) -> Round {
        self.pacemaker.round()
    }

    /// The committed height.
    pub fn committed_height(&self) -> Height {
        self.tree.committed_height()
    }

    /// The id of the last committed block.
    pub fn committed_block_id(&self) -> BlockId {
        self.tree.root()
    }

    /// Blocks fetched from peers and held until their ancestors arrive.
    pub fn sync_blocks_held(&self) -> usize {
        self.sync.held()
    }

    /// The highest QC known.
    pub fn high_qc(&self) -> &QuorumCert {
        self.tree.high_qc()
    }

    /// The highest TC known.
    pub fn high_tc(&self) -> Option<&TimeoutCert> {
        self.high_tc.as_ref()
    }

    /// The safety state (as last persisted, or about to be).
    pub fn safety_state(&self) -> &SafetyState {
        self.safety.state()
    }

    /// Equivocation evidence kept, oldest first.
    pub fn evidence(&self) -> impl Iterator<Item = &Evidence> {
        self.detector.evidence()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the core knows right now: round, leader, timer, locks, certificates and the votes
    /// and timeouts it holds.
    pub fn snapshot(&self) -> ConsensusSnapshot {
        let safety = self.safety.state();
        let high_qc = self.tree.high_qc();
        ConsensusSnapshot {
            round: self.round(),
            leader: self.leader(self.round()),
            round_deadline: self.pacemaker.deadline(),
            round_timeout_ms: self.pacemaker.round_timeout_ms(),
            last_voted_round: safety.last_voted_round,
            locked_round: safety.locked_round,
            high_qc: (high_qc.round, high_qc.block_id),
            high_tc_round: self.high_tc.as_ref().map(|tc| tc.round),
            committed: (self.committed_height(), self.committed_block_id()),
            votes: self.votes.seen(),
            timeouts: self.timeouts.seen(),
        }
    }

    fn on_start(&mut self) {
        let deadline = self.pacemaker.arm(self.now);
        self.emit(Action::SetTimer { round: self.pacemaker.round(), deadline });
        self.request_payload_if_leader();
    }

    fn on_message(&mut self, from: PublicKey, message: Message) {
        match message {
            Message::Proposal(proposal) => self.on_proposal(from, proposal),
            Message::Vote(vote) => self.on_vote(from, vote),
            Message::Timeout(timeout) => self.on_timeout(from, timeout),
            Message::TimeoutCert(tc) => self.on_timeout_cert(from, tc),
            Message::BlockRequest(request) => self.on_block_request(from, request),
            Message::BlockResponse(response) => self.on_blocks(from, response.blocks),
        }
    }

    /// Rebuilds volatile state from stored blocks and certificates (trusted: our own storage).
    fn restore(&mut self, mut blocks: Vec<Block>, high_qc: Option<QuorumCert>, high_tc: Option<TimeoutCert>) {
        // Start from the committed root's round, as a running node is: a stored block's QC for
        // an abandoned fork below the root must not move the pacemaker (and the leader rule) to
        // a round no certificate this node holds leads to.
        let root_round = self.tree.high_qc().round.next();
        self.pacemaker = Pacemaker::new(root_round, self.config.round_timeout_ms, self.config.round_timeout_ms_max);
        blocks.sort_by_key(|b| b.height);
        for block in blocks {
            self.insert_block(None, SealedBlock::seal(block));
        }
        if let Some(qc) = high_qc {
            self.process_qc(qc, None);
        }
        if let Some(tc) = high_tc {
            self.process_tc(tc, None);
        }
        let round = self.tree.high_qc().round.max(self.high_tc.as_ref().map_or(Round::ZERO, |tc| tc.round)).next();
        self.pacemaker = Pacemaker::new(round, self.config.round_timeout_ms, self.config.round_timeout_ms_max);
        // Restoring re-announces what storage already holds; only commits are news.
        self.actions.retain(|a| matches!(a, Action::Commit { .. }));
        self.safety_dirty = false;
    }

    fn emit(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// Emits `PersistSafety` when the state changed since the last one.
    fn flush_safety(&mut self) {
        if self.safety_dirty {
            self.emit(Action::PersistSafety(self.safety.state().clone()));
            self.safety_dirty = false;
        }
    }

    fn record_statement(&mut self, signer: PublicKey, round: Round, statement: Statement) {
        if let Some(evidence) = self.detector.record(signer, round, statement) {
            debug!(signer = %evidence.signer, round = %evidence.round, "equivocation detected");
            self.emit(Action::Evidence(evidence));
        }
    }

    /// Whether `round` is too far ahead to buffer anything for.
    fn is_far_future(&self, round: Round) -> bool {
        round.get() > self.pacemaker.round().get().saturating_add(self.config.future_round_window)
    }

    /// Takes in a verified QC: lock, high QC, commit rule, round. Fetches its block from
    /// `fetch_from` when unknown.
    fn process_qc(&mut self, qc: QuorumCert, fetch_from: Option<PublicKey>) {
        if self.safety.observe_qc(qc.round) {
            self.safety_dirty = true;
        }
        let high_before = self.tree.high_qc().round;
        let (id, round, height) = (qc.block_id, qc.round, qc.height);
        let commits = self.tree.insert_qc(qc.clone());
        if self.tree.high_qc().round > high_before {
            self.emit(Action::PersistQuorumCert(qc));
        }
        self.emit_commits(commits);
        if let Some(peer) = fetch_from {
            if !self.tree.contains(&id) && height > self.tree.committed_height() {
                self.fetch(peer, id, height);
            }
        }
        self.enter_round(round.next(), Entry::Qc);
    }

    /// Takes in a verified TC: high TC, its QC, round.
    fn process_tc(&mut self, tc: TimeoutCert, fetch_from: Option<PublicKey>) {
        self.process_qc(tc.high_qc.clone(), fetch_from);
        let round = tc.round;
        if self.high_tc.as_ref().is_none_or(|high| tc.round > high.round) {
            self.emit(Action::PersistTimeoutCert(tc.clone()));
            self.high_tc = Some(tc);
        }
        self.enter_round(round.next(), Entry::Tc);
    }

    fn emit_commits(&mut self, commits: Vec<Committed>) {
        if commits.is_empty() {
            return;
        }
        for committed in commits {
            debug!(height = %committed.blocks.last().expect("non-empty").height, "committed");
            self.emit(Action::Commit { blocks: committed.blocks, proof: committed.proof });
        }
        let (height, root_round) = (self.tree.committed_height(), self.tree.root_block().round);
        self.verifier.prune_below(root_round);
        self.sync.prune(height);
        self.pending_parents.retain(|_, waiting| {
            waiting.retain(|(_, p)| p.block.height > height);
            !waiting.is_empty()
        });
    }

    /// Pacemaker rule: enter `round` when it is above the current one.
    fn enter_round(&mut self, round: Round, entry: Entry) {
        let Some(deadline) = self.pacemaker.try_enter(self.now, round, entry) else { return };
        debug!(round = %round, ?entry, "entered round");
        self.emit(Action::SetTimer { round, deadline });
        self.votes.prune_below(round);
        self.timeouts.prune_below(round);
        self.detector.prune_below(round.saturating_sub(self.config.future_round_window));
        self.pending_validations.retain(|_, block| block.round >= round);
        self.payload_request = None;
        self.request_payload_if_leader();
    }

    /// Leader rule: on entering a round it leads, ask for a payload to extend the high QC
    /// (with the TC of the previous round when the QC is older).
    fn request_payload_if_leader(&mut self) {
        let round = self.pacemaker.round();
        if self.leaders.leader(round) != self.me || !self.is_validator {
            return;
        }
        let qc = self.tree.high_qc().clone();
        let tc = if qc.round.next() == round {
            None
        } else {
            let tc = self.high_tc.clone().expect("a round not entered by QC was entered by TC");
            assert_eq!(tc.round.next(), round, "the current round follows the highest certificate");
            Some(tc)
        };
        self.emit(Action::RequestPayload { round, height: qc.height.next(), parent: qc.block_id });
        self.payload_request = Some(PayloadRequest { round, qc, tc });
    }
}
