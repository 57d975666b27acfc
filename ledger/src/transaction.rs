//! The transaction format. docs/transactions.md is the byte-level specification for wallet
//! developers; this module is its implementation.
//!
//! ```text
//! Transaction (the unsigned body), borsh:
//!   chain_id  string  u32 little-endian byte length, then UTF-8 bytes (1..=64 bytes)
//!   sender    [u8;32] ed25519 public key (compressed point, must be valid and not weak)
//!   nonce     u64 LE  must equal the sender account's next nonce
//!   fee       u64 LE  burned when the transaction takes effect
//!   payload   enum    u8 kind, then the kind's fields:
//!                       0 = Transfer { to: [u8;32] address, amount: u64 LE }
//!
//! SignedTransaction = Transaction bytes ‖ signature (64 bytes)
//! signature         = ed25519 over "keel/transaction/v1" ‖ 0x00 ‖ Transaction bytes
//! transaction hash  = SHA-256("keel/tx/v1" ‖ 0x00 ‖ SignedTransaction bytes)
//! ```
//!
//! Decoding is strict: every field must be present, the payload kind known, and no byte may
//! follow the signature, so each transaction has exactly one encoding. Because signatures are
//! checked with `verify_strict` (non-malleable) and the encoding is canonical, nobody but the
//! signer can produce a second valid byte string, and so a second hash, for the same body.

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{tagged_hash, Address, Hash, Keypair, PublicKey, Signature, SigningDomain};
use keel_genesis::CHAIN_ID_BYTES_MAX;
use thiserror::Error;

/// The tag of the transaction hash.
pub const TX_HASH_TAG: &str = "keel/tx/v1";

/// What a transaction does. New kinds are appended with the next kind byte; existing kind bytes
/// never change meaning.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Payload {
    /// Kind 0: move `amount` from the sender to `to`.
    Transfer {
        /// The recipient's address; the account is created if absent.
        to: Address,
        /// Units moved.
        amount: u64,
    },
}

/// The unsigned body of a transaction: the bytes the sender signs.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    /// The chain this transaction is for; other chains reject it.
    pub chain_id: String,
    /// The signer; its address is the account that pays.
    pub sender: PublicKey,
    /// Must equal the sender's next nonce.
    pub nonce: u64,
    /// Units burned when the transaction takes effect.
    pub fee: u64,
    /// What the transaction does.
    pub payload: Payload,
}

/// A transaction with the sender's signature over its body.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction {
    /// The signed body.
    pub body: Transaction,
    /// ed25519 over [`SigningDomain::Transaction`] of the body's borsh bytes.
    pub signature: Signature,
}

/// Why bytes are not a transaction. Every variant is permanent: the same bytes never decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxDecodeError {
    /// Longer than the chain's `transaction_bytes_max`.
    #[error("transaction is {bytes} bytes, the limit is {bytes_max}")]
    Oversized {
        /// Length found.
        bytes: usize,
        /// The limit in force.
        bytes_max: usize,
    },
    /// Not a well-formed encoding (truncated, unknown payload kind, invalid key, bad UTF-8,
    /// trailing bytes, chain id out of range).
    #[error("transaction is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
}

impl Transaction {
    /// The borsh encoding of the body: what the signature covers.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh into a Vec cannot fail")
    }

    /// The sender's account address.
    pub fn sender_address(&self) -> Address {
        Address::from_public_key(&self.sender)
    }

    /// Signs the body with `keypair`, which should be the sender's key (a wrong key yields a
    /// transaction that the ledger rejects, which tests rely on).
    pub fn sign(self, keypair: &Keypair) -> SignedTransaction {
        let signature = keypair.sign(SigningDomain::Transaction, &self.to_bytes());
        SignedTransaction { body: self, signature }
    }
}

