//! The simulation engine: real [`Core`]s on a simulated network in virtual time.
//!
//! One event at a time is taken from the [`EventQueue`] (ordered by virtual time, then by
//! insertion), handed to the core of the instance it is for, and the core's actions are
//! performed in order: messages are encoded and routed through the [`NetworkConfig`] model
//! (which decides loss, duplication and delay from its own seeded stream), timers become
//! future events, persistence goes to the instance's [`Stored`] (which survives crashes), and
//! commits, votes and locks are reported to the [`Checker`]. Nothing reads a clock or an
//! unseeded RNG, so a run is a function of its options: the [`Auditor`] hashes every event to
//! prove it.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use keel_consensus::{
    Action, BlockId, BlockResponse, Config, Core, Event, Height, Message, Payload, RecoveryData, Round,
    SafetyWeakening, SealedBlock, StateCommitment, Time, ValidatorSet,
};
use keel_crypto::{Hash, Keypair, PublicKey};
use rand::Rng;

use crate::audit::Auditor;
use crate::byzantine::Adversary;
use crate::checker::{Checker, Violation};
use crate::fastsig::{scheme_for, FastRegistry, SignatureMode};
use crate::instance::{Instance, Side, Stored};
use crate::ledger_load::{ClientLoad, SimLedger};
use crate::network::{NetworkConfig, NodeIndex};
use crate::queue::{EventQueue, VirtualMs};
use crate::rng::{stream, SimRng};
use crate::scenario::{fault_tolerance, Behaviour, Scenario};
use crate::trace::{Trace, TraceKind};

/// Everything a run depends on.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The seed of every random stream of the run.
    pub seed: u64,
    /// The faults and the network.
    pub scenario: Scenario,
    /// Real ed25519 or the fast keyed-hash scheme.
    pub signatures: SignatureMode,
    /// Client transactions a leader puts in each block.
    pub txs_per_block: u32,
    /// Size of each transaction, bytes.
    pub tx_bytes: u32,
    /// The base round timeout; the back-off cap is four times it.
    pub round_timeout_ms: u64,
    /// TEST ONLY: run honest cores with a broken safety rule.
    pub weakening: Option<SafetyWeakening>,
    /// Print every event to stderr as it happens.
    pub trace_live: bool,
    /// Blocks carry signed transfers that every validator executes on its own ledger, and the
    /// checker compares state roots; otherwise blocks carry opaque random transactions.
    pub ledger: bool,
}

impl RunOptions {
    /// Defaults for `scenario`: ed25519, 10 transactions of 512 bytes per block, 1 s timeouts.
    pub fn new(seed: u64, scenario: Scenario) -> Self {
        RunOptions {
            seed,
            scenario,
            signatures: SignatureMode::Ed25519,
            txs_per_block: 10,
            tx_bytes: 512,
            round_timeout_ms: 1000,
            weakening: None,
            trace_live: false,
            ledger: true,
        }
    }

    /// How long an honest node may go without a commit once the run has stabilised: enough for
    /// f silent leaders in a row at the capped back-off, two honest rounds and catching up.
    pub fn liveness_bound_ms(&self) -> VirtualMs {
        let f = fault_tolerance(self.scenario.validators) as u64;
        (f + 4) * self.round_timeout_ms * 4
    }
}

/// A queued happening.
#[derive(Debug)]
enum SimEvent {
    /// A frame arrives at an instance from a validator.
    Deliver { to: usize, from: NodeIndex, frame: Rc<Frame> },
    /// A timer an instance set, unless superseded (generation).
    Timer { instance: usize, round: Round, generation: u64 },
    /// An event the instance's own environment produces (start, payload); boxed, as a
    /// payload is far larger than the other events.
    Local { instance: usize, event: Box<Event> },
    /// A validator crashes (every instance of it).
    Crash { validator: NodeIndex },
    /// A validator starts again from what it stored.
    Restart { validator: NodeIndex },
}

/// What travels on the simulated wire: the bytes, and for an honest sender the message they
/// encode. Decoding checks every public key in a certificate (a point decompression each), so
/// honest frames hand receivers the sender's message instead of decoding it once per recipient;
/// Byzantine frames carry bytes only and are decoded, with the byte limit, like a node would.
#[derive(Debug)]
struct Frame {
    bytes: Vec<u8>,
    /// Hash of `bytes`, computed once: the audit records it for every delivery.
    digest: Hash,
    message: Option<Message>,
}

