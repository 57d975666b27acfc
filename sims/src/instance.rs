//! One running copy of a validator: its core (absent while crashed), what its driver has made
//! durable, and, for a Byzantine validator, the adversary that rewrites what it sends. A Twins
//! validator has two instances sharing one key, each on one side of the network.

use std::collections::BTreeMap;

use keel_consensus::{Block, BlockId, Core, QuorumCert, RecoveryData, SafetyState, SealedBlock, TimeoutCert};

use crate::byzantine::Adversary;
use crate::ledger_load::SimLedger;
use crate::network::NodeIndex;

/// Which part of the network an instance talks to. Honest validators are on one side each
/// (only Twins instances care): the first half of the honest validators is side A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// Talks to everyone (every instance that is not a twin).
    All,
    /// Talks to side-A honest validators and the other twins of side A.
    A,
    /// Talks to side-B honest validators and the other twins of side B.
    B,
}

/// What a validator's driver made durable, as the persistence contract requires: it survives a
/// crash; everything in the core does not.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The safety state last persisted.
    pub safety: SafetyState,
    /// The last committed block.
    pub root: SealedBlock,
    /// A QC certifying it.
    pub root_qc: QuorumCert,
    /// Uncommitted blocks stored.
    pub blocks: BTreeMap<BlockId, SealedBlock>,
    /// Committed blocks, kept to serve peers that fall behind (as the node does from RocksDB).
    /// Shared with every other instance that committed the same block (see
    /// `Simulation::on_commit`): a 100-validator run would otherwise hold 100 copies of the chain.
    pub committed: BTreeMap<BlockId, SealedBlock>,
    /// The highest QC persisted.
    pub high_qc: Option<QuorumCert>,
    /// The highest TC persisted.
    pub high_tc: Option<TimeoutCert>,
}

impl Stored {
    /// A fresh node's storage: genesis only.
    pub fn genesis(recovery: &RecoveryData) -> Self {
        Stored {
            safety: SafetyState::default(),
            root: SealedBlock::seal(recovery.root.clone()),
            root_qc: recovery.root_qc.clone(),
            blocks: BTreeMap::new(),
            committed: BTreeMap::new(),
            high_qc: None,
            high_tc: None,
        }
    }

    /// What a restarted core is given.
    pub fn recovery(&self) -> RecoveryData {
        RecoveryData {
            safety: self.safety.clone(),
            root: Block::clone(&self.root),
            root_qc: self.root_qc.clone(),
            blocks: self.blocks.values().map(|block| Block::clone(block)).collect(),
            high_qc: self.high_qc.clone(),
            high_tc: self.high_tc.clone(),
        }
    }

    /// A stored block by id, committed or not.
    pub fn block(&self, id: &BlockId) -> Option<&Block> {
        if self.root.id() == *id {
            return Some(&self.root);
        }
        self.blocks.get(id).or_else(|| self.committed.get(id)).map(|block| &**block)
    }

    /// Records blocks that committed, moving them out of the uncommitted set.
    pub fn on_commit(&mut self, blocks: &[SealedBlock], root_qc: QuorumCert) {
        let last = blocks.last().expect("a commit has blocks").clone();
        let old_root = std::mem::replace(&mut self.root, last);
        self.committed.insert(old_root.id(), old_root);
        for block in &blocks[..blocks.len() - 1] {
            self.committed.insert(block.id(), block.clone());
        }
        let height = self.root.height;
        self.blocks.retain(|_, b| b.height > height);
        self.root_qc = root_qc;
    }
}

/// One instance of a validator in the run.
pub struct Instance {
    /// The validator it runs as.
    pub validator: NodeIndex,
    /// Its side of the network.
    pub side: Side,
    /// Whether the validator is honest (the checker holds only these to the invariants).
    pub honest: bool,
    /// The core; `None` while crashed.
    pub core: Option<Core>,
    /// Durable state.
    pub stored: Stored,
    /// Bumped on every new timer and every crash, so that stale timer events are ignored.
    pub timer_generation: u64,
    /// For a Byzantine validator, what rewrites its messages.
    pub adversary: Option<Adversary>,
    /// Its ledger, when the run executes blocks (storage: it survives crashes).
    pub ledger: Option<SimLedger>,
}

impl Instance {
    /// Whether it is running.
    pub fn is_up(&self) -> bool {
        self.core.is_some()
    }
}
