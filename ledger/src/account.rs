//! What the Merkle state holds: accounts, and one chain record for supply accounting.
//!
//! ```text
//! state key            borsh(StateKey): 0x00 ‖ address (32 bytes) | 0x01 (the chain record)
//! key hash (tree key)  SHA-256("keel/state-key/v1" ‖ 0x00 ‖ state key)
//! account value        borsh(Account)     = balance u64 LE ‖ next nonce u64 LE   (16 bytes)
//! chain record value   borsh(ChainState)  = height u64 LE ‖ supply_genesis u64 LE ‖ burned_total u64 LE
//! ```
//!
//! An absent account is the same as `Account { balance: 0, nonce: 0 }` for execution, but a
//! proof tells the two apart: absence is proven by a non-inclusion proof. The chain record is
//! rewritten by every block (its height changes), so every height has its own state root and
//! supply is checkable from the state alone: the balances of all accounts sum to
//! `supply_genesis - burned_total`.

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{tagged_hash, Address, Hash};
use serde::{Deserialize, Serialize};

use crate::height::Height;

/// The tag of the tree key hash.
pub const STATE_KEY_TAG: &str = "keel/state-key/v1";
/// Bytes of an encoded value the state may hold, for decoders.
pub const STATE_VALUE_BYTES_MAX: usize = 64;

/// An account: its balance and the nonce its next transaction must carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Account {
    /// Spendable units.
    pub balance: u64,
    /// The nonce the account's next transaction must carry (the count of its transactions that
    /// took effect).
    pub nonce: u64,
}

/// The chain-wide record, rewritten at every height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChainState {
    /// The height of the state this record belongs to.
    pub height: Height,
    /// The sum of genesis balances.
    pub supply_genesis: u64,
    /// Every fee burned so far. Invariant: the sum of balances is `supply_genesis - burned_total`.
    pub burned_total: u64,
}

impl ChainState {
    /// Units held in accounts: `supply_genesis - burned_total`.
    pub fn supply_circulating(&self) -> u64 {
        self.supply_genesis.checked_sub(self.burned_total).expect("more burned than ever existed is a ledger bug")
    }
}

/// A key of the state map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub enum StateKey {
    /// Kind 0: an account.
    Account(Address),
    /// Kind 1: the chain record.
    Chain,
}

impl StateKey {
    /// Most bytes of the borsh encoding: kind and address.
    const ENCODED_BYTES_MAX: usize = 1 + 32;

    /// The borsh encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_exact(self)
    }

    /// The 32-byte key under which the tree stores this entry.
    pub fn key_hash(&self) -> Hash {
        // Encoded on the stack: a block hashes tens of thousands of keys.
        let mut buffer = [0u8; Self::ENCODED_BYTES_MAX];
        let mut rest = &mut buffer[..];
        self.serialize(&mut rest).expect("a state key fits its buffer");
        let len = Self::ENCODED_BYTES_MAX - rest.len();
        tagged_hash(STATE_KEY_TAG, &buffer[..len])
    }
}

/// The borsh encoding of `value` in a `Vec` of exactly its length. (`borsh::to_vec` reserves
/// 1 KiB: for a block's tens of thousands of 16-byte accounts and index entries that was
/// megabytes of fresh memory per block, a quarter of the executing thread's samples.)
pub(crate) fn encode_exact<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    let len = borsh::object_length(value).expect("counting borsh bytes cannot fail");
    let mut bytes = Vec::with_capacity(len);
    value.serialize(&mut bytes).expect("borsh into a Vec cannot fail");
    debug_assert_eq!(bytes.len(), len);
    bytes
}

/// Encodes any state value (borsh).
pub(crate) fn encode_value<T: BorshSerialize>(value: &T) -> Vec<u8> {
    let bytes = encode_exact(value);
    debug_assert!(bytes.len() <= STATE_VALUE_BYTES_MAX);
    bytes
}

/// Decodes a state value, refusing trailing bytes and anything over [`STATE_VALUE_BYTES_MAX`].
pub(crate) fn decode_value<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, String> {
    if bytes.len() > STATE_VALUE_BYTES_MAX {
        return Err(format!("state value of {} bytes exceeds {STATE_VALUE_BYTES_MAX}", bytes.len()));
    }
    borsh::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_documented_layout() {
        let address = Address::from_bytes([5; 32]);
        let mut expected = vec![0u8];
        expected.extend_from_slice(&[5; 32]);
        assert_eq!(StateKey::Account(address).to_bytes(), expected);
        assert_eq!(StateKey::Chain.to_bytes(), vec![1u8]);
        let account = Account { balance: 1, nonce: 2 };
        assert_eq!(encode_value(&account), [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_value::<Account>(&encode_value(&account)), Ok(account));
        assert!(decode_value::<Account>(&[0; 17]).is_err());
    }
}
