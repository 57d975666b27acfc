//! ed25519 keys and signatures (ed25519-dalek 2) with domain-separated signing.
//!
//! Validity rule: a signature is valid iff `verify_strict` of ed25519-dalek accepts it over
//! `domain.signed_bytes(message)` (see [`crate::domain`]). `verify_strict` rejects small-order
//! public keys and nonces, non-canonical `s`, and non-canonical `R` encodings, so a valid
//! signature has exactly one byte form: signatures are not malleable.
//!
//! Secret keys zeroise their memory when dropped and never appear in `Debug` output.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash as StdHash, Hasher as StdHasher};
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;

use crate::domain::SigningDomain;
use crate::error::CryptoError;

/// An ed25519 public key that is a valid curve point of large order.
///
/// Text form: 64 hex characters. Borsh form: the 32-byte compressed point; decoding checks the
/// point, so a `PublicKey` in memory is always usable.
#[derive(Clone, Copy)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Length of the encoding in bytes.
    pub const LEN: usize = 32;

    /// Parses a compressed point, refusing invalid and small-order ("weak") keys.
    ///
    /// Decompressing a point costs a field exponentiation (about a fifth of a signature check),
    /// and the same senders and validators come back again and again, so the process remembers
    /// the keys it parsed recently — for every thread, since signature checks run on short-lived
    /// scoped threads. The cache only memoises this pure function: the answer for given bytes is
    /// the same with or without it.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        if let Some(key) = parsed_keys().get(bytes).copied() {
            return Ok(PublicKey(key));
        }
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(CryptoError::InvalidPublicKey);
        }
        let mut cache = parsed_keys();
        if cache.len() >= PARSED_KEYS_MAX {
            cache.clear();
        }
        cache.insert(*bytes, key);
        Ok(PublicKey(key))
    }

    /// Parses from a slice that must be exactly 32 bytes long.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: &[u8; 32] = bytes.try_into().map_err(|_| CryptoError::Length {
            what: "public key",
            expected: Self::LEN,
            got: bytes.len(),
        })?;
        Self::from_bytes(array)
    }

    /// The 32-byte compressed encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Checks `signature` over `message` in `domain` (the validity rule in the module docs).
    pub fn verify(&self, domain: SigningDomain, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        self.0.verify_strict(&domain.signed_bytes(message), &signature.0).map_err(|_| CryptoError::BadSignature)
    }

    pub(crate) fn dalek(&self) -> &VerifyingKey {
        &self.0
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PublicKey {}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl StdHash for PublicKey {
    fn hash<H: StdHasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(&self.as_bytes()[..4]))
    }
}

impl FromStr for PublicKey {
    type Err = CryptoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(&crate::text::decode_hex_array("public key", text)?)
    }
}

crate::text::serde_via_text!(PublicKey, "a 64-character hex ed25519 public key");

impl BorshSerialize for PublicKey {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(self.as_bytes())
    }
}

impl BorshDeserialize for PublicKey {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let bytes = <[u8; 32]>::deserialize_reader(reader)?;
        Self::from_bytes(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// Valid keys the process remembers (about 250 bytes each with the map's overhead, 16 MB when
/// full); the cache starts over when full.
const PARSED_KEYS_MAX: usize = 65_536;

/// The parsed-key cache. A std `HashMap`: its per-process random seed keeps an adversary from
/// choosing keys that collide. The lock is held for one lookup or insert.
fn parsed_keys() -> std::sync::MutexGuard<'static, std::collections::HashMap<[u8; 32], VerifyingKey>> {
    static PARSED_KEYS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<[u8; 32], VerifyingKey>>> =
        std::sync::OnceLock::new();
    // A panic while the lock is held cannot leave the map half-updated (one insert or clear).
    PARSED_KEYS.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An ed25519 signature: 64 bytes, `R ‖ s`.
///
/// Text form: 128 hex characters. Borsh form: the 64 raw bytes. Any 64 bytes decode; whether
/// they are a valid signature is decided by [`PublicKey::verify`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// Length of the encoding in bytes.
    pub const LEN: usize = 64;

    /// Wraps 64 bytes.
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Signature(ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// Parses from a slice that must be exactly 64 bytes long.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: &[u8; 64] = bytes.try_into().map_err(|_| CryptoError::Length {
            what: "signature",
            expected: Self::LEN,
            got: bytes.len(),
        })?;
        Ok(Self::from_bytes(array))
    }

    /// The 64-byte encoding.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }

    /// The first 32 bytes: the encoded nonce point `R`.
    pub fn r_bytes(&self) -> &[u8; 32] {
        self.0.r_bytes()
    }

    pub(crate) fn dalek(&self) -> &ed25519_dalek::Signature {
        &self.0
    }
}

impl PartialOrd for Signature {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Signature {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_bytes().cmp(&other.to_bytes())
    }
}

impl StdHash for Signature {
    fn hash<H: StdHasher>(&self, state: &mut H) {
        self.to_bytes().hash(state);
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.to_bytes()[..4]))
    }
}

impl FromStr for Signature {
    type Err = CryptoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_bytes(&crate::text::decode_hex_array("signature", text)?))
    }
}

crate::text::serde_via_text!(Signature, "a 128-character hex ed25519 signature");

impl BorshSerialize for Signature {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(&self.to_bytes())
    }
}

impl BorshDeserialize for Signature {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        Ok(Self::from_bytes(&<[u8; 64]>::deserialize_reader(reader)?))
    }
}

/// An ed25519 key pair: the 32-byte secret seed and its public key.
///
/// The secret is zeroised on drop and redacted from `Debug`. There is deliberately no `Display`,
/// `Serialize` or borsh form: the only way out is [`Keypair::secret_bytes`], which the key-file
/// code uses.
pub struct Keypair {
    signing: SigningKey,
    public: PublicKey,
}

impl Keypair {
    /// Draws a new key from `rng`. Production callers pass the OS RNG; simulations a seeded one.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_signing_key(SigningKey::generate(rng))
    }

    /// Rebuilds a key pair from its 32-byte secret seed.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self::from_signing_key(SigningKey::from_bytes(secret))
    }

    fn from_signing_key(signing: SigningKey) -> Self {
        // A key derived from a secret seed by clamping is never of small order.
        let public = PublicKey::from_bytes(signing.verifying_key().as_bytes())
            .expect("a public key derived from a secret seed is a valid point of large order");
        Keypair { signing, public }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The secret seed. Handle with care: callers must not log or print it.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        self.signing.as_bytes()
    }

    /// Signs `message` in `domain`.
    pub fn sign(&self, domain: SigningDomain, message: &[u8]) -> Signature {
        Signature(self.signing.sign(&domain.signed_bytes(message)))
    }
}

impl Clone for Keypair {
    fn clone(&self) -> Self {
        Self::from_secret_bytes(self.secret_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair").field("public", &self.public).field("secret", &"<redacted>").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_the_same_the_first_time_and_from_the_cache() {
        let keypair = Keypair::from_secret_bytes(&[9; 32]);
        let bytes = *keypair.public().as_bytes();
        let first = PublicKey::from_bytes(&bytes).unwrap();
        let second = PublicKey::from_bytes(&bytes).unwrap();
        assert_eq!(first, second);
        let message = b"cached";
        let signature = keypair.sign(SigningDomain::Vote, message);
        assert!(second.verify(SigningDomain::Vote, message, &signature).is_ok());
        // The identity point is small-order: refused every time, never cached.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for _ in 0..2 {
            assert!(matches!(PublicKey::from_bytes(&identity), Err(CryptoError::InvalidPublicKey)));
        }
    }
}
