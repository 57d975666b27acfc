//! Receipts: what happened to each transaction of a block, deterministically.
//!
//! | status | state effect | codes |
//! |---|---|---|
//! | `Applied` | payload done, fee burned, nonce + 1 | `Ok` |
//! | `Failed` | fee burned, nonce + 1, payload not done | `InsufficientBalance`, `AmountOverflow`, `RecipientOverflow` |
//! | `Rejected` | none | `Oversized`, `Malformed`, `WrongChain`, `BadSignature`, `NonceTooLow`, `NonceTooHigh`, `FeeNotCovered` |
//!
//! A rejected transaction is not charged because nothing trustworthy can pay for it: without a
//! valid signature or the right chain the sender never authorised it, with a stale nonce it is a
//! replay (charging it would let anyone burn a victim's balance by replaying old transactions),
//! with a future nonce it is not yet the sender's turn, and if the fee is not covered there is
//! nothing to charge. A failed transaction was authorised and in order, so it pays its fee and
//! uses its nonce; that makes it final, and it cannot be replayed.

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{tagged_hash, Hash};
use serde::{Deserialize, Serialize};

use crate::error::{corrupt, LedgerError};
use crate::height::Height;
use crate::kv::{Column, KvStore};

/// The tag of the receipts hash of a block.
pub const RECEIPTS_HASH_TAG: &str = "keel/receipts/v1";

/// What a transaction's execution amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum TxStatus {
    /// The payload took effect.
    Applied,
    /// Charged the fee and used the nonce, but the payload did not take effect.
    Failed,
    /// No effect on state.
    Rejected,
}

/// Why a transaction ended as it did. The numbers are part of the API (JSON-RPC, receipts
/// hash) and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u16)]
pub enum ReasonCode {
    /// Applied.
    Ok = 0,
    /// Rejected: longer than `transaction_bytes_max`.
    Oversized = 1,
    /// Rejected: not a well-formed transaction encoding.
    Malformed = 2,
    /// Rejected: signed for another chain.
    WrongChain = 3,
    /// Rejected: the signature does not verify.
    BadSignature = 4,
    /// Rejected: nonce below the account's next nonce (a replay).
    NonceTooLow = 5,
    /// Rejected: nonce above the account's next nonce (out of order).
    NonceTooHigh = 6,
    /// Rejected: balance below the fee.
    FeeNotCovered = 7,
    /// Failed: balance covers the fee but not amount plus fee.
    InsufficientBalance = 20,
    /// Failed: amount plus fee overflows a u64.
    AmountOverflow = 21,
    /// Failed: the recipient's balance would overflow a u64.
    RecipientOverflow = 22,
}

impl ReasonCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ReasonCode; 11] = [
        ReasonCode::Ok,
        ReasonCode::Oversized,
        ReasonCode::Malformed,
        ReasonCode::WrongChain,
        ReasonCode::BadSignature,
        ReasonCode::NonceTooLow,
        ReasonCode::NonceTooHigh,
        ReasonCode::FeeNotCovered,
        ReasonCode::InsufficientBalance,
        ReasonCode::AmountOverflow,
        ReasonCode::RecipientOverflow,
    ];

    /// The stable number.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The code with this number, if any.
    pub fn from_u16(number: u16) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|c| c.as_u16() == number)
    }

    /// The status a transaction with this code ends in.
    pub const fn status(self) -> TxStatus {
        match self as u16 {
            0 => TxStatus::Applied,
            20.. => TxStatus::Failed,
            _ => TxStatus::Rejected,
        }
    }
}

impl BorshSerialize for ReasonCode {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        BorshSerialize::serialize(&self.as_u16(), writer)
    }
}

impl BorshDeserialize for ReasonCode {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let number = u16::deserialize_reader(reader)?;
        ReasonCode::from_u16(number).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unknown reason code {number}"))
        })
    }
}

/// The outcome of one transaction of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction hash of the block entry (defined even for undecodable bytes).
    pub tx_hash: Hash,
    /// What happened.
    pub status: TxStatus,
    /// Why.
    pub code: ReasonCode,
    /// Units burned (the fee if applied or failed, else 0).
    pub fee_burned: u64,
}

impl Receipt {
    /// A receipt for a transaction with no effect on state.
    pub fn rejected(tx_hash: Hash, code: ReasonCode) -> Receipt {
        debug_assert_eq!(code.status(), TxStatus::Rejected);
        Receipt { tx_hash, status: TxStatus::Rejected, code, fee_burned: 0 }
    }
}

/// `tagged_hash("keel/receipts/v1", borsh(receipts))`: one hash that nodes can compare.
pub fn receipts_hash(receipts: &[Receipt]) -> Hash {
    tagged_hash(RECEIPTS_HASH_TAG, &borsh::to_vec(receipts).expect("borsh into a Vec cannot fail"))
}

/// The stored receipts of the block at `height` (one borsh list per block, in block order), if
/// that block is committed.
pub(crate) fn stored_receipts<K: KvStore>(kv: &K, height: Height) -> Result<Option<Vec<Receipt>>, LedgerError> {
    let Some(bytes) = kv.get(Column::Receipts, &height.to_be_bytes())? else {
        return Ok(None);
    };
    let receipts = Vec::<Receipt>::try_from_slice(&bytes).map_err(|e| corrupt(Column::Receipts, e.to_string()))?;
    Ok(Some(receipts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_to_statuses() {
        for code in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_u16(code.as_u16()), Some(code));
            let bytes = borsh::to_vec(&code).unwrap();
            assert_eq!(borsh::from_slice::<ReasonCode>(&bytes).unwrap(), code);
        }
        assert_eq!(ReasonCode::Ok.status(), TxStatus::Applied);
        assert_eq!(ReasonCode::BadSignature.status(), TxStatus::Rejected);
        assert_eq!(ReasonCode::FeeNotCovered.status(), TxStatus::Rejected);
        assert_eq!(ReasonCode::InsufficientBalance.status(), TxStatus::Failed);
        assert!(borsh::from_slice::<ReasonCode>(&[99, 0]).is_err());
    }
}
