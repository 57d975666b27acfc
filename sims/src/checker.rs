//! The invariant checker. It sees only observations — which node committed which block id at
//! which height, which vote a node signed, what its lock is — never the consensus code's own
//! bookkeeping, so a bug in that code cannot hide itself from the check.
//!
//! Safety invariants, checked on every observation, over honest nodes only:
//! 1. **Agreement**: no two honest nodes commit different blocks at one height.
//! 2. **Prefix**: each honest node commits heights 1, 2, 3, … in order without gaps, so with (1)
//!    their committed chains are prefixes of one another.
//! 3. **No double vote**: an honest node never signs two different votes for one round, even
//!    across a crash and restart (the checker's memory survives the node's).
//! 4. **Monotone lock**: an honest node's locked round never goes down, even across a restart.
//! 5. **State agreement**: honest nodes that executed a height agree on its state root.
//!
//! Liveness, checked at the end of a run that stayed within fault tolerance: after the network
//! stabilised, every honest node committed a new block within the bound.

use std::collections::BTreeMap;
use std::fmt;

use keel_crypto::Hash;
use serde::Serialize;

use crate::network::NodeIndex;
use crate::queue::VirtualMs;

/// Which invariant broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvariantKind {
    /// Two honest nodes committed different blocks at one height.
    ConflictingCommit,
    /// A node skipped or repeated a height.
    CommitOutOfOrder,
    /// An honest node signed two different votes in one round.
    DoubleVote,
    /// An honest node's locked round went down.
    LockRegressed,
    /// Honest nodes disagree on the state root at a height.
    StateRootMismatch,
    /// An honest node made no progress within the bound after stabilisation.
    NoProgress,
}

/// A broken invariant, with what is needed to understand it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which invariant.
    pub kind: InvariantKind,
    /// The node whose observation broke it.
    pub node: NodeIndex,
    /// Virtual time of the observation.
    pub at_ms: VirtualMs,
    /// What exactly differed.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at node {} at {} ms: {}", self.kind, self.node, self.at_ms, self.detail)
    }
}

/// What the checker remembers about one honest node, across its restarts.
#[derive(Debug, Default)]
struct NodeRecord {
    committed_height: u64,
    commit_times_ms: Vec<VirtualMs>,
    votes: BTreeMap<u64, Hash>,
    locked_round: u64,
}

/// Checks the invariants as observations arrive.
#[derive(Debug)]
pub struct Checker {
    honest: Vec<bool>,
    nodes: Vec<NodeRecord>,
    committed: BTreeMap<u64, (Hash, NodeIndex)>,
    state_roots: BTreeMap<u64, (Hash, NodeIndex)>,
    violations: Vec<Violation>,
}

impl Checker {
    /// A checker for nodes `0..honest.len()`, of which those marked `true` are honest.
    pub fn new(honest: Vec<bool>) -> Self {
        let nodes = honest.iter().map(|_| NodeRecord::default()).collect();
        Checker { honest, nodes, committed: BTreeMap::new(), state_roots: BTreeMap::new(), violations: Vec::new() }
    }

    /// Every violation seen so far, in order.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Highest height committed by any honest node.
    pub fn committed_height_max(&self) -> u64 {
        self.committed.keys().next_back().copied().unwrap_or(0)
    }

    /// Highest height committed by `node`.
    pub fn committed_height(&self, node: NodeIndex) -> u64 {
        self.nodes[node].committed_height
    }

    fn violate(&mut self, kind: InvariantKind, node: NodeIndex, at_ms: VirtualMs, detail: String) {
        self.violations.push(Violation { kind, node, at_ms, detail });
    }

    /// `node` committed `block` at `height`.
    pub fn on_commit(&mut self, node: NodeIndex, height: u64, block: Hash, at_ms: VirtualMs) {
        if !self.honest[node] {
            return;
        }
        let expected = self.nodes[node].committed_height + 1;
        if height != expected {
            self.violate(
                InvariantKind::CommitOutOfOrder,
                node,
                at_ms,
                format!("committed height {height} but its next height is {expected}"),
            );
        }
        self.nodes[node].committed_height = self.nodes[node].committed_height.max(height);
        self.nodes[node].commit_times_ms.push(at_ms);
        match self.committed.get(&height) {
            Some(&(first, first_node)) if first != block => self.violate(
                InvariantKind::ConflictingCommit,
                node,
                at_ms,
                format!("height {height}: node {node} committed {block}, node {first_node} committed {first}"),
            ),
            Some(_) => {}
            None => {
                self.committed.insert(height, (block, node));
            }
        }
    }

    /// `node` signed a vote for `block` in `round`.
    pub fn on_vote(&mut self, node: NodeIndex, round: u64, block: Hash, at_ms: VirtualMs) {
        if !self.honest[node] {
            return;
        }
        match self.nodes[node].votes.insert(round, block) {
            Some(earlier) if earlier != block => self.violate(
                InvariantKind::DoubleVote,
                node,
                at_ms,
                format!("round {round}: voted for {earlier} and then {block}"),
            ),
            _ => {}
        }
    }

