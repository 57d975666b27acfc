//! The core's configuration: the chain it belongs to, round timing, and a named limit on every
//! buffer the core keeps.
//!
//! [`Config::new`] gives the documented defaults for a chain; [`Config::check`] refuses unusable
//! combinations once, with one message per problem, and `Core::new` asserts it passed.

use keel_crypto::Hash;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Framing overhead a message may add to its block payload: header, QC and TC signatures
/// (at most `VALIDATORS_MAX` of each) and borsh length prefixes. Generous on purpose.
pub const MESSAGE_OVERHEAD_BYTES: u64 = 2 * 1024 * 1024;

/// TEST ONLY: a deliberately broken safety rule, so that the simulator can prove that its
/// invariant checker notices unsafe behaviour. Never set this outside a test or simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SafetyWeakening {
    /// Vote for any block of a higher round, ignoring the 2-chain lock (the rule that a block
    /// must extend a QC of the previous round or, after a TC, a QC at least as high as the TC's).
    IgnoreLock,
    /// Vote for every valid proposal, even a second one in a round already voted in.
    AllowDoubleVote,
}

/// Everything the core needs to know that is not in the validator set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The chain's identifier (the genesis hash). Every signature binds it, so a signature never
    /// replays across chains. No default.
    pub chain_id: Hash,
    /// First round timeout in milliseconds, doubled after each round that ended in a timeout
    /// certificate. Default 1000.
    pub round_timeout_ms: u64,
    /// Cap on the backed-off round timeout, in milliseconds. Default 30000.
    pub round_timeout_ms_max: u64,
    /// Messages for rounds more than this many rounds ahead of the current round are dropped,
    /// and evidence is remembered for this many rounds behind it. Default 100.
    pub future_round_window: u64,
    /// Proposals kept while their ancestors are being fetched. Default 16.
    pub pending_proposals_max: usize,
    /// Proposals kept while the application validates them. Default 8.
    pub pending_validations_max: usize,
    /// Most bytes of transactions in one block's payload. Default 4 MiB.
    pub block_payload_bytes_max: u64,
    /// Most transactions in one block. Default 10000.
    pub block_txs_max: u32,
    /// Largest encoded message accepted, in bytes. Default: payload maximum plus 2 MiB.
    pub message_bytes_max: u64,
    /// Most blocks in one block-sync response, sent or accepted. Default 64.
    pub blocks_per_response_max: u32,
    /// Fetched blocks kept while their own ancestors are still missing. Default 1024.
    pub sync_blocks_buffered_max: usize,
    /// Block fetches outstanding at once. Default 16.
    pub fetches_in_flight_max: usize,
    /// Committed blocks kept in memory to answer peers' block requests. Default 256.
    pub committed_blocks_kept: usize,
    /// Pieces of equivocation evidence kept. Default 1024.
    pub evidence_max: usize,
    /// Whether to ask the application to validate each proposal (`Action::ValidateBlock`) before
    /// voting for it. Default true; consensus-only simulations turn it off.
    pub validate_blocks: bool,
    /// TEST ONLY: a deliberately weakened safety rule (see [`SafetyWeakening`]). Default `None`.
    pub test_only_weakened_safety: Option<SafetyWeakening>,
}

impl Config {
    /// The defaults documented on each field, for the chain `chain_id`.
    pub fn new(chain_id: Hash) -> Self {
        let block_payload_bytes_max = 4 * 1024 * 1024;
        Config {
            chain_id,
            round_timeout_ms: 1000,
            round_timeout_ms_max: 30_000,
            future_round_window: 100,
            pending_proposals_max: 16,
            pending_validations_max: 8,
            block_payload_bytes_max,
            block_txs_max: 10_000,
            message_bytes_max: block_payload_bytes_max + MESSAGE_OVERHEAD_BYTES,
            blocks_per_response_max: 64,
            sync_blocks_buffered_max: 1024,
            fetches_in_flight_max: 16,
            committed_blocks_kept: 256,
            evidence_max: 1024,
            validate_blocks: true,
            test_only_weakened_safety: None,
        }
    }

    /// Every way this configuration is unusable, one error each; empty when it is fine.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, field: &'static str, reason: String| {
            if !ok {
                problems.push(ConfigError { field, reason });
            }
        };
        check(self.round_timeout_ms > 0, "round_timeout_ms", "must be at least 1".into());
        check(
            self.round_timeout_ms_max >= self.round_timeout_ms,
            "round_timeout_ms_max",
            format!("{} is below round_timeout_ms ({})", self.round_timeout_ms_max, self.round_timeout_ms),
        );
        check(self.future_round_window > 0, "future_round_window", "must be at least 1".into());
        check(self.pending_proposals_max > 0, "pending_proposals_max", "must be at least 1".into());
        check(self.pending_validations_max > 0, "pending_validations_max", "must be at least 1".into());
        check(self.block_txs_max > 0, "block_txs_max", "must be at least 1".into());
        check(
            self.message_bytes_max >= self.block_payload_bytes_max.saturating_add(MESSAGE_OVERHEAD_BYTES),
            "message_bytes_max",
            format!(
                "{} cannot carry a full block: needs block_payload_bytes_max ({}) + {MESSAGE_OVERHEAD_BYTES}",
                self.message_bytes_max, self.block_payload_bytes_max
            ),
        );
        check(self.blocks_per_response_max > 0, "blocks_per_response_max", "must be at least 1".into());
        check(
            self.sync_blocks_buffered_max >= self.blocks_per_response_max as usize,
            "sync_blocks_buffered_max",
            format!("{} cannot hold one full response", self.sync_blocks_buffered_max),
        );
        check(self.fetches_in_flight_max > 0, "fetches_in_flight_max", "must be at least 1".into());
        check(self.evidence_max > 0, "evidence_max", "must be at least 1".into());
        problems
    }

    /// `Ok` when [`Config::problems`] is empty, else the first problem.
    pub fn check(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some(problem) => Err(problem),
        }
    }
}

/// A configuration field with an unusable value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("consensus config: {field}: {reason}")]
pub struct ConfigError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_usable() {
        assert_eq!(Config::new(Hash::ZERO).check(), Ok(()));
    }

    #[test]
    fn each_problem_is_named() {
        let mut config = Config::new(Hash::ZERO);
        config.round_timeout_ms = 0;
        config.message_bytes_max = 10;
        let fields: Vec<&str> = config.problems().iter().map(|p| p.field).collect();
        assert_eq!(fields, ["round_timeout_ms", "message_bytes_max"]);
    }
}
