//! SHA-256 digests and domain-separated ("tagged") hashing.
//!
//! Every hash that Keel puts on the wire or into a Merkle tree is tagged:
//!
//! ```text
//! tagged_hash(tag, message) = SHA-256( tag ‖ 0x00 ‖ message )
//! ```
//!
//! `tag` is a short ASCII string such as `keel/block/v1` that never contains a NUL byte, so the
//! encoding is injective: no (tag, message) pair hashes the same bytes as another pair. A block
//! hash can therefore never be mistaken for a transaction hash, even if their encodings happened
//! to collide.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use crate::error::CryptoError;

/// A 32-byte SHA-256 digest.
///
/// Text form: 64 lowercase hex characters (upper case is accepted on input). Borsh form: the 32
/// raw bytes. In human-readable serde formats (JSON, TOML) it is the text form.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Hash([u8; 32]);

impl Hash {
    /// Length of a digest in bytes.
    pub const LEN: usize = 32;
    /// The all-zero digest, used where a hash is required but nothing precedes (the parent of
    /// genesis). No input hashes to it in practice.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Hash(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Plain SHA-256 of `data`, with no tag. Prefer [`tagged_hash`] for anything Keel defines.
    pub fn sha256(data: &[u8]) -> Self {
        Hash(Sha256::digest(data).into())
    }

    /// Parses the text form from a byte slice of exactly 32 bytes.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Length {
            what: "hash",
            expected: Self::LEN,
            got: bytes.len(),
        })?;
        Ok(Hash(array))
    }
}

/// `SHA-256(tag ‖ 0x00 ‖ message)`. See the module docs.
pub fn tagged_hash(tag: &str, message: &[u8]) -> Hash {
    TaggedHasher::new(tag).chain(message).finish()
}

/// Incremental form of [`tagged_hash`] for messages assembled from several parts.
///
/// Callers that hash several variable-length parts must make the concatenation unambiguous
/// themselves (borsh encodings are; raw concatenations of variable-length fields are not).
#[derive(Clone)]
pub struct TaggedHasher {
    inner: Sha256,
}

impl TaggedHasher {
    /// Starts a hash under `tag`.
    ///
    /// # Panics
    /// If `tag` is empty, not ASCII, or contains a NUL byte: tags are compile-time constants, so
    /// a bad one is a bug, never input.
    pub fn new(tag: &str) -> Self {
        assert!(!tag.is_empty(), "hash tag must not be empty");
        assert!(tag.is_ascii() && !tag.as_bytes().contains(&0), "hash tag {tag:?} must be ASCII without NUL");
        let mut inner = Sha256::new();
        inner.update(tag.as_bytes());
        inner.update([0u8]);
        TaggedHasher { inner }
    }

    /// Appends bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    /// Appends bytes, builder style.
    pub fn chain(mut self, bytes: &[u8]) -> Self {
        self.update(bytes);
        self
    }

    /// Finishes the digest.
    pub fn finish(self) -> Hash {
        Hash(self.inner.finalize().into())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits identify a block in logs and test output; the full form is Display.
        write!(f, "Hash({})", &hex::encode(&self.0[..4]))
    }
}

impl FromStr for Hash {
    type Err = CryptoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Hash(crate::text::decode_hex_array("hash", text)?))
    }
}

crate::text::serde_via_text!(Hash, "a 64-character hex SHA-256 digest");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input_matches_the_standard() {
        assert_eq!(Hash::sha256(b"").to_string(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn tagged_hash_is_sha256_of_tag_nul_message() {
        let mut manual = b"keel/test/v1".to_vec();
        manual.push(0);
        manual.extend_from_slice(b"abc");
        assert_eq!(tagged_hash("keel/test/v1", b"abc"), Hash::sha256(&manual));
    }

    #[test]
    fn different_tags_give_different_hashes() {
        assert_ne!(tagged_hash("keel/a/v1", b"x"), tagged_hash("keel/b/v1", b"x"));
    }

    #[test]
    fn incremental_equals_one_shot() {
        let mut hasher = TaggedHasher::new("keel/test/v1");
        hasher.update(b"ab");
        hasher.update(b"c");
        assert_eq!(hasher.finish(), tagged_hash("keel/test/v1", b"abc"));
    }

    #[test]
    #[should_panic(expected = "without NUL")]
    fn tag_with_nul_is_a_bug() {
        let _ = TaggedHasher::new("keel\0bad");
    }

    #[test]
    fn text_form_round_trips_and_rejects_bad_input() {
        let hash = tagged_hash("keel/test/v1", b"round trip");
        assert_eq!(hash.to_string().parse::<Hash>().unwrap(), hash);
        assert_eq!(hash.to_string().to_uppercase().parse::<Hash>().unwrap(), hash);
        assert!("abcd".parse::<Hash>().is_err());
        assert!("zz".repeat(32).parse::<Hash>().is_err());
    }

    #[test]
    fn serde_json_uses_text_and_borsh_uses_raw_bytes() {
        let hash = tagged_hash("keel/test/v1", b"encodings");
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{hash}\""));
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), hash);
        let bytes = borsh::to_vec(&hash).unwrap();
        assert_eq!(bytes, hash.as_bytes().to_vec());
    }
}
