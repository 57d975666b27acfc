//! An in-memory network of Cores for tests: deterministic delivery (FIFO, or a seeded random
//! order with drops and duplicates), virtual time that jumps to the next timer when nothing is
//! in flight, crash and restart from what the node persisted, and invariant checks on every
//! action that do not reuse the core's bookkeeping.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use keel_crypto::{Hash, PublicKey};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::testkit::Fixture;
use crate::{
    Action, Block, BlockId, Config, Core, Event, Evidence, Message, Payload, QuorumCert, RecoveryData, Round,
    SafetyState, SealedBlock, StateCommitment, Time, TimeoutCert,
};

/// What a node's driver stored, as the persistence contract says.
#[derive(Clone)]
pub struct Stored {
    pub safety: SafetyState,
    pub root: Block,
    pub root_qc: QuorumCert,
    pub blocks: BTreeMap<BlockId, Block>,
    pub high_qc: Option<QuorumCert>,
    pub high_tc: Option<TimeoutCert>,
}

/// Random delivery: each step picks any queued event; messages may be dropped or duplicated.
pub struct Chaos {
    pub rng: ChaCha8Rng,
    pub drop_ppm: u32,
    pub duplicate_ppm: u32,
}

pub struct Net {
    pub fixture: Fixture,
    pub cores: Vec<Option<Core>>,
    pub queue: VecDeque<(usize, Event)>,
    pub timers: Vec<Option<(Round, Time)>>,
    pub now: Time,
    /// Nodes that neither send nor receive (a crashed-forever or silent validator).
    pub silent: BTreeSet<usize>,
    pub stored: Vec<Stored>,
    /// Per node, committed block ids in height order (index 0 is height 1).
    pub commits: Vec<Vec<BlockId>>,
    /// Per node, every vote it ever persisted: round → block. Survives restarts.
    pub votes_signed: Vec<BTreeMap<Round, BlockId>>,
    pub evidence: Vec<(usize, Evidence)>,
    /// Broken invariants, in order; tests assert it stays empty (or, for the weakened rules,
    /// that it does not).
    pub violations: Vec<String>,
    pub timeouts_fired: u64,
    pub chaos: Option<Chaos>,
    pub steps: u64,
    index: BTreeMap<PublicKey, usize>,
    config: Config,
}

impl Net {
    pub fn new(n: usize, adjust: impl Fn(&mut Config)) -> Net {
        let fixture = Fixture::new(n);
        let mut config = fixture.config.clone();
        config.validate_blocks = false;
        adjust(&mut config);
        let genesis = RecoveryData::genesis(&config.chain_id, &fixture.validators);
        let stored = Stored {
            safety: SafetyState::default(),
            root: genesis.root.clone(),
            root_qc: genesis.root_qc.clone(),
            blocks: BTreeMap::new(),
            high_qc: None,
            high_tc: None,
        };
        let index = (0..n).map(|i| (fixture.key(i), i)).collect();
        let mut net = Net {
            cores: (0..n).map(|_| None).collect(),
            queue: VecDeque::new(),
            timers: vec![None; n],
            now: Time::ZERO,
            silent: BTreeSet::new(),
            stored: vec![stored; n],
            commits: vec![Vec::new(); n],
            votes_signed: vec![BTreeMap::new(); n],
            evidence: Vec::new(),
            violations: Vec::new(),
            timeouts_fired: 0,
            chaos: None,
            steps: 0,
            index,
            config,
            fixture,
        };
        for node in 0..n {
            net.start(node);
        }
        net
    }

    /// (Re)starts `node` from what it stored.
    pub fn start(&mut self, node: usize) {
        let stored = &self.stored[node];
        let recovery = RecoveryData {
            safety: stored.safety.clone(),
            root: stored.root.clone(),
            root_qc: stored.root_qc.clone(),
            blocks: stored.blocks.values().cloned().collect(),
            high_qc: stored.high_qc.clone(),
            high_tc: stored.high_tc.clone(),
        };
        let scheme = Box::new(self.fixture.scheme(node));
        self.cores[node] = Some(Core::new(self.config.clone(), self.fixture.validators.clone(), scheme, recovery));
        self.timers[node] = None;
        self.queue.push_back((node, Event::Start));
    }

    /// Loses `node`'s volatile state; its queued events are dropped on delivery.
    pub fn crash(&mut self, node: usize) {
        self.cores[node] = None;
        self.timers[node] = None;
    }

    pub fn core(&self, node: usize) -> &Core {
        self.cores[node].as_ref().expect("node is up")
    }

