//! Memory in front of the store for [`crate::SmtCommitment`]'s values: the newest committed value
//! of each key.
//!
//! Without it, reading an account not touched lately walks the tree from the root, one RocksDB
//! lookup per level whose node is not in memory. With it, executing a block reads the
//! store only for accounts it has not seen since the node started.
//!
//! Correctness: the cache is updated only after a block's batch was written, so that the store
//! answers with it (`ValueCache::committed`), and an entry cached for a key is its newest committed value, so it
//! answers a read at any version at or after the version it is recorded with; reads at older
//! versions go to the store. A key found absent at the newest version is remembered as absent
//! until a block writes it. The map is bounded; when a shard of it is full, an arbitrary part
//! of that shard is dropped. What is cached never changes a result, only how fast it comes:
//! every miss reads the store.

use std::sync::{Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use crate::smt::node::{Value, Version};

/// A cached answer for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CachedValue {
    /// The newest committed value, valid from the version recorded with it.
    Present(Version, Value),
    /// No value at any committed version.
    Absent,
}

#[derive(Debug, Default)]
struct Inner {
    /// The newest committed version, once the store was opened or a block committed.
    latest: Option<Version>,
    values: FxHashMap<[u8; 32], CachedValue>,
}

impl Inner {
    fn value(&self, key_hash: &[u8; 32], version: Version) -> Option<Option<Vec<u8>>> {
        if self.latest.is_none_or(|latest| version > latest) {
            return None;
        }
        match self.values.get(key_hash)? {
            CachedValue::Present(valid_from, value) if *valid_from <= version => Some(Some(value.as_bytes().to_vec())),
            CachedValue::Present(..) => None,
            CachedValue::Absent => Some(None),
        }
    }
}

/// The value cache (see the module docs). Shared by reference; internally locked.
///
/// The map is split into 16 shards by the key hash's first nibble, each with its own lock and
/// its own copy of the newest version: the threads reading a block's accounts ahead would
/// otherwise take turns on one lock. A shard's version and values change together under its
/// lock, so each shard alone answers as the whole cache would; committing updates the shards one
/// after the other, and a read of a shard not yet updated finds the version before and misses
/// for the new one (the store answers it).
#[derive(Debug)]
pub struct ValueCache {
    shards: [Mutex<Inner>; 16],
    /// Most keys per shard (0: no cache).
    shard_max: usize,
}

impl ValueCache {
    /// A cache of at most `values_max` keys (0 turns it off).
    pub fn new(values_max: usize) -> Self {
        ValueCache { shards: Default::default(), shard_max: values_max.div_ceil(16) }
    }

    fn shard(&self, key_hash: &[u8; 32]) -> MutexGuard<'_, Inner> {
        lock(&self.shards[(key_hash[0] >> 4) as usize])
    }

    /// The value of `key_hash` at `version` if the cache can answer (`Some(None)`: absent),
    /// `None` when the store must be asked.
    pub(crate) fn value(&self, key_hash: &[u8; 32], version: Version) -> Option<Option<Vec<u8>>> {
        self.shard(key_hash).value(key_hash, version)
    }

    /// [`ValueCache::value`] of each of `key_hashes`, taking each shard's lock once (two threads
    /// reading a block's accounts took turns on the locks key by key).
    pub(crate) fn values(&self, key_hashes: &[[u8; 32]], version: Version) -> Vec<Option<Option<Vec<u8>>>> {
        let mut by_shard: [Vec<usize>; 16] = Default::default();
        for (position, key_hash) in key_hashes.iter().enumerate() {
            by_shard[(key_hash[0] >> 4) as usize].push(position);
        }
        let mut values = vec![None; key_hashes.len()];
        for (shard, positions) in self.shards.iter().zip(by_shard) {
            if positions.is_empty() {
                continue;
            }
            let shard = lock(shard);
            for position in positions {
                values[position] = shard.value(&key_hashes[position], version);
            }
        }
        values
    }

    /// Remembers what the store answered for `key_hash` at `version` — the value and a version
    /// from which it is valid, or absence — when that is the newest committed version (an answer
    /// for an older one may not be the newest).
    pub(crate) fn remember(&self, key_hash: &[u8; 32], version: Version, found: Option<(Version, &Value)>) {
        let mut shard = self.shard(key_hash);
        if shard.latest != Some(version) || self.shard_max == 0 {
            return;
        }
        let cached = match found {
            Some((valid_from, value)) => CachedValue::Present(valid_from, value.clone()),
            None => CachedValue::Absent,
        };
        make_room(&mut shard.values, self.shard_max);
        shard.values.insert(*key_hash, cached);
    }

    /// Whether `version` is the newest committed one (as the first shard has it: a hint, for
    /// what to keep in memory, never for what a read answers).
    pub(crate) fn is_latest(&self, version: Version) -> bool {
        lock(&self.shards[0]).latest == Some(version)
    }

    /// The store's newest committed version is `version` (it was just opened): reads at it may
    /// be remembered from now on.
    pub(crate) fn opened(&self, version: Version) {
        for shard in &self.shards {
            lock(shard).latest = Some(version);
        }
    }

    /// The block at `version` was written to the store, with `writes` (key hash, value).
    pub(crate) fn committed(&self, version: Version, writes: impl Iterator<Item = ([u8; 32], Value)>) {
        let mut by_shard: [Vec<([u8; 32], Value)>; 16] = Default::default();
        if self.shard_max > 0 {
            for (key_hash, value) in writes {
                by_shard[(key_hash[0] >> 4) as usize].push((key_hash, value));
            }
        }
        for (shard, writes) in self.shards.iter().zip(by_shard) {
            let mut shard = lock(shard);
            shard.latest = Some(version);
            for (key_hash, value) in writes {
                make_room(&mut shard.values, self.shard_max);
                shard.values.insert(key_hash, CachedValue::Present(version, value));
            }
        }
    }
}

fn lock(mutex: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A shard stays consistent even if a holder panicked: every update is a single insert or
    // remove, or the version.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
