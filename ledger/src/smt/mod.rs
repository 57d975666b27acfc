//! [`SmtCommitment`]: Keel's own sparse Merkle tree behind [`StateCommitment`], hashing exactly
//! as jmt does (same roots, same proofs; tests check both against each other) but built for
//! throughput.
//!
//! Why not jmt: for a block of 10,000 transfers (20,000 leaf updates) jmt spends about 150 ms in
//! its own bookkeeping (owned node keys, per-node hash maps, cloned 16-slot arrays, a B-tree of
//! the batch) and writes about 140,000 store entries (a node per leaf, a stale-index entry per
//! replaced node and value). This tree keeps leaves, values included, inside their parent node,
//! updates each touched node once with a sorted batch (the 16 subtrees below the root split over
//! `tree_threads` threads), keeps the newest nodes in memory, writes one stale list per version
//! instead of an entry per stale item, and prunes with range deletes what it can.
//!
//! Layout (columns of [`crate::kv::Column`]):
//! * `TreeNodes`: see [`node`] — `version ‖ path` → node, leaves and their values inside, and the
//!   version of each child node. A node that did not change is never rewritten (its parent keeps
//!   naming the version that wrote it); a read at v walks from v's root, one exact lookup per
//!   level not in memory. Each version's keys sort after all older ones, so a block's nodes are
//!   appended to the store.
//! * `StaleNodes`: `version (8, BE)` → borsh list of the node keys that version replaced. Those
//!   are needed only by older versions; pruning deletes them once the version is at or below the
//!   oldest kept. (`TreeValues` and `StaleValues` are [`crate::JmtCommitment`]'s only.)
//! * `TreeVersions`: `version (8, BE) ‖ path length (1)` → how many of the nodes that version
//!   wrote at that depth are still in the newest tree (see `smt/liveness.rs`). Such a group whose
//!   nodes were all replaced at or below the oldest kept version is deleted whole, one range
//!   delete for a run of such groups; only the replaced nodes of groups that still have live
//!   nodes are deleted one by one, from the stale lists.
//!
//! Memory: the newest node of each path is cached (`NodeCache` below), values through the
//! [`ValueCache`]. Values are filled only from committed blocks (or reads of committed state);
//! nodes also from the version being applied, but a cached node answers only for the exact
//! (path, version) that wrote it, and the cache starts afresh when what commits is not what was
//! applied. Neither ever changes a result.

mod liveness;
pub mod node;
mod workers;

use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::{Bytes, BytesMut};
use keel_crypto::Hash;
use rustc_hash::FxHashMap;

use crate::account::StateKey;
use crate::commitment::{StateCommitment, StateWrites};
use crate::error::{corrupt, LedgerError};
use crate::height::Height;
use crate::kv::{Column, KvStore, WriteBatch};
use crate::proof::{MerkleProof, ProofLeaf};
use crate::value_cache::{make_room, ValueCache};
use liveness::{key_group, Liveness};
use node::{
    leaf_key, leaf_parts, nibble, slot_refs, subtree_node, Child, Folds, NibblePath, Node, NodeKey, Slots, Value,
    Version, NODE_BYTES_MAX, NODE_KEY_BYTES_MAX, SUBTREE_LEAVES_MAX, VALUE_BYTES_MAX,
};
use workers::Workers;

/// The sparse Merkle tree commitment (see the module docs).
#[derive(Debug, Clone)]
pub struct SmtCommitment {
    values: Arc<ValueCache>,
    nodes: Arc<NodeCache>,
    liveness: Arc<Liveness>,
    workers: Arc<Workers>,
    parallel_updates_min: usize,
}

/// Bytes of each buffer the tree encodes its new nodes into (see `Builder::arena`).
const ARENA_BYTES: usize = 64 * 1024;

/// Fewest items (updates to apply, keys to hash) for which a block's work is split
/// over the workers; below it, handing work over costs more than it saves.
const PARALLEL_ITEMS_MIN: usize = 512;

/// Fewest reads past the value cache for which [`StateCommitment::read_many`] splits them over
/// the workers: each walks the tree, often into the store (tens of microseconds), so far fewer
/// than [`PARALLEL_ITEMS_MIN`] repay the hand-over.
const TREE_READS_PARALLEL_MIN: usize = 64;

impl SmtCommitment {
    /// Default cache sizes: a million values and a million nodes (the newest node of each path;
    /// a million random accounts make about 330,000 paths).
    pub const VALUES_CACHED_DEFAULT: usize = 1_000_000;
    /// See [`SmtCommitment::VALUES_CACHED_DEFAULT`].
    pub const NODES_CACHED_DEFAULT: usize = 1_000_000;

