//! Account proofs and their verification: a pure function a wallet runs against a state root
//! it trusts (for example one from a block certified by 2f+1 validators).
//!
//! The state is a Jellyfish Merkle tree, which hashes exactly like a binary sparse Merkle tree
//! over 256-bit key hashes in which every subtree holding one leaf is replaced by that leaf and
//! every empty subtree by a placeholder:
//!
//! ```text
//! key_hash     = SHA-256("keel/state-key/v1" ‖ 0x00 ‖ 0x00 ‖ address)     (see account.rs)
//! value_hash   = SHA-256(borsh(Account))                                   (plain SHA-256)
//! leaf         = SHA-256("JMT::LeafNode" ‖ key_hash ‖ value_hash)
//! internal     = SHA-256("JMT::IntrnalNode" ‖ left ‖ right)                (sic: jmt's tag)
//! empty        = the 32 ASCII bytes "SPARSE_MERKLE_PLACEHOLDER_HASH__"
//! ```
//!
//! A proof holds the leaf found on the key's path (if any) and the sibling hashes from that leaf
//! up to the root. With n siblings, sibling i (0 = lowest) sits at depth n - 1 - i, and bit
//! n - 1 - i of the key hash (bit 0 = the most significant bit of byte 0) says whether the path
//! goes right (1: the sibling is on the left) or left (0). Folding from the leaf (or `empty` if
//! there is none) must give the root.
//!
//! * Inclusion: the leaf's key hash is the account's and its value hash is that of the account.
//! * Non-inclusion, empty slot: no leaf; the fold starts from `empty`.
//! * Non-inclusion, other leaf: the leaf's key hash differs from the account's but shares its
//!   first n bits, so the account would have had to be in that single-leaf subtree.
//!
//! Wire form (borsh): `account: Option<Account>`, `leaf: Option<(key_hash, value_hash)>`,
//! `siblings: Vec<[u8; 32]>`; at most [`ACCOUNT_PROOF_BYTES_MAX`] bytes.

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{Address, Hash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::account::{encode_value, Account, StateKey};

/// The hash of an empty subtree.
pub const EMPTY_SUBTREE_HASH: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";
/// The tag of a leaf hash.
pub const LEAF_TAG: &[u8] = b"JMT::LeafNode";
/// The tag of an internal node hash.
pub const INTERNAL_TAG: &[u8] = b"JMT::IntrnalNode";
/// A path in a tree over 256-bit keys has at most this many siblings.
pub const PROOF_SIBLINGS_MAX: usize = 256;
/// Longest encoded account proof: the option tags, an account, a leaf and 256 siblings.
pub const ACCOUNT_PROOF_BYTES_MAX: usize = 1 + 16 + 1 + 64 + 4 + 32 * PROOF_SIBLINGS_MAX;

/// The leaf a proof's path ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ProofLeaf {
    /// The leaf's key hash.
    pub key_hash: Hash,
    /// SHA-256 of the leaf's value.
    pub value_hash: Hash,
}

impl ProofLeaf {
    /// `SHA-256("JMT::LeafNode" ‖ key_hash ‖ value_hash)`.
    pub fn hash(&self) -> [u8; 32] {
        hash_pair(LEAF_TAG, self.key_hash.as_bytes(), self.value_hash.as_bytes())
    }
}

/// A sparse Merkle path: the leaf at the end of a key's path, and the siblings from it upwards.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MerkleProof {
    /// The leaf found on the path, if the path ends at a leaf rather than an empty subtree.
    pub leaf: Option<ProofLeaf>,
    /// Sibling hashes, lowest first.
    pub siblings: Vec<Hash>,
}

/// Proof of an account's value (or absence) in the state with a given root.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AccountProof {
    /// The account, or `None` to claim it does not exist.
    pub account: Option<Account>,
    /// The Merkle path.
    pub merkle: MerkleProof,
}

/// Why a proof does not show what it claims. All permanent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The bytes are not a proof.
    #[error("proof does not decode: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// More than 256 siblings.
    #[error("proof has {siblings} siblings, at most {PROOF_SIBLINGS_MAX} are possible")]
    TooManySiblings {
        /// Count found.
        siblings: usize,
    },
    /// The leaf and the claim do not fit together (wrong key, wrong value, missing leaf, or a
    /// leaf that does not cover the account's path).
    #[error("proof leaf does not match the claim: {reason}")]
    LeafMismatch {
        /// Which check failed.
        reason: &'static str,
    },
    /// The path does not hash to the root.
    #[error("proof computes root {computed}, expected {expected}")]
    RootMismatch {
        /// The root the proof leads to.
        computed: Hash,
        /// The trusted root.
        expected: Hash,
    },
}

impl AccountProof {
    /// The borsh wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh into a Vec cannot fail")
    }

    /// Decodes the wire form, refusing more than [`ACCOUNT_PROOF_BYTES_MAX`] bytes or trailing
    /// bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<AccountProof, ProofError> {
        if bytes.len() > ACCOUNT_PROOF_BYTES_MAX {
            return Err(ProofError::Malformed {
                reason: format!("{} bytes exceed {ACCOUNT_PROOF_BYTES_MAX}", bytes.len()),
            });
        }
        borsh::from_slice(bytes).map_err(|e| ProofError::Malformed { reason: e.to_string() })
    }
}