impl Frame {
    fn honest(message: Message) -> Rc<Frame> {
        let bytes = message.encode();
        Rc::new(Frame { digest: Hash::sha256(&bytes), bytes, message: Some(message) })
    }

    fn raw(bytes: Vec<u8>) -> Rc<Frame> {
        Rc::new(Frame { digest: Hash::sha256(&bytes), bytes, message: None })
    }
}

/// Counters the report is built from.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages delivered to a running instance.
    pub messages: u64,
    /// Their bytes.
    pub message_bytes: u64,
    /// Frames that did not decode.
    pub undecodable: u64,
    /// Fresh timeouts signed by honest validators.
    pub timeouts: u64,
    /// Rounds for which an honest validator stored a TC.
    pub tc_rounds: BTreeSet<u64>,
    /// Evidence reports by honest validators.
    pub evidence: u64,
    /// Transactions in committed blocks (first commit of each height).
    pub committed_txs: u64,
    /// Per committed height, (rounds, virtual ms) from proposal to first commit.
    pub commit_latency: Vec<(u64, u64)>,
    /// Highest round an honest instance reached.
    pub round_max: u64,
}

/// The result of a run before it is turned into a report.
pub struct Outcome {
    /// The checker, with every violation.
    pub checker: Checker,
    /// The counters.
    pub counters: Counters,
    /// Virtual time at the end.
    pub end_ms: VirtualMs,
    /// Events processed.
    pub events: u64,
    /// Hash of the event sequence.
    pub digest: Hash,
    /// The last events before the end (the lead-up to a violation).
    pub trace: Vec<String>,
    /// Whether the liveness check applied: the run stayed within fault tolerance and was stable
    /// for longer than the bound.
    pub liveness_checked: bool,
}

impl Outcome {
    /// Every violation, safety and liveness.
    pub fn violations(&self) -> &[Violation] {
        self.checker.violations()
    }
}

/// A run in progress.
pub struct Simulation {
    options: RunOptions,
    config: Config,
    validators: ValidatorSet,
    keypairs: Vec<Keypair>,
    registry: Arc<FastRegistry>,
    keys: Vec<PublicKey>,
    key_index: BTreeMap<PublicKey, NodeIndex>,
    instances: Vec<Instance>,
    /// Per validator, its instances (two for a Twins validator): routing looks this up for
    /// every message.
    instances_by_validator: Vec<Vec<usize>>,
    honest_side: Vec<Side>,
    queue: EventQueue<SimEvent>,
    network: NetworkConfig,
    unpartitioned: NetworkConfig,
    network_rng: SimRng,
    payload_rng: SimRng,
    load: Option<ClientLoad>,
    checker: Checker,
    auditor: Auditor,
    trace: Trace,
    counters: Counters,
    proposed_at: BTreeMap<BlockId, VirtualMs>,
    /// One copy of each committed block, shared by every instance's storage.
    committed_blocks: BTreeMap<BlockId, SealedBlock>,
    now: VirtualMs,
}