    /// The tree with caches of at most `values_max` values and `nodes_max` nodes (0: none).
    pub fn with_cache(values_max: usize, nodes_max: usize) -> Self {
        SmtCommitment {
            values: Arc::new(ValueCache::new(values_max)),
            nodes: Arc::new(NodeCache::new(nodes_max)),
            liveness: Arc::new(Liveness::default()),
            workers: Arc::new(Workers::new(1)),
            parallel_updates_min: PARALLEL_ITEMS_MIN,
        }
    }

    /// Updates the subtrees below the root on up to `threads` threads (at least 1). Results,
    /// stored bytes included, never depend on it.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.workers = Arc::new(Workers::new(threads));
        self
    }
}

impl Default for SmtCommitment {
    fn default() -> Self {
        Self::with_cache(Self::VALUES_CACHED_DEFAULT, Self::NODES_CACHED_DEFAULT)
    }
}

/// The newest node of each path, with the version that wrote it: the last committed version's,
/// or, once a version is applied, that version's.
///
/// Applying a version takes each node it replaces out of the cache (its builder reuses its
/// memory when no reader holds it) and puts the new node in its place, on the tree thread that
/// built it, while that entry is still in the processor's cache (promoting a block's thousands
/// of nodes at commit looked each one up again, cold: about a tenth of the tree threads' time at
/// a million accounts). Until that version commits, the cache may hold nodes of
/// it; they are answered only for that exact version, which no one reads before it commits. If
/// what commits is not what was applied (or nothing is, and another version is applied instead),
/// the cache starts afresh.
///
/// The map is split into 16 shards by the path's first nibble: the tree threads update disjoint
/// subtrees below the root, so each mostly takes locks the other does not (one shared lock cost
/// them a cache-line transfer per node). Each entry is the node of an exact (path, version), so
/// no interleaving of shard updates can make a lookup answer wrongly.
#[derive(Debug)]
struct NodeCache {
    shards: [RwLock<NodeShard>; 16],
    pending: Mutex<Option<PendingVersion>>,
    /// Most nodes per shard (0: no cache).
    shard_max: usize,
}

type NodeShard = FxHashMap<NibblePath, (Version, Arc<Node>)>;

/// The version being applied, or applied and not yet committed.
#[derive(Debug)]
struct PendingVersion {
    version: Version,
    /// Its root and updates once applied (`None` while applying, or if applying failed).
    applied: Option<(Hash, Vec<Update>)>,
}

impl NodeCache {
    fn new(nodes_max: usize) -> Self {
        NodeCache { shards: Default::default(), pending: Mutex::new(None), shard_max: nodes_max.div_ceil(16) }
    }

    fn read(&self, path: &NibblePath) -> RwLockReadGuard<'_, NodeShard> {
        // Every update is a single insert or remove: a shard is consistent after a panic.
        self.shards[path.first_nibble()].read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self, path: &NibblePath) -> RwLockWriteGuard<'_, NodeShard> {
        self.shards[path.first_nibble()].write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, Option<PendingVersion>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn clear(&self) {
        for shard in &self.shards {
            shard.write().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        }
    }

    /// The node written at `version` at `path`, if cached.
    fn get(&self, path: &NibblePath, version: Version) -> Option<Arc<Node>> {
        self.read(path).get(path).filter(|(cached, _)| *cached == version).map(|(_, node)| node.clone())
    }

    /// Takes the node written at `version` at `path` out of the cache, if it is there: the
    /// builder replacing it (a new version is being applied) then usually owns it alone and
    /// reuses its memory (see [`Node::into_parts`]).
    fn take(&self, path: &NibblePath, version: Version) -> Option<Arc<Node>> {
        match self.write(path).entry(*path) {
            Entry::Occupied(entry) if entry.get().0 == version => Some(entry.remove().1),
            _ => None,
        }
    }

    /// Remembers `node`, committed at `version`, as the newest of `path` unless the cache holds
    /// a newer one (of a version being applied).
    fn remember(&self, path: NibblePath, version: Version, node: &Arc<Node>) {
        if self.shard_max == 0 {
            return;
        }
        let mut shard = self.write(&path);
        if shard.get(&path).is_some_and(|(cached, _)| *cached > version) {
            return;
        }
        make_room(&mut shard, self.shard_max);
        shard.insert(path, (version, node.clone()));
    }

    /// Version `version` is about to be applied. A version applied before it and never committed
    /// may have left nodes that are not the committed tree's: then the cache starts afresh.
    fn begin(&self, version: Version) {
        let mut pending = self.pending();
        if pending.is_some() {
            self.clear();
        }
        *pending = Some(PendingVersion { version, applied: None });
    }

    /// Puts `node`, written at `version` (the version being applied), in the place of its path's
    /// node. The builder took that node out first (see [`NodeCache::take`]), so usually there is
    /// none to drop here.
    fn install(&self, path: NibblePath, version: Version, node: Arc<Node>) {
        if self.shard_max == 0 {
            return;
        }
        let mut shard = self.write(&path);
        make_room(&mut shard, self.shard_max);
        shard.insert(path, (version, node));
    }

    /// The version being applied was applied, with root `root` and `updates`.
    fn applied(&self, version: Version, root: Hash, updates: Vec<Update>) {
        let mut pending = self.pending();
        debug_assert!(pending.as_ref().is_some_and(|pending| pending.version == version), "begun first");
        *pending = Some(PendingVersion { version, applied: Some((root, updates)) });
    }

    /// Version `version` with root `root` committed: its updates if it is the version applied
    /// last. Otherwise the cache may hold nodes of a version that did not commit, so it starts
    /// afresh.
    fn take_committed(&self, version: Version, root: Hash) -> Option<Vec<Update>> {
        let mut pending = self.pending();
        match pending.take() {
            Some(PendingVersion { version: applied_version, applied: Some((applied_root, updates)) })
                if applied_version == version && applied_root == root =>
            {
                Some(updates)
            }
            _ => {
                self.clear();
                None
            }
        }
    }
}

