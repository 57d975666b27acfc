//! The block tree and the 2-chain commit rule.
//!
//! Trees are drawn as `round:label`, parent on the left.

use super::*;
use crate::testkit::Fixture;

fn tree(fx: &Fixture) -> BlockTree {
    BlockTree::new(fx.genesis.clone(), fx.genesis_qc(), 8)
}

fn insert(tree: &mut BlockTree, block: &Block) -> Vec<Committed> {
    match tree.insert(SealedBlock::seal(block.clone())) {
        Inserted::New(commits) => commits,
        other => panic!("expected a new block, got {other:?}"),
    }
}

#[test]
fn two_consecutive_certified_rounds_commit_the_first() {
    // genesis ◄── 1:A ◄── 2:B ◄── 3:C        C carries QC(B), B carries QC(A)
    let fx = Fixture::new(4);
    let chain = fx.chain(3);
    let mut tree = tree(&fx);
    assert!(insert(&mut tree, &chain[0]).is_empty());
    assert!(insert(&mut tree, &chain[1]).is_empty(), "only A is certified: nothing commits");
    let commits = insert(&mut tree, &chain[2]);
    assert_eq!(commits.len(), 1, "QC(B) with QC(A) commits A");
    assert_eq!(commits[0].blocks, vec![chain[0].clone()]);
    assert_eq!(commits[0].proof.block_qc.block_id, chain[0].id());
    assert_eq!(commits[0].proof.child_qc.block_id, chain[1].id());
    assert_eq!(tree.committed_height(), Height(1));
    assert_eq!(tree.root(), chain[0].id());
}

#[test]
fn a_gap_in_rounds_defers_the_commit_to_the_next_consecutive_pair() {
    // genesis ◄── 1:A ◄── 3:B ◄── 4:C ◄── 5:D
    // A and B are certified but rounds 1 and 3 are not consecutive: A does not commit on QC(B).
    // QC(C) makes B, C consecutive and certified: A and B commit together.
    let fx = Fixture::new(4);
    let a = fx.child_of_genesis(Round(1));
    let tc2 = fx.tc(Round(2), &[0, 1, 2], &fx.full_qc(&a));
    let b = fx.block(fx.full_qc(&a), Round(3), Some(tc2));
    let c = fx.block(fx.full_qc(&b), Round(4), None);
    let d = fx.block(fx.full_qc(&c), Round(5), None);
    let mut tree = tree(&fx);
    insert(&mut tree, &a);
    insert(&mut tree, &b);
    assert!(insert(&mut tree, &c).is_empty(), "QC(A), QC(B) are not from consecutive rounds");
    let commits = insert(&mut tree, &d);
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].blocks, vec![a.clone(), b.clone()], "the ancestor commits with B, oldest first");
    assert_eq!(tree.committed_height(), Height(2));
}

#[test]
fn a_qc_arriving_alone_commits_when_its_block_is_known() {
    let fx = Fixture::new(4);
    let chain = fx.chain(2);
    let mut tree = tree(&fx);
    insert(&mut tree, &chain[0]);
    insert(&mut tree, &chain[1]);
    let commits = tree.insert_qc(fx.full_qc(&chain[1]));
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].blocks, vec![chain[0].clone()]);
    assert_eq!(tree.high_qc().round, Round(2));
}

#[test]
fn forks_off_the_committed_chain_are_pruned() {
    // genesis ◄── 1:A ◄── 2:B ◄── 3:C
    //          └── 2:X (a fork of A's sibling branch, never certified)
    let fx = Fixture::new(4);
    let chain = fx.chain(3);
    let fork = fx.block(fx.genesis_qc(), Round(2), None);
    let mut tree = tree(&fx);
    insert(&mut tree, &chain[0]);
    insert(&mut tree, &fork);
    assert!(tree.contains(&fork.id()));
    insert(&mut tree, &chain[1]);
    insert(&mut tree, &chain[2]);
    assert!(!tree.contains(&fork.id()), "the fork does not descend from the new root");
    assert_eq!(tree.insert(SealedBlock::seal(fork)), Inserted::Stale);
}

#[test]
fn missing_parents_known_blocks_and_stale_blocks_are_told_apart() {
    let fx = Fixture::new(4);
    let chain = fx.chain(4);
    let mut tree = tree(&fx);
    assert_eq!(tree.insert(SealedBlock::seal(chain[2].clone())), Inserted::MissingParent);
    insert(&mut tree, &chain[0]);
    assert_eq!(tree.insert(SealedBlock::seal(chain[0].clone())), Inserted::Known);
    insert(&mut tree, &chain[1]);
    insert(&mut tree, &chain[2]);
    assert_eq!(tree.committed_height(), Height(1));
    // A committed block is neither new nor missing a parent: it is stale.
    let mut old = chain[0].clone();
    old.payload.transactions = vec![b"late fork at height 1".to_vec()];
    assert_eq!(tree.insert(SealedBlock::seal(old)), Inserted::Stale);
}

#[test]
fn committed_blocks_are_kept_for_peers_up_to_the_limit() {
    let fx = Fixture::new(4);
    let chain = fx.chain(14);
    let mut tree = BlockTree::new(fx.genesis.clone(), fx.genesis_qc(), 4);
    let mut committed = Vec::new();
    for block in &chain {
        for commit in insert(&mut tree, block) {
            committed.extend(commit.blocks);
        }
    }
    assert_eq!(committed, chain[..12].to_vec(), "heights 1..=12 commit in order");
    assert!(tree.get(&chain[10].id()).is_some(), "recent committed blocks are served");
    assert!(tree.get(&chain[2].id()).is_none(), "older ones are forgotten beyond the limit");
    let ancestors = tree.ancestors(&chain[13].id(), 3);
    assert_eq!(
        ancestors.iter().map(Block::id).collect::<Vec<_>>(),
        vec![chain[13].id(), chain[12].id(), chain[11].id()]
    );
}

#[test]
fn the_high_qc_only_rises() {
    let fx = Fixture::new(4);
    let chain = fx.chain(3);
    let mut tree = tree(&fx);
    for block in &chain {
        insert(&mut tree, block);
    }
    assert_eq!(tree.high_qc().round, Round(2));
    tree.insert_qc(fx.full_qc(&chain[0]));
    assert_eq!(tree.high_qc().round, Round(2));
}
