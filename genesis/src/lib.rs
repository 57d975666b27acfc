//! The genesis file: what a Keel chain is at height 0, and the hash that names it.
//!
//! ```json
//! {
//!   "chain_id": "keel-local",
//!   "genesis_time": "2026-11-22T00:00:00Z",
//!   "validators": [
//!     { "name": "validator-0", "public_key": "<64 hex>", "network_address": "127.0.0.1:26600", "power": 1 }
//!   ],
//!   "accounts": [ { "address": "keel1…", "balance": 1000000 } ],
//!   "consensus": {
//!     "round_timeout_ms": 1000, "round_timeout_ms_max": 30000,
//!     "block_bytes_max": 4194304, "block_txs_max": 10000, "transaction_bytes_max": 65536
//!   }
//! }
//! ```
//!
//! Loading ([`Genesis::from_json`]) refuses unknown fields and then checks every rule, reporting
//! each broken one with the name of what breaks it: no validators, too many, a malformed or
//! duplicate key, name or network address, zero power, total power past
//! [`VOTING_POWER_TOTAL_MAX`], a malformed or duplicate account, balances whose sum overflows a
//! u64, consensus parameters out of range. A [`Genesis`] value has always passed them.
//!
//! [`Genesis::hash`] is the canonical hash that peers compare in their handshake; its definition
//! is on that method. The crate reads no clock and no file: the node does I/O, and builders take
//! the genesis time as an argument.

#![warn(missing_docs)]

mod builder;
mod error;
mod file;
mod genesis;
mod params;

pub use builder::GenesisBuilder;
pub use error::{GenesisError, GenesisProblem};
pub use file::{AccountEntry, GenesisFile, ValidatorEntry};
pub use genesis::{
    format_genesis_time, Genesis, GenesisAccount, GenesisValidator, CHAIN_ID_BYTES_MAX, VALIDATORS_MAX,
    VALIDATOR_NAME_BYTES_MAX, VOTING_POWER_TOTAL_MAX,
};
pub use params::{ConsensusParams, BLOCK_BYTES_LIMIT, BLOCK_TXS_LIMIT, ROUND_TIMEOUT_MS_LIMIT};
