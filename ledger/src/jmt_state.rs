//! [`StateCommitment`] by the `jmt` crate (Jellyfish Merkle tree, SHA-256).
//!
//! Storage layout, in the [`Column`]s named there:
//!
//! * `TreeNodes`: `version (8, BE) ‖ borsh(nibble path)` → `borsh(Node)`. Version first, so that
//!   a version's nodes are adjacent and old versions compact away together.
//! * `TreeValues`: `key hash ‖ version (8, BE)` → `0x01 ‖ value`, or `0x00` for a deletion. A
//!   read at version v is one `seek_for_prev(key hash ‖ v)`.
//! * `StaleNodes`, `StaleValues`: pruning indexes keyed by the version from which an entry is
//!   no longer needed, so that pruning is a range scan from the start of the column.
//!
//! jmt's own stale-node index covers nodes; values are indexed here, because a leaf node that
//! moves when its neighbour splits keeps its value at the old version.
//!
//! Proofs are converted from jmt's form into [`MerkleProof`] through jmt's borsh encoding
//! (its sibling type is private); the tests cross-check the result against jmt's verifier.

use borsh::BorshDeserialize;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};
use keel_crypto::Hash;
use sha2::Sha256;

use crate::account::StateKey;
use crate::commitment::{StateCommitment, StateWrites};
use crate::error::LedgerError;
use crate::height::Height;
use crate::kv::{Column, KvStore, StoreError, WriteBatch};
use crate::proof::{MerkleProof, ProofLeaf, EMPTY_SUBTREE_HASH, INTERNAL_TAG, LEAF_TAG};

/// A value entry: the version it was written at, and the value (`None`: deleted).
type ValueEntry = (Version, Option<Vec<u8>>);

type Tree<'a, K> = JellyfishMerkleTree<'a, JmtReader<'a, K>, Sha256>;

/// The Jellyfish Merkle tree commitment, the reference [`crate::SmtCommitment`] is tested
/// against (same roots, same proofs). Stateless: everything lives in the [`KvStore`].
#[derive(Debug, Clone, Copy, Default)]
pub struct JmtCommitment;

/// jmt's view of a [`KvStore`].
struct JmtReader<'a, K> {
    kv: &'a K,
}

fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    let mut bytes = key.version().to_be_bytes().to_vec();
    borsh::to_writer(&mut bytes, key.nibble_path()).expect("borsh into a Vec cannot fail");
    bytes
}

fn value_key(key_hash: &[u8; 32], version: Version) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(40);
    bytes.extend_from_slice(key_hash);
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes
}

fn corrupt(column: Column, reason: String) -> StoreError {
    StoreError::Corrupt { column: column.name(), reason }
}

impl<K: KvStore> JmtReader<'_, K> {
    /// The newest value entry of `key_hash` at or before `version`: its version and value.
    fn value_entry(&self, key_hash: &[u8; 32], version: Version) -> Result<Option<ValueEntry>, StoreError> {
        let Some((key, stored)) = self.kv.get_at_or_before(Column::TreeValues, &value_key(key_hash, version))? else {
            return Ok(None);
        };
        if key.len() != 40 || &key[..32] != key_hash {
            return Ok(None);
        }
        let found_version = u64::from_be_bytes(key[32..].try_into().expect("checked length"));
        let value = match stored.split_first() {
            Some((1, value)) => Some(value.to_vec()),
            Some((0, [])) => None,
            _ => return Err(corrupt(Column::TreeValues, "bad value tag".into())),
        };
        Ok(Some((found_version, value)))
    }
}

impl<K: KvStore> TreeReader for JmtReader<'_, K> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let Some(bytes) = self.kv.get(Column::TreeNodes, &node_key_bytes(node_key))? else {
            return Ok(None);
        };
        let node = Node::try_from_slice(&bytes).map_err(|e| corrupt(Column::TreeNodes, e.to_string()))?;
        Ok(Some(node))
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.value_entry(&key_hash.0, max_version)?.and_then(|(_, value)| value))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("state restore is not supported by the keel ledger store")
    }
}

fn store_or_tree(error: anyhow::Error) -> LedgerError {
    match error.downcast::<StoreError>() {
        Ok(store) => LedgerError::Store(store),
        Err(other) => LedgerError::tree(other),
    }
}

impl StateCommitment for JmtCommitment {
    const FORMAT: &'static str = "jmt-v1";