/// Checks `proof` against a trusted `root` and returns the proven account: `Some` if it exists
/// with that value, `None` if it does not exist. See the module docs for the rules.
pub fn verify_account_proof(
    root: &Hash,
    address: &Address,
    proof: &AccountProof,
) -> Result<Option<Account>, ProofError> {
    let value = proof.account.as_ref().map(encode_value);
    verify_merkle_proof(root, &StateKey::Account(*address).key_hash(), value.as_deref(), &proof.merkle)?;
    Ok(proof.account)
}

/// Checks that `key_hash` maps to `value` (or is absent if `None`) in the tree with `root`.
pub fn verify_merkle_proof(
    root: &Hash,
    key_hash: &Hash,
    value: Option<&[u8]>,
    proof: &MerkleProof,
) -> Result<(), ProofError> {
    let depth = proof.siblings.len();
    if depth > PROOF_SIBLINGS_MAX {
        return Err(ProofError::TooManySiblings { siblings: depth });
    }
    let mismatch = |reason| Err(ProofError::LeafMismatch { reason });
    match (value, &proof.leaf) {
        (Some(_), None) => return mismatch("an inclusion claim needs a leaf"),
        (Some(value), Some(leaf)) => {
            if leaf.key_hash != *key_hash {
                return mismatch("the leaf belongs to another key");
            }
            if leaf.value_hash != Hash::sha256(value) {
                return mismatch("the leaf holds another value");
            }
        }
        (None, Some(leaf)) => {
            if leaf.key_hash == *key_hash {
                return mismatch("a non-inclusion claim cannot end at the key's own leaf");
            }
            if common_prefix_bits(key_hash, &leaf.key_hash) < depth {
                return mismatch("the leaf's subtree does not cover the key's path");
            }
        }
        (None, None) => {}
    }
    let start = proof.leaf.as_ref().map_or(EMPTY_SUBTREE_HASH, ProofLeaf::hash);
    let computed = proof.siblings.iter().enumerate().fold(start, |current, (i, sibling)| {
        let goes_right = bit(key_hash, depth - 1 - i);
        if goes_right {
            hash_pair(INTERNAL_TAG, sibling.as_bytes(), &current)
        } else {
            hash_pair(INTERNAL_TAG, &current, sibling.as_bytes())
        }
    });
    let computed = Hash::from_bytes(computed);
    if computed != *root {
        return Err(ProofError::RootMismatch { computed, expected: *root });
    }
    Ok(())
}

pub(crate) fn hash_pair(tag: &[u8], left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(tag);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Bit `index` of `hash`, most significant bit of byte 0 first.
fn bit(hash: &Hash, index: usize) -> bool {
    debug_assert!(index < 256);
    hash.as_bytes()[index / 8] & (0x80 >> (index % 8)) != 0
}

fn common_prefix_bits(a: &Hash, b: &Hash) -> usize {
    (0..256).take_while(|&i| bit(a, i) == bit(b, i)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_tree_proves_absence_of_everything() {
        let root = Hash::from_bytes(EMPTY_SUBTREE_HASH);
        let proof = AccountProof { account: None, merkle: MerkleProof { leaf: None, siblings: vec![] } };
        assert_eq!(verify_account_proof(&root, &Address::from_bytes([3; 32]), &proof), Ok(None));
        let claim = AccountProof { account: Some(Account::default()), ..proof };
        assert!(verify_account_proof(&root, &Address::from_bytes([3; 32]), &claim).is_err());
    }

    #[test]
    fn a_single_leaf_tree_is_its_leaf() {
        let address = Address::from_bytes([4; 32]);
        let account = Account { balance: 7, nonce: 1 };
        let leaf = ProofLeaf {
            key_hash: StateKey::Account(address).key_hash(),
            value_hash: Hash::sha256(&encode_value(&account)),
        };
        let root = Hash::from_bytes(leaf.hash());
        let proof = AccountProof { account: Some(account), merkle: MerkleProof { leaf: Some(leaf), siblings: vec![] } };
        assert_eq!(verify_account_proof(&root, &address, &proof), Ok(Some(account)));
        let other = Address::from_bytes([5; 32]);
        let absent = AccountProof { account: None, merkle: proof.merkle.clone() };
        assert_eq!(verify_account_proof(&root, &other, &absent), Ok(None));
        assert!(verify_account_proof(&root, &address, &absent).is_err());
    }

    #[test]
    fn bits_are_most_significant_first() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0b1000_0000;
        bytes[1] = 0b0000_0001;
        let hash = Hash::from_bytes(bytes);
        assert!(bit(&hash, 0) && !bit(&hash, 1) && bit(&hash, 15));
        assert_eq!(common_prefix_bits(&hash, &hash), 256);
        assert_eq!(common_prefix_bits(&hash, &Hash::ZERO), 0);
    }
}
