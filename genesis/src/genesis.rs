//! The validated genesis: typed, checked against every rule, with its canonical hash.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use borsh::BorshSerialize;
use keel_crypto::{tagged_hash, Address, Hash, PublicKey};

use crate::error::{GenesisError, GenesisProblem};
use crate::file::{AccountEntry, GenesisFile, ValidatorEntry};
use crate::params::ConsensusParams;

/// Most validators a genesis may name: every node keeps a connection to each.
pub const VALIDATORS_MAX: usize = 1024;
/// Longest chain id, in bytes.
pub const CHAIN_ID_BYTES_MAX: usize = 64;
/// Longest validator name, in bytes.
pub const VALIDATOR_NAME_BYTES_MAX: usize = 64;
/// Cap on total voting power, so that `3 * total + 1` and similar quorum arithmetic never
/// overflows a u64.
pub const VOTING_POWER_TOTAL_MAX: u64 = 1 << 60;

const GENESIS_HASH_TAG: &str = "keel/genesis/v1";

/// A validator in the genesis set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisValidator {
    /// Human-readable name, unique in the set.
    pub name: String,
    /// Its consensus and peer-to-peer identity.
    pub public_key: PublicKey,
    /// `host:port` of its peer-to-peer listener: a dialing hint, not part of the genesis hash.
    pub network_address: String,
    /// Voting power, at least 1.
    pub power: u64,
}

/// An account funded at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenesisAccount {
    /// Its address.
    pub address: Address,
    /// Its initial balance.
    pub balance: u64,
}

/// A genesis that has passed every rule. The only ways to get one are [`Genesis::from_json`],
/// [`Genesis::from_file`] and the builder, all of which validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    chain_id: String,
    genesis_time: String,
    genesis_time_unix_ms: u64,
    validators: Vec<GenesisValidator>,
    accounts: Vec<GenesisAccount>,
    consensus: ConsensusParams,
    hash: Hash,
}

impl Genesis {
    /// Parses and validates genesis JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Genesis, GenesisError> {
        let file: GenesisFile = serde_json::from_slice(bytes).map_err(|e| GenesisError::Parse(e.to_string()))?;
        Genesis::from_file(file)
    }

    /// Validates a parsed file, reporting every broken rule at once.
    pub fn from_file(file: GenesisFile) -> Result<Genesis, GenesisError> {
        let mut problems = Vec::new();
        check_chain_id(&file.chain_id, &mut problems);
        let genesis_time_unix_ms = parse_genesis_time(&file.genesis_time, &mut problems);
        let validators = check_validators(&file.validators, &mut problems);
        let accounts = check_accounts(&file.accounts, &mut problems);
        problems.extend(file.consensus.problems());
        if !problems.is_empty() {
            return Err(GenesisError::Invalid(problems));
        }
        let mut genesis = Genesis {
            chain_id: file.chain_id,
            genesis_time: file.genesis_time,
            genesis_time_unix_ms: genesis_time_unix_ms.expect("no problems means the time parsed"),
            validators,
            accounts,
            consensus: file.consensus,
            hash: Hash::ZERO,
        };
        genesis.hash = genesis.compute_hash();
        Ok(genesis)
    }

    /// The file form, for writing back out.
    pub fn to_file(&self) -> GenesisFile {
        GenesisFile {
            chain_id: self.chain_id.clone(),
            genesis_time: self.genesis_time.clone(),
            validators: self
                .validators
                .iter()
                .map(|v| ValidatorEntry {
                    name: v.name.clone(),
                    public_key: v.public_key.to_string(),
                    network_address: v.network_address.clone(),
                    power: v.power,
                })
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|a| AccountEntry { address: a.address.to_string(), balance: a.balance })
                .collect(),
            consensus: self.consensus.clone(),
        }
    }

    /// Pretty JSON with a trailing newline, as `keel init` writes it.
    pub fn to_json_pretty(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(&self.to_file()).expect("a genesis file always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// The chain identifier.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Genesis time as written (RFC 3339).
    pub fn genesis_time(&self) -> &str {
        &self.genesis_time
    }

    /// Genesis time in milliseconds since the Unix epoch.
    pub fn genesis_time_unix_ms(&self) -> u64 {
        self.genesis_time_unix_ms
    }

    /// The validators in leader-rotation order.
    pub fn validators(&self) -> &[GenesisValidator] {
        &self.validators
    }

    /// Funded accounts, sorted by address.
    pub fn accounts(&self) -> &[GenesisAccount] {
        &self.accounts
    }

    /// The sum of all initial balances (the initial supply); validation guarantees it fits.
    pub fn total_supply(&self) -> u64 {
        self.accounts.iter().map(|a| a.balance).sum()
    }

    /// Sum of the validators' voting power; validation guarantees it is at most
    /// [`VOTING_POWER_TOTAL_MAX`].
    pub fn total_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).sum()
    }

    /// Consensus parameters.
    pub fn consensus(&self) -> &ConsensusParams {
        &self.consensus
    }

    /// The canonical genesis hash: nodes refuse peers whose hash differs.
    ///
    /// `tagged_hash("keel/genesis/v1", borsh(CanonicalGenesis))`, where the canonical form holds
    /// the chain id, the genesis time in Unix milliseconds, the validators in file order (name,
    /// public key, power), the accounts sorted by address (address bytes, balance) and the
    /// consensus parameters in declaration order. It does not depend on the JSON's field order,
    /// white space or account order. Network addresses are left out on purpose: they are where
    /// to dial, not what the chain is, and an operator who moves a host must not fork the chain.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    fn compute_hash(&self) -> Hash {
        #[derive(BorshSerialize)]
        struct CanonicalGenesis<'a> {
            chain_id: &'a str,
            genesis_time_unix_ms: u64,
            validators: Vec<(&'a str, [u8; 32], u64)>,
            accounts: Vec<([u8; 32], u64)>,
            consensus: &'a ConsensusParams,
        }
        let canonical = CanonicalGenesis {
            chain_id: &self.chain_id,
            genesis_time_unix_ms: self.genesis_time_unix_ms,
            validators: self.validators.iter().map(|v| (v.name.as_str(), *v.public_key.as_bytes(), v.power)).collect(),
            accounts: self.accounts.iter().map(|a| (*a.address.as_bytes(), a.balance)).collect(),
            consensus: &self.consensus,
        };
        debug_assert!(self.accounts.windows(2).all(|w| w[0].address < w[1].address), "accounts are sorted");
        tagged_hash(GENESIS_HASH_TAG, &borsh::to_vec(&canonical).expect("borsh into a Vec cannot fail"))
    }
}