impl SignedTransaction {
    /// The wire encoding: body bytes then the 64 signature bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh into a Vec cannot fail")
    }

    /// The transaction hash of this transaction's encoding.
    pub fn hash(&self) -> Hash {
        tx_hash(&self.to_bytes())
    }

    /// Decodes a signed transaction of at most `bytes_max` bytes. Returns it with the length of
    /// its body, so that callers can verify the signature over `bytes[..body_len]` without
    /// encoding the body again. The signature itself is not checked here.
    pub fn decode(bytes: &[u8], bytes_max: usize) -> Result<(SignedTransaction, usize), TxDecodeError> {
        if bytes.len() > bytes_max {
            return Err(TxDecodeError::Oversized { bytes: bytes.len(), bytes_max });
        }
        let malformed = |reason: String| TxDecodeError::Malformed { reason };
        let mut rest = bytes;
        let body = Transaction::deserialize(&mut rest).map_err(|e| malformed(format!("body: {e}")))?;
        let body_len = bytes.len() - rest.len();
        if rest.len() != Signature::LEN {
            return Err(malformed(format!("{} bytes follow the body, expected a 64-byte signature", rest.len())));
        }
        let signature = Signature::try_from_slice(rest).map_err(|e| malformed(e.to_string()))?;
        if body.chain_id.is_empty() || body.chain_id.len() > CHAIN_ID_BYTES_MAX {
            return Err(malformed(format!(
                "chain id of {} bytes is outside 1..={CHAIN_ID_BYTES_MAX}",
                body.chain_id.len()
            )));
        }
        debug_assert_eq!(body_len + Signature::LEN, bytes.len());
        Ok((SignedTransaction { body, signature }, body_len))
    }
}

/// The transaction hash: `tagged_hash("keel/tx/v1", bytes)` over the exact signed bytes as they
/// appear in a block. Defined for any bytes, so that even an undecodable entry of a block has a
/// hash in its receipt.
pub fn tx_hash(bytes: &[u8]) -> Hash {
    tagged_hash(TX_HASH_TAG, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignedTransaction {
        let keypair = Keypair::from_secret_bytes(&[1; 32]);
        let to = Address::from_bytes([9; 32]);
        Transaction {
            chain_id: "keel-test".into(),
            sender: keypair.public(),
            nonce: 3,
            fee: 10,
            payload: Payload::Transfer { to, amount: 500 },
        }
        .sign(&keypair)
    }

    #[test]
    fn layout_is_body_then_signature() {
        let tx = sample();
        let bytes = tx.to_bytes();
        let body = tx.body.to_bytes();
        // 4 + 9 chain id, 32 key, 8 nonce, 8 fee, 1 kind, 32 address, 8 amount.
        assert_eq!(body.len(), 4 + 9 + 32 + 8 + 8 + 1 + 32 + 8);
        assert_eq!(&bytes[..body.len()], &body[..]);
        assert_eq!(&bytes[body.len()..], &tx.signature.to_bytes()[..]);
        let (decoded, body_len) = SignedTransaction::decode(&bytes, 1024).unwrap();
        assert_eq!((decoded, body_len), (tx, body.len()));
    }

    #[test]
    fn decode_refuses_oversized_trailing_truncated_and_unknown_kinds() {
        let bytes = sample().to_bytes();
        assert!(matches!(SignedTransaction::decode(&bytes, bytes.len() - 1), Err(TxDecodeError::Oversized { .. })));
        assert!(SignedTransaction::decode(&bytes, bytes.len()).is_ok(), "a transaction at the limit is accepted");
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(SignedTransaction::decode(&trailing, 1024).is_err());
        for cut in 0..bytes.len() {
            assert!(SignedTransaction::decode(&bytes[..cut], 1024).is_err(), "cut at {cut}");
        }
        let mut unknown_kind = bytes.clone();
        unknown_kind[4 + 9 + 32 + 16] = 7;
        assert!(SignedTransaction::decode(&unknown_kind, 1024).is_err());
    }

    #[test]
    fn hash_is_tagged_over_the_signed_bytes() {
        let tx = sample();
        assert_eq!(tx.hash(), tagged_hash("keel/tx/v1", &tx.to_bytes()));
    }
}
