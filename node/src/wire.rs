//! What travels in a P2P frame: a one-byte kind, then the kind's bytes.
//!
//! | tag | kind | body |
//! |---|---|---|
//! | 0 | consensus | `keel_consensus::Message` (borsh), decoded with the consensus byte limit |
//! | 1 | transactions | borsh `Vec<Vec<u8>>` of signed transactions, gossiped from a mempool |
//! | 2 | sync request | borsh [`SyncRequest`]: committed blocks wanted by a node catching up |
//! | 3 | sync response | borsh [`SyncResponse`]: committed blocks, the last with commit evidence |
//! | 4 | ledger signature | borsh `(LedgerInfo, LedgerSignature)`: a validator's signed state after a height |
//!
//! Anything else is malformed: the frame is dropped and counted and the node closes that
//! connection (the transport itself closes links on oversized or undecryptable frames).

use keel_consensus::{DecodeError, Message};
use keel_ledger::{LedgerInfo, LedgerSignature};

pub use crate::driver::catchup::{SyncRequest, SyncResponse};
use thiserror::Error;

const TAG_CONSENSUS: u8 = 0;
const TAG_TRANSACTIONS: u8 = 1;
const TAG_SYNC_REQUEST: u8 = 2;
const TAG_SYNC_RESPONSE: u8 = 3;
const TAG_LEDGER_SIGNATURE: u8 = 4;

/// A decoded frame.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum WireMessage {
    /// A consensus message.
    Consensus(Message),
    /// Transactions for the mempool.
    Transactions(Vec<Vec<u8>>),
    /// A peer catching up asks for committed blocks.
    SyncRequest(SyncRequest),
    /// Committed blocks for us to catch up.
    SyncResponse(SyncResponse),
    /// A validator's signature over the state after a height.
    LedgerSignature(LedgerInfo, LedgerSignature),
}