    pub fn honest(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.cores.len()).filter(|n| !self.silent.contains(n))
    }

    pub fn committed_min(&self) -> usize {
        self.honest().map(|n| self.commits[n].len()).min().unwrap_or(0)
    }

    /// Runs until `done` or `steps_max` steps; returns whether `done` held.
    pub fn run_until(&mut self, steps_max: u64, done: impl Fn(&Net) -> bool) -> bool {
        for _ in 0..steps_max {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// Delivers one event (or fires the earliest timer when nothing is queued).
    pub fn step(&mut self) -> bool {
        self.steps += 1;
        let next = match self.chaos.as_mut() {
            Some(chaos) if !self.queue.is_empty() => {
                // Now and then time passes with messages still in flight.
                if chaos.rng.gen_ratio(1, 50) {
                    None
                } else {
                    let pick = chaos.rng.gen_range(0..self.queue.len());
                    self.queue.remove(pick)
                }
            }
            _ => self.queue.pop_front(),
        };
        match next {
            Some((node, event)) => self.deliver(node, event),
            None => return self.fire_timer(),
        }
        true
    }

    fn fire_timer(&mut self) -> bool {
        let earliest = self
            .timers
            .iter()
            .enumerate()
            .filter(|(node, timer)| timer.is_some() && !self.silent.contains(node) && self.cores[*node].is_some())
            .min_by_key(|(node, timer)| (timer.expect("filtered").1, *node))
            .map(|(node, timer)| (node, timer.expect("filtered")));
        let Some((node, (round, deadline))) = earliest else { return !self.queue.is_empty() };
        self.now = self.now.max(deadline);
        self.timers[node] = None;
        self.timeouts_fired += 1;
        self.deliver(node, Event::TimerFired { round });
        true
    }

    fn deliver(&mut self, node: usize, event: Event) {
        if self.silent.contains(&node) {
            return;
        }
        let Some(core) = self.cores[node].as_mut() else { return };
        let actions = core.handle(self.now, event);
        self.check_persist_order(&actions);
        for action in actions {
            self.perform(node, action);
        }
    }

    /// Persist-before-send: a vote or timeout leaves only after a PersistSafety recording it.
    fn check_persist_order(&self, actions: &[Action]) {
        let mut persisted: Option<&SafetyState> = None;
        for action in actions {
            match action {
                Action::PersistSafety(state) => persisted = Some(state),
                Action::Send { message: Message::Vote(vote), .. } => {
                    let recorded = persisted.and_then(|s| s.last_vote.as_ref());
                    assert!(recorded.is_none_or(|v| v == vote), "vote sent after a safety state recording another");
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, message: Message) {
        if self.silent.contains(&from) || self.silent.contains(&to) {
            return;
        }
        let copies = match self.chaos.as_mut() {
            Some(chaos) => {
                let roll = chaos.rng.gen_range(0..1_000_000u32);
                if roll < chaos.drop_ppm {
                    0
                } else if roll < chaos.drop_ppm + chaos.duplicate_ppm {
                    2
                } else {
                    1
                }
            }
            None => 1,
        };
        for _ in 0..copies {
            self.queue.push_back((to, Event::Message { from: self.fixture.key(from), message: message.clone() }));
        }
    }

    fn perform(&mut self, node: usize, action: Action) {
        match action {
            Action::Send { to, message } => self.send(node, self.index[&to], message),
            Action::Broadcast { message } => {
                for to in 0..self.cores.len() {
                    if to != node {
                        self.send(node, to, message.clone());
                    }
                }
            }
            Action::SetTimer { round, deadline } => self.timers[node] = Some((round, deadline)),
            Action::PersistSafety(state) => self.on_persist_safety(node, state),
            Action::PersistBlock(block) => {
                self.stored[node].blocks.insert(block.id(), block.into_block());
            }
            Action::PersistQuorumCert(qc) => self.stored[node].high_qc = Some(qc),
            Action::PersistTimeoutCert(tc) => self.stored[node].high_tc = Some(tc),
            Action::RequestPayload { round, height, .. } => {
                let payload = Payload { transactions: vec![format!("tx r{round} h{height}").into_bytes()] };
                let state =
                    StateCommitment { height: crate::Height(self.commits[node].len() as u64), root: Hash::ZERO };
                self.queue.push_back((node, Event::PayloadReady { round, payload, state }));
            }
            Action::ValidateBlock { block } => {
                let valid = !block.payload.transactions.iter().any(|tx| tx == b"invalid");
                self.queue.push_back((node, Event::BlockValidated { block_id: block.id(), valid }));
            }
            Action::Commit { blocks, proof } => self.on_commit(node, blocks, proof.block_qc),
            Action::FetchBlocks { from, request } => {
                self.send(node, self.index[&from], Message::BlockRequest(request));
            }
            Action::Evidence(evidence) => self.evidence.push((node, evidence)),
        }
    }

    fn on_persist_safety(&mut self, node: usize, state: SafetyState) {
        let before = &self.stored[node].safety;
        if state.locked_round < before.locked_round || state.last_voted_round < before.last_voted_round {
            self.violations.push(format!("node {node}: lock or last voted round went down"));
        }
        if let Some(vote) = &state.last_vote {
            let earlier = self.votes_signed[node].insert(vote.round, vote.block_id);
            if earlier.is_some_and(|id| id != vote.block_id) {
                self.violations.push(format!("node {node} signed two votes in round {}", vote.round));
            }
        }
        self.stored[node].safety = state;
    }

    fn on_commit(&mut self, node: usize, blocks: Vec<SealedBlock>, root_qc: QuorumCert) {
        for block in &blocks {
            let height = block.height.get() as usize;
            assert_eq!(height, self.commits[node].len() + 1, "node {node} commits heights in order");
            self.commits[node].push(block.id());
            for other in 0..self.commits.len() {
                if self.commits[other].get(height - 1).is_some_and(|theirs| *theirs != block.id()) {
                    self.violations.push(format!("nodes {node} and {other} committed different blocks at {height}"));
                }
            }
        }
        let last = blocks.last().expect("a commit has blocks").clone().into_block();
        let stored = &mut self.stored[node];
        stored.blocks.retain(|_, b| b.height > last.height);
        stored.root = last;
        stored.root_qc = root_qc;
    }
}