/// The node written at `version` at `path`, from the store.
fn stored_node<K: KvStore>(kv: &K, path: &NibblePath, version: Version) -> Result<Option<Node>, LedgerError> {
    let Some(bytes) = kv.get(Column::TreeNodes, &path.node_key(version))? else {
        return Ok(None);
    };
    Node::decode(&bytes, path.len()).map(Some).map_err(|reason| corrupt(Column::TreeNodes, reason))
}

/// The child node a parent names is missing: the store lost it or pruned a kept version.
fn missing_child() -> LedgerError {
    corrupt(Column::TreeNodes, "a node's child node is missing")
}

impl SmtCommitment {
    /// The node written at `version` at `path`: from the cache when it is the newest, else from
    /// the store.
    fn node_at<K: KvStore>(
        &self,
        kv: &K,
        path: &NibblePath,
        version: Version,
    ) -> Result<Option<Arc<Node>>, LedgerError> {
        if let Some(node) = self.nodes.get(path, version) {
            return Ok(Some(node));
        }
        Ok(stored_node(kv, path, version)?.map(Arc::new))
    }

    /// The value of `key_hash` at `version`: from the value cache, else by walking the tree from
    /// that version's root (remembered when `version` is the newest).
    fn value<K: KvStore>(&self, kv: &K, version: Version, key_hash: &[u8; 32]) -> Result<Option<Vec<u8>>, LedgerError> {
        if let Some(cached) = self.values.value(key_hash, version) {
            return Ok(cached);
        }
        self.value_from_tree(kv, version, key_hash)
    }

    /// [`SmtCommitment::value`] past the value cache.
    fn value_from_tree<K: KvStore>(
        &self,
        kv: &K,
        version: Version,
        key_hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        let found = self.leaf_value(kv, version, key_hash)?;
        // The version of the node holding the leaf is at or after the value's own write, so
        // the cache answers with it only reads at or after that node's version.
        self.values.remember(key_hash, version, found.as_ref().map(|(at, value)| (*at, value)));
        Ok(found.map(|(_, value)| value.as_bytes().to_vec()))
    }

    /// The leaf value of `key_hash` at `version` and the version of the node holding it.
    fn leaf_value<K: KvStore>(
        &self,
        kv: &K,
        version: Version,
        key_hash: &[u8; 32],
    ) -> Result<Option<LeafValue>, LedgerError> {
        let Some(mut node) = self.root_node(kv, version)? else {
            return Err(LedgerError::Tree { reason: format!("the state of version {version} is not stored") });
        };
        // The newest version's tree is made of the newest node of each of its paths: what the
        // walk reads from the store then belongs in the node cache.
        let newest = self.values.is_latest(version);
        let (mut path, mut node_version) = (NibblePath::ROOT, version);
        loop {
            match node.child(nibble(key_hash, path.len())) {
                None => return Ok(None),
                Some(Child::Leaf { key_hash: found, value, .. }) => {
                    return Ok((found == key_hash).then_some((node_version, value.clone())));
                }
                Some(Child::Subtree { leaves, .. }) => {
                    let found = leaves.iter().map(leaf_parts).find(|(found, _)| *found == key_hash);
                    return Ok(found.map(|(_, value)| (node_version, value.clone())));
                }
                Some(Child::Node { version: child_version, .. }) => {
                    path = path.child(nibble(key_hash, path.len()));
                    node_version = *child_version;
                    node = match self.nodes.get(&path, node_version) {
                        Some(node) => node,
                        None => {
                            let stored = stored_node(kv, &path, node_version)?.ok_or_else(missing_child)?;
                            let stored = Arc::new(stored);
                            if newest {
                                self.nodes.remember(path, node_version, &stored);
                            }
                            stored
                        }
                    };
                }
            }
        }
    }

