//! Consensus parameters fixed at genesis: round timing and block limits.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::error::GenesisProblem;

/// A block may never be larger than this, whatever genesis says: it bounds the network frame
/// size that every node must accept.
pub const BLOCK_BYTES_LIMIT: u32 = 64 * 1024 * 1024;
/// A block may never hold more transactions than this.
pub const BLOCK_TXS_LIMIT: u32 = 1_000_000;
/// The round timeout may never exceed one day: beyond that a stalled chain looks dead.
pub const ROUND_TIMEOUT_MS_LIMIT: u64 = 24 * 60 * 60 * 1000;

/// Parameters every validator must agree on; part of the genesis hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusParams {
    /// First round timeout in milliseconds; doubled after each consecutive timeout.
    /// Default 1000.
    pub round_timeout_ms: u64,
    /// Cap on the backed-off round timeout, in milliseconds. Default 30000.
    pub round_timeout_ms_max: u64,
    /// Largest block, counting its encoded transactions, in bytes. Default 4 MiB.
    pub block_bytes_max: u32,
    /// Most transactions in one block. Default 10000.
    pub block_txs_max: u32,
    /// Largest single encoded transaction, in bytes. Default 64 KiB.
    pub transaction_bytes_max: u32,
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            round_timeout_ms: 1000,
            round_timeout_ms_max: 30_000,
            block_bytes_max: 4 * 1024 * 1024,
            block_txs_max: 10_000,
            transaction_bytes_max: 64 * 1024,
        }
    }
}

impl ConsensusParams {
    /// Every way these parameters are unusable, one problem each.
    pub fn problems(&self) -> Vec<GenesisProblem> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, field: &'static str, reason: String| {
            if !ok {
                problems.push(GenesisProblem::ConsensusParam { field, reason });
            }
        };
        check(self.round_timeout_ms > 0, "round_timeout_ms", "must be at least 1".into());
        check(
            self.round_timeout_ms_max >= self.round_timeout_ms,
            "round_timeout_ms_max",
            format!("{} is below round_timeout_ms ({})", self.round_timeout_ms_max, self.round_timeout_ms),
        );
        check(
            self.round_timeout_ms_max <= ROUND_TIMEOUT_MS_LIMIT,
            "round_timeout_ms_max",
            format!("{} exceeds the limit of {ROUND_TIMEOUT_MS_LIMIT} (one day)", self.round_timeout_ms_max),
        );
        check(
            (1..=BLOCK_TXS_LIMIT).contains(&self.block_txs_max),
            "block_txs_max",
            format!("{} is outside 1..={BLOCK_TXS_LIMIT}", self.block_txs_max),
        );
        check(
            (1024..=BLOCK_BYTES_LIMIT).contains(&self.block_bytes_max),
            "block_bytes_max",
            format!("{} is outside 1024..={BLOCK_BYTES_LIMIT}", self.block_bytes_max),
        );
        check(
            self.transaction_bytes_max > 0 && self.transaction_bytes_max <= self.block_bytes_max,
            "transaction_bytes_max",
            format!(
                "{} must be at least 1 and at most block_bytes_max ({})",
                self.transaction_bytes_max, self.block_bytes_max
            ),
        );
        problems
    }
}
