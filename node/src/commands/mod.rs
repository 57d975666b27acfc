//! One module per `keel` command. Each returns `anyhow::Result`; `main` turns an error into one
//! line on stderr and an exit code.

mod bench;
mod genesis;
mod init;
mod keygen;
mod start;
mod testnet;
pub mod wallet;

use anyhow::{bail, Context, Result};
use keel_crypto::Address;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::{Cli, Command, GenesisCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Init(args) => init::run(&args),
        Command::Start(args) => start::run(&args, cli.log_format),
        Command::Testnet(args) => testnet::run(&args, cli.log_format),
        Command::Genesis(GenesisCommand::Validate { file }) => genesis::validate(&file),
        Command::Bench(args) => bench::run(&args),
        Command::Tx(crate::cli::TxCommand::Transfer(args)) => wallet::transfer(&args),
        Command::Account(args) => wallet::account(&args),
        Command::Block(args) => wallet::block(&args),
    }
}

/// Parses `ADDRESS=BALANCE` arguments.
fn parse_accounts(specs: &[String]) -> Result<Vec<(Address, u64)>> {
    specs
        .iter()
        .map(|spec| {
            let (address, balance) =
                spec.split_once('=').with_context(|| format!("--account {spec:?}: expected ADDRESS=BALANCE"))?;
            let address: Address = address.parse().with_context(|| format!("--account {spec:?}"))?;
            let balance: u64 = balance.parse().with_context(|| format!("--account {spec:?}: bad balance"))?;
            Ok((address, balance))
        })
        .collect()
}

/// The wall clock in Unix milliseconds, for a new genesis's time.
fn now_unix_ms() -> Result<u64> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).context("the system clock is before 1970")?;
    match u64::try_from(since_epoch.as_millis()) {
        Ok(ms) => Ok(ms - ms % 1000),
        Err(_) => bail!("the system clock is implausibly far in the future"),
    }
}
