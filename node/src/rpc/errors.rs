//! Keel's application error codes (JSON-RPC reserves -32000 to -32099 for implementations).
//! Each refusal of a transaction has its own code, so a wallet can act on it without parsing
//! messages; `data` always carries the transaction `hash` and a `reason` name.
//!
//! | code | name | when |
//! |---|---|---|
//! | -32010 | `TX_MALFORMED` | the bytes are not a well-formed transaction |
//! | -32011 | `TX_OVERSIZED` | longer than the chain's `transaction_bytes_max` |
//! | -32012 | `TX_WRONG_CHAIN` | signed for another chain id |
//! | -32013 | `TX_BAD_SIGNATURE` | the signature does not verify |
//! | -32014 | `NONCE_STALE` | the nonce was used already (`data.next_nonce`) |
//! | -32015 | `NONCE_TOO_FAR_AHEAD` | the nonce is beyond the pool's gap (`data.next_nonce`, `data.gap_max`) |
//! | -32016 | `INSUFFICIENT_BALANCE` | the balance does not cover this and the sender's pending transactions |
//! | -32017 | `REPLACEMENT_UNDERPRICED` | the nonce has a pending transaction and the fee bump is too small |
//! | -32018 | `MEMPOOL_FULL` | the pool, or the sender's share of it, is full: retry later |
//! | -32020 | `NOT_FOUND` | the height, block or state asked for is not (or no longer) stored |
//! | -32021 | `NOT_CERTIFIED` | a proof was asked for at a height this node has no ledger certificate for |
//! | -32029 | `RATE_LIMITED` | this client sent more requests than its rate or concurrency limit allows |
//! | -32030 | `SUBSCRIPTION_LAGGED` | (WebSocket) the client read too slowly and the subscription was dropped |

use keel_crypto::Hash;
use keel_ledger::ReasonCode;
use serde_json::json;

use super::jsonrpc::RpcError;
use crate::mempool::MempoolError;

/// The not well-formed transaction code.
pub const TX_MALFORMED: i64 = -32010;
/// The oversized transaction code.
pub const TX_OVERSIZED: i64 = -32011;
/// The wrong chain id code.
pub const TX_WRONG_CHAIN: i64 = -32012;
/// The bad signature code.
pub const TX_BAD_SIGNATURE: i64 = -32013;
/// The stale nonce code.
pub const NONCE_STALE: i64 = -32014;
/// The future nonce code.
pub const NONCE_TOO_FAR_AHEAD: i64 = -32015;
/// The insufficient balance code.
pub const INSUFFICIENT_BALANCE: i64 = -32016;
/// The underpriced replacement code.
pub const REPLACEMENT_UNDERPRICED: i64 = -32017;
/// The full mempool code.
pub const MEMPOOL_FULL: i64 = -32018;
/// The not-stored code.
pub const NOT_FOUND: i64 = -32020;
/// The no-certificate code.
pub const NOT_CERTIFIED: i64 = -32021;
/// The rate limit code.
pub const RATE_LIMITED: i64 = -32029;
/// The slow subscriber code.
pub const SUBSCRIPTION_LAGGED: i64 = -32030;

/// A transaction refused by a stateless check.
pub fn invalid_transaction(hash: &Hash, reason: ReasonCode) -> RpcError {
    let (code, message) = match reason {
        ReasonCode::Oversized => (TX_OVERSIZED, "transaction is larger than the chain allows"),
        ReasonCode::WrongChain => (TX_WRONG_CHAIN, "transaction is signed for another chain"),
        ReasonCode::BadSignature => (TX_BAD_SIGNATURE, "transaction signature does not verify"),
        _ => (TX_MALFORMED, "transaction is not well-formed"),
    };
    RpcError::with_data(code, message, json!({ "hash": hash.to_string(), "reason": format!("{reason:?}") }))
}

/// A transaction the mempool's rules refused.
pub fn refused_transaction(hash: &Hash, error: &MempoolError) -> RpcError {
    let hash = hash.to_string();
    let (code, data) = match error {
        MempoolError::NonceStale { next_nonce, .. } => {
            (NONCE_STALE, json!({ "hash": hash, "reason": "NonceStale", "next_nonce": next_nonce }))
        }
        MempoolError::NonceTooFarAhead { next_nonce, gap_max, .. } => (
            NONCE_TOO_FAR_AHEAD,
            json!({ "hash": hash, "reason": "NonceTooFarAhead", "next_nonce": next_nonce, "gap_max": gap_max }),
        ),
        MempoolError::InsufficientBalance { needed, balance } => (
            INSUFFICIENT_BALANCE,
            json!({ "hash": hash, "reason": "InsufficientBalance", "needed": needed, "balance": balance }),
        ),
        MempoolError::ReplacementUnderpriced { fee_min, .. } => {
            (REPLACEMENT_UNDERPRICED, json!({ "hash": hash, "reason": "ReplacementUnderpriced", "fee_min": fee_min }))
        }
        MempoolError::Full { what } => (MEMPOOL_FULL, json!({ "hash": hash, "reason": "MempoolFull", "limit": what })),
    };
    RpcError::with_data(code, error.to_string(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_its_own_code() {
        let hash = Hash::ZERO;
        let mut codes: Vec<i64> =
            [ReasonCode::Malformed, ReasonCode::Oversized, ReasonCode::WrongChain, ReasonCode::BadSignature]
                .into_iter()
                .map(|reason| invalid_transaction(&hash, reason).code)
                .collect();
        let pool_errors = [
            MempoolError::NonceStale { nonce: 1, next_nonce: 2 },
            MempoolError::NonceTooFarAhead { nonce: 9, next_nonce: 2, gap_max: 4 },
            MempoolError::InsufficientBalance { needed: 9, balance: 1 },
            MempoolError::ReplacementUnderpriced { nonce: 2, pending_fee: 1, fee_min: 2 },
            MempoolError::Full { what: "pool" },
        ];
        codes.extend(pool_errors.iter().map(|error| refused_transaction(&hash, error).code));
        let count = codes.len();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), count, "codes must be distinct");
    }
}
