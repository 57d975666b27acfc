//! The tree against jmt: the same writes give the same roots, the same proofs and the same reads
//! at every kept version, with and without caches, and pruning keeps exactly the kept versions
//! (a version's nodes at one depth by range once all were replaced, the rest node by node).

use std::collections::{BTreeMap, BTreeSet};

use borsh::BorshDeserialize;
use keel_crypto::Address;
use proptest::prelude::*;

use super::*;
use crate::jmt_state::JmtCommitment;
use crate::kv::StoreError;
use crate::mem_kv::MemKv;
use crate::proof::verify_merkle_proof;

fn key(index: u16) -> StateKey {
    let mut bytes = [0u8; 32];
    bytes[..2].copy_from_slice(&index.to_be_bytes());
    StateKey::Account(Address::from_bytes(bytes))
}

/// Applies, stores and commits `writes` as version `version`, then prunes below `oldest_kept`.
fn commit<C: StateCommitment>(tree: &C, kv: &MemKv, version: u64, writes: &StateWrites, oldest_kept: u64) -> Hash {
    let (root, batch) = tree.apply(kv, Height(version), writes).unwrap();
    kv.write(batch).unwrap();
    tree.committed(Height(version), root, writes);
    let mut batch = WriteBatch::new();
    tree.prune(kv, Height(oldest_kept), 7, &mut batch).unwrap();
    kv.write(batch).unwrap();
    root
}

