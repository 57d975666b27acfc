//! The block tree: every known block that descends from the last committed block (the root),
//! the QCs known for them, and the 2-chain commit rule.
//!
//! Commit rule: when block B and its child B' are both certified and B' is from the round right
//! after B's (`B'.round == B.round + 1`), B and all its uncommitted ancestors commit, oldest
//! first. The proof is the pair (QC of B, QC of B').
//!
//! ```text
//!      root ◄── A ◄── B ◄── B' ◄── C          QC(B) is inside B', QC(B') inside C (or just formed)
//!                     r     r+1
//!                     └─ certified, consecutive: commit A, B
//! ```
//!
//! Invariants (asserted): every block in the tree other than the root has its parent in the
//! tree; heights increase by one along parent links and rounds strictly increase; the root's
//! height is the committed height. After a commit, everything that does not descend from the
//! new root is pruned; the newest committed blocks are kept (up to `committed_blocks_kept`) only
//! to answer peers' block requests.

use std::collections::{BTreeMap, VecDeque};

use borsh::{BorshDeserialize, BorshSerialize};

use crate::block::{Block, SealedBlock};
use crate::quorum_cert::QuorumCert;
use crate::types::{BlockId, Height, Round};

/// Proof that a block committed: its QC and the QC of its child from the next round.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitProof {
    /// The QC of the last committed block.
    pub block_qc: QuorumCert,
    /// The QC of its child, one round later.
    pub child_qc: QuorumCert,
}

/// Blocks that just committed, in height order, with the proof for the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The newly committed blocks, ascending height, consecutive.
    pub blocks: Vec<SealedBlock>,
    /// Why the last of them committed.
    pub proof: CommitProof,
}

/// What became of a block offered to the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// It is in the tree now; any commits it caused are listed.
    New(Vec<Committed>),
    /// It was already there.
    Known,
    /// Its parent is not in the tree.
    MissingParent,
    /// It does not descend from the root (at or below the committed height, or on a pruned
    /// fork).
    Stale,
}

/// The tree of uncommitted blocks above the committed root.
#[derive(Debug, Clone)]
pub struct BlockTree {
    blocks: BTreeMap<BlockId, SealedBlock>,
    certified: BTreeMap<BlockId, QuorumCert>,
    root: BlockId,
    root_height: Height,
    root_round: Round,
    high_qc: QuorumCert,
    committed: VecDeque<SealedBlock>,
    committed_blocks_kept: usize,
}

impl BlockTree {
    /// A tree whose root is the committed block `root`, certified by `root_qc`.
    pub fn new(root: Block, root_qc: QuorumCert, committed_blocks_kept: usize) -> Self {
        let root = SealedBlock::seal(root);
        let root_id = root.id();
        assert_eq!(root_qc.block_id, root_id, "the root QC certifies the root");
        assert_eq!((root_qc.round, root_qc.height), (root.round, root.height), "the root QC matches the root");
        let mut tree = BlockTree {
            blocks: BTreeMap::new(),
            certified: BTreeMap::new(),
            root: root_id,
            root_height: root.height,
            root_round: root.round,
            high_qc: root_qc.clone(),
            committed: VecDeque::new(),
            committed_blocks_kept,
        };
        tree.blocks.insert(root_id, root);
        tree.certified.insert(root_id, root_qc);
        tree
    }

    /// The last committed block's id.
    pub fn root(&self) -> BlockId {
        self.root
    }

    /// The last committed block.
    pub fn root_block(&self) -> &Block {
        &self.blocks[&self.root]
    }

    /// The committed height.
    pub fn committed_height(&self) -> Height {
        self.root_height
    }

    /// The highest QC known.
    pub fn high_qc(&self) -> &QuorumCert {
        &self.high_qc
    }

    /// A block in the tree, or one of the recently committed blocks kept for peers.
    pub fn get(&self, id: &BlockId) -> Option<&SealedBlock> {
        self.blocks.get(id).or_else(|| self.committed.iter().find(|b| b.id() == *id))
    }

    /// Whether `id` is in the tree proper (the root or above).
    pub fn contains(&self, id: &BlockId) -> bool {
        self.blocks.contains_key(id)
    }

    /// Up to `count` blocks, newest first: `id` and then its ancestors, as far as known.
    pub fn ancestors(&self, id: &BlockId, count: usize) -> Vec<Block> {
        let mut out = Vec::new();
        let mut next = *id;
        while out.len() < count {
            let Some(block) = self.get(&next) else { break };
            next = block.parent;
            out.push(Block::clone(block));
        }
        out
    }

