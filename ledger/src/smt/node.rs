//! Nodes of [`crate::SmtCommitment`]'s tree: 16-way nodes addressed by nibble paths, hashed as
//! the binary sparse Merkle tree described in [`crate::proof`] (the same hashes jmt computes, so
//! roots and proofs are interchangeable with [`crate::JmtCommitment`]'s).
//!
//! A node at nibble path `p` exists when two or more keys start with `p` (the root, path `[]`,
//! whenever the tree is not empty). Each of its 16 slots is empty, a leaf (a key hash and the
//! hash of its value) or the hash of the node one nibble below. Inside a node the 16 slots are
//! folded in four binary levels; a range holding a single leaf is that leaf's hash, an empty range
//! the placeholder.
//!
//! A slot holding two to [`SUBTREE_LEAVES_MAX`] keys holds them as a subtree: their leaves,
//! hashed as the node they make (and the nodes below it, if some share a longer path) but stored
//! and cached inside this node.
//!
//! Stored form: key `version (8, BE) ‖ path length (1) ‖ packed nibbles`; value `existence
//! bitmap (2, BE) ‖ leaf bitmap (2, BE) ‖ subtree bitmap (2, BE)`, then per present slot in
//! nibble order a leaf's `key hash ‖ value length (2, BE) ‖ value`, a subtree's `leaf count (1)`
//! and its leaves so (sorted by key hash), or a child node's `hash ‖ version (8, BE)`. A leaf
//! carries its value, so the state has no other copy of it. A parent names the version of each child node, so
//! every read is one exact lookup, and the keys a version writes all sort after every older
//! version's: a block's nodes are appended to the store, never inserted among older ones (in
//! RocksDB, a memtable insert at the end instead of a search through the skip list, and flushed
//! files that do not overlap, so compaction has little to merge).

use std::sync::Arc;

use bytes::BytesMut;
use sha2::{Digest, Sha256};

use crate::proof::{hash_pair, EMPTY_SUBTREE_HASH, INTERNAL_TAG, LEAF_TAG};

/// Tree versions (heights).
pub type Version = u64;

/// A path of nibbles from the root, at most 64 (a whole key hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NibblePath {
    len: u8,
    packed: [u8; 32],
}

impl NibblePath {
    /// The root's path.
    pub const ROOT: NibblePath = NibblePath { len: 0, packed: [0; 32] };

    /// Number of nibbles.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether this is the root's path.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first nibble (0 for the root's path).
    pub fn first_nibble(&self) -> usize {
        if self.len == 0 {
            0
        } else {
            (self.packed[0] >> 4) as usize
        }
    }

    /// The path one nibble further down.
    pub fn child(&self, nibble: u8) -> NibblePath {
        assert!(self.len < 64, "a path holds at most 64 nibbles");
        debug_assert!(nibble < 16);
        let mut next = *self;
        let index = self.len as usize;
        next.packed[index / 2] |= if index % 2 == 0 { nibble << 4 } else { nibble };
        next.len += 1;
        next
    }

    /// The stored key of the node at this path written at `version`.
    pub fn node_key(&self, version: Version) -> Vec<u8> {
        self.node_key_inline(version).as_ref().to_vec()
    }

    /// [`NibblePath::node_key`] without an allocation.
    pub fn node_key_inline(&self, version: Version) -> NodeKey {
        let packed = self.len().div_ceil(2);
        let mut bytes = [0; NODE_KEY_BYTES_MAX];
        bytes[..8].copy_from_slice(&version.to_be_bytes());
        bytes[8] = self.len;
        bytes[9..9 + packed].copy_from_slice(&self.packed[..packed]);
        NodeKey { len: (9 + packed) as u8, bytes }
    }
}

/// Most bytes of a node key: version, path length, 32 bytes of packed nibbles.
pub const NODE_KEY_BYTES_MAX: usize = 8 + 1 + 32;

/// A node's stored key, held inline: a block replaces thousands of nodes, and its stale list
/// names each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeKey {
    len: u8,
    bytes: [u8; NODE_KEY_BYTES_MAX],
}

impl AsRef<[u8]> for NodeKey {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Keys order as their bytes do, as the store orders them.
impl Ord for NodeKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_ref().cmp(other.as_ref())
    }
}