    /// The root node of `version` (every version writes its root), if kept.
    fn root_node<K: KvStore>(&self, kv: &K, version: Version) -> Result<Option<Arc<Node>>, LedgerError> {
        self.node_at(kv, &NibblePath::ROOT, version)
    }
}

/// A leaf's value and the version of the node holding it.
type LeafValue = (Version, Value);

/// What a slot holds while the builder replaces its old content (never stored or hashed).
const EMPTY_CHILD: Child = Child::Node { hash: [0; 32], version: 0 };

/// A key's update: its key hash and its new value.
type Update = ([u8; 32], Value);

/// A run of updates sharing the nibble below a node, with that nibble.
type Group<'a> = (u8, &'a [Update]);

/// What one task of [`Builder::update_root_in_parallel`] gives back: the root slot it updated,
/// its new content and its builder (the nodes it made, the stale keys it listed).
type TaskResult<'a, K> = Result<(u8, Child, Builder<'a, K>), LedgerError>;

/// Builds the nodes of a new version on top of its parent.
struct Builder<'a, K> {
    kv: &'a K,
    nodes: &'a NodeCache,
    version: Version,
    parent: Option<Version>,
    /// The new nodes' store entries (key, encoded node), made on the thread that built them,
    /// one list per depth (path length). Within a depth they come in path order (subtrees are
    /// visited in nibble order), so depth after depth is key order: the store's writer, which
    /// sorts each batch, then finds them sorted (sorting them took it 0.7 ms of a 1,000-transfer
    /// block at a million accounts).
    encoded: Vec<Vec<(Bytes, Bytes)>>,
    /// Where they are encoded: each entry is a slice of a shared buffer, so a block's thousands
    /// of entries take a few allocations (and the store's writer a few frees), not two each.
    arena: BytesMut,
    stale_nodes: Vec<NodeKey>,
}