/// Why a frame is not a [`WireMessage`].
#[derive(Debug, Error)]
pub enum WireError {
    /// Empty frame.
    #[error("empty frame")]
    Empty,
    /// The first byte names no kind.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The consensus message did not decode.
    #[error("consensus message: {0}")]
    Consensus(#[from] DecodeError),
    /// The transaction list did not decode or breaks a limit.
    #[error("transaction list: {0}")]
    Transactions(String),
    /// A sync message did not decode.
    #[error("sync message: {0}")]
    Sync(String),
    /// A ledger signature did not decode.
    #[error("ledger signature: {0}")]
    LedgerSignature(String),
}

/// Encodes a consensus message as a frame.
pub fn encode_consensus(message: &Message) -> Vec<u8> {
    let mut frame = Vec::with_capacity(256);
    frame.push(TAG_CONSENSUS);
    borsh::to_writer(&mut frame, message).expect("borsh into a Vec cannot fail");
    frame
}

/// Encodes gossiped transactions as a frame.
pub fn encode_transactions(transactions: &[Vec<u8>]) -> Vec<u8> {
    let mut frame = vec![TAG_TRANSACTIONS];
    borsh::to_writer(&mut frame, transactions).expect("borsh into a Vec cannot fail");
    frame
}

/// Encodes a catch-up request.
pub fn encode_sync_request(request: &SyncRequest) -> Vec<u8> {
    let mut frame = vec![TAG_SYNC_REQUEST];
    borsh::to_writer(&mut frame, request).expect("borsh into a Vec cannot fail");
    frame
}

/// Encodes a catch-up response.
pub fn encode_sync_response(response: &SyncResponse) -> Vec<u8> {
    let mut frame = vec![TAG_SYNC_RESPONSE];
    borsh::to_writer(&mut frame, response).expect("borsh into a Vec cannot fail");
    frame
}

/// Encodes this validator's signature over the state after a height.
pub fn encode_ledger_signature(info: &LedgerInfo, signature: &LedgerSignature) -> Vec<u8> {
    let mut frame = vec![TAG_LEDGER_SIGNATURE];
    borsh::to_writer(&mut frame, &(info, signature)).expect("borsh into a Vec cannot fail");
    frame
}

/// Decodes a frame: consensus messages up to `message_bytes_max`, at most `txs_max`
/// transactions.
pub fn decode(frame: &[u8], message_bytes_max: u64, txs_max: usize) -> Result<WireMessage, WireError> {
    let (&tag, body) = frame.split_first().ok_or(WireError::Empty)?;
    match tag {
        TAG_CONSENSUS => Ok(WireMessage::Consensus(Message::decode(body, message_bytes_max)?)),
        TAG_TRANSACTIONS => {
            // borsh reads the u32 count first; check it before allocating anything for it.
            let count = body.get(..4).map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")) as usize);
            match count {
                Some(count) if count <= txs_max => {}
                Some(count) => return Err(WireError::Transactions(format!("{count} transactions, at most {txs_max}"))),
                None => return Err(WireError::Transactions("truncated".to_owned())),
            }
            let transactions: Vec<Vec<u8>> =
                borsh::from_slice(body).map_err(|e| WireError::Transactions(e.to_string()))?;
            Ok(WireMessage::Transactions(transactions))
        }
        TAG_SYNC_REQUEST => {
            borsh::from_slice(body).map(WireMessage::SyncRequest).map_err(|e| WireError::Sync(e.to_string()))
        }
        TAG_SYNC_RESPONSE => {
            borsh::from_slice(body).map(WireMessage::SyncResponse).map_err(|e| WireError::Sync(e.to_string()))
        }
        TAG_LEDGER_SIGNATURE => borsh::from_slice::<(LedgerInfo, LedgerSignature)>(body)
            .map(|(info, signature)| WireMessage::LedgerSignature(info, signature))
            .map_err(|e| WireError::LedgerSignature(e.to_string())),
        other => Err(WireError::UnknownKind(other)),
    }
}

#[cfg(test)]
mod tests {
    use keel_consensus::BlockRequest;

    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_refused() {
        let message =
            Message::BlockRequest(BlockRequest { id: keel_consensus::BlockId(keel_crypto::Hash::ZERO), count: 3 });
        match decode(&encode_consensus(&message), 1 << 20, 10).unwrap() {
            WireMessage::Consensus(decoded) => assert_eq!(decoded, message),
            other => panic!("{other:?}"),
        }
        let txs = vec![vec![1, 2, 3], vec![]];
        match decode(&encode_transactions(&txs), 1 << 20, 10).unwrap() {
            WireMessage::Transactions(decoded) => assert_eq!(decoded, txs),
            other => panic!("{other:?}"),
        }
        assert!(matches!(decode(&[], 1 << 20, 10), Err(WireError::Empty)));
        assert!(matches!(decode(&[9, 1], 1 << 20, 10), Err(WireError::UnknownKind(9))));
        assert!(matches!(decode(&encode_transactions(&txs), 1 << 20, 1), Err(WireError::Transactions(_))));
        assert!(matches!(decode(&[1, 0xff, 0xff, 0xff, 0x7f], 1 << 20, usize::MAX), Err(WireError::Transactions(_))));
        let info = keel_ledger::LedgerInfo {
            chain_id: "c".into(),
            height: keel_ledger::Height(4),
            block_id: keel_crypto::Hash::ZERO,
            state_root: keel_crypto::Hash::ZERO,
            receipts_hash: keel_crypto::Hash::ZERO,
        };
        let signature = LedgerSignature::sign(&keel_crypto::Keypair::from_secret_bytes(&[1; 32]), &info);
        let frame = encode_ledger_signature(&info, &signature);
        match decode(&frame, 1 << 20, 10).unwrap() {
            WireMessage::LedgerSignature(decoded, decoded_signature) => {
                assert_eq!((decoded, decoded_signature), (info, signature))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(decode(&frame[..frame.len() - 1], 1 << 20, 10), Err(WireError::LedgerSignature(_))));
        let mut truncated = encode_consensus(&message);
        truncated.pop();
        assert!(matches!(decode(&truncated, 1 << 20, 10), Err(WireError::Consensus(_))));
    }
}