impl PartialOrd for NodeKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Nibble `index` of a key hash (0 = the high half of byte 0).
pub fn nibble(key_hash: &[u8; 32], index: usize) -> u8 {
    let byte = key_hash[index / 2];
    if index % 2 == 0 {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// Most bytes of a value the tree holds: the ledger's state values are at most 64 bytes.
pub const VALUE_BYTES_MAX: usize = 64;

/// Most bytes of a value kept inside the [`Value`] itself: an account is 16 bytes, the chain
/// record 24.
pub const VALUE_INLINE_MAX: usize = 22;

/// A leaf's value. Small values (every account) are kept inline, so that copying a node copies
/// its leaves without touching the allocator or reference counts shared between threads; larger
/// ones (the chain record: one leaf) live on the heap. Inline up to 22 bytes keeps a `Value` at 24
/// bytes and a node's slot at 96: with the full 64 bytes inline a slot was 144, and rebuilding a
/// node copied half again as many bytes, most of them zeros.
#[derive(Clone, PartialEq, Eq)]
pub struct Value(ValueBytes);

#[derive(Clone, PartialEq, Eq)]
enum ValueBytes {
    Inline { len: u8, bytes: [u8; VALUE_INLINE_MAX] },
    Heap(Box<[u8]>),
}

impl Value {
    /// `bytes` as a value; `None` when longer than [`VALUE_BYTES_MAX`].
    pub fn new(bytes: &[u8]) -> Option<Value> {
        if bytes.len() > VALUE_BYTES_MAX {
            return None;
        }
        if bytes.len() > VALUE_INLINE_MAX {
            return Some(Value(ValueBytes::Heap(bytes.into())));
        }
        let mut inline = [0; VALUE_INLINE_MAX];
        inline[..bytes.len()].copy_from_slice(bytes);
        Some(Value(ValueBytes::Inline { len: bytes.len() as u8, bytes: inline }))
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            ValueBytes::Inline { len, bytes } => &bytes[..*len as usize],
            ValueBytes::Heap(bytes) => bytes,
        }
    }

    /// SHA-256 of the value's bytes.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.as_bytes()).into()
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Value({:02x?})", self.as_bytes())
    }
}

/// `SHA-256("JMT::LeafNode" ‖ key_hash ‖ value_hash)`.
pub fn leaf_hash(key_hash: &[u8; 32], value_hash: &[u8; 32]) -> [u8; 32] {
    hash_pair(LEAF_TAG, key_hash, value_hash)
}

/// One slot of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Child {
    /// A single key below this slot.
    Leaf {
        /// The key's hash.
        key_hash: [u8; 32],
        /// Its value.
        value: Value,
        /// [`leaf_hash`] of the key hash and the value's hash, kept so that folding a node never
        /// recomputes it. (The value's own hash is not kept: only proofs need it, and nodes are
        /// copied far more often than proofs are made.)
        hash: [u8; 32],
    },
    /// The node one nibble below.
    Node {
        /// Its hash.
        hash: [u8; 32],
        /// The version it was written at (not hashed: the tree's hashes are jmt's).
        version: Version,
    },
    /// A small subtree: two to [`SUBTREE_LEAVES_MAX`] keys below this slot, kept here as their
    /// leaves instead of as nodes of their own (see [`SUBTREE_LEAVES_MAX`]). It hashes as the
    /// node those keys make at the slot's path, so the tree's hashes do not change.
    Subtree {
        /// The hash of that node.
        hash: [u8; 32],
        /// The leaves (each a [`Child::Leaf`]), sorted by key hash.
        leaves: Arc<[Child]>,
    },
}

/// Most bytes of a node's stored form: the bitmaps, then 16 slots of the largest kind (a
/// subtree of the most leaves with the largest values).
pub const NODE_BYTES_MAX: usize = 6 + 16 * (1 + SUBTREE_LEAVES_MAX * (32 + 2 + VALUE_BYTES_MAX));

/// Most keys a slot holds as a [`Child::Subtree`]; a slot with more holds a node.
///
/// Why: a node exists wherever two keys share a path, and at a million random accounts four in
/// five of those hold at most four keys (counted over a million random keys: 359,726 nodes,
/// 72,978 with more); as nodes of their own they were four in five of the nodes in memory and
/// a quarter of those a 1,000-transfer block rewrites (5,158 against 3,847), each a store
/// entry, a cache entry and allocations. Inside their parent they cost none of those; their hash is recomputed from the
/// leaves when one changes (a few hashes, as refolding the node did). The form is canonical:
/// a set of keys is a subtree exactly when it has two to four keys (the tree never deletes).
pub const SUBTREE_LEAVES_MAX: usize = 4;