impl<K: KvStore> Builder<'_, K> {
    /// Applies `updates` (sorted by key hash, all under `path`) to the node at `path` (written at
    /// `existing`, or none); returns the new node's hash.
    fn update(
        &mut self,
        path: NibblePath,
        existing: Option<Version>,
        updates: &[Update],
    ) -> Result<[u8; 32], LedgerError> {
        let previous = self.take_parent(&path, existing)?;
        // The new node is built in the old one's place: its children change only in the
        // updated slots (see `Node::into_parts`).
        let (mut children, kept_folds) = previous.map_or_else(Default::default, Node::into_parts);
        let slot_of = |group: &[Update]| nibble(&group[0].0, path.len());
        let changed = by_nibble(updates, path.len()).fold(0u16, |changed, group| changed | 1 << slot_of(group));
        let present = children.iter().fold(0u16, |present, (index, _)| present | 1 << index);
        // Sized exactly: the node keeps this allocation, and shrinking it would copy every child.
        children.reserve_exact((changed & !present).count_ones() as usize);
        let mut at = 0;
        for group in by_nibble(updates, path.len()) {
            let index = slot_of(group);
            while children.get(at).is_some_and(|(held, _)| *held < index) {
                at += 1;
            }
            match children.get_mut(at) {
                Some((held, child)) if *held == index => {
                    let old = std::mem::replace(child, EMPTY_CHILD);
                    children[at].1 = self.update_slot(path.child(index), Some(old), group)?;
                }
                _ => {
                    let new = self.update_slot(path.child(index), None, group)?;
                    children.insert(at, (index, new));
                }
            }
            at += 1;
        }
        Ok(self.finish_children(path, children, changed, kept_folds))
    }

    /// The node at `path` written at `existing`, if any, recording it as replaced: taken out of
    /// the cache (its memory is reused when no reader holds it), else read from the store.
    fn take_parent(&mut self, path: &NibblePath, existing: Option<Version>) -> Result<Option<Node>, LedgerError> {
        let Some(version) = existing else { return Ok(None) };
        let node = match self.nodes.take(path, version) {
            Some(cached) => Arc::try_unwrap(cached).unwrap_or_else(|shared| Node::clone(&shared)),
            None => stored_node(self.kv, path, version)?
                .ok_or_else(|| corrupt(Column::TreeNodes, format!("node at a {}-nibble path missing", path.len())))?,
        };
        self.stale_nodes.push(path.node_key_inline(version));
        Ok(Some(node))
    }

    /// The new content of the slot at `path` (which held `slot`) after `group`'s updates.
    fn update_slot(&mut self, path: NibblePath, slot: Option<Child>, group: &[Update]) -> Result<Child, LedgerError> {
        Ok(match slot {
            None => self.build(path, group),
            Some(Child::Leaf { key_hash, value, .. }) => {
                if group.iter().any(|(key, _)| *key == key_hash) {
                    self.build(path, group)
                } else {
                    let mut merged = group.to_vec();
                    let at = merged.partition_point(|(key, _)| *key < key_hash);
                    merged.insert(at, (key_hash, value));
                    self.build(path, &merged)
                }
            }
            Some(Child::Subtree { leaves, .. }) => self.update_subtree(path, &leaves, group),
            Some(Child::Node { version, .. }) => {
                Child::Node { hash: self.update(path, Some(version), group)?, version: self.version }
            }
        })
    }

    /// The subtree at `path` holding `leaves`, after `group`'s updates: a subtree again while it
    /// has at most [`SUBTREE_LEAVES_MAX`] keys (the leaves it keeps are not hashed again), else
    /// nodes.
    fn update_subtree(&mut self, path: NibblePath, leaves: &[Child], group: &[Update]) -> Child {
        let mut merged: Vec<Child> = Vec::with_capacity(leaves.len() + group.len());
        let mut kept = leaves.iter().peekable();
        for (key_hash, value) in group {
            while let Some(leaf) = kept.next_if(|leaf| leaf_key(leaf) < key_hash) {
                merged.push(leaf.clone());
            }
            // A kept leaf of the same key is replaced by the update.
            kept.next_if(|leaf| leaf_key(leaf) == key_hash);
            merged.push(Child::leaf(*key_hash, value.clone()));
        }
        merged.extend(kept.cloned());
        if merged.len() <= SUBTREE_LEAVES_MAX {
            return Child::subtree(merged, path.len());
        }
        let entries: Vec<Update> = merged.iter().map(leaf_parts).map(|(key, value)| (*key, value.clone())).collect();
        self.build(path, &entries)
    }

    /// Stores the node of `slots` at `path`, which differ from the node it replaces (if any,
    /// with folds `kept`) in the slots of `changed`; returns its hash.
    fn finish(&mut self, path: NibblePath, slots: Slots, changed: u16, kept: Option<Box<Folds>>) -> [u8; 32] {
        self.store_new(path, Node::from_slots_refolded(slots, changed, kept))
    }

    /// [`Builder::finish`] with the new node's children given in slot order.
    fn finish_children(
        &mut self,
        path: NibblePath,
        children: Vec<(u8, Child)>,
        changed: u16,
        kept: Option<Box<Folds>>,
    ) -> [u8; 32] {
        self.store_new(path, Node::from_children_refolded(children, changed, kept))
    }

    /// Records `node` as written at `path` in this version; returns its hash.
    fn store_new(&mut self, path: NibblePath, node: Node) -> [u8; 32] {
        let node = Arc::new(node);
        let hash = node.hash();
        let key = path.node_key_inline(self.version);
        // Room for the largest node, so that the node is encoded in one pass (measuring it first
        // was a third of the encoding's cost); at most a tenth of a buffer is left unused.
        if self.arena.capacity() < NODE_KEY_BYTES_MAX + NODE_BYTES_MAX {
            self.arena = BytesMut::with_capacity(ARENA_BYTES);
        }
        self.arena.extend_from_slice(key.as_ref());
        let key = self.arena.split().freeze();
        node.encode_into(&mut self.arena);
        let depth = path.len();
        if self.encoded.len() <= depth {
            self.encoded.resize_with(depth + 1, Vec::new);
        }
        self.encoded[depth].push((key, self.arena.split().freeze()));
        self.nodes.install(path, self.version, node);
        hash
    }

    /// A builder for the same version, with nothing built yet.
    fn fresh(&self) -> Self {
        Builder {
            kv: self.kv,
            nodes: self.nodes,
            version: self.version,
            parent: self.parent,
            encoded: Vec::new(),
            arena: BytesMut::new(),
            stale_nodes: Vec::new(),
        }
    }

    /// [`Builder::update`] of the root, each subtree below it a task for `workers` with a
    /// builder of its own; their nodes and stale lists are merged after, in slot order.
    fn update_root_in_parallel(&mut self, updates: &[Update], workers: &Workers) -> Result<[u8; 32], LedgerError> {
        let previous = self.take_parent(&NibblePath::ROOT, self.parent)?;
        let mut slots = previous.as_ref().map_or_else(Slots::default, Node::slots);
        let groups: Vec<Group<'_>> = by_nibble(updates, 0).map(|group| (nibble(&group[0].0, 0), group)).collect();
        let changed = groups.iter().fold(0u16, |changed, (index, _)| changed | 1 << index);
        // One task per subtree, each with its own builder, taken by whichever worker is free:
        // with two fixed shares of equal update counts, a worker preempted by the store's writer
        // or a flush (on the same two cores) held up its whole share while the other idled
        // (about 5 % a block at a million accounts, docs/transactions.md §6).
        let tasks: Vec<_> = groups.into_iter().map(|group| (group, self.fresh())).collect();
        let results: Vec<TaskResult<'_, K>> = workers.map(tasks, |((index, group), mut builder)| {
            let slot = slots[index as usize].clone();
            let child = builder.update_slot(NibblePath::ROOT.child(index), slot, group)?;
            Ok((index, child, builder))
        });
        for result in results {
            let (index, child, builder) = result?;
            slots[index as usize] = Some(child);
            if self.encoded.len() < builder.encoded.len() {
                self.encoded.resize_with(builder.encoded.len(), Vec::new);
            }
            for (ours, theirs) in self.encoded.iter_mut().zip(builder.encoded) {
                ours.extend(theirs);
            }
            self.stale_nodes.extend(builder.stale_nodes);
        }
        let kept_folds = previous.and_then(|node| node.into_parts().1);
        Ok(self.finish(NibblePath::ROOT, slots, changed, kept_folds))
    }

    /// A new subtree at `path` holding `entries` (sorted, at least one): a leaf, or a node.
    fn build(&mut self, path: NibblePath, entries: &[Update]) -> Child {
        if let [(key_hash, value)] = entries {
            return Child::leaf(*key_hash, value.clone());
        }
        if entries.len() <= SUBTREE_LEAVES_MAX {
            let leaves = entries.iter().map(|(key_hash, value)| Child::leaf(*key_hash, value.clone())).collect();
            return Child::subtree(leaves, path.len());
        }
        let mut slots = Slots::default();
        for group in by_nibble(entries, path.len()) {
            let index = nibble(&group[0].0, path.len());
            slots[index as usize] = Some(self.build(path.child(index), group));
        }
        Child::Node { hash: self.finish(path, slots, u16::MAX, None), version: self.version }
    }
}