impl Simulation {
    /// Sets up validators, instances and the scheduled crashes of `options`.
    pub fn new(options: RunOptions) -> Simulation {
        let scenario = &options.scenario;
        scenario.assert_well_formed();
        let (n, byzantine) = (scenario.validators, scenario.byzantine);
        let mut key_rng = stream(options.seed, "keys", 0);
        let keypairs: Vec<Keypair> = (0..n).map(|_| Keypair::generate(&mut key_rng)).collect();
        let keys: Vec<PublicKey> = keypairs.iter().map(Keypair::public).collect();
        let validators = ValidatorSet::equal_power(keys.clone()).expect("distinct generated keys");
        let mut config = Config::new(Hash::sha256(b"keel-sim chain"));
        config.validate_blocks = false;
        config.round_timeout_ms = options.round_timeout_ms;
        config.round_timeout_ms_max = options.round_timeout_ms * 4;
        config.test_only_weakened_safety = options.weakening;
        config.check().expect("simulation config is valid");
        let registry = FastRegistry::new(&keypairs);
        let honest_count = n - byzantine;
        let honest_side = (0..n).map(|v| if v < honest_count / 2 { Side::A } else { Side::B }).collect();
        let genesis = RecoveryData::genesis(&config.chain_id, &validators);
        let load = options.ledger.then(|| ClientLoad::new(options.seed, options.txs_per_block));
        let ledger_genesis = load.as_ref().map(|load| load.genesis(&keys));
        let mut instances = Vec::new();
        for (validator, keypair) in keypairs.iter().enumerate() {
            let honest = validator < honest_count;
            let sides: &[Side] =
                if !honest && scenario.behaviour == Behaviour::Twins { &[Side::A, Side::B] } else { &[Side::All] };
            for &side in sides {
                let adversary = (!honest).then(|| {
                    let rng = stream(options.seed, "adversary", instances.len() as u64);
                    let scheme = scheme_for(options.signatures, keypair, &registry);
                    Adversary::new(scenario.behaviour, scheme, config.chain_id, keys.clone(), rng)
                });
                let scheme = scheme_for(options.signatures, keypair, &registry);
                let core = Core::new(config.clone(), validators.clone(), scheme, genesis.clone());
                instances.push(Instance {
                    validator,
                    side,
                    honest,
                    core: Some(core),
                    stored: Stored::genesis(&genesis),
                    timer_generation: 0,
                    adversary,
                    ledger: ledger_genesis.as_ref().map(SimLedger::new),
                });
            }
        }
        let mut queue = EventQueue::default();
        for instance in 0..instances.len() {
            queue.push(0, SimEvent::Local { instance, event: Box::new(Event::Start) });
        }
        for crash in &scenario.crashes {
            queue.push(crash.at_ms, SimEvent::Crash { validator: crash.node });
            if let Some(restart) = crash.restart_ms {
                queue.push(restart, SimEvent::Restart { validator: crash.node });
            }
        }
        let mut instances_by_validator = vec![Vec::new(); n];
        for (index, instance) in instances.iter().enumerate() {
            instances_by_validator[instance.validator].push(index);
        }
        let network = scenario.network.clone();
        let unpartitioned = NetworkConfig { partitions: Vec::new(), ..network.clone() };
        Simulation {
            checker: Checker::new((0..n).map(|v| v < honest_count).collect()),
            key_index: keys.iter().enumerate().map(|(i, k)| (*k, i)).collect(),
            network_rng: stream(options.seed, "network", 0),
            payload_rng: stream(options.seed, "payload", 0),
            load,
            trace: Trace::new(if options.trace_live { 0 } else { 200 }, options.trace_live),
            options: options.clone(),
            config,
            validators,
            keypairs,
            registry,
            keys,
            instances,
            instances_by_validator,
            honest_side,
            queue,
            network,
            unpartitioned,
            auditor: Auditor::default(),
            counters: Counters::default(),
            proposed_at: BTreeMap::new(),
            committed_blocks: BTreeMap::new(),
            now: 0,
        }
    }

    /// Runs to the scenario's end or the first violation.
    pub fn run(mut self) -> Outcome {
        let end_ms = self.options.scenario.duration_ms;
        while let Some(at) = self.queue.peek_time() {
            if at > end_ms {
                break;
            }
            let (at, event) = self.queue.pop().expect("peeked");
            self.now = at;
            self.step(event);
            if !self.checker.violations().is_empty() {
                break;
            }
        }
        let stopped_early = !self.checker.violations().is_empty();
        let end_ms = if stopped_early { self.now } else { end_ms };
        // The check can only fail when the stable part of the run is longer than the bound; a
        // shorter one is reported as unchecked rather than passed.
        let stable_from = self.options.scenario.stable_from_ms();
        let window_ms = end_ms.saturating_sub(stable_from);
        let liveness_checked = self.options.scenario.within_fault_tolerance()
            && !stopped_early
            && window_ms > self.options.liveness_bound_ms();
        if liveness_checked {
            let alive: Vec<bool> = (0..self.keys.len())
                .map(|v| self.instances.iter().filter(|i| i.validator == v).all(Instance::is_up))
                .collect();
            self.checker.check_liveness(&alive, stable_from, self.options.liveness_bound_ms(), end_ms);
        }
        Outcome {
            counters: self.counters,
            end_ms,
            events: self.auditor.events(),
            digest: self.auditor.digest(),
            trace: self.trace.lines(),
            checker: self.checker,
            liveness_checked,
        }
    }

