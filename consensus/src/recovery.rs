//! What the core needs after a crash: the persisted safety state and the blocks and
//! certificates the driver stored from `Persist*` and `Commit` actions.
//!
//! Persistence contract (the driver's side):
//! - `PersistSafety`: durable before any later send; keep the latest.
//! - `PersistBlock`: keep every block above the last committed one.
//! - `PersistQuorumCert` / `PersistTimeoutCert`: keep the latest of each.
//! - `Commit { blocks, proof }`: the last block becomes `root`, `proof.block_qc` its `root_qc`;
//!   stored blocks at or below it may be dropped.

use keel_crypto::Hash;

use crate::block::Block;
use crate::quorum_cert::QuorumCert;
use crate::safety::SafetyState;
use crate::timeout::TimeoutCert;
use crate::types::{Height, Round};
use crate::validators::ValidatorSet;

/// A node's stored consensus state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryData {
    /// The latest persisted safety state.
    pub safety: SafetyState,
    /// The last committed block (genesis before the first commit).
    pub root: Block,
    /// A QC certifying `root`.
    pub root_qc: QuorumCert,
    /// Stored blocks above the root, in any order; ones that do not connect are dropped.
    pub blocks: Vec<Block>,
    /// The latest persisted highest QC, if any.
    pub high_qc: Option<QuorumCert>,
    /// The latest persisted highest TC, if any.
    pub high_tc: Option<TimeoutCert>,
}

impl RecoveryData {
    /// The state of a node that has never run: genesis, nothing signed.
    pub fn genesis(chain_id: &Hash, validators: &ValidatorSet) -> Self {
        let root = Block::genesis(chain_id, validators);
        let root_qc = genesis_qc(&root);
        RecoveryData { safety: SafetyState::default(), root, root_qc, blocks: Vec::new(), high_qc: None, high_tc: None }
    }
}

/// The QC that certifies the genesis block by definition.
pub fn genesis_qc(genesis: &Block) -> QuorumCert {
    assert!(genesis.round == Round::ZERO && genesis.height == Height::ZERO, "genesis is round 0, height 0");
    QuorumCert::unsigned(genesis.id(), Round::ZERO, Height::ZERO)
}