    /// Adds `block` when its parent is in the tree, recording the QC it carries and applying
    /// the commit rule.
    pub fn insert(&mut self, block: SealedBlock) -> Inserted {
        let id = block.id();
        if self.blocks.contains_key(&id) {
            return Inserted::Known;
        }
        if block.height <= self.root_height {
            return Inserted::Stale;
        }
        let Some(parent) = self.blocks.get(&block.parent) else {
            return if block.height == self.root_height.next() { Inserted::Stale } else { Inserted::MissingParent };
        };
        assert_eq!(block.height, parent.height.next(), "verified blocks are one above their parent");
        assert!(block.round > parent.round, "verified blocks are from a later round than their parent");
        let qc = block.qc.clone();
        self.blocks.insert(id, block);
        let mut commits = self.insert_qc(qc);
        if self.certified.contains_key(&id) {
            commits.extend(self.try_commit(id));
        }
        Inserted::New(commits)
    }

    /// Records a verified QC; raises the high QC; applies the commit rule when the certified
    /// block is known.
    pub fn insert_qc(&mut self, qc: QuorumCert) -> Vec<Committed> {
        if qc.round <= self.root_round && qc.block_id != self.root {
            return Vec::new();
        }
        if qc.round > self.high_qc.round {
            self.high_qc = qc.clone();
        }
        let id = qc.block_id;
        self.certified.entry(id).or_insert(qc);
        self.try_commit(id).into_iter().collect()
    }

    /// The commit rule for a certified block `id`: commits its parent (and the parent's
    /// uncommitted ancestors) when the parent is one round older and uncommitted.
    fn try_commit(&mut self, id: BlockId) -> Option<Committed> {
        let child = self.blocks.get(&id)?;
        let parent = self.blocks.get(&child.parent)?;
        if child.round != parent.round.next() || parent.height <= self.root_height {
            return None;
        }
        let proof = CommitProof {
            block_qc: self.certified.get(&child.parent).expect("a child's QC certifies its parent").clone(),
            child_qc: self.certified[&id].clone(),
        };
        let new_root = child.parent;
        Some(self.commit(new_root, proof))
    }

    fn commit(&mut self, new_root: BlockId, proof: CommitProof) -> Committed {
        let mut chain = Vec::new();
        let mut cursor = new_root;
        while cursor != self.root {
            let block = self.blocks.get(&cursor).expect("every tree block descends from the root");
            chain.push(block.clone());
            cursor = block.parent;
        }
        chain.reverse();
        for pair in chain.windows(2) {
            assert_eq!(pair[1].parent, pair[0].id(), "committed blocks form a chain");
        }
        assert_eq!(chain[0].height, self.root_height.next(), "commits continue from the committed height");
        let old_root = self.root;
        let (root_height, root_round) = {
            let last = chain.last().expect("a commit has at least one block");
            (last.height, last.round)
        };
        self.root = new_root;
        self.root_height = root_height;
        self.root_round = root_round;
        self.keep_committed(old_root, &chain);
        self.prune();
        Committed { blocks: chain, proof }
    }

    /// Moves the old root and the newly committed blocks (except the new root) to the bounded
    /// committed store.
    fn keep_committed(&mut self, old_root: BlockId, chain: &[SealedBlock]) {
        let old = self.blocks.get(&old_root).expect("the old root is in the tree").clone();
        self.committed.push_back(old);
        self.committed.extend(chain[..chain.len() - 1].iter().cloned());
        while self.committed.len() > self.committed_blocks_kept {
            self.committed.pop_front();
        }
    }

    /// Drops every block that does not descend from the root, and QCs at or below it.
    fn prune(&mut self) {
        let mut by_height: Vec<(Height, BlockId)> = self.blocks.iter().map(|(id, b)| (b.height, *id)).collect();
        by_height.sort();
        let mut kept: BTreeMap<BlockId, SealedBlock> = BTreeMap::new();
        let root_block = self.blocks.remove(&self.root).expect("the new root is in the tree");
        kept.insert(self.root, root_block);
        for (height, id) in by_height {
            if height <= self.root_height {
                continue;
            }
            let block = self.blocks.remove(&id).expect("listed from the map");
            if kept.contains_key(&block.parent) {
                kept.insert(id, block);
            }
        }
        self.blocks = kept;
        let (root, root_round) = (self.root, self.root_round);
        self.certified.retain(|id, qc| *id == root || qc.round > root_round);
    }
}

#[cfg(test)]
#[path = "block_tree_tests.rs"]
mod tests;
