//! The `keel` binary: parses the command line, runs the command, and turns any error into one
//! line on stderr and a nonzero exit code. It never prints a backtrace.
//!
//! Exit codes: 0 success; 1 a runtime failure (I/O, a file that already exists); 2 bad input
//! (command-line usage, an invalid genesis, config or key file).

use std::process::ExitCode;

use clap::Parser;
use keel_node::cli::Cli;

/// See the workspace Cargo.toml: the ledger's many small node allocations run faster on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match keel_node::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&format!("{error:#}")));
            ExitCode::from(exit_code(&error))
        }
    }
}

fn exit_code(error: &anyhow::Error) -> u8 {
    let bad_input = error.chain().any(|cause| {
        cause.is::<keel_genesis::GenesisError>()
            || cause.is::<keel_node::config::ConfigError>()
            || cause.is::<keel_crypto::CryptoError>()
    });
    if bad_input {
        2
    } else {
        1
    }
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
