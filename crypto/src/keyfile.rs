//! The key-file format: how a validator's or a wallet's secret key is stored on disk.
//!
//! ```json
//! {
//!   "key_type": "ed25519",
//!   "public_key": "<64 hex>",
//!   "secret_key": "<64 hex: the 32-byte ed25519 seed>"
//! }
//! ```
//!
//! This module only turns bytes into keys and back; the node writes the file (mode 0600) and
//! reads it. The public key is stored too so an operator can read it without tools, and loading
//! checks that it matches the secret, which catches a file edited by hand or swapped halves.
//! Unknown fields are refused. The encoded bytes hold the secret, so they come back in a buffer
//! that zeroises itself when dropped.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::CryptoError;
use crate::keys::{Keypair, PublicKey};

/// The only key type so far.
pub const KEY_TYPE_ED25519: &str = "ed25519";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    key_type: String,
    public_key: String,
    secret_key: String,
}

impl Drop for KeyFileJson {
    fn drop(&mut self) {
        self.secret_key.zeroize();
    }
}

/// Encodes `keypair` as key-file JSON (pretty-printed, with a trailing newline).
pub fn encode_key_file(keypair: &Keypair) -> Zeroizing<Vec<u8>> {
    let json = KeyFileJson {
        key_type: KEY_TYPE_ED25519.to_owned(),
        public_key: keypair.public().to_string(),
        secret_key: hex::encode(keypair.secret_bytes()),
    };
    let mut bytes = Zeroizing::new(serde_json::to_vec_pretty(&json).expect("a key file always serialises"));
    bytes.push(b'\n');
    bytes
}

/// Decodes key-file JSON, checking the type and that the public key matches the secret.
pub fn decode_key_file(bytes: &[u8]) -> Result<Keypair, CryptoError> {
    let invalid = |reason: String| CryptoError::KeyFile { reason };
    let json: KeyFileJson = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if json.key_type != KEY_TYPE_ED25519 {
        return Err(invalid(format!("unsupported key_type {:?}, expected \"{KEY_TYPE_ED25519}\"", json.key_type)));
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    if json.secret_key.len() != 64 || hex::decode_to_slice(&json.secret_key, secret.as_mut()).is_err() {
        return Err(invalid("secret_key must be 64 hex characters".to_owned()));
    }
    let public: PublicKey = json.public_key.parse().map_err(|e| invalid(format!("public_key: {e}")))?;
    let keypair = Keypair::from_secret_bytes(&secret);
    if keypair.public() != public {
        return Err(invalid("public_key does not belong to secret_key".to_owned()));
    }
    Ok(keypair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let keypair = Keypair::from_secret_bytes(&[9; 32]);
        let bytes = encode_key_file(&keypair);
        let back = decode_key_file(&bytes).unwrap();
        assert_eq!(back.public(), keypair.public());
        assert_eq!(back.secret_bytes(), keypair.secret_bytes());
    }

    #[test]
    fn mismatched_public_key_is_refused() {
        let a = Keypair::from_secret_bytes(&[1; 32]);
        let b = Keypair::from_secret_bytes(&[2; 32]);
        let text = String::from_utf8(encode_key_file(&a).to_vec()).unwrap();
        let swapped = text.replace(&a.public().to_string(), &b.public().to_string());
        let err = decode_key_file(swapped.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("does not belong"), "{err}");
    }

    #[test]
    fn unknown_fields_wrong_type_and_bad_hex_are_refused() {
        let keypair = Keypair::from_secret_bytes(&[3; 32]);
        let text = String::from_utf8(encode_key_file(&keypair).to_vec()).unwrap();
        let extra = text.replacen('{', "{\"extra\": 1,", 1);
        assert!(decode_key_file(extra.as_bytes()).unwrap_err().to_string().contains("unknown field"));
        let other_type = text.replace("ed25519", "secp256k1");
        assert!(decode_key_file(other_type.as_bytes()).unwrap_err().to_string().contains("unsupported key_type"));
        let bad_hex = text.replace(&hex::encode([3u8; 32]), &"zz".repeat(32));
        assert!(decode_key_file(bad_hex.as_bytes()).unwrap_err().to_string().contains("64 hex"));
        assert!(decode_key_file(b"not json").is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let keypair = Keypair::from_secret_bytes(&[0xab; 32]);
        let debug = format!("{keypair:?}");
        assert!(!debug.contains(&hex::encode([0xab; 32])), "{debug}");
        assert!(!debug.contains("171, 171"), "{debug}");
        assert!(debug.contains("redacted"));
    }
}