impl Child {
    /// A leaf slot holding `value`.
    pub fn leaf(key_hash: [u8; 32], value: Value) -> Child {
        let hash = leaf_hash(&key_hash, &value.hash());
        Child::Leaf { key_hash, value, hash }
    }

    /// A subtree slot at a path of `depth` nibbles holding `leaves` ([`Child::Leaf`]s, sorted by
    /// key hash, two to [`SUBTREE_LEAVES_MAX`] of them, sharing the path).
    pub fn subtree(leaves: Vec<Child>, depth: usize) -> Child {
        debug_assert!((2..=SUBTREE_LEAVES_MAX).contains(&leaves.len()), "{} leaves", leaves.len());
        debug_assert!(leaves.windows(2).all(|pair| leaf_key(&pair[0]) < leaf_key(&pair[1])), "sorted");
        Child::Subtree { hash: subtree_hash(&leaves, depth), leaves: leaves.into() }
    }

    /// The slot's hash.
    pub fn hash(&self) -> &[u8; 32] {
        match self {
            Child::Leaf { hash, .. } | Child::Node { hash, .. } | Child::Subtree { hash, .. } => hash,
        }
    }
}

/// The key hash and value of a [`Child::Leaf`] (the leaves of a subtree are nothing else).
pub fn leaf_parts(leaf: &Child) -> (&[u8; 32], &Value) {
    match leaf {
        Child::Leaf { key_hash, value, .. } => (key_hash, value),
        _ => unreachable!("a subtree holds leaves only"),
    }
}

/// The key hash of a [`Child::Leaf`].
pub fn leaf_key(leaf: &Child) -> &[u8; 32] {
    leaf_parts(leaf).0
}

/// The slots of the node that `leaves` (sorted, two or more, sharing a path of `depth` nibbles)
/// make at that path: a nibble's single leaf is that leaf, several are the node below — given as
/// a subtree when `nested` says so, else as a stand-in [`Child::Node`] carrying only the hash
/// (enough to fold).
fn subtree_slots(leaves: &[Child], depth: usize, nested: bool) -> Slots {
    let mut slots = Slots::default();
    for group in leaves.chunk_by(|a, b| nibble(leaf_key(a), depth) == nibble(leaf_key(b), depth)) {
        let index = nibble(leaf_key(&group[0]), depth) as usize;
        slots[index] = Some(match group {
            [only] => only.clone(),
            _ if nested => Child::subtree(group.to_vec(), depth + 1),
            _ => Child::Node { hash: subtree_hash(group, depth + 1), version: 0 },
        });
    }
    slots
}

/// The hash of the node `leaves` make at their path of `depth` nibbles (see [`subtree_slots`]).
fn subtree_hash(leaves: &[Child], depth: usize) -> [u8; 32] {
    fold(&slot_refs(&subtree_slots(leaves, depth, false)), 0, 16)
}

/// The node a [`Child::Subtree`]'s `leaves` make at its path of `depth` nibbles, as proofs walk
/// it (nested subtrees for the keys that share a longer path).
pub fn subtree_node(leaves: &[Child], depth: usize) -> Node {
    Node::from_slots_refolded(subtree_slots(leaves, depth, true), u16::MAX, None)
}

/// The 16 slots of a node being built or changed.
pub type Slots = [Option<Child>; 16];

/// The fold of each range of a node's slots that is wider than one slot, in heap order: `[0]` all
/// 16 (the node's hash), `[1]`, `[2]` the halves, `[3..7]` the quarters, `[7..15]` the pairs. The
/// children of range `h` are `2h + 1` and `2h + 2`.
pub type Folds = [[u8; 32]; 15];

/// Nodes with at least this many children keep their [`Folds`] in memory: changing one slot of
/// such a node then refolds the 4 ranges holding it instead of all 15 (480 bytes a node, so only
/// the full nodes of the upper levels, and at a million accounts the leaf-holding ones, pay it).
pub const FOLDS_KEPT_CHILDREN_MIN: usize = 8;