    fn read<K: KvStore>(&self, kv: &K, version: Height, key: &StateKey) -> Result<Option<Vec<u8>>, LedgerError> {
        let reader = JmtReader { kv };
        Ok(reader.value_entry(key.key_hash().as_bytes(), version.0)?.and_then(|(_, value)| value))
    }

    fn root<K: KvStore>(&self, kv: &K, version: Height) -> Result<Option<Hash>, LedgerError> {
        let reader = JmtReader { kv };
        let root = Tree::new(&reader).get_root_hash_option(version.0).map_err(store_or_tree)?;
        Ok(root.map(|r| Hash::from_bytes(r.0)))
    }

    fn apply<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        writes: &StateWrites,
    ) -> Result<(Hash, WriteBatch), LedgerError> {
        assert!(!writes.is_empty(), "every version writes at least the chain record");
        let reader = JmtReader { kv };
        let value_set: Vec<(KeyHash, OwnedValue)> =
            writes.iter().map(|(key, value)| (KeyHash(*key.key_hash().as_bytes()), value.clone())).collect();
        let mut batch = WriteBatch::new();
        if let Some(parent) = version.prev() {
            for (key_hash, _) in &value_set {
                if let Some((old_version, _)) = reader.value_entry(&key_hash.0, parent.0)? {
                    let mut stale = version.to_be_bytes().to_vec();
                    stale.extend_from_slice(&value_key(&key_hash.0, old_version));
                    batch.put(Column::StaleValues, stale, Vec::new());
                }
            }
        }
        let (roots, update) =
            Tree::new(&reader).batch_put_value_sets(vec![value_set], None, version.0).map_err(store_or_tree)?;
        assert_eq!(roots.len(), 1, "one value set gives one root");
        for (node_key, node) in update.node_batch.nodes() {
            batch.put(Column::TreeNodes, node_key_bytes(node_key), borsh::to_vec(node).expect("borsh into a Vec"));
        }
        for ((value_version, key_hash), value) in update.node_batch.values() {
            assert_eq!(*value_version, version.0, "jmt writes values at the version being applied");
            let stored = match value {
                Some(value) => [&[1u8][..], value].concat(),
                None => vec![0u8],
            };
            batch.put(Column::TreeValues, value_key(&key_hash.0, *value_version), stored);
        }
        for stale in &update.stale_node_index_batch {
            let mut key = stale.stale_since_version.to_be_bytes().to_vec();
            key.extend_from_slice(&node_key_bytes(&stale.node_key));
            batch.put(Column::StaleNodes, key, Vec::new());
        }
        Ok((Hash::from_bytes(roots[0].0), batch))
    }

    fn prove<K: KvStore>(
        &self,
        kv: &K,
        version: Height,
        key: &StateKey,
    ) -> Result<(Option<Vec<u8>>, MerkleProof), LedgerError> {
        let reader = JmtReader { kv };
        let key_hash = KeyHash(*key.key_hash().as_bytes());
        let (value, proof) = Tree::new(&reader).get_with_proof(key_hash, version.0).map_err(store_or_tree)?;
        let encoded = borsh::to_vec(&proof).expect("borsh into a Vec cannot fail");
        let mirror = JmtProofMirror::try_from_slice(&encoded)
            .map_err(|e| LedgerError::Tree { reason: format!("jmt proof layout changed: {e}") })?;
        Ok((value, mirror.into_merkle_proof()))
    }

    fn prune<K: KvStore>(
        &self,
        kv: &K,
        oldest_kept: Height,
        entries_max: usize,
        batch: &mut WriteBatch,
    ) -> Result<usize, LedgerError> {
        // An entry stale since v is needed only by versions below v: delete it when v <= oldest_kept.
        let end = oldest_kept.0.checked_add(1).map_or(vec![0xff; 9], |v| v.to_be_bytes().to_vec());
        let mut deleted = 0;
        for (column, target) in [(Column::StaleNodes, Column::TreeNodes), (Column::StaleValues, Column::TreeValues)] {
            let entries = kv.scan(column, &[], &end, entries_max - deleted)?;
            for (key, _) in entries {
                if key.len() <= 8 {
                    return Err(corrupt(column, "stale index key too short".into()).into());
                }
                batch.delete(target, key[8..].to_vec());
                batch.delete(column, key);
                deleted += 1;
            }
        }
        debug_assert!(deleted <= entries_max);
        Ok(deleted)
    }
}

/// jmt's `SparseMerkleProof` borsh layout: `Option<leaf>`, then `Vec<SparseMerkleNode>`.
#[derive(BorshDeserialize)]
struct JmtProofMirror {
    leaf: Option<([u8; 32], [u8; 32])>,
    siblings: Vec<JmtNodeMirror>,
}