/// Splits entries sorted by key hash into runs sharing the nibble at `depth`.
fn by_nibble(entries: &[Update], depth: usize) -> impl Iterator<Item = &[Update]> {
    entries.chunk_by(move |a, b| nibble(&a.0, depth) == nibble(&b.0, depth))
}

/// A stale list's stored form: borsh of the list of keys.
fn encode_keys<K: AsRef<[u8]>>(keys: &[K]) -> Vec<u8> {
    let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
    borsh::to_vec(&keys).expect("borsh into a Vec cannot fail")
}

impl SmtCommitment {
    /// Each write's key hash with its value, in the order of `writes`; on the tree threads when
    /// there are enough (a key hash is a SHA-256: about 20,000 of them for a 10k-transfer block).
    fn hash_keys<'w>(&self, writes: &'w StateWrites) -> Vec<([u8; 32], &'w [u8])> {
        let hash = |(key, value): (&StateKey, &'w Vec<u8>)| (*key.key_hash().as_bytes(), value.as_slice());
        let threads = self.workers.threads();
        if threads <= 1 || writes.len() < PARALLEL_ITEMS_MIN {
            return writes.iter().map(hash).collect();
        }
        let entries: Vec<(&StateKey, &Vec<u8>)> = writes.iter().collect();
        let chunks: Vec<_> = entries.chunks(entries.len().div_ceil(threads)).collect();
        let hashed = self.workers.map(chunks, |chunk| chunk.iter().copied().map(hash).collect::<Vec<_>>());
        hashed.into_iter().flatten().collect()
    }
}

impl StateCommitment for SmtCommitment {
    const FORMAT: &'static str = "keel-smt-v4";

    fn read<K: KvStore>(&self, kv: &K, version: Height, key: &StateKey) -> Result<Option<Vec<u8>>, LedgerError> {
        self.value(kv, version.0, key.key_hash().as_bytes())
    }

    fn root<K: KvStore>(&self, kv: &K, version: Height) -> Result<Option<Hash>, LedgerError> {
        Ok(self.root_node(kv, version.0)?.map(|node| Hash::from_bytes(node.hash())))
    }

