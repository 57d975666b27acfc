//! Which versions of the tree still have nodes in the newest tree, so that pruning can delete a
//! version whose nodes were all replaced with one range delete instead of a delete per node.
//!
//! Node keys start with the version that wrote them (`version ‖ path`), so all of a version's
//! nodes are one key range. A version writes some nodes; later versions replace them one by one
//! (each node is replaced at most once: only nodes of the newest tree are replaced). Once the
//! last is replaced, at version `d`, no version from `d` on needs any of them, and once `d` is at
//! or below the oldest kept version, no kept version does: the whole range can go. Under load
//! this is how nearly every version ends (at a million accounts and 1,000-transfer blocks, a
//! version's last node is replaced within a few hundred blocks), so pruning writes a handful of
//! range deletes where it wrote a delete for each of thousands of nodes a block, each one a
//! memtable insert at a random place among older keys.
//!
//! The counts are kept in `Column::TreeVersions` (`version (8, BE)` → [`VersionNodes`]), each
//! block's changes in its own batch, and in memory. Versions written before the counts existed
//! (stores from before) have no entry: their replaced nodes are deleted one by one, as before.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::Hash;

use super::node::Version;
use crate::error::{corrupt, LedgerError};
use crate::kv::{Column, KvStore, WriteBatch};

/// What the store records of a version's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(super) struct VersionNodes {
    /// How many of the nodes it wrote are still in the newest tree.
    pub live: u64,
    /// The version that replaced the last of them (once `live` is 0).
    pub dead_at: Option<Version>,
}

/// The counts of every tracked version not yet deleted (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Liveness {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `None` until read from the store (and again after a commit this instance did not apply).
    versions: Option<BTreeMap<Version, VersionNodes>>,
    /// The entries the last applied version changes, until it commits.
    applied: Option<Applied>,
}

#[derive(Debug)]
struct Applied {
    version: Version,
    root: Hash,
    changes: Vec<(Version, VersionNodes)>,
}

/// The version a node key belongs to (its first 8 bytes).
pub(super) fn key_version(key: &[u8]) -> Result<Version, LedgerError> {
    let bytes: [u8; 8] = key
        .get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| corrupt(Column::StaleNodes, "a node key shorter than its version"))?;
    Ok(Version::from_be_bytes(bytes))
}

