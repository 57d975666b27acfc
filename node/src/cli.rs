//! Command-line interface of the `keel` binary (clap).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

/// Keel: a Byzantine-fault-tolerant ledger node.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about, propagate_version = true)]
pub struct Cli {
    /// Log line format (overrides the config file).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The operator commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an ed25519 key file (mode 0600) and print its public key.
    Keygen(KeygenArgs),
    /// Create one node's home: config.toml, node_key.json and genesis.json.
    Init(InitArgs),
    /// Run the validator whose home is --home until SIGINT or SIGTERM.
    Start(StartArgs),
    /// Create (or reuse) the homes of a local network of validators sharing one genesis, on
    /// loopback ports, and run each validator as its own process until Ctrl-C or SIGTERM.
    Testnet(TestnetArgs),
    /// Send signed transfers from benchmark accounts at a fixed rate and report throughput
    /// and submit-to-commit latency.
    Bench(BenchArgs),
    /// Genesis file tools.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// Wallet: sign and send transactions.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Wallet: an account's balance and nonce.
    Account(AccountArgs),
    /// A committed block's header and transaction hashes (the latest by default).
    Block(BlockArgs),
}

/// `keel tx …`
#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// Sign a transfer with a key file and send it.
    Transfer(TransferArgs),
}

/// `keel tx transfer`
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The sender's key file (as `keel keygen` writes it).
    #[arg(long)]
    pub key: PathBuf,
    /// The recipient's address (keel1…).
    #[arg(long)]
    pub to: String,
    /// Units to send.
    #[arg(long)]
    pub amount: u64,
    /// Fee offered (burned when the transfer executes).
    #[arg(long, default_value_t = 1)]
    pub fee: u64,
    /// Nonce to use; by default the sender's next nonce from the node.
    #[arg(long)]
    pub nonce: Option<u64>,
    /// A node's JSON-RPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// Wait until the transfer is committed (at most 30 s) and print its receipt.
    #[arg(long)]
    pub wait: bool,
}

/// `keel account`
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The address (keel1…).
    pub address: String,
    /// A node's JSON-RPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// The state at this height (default: the latest; with --proof, the latest certified).
    #[arg(long)]
    pub height: Option<u64>,
    /// Ask for a Merkle proof and the ledger certificate of its height, and verify both here
    /// against the validator set of --genesis: the answer is then trusted, not the node.
    #[arg(long, requires = "genesis")]
    pub proof: bool,
    /// The chain's genesis.json, whose validator set the proof is checked against.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
}

/// `keel block`
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// The height; the latest committed one if absent.
    pub height: Option<u64>,
    /// A node's JSON-RPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
}

/// `keel keygen`
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key file; it must not exist.
    #[arg(long)]
    pub out: PathBuf,
    /// Print `{"public_key": …, "address": …}` instead of the bare public key.
    #[arg(long)]
    pub json: bool,
}

/// `keel init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The node home to create; it must not be initialised already.
    #[arg(long)]
    pub home: PathBuf,
    /// Name of this node (logs, metrics, and its genesis entry).
    #[arg(long, default_value = "validator-0")]
    pub name: String,
    /// Use this genesis file (joining an existing chain) instead of making a one-validator one.
    #[arg(long, conflicts_with_all = ["chain_id", "accounts"])]
    pub genesis: Option<PathBuf>,
    /// Chain id of the new one-validator genesis.
    #[arg(long, default_value = "keel-local")]
    pub chain_id: Option<String>,
    /// Peer-to-peer listen address.
    #[arg(long, default_value = "127.0.0.1:26600")]
    pub p2p_address: std::net::SocketAddr,
    /// JSON-RPC listen address.
    #[arg(long, default_value = "127.0.0.1:8545")]
    pub rpc_address: std::net::SocketAddr,
    /// Fund an account in the new genesis: ADDRESS=BALANCE (repeatable).
    #[arg(long = "account", value_name = "ADDRESS=BALANCE")]
    pub accounts: Vec<String>,
}

/// `keel start`
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The node home (made by `keel init` or `keel testnet`).
    #[arg(long)]
    pub home: PathBuf,
    /// Override `[p2p] listen_address`.
    #[arg(long)]
    pub p2p_address: Option<std::net::SocketAddr>,
    /// Override `[rpc] listen_address`.
    #[arg(long)]
    pub rpc_address: Option<std::net::SocketAddr>,
}

/// `keel testnet`
#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub validators: u16,
    /// Directory that holds the homes node0, node1, …
    #[arg(long, default_value = "testnet")]
    pub dir: PathBuf,
    /// Chain id of the network.
    #[arg(long, default_value = "keel-testnet")]
    pub chain_id: String,
    /// Loopback address the nodes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// One address per validator, comma-separated (e.g. container IPs): node i listens on
    /// hosts[i] at the base ports themselves, instead of on --host at base + i.
    #[arg(long, value_delimiter = ',', conflicts_with = "host")]
    pub hosts: Vec<IpAddr>,
    /// Peer-to-peer port of node0; node i uses base + i.
    #[arg(long, default_value_t = 26600)]
    pub p2p_port_base: u16,
    /// JSON-RPC port of node0; node i uses base + i.
    #[arg(long, default_value_t = 8545)]
    pub rpc_port_base: u16,
    /// Fund an account in the genesis: ADDRESS=BALANCE (repeatable).
    #[arg(long = "account", value_name = "ADDRESS=BALANCE")]
    pub accounts: Vec<String>,
    /// Base round timeout of the new genesis, in milliseconds (a local network can run far
    /// below the default; empty-block delays are set to a quarter of it when that is shorter).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub round_timeout_ms: u64,
    /// Fund this many benchmark accounts (keys derived from the chain id; for `keel bench`
    /// only, never on a network that matters).
    #[arg(long, default_value_t = 0)]
    pub bench_accounts: u32,
    /// BENCHMARK ONLY: new homes admit opaque, unchecked transactions (`[mempool]
    /// opaque_transactions`), to measure consensus alone with `keel bench --opaque-bytes`.
    #[arg(long)]
    pub opaque_transactions: bool,
    /// Only create (or check) the homes; do not start the validators.
    #[arg(long)]
    pub create_only: bool,
}

/// `keel bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// JSON-RPC endpoints, comma-separated; batches go to each in turn.
    #[arg(long, default_value = "http://127.0.0.1:8545", value_delimiter = ',')]
    pub rpc: Vec<String>,
    /// Benchmark accounts to send from (funded by `keel testnet --bench-accounts`).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..))]
    pub accounts: u32,
    /// Transactions per second.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// How long to send, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// How long to wait for outstanding commits afterwards.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain: std::time::Duration,
    /// Send opaque transactions of this many bytes instead of signed transfers (for a network
    /// started with `keel testnet --opaque-transactions`).
    #[arg(long)]
    pub opaque_bytes: Option<usize>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `keel genesis …`
#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Check a genesis file against every rule and print its hash.
    Validate {
        /// The genesis file.
        file: PathBuf,
    },
}