fn check_chain_id(chain_id: &str, problems: &mut Vec<GenesisProblem>) {
    let reason = if chain_id.is_empty() {
        Some("must not be empty".to_owned())
    } else if chain_id.len() > CHAIN_ID_BYTES_MAX {
        Some(format!("longer than {CHAIN_ID_BYTES_MAX} bytes"))
    } else if !chain_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        Some("may only contain letters, digits, '.', '_' and '-'".to_owned())
    } else {
        None
    };
    if let Some(reason) = reason {
        problems.push(GenesisProblem::ChainId { chain_id: chain_id.to_owned(), reason });
    }
}

fn parse_genesis_time(value: &str, problems: &mut Vec<GenesisProblem>) -> Option<u64> {
    let parsed = humantime::parse_rfc3339(value).map_err(|e| e.to_string()).and_then(|time| {
        let since_epoch = time.duration_since(UNIX_EPOCH).map_err(|_| "before 1970".to_owned())?;
        if since_epoch.subsec_nanos() % 1_000_000 != 0 {
            return Err("finer than a millisecond".to_owned());
        }
        Ok(u64::try_from(since_epoch.as_millis()).expect("an RFC 3339 year fits u64 milliseconds"))
    });
    match parsed {
        Ok(ms) => Some(ms),
        Err(reason) => {
            problems.push(GenesisProblem::GenesisTime {
                value: value.to_owned(),
                reason: format!("{reason} (expected RFC 3339 UTC, e.g. 2026-11-22T00:00:00Z)"),
            });
            None
        }
    }
}

/// Formats Unix milliseconds as the RFC 3339 text that genesis files use.
pub fn format_genesis_time(unix_ms: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(unix_ms);
    if unix_ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(time).to_string()
    } else {
        humantime::format_rfc3339_millis(time).to_string()
    }
}

