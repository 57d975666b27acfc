//! The wire messages between validators, and their byte form.
//!
//! One enum, [`Message`], borsh-encoded. Decoding takes a byte limit and refuses anything
//! longer before parsing, and refuses trailing bytes; borsh never preallocates more than the
//! input can fill, so a hostile length prefix cannot balloon memory. What a decoded message
//! *means* (signatures, quorums, rounds) is checked later by the core.
//!
//! | message | sent to | when |
//! |---|---|---|
//! | `Proposal` | everyone | the leader has its payload |
//! | `Vote` | the next round's leader | a proposal passed the safety rules |
//! | `Timeout` | everyone | a round's deadline passed (and again each time it passes) |
//! | `TimeoutCert` | the next round's leader | this node formed a TC |
//! | `BlockRequest` | one peer | a certificate names a block this node lacks |
//! | `BlockResponse` | the requester | up to `blocks_per_response_max` blocks, newest first |

use borsh::{BorshDeserialize, BorshSerialize};
use thiserror::Error;

use crate::block::{Block, Proposal};
use crate::timeout::{Timeout, TimeoutCert};
use crate::types::BlockId;
use crate::vote::Vote;

/// Ask a peer for a block and its ancestors.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockRequest {
    /// The newest block wanted.
    pub id: BlockId,
    /// How many blocks: `id` and then up to `count - 1` ancestors. The responder caps it.
    pub count: u32,
}

/// Blocks answering a [`BlockRequest`], newest first, each the parent of the one before.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockResponse {
    /// The blocks.
    pub blocks: Vec<Block>,
}

/// Every message validators exchange.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Message {
    /// A leader's block.
    Proposal(Proposal),
    /// A vote, to the next leader.
    Vote(Vote),
    /// A timeout, to everyone.
    Timeout(Timeout),
    /// A timeout certificate, to the next leader.
    TimeoutCert(TimeoutCert),
    /// A block-sync request.
    BlockRequest(BlockRequest),
    /// A block-sync response.
    BlockResponse(BlockResponse),
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Longer than the limit; not parsed at all.
    #[error("message of {bytes} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Length of the input.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// Not a borsh encoding of a message (or bytes left over after one).
    #[error("malformed message: {reason}")]
    Malformed {
        /// The decoder's complaint.
        reason: String,
    },
}

impl Message {
    /// The borsh encoding.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail")
    }

    /// Decodes `bytes`, refusing more than `bytes_max` bytes (use `Config::message_bytes_max`).
    pub fn decode(bytes: &[u8], bytes_max: u64) -> Result<Message, DecodeError> {
        let length = bytes.len() as u64;
        if length > bytes_max {
            return Err(DecodeError::TooLarge { bytes: length, max: bytes_max });
        }
        borsh::from_slice(bytes).map_err(|error| DecodeError::Malformed { reason: error.to_string() })
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Proposal(_) => "proposal",
            Message::Vote(_) => "vote",
            Message::Timeout(_) => "timeout",
            Message::TimeoutCert(_) => "timeout_cert",
            Message::BlockRequest(_) => "block_request",
            Message::BlockResponse(_) => "block_response",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Fixture;
    use crate::types::Round;

    #[test]
    fn messages_round_trip() {
        let fixture = Fixture::new(4);
        let block = fixture.child_of_genesis(Round(1));
        for message in [
            Message::Proposal(fixture.proposal(block.clone())),
            Message::Vote(fixture.vote(2, &block)),
            Message::Timeout(fixture.timeout(3, Round(1))),
            Message::BlockRequest(BlockRequest { id: block.id(), count: 4 }),
            Message::BlockResponse(BlockResponse { blocks: vec![block.clone()] }),
        ] {
            let bytes = message.encode();
            assert_eq!(Message::decode(&bytes, bytes.len() as u64), Ok(message.clone()), "{}", message.kind());
        }
    }

    #[test]
    fn decode_limit_is_inclusive_and_checked_before_parsing() {
        let fixture = Fixture::new(4);
        let bytes = Message::Vote(fixture.vote(0, &fixture.child_of_genesis(Round(1)))).encode();
        let at_limit = bytes.len() as u64;
        assert!(Message::decode(&bytes, at_limit).is_ok());
        assert_eq!(
            Message::decode(&bytes, at_limit - 1),
            Err(DecodeError::TooLarge { bytes: at_limit, max: at_limit - 1 })
        );
    }

    #[test]
    fn garbage_truncation_and_trailing_bytes_are_malformed() {
        let fixture = Fixture::new(4);
        let bytes = Message::Timeout(fixture.timeout(0, Round(1))).encode();
        assert!(matches!(Message::decode(&bytes[..bytes.len() - 1], 1 << 20), Err(DecodeError::Malformed { .. })));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(Message::decode(&trailing, 1 << 20), Err(DecodeError::Malformed { .. })));
        assert!(matches!(Message::decode(&[9, 1, 2], 1 << 20), Err(DecodeError::Malformed { .. })));
        // A response claiming 2^32 - 1 blocks in a few bytes fails without allocating for them.
        assert!(matches!(Message::decode(&[5, 0xff, 0xff, 0xff, 0xff], 1 << 20), Err(DecodeError::Malformed { .. })));
    }
}