    fn step(&mut self, event: SimEvent) {
        match event {
            SimEvent::Deliver { to, from, frame } => self.on_deliver(to, from, &frame),
            SimEvent::Timer { instance, round, generation } => {
                if self.instances[instance].timer_generation != generation || !self.instances[instance].is_up() {
                    return;
                }
                self.record(instance, TraceKind::Timer { round: round.get() }, &round.get().to_le_bytes());
                self.handle(instance, Event::TimerFired { round });
            }
            SimEvent::Local { instance, event } => {
                if !self.instances[instance].is_up() {
                    return;
                }
                let (kind, tag) = match event.as_ref() {
                    Event::PayloadReady { round, .. } => (TraceKind::Payload { round: round.get() }, round.get()),
                    _ => (TraceKind::Start, u64::MAX),
                };
                self.record(instance, kind, &tag.to_le_bytes());
                self.handle(instance, *event);
            }
            SimEvent::Crash { validator } => self.on_crash(validator),
            SimEvent::Restart { validator } => self.on_restart(validator),
        }
    }

    fn record(&mut self, instance: usize, kind: TraceKind, bytes: &[u8]) {
        self.auditor.record(self.now, instance, bytes);
        self.trace.push(self.now, instance, self.instances[instance].validator, kind);
    }

    fn instances_of(&self, validator: NodeIndex) -> Vec<usize> {
        self.instances_by_validator[validator].clone()
    }

    fn on_crash(&mut self, validator: NodeIndex) {
        for instance in self.instances_of(validator) {
            self.record(instance, TraceKind::Crash, b"crash");
            let target = &mut self.instances[instance];
            target.core = None;
            target.timer_generation += 1;
        }
    }

    fn on_restart(&mut self, validator: NodeIndex) {
        for instance in self.instances_of(validator) {
            if self.instances[instance].is_up() {
                continue;
            }
            self.record(instance, TraceKind::Restart, b"restart");
            let scheme = scheme_for(self.options.signatures, &self.keypairs[validator], &self.registry);
            let recovery = self.instances[instance].stored.recovery();
            let core = Core::new(self.config.clone(), self.validators.clone(), scheme, recovery);
            self.instances[instance].core = Some(core);
            self.handle(instance, Event::Start);
        }
    }

    fn on_deliver(&mut self, to: usize, from: NodeIndex, frame: &Frame) {
        if !self.instances[to].is_up() {
            return;
        }
        let bytes = &frame.bytes;
        self.counters.messages += 1;
        self.counters.message_bytes += bytes.len() as u64;
        let decoded = match &frame.message {
            Some(message) => Ok(message.clone()),
            None => Message::decode(bytes, self.config.message_bytes_max),
        };
        let message = match decoded {
            Ok(message) => message,
            Err(_) => {
                self.counters.undecodable += 1;
                self.record(to, TraceKind::Undecodable { from, bytes: bytes.len() }, frame.digest.as_bytes());
                return;
            }
        };
        let (kind, round) = summary(&message);
        self.record(to, TraceKind::Message { from, kind, round }, frame.digest.as_bytes());
        if let Message::BlockRequest(request) = &message {
            if self.instances[to].honest {
                self.serve_blocks(to, from, request.id, request.count);
                return;
            }
        }
        self.handle(to, Event::Message { from: self.keys[from], message });
    }

    /// Answers a block request from storage, as the node does from RocksDB: the block and its
    /// ancestors, newest first, capped by the core's limit.
    fn serve_blocks(&mut self, instance: usize, requester: NodeIndex, id: BlockId, count: u32) {
        let count = count.min(self.config.blocks_per_response_max) as usize;
        let stored = &self.instances[instance].stored;
        let mut blocks = Vec::new();
        let mut next = id;
        while blocks.len() < count {
            let Some(block) = stored.block(&next) else { break };
            if block.height == Height::ZERO {
                break;
            }
            next = block.parent;
            blocks.push(block.clone());
        }
        if blocks.is_empty() {
            return;
        }
        let message = Message::BlockResponse(BlockResponse { blocks });
        self.transmit(instance, requester, Frame::honest(message));
    }