fn check_validators(entries: &[ValidatorEntry], problems: &mut Vec<GenesisProblem>) -> Vec<GenesisValidator> {
    if entries.is_empty() {
        problems.push(GenesisProblem::NoValidators);
    }
    if entries.len() > VALIDATORS_MAX {
        problems.push(GenesisProblem::TooManyValidators { count: entries.len(), max: VALIDATORS_MAX });
    }
    let mut names = BTreeSet::new();
    let mut keys: BTreeMap<PublicKey, &str> = BTreeMap::new();
    let mut addresses: BTreeMap<&str, &str> = BTreeMap::new();
    let mut total_power: u64 = 0;
    let mut validators = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let name = entry.name.as_str();
        if let Some(reason) = validator_name_problem(name) {
            problems.push(GenesisProblem::ValidatorName { index, name: name.to_owned(), reason });
        } else if !names.insert(name) {
            problems.push(GenesisProblem::DuplicateValidatorName { name: name.to_owned() });
        }
        if entry.power == 0 {
            problems.push(GenesisProblem::ZeroPower { name: name.to_owned() });
        }
        total_power = total_power.saturating_add(entry.power);
        if let Some(reason) = network_address_problem(&entry.network_address) {
            problems.push(GenesisProblem::MalformedNetworkAddress {
                name: name.to_owned(),
                address: entry.network_address.clone(),
                reason,
            });
        } else if let Some(first) = addresses.insert(&entry.network_address, name) {
            problems.push(GenesisProblem::DuplicateNetworkAddress {
                address: entry.network_address.clone(),
                first: first.to_owned(),
                second: name.to_owned(),
            });
        }
        match entry.public_key.parse::<PublicKey>() {
            Err(e) => problems.push(GenesisProblem::MalformedValidatorKey {
                name: name.to_owned(),
                value: entry.public_key.clone(),
                reason: e.to_string(),
            }),
            Ok(public_key) => {
                if let Some(first) = keys.insert(public_key, name) {
                    problems.push(GenesisProblem::DuplicateValidatorKey {
                        public_key: public_key.to_string(),
                        first: first.to_owned(),
                        second: name.to_owned(),
                    });
                }
                validators.push(GenesisValidator {
                    name: name.to_owned(),
                    public_key,
                    network_address: entry.network_address.clone(),
                    power: entry.power,
                });
            }
        }
    }
    if total_power > VOTING_POWER_TOTAL_MAX {
        problems.push(GenesisProblem::TotalPowerOverflow { max: VOTING_POWER_TOTAL_MAX });
    }
    validators
}

fn validator_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.len() > VALIDATOR_NAME_BYTES_MAX {
        Some(format!("longer than {VALIDATOR_NAME_BYTES_MAX} bytes"))
    } else if !name.bytes().all(|b| b.is_ascii_graphic()) {
        Some("may only contain printable ASCII without spaces".to_owned())
    } else {
        None
    }
}

/// `host:port`, where host is an IPv4 address, a bracketed IPv6 address or a DNS name.
fn network_address_problem(address: &str) -> Option<String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Some("expected host:port".to_owned());
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return Some(format!("port {port:?} is not in 1..=65535")),
        Ok(_) => {}
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(_) => None,
            Err(_) => Some(format!("{inner:?} is not an IPv6 address")),
        };
    }
    let is_dns_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(is_dns_label) {
        return Some(format!("host {host:?} is not an IPv4 address, [IPv6] address or DNS name"));
    }
    None
}

fn check_accounts(entries: &[AccountEntry], problems: &mut Vec<GenesisProblem>) -> Vec<GenesisAccount> {
    let mut accounts: BTreeMap<Address, u64> = BTreeMap::new();
    let mut total: Option<u64> = Some(0);
    for (index, entry) in entries.iter().enumerate() {
        total = total.and_then(|t| t.checked_add(entry.balance));
        match entry.address.parse::<Address>() {
            Err(e) => problems.push(GenesisProblem::MalformedAccountAddress {
                index,
                value: entry.address.clone(),
                reason: e.to_string(),
            }),
            Ok(address) => {
                if accounts.insert(address, entry.balance).is_some() {
                    problems.push(GenesisProblem::DuplicateAccount { address: address.to_string() });
                }
            }
        }
    }
    if total.is_none() {
        problems.push(GenesisProblem::BalanceOverflow);
    }
    accounts.into_iter().map(|(address, balance)| GenesisAccount { address, balance }).collect()
}
