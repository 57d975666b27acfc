//! Building a genesis in code, for `keel init`, `keel testnet` and tests. The result is validated
//! exactly like a file read from disk.

use keel_crypto::{Address, PublicKey};

use crate::error::GenesisError;
use crate::file::{AccountEntry, GenesisFile, ValidatorEntry};
use crate::genesis::{format_genesis_time, Genesis};
use crate::params::ConsensusParams;

/// Accumulates validators and accounts, then validates them all at once in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct GenesisBuilder {
    file: GenesisFile,
}

impl GenesisBuilder {
    /// Starts a genesis for `chain_id` at `genesis_time_unix_ms` (milliseconds since the Unix
    /// epoch; callers read the clock, this crate never does), with default consensus parameters.
    pub fn new(chain_id: impl Into<String>, genesis_time_unix_ms: u64) -> Self {
        GenesisBuilder {
            file: GenesisFile {
                chain_id: chain_id.into(),
                genesis_time: format_genesis_time(genesis_time_unix_ms),
                validators: Vec::new(),
                accounts: Vec::new(),
                consensus: ConsensusParams::default(),
            },
        }
    }

    /// Appends a validator; leader rotation follows the order of calls.
    pub fn validator(
        mut self,
        name: impl Into<String>,
        public_key: &PublicKey,
        network_address: impl Into<String>,
        power: u64,
    ) -> Self {
        self.file.validators.push(ValidatorEntry {
            name: name.into(),
            public_key: public_key.to_string(),
            network_address: network_address.into(),
            power,
        });
        self
    }

    /// Funds an account.
    pub fn account(mut self, address: &Address, balance: u64) -> Self {
        self.file.accounts.push(AccountEntry { address: address.to_string(), balance });
        self
    }

    /// Replaces the consensus parameters.
    pub fn consensus(mut self, params: ConsensusParams) -> Self {
        self.file.consensus = params;
        self
    }

    /// Validates and returns the genesis.
    pub fn build(self) -> Result<Genesis, GenesisError> {
        Genesis::from_file(self.file)
    }
}