/// A node: its present slots, in nibble order, and for nodes with many children the folds of its
/// ranges (memory only: a node read from the store has none until it is rebuilt).
#[derive(Debug, Clone, Default)]
pub struct Node {
    children: Box<[(u8, Child)]>,
    folds: Option<Box<Folds>>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        // The folds are a function of the children.
        self.children == other.children
    }
}

impl Eq for Node {}

impl Node {
    /// A node of `slots`, folded from scratch (the builder always says what changed; tests don't).
    #[cfg(test)]
    pub fn from_slots(slots: Slots) -> Node {
        Node::from_slots_refolded(slots, u16::MAX, None)
    }

    /// A node of `slots` that differ from the node they replace only in the slots of `changed`
    /// (bit `i` for slot `i`), given that node's folds: see [`Node::from_children_refolded`].
    pub fn from_slots_refolded(slots: Slots, changed: u16, kept: Option<Box<Folds>>) -> Node {
        // Sized exactly, so that the boxed slice is the one allocation.
        let mut children = Vec::with_capacity(slots.iter().flatten().count());
        children.extend(slots.into_iter().enumerate().filter_map(|(i, slot)| slot.map(|child| (i as u8, child))));
        Node::from_children_refolded(children, changed, kept)
    }

    /// A node of `children` (slot index and child, in index order) that differ from the node
    /// they replace only in the slots of `changed` (bit `i` for slot `i`), given that node's
    /// folds if it kept them (see [`Node::into_parts`]): the ranges holding no changed slot keep
    /// their folds, in the same allocation. `kept: None` or a `changed` of every slot folds
    /// everything.
    pub fn from_children_refolded(children: Vec<(u8, Child)>, changed: u16, kept: Option<Box<Folds>>) -> Node {
        debug_assert!(children.windows(2).all(|pair| pair[0].0 < pair[1].0), "children in slot order");
        let folds = (children.len() >= FOLDS_KEPT_CHILDREN_MIN).then(|| {
            let (mut folds, changed) = match kept {
                Some(folds) => (folds, changed),
                None => (Box::new([[0; 32]; 15]), u16::MAX),
            };
            let mut slots: SlotRefs<'_> = [None; 16];
            for (index, child) in &children {
                slots[*index as usize] = Some(child);
            }
            refold(&slots, 0, 16, 0, changed, &mut folds);
            folds
        });
        Node { children: children.into_boxed_slice(), folds }
    }

    /// The node's children (in slot order, in the allocation the node held them in) and its
    /// folds, if it kept them: a node that is replaced and owned by no one else gives both to
    /// the node that replaces it, so that only the changed slots are written (copying every
    /// child and fold of a cold node, allocating the copy and freeing the original was most of
    /// a tree update's cost at a million accounts).
    pub fn into_parts(self) -> (Vec<(u8, Child)>, Option<Box<Folds>>) {
        (self.children.into_vec(), self.folds)
    }

    /// The node's 16 slots.
    pub fn slots(&self) -> Slots {
        let mut slots = Slots::default();
        for (index, child) in self.children.iter() {
            slots[*index as usize] = Some(child.clone());
        }
        slots
    }

    /// The slot at `index`.
    pub fn child(&self, index: u8) -> Option<&Child> {
        self.children.iter().find(|(i, _)| *i == index).map(|(_, child)| child)
    }

    /// The present slots, in nibble order.
    pub fn children(&self) -> &[(u8, Child)] {
        &self.children
    }

    /// The node's hash: its 16 slots folded as a binary tree (see the module docs).
    pub fn hash(&self) -> [u8; 32] {
        if let Some(folds) = &self.folds {
            return folds[0];
        }
        let mut slots: SlotRefs<'_> = [None; 16];
        for (index, child) in self.children.iter() {
            slots[*index as usize] = Some(child);
        }
        fold(&slots, 0, 16)
    }

