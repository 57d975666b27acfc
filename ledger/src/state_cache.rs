//! Memory in front of the store for [`crate::JmtCommitment`]: the newest committed value of each
//! key, and the live nodes of the newest committed tree.
//!
//! Without it, every account read is a RocksDB `seek_for_prev` (an iterator per read), and every
//! block re-reads and re-decodes from RocksDB the tree nodes the block before just wrote. With it,
//! executing a block reads the store only for keys and nodes it has not seen since it opened.
//!
//! Correctness rests on two facts, and on updating the cache only after a block's batch is
//! durable (`StateCache::committed`):
//! - a tree node's key (version, nibble path) is written once and never changes, so a cached node
//!   is right for as long as the node exists; nodes are dropped from the cache when the tree
//!   replaces them (its stale-node index says which), and the pruner deletes only those;
//! - a value entry cached for a key is the newest committed one, so it answers a read at any
//!   version at or after its own; reads at older versions go to the store. A key found absent at
//!   the newest version is remembered as absent until a block writes it.
//!
//! Nodes computed for a block that is executed but never committed (another block at that height,
//! or a failed write) are kept aside and dropped: only the outcome whose root is committed enters
//! the cache. Both maps are bounded; when one is full, an arbitrary part of it is dropped. What is
//! cached never changes a result, only how fast it comes: every miss reads the store.

use std::sync::{Mutex, MutexGuard};

use jmt::storage::{Node, NodeKey};
use jmt::Version;
use keel_crypto::Hash;
use rustc_hash::FxHashMap;

/// A cached value entry: the version it was written at and the value (`None`: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
enum CachedValue {
    /// The newest committed entry of the key.
    Entry(Version, Option<Vec<u8>>),
    /// No entry at any committed version.
    Absent,
}

/// The tree changes of one applied (not yet committed) version.
#[derive(Debug, Default)]
pub(crate) struct PendingTree {
    /// The version.
    pub version: Version,
    /// Its root.
    pub root: Hash,
    /// Nodes it created.
    pub nodes: Vec<(NodeKey, Node)>,
    /// Nodes it made stale.
    pub stale: Vec<NodeKey>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The newest committed version, once a block has committed since the cache was made.
    latest: Option<Version>,
    values: FxHashMap<[u8; 32], CachedValue>,
    nodes: FxHashMap<NodeKey, Node>,
    pending: Option<PendingTree>,
}

/// The caches (see the module docs). Shared by reference; internally locked.
#[derive(Debug)]
pub struct StateCache {
    inner: Mutex<Inner>,
    values_max: usize,
    nodes_max: usize,
}

impl StateCache {
    /// Caches holding at most `values_max` value entries and `nodes_max` tree nodes (0 turns a
    /// cache off).
    pub fn new(values_max: usize, nodes_max: usize) -> Self {
        StateCache { inner: Mutex::new(Inner::default()), values_max, nodes_max }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps stay consistent even if a holder panicked: every update is a single insert
        // or remove.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value entry of `key_hash` at `version` if the cache can answer: `Some(None)` for no
    /// entry, `Some(Some((written_at, value)))` for one, `None` when the store must be asked.
    pub(crate) fn value(&self, key_hash: &[u8; 32], version: Version) -> Option<Option<(Version, Option<Vec<u8>>)>> {
        let inner = self.lock();
        if inner.latest.is_none_or(|latest| version > latest) {
            return None;
        }
        match inner.values.get(key_hash)? {
            CachedValue::Entry(written_at, value) if *written_at <= version => Some(Some((*written_at, value.clone()))),
            CachedValue::Entry(..) => None,
            CachedValue::Absent => Some(None),
        }
    }

    /// Remembers what the store answered for `key_hash` at `version`, when that is the newest
    /// committed version (an answer for an older one may not be the newest entry).
    pub(crate) fn remember_value(
        &self,
        key_hash: &[u8; 32],
        version: Version,
        found: &Option<(Version, Option<Vec<u8>>)>,
    ) {
        let mut inner = self.lock();
        if inner.latest != Some(version) || self.values_max == 0 {
            return;
        }
        let cached = match found {
            Some((written_at, value)) => CachedValue::Entry(*written_at, value.clone()),
            None => CachedValue::Absent,
        };
        make_room(&mut inner.values, self.values_max);
        inner.values.insert(*key_hash, cached);
    }

    /// The store's newest committed version is `version` (it was just opened): reads at it
    /// may be remembered from now on.
    pub(crate) fn opened(&self, version: Version) {
        self.lock().latest = Some(version);
    }

    /// Whether `key_hash` has an answer here for reads at the newest version.
    pub(crate) fn holds_value(&self, key_hash: &[u8; 32]) -> bool {
        self.lock().values.contains_key(key_hash)
    }

    /// A cached node.
    pub(crate) fn node(&self, key: &NodeKey) -> Option<Node> {
        self.lock().nodes.get(key).cloned()
    }

    /// Remembers a node read from the store while building on the newest version (so it is
    /// live).
    pub(crate) fn remember_node(&self, key: &NodeKey, node: &Node) {
        if self.nodes_max == 0 {
            return;
        }
        let mut inner = self.lock();
        make_room(&mut inner.nodes, self.nodes_max);
        inner.nodes.insert(key.clone(), node.clone());
    }

    /// Keeps the tree changes of an applied version until it commits (replacing any earlier
    /// uncommitted one).
    pub(crate) fn set_pending(&self, pending: PendingTree) {
        if self.nodes_max > 0 {
            self.lock().pending = Some(pending);
        }
    }

    /// The block at `version` with root `root` is durable, having written `writes` (key hash,
    /// value): its values and, if it was the last version applied, its nodes enter the cache.
    pub(crate) fn committed<'a>(
        &self,
        version: Version,
        root: Hash,
        writes: impl Iterator<Item = ([u8; 32], &'a [u8])>,
    ) {
        let mut inner = self.lock();
        inner.latest = Some(version);
        if self.values_max > 0 {
            for (key_hash, value) in writes {
                make_room(&mut inner.values, self.values_max);
                inner.values.insert(key_hash, CachedValue::Entry(version, Some(value.to_vec())));
            }
        }
        match inner.pending.take() {
            Some(pending) if pending.version == version && pending.root == root => {
                for key in &pending.stale {
                    inner.nodes.remove(key);
                }
                for (key, node) in pending.nodes {
                    make_room(&mut inner.nodes, self.nodes_max);
                    inner.nodes.insert(key, node);
                }
            }
            // Another outcome was applied last: the new nodes are unknown here and the ones this
            // block replaced cannot be told apart. Start the nodes afresh rather than keep stale ones.
            _ => inner.nodes.clear(),
        }
    }
}

/// Drops about an eighth of `map` when it is full, so that eviction is rare and cheap.
pub(crate) fn make_room<K: Clone + Eq + std::hash::Hash, V>(map: &mut FxHashMap<K, V>, max: usize) {
    if map.len() < max {
        return;
    }
    let victims: Vec<K> = map.keys().take((max / 8).max(1)).cloned().collect();
    for key in victims {
        map.remove(&key);
    }
}