/// jmt's `SparseMerkleNode`: `Null`, `Internal(left, right)`, `Leaf(key hash, value hash)`.
#[derive(BorshDeserialize)]
enum JmtNodeMirror {
    Null,
    Internal([u8; 32], [u8; 32]),
    Leaf([u8; 32], [u8; 32]),
}

impl JmtProofMirror {
    fn into_merkle_proof(self) -> MerkleProof {
        let node_hash = |node: &JmtNodeMirror| match node {
            JmtNodeMirror::Null => EMPTY_SUBTREE_HASH,
            JmtNodeMirror::Internal(left, right) => tagged_pair(INTERNAL_TAG, left, right),
            JmtNodeMirror::Leaf(key, value) => tagged_pair(LEAF_TAG, key, value),
        };
        MerkleProof {
            leaf: self.leaf.map(|(key_hash, value_hash)| ProofLeaf {
                key_hash: Hash::from_bytes(key_hash),
                value_hash: Hash::from_bytes(value_hash),
            }),
            siblings: self.siblings.iter().map(|s| Hash::from_bytes(node_hash(s))).collect(),
        }
    }
}

fn tagged_pair(tag: &[u8], left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = Sha256::new();
    hasher.update(tag);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvStore;
    use crate::mem_kv::MemKv;
    use crate::proof::verify_merkle_proof;
    use keel_crypto::Address;

    fn commit(kv: &MemKv, version: u64, keys: impl Iterator<Item = u32>) -> Hash {
        let writes: StateWrites = keys
            .map(|i| (StateKey::Account(Address::from_bytes([i as u8; 32])), vec![i as u8, version as u8]))
            .chain([(StateKey::Chain, vec![version as u8])])
            .collect();
        let (root, batch) = JmtCommitment.apply(kv, Height(version), &writes).unwrap();
        kv.write(batch).unwrap();
        root
    }

    #[test]
    fn converted_proofs_agree_with_jmts_own_verifier() {
        let kv = MemKv::new();
        commit(&kv, 0, 0..40);
        let root = commit(&kv, 1, (0..60).step_by(3));
        assert_eq!(JmtCommitment.root(&kv, Height(1)).unwrap(), Some(root));
        let reader = JmtReader { kv: &kv };
        for i in 0..=255u32 {
            let key = StateKey::Account(Address::from_bytes([i as u8; 32]));
            let key_hash = KeyHash(*key.key_hash().as_bytes());
            let (value, jmt_proof) = Tree::new(&reader).get_with_proof(key_hash, 1).unwrap();
            jmt_proof.verify(jmt::RootHash(*root.as_bytes()), key_hash, value.as_ref()).unwrap();
            let (ours_value, ours) = JmtCommitment.prove(&kv, Height(1), &key).unwrap();
            assert_eq!(ours_value, value);
            verify_merkle_proof(&root, &key.key_hash(), value.as_deref(), &ours).unwrap();
            assert_eq!(value.is_some(), i < 40 || (i < 60 && i % 3 == 0), "key {i}");
        }
    }

    #[test]
    fn versions_read_their_own_values_and_pruning_removes_only_old_ones() {
        let kv = MemKv::new();
        commit(&kv, 0, 0..10);
        commit(&kv, 1, 0..5);
        commit(&kv, 2, 0..5);
        let key = StateKey::Account(Address::from_bytes([1; 32]));
        for version in 0..=2u8 {
            assert_eq!(JmtCommitment.read(&kv, Height(version.into()), &key).unwrap(), Some(vec![1, version]));
        }
        let mut batch = WriteBatch::new();
        let deleted = JmtCommitment.prune(&kv, Height(2), usize::MAX, &mut batch).unwrap();
        assert!(deleted > 0);
        kv.write(batch).unwrap();
        assert_eq!(JmtCommitment.read(&kv, Height(2), &key).unwrap(), Some(vec![1, 2]));
        let untouched = StateKey::Account(Address::from_bytes([7; 32]));
        assert_eq!(JmtCommitment.read(&kv, Height(2), &untouched).unwrap(), Some(vec![7, 0]));
        assert!(JmtCommitment.prove(&kv, Height(2), &untouched).is_ok());
        assert_eq!(JmtCommitment.root(&kv, Height(0)).unwrap(), None, "version 0's root is pruned");
        assert_eq!(kv.len(Column::StaleNodes) + kv.len(Column::StaleValues), 0);
    }
}