    /// The stored form (see the module docs); the tree writes it with [`Node::encode_into`].
    #[cfg(test)]
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut bytes);
        assert_eq!(bytes.len(), self.encoded_len());
        bytes.to_vec()
    }

    /// Length of [`Node::encode`]'s bytes.
    #[cfg(test)]
    pub fn encoded_len(&self) -> usize {
        let leaf_len = |value: &Value| 32 + 2 + value.as_bytes().len();
        6 + self
            .children
            .iter()
            .map(|(_, child)| match child {
                Child::Leaf { value, .. } => leaf_len(value),
                Child::Node { .. } => 32 + 8,
                Child::Subtree { leaves, .. } => {
                    1 + leaves.iter().map(|leaf| leaf_len(leaf_parts(leaf).1)).sum::<usize>()
                }
            })
            .sum::<usize>()
    }

    /// Appends [`Node::encode`]'s bytes to `bytes`.
    pub fn encode_into(&self, bytes: &mut BytesMut) {
        let (mut existence, mut leaves, mut subtrees) = (0u16, 0u16, 0u16);
        for (index, child) in self.children.iter() {
            existence |= 1 << index;
            match child {
                Child::Leaf { .. } => leaves |= 1 << index,
                Child::Subtree { .. } => subtrees |= 1 << index,
                Child::Node { .. } => {}
            }
        }
        bytes.extend_from_slice(&existence.to_be_bytes());
        bytes.extend_from_slice(&leaves.to_be_bytes());
        bytes.extend_from_slice(&subtrees.to_be_bytes());
        let encode_leaf = |bytes: &mut BytesMut, leaf: &Child| {
            let Child::Leaf { key_hash, value, .. } = leaf else { unreachable!("a subtree holds leaves only") };
            bytes.extend_from_slice(key_hash);
            let value = value.as_bytes();
            bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
            bytes.extend_from_slice(value);
        };
        for (_, child) in self.children.iter() {
            match child {
                Child::Leaf { .. } => encode_leaf(bytes, child),
                Child::Node { hash, version } => {
                    bytes.extend_from_slice(hash);
                    bytes.extend_from_slice(&version.to_be_bytes());
                }
                Child::Subtree { leaves, .. } => {
                    bytes.extend_from_slice(&[leaves.len() as u8]);
                    for leaf in leaves.iter() {
                        encode_leaf(bytes, leaf);
                    }
                }
            }
        }
    }

    /// Decodes the stored form of the node at a path of `depth` nibbles; the reason when the
    /// bytes are not a node.
    pub fn decode(bytes: &[u8], depth: usize) -> Result<Node, String> {
        fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8], String> {
            let (head, tail) = rest.split_at_checked(len).ok_or("node ends early")?;
            *rest = tail;
            Ok(head)
        }
        fn take_leaf(rest: &mut &[u8]) -> Result<Child, String> {
            let key_hash: [u8; 32] = take(rest, 32)?.try_into().expect("32 bytes");
            let len = take(rest, 2)?;
            let len = u16::from_be_bytes([len[0], len[1]]) as usize;
            let value = Value::new(take(rest, len)?).ok_or("a leaf value over the size limit")?;
            Ok(Child::leaf(key_hash, value))
        }
        let (header, mut rest) = bytes.split_at_checked(6).ok_or("node shorter than its header")?;
        let existence = u16::from_be_bytes([header[0], header[1]]);
        let leaves = u16::from_be_bytes([header[2], header[3]]);
        let subtrees = u16::from_be_bytes([header[4], header[5]]);
        if (leaves | subtrees) & !existence != 0 || leaves & subtrees != 0 {
            return Err("leaf or subtree bitmap outside the existence bitmap, or overlapping".into());
        }
        let mut children = Vec::with_capacity(existence.count_ones() as usize);
        for index in 0..16u8 {
            if existence & (1 << index) == 0 {
                continue;
            }
            let child = if leaves & (1 << index) != 0 {
                take_leaf(&mut rest)?
            } else if subtrees & (1 << index) != 0 {
                let count = take(&mut rest, 1)?[0] as usize;
                if !(2..=SUBTREE_LEAVES_MAX).contains(&count) {
                    return Err(format!("a subtree of {count} leaves"));
                }
                if depth >= 63 {
                    return Err("a subtree below the deepest node".into());
                }
                let leaves = (0..count).map(|_| take_leaf(&mut rest)).collect::<Result<Vec<_>, _>>()?;
                // Sorted, distinct, and sharing the slot's path (the node's own path is not known
                // here: they must at least agree on it): then they part before the key's end, and
                // hashing them cannot run past it.
                let first = leaf_key(&leaves[0]);
                let keys_fit = leaves.windows(2).all(|pair| leaf_key(&pair[0]) < leaf_key(&pair[1]))
                    && nibble(first, depth) == index
                    && leaves.iter().all(|leaf| (0..=depth).all(|at| nibble(leaf_key(leaf), at) == nibble(first, at)));
                if !keys_fit {
                    return Err("a subtree's keys are out of order or outside its slot".into());
                }
                Child::subtree(leaves, depth + 1)
            } else {
                let hash: [u8; 32] = take(&mut rest, 32)?.try_into().expect("32 bytes");
                let version = take(&mut rest, 8)?;
                Child::Node { hash, version: Version::from_be_bytes(version.try_into().expect("8 bytes")) }
            };
            children.push((index, child));
        }
        if !rest.is_empty() {
            return Err("trailing bytes after the node".into());
        }
        Ok(Node { children: children.into_boxed_slice(), folds: None })
    }
}