    fn local_now(&self, instance: usize) -> Time {
        let skew = self.options.scenario.clock_skew_ms[self.instances[instance].validator];
        Time((self.now as i64 + skew).max(0) as u64)
    }

    fn handle(&mut self, instance: usize, event: Event) {
        let now = self.local_now(instance);
        let Some(core) = self.instances[instance].core.as_mut() else { return };
        let actions = core.handle(now, event);
        let round = core.round().get();
        if self.instances[instance].honest {
            self.counters.round_max = self.counters.round_max.max(round);
        }
        for action in actions {
            self.perform(instance, action);
        }
    }

    fn perform(&mut self, instance: usize, action: Action) {
        match action {
            Action::Send { to, message } => self.send(instance, &[to], &message),
            Action::Broadcast { message } => {
                if let Message::Proposal(proposal) = &message {
                    self.proposed_at.entry(proposal.block.id()).or_insert(self.now);
                }
                let me = self.keys[self.instances[instance].validator];
                let others: Vec<PublicKey> = self.keys.iter().copied().filter(|k| *k != me).collect();
                self.send(instance, &others, &message);
            }
            Action::SetTimer { round, deadline } => {
                let skew = self.options.scenario.clock_skew_ms[self.instances[instance].validator];
                let at = ((deadline.as_ms() as i64 - skew).max(0) as u64).max(self.now);
                let target = &mut self.instances[instance];
                target.timer_generation += 1;
                let generation = target.timer_generation;
                self.queue.push(at, SimEvent::Timer { instance, round, generation });
            }
            Action::PersistSafety(state) => self.on_persist_safety(instance, state),
            Action::PersistBlock(block) => {
                self.instances[instance].stored.blocks.insert(block.id(), block);
            }
            Action::PersistQuorumCert(qc) => self.instances[instance].stored.high_qc = Some(qc),
            Action::PersistTimeoutCert(tc) => {
                if self.instances[instance].honest {
                    self.counters.tc_rounds.insert(tc.round.get());
                }
                self.instances[instance].stored.high_tc = Some(tc);
            }
            Action::RequestPayload { round, .. } => {
                let target = &self.instances[instance];
                let core = target.core.as_ref().expect("a running core asked");
                let (payload, state) = match (&self.load, &target.ledger) {
                    (Some(load), Some(ledger)) => {
                        let (height, root) = ledger.last();
                        (load.payload(round.get(), ledger), StateCommitment { height: Height(height), root })
                    }
                    _ => {
                        let state = StateCommitment { height: core.committed_height(), root: Hash::ZERO };
                        (self.make_payload(), state)
                    }
                };
                self.queue.push(
                    self.now,
                    SimEvent::Local { instance, event: Box::new(Event::PayloadReady { round, payload, state }) },
                );
            }
            Action::ValidateBlock { block } => {
                let event = Box::new(Event::BlockValidated { block_id: block.id(), valid: true });
                self.queue.push(self.now, SimEvent::Local { instance, event });
            }
            Action::Commit { blocks, proof } => self.on_commit(instance, blocks, proof.block_qc),
            Action::FetchBlocks { from, request } => {
                let to = self.key_index[&from];
                self.transmit(instance, to, Frame::honest(Message::BlockRequest(request)));
            }
            Action::Evidence(_) => {
                if self.instances[instance].honest {
                    self.counters.evidence += 1;
                }
            }
        }
    }

    fn make_payload(&mut self) -> Payload {
        let (count, size) = (self.options.txs_per_block, self.options.tx_bytes as usize);
        let transactions = (0..count)
            .map(|_| {
                let mut tx = vec![0u8; size];
                self.payload_rng.fill(tx.as_mut_slice());
                tx
            })
            .collect();
        Payload { transactions }
    }

    fn on_persist_safety(&mut self, instance: usize, state: keel_consensus::SafetyState) {
        let target = &self.instances[instance];
        if target.honest {
            let validator = target.validator;
            if let Some(vote) = &state.last_vote {
                self.checker.on_vote(validator, vote.round.get(), *vote.block_id.hash(), self.now);
            }
            self.checker.on_lock(validator, state.locked_round.get(), self.now);
            if state.last_timeout.is_some() && state.last_timeout != target.stored.safety.last_timeout {
                self.counters.timeouts += 1;
            }
        }
        self.instances[instance].stored.safety = state;
    }

