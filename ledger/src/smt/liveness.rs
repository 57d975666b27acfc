//! Which groups of tree nodes still have nodes in the newest tree, so that pruning can delete a
//! group whose nodes were all replaced with one range delete instead of a delete per node.
//!
//! Node keys are `version ‖ path length ‖ path`, so the nodes one version wrote at one depth are
//! one key range: a *group*, named by the first 9 bytes of its keys. A version writes some nodes;
//! later versions replace them one by one (each node is replaced at most once: only nodes of the
//! newest tree are replaced). Once a group's last node is replaced, at version `d`, no version
//! from `d` on needs any of its nodes, and once `d` is at or below the oldest kept version, no
//! kept version does: the whole range can go, and consecutive such groups go in one range delete.
//!
//! Groups rather than whole versions because depths age differently: the nodes near the root are
//! rewritten by nearly every block, while at a million accounts the deepest ones hold two or
//! three accounts each and are rarely rewritten. Counted by whole versions, no version of the
//! bench's million-account, 1,000-transfer chain had lost all its nodes after 1,200 blocks; by
//! group, only about 1,400 of the 5,200 nodes a block replaces still go one by one (from the
//! version's stale list, each a memtable insert among older keys), the rest by range.
//!
//! The counts are kept in `Column::TreeVersions` (group → [`GroupNodes`]), each block's changes in
//! its own batch, and in memory. Versions written before the counts existed (stores from before)
//! have no entries: their replaced nodes are deleted one by one, as before.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::Hash;

use super::node::Version;
use crate::account::encode_exact;
use crate::error::{corrupt, LedgerError};
use crate::kv::{Column, KvStore, WriteBatch};

/// The nodes one version wrote at one depth: `version (8, BE) ‖ path length (1)`, the first 9
/// bytes of each of their keys.
pub(super) type Group = [u8; GROUP_BYTES];

const GROUP_BYTES: usize = 9;

/// The group of a node key.
pub(super) fn key_group(key: &[u8]) -> Result<Group, LedgerError> {
    key.get(..GROUP_BYTES)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| corrupt(Column::TreeNodes, "a node key shorter than its version and path length"))
}

/// The key just after every key of `group` (path lengths are at most 64: no carry).
fn group_end(group: &Group) -> Vec<u8> {
    let mut end = group.to_vec();
    end[GROUP_BYTES - 1] += 1;
    end
}

/// What the store records of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(super) struct GroupNodes {
    /// How many of its nodes are still in the newest tree.
    pub live: u64,
    /// The version that replaced the last of them (once `live` is 0).
    pub dead_at: Option<Version>,
}

/// The counts of every tracked group not yet deleted (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Liveness {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `None` until read from the store (and again after a commit this instance did not apply).
    groups: Option<BTreeMap<Group, GroupNodes>>,
    /// The entries the last applied version changes, until it commits.
    applied: Option<Applied>,
}

#[derive(Debug)]
struct Applied {
    version: Version,
    root: Hash,
    changes: Vec<(Group, GroupNodes)>,
}

/// A range delete: keys `start <= key < end`.
pub(super) type KeyRange = (Vec<u8>, Vec<u8>);