    /// `node`'s locked round is now `locked_round`.
    pub fn on_lock(&mut self, node: NodeIndex, locked_round: u64, at_ms: VirtualMs) {
        if !self.honest[node] {
            return;
        }
        let before = self.nodes[node].locked_round;
        if locked_round < before {
            self.violate(
                InvariantKind::LockRegressed,
                node,
                at_ms,
                format!("locked round went from {before} down to {locked_round}"),
            );
        }
        self.nodes[node].locked_round = before.max(locked_round);
    }

    /// `node` executed `height` and got `root`.
    pub fn on_state_root(&mut self, node: NodeIndex, height: u64, root: Hash, at_ms: VirtualMs) {
        if !self.honest[node] {
            return;
        }
        match self.state_roots.get(&height) {
            Some(&(first, first_node)) if first != root => self.violate(
                InvariantKind::StateRootMismatch,
                node,
                at_ms,
                format!("height {height}: node {node} has root {root}, node {first_node} has {first}"),
            ),
            Some(_) => {}
            None => {
                self.state_roots.insert(height, (root, node));
            }
        }
    }

    /// At the end of a run that stayed within fault tolerance: no honest node in `alive` went
    /// more than `bound_ms` without committing a block, from `stable_from_ms` to `end_ms`.
    pub fn check_liveness(
        &mut self,
        alive: &[bool],
        stable_from_ms: VirtualMs,
        bound_ms: VirtualMs,
        end_ms: VirtualMs,
    ) {
        assert!(end_ms >= stable_from_ms, "the run ends after it stabilised");
        let mut stuck = Vec::new();
        for (node, record) in self.nodes.iter().enumerate() {
            if !self.honest[node] || !alive[node] {
                continue;
            }
            let mut last = stable_from_ms;
            let mut gap_max = 0;
            for &at in record.commit_times_ms.iter().filter(|&&at| at >= stable_from_ms).chain([&end_ms]) {
                gap_max = gap_max.max(at - last);
                last = at;
            }
            if gap_max > bound_ms {
                stuck.push((node, gap_max, record.committed_height));
            }
        }
        for (node, gap_max, height) in stuck {
            self.violate(
                InvariantKind::NoProgress,
                node,
                end_ms,
                format!(
                    "after stabilising at {stable_from_ms} ms it went {gap_max} ms without a commit (bound {bound_ms} ms); at height {height}"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_crypto::tagged_hash;

    fn block(n: u8) -> Hash {
        tagged_hash("keel/test/v1", &[n])
    }

    #[test]
    fn agreeing_nodes_pass() {
        let mut checker = Checker::new(vec![true; 3]);
        for node in 0..3 {
            checker.on_commit(node, 1, block(1), 10);
            checker.on_commit(node, 2, block(2), 20);
            checker.on_vote(node, 5, block(2), 20);
            checker.on_vote(node, 5, block(2), 21);
            checker.on_lock(node, 3, 20);
            checker.on_state_root(node, 2, block(9), 20);
        }
        assert!(checker.violations().is_empty(), "{:?}", checker.violations());
        assert_eq!(checker.committed_height_max(), 2);
    }

    #[test]
    fn each_safety_invariant_can_fail() {
        let mut checker = Checker::new(vec![true, true, false]);
        checker.on_commit(0, 1, block(1), 10);
        checker.on_commit(1, 1, block(2), 11);
        checker.on_commit(0, 3, block(3), 12);
        checker.on_vote(0, 4, block(1), 13);
        checker.on_vote(0, 4, block(2), 14);
        checker.on_lock(1, 5, 15);
        checker.on_lock(1, 4, 16);
        checker.on_state_root(0, 1, block(7), 17);
        checker.on_state_root(1, 1, block(8), 18);
        let kinds: Vec<InvariantKind> = checker.violations().iter().map(|v| v.kind).collect();
        assert_eq!(
            kinds,
            vec![
                InvariantKind::ConflictingCommit,
                InvariantKind::CommitOutOfOrder,
                InvariantKind::DoubleVote,
                InvariantKind::LockRegressed,
                InvariantKind::StateRootMismatch,
            ]
        );
    }

    #[test]
    fn byzantine_nodes_are_not_held_to_the_invariants() {
        let mut checker = Checker::new(vec![true, false]);
        checker.on_commit(1, 1, block(1), 1);
        checker.on_vote(1, 1, block(1), 1);
        checker.on_vote(1, 1, block(2), 1);
        checker.on_commit(0, 1, block(2), 2);
        assert!(checker.violations().is_empty());
    }

    #[test]
    fn liveness_flags_a_node_without_commits_after_stabilisation() {
        let mut checker = Checker::new(vec![true, true, true]);
        for (i, at) in [2_000, 4_000, 6_000, 8_000].into_iter().enumerate() {
            checker.on_commit(0, i as u64 + 1, block(i as u8), at);
        }
        checker.on_commit(1, 1, block(0), 500);
        checker.on_commit(1, 2, block(1), 6_000);
        checker.check_liveness(&[true, true, false], 1_000, 2_500, 10_000);
        let stuck: Vec<NodeIndex> = checker.violations().iter().map(|v| v.node).collect();
        assert_eq!(stuck, vec![1], "node 1 stalled 5 s after stabilising; node 0 never more than 2 s; node 2 is down");
    }
}