    fn on_commit(&mut self, instance: usize, blocks: Vec<SealedBlock>, root_qc: keel_consensus::QuorumCert) {
        let (validator, honest) = (self.instances[instance].validator, self.instances[instance].honest);
        let blocks: Vec<SealedBlock> =
            blocks.into_iter().map(|block| self.committed_blocks.entry(block.id()).or_insert(block).clone()).collect();
        if honest {
            let round = self.instances[instance].core.as_ref().map_or(0, |c| c.round().get());
            for block in &blocks {
                let id = &block.id();
                let height = block.height.get();
                let first = height > self.checker.committed_height_max();
                self.checker.on_commit(validator, height, *id.hash(), self.now);
                let mut txs = block.payload.transactions.len() as u64;
                if let Some(ledger) = self.instances[instance].ledger.as_mut() {
                    let (root, applied) = ledger.execute(block);
                    self.checker.on_state_root(validator, height, root, self.now);
                    txs = applied;
                }
                if first {
                    self.counters.committed_txs += txs;
                    if let Some(proposed) = self.proposed_at.remove(id) {
                        let rounds = round.saturating_sub(block.round.get());
                        self.counters.commit_latency.push((rounds, self.now - proposed));
                    }
                }
            }
        }
        if !honest {
            // A Byzantine validator keeps its ledger too, so its proposals carry live nonces.
            if let Some(ledger) = self.instances[instance].ledger.as_mut() {
                for block in &blocks {
                    ledger.execute(block);
                }
            }
        }
        self.instances[instance].stored.on_commit(&blocks, root_qc);
    }

    /// Sends `message` from `instance` to each recipient, through its adversary if Byzantine.
    fn send(&mut self, instance: usize, recipients: &[PublicKey], message: &Message) {
        if let Some(adversary) = self.instances[instance].adversary.as_mut() {
            for outgoing in adversary.rewrite(recipients, message) {
                let to = self.key_index[&outgoing.to];
                self.transmit(instance, to, Frame::raw(outgoing.bytes));
            }
            return;
        }
        let frame = Frame::honest(message.clone());
        for key in recipients {
            let to = self.key_index[key];
            self.transmit(instance, to, frame.clone());
        }
    }

    /// Puts bytes on the simulated wire from `instance` to every instance of validator `to`
    /// that can hear it (for Twins, the one on the sender's side).
    fn transmit(&mut self, instance: usize, to: NodeIndex, frame: Rc<Frame>) {
        let from = self.instances[instance].validator;
        let sender = &self.instances[instance];
        let sender_twin = sender.side != Side::All;
        let sender_side = match (sender_twin, sender.honest) {
            (true, _) => sender.side,
            (false, true) => self.honest_side[from],
            (false, false) => Side::All,
        };
        let hears = |target: &Instance| match target.side {
            Side::All => !sender_twin || !target.honest || self.honest_side[to] == sender_side,
            side => side == sender_side,
        };
        let targets: Vec<usize> =
            self.instances_by_validator[to].iter().copied().filter(|&i| hears(&self.instances[i])).collect();
        for target in targets {
            // Twins sit on both sides of every partition: the partition model cuts honest links.
            let twin_link = self.instances[target].side != Side::All || self.instances[instance].side != Side::All;
            let network = if twin_link { &self.unpartitioned } else { &self.network };
            for arrival in network.route(&mut self.network_rng, from, to, self.now) {
                self.queue.push(arrival, SimEvent::Deliver { to: target, from, frame: frame.clone() });
            }
        }
    }
}

/// A message's kind and round, for the trace.
fn summary(message: &Message) -> (&'static str, u64) {
    let round = match message {
        Message::Proposal(p) => p.block.round.get(),
        Message::Vote(v) => v.round.get(),
        Message::Timeout(t) => t.round.get(),
        Message::TimeoutCert(tc) => tc.round.get(),
        Message::BlockRequest(_) | Message::BlockResponse(_) => 0,
    };
    (message.kind(), round)
}

/// Runs one simulation.
pub fn run(options: RunOptions) -> Outcome {
    Simulation::new(options).run()
}