fn writes_of(raw: &[(u16, u8)], version: u64) -> StateWrites {
    raw.iter().map(|(index, value)| (key(*index), vec![*value, version as u8, 1, 2])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn roots_proofs_and_reads_match_jmt(
        versions in prop::collection::vec(prop::collection::vec((0u16..400, any::<u8>()), 1..60), 1..9),
        cached in any::<bool>(),
        threads in 1usize..4,
    ) {
        let ours = if cached { SmtCommitment::default() } else { SmtCommitment::with_cache(0, 0) };
        // Split below the root from 2 updates on, so that small cases take the parallel path.
        let ours = SmtCommitment { parallel_updates_min: 2, ..ours.with_threads(threads) };
        let ours_kv = MemKv::new();
        let (theirs, theirs_kv) = (JmtCommitment, MemKv::new());
        let kept = 3;
        for (version, raw) in versions.iter().enumerate() {
            let version = version as u64;
            let writes = writes_of(raw, version);
            let oldest_kept = (version + 1).saturating_sub(kept);
            let root = commit(&ours, &ours_kv, version, &writes, oldest_kept);
            prop_assert_eq!(root, commit(&theirs, &theirs_kv, version, &writes, oldest_kept));
            for at in oldest_kept..=version {
                prop_assert_eq!(ours.root(&ours_kv, Height(at)).unwrap(), theirs.root(&theirs_kv, Height(at)).unwrap());
                let root_at = ours.root(&ours_kv, Height(at)).unwrap().expect("kept versions have roots");
                for index in (0..420u16).step_by(7) {
                    let (value, proof) = ours.prove(&ours_kv, Height(at), &key(index)).unwrap();
                    let (their_value, their_proof) = theirs.prove(&theirs_kv, Height(at), &key(index)).unwrap();
                    prop_assert_eq!(&value, &their_value);
                    prop_assert_eq!(&proof, &their_proof);
                    prop_assert_eq!(&value, &ours.read(&ours_kv, Height(at), &key(index)).unwrap());
                    verify_merkle_proof(&root_at, &key(index).key_hash(), value.as_deref(), &proof).unwrap();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A version applied and never committed (another block at that height commits instead)
    /// leaves no trace: the node cache takes an applied version's nodes before it commits, and
    /// reads of the committed state in between, roots, reads and proofs after are a tree's that
    /// never saw it.
    #[test]
    fn a_version_applied_and_not_committed_leaves_no_trace(
        versions in prop::collection::vec(
            (prop::collection::vec((0u16..400, any::<u8>()), 1..60), prop::collection::vec((0u16..400, any::<u8>()), 0..60)),
            1..7,
        ),
        threads in 1usize..4,
    ) {
        let tree = SmtCommitment { parallel_updates_min: 2, ..SmtCommitment::default().with_threads(threads) };
        let plain = SmtCommitment::with_cache(0, 0);
        let (kv, plain_kv) = (MemKv::new(), MemKv::new());
        for (version, (raw, decoy)) in versions.iter().enumerate() {
            let version = version as u64;
            if !decoy.is_empty() {
                // Applied, its batch never written, never committed.
                tree.apply(&kv, Height(version), &writes_of(decoy, version ^ 0x55)).unwrap();
                if let Some(parent) = version.checked_sub(1) {
                    for index in (0..420u16).step_by(11) {
                        prop_assert_eq!(
                            tree.read(&kv, Height(parent), &key(index)).unwrap(),
                            plain.read(&plain_kv, Height(parent), &key(index)).unwrap()
                        );
                    }
                }
            }
            let writes = writes_of(raw, version);
            prop_assert_eq!(commit(&tree, &kv, version, &writes, 0), commit(&plain, &plain_kv, version, &writes, 0));
            for at in 0..=version {
                for index in (0..420u16).step_by(7) {
                    let ours = tree.prove(&kv, Height(at), &key(index)).unwrap();
                    prop_assert_eq!(&ours, &plain.prove(&plain_kv, Height(at), &key(index)).unwrap());
                    prop_assert_eq!(&ours.0, &tree.read(&kv, Height(at), &key(index)).unwrap());
                }
            }
        }
        prop_assert!(kv.dump() == plain_kv.dump(), "the same bytes stored");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The thread count changes no stored byte.
    #[test]
    fn stored_bytes_do_not_depend_on_threads(
        versions in prop::collection::vec(prop::collection::vec((0u16..400, any::<u8>()), 1..80), 1..6),
    ) {
        let run = |threads: usize| {
            let tree = SmtCommitment { parallel_updates_min: 2, ..SmtCommitment::default().with_threads(threads) };
            let kv = MemKv::new();
            for (version, raw) in versions.iter().enumerate() {
                commit(&tree, &kv, version as u64, &writes_of(raw, version as u64), 0);
            }
            kv.dump()
        };
        prop_assert!(run(1) == run(3));
    }

    /// Reading many keys at once answers what reading each does, from the caches, from the tree
    /// past them and on several threads alike.
    #[test]
    fn read_many_answers_what_read_does(
        versions in prop::collection::vec(prop::collection::vec((0u16..400, any::<u8>()), 1..80), 1..4),
        values_cached in prop::sample::select(vec![0usize, 50, 1_000_000]),
        threads in 1usize..4,
    ) {
        let tree = SmtCommitment::with_cache(values_cached, 1_000_000).with_threads(threads);
        let kv = MemKv::new();
        for (version, raw) in versions.iter().enumerate() {
            commit(&tree, &kv, version as u64, &writes_of(raw, version as u64), 0);
        }
        let last = Height(versions.len() as u64 - 1);
        let keys: Vec<StateKey> = (0..420u16).map(key).collect();
        for at in [Height(0), last] {
            let many = tree.read_many(&kv, at, &keys, threads).unwrap();
            let one_by_one: Vec<_> = keys.iter().map(|key| tree.read(&kv, at, key).unwrap()).collect();
            prop_assert_eq!(many, one_by_one);
        }
    }

    /// A version's new nodes reach its batch in key order, whatever the thread count, so that
    /// the store's writer finds them sorted.
    #[test]
    fn new_nodes_reach_the_batch_in_key_order(
        versions in prop::collection::vec(prop::collection::vec((0u16..400, any::<u8>()), 1..80), 1..6),
        threads in 1usize..4,
    ) {
        let tree = SmtCommitment { parallel_updates_min: 2, ..SmtCommitment::default().with_threads(threads) };
        let kv = MemKv::new();
        for (version, raw) in versions.iter().enumerate() {
            let writes = writes_of(raw, version as u64);
            let (root, batch) = tree.apply(&kv, Height(version as u64), &writes).unwrap();
            let (_, ops) = batch.clone().into_parts();
            let nodes: Vec<&[u8]> =
                ops.iter().filter(|op| op.column() == Column::TreeNodes).map(|op| op.key()).collect();
            prop_assert!(!nodes.is_empty());
            prop_assert!(nodes.windows(2).all(|pair| pair[0] < pair[1]), "node keys out of order: {:?}", nodes);
            kv.write(batch).unwrap();
            tree.committed(Height(version as u64), root, &writes);
        }
    }
}

#[test]
fn trees_of_no_key_one_key_and_a_shared_prefix_hash_like_jmt() {
    for keys in [vec![5u16], vec![5, 6], (0..40).collect()] {
        let writes: StateWrites = keys.iter().map(|i| (key(*i), vec![*i as u8])).collect();
        let (ours, theirs) = (SmtCommitment::default(), JmtCommitment);
        let (a, b) = (MemKv::new(), MemKv::new());
        assert_eq!(commit(&ours, &a, 0, &writes, 0), commit(&theirs, &b, 0, &writes, 0));
        let (value, proof) = ours.prove(&a, Height(0), &key(1000)).unwrap();
        assert_eq!((value, proof), theirs.prove(&b, Height(0), &key(1000)).unwrap(), "absent key, {keys:?}");
    }
}

#[test]
fn pruning_removes_replaced_items_and_only_those() {
    let (tree, kv) = (SmtCommitment::with_cache(0, 0), MemKv::new());
    for version in 0..6u64 {
        let writes = writes_of(&[(1, 1), (2, 2), ((version % 3) as u16 + 10, 3)], version);
        commit(&tree, &kv, version, &writes, version.saturating_sub(1));
    }
    let mut batch = WriteBatch::new();
    while tree.prune(&kv, Height(4), usize::MAX, &mut batch).unwrap() > 0 {
        kv.write(std::mem::take(&mut batch)).unwrap();
    }
    kv.write(batch).unwrap();
    assert_eq!(kv.len(Column::StaleNodes), 1, "only version 5's list remains");
    assert_eq!(kv.len(Column::TreeValues) + kv.len(Column::StaleValues), 0, "values live in the leaves");
    assert_eq!(tree.root(&kv, Height(3)).unwrap(), None, "pruned");
    for version in 4..6u64 {
        let root = tree.root(&kv, Height(version)).unwrap().expect("kept");
        for index in [1u16, 2, 10, 11, 12, 99] {
            let (value, proof) = tree.prove(&kv, Height(version), &key(index)).unwrap();
            verify_merkle_proof(&root, &key(index).key_hash(), value.as_deref(), &proof).unwrap();
        }
    }
}

#[test]
fn a_corrupt_node_is_an_error_not_a_wrong_root() {
    let (tree, kv) = (SmtCommitment::with_cache(0, 0), MemKv::new());
    commit(&tree, &kv, 0, &writes_of(&[(1, 1), (2, 2)], 0), 0);
    let mut batch = WriteBatch::new();
    batch.put(Column::TreeNodes, NibblePath::ROOT.node_key(0), vec![0xff]);
    kv.write(batch).unwrap();
    let error = tree.apply(&kv, Height(1), &writes_of(&[(3, 3)], 1)).unwrap_err();
    assert!(matches!(error, LedgerError::Store(StoreError::Corrupt { .. })), "{error}");
}

/// The keys of every node of `version`'s tree, each checked to be in the store.
fn reachable(kv: &MemKv, version: u64) -> BTreeSet<Vec<u8>> {
    let mut keys = BTreeSet::new();
    let mut walk = vec![(NibblePath::ROOT, version)];
    while let Some((path, at)) = walk.pop() {
        let node = stored_node(kv, &path, at).unwrap().expect("a node of a kept version is stored");
        keys.insert(path.node_key(at));
        for (index, child) in node.children() {
            if let Child::Node { version, .. } = child {
                walk.push((path.child(*index), *version));
            }
        }
    }
    keys
}

/// The node counts the store records: group (version and depth) → nodes still in the newest
/// tree, for groups that have some.
fn recorded_counts(kv: &MemKv) -> BTreeMap<Vec<u8>, u64> {
    let entries = kv.scan(Column::TreeVersions, &[], &[0xff; 10], usize::MAX).unwrap();
    entries
        .into_iter()
        .filter_map(|(key, bytes)| {
            let nodes = liveness::GroupNodes::try_from_slice(&bytes).unwrap();
            (nodes.dead_at.is_none()).then_some((key, nodes.live))
        })
        .collect()
}

/// Prunes everything no version from `oldest_kept` on needs, whatever the batches' bound.
fn prune_all(tree: &SmtCommitment, kv: &MemKv, oldest_kept: u64) {
    loop {
        let mut batch = WriteBatch::new();
        let deleted = tree.prune(kv, Height(oldest_kept), 5, &mut batch).unwrap();
        kv.write(batch).unwrap();
        if deleted == 0 {
            return;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The counts of live nodes per group (version and depth) are exact after every version
    /// (also across a reopen, which reads them from the store); pruning (whole groups by range,
    /// the rest node by node) never deletes a node a kept version needs; and once only the
    /// newest version is kept, the store holds exactly its tree.
    #[test]
    fn pruning_by_whole_groups_keeps_exactly_what_kept_versions_need(
        versions in prop::collection::vec(prop::collection::vec((0u16..300, any::<u8>()), 1..40), 2..30),
        kept in 1u64..5,
        reopen_at in 0usize..30,
    ) {
        let kv = MemKv::new();
        let mut tree = SmtCommitment::default();
        let last = versions.len() as u64 - 1;
        for (index, raw) in versions.iter().enumerate() {
            let version = index as u64;
            if index == reopen_at {
                tree = SmtCommitment::default();
                tree.opened(Height(version.saturating_sub(1)));
            }
            commit(&tree, &kv, version, &writes_of(raw, version), (version + 1).saturating_sub(kept));
            let newest = reachable(&kv, version);
            let mut live: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
            for key in &newest {
                *live.entry(key_group(key).unwrap().to_vec()).or_default() += 1;
            }
            prop_assert_eq!(recorded_counts(&kv), live, "version {}", version);
            for at in (version + 1).saturating_sub(kept)..version {
                reachable(&kv, at);
            }
        }
        prune_all(&tree, &kv, last);
        let stored: BTreeSet<Vec<u8>> = kv.dump()[Column::TreeNodes.index()].keys().cloned().collect();
        prop_assert_eq!(stored, reachable(&kv, last));
        prop_assert_eq!(kv.len(Column::StaleNodes), 0);
    }
}

#[test]
fn a_store_from_before_the_counts_prunes_its_old_versions_node_by_node() {
    let kv = MemKv::new();
    let tree = SmtCommitment::default();
    for version in 0..20u64 {
        let raw: Vec<(u16, u8)> = (0..12).map(|i| ((version * 7 + i * 13) as u16 % 200, i as u8)).collect();
        commit(&tree, &kv, version, &writes_of(&raw, version), 0);
    }
    // As a store written before the counts were kept: none recorded, nothing pruned yet.
    let mut batch = WriteBatch::new();
    batch.delete_range(Column::TreeVersions, vec![], vec![0xff; 9]);
    kv.write(batch).unwrap();
    let tree = SmtCommitment::default();
    tree.opened(Height(19));
    for version in 20..40u64 {
        let raw: Vec<(u16, u8)> = (0..12).map(|i| ((version * 7 + i * 13) as u16 % 200, i as u8)).collect();
        commit(&tree, &kv, version, &writes_of(&raw, version), version.saturating_sub(2));
    }
    prune_all(&tree, &kv, 39);
    let stored: BTreeSet<Vec<u8>> = kv.dump()[Column::TreeNodes.index()].keys().cloned().collect();
    assert_eq!(stored, reachable(&kv, 39));
}

#[test]
fn a_node_a_reader_holds_is_copied_not_rebuilt_in_place() {
    // The builder rebuilds a replaced node in its own memory only when no one else holds it;
    // here a reader holds every cached node while the next version is applied.
    let (ours, ours_kv) = (SmtCommitment::default().with_threads(2), MemKv::new());
    let (plain, plain_kv) = (SmtCommitment::with_cache(0, 0), MemKv::new());
    let first: Vec<(u16, u8)> = (0..600).map(|index| (index, 1)).collect();
    commit(&ours, &ours_kv, 0, &writes_of(&first, 0), 0);
    commit(&plain, &plain_kv, 0, &writes_of(&first, 0), 0);
    let held: Vec<(NibblePath, Arc<Node>, Vec<u8>)> = ours
        .nodes
        .shards
        .iter()
        .flat_map(|shard| {
            let shard = shard.read().unwrap();
            shard.iter().map(|(path, (_, node))| (*path, node.clone(), node.encode())).collect::<Vec<_>>()
        })
        .collect();
    assert!(held.len() > 16, "the first version's nodes are cached ({})", held.len());
    let second: Vec<(u16, u8)> = (0..600).step_by(3).map(|index| (index, 2)).collect();
    let root = commit(&ours, &ours_kv, 1, &writes_of(&second, 1), 0);
    assert_eq!(root, commit(&plain, &plain_kv, 1, &writes_of(&second, 1), 0));
    for (path, node, bytes) in &held {
        assert_eq!(node.encode(), *bytes, "the node at a {}-nibble path changed under its reader", path.len());
    }
    for version in [0, 1] {
        for index in (0..600).step_by(7) {
            let read = ours.read(&ours_kv, Height(version), &key(index)).unwrap();
            assert_eq!(read, plain.read(&plain_kv, Height(version), &key(index)).unwrap());
        }
    }
}
