//! Why a genesis file was refused: either it is not the right JSON shape, or it is well-formed
//! but breaks a rule, in which case every broken rule is listed.

use std::fmt;

use thiserror::Error;

/// One broken rule, naming the value that breaks it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenesisProblem {
    /// The chain id is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("chain_id {chain_id:?}: {reason}")]
    ChainId {
        /// The offending id.
        chain_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The genesis time is not an RFC 3339 UTC timestamp.
    #[error("genesis_time {value:?}: {reason}")]
    GenesisTime {
        /// The offending text.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The validator list is empty.
    #[error("validators: at least one validator is required")]
    NoValidators,
    /// More validators than a node supports.
    #[error("validators: {count} validators exceed the limit of {max}")]
    TooManyValidators {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A validator name is empty, too long or not printable.
    #[error("validators[{index}].name {name:?}: {reason}")]
    ValidatorName {
        /// Position in the list.
        index: usize,
        /// The offending name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two validators share a name.
    #[error("validators: name {name:?} is used twice")]
    DuplicateValidatorName {
        /// The repeated name.
        name: String,
    },
    /// A validator public key is not a usable ed25519 key.
    #[error("validator {name:?}: public_key {value:?}: {reason}")]
    MalformedValidatorKey {
        /// The validator.
        name: String,
        /// The offending text.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Two validators share a public key.
    #[error("validators {first:?} and {second:?} have the same public_key {public_key}")]
    DuplicateValidatorKey {
        /// The repeated key.
        public_key: String,
        /// The first validator with it.
        first: String,
        /// The second validator with it.
        second: String,
    },
    /// A network address is not `host:port`.
    #[error("validator {name:?}: network_address {address:?}: {reason}")]
    MalformedNetworkAddress {
        /// The validator.
        name: String,
        /// The offending address.
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// Two validators share a network address.
    #[error("validators {first:?} and {second:?} have the same network_address {address:?}")]
    DuplicateNetworkAddress {
        /// The repeated address.
        address: String,
        /// The first validator with it.
        first: String,
        /// The second validator with it.
        second: String,
    },
    /// A validator has zero voting power.
    #[error("validator {name:?}: power must be at least 1")]
    ZeroPower {
        /// The validator.
        name: String,
    },
    /// The validators' total power exceeds the limit that keeps quorum arithmetic exact.
    #[error("validators: total power exceeds the limit of {max}")]
    TotalPowerOverflow {
        /// The limit.
        max: u64,
    },
    /// An account address is not a valid `keel1…` address.
    #[error("accounts[{index}].address {value:?}: {reason}")]
    MalformedAccountAddress {
        /// Position in the list.
        index: usize,
        /// The offending text.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Two accounts share an address.
    #[error("accounts: address {address} is listed twice")]
    DuplicateAccount {
        /// The repeated address.
        address: String,
    },
    /// The sum of all initial balances does not fit in a u64.
    #[error("accounts: the sum of balances overflows a 64-bit integer")]
    BalanceOverflow,
    /// A consensus parameter is out of range.
    #[error("consensus.{field}: {reason}")]
    ConsensusParam {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Why a genesis file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenesisError {
    /// The bytes are not genesis JSON (syntax, missing or unknown field, wrong type).
    #[error("genesis is not valid JSON of the expected shape: {0}")]
    Parse(String),
    /// The JSON is well-formed but breaks one or more rules.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<GenesisProblem>),
}

struct ProblemList<'a>(&'a [GenesisProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "genesis is invalid ({} problem{}): ", self.0.len(), if self.0.len() == 1 { "" } else { "s" })?;
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