impl Liveness {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent; a panic elsewhere does not poison it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state with the counts read from the store if they are not in memory.
    fn loaded<K: KvStore>(&self, kv: &K) -> Result<MutexGuard<'_, State>, LedgerError> {
        let mut state = self.lock();
        if state.versions.is_none() {
            let mut versions = BTreeMap::new();
            for (key, bytes) in kv.scan(Column::TreeVersions, &[], &[0xff; 9], usize::MAX)? {
                let version =
                    key_version(&key).map_err(|_| corrupt(Column::TreeVersions, "a key of fewer than 8 bytes"))?;
                let nodes =
                    VersionNodes::try_from_slice(&bytes).map_err(|e| corrupt(Column::TreeVersions, e.to_string()))?;
                versions.insert(version, nodes);
            }
            state.versions = Some(versions);
        }
        Ok(state)
    }

    /// Forgets the counts in memory: the next use reads them from the store.
    pub(super) fn forget(&self) {
        *self.lock() = State::default();
    }

    /// Records in `batch` that `version` (with root `root`) wrote `written` nodes and replaced
    /// the nodes of `stale` (their keys, sorted); the counts in memory change when it commits.
    pub(super) fn apply<K: KvStore>(
        &self,
        kv: &K,
        version: Version,
        root: Hash,
        written: usize,
        stale: &[Vec<u8>],
        batch: &mut WriteBatch,
    ) -> Result<(), LedgerError> {
        let mut state = self.loaded(kv)?;
        let versions = state.versions.as_ref().expect("loaded");
        // `stale` is sorted, so each version's keys are one run.
        let mut replaced: Vec<(Version, u64)> = Vec::new();
        for key in stale {
            let old = key_version(key)?;
            match replaced.last_mut() {
                Some((last, count)) if *last == old => *count += 1,
                _ => replaced.push((old, 1)),
            }
        }
        let mut changes = Vec::with_capacity(replaced.len() + 1);
        for (old, count) in replaced {
            // Versions from before the counts were kept have no entry.
            let Some(nodes) = versions.get(&old) else { continue };
            let live = nodes.live.checked_sub(count).ok_or_else(|| {
                corrupt(
                    Column::TreeVersions,
                    format!("version {version} replaces more nodes of version {old} than are live"),
                )
            })?;
            changes.push((old, VersionNodes { live, dead_at: (live == 0).then_some(version) }));
        }
        let written = u64::try_from(written).expect("a version writes fewer than 2^64 nodes");
        changes.push((version, VersionNodes { live: written, dead_at: (written == 0).then_some(version) }));
        for (changed, nodes) in &changes {
            batch.put(
                Column::TreeVersions,
                changed.to_be_bytes().to_vec(),
                borsh::to_vec(nodes).expect("borsh into a Vec"),
            );
        }
        state.applied = Some(Applied { version, root, changes });
        Ok(())
    }

    /// The batch of `version` with root `root` is written: its changes count from now on (if it
    /// was the version applied last; else the counts are read again from the store).
    pub(super) fn committed(&self, version: Version, root: Hash) {
        let mut state = self.lock();
        match (state.applied.take(), state.versions.as_mut()) {
            (Some(applied), Some(versions)) if applied.version == version && applied.root == root => {
                versions.extend(applied.changes);
            }
            _ => state.versions = None,
        }
    }

    /// The versions all of whose nodes were replaced (by versions committed so far), ascending.
    pub(super) fn dead_versions<K: KvStore>(&self, kv: &K) -> Result<Vec<Version>, LedgerError> {
        let state = self.loaded(kv)?;
        let versions = state.versions.as_ref().expect("loaded");
        Ok(versions.iter().filter(|(_, nodes)| nodes.dead_at.is_some()).map(|(version, _)| *version).collect())
    }

    /// Takes out the versions whose nodes were all replaced at or before `oldest_kept` (no kept
    /// version needs them): as ranges of versions that are consecutive among the tracked ones,
    /// at most `ranges_max` of them, oldest first. Their entries' deletion goes into `batch`.
    pub(super) fn take_prunable<K: KvStore>(
        &self,
        kv: &K,
        oldest_kept: Version,
        ranges_max: usize,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Range<Version>>, LedgerError> {
        if ranges_max == 0 {
            return Ok(Vec::new());
        }
        let mut state = self.loaded(kv)?;
        let versions = state.versions.as_mut().expect("loaded");
        let prunable = |nodes: &VersionNodes| nodes.dead_at.is_some_and(|dead_at| dead_at <= oldest_kept);
        let mut ranges: Vec<Range<Version>> = Vec::new();
        let mut run: Option<Range<Version>> = None;
        for (version, nodes) in versions.iter() {
            if prunable(nodes) {
                // A run extends over versions deleted before (no entry), never over a kept one.
                run = Some(run.map_or(*version..version + 1, |run| run.start..version + 1));
            } else if let Some(done) = run.take() {
                ranges.push(done);
                if ranges.len() == ranges_max {
                    break;
                }
            }
        }
        if ranges.len() < ranges_max {
            ranges.extend(run);
        }
        for range in &ranges {
            let doomed: Vec<Version> = versions.range(range.clone()).map(|(version, _)| *version).collect();
            for version in doomed {
                versions.remove(&version);
            }
            batch.delete_range(
                Column::TreeVersions,
                range.start.to_be_bytes().to_vec(),
                range.end.to_be_bytes().to_vec(),
            );
        }
        Ok(ranges)
    }
}
