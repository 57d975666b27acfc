//! The genesis file as JSON: every field as it is written, before any rule is checked.
//!
//! Keys and addresses are kept as text here so that validation can report every malformed one
//! by name, instead of stopping at the first, as a typed parse would.

use serde::{Deserialize, Serialize};

use crate::params::ConsensusParams;

/// The top-level object of `genesis.json`. Unknown fields are refused at every level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    /// Chain identifier, bound into every transaction and consensus signature.
    pub chain_id: String,
    /// RFC 3339 UTC timestamp, e.g. `2026-11-22T00:00:00Z` (whole seconds or milliseconds).
    pub genesis_time: String,
    /// The validators, in leader-rotation order.
    pub validators: Vec<ValidatorEntry>,
    /// Accounts funded at genesis, in any order.
    #[serde(default)]
    pub accounts: Vec<AccountEntry>,
    /// Consensus parameters; missing fields take their defaults.
    #[serde(default)]
    pub consensus: ConsensusParams,
}

/// One validator as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// A human-readable name (also used in logs and metrics).
    pub name: String,
    /// ed25519 public key, 64 hex characters.
    pub public_key: String,
    /// `host:port` where its peer-to-peer listener is reached.
    pub network_address: String,
    /// Voting power, at least 1.
    pub power: u64,
}

/// One funded account as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    /// `keel1…` address.
    pub address: String,
    /// Initial balance.
    pub balance: u64,
}