    fn apply<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        writes: &StateWrites,
    ) -> Result<(Hash, WriteBatch), LedgerError> {
        assert!(!writes.is_empty(), "every version writes at least the chain record");
        let parent = version.prev().map(|p| p.0);
        let mut batch = WriteBatch::new();
        // Everything goes into the batch in key order, which is how the store inserts fastest.
        let mut hashed = self.hash_keys(writes);
        hashed.sort_unstable_by_key(|(key_hash, _)| *key_hash);
        let mut updates: Vec<Update> = Vec::with_capacity(hashed.len());
        for (key_hash, value) in hashed {
            let Some(value) = Value::new(value) else {
                return Err(LedgerError::Tree {
                    reason: format!("a state value of {} bytes (at most {VALUE_BYTES_MAX})", value.len()),
                });
            };
            updates.push((key_hash, value));
        }

        self.nodes.begin(version.0);
        let mut builder = Builder {
            kv,
            nodes: &self.nodes,
            version: version.0,
            parent,
            encoded: Vec::new(),
            arena: BytesMut::new(),
            stale_nodes: Vec::new(),
        };
        let root = if self.workers.threads() > 1 && updates.len() >= self.parallel_updates_min {
            builder.update_root_in_parallel(&updates, &self.workers)?
        } else {
            builder.update(NibblePath::ROOT, parent, &updates)?
        };
        let root = Hash::from_bytes(root);
        // The stale list is in the order a single thread would make it (the subtrees below the
        // root in nibble order, the root's stale key first; the threads take contiguous runs of
        // subtrees and their lists are joined in order), and the new nodes are in key order
        // (depth by depth): the batch's bytes do not depend on the thread count.
        let written = builder.encoded.iter().flatten().map(|(key, _)| &key[..]);
        self.liveness.apply(kv, version.0, root, written, &builder.stale_nodes, &mut batch)?;
        for (key, node) in builder.encoded.into_iter().flatten() {
            batch.put(Column::TreeNodes, key, node);
        }
        if !builder.stale_nodes.is_empty() {
            batch.put(Column::StaleNodes, version.0.to_be_bytes().to_vec(), encode_keys(&builder.stale_nodes));
        }
        self.nodes.applied(version.0, root, updates);
        Ok((root, batch))
    }

    fn opened(&self, version: Height) {
        self.values.opened(version.0);
        self.liveness.forget();
    }

    fn read_many<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        keys: &[StateKey],
        threads: usize,
    ) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        // The value cache answers most keys, a fraction of a microsecond each: on this thread,
        // under each shard's lock once (handing them to the tree threads can cost more than the
        // lookups: reading a 1,000-transfer block's accounts ahead at a million accounts took
        // 2.5-2.8 ms a block on this thread against 3.7-4.0 ms on two in two pairs, the same in
        // six others). The rest walk the tree, maybe to the store: those are split over the
        // threads when there are enough.
        let hashes: Vec<[u8; 32]> = keys.iter().map(|key| *key.key_hash().as_bytes()).collect();
        let mut values = self.values.values(&hashes, version.0);
        let missing: Vec<usize> =
            values.iter().enumerate().filter(|(_, value)| value.is_none()).map(|(at, _)| at).collect();
        let read = |positions: &[usize]| -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
            positions.iter().map(|&at| self.value_from_tree(kv, version.0, &hashes[at])).collect()
        };
        let read: Vec<Option<Vec<u8>>> = if threads <= 1 || missing.len() < TREE_READS_PARALLEL_MIN {
            read(&missing)?
        } else {
            let chunks: Vec<&[usize]> = missing.chunks(missing.len().div_ceil(threads)).collect();
            let mut read_values = Vec::with_capacity(missing.len());
            for chunk in self.workers.map(chunks, read) {
                read_values.extend(chunk?);
            }
            read_values
        };
        for (at, value) in missing.into_iter().zip(read) {
            values[at] = Some(value);
        }
        Ok(values.into_iter().map(|value| value.expect("every key read")).collect())
    }

    fn committed(&self, version: Height, root: Hash, writes: &StateWrites) {
        self.liveness.committed(version.0, root);
        match self.nodes.take_committed(version.0, root) {
            // The node cache already holds this version's nodes (see `NodeCache`).
            // On this thread: handing a block's 2,000 inserts to the tree threads took longer
            // than making them here (2.3-2.7 against 0.6-0.9 ms a block at a million accounts:
            // the threads were woken while the writer and the thread then freeing replaced nodes
            // started their work).
            Some(updates) => self.values.committed(version.0, updates.into_iter()),
            None => {
                let writes = writes.iter().map(|(key, value)| {
                    let value = Value::new(value).expect("apply refuses values over the size limit");
                    (*key.key_hash().as_bytes(), value)
                });
                self.values.committed(version.0, writes);
            }
        }
    }

    fn prove<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        key: &StateKey,
    ) -> Result<(Option<Vec<u8>>, MerkleProof), LedgerError> {
        let key_hash = *key.key_hash().as_bytes();
        let value = self.read(kv, version, key)?;
        let root = self
            .root_node(kv, version.0)?
            .ok_or_else(|| LedgerError::Tree { reason: format!("the state of version {} is not stored", version.0) })?;
        let leaf_of = |child: &Child| match child {
            Child::Leaf { key_hash, value, .. } => {
                Some(ProofLeaf { key_hash: Hash::from_bytes(*key_hash), value_hash: Hash::from_bytes(value.hash()) })
            }
            Child::Node { .. } | Child::Subtree { .. } => None,
        };
        // A tree of no key or of one key is that placeholder or that leaf, with no siblings.
        match root.children() {
            [] => return Ok((value, MerkleProof { leaf: None, siblings: Vec::new() })),
            [(_, child @ Child::Leaf { .. })] => {
                return Ok((value, MerkleProof { leaf: leaf_of(child), siblings: Vec::new() }))
            }
            _ => {}
        }
        let mut siblings = Vec::new();
        let (mut path, mut node) = (NibblePath::ROOT, root);
        let leaf = loop {
            let slots = node.slots();
            let index = nibble(&key_hash, path.len());
            match descend(&slots, index, &mut siblings) {
                None => break None,
                Some(child @ Child::Leaf { .. }) => break leaf_of(&child),
                Some(Child::Subtree { leaves, .. }) => {
                    path = path.child(index);
                    node = Arc::new(subtree_node(&leaves, path.len()));
                }
                Some(Child::Node { version: child_version, .. }) => {
                    path = path.child(index);
                    node = self.node_at(kv, &path, child_version)?.ok_or_else(missing_child)?;
                }
            }
        };
        siblings.reverse();
        Ok((value, MerkleProof { leaf, siblings: siblings.into_iter().map(Hash::from_bytes).collect() }))
    }

    fn prune<K: KvStore>(
        &self,
        kv: &K,
        oldest_kept: Height,
        entries_max: usize,
        batch: &mut WriteBatch,
    ) -> Result<usize, LedgerError> {
        // Items replaced at version v are needed only below v: delete them once v <= oldest_kept.
        // A node of a group (a version's nodes at one depth) that lost all its nodes is left to
        // the group's range delete (below, now or once the version that replaced its last node
        // is at or below the oldest kept); the others, one by one.
        let dead = self.liveness.dead_groups(kv)?;
        let end = oldest_kept.0.checked_add(1).map_or(vec![0xff; 9], |v| v.to_be_bytes().to_vec());
        let mut deleted = 0;
        let mut from = Vec::new();
        'lists: loop {
            // A handful of lists at a time (each holds a whole version's replaced nodes), until
            // every list due is done or the bound is reached.
            let lists = kv.scan(Column::StaleNodes, &from, &end, 16)?;
            let Some((last, _)) = lists.last() else { break };
            from = [last.as_slice(), &[0]].concat();
            for (key, bytes) in lists {
                let keys: Vec<Vec<u8>> =
                    borsh::from_slice(&bytes).map_err(|e| corrupt(Column::StaleNodes, format!("stale list: {e}")))?;
                for (index, stale) in keys.iter().enumerate() {
                    if dead.binary_search(&key_group(stale)?).is_ok() {
                        continue;
                    }
                    if deleted == entries_max {
                        // The rest of this list waits for the next call.
                        batch.put(Column::StaleNodes, key, encode_keys(&keys[index..]));
                        break 'lists;
                    }
                    batch.delete(Column::TreeNodes, stale.clone());
                    deleted += 1;
                }
                batch.delete(Column::StaleNodes, key);
            }
        }
        let room = entries_max - deleted;
        // Each range costs two entries of the bound: the nodes' range and the counts'.
        for (start, end) in self.liveness.take_prunable(kv, oldest_kept.0, room / 2, batch)? {
            batch.delete_range(Column::TreeNodes, start, end);
            deleted += 2;
        }
        Ok(deleted)
    }
}

/// Walks one node towards nibble `index` as jmt's proofs do: pushes the sibling hash of each of
/// the four binary levels (top first) and returns the slot where the walk ends — `None` for an
/// empty range, a leaf alone in its range, or the child node at `index`.
fn descend(slots: &Slots, index: u8, siblings: &mut Vec<[u8; 32]>) -> Option<Child> {
    for height in (0..4).rev() {
        let width = 1usize << height;
        let half = (index as usize) & !(width - 1);
        let sibling = half ^ width;
        siblings.push(node::fold(&slot_refs(slots), sibling, width));
        let mut present = slots[half..half + width].iter().flatten();
        let first = present.next()?;
        if width == 1 || (present.next().is_none() && matches!(first, Child::Leaf { .. })) {
            return Some(first.clone());
        }
    }
    unreachable!("the walk ends at width 1 at the latest")
}

#[cfg(test)]
mod tests;
