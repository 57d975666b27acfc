//! The crypto crate's error type. Every variant is a property of untrusted input (bytes from a
//! file, a peer or a client); none is retryable.

use thiserror::Error;

/// Why bytes or text could not be turned into a key, signature, hash or address, or why a
/// signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// A value had the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        /// Which value.
        what: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length found, in bytes.
        got: usize,
    },
    /// Text was not valid hex.
    #[error("{what}: not valid hex")]
    Hex {
        /// Which value.
        what: &'static str,
    },
    /// 32 bytes that are not the encoding of a usable ed25519 public key: off the curve, or of
    /// small order (a "weak" key that would accept forged signatures).
    #[error("public key: not a valid ed25519 point of large order")]
    InvalidPublicKey,
    /// The signature does not verify for this key, domain and message.
    #[error("signature does not verify")]
    BadSignature,
    /// An address whose text form is malformed.
    #[error("address: {reason}")]
    Address {
        /// What is wrong with it.
        reason: String,
    },
    /// A key file that cannot be used.
    #[error("key file: {reason}")]
    KeyFile {
        /// What is wrong with it.
        reason: String,
    },
}
