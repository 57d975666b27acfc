//! The node's configuration file, `config.toml` in the node home.
//!
//! Every field has a default, so a file may name only what it changes; unknown fields are
//! refused so that a typo never silently falls back to a default. [`NodeConfig::load`] checks
//! every relation between fields once; the rest of the node may rely on them.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Not TOML of the expected shape (syntax, unknown field, wrong type).
    #[error("config is not valid: {0}")]
    Parse(String),
    /// Well-formed, but a value is out of range.
    #[error("config {field}: {reason}")]
    Invalid {
        /// The dotted field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's identity in logs and metrics.
    pub node: NodeSection,
    /// Peer-to-peer networking.
    pub p2p: P2pSection,
    /// The consensus driver.
    pub consensus: ConsensusSection,
    /// The mempool.
    pub mempool: MempoolSection,
    /// The JSON-RPC server.
    pub rpc: RpcSection,
    /// Logging.
    pub log: LogSection,
}

/// `[node]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Name shown in logs and metrics. Default: "keel-node".
    pub name: String,
}

/// `[p2p]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pSection {
    /// Address the peer-to-peer listener binds. Default: "0.0.0.0:26600".
    pub listen_address: SocketAddr,
    /// Largest frame accepted from a peer, in bytes; must hold the largest block. Default 80 MiB.
    pub frame_bytes_max: u32,
    /// Longest wait between reconnection attempts to a peer, in milliseconds. Default 10000.
    pub reconnect_backoff_ms_max: u64,
}

/// `[consensus]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    /// How long a leader with no transactions to propose waits before proposing an empty block,
    /// in milliseconds; below half the genesis round timeout. Default 250.
    pub empty_block_delay_ms: u64,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection { empty_block_delay_ms: 250 }
    }
}

/// `[mempool]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSection {
    /// BENCHMARK ONLY: admit transactions as opaque bytes without decoding or checking them, to
    /// measure consensus alone (the ledger rejects them as malformed, so no state changes).
    /// Never enable on a network that matters. Default false.
    pub opaque_transactions: bool,
}

/// `[rpc]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcSection {
    /// Address the JSON-RPC server binds. Default: "127.0.0.1:8545".
    pub listen_address: SocketAddr,
    /// Requests (HTTP requests and WebSocket messages) one client IP may send per second,
    /// sustained. Default 2000.
    pub requests_per_second_per_client: u32,
    /// Requests one client IP may send in a burst above the sustained rate. Default 4000.
    pub request_burst_per_client: u32,
    /// Requests (and open WebSocket connections) one client IP may have in flight at once.
    /// Default 64.
    pub concurrent_requests_per_client: u32,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// "text" (human-readable) or "json". Default: "text".
    pub format: LogFormat,
    /// A tracing filter such as "info" or "info,keel_consensus=debug". Default: "info".
    pub filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection { name: "keel-node".to_owned() }
    }
}

impl Default for P2pSection {
    fn default() -> Self {
        P2pSection {
            listen_address: "0.0.0.0:26600".parse().expect("a literal socket address"),
            frame_bytes_max: 80 * 1024 * 1024,
            reconnect_backoff_ms_max: 10_000,
        }
    }
}