/// A node's 16 slots, borrowed.
pub type SlotRefs<'a> = [Option<&'a Child>; 16];

/// Borrows each slot.
pub fn slot_refs(slots: &Slots) -> SlotRefs<'_> {
    std::array::from_fn(|index| slots[index].as_ref())
}

/// The hash of slots `start..start + width` folded as a binary tree: the placeholder when empty,
/// the slot's own hash when it is a single slot or a single leaf, else the internal hash of the
/// two halves.
pub fn fold(slots: &SlotRefs<'_>, start: usize, width: usize) -> [u8; 32] {
    let range = &slots[start..start + width];
    let mut present = range.iter().flatten();
    let Some(first) = present.next() else { return EMPTY_SUBTREE_HASH };
    let single = present.next().is_none();
    if width == 1 || (single && matches!(first, Child::Leaf { .. })) {
        return *first.hash();
    }
    let half = width / 2;
    hash_pair(INTERNAL_TAG, &fold(slots, start, half), &fold(slots, start + half, half))
}

/// [`fold`] of slots `start..start + width` (`width` at least 2; range `heap` of [`Folds`]),
/// recording it and the folds of its subranges in `folds`, which holds valid folds for every range
/// without a slot in `changed`: those are taken as they are. Subranges are always refolded (an
/// empty or single-leaf one costs no hashing), so that every range's fold stays valid for the
/// next update.
fn refold(slots: &SlotRefs<'_>, start: usize, width: usize, heap: usize, changed: u16, folds: &mut Folds) -> [u8; 32] {
    let range_bits = ((1u32 << width) - 1) << start;
    if u32::from(changed) & range_bits == 0 {
        return folds[heap];
    }
    let half = width / 2;
    let (left, right) = if half == 1 {
        let slot_hash = |slot: Option<&Child>| slot.map_or(EMPTY_SUBTREE_HASH, |child| *child.hash());
        (slot_hash(slots[start]), slot_hash(slots[start + 1]))
    } else {
        (
            refold(slots, start, half, 2 * heap + 1, changed, folds),
            refold(slots, start + half, half, 2 * heap + 2, changed, folds),
        )
    };
    let mut present = slots[start..start + width].iter().flatten();
    let folded = match (present.next(), present.next()) {
        (None, _) => EMPTY_SUBTREE_HASH,
        (Some(only @ Child::Leaf { .. }), None) => *only.hash(),
        _ => hash_pair(INTERNAL_TAG, &left, &right),
    };
    folds[heap] = folded;
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pack_nibbles_and_keys_sort_by_version_then_path() {
        let path = NibblePath::ROOT.child(0xa).child(0x3).child(0xf);
        assert_eq!(path.len(), 3);
        assert_eq!(path.node_key(7), [&7u64.to_be_bytes()[..], &[3u8, 0xa3, 0xf0]].concat());
        assert!(path.node_key(7) < NibblePath::ROOT.node_key(8), "a newer version's keys sort after");
        assert!(NibblePath::ROOT.node_key(7) < path.node_key(7));
        assert!(path.node_key(7) < NibblePath::ROOT.child(0xa).child(0x4).child(0).node_key(7));
        assert_eq!(nibble(&[0xa3; 32], 0), 0xa);
        assert_eq!(nibble(&[0xa3; 32], 1), 0x3);
    }

    #[test]
    fn values_of_every_size_keep_their_bytes_and_small_ones_stay_small() {
        for len in [0, 1, 16, VALUE_INLINE_MAX, VALUE_INLINE_MAX + 1, 24, VALUE_BYTES_MAX] {
            let bytes: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37) | 1).collect();
            let value = Value::new(&bytes).unwrap();
            assert_eq!(value.as_bytes(), bytes, "{len} bytes");
            assert_eq!(value.hash(), <[u8; 32]>::from(Sha256::digest(&bytes)));
        }
        assert!(Value::new(&[0; VALUE_BYTES_MAX + 1]).is_none());
        assert_ne!(Value::new(&[1, 0]).unwrap(), Value::new(&[1]).unwrap(), "the length is part of the value");
        // What a node copies per slot (see `Value`).
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<(u8, Child)>(), 96);
    }

    #[test]
    fn nodes_round_trip_and_refuse_bad_bytes() {
        let mut slots = Slots::default();
        slots[2] = Some(Child::leaf([1; 32], Value::new(&[2, 3]).unwrap()));
        slots[9] = Some(Child::Node { hash: [3; 32], version: 0x0102_0304 });
        let node = Node::from_slots(slots.clone());
        assert_eq!(Node::decode(&node.encode(), 0).unwrap(), node);
        assert_eq!(node.slots(), slots);
        let bytes = node.encode();
        assert!(Node::decode(&bytes[..bytes.len() - 1], 0).is_err());
        assert!(Node::decode(&[bytes.clone(), vec![0]].concat(), 0).is_err());
        assert!(Node::decode(&[0, 0, 0, 1, 0, 0], 0).is_err(), "a leaf that does not exist");
    }

    /// A key hash starting with `nibbles`, the rest `fill`.
    fn key_of(nibbles: &[u8], fill: u8) -> [u8; 32] {
        let mut key = [fill; 32];
        for (index, nibble) in nibbles.iter().enumerate() {
            let byte = &mut key[index / 2];
            *byte = if index % 2 == 0 { (*byte & 0x0f) | nibble << 4 } else { (*byte & 0xf0) | nibble };
        }
        key
    }

    #[test]
    fn a_subtree_hashes_as_the_nodes_it_stands_for_and_is_stored_inside_its_parent() {
        // Below root slot 5: two keys sharing 5, 3, 7 and one at 5, 9.
        let leaf = |nibbles: &[u8], fill: u8| Child::leaf(key_of(nibbles, fill), Value::new(&[fill; 16]).unwrap());
        let (a, b, c) = (leaf(&[5, 3, 7, 1], 0x11), leaf(&[5, 3, 7, 8], 0x22), leaf(&[5, 9], 0x33));
        let node_of = |children: Vec<(usize, Child)>| {
            let mut slots = Slots::default();
            for (index, child) in children {
                slots[index] = Some(child);
            }
            Node::from_slots(slots)
        };
        let node_537 = node_of(vec![(1, a.clone()), (8, b.clone())]);
        let node_53 = node_of(vec![(7, Child::Node { hash: node_537.hash(), version: 1 })]);
        let node_5 = node_of(vec![(3, Child::Node { hash: node_53.hash(), version: 1 }), (9, c.clone())]);
        let leaves = vec![a, b, c];
        let subtree = Child::subtree(leaves.clone(), 1);
        assert_eq!(*subtree.hash(), node_5.hash());
        assert_eq!(subtree_node(&leaves, 1).hash(), node_5.hash(), "the node proofs walk");

        let root = node_of(vec![(0, leaf(&[0], 0x44)), (5, subtree)]);
        let bytes = root.encode();
        assert_eq!(Node::decode(&bytes, 0).unwrap(), root);
        assert_eq!(Node::decode(&bytes, 0).unwrap().hash(), root.hash());
        assert!(Node::decode(&bytes, 1).is_err(), "at another depth the keys are outside their slot");
        // Two keys in slot 3 at depth 1 that differ at nibble 0: refused, not hashed past the key's end.
        let stray = [(&[0u8, 3][..], 1u8), (&[5, 3][..], 2)]
            .iter()
            .flat_map(|(nibbles, fill)| [&key_of(nibbles, 0)[..], &[0, 1], &[*fill]].concat())
            .collect::<Vec<u8>>();
        let header = [0u8, 0b1000, 0, 0, 0, 0b1000, 2];
        assert!(Node::decode(&[&header[..], &stray].concat(), 1).unwrap_err().contains("outside its slot"));
        let single = [&[0, 0x20, 0, 0, 0, 0x20, 1][..], &key_of(&[5], 1), &[0, 0]].concat();
        assert!(Node::decode(&single, 0).unwrap_err().contains("subtree of 1 leaves"));
    }

    proptest::proptest! {
        /// Corrupt stored bytes are an error, never a panic, at any depth.
        #[test]
        fn decoding_damaged_nodes_never_panics(
            flips in proptest::collection::vec((0usize..400, proptest::prelude::any::<u8>()), 1..4),
            cut in 0usize..400,
            depth in 0usize..65,
        ) {
            let leaf = |nibbles: &[u8], fill: u8| Child::leaf(key_of(nibbles, fill), Value::new(&[fill; 3]).unwrap());
            let mut slots = Slots::default();
            slots[1] = Some(leaf(&[1], 1));
            slots[5] = Some(Child::subtree(vec![leaf(&[5, 3, 7, 1], 2), leaf(&[5, 3, 7, 8], 3), leaf(&[5, 9], 4)], 1));
            slots[9] = Some(Child::Node { hash: [9; 32], version: 9 });
            let mut bytes = Node::from_slots(slots).encode();
            for (at, byte) in flips {
                let at = at % bytes.len();
                bytes[at] ^= byte;
            }
            bytes.truncate(bytes.len().saturating_sub(cut % 8));
            let _ = Node::decode(&bytes, depth);
        }
    }

    #[test]
    fn the_largest_node_encodes_to_the_bound() {
        let mut slots = Slots::default();
        for (index, slot) in slots.iter_mut().enumerate() {
            let leaves = (0..SUBTREE_LEAVES_MAX as u8)
                .map(|fill| {
                    Child::leaf(key_of(&[index as u8, fill], fill), Value::new(&[fill; VALUE_BYTES_MAX]).unwrap())
                })
                .collect();
            *slot = Some(Child::subtree(leaves, 1));
        }
        assert_eq!(Node::from_slots(slots).encode().len(), NODE_BYTES_MAX);
    }

    #[test]
    fn kept_folds_give_the_hash_a_full_fold_gives_after_any_run_of_updates() {
        // xorshift: deterministic, many cases.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let random_slot = |next: &mut dyn FnMut() -> u64| -> Option<Child> {
            let byte = next() as u8;
            match next() % 4 {
                0 => None,
                1 => Some(Child::Node { hash: [byte; 32], version: u64::from(byte) }),
                _ => Some(Child::leaf([byte; 32], Value::new(&[byte]).unwrap())),
            }
        };
        let mut kept = 0;
        for _ in 0..500 {
            let mut slots: Slots = std::array::from_fn(|_| random_slot(&mut next));
            let mut node = Node::from_slots(slots.clone());
            for _ in 0..6 {
                // Change one to four slots, sometimes emptying most of the node.
                let mut changed = 0u16;
                for _ in 0..1 + next() % 4 {
                    let index = (next() % 16) as usize;
                    slots[index] = random_slot(&mut next);
                    changed |= 1 << index;
                }
                let updated = Node::from_slots_refolded(slots.clone(), changed, node.folds.clone());
                assert_eq!(updated.hash(), fold(&slot_refs(&slots), 0, 16), "slots {slots:?}");
                kept += usize::from(updated.folds.is_some() && node.folds.is_some());
                node = updated;
            }
        }
        assert!(kept > 500, "most updates reused kept folds ({kept})");
    }

    #[test]
    fn folding_collapses_single_leaves_but_not_single_nodes() {
        let mut slots = Slots::default();
        assert_eq!(fold(&slot_refs(&slots), 0, 16), EMPTY_SUBTREE_HASH);
        let leaf = Child::leaf([1; 32], Value::new(&[2]).unwrap());
        slots[5] = Some(leaf.clone());
        assert_eq!(fold(&slot_refs(&slots), 0, 16), *leaf.hash(), "one leaf is the whole node");
        slots[5] = Some(Child::Node { hash: [7; 32], version: 3 });
        assert_ne!(fold(&slot_refs(&slots), 0, 16), [7; 32], "a lone child node is hashed with placeholders");
    }
}
