//! Keel's cryptography: SHA-256 hashes, ed25519 keys and signatures, account addresses and the
//! key-file format.
//!
//! Everything here is a pure function of its arguments. Key generation takes the RNG as an
//! argument (`&mut impl CryptoRngCore`), nothing reads a clock, the OS RNG or a file, so the
//! simulator can run the same code with a seeded RNG and the node can do its own file I/O.
//!
//! | item | rule |
//! |---|---|
//! | [`Hash`] | SHA-256; text form 64 hex; tagged hashing `SHA-256(tag ‖ 0x00 ‖ msg)` ([`tagged_hash`]) |
//! | [`SigningDomain`] | a signature covers `tag ‖ 0x00 ‖ msg`; one tag per message kind, so kinds never cross |
//! | [`PublicKey::verify`] | ed25519-dalek `verify_strict`: non-malleable, weak keys refused |
//! | [`verify_batch`] | dalek batch equation, bisecting to name every bad signature |
//! | [`Address`] | `tagged_hash("keel/address/v1", public_key)`, text form bech32m `keel1…` |
//! | [`encode_key_file`] | JSON `{key_type, public_key, secret_key}`; the node writes it mode 0600 |
//!
//! Published vectors for hashing and signing live in `docs/vectors/` and are checked by this
//! crate's tests.

#![warn(missing_docs)]

mod address;
mod batch;
mod domain;
mod error;
mod hash;
mod keyfile;
mod keys;
mod text;

pub use address::{Address, ADDRESS_HRP};
pub use batch::{verify_batch, BatchFailure, SignedMessage, BISECT_LEAF_LEN};
pub use domain::SigningDomain;
pub use error::CryptoError;
pub use hash::{tagged_hash, Hash, TaggedHasher};
pub use keyfile::{decode_key_file, encode_key_file, KEY_TYPE_ED25519};
pub use keys::{Keypair, PublicKey, Signature};

/// The RNG bound that key generation takes, re-exported so that callers need not depend on
/// `rand_core` themselves.
pub use rand_core::CryptoRngCore;