impl Default for RpcSection {
    fn default() -> Self {
        RpcSection {
            listen_address: "127.0.0.1:8545".parse().expect("a literal socket address"),
            requests_per_second_per_client: 2_000,
            request_burst_per_client: 4_000,
            concurrent_requests_per_client: 64,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { format: LogFormat::Text, filter: "info".to_owned() }
    }
}

/// A frame must at least hold a block of the largest size genesis can allow, plus its envelope.
pub const FRAME_BYTES_MIN: u32 = keel_genesis::BLOCK_BYTES_LIMIT + 1024 * 1024;

impl NodeConfig {
    /// Parses and checks `config.toml` text.
    pub fn load(text: &str) -> Result<NodeConfig, ConfigError> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse(one_line(&e.to_string())))?;
        config.check()?;
        Ok(config)
    }

    /// Checks every range and relation between fields.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| Err(ConfigError::Invalid { field, reason });
        if self.node.name.is_empty() || !self.node.name.bytes().all(|b| b.is_ascii_graphic()) {
            return invalid("node.name", format!("{:?} must be non-empty printable ASCII", self.node.name));
        }
        if self.p2p.frame_bytes_max < FRAME_BYTES_MIN {
            return invalid(
                "p2p.frame_bytes_max",
                format!(
                    "{} is below {FRAME_BYTES_MIN}, the largest block a genesis may allow",
                    self.p2p.frame_bytes_max
                ),
            );
        }
        if self.p2p.reconnect_backoff_ms_max == 0 {
            return invalid("p2p.reconnect_backoff_ms_max", "must be at least 1".to_owned());
        }
        for (field, value) in [
            ("rpc.requests_per_second_per_client", self.rpc.requests_per_second_per_client),
            ("rpc.request_burst_per_client", self.rpc.request_burst_per_client),
            ("rpc.concurrent_requests_per_client", self.rpc.concurrent_requests_per_client),
        ] {
            if value == 0 {
                return invalid(field, "must be at least 1".to_owned());
            }
        }
        if self.filter_is_empty() {
            return invalid("log.filter", "must not be empty".to_owned());
        }
        Ok(())
    }

    fn filter_is_empty(&self) -> bool {
        self.log.filter.trim().is_empty()
    }

    /// The file `keel init` writes: every field, each with a comment saying what it is.
    pub fn to_commented_toml(&self) -> String {
        format!(
            r#"# Keel node configuration. Every field is optional; the value shown is what this node uses.

[node]
# Name shown in logs and metrics.
name = {name}

[p2p]
# Address the peer-to-peer listener binds (host:port).
listen_address = "{p2p_listen}"
# Largest frame accepted from a peer, in bytes (at least {frame_min}).
frame_bytes_max = {frame_max}
# Longest wait between reconnection attempts to a peer, in milliseconds.
reconnect_backoff_ms_max = {backoff}

[consensus]
# Milliseconds a leader with no transactions waits before proposing an empty block (below half
# the genesis round timeout).
empty_block_delay_ms = {empty_delay}

[mempool]
# BENCHMARK ONLY: admit transactions as opaque bytes, unchecked, to measure consensus alone
# (they execute as malformed and change nothing). Never on a network that matters.
opaque_transactions = {opaque}

[rpc]
# Address the JSON-RPC server binds (host:port). Keep it on loopback unless a proxy guards it.
listen_address = "{rpc_listen}"
# Per client IP: sustained requests per second (HTTP requests and WebSocket messages), the burst
# above it, and requests or WebSocket connections in flight at once. Excess calls get HTTP 429
# with JSON-RPC error -32029.
requests_per_second_per_client = {rate}
request_burst_per_client = {burst}
concurrent_requests_per_client = {concurrency}

[log]
# "text" or "json" (overridden by --log-format).
format = "{format}"
# Tracing filter, e.g. "info" or "info,keel_consensus=debug".
filter = {filter}
"#,
            name = toml_string(&self.node.name),
            p2p_listen = self.p2p.listen_address,
            frame_min = FRAME_BYTES_MIN,
            frame_max = self.p2p.frame_bytes_max,
            backoff = self.p2p.reconnect_backoff_ms_max,
            empty_delay = self.consensus.empty_block_delay_ms,
            opaque = self.mempool.opaque_transactions,
            rpc_listen = self.rpc.listen_address,
            rate = self.rpc.requests_per_second_per_client,
            burst = self.rpc.request_burst_per_client,
            concurrency = self.rpc.concurrent_requests_per_client,
            format = match self.log.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
            filter = toml_string(&self.log.filter),
        )
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(NodeConfig::load("").unwrap(), NodeConfig::default());
    }

    #[test]
    fn commented_file_loads_back_to_the_same_config() {
        let mut config = NodeConfig::default();
        config.node.name = "validator \"7\"".replace(' ', "-");
        config.rpc.listen_address = "127.0.0.1:9000".parse().unwrap();
        config.log.format = LogFormat::Json;
        assert_eq!(NodeConfig::load(&config.to_commented_toml()).unwrap(), config);
    }

    #[test]
    fn unknown_fields_bad_types_and_ranges_are_refused() {
        assert!(NodeConfig::load("[p2p]\nlisten_adress = \"1.2.3.4:5\"")
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        assert!(NodeConfig::load("[rpc]\nlisten_address = \"nowhere\"").is_err());
        assert!(NodeConfig::load("[log]\nformat = \"xml\"").is_err());
        let small = NodeConfig::load("[p2p]\nframe_bytes_max = 10").unwrap_err().to_string();
        assert!(small.contains("p2p.frame_bytes_max"), "{small}");
        assert!(NodeConfig::load("[node]\nname = \"\"").is_err());
    }
}