impl Liveness {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent; a panic elsewhere does not poison it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state with the counts read from the store if they are not in memory.
    fn loaded<K: KvStore>(&self, kv: &K) -> Result<MutexGuard<'_, State>, LedgerError> {
        let mut state = self.lock();
        if state.groups.is_none() {
            let mut groups = BTreeMap::new();
            for (key, bytes) in kv.scan(Column::TreeVersions, &[], &[0xff; GROUP_BYTES + 1], usize::MAX)? {
                let group: Group =
                    key.try_into().map_err(|_| corrupt(Column::TreeVersions, "a key that is not 9 bytes"))?;
                let nodes =
                    GroupNodes::try_from_slice(&bytes).map_err(|e| corrupt(Column::TreeVersions, e.to_string()))?;
                groups.insert(group, nodes);
            }
            state.groups = Some(groups);
        }
        Ok(state)
    }

    /// Forgets the counts in memory: the next use reads them from the store.
    pub(super) fn forget(&self) {
        *self.lock() = State::default();
    }

    /// Records in `batch` that `version` (with root `root`) wrote the nodes of `written` and
    /// replaced those of `stale` (their keys, in any order); the counts in memory change when
    /// it commits.
    pub(super) fn apply<'k, K: KvStore>(
        &self,
        kv: &K,
        version: Version,
        root: Hash,
        written: impl Iterator<Item = &'k [u8]>,
        stale: &[impl AsRef<[u8]>],
        batch: &mut WriteBatch,
    ) -> Result<(), LedgerError> {
        let mut state = self.loaded(kv)?;
        let groups = state.groups.as_ref().expect("loaded");
        // Counted in a map of the few groups (versions and depths) a block touches: the keys come
        // in tree order, and sorting them first cost more than the counting.
        let mut replaced: BTreeMap<Group, u64> = BTreeMap::new();
        for key in stale {
            *replaced.entry(key_group(key.as_ref())?).or_default() += 1;
        }
        let mut changes = Vec::with_capacity(replaced.len() + 8);
        for (group, count) in replaced {
            // Versions from before the counts were kept have no entries.
            let Some(nodes) = groups.get(&group) else { continue };
            let live = nodes.live.checked_sub(count).ok_or_else(|| {
                corrupt(Column::TreeVersions, format!("version {version} replaces more nodes of a group than are live"))
            })?;
            changes.push((group, GroupNodes { live, dead_at: (live == 0).then_some(version) }));
        }
        // Every new node is `version`'s: count them by path length.
        let mut by_length = [0u64; 256];
        for key in written {
            by_length[key_group(key)?[GROUP_BYTES - 1] as usize] += 1;
        }
        for (length, &live) in by_length.iter().enumerate().filter(|(_, live)| **live > 0) {
            let mut group = [0u8; GROUP_BYTES];
            group[..8].copy_from_slice(&version.to_be_bytes());
            group[8] = length as u8;
            changes.push((group, GroupNodes { live, dead_at: None }));
        }
        for (group, nodes) in &changes {
            batch.put(Column::TreeVersions, group.to_vec(), encode_exact(nodes));
        }
        state.applied = Some(Applied { version, root, changes });
        Ok(())
    }

    /// The batch of `version` with root `root` is written: its changes count from now on (if it
    /// was the version applied last; else the counts are read again from the store).
    pub(super) fn committed(&self, version: Version, root: Hash) {
        let mut state = self.lock();
        match (state.applied.take(), state.groups.as_mut()) {
            (Some(applied), Some(groups)) if applied.version == version && applied.root == root => {
                groups.extend(applied.changes);
            }
            _ => state.groups = None,
        }
    }

    /// The groups all of whose nodes were replaced (by versions committed so far), ascending.
    pub(super) fn dead_groups<K: KvStore>(&self, kv: &K) -> Result<Vec<Group>, LedgerError> {
        let state = self.loaded(kv)?;
        let groups = state.groups.as_ref().expect("loaded");
        Ok(groups.iter().filter(|(_, nodes)| nodes.dead_at.is_some()).map(|(group, _)| *group).collect())
    }

    /// Takes out the groups whose nodes were all replaced at or before `oldest_kept` (no kept
    /// version needs them): as key ranges of groups that are consecutive among the tracked ones,
    /// at most `ranges_max` of them, oldest first. The deletion of their entries goes into
    /// `batch`; the caller deletes their nodes. They leave memory now: should `batch` not be
    /// written, the ledger stops (poisoned) and a reopen reads the counts from the store again.
    pub(super) fn take_prunable<K: KvStore>(
        &self,
        kv: &K,
        oldest_kept: Version,
        ranges_max: usize,
        batch: &mut WriteBatch,
    ) -> Result<Vec<KeyRange>, LedgerError> {
        if ranges_max == 0 {
            return Ok(Vec::new());
        }
        let mut state = self.loaded(kv)?;
        let groups = state.groups.as_mut().expect("loaded");
        let prunable = |nodes: &GroupNodes| nodes.dead_at.is_some_and(|dead_at| dead_at <= oldest_kept);
        // Runs of prunable groups, as (first, last) groups. A run extends over groups deleted
        // before (no entry), never over one still needed.
        let mut runs: Vec<(Group, Group)> = Vec::new();
        let mut run: Option<(Group, Group)> = None;
        for (group, nodes) in groups.iter() {
            if prunable(nodes) {
                run = Some(run.map_or((*group, *group), |(first, _)| (first, *group)));
            } else if let Some(done) = run.take() {
                runs.push(done);
                if runs.len() == ranges_max {
                    break;
                }
            }
        }
        if runs.len() < ranges_max {
            runs.extend(run);
        }
        let mut ranges = Vec::with_capacity(runs.len());
        for (first, last) in runs {
            let doomed: Vec<Group> = groups.range(first..=last).map(|(group, _)| *group).collect();
            for group in doomed {
                groups.remove(&group);
            }
            let range = (first.to_vec(), group_end(&last));
            batch.delete_range(Column::TreeVersions, range.0.clone(), range.1.clone());
            ranges.push(range);
        }
        Ok(ranges)
    }
}
