//! The `keel` validator node: configuration and home, P2P, mempool, the consensus driver,
//! RocksDB storage, JSON-RPC, metrics, and the operator and wallet commands.
//!
//! This is the only crate in the workspace that touches the outside world (files, clocks, OS
//! randomness, sockets and RocksDB); the crates it drives stay pure.

#![warn(missing_docs)]

pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod driver;
pub mod fsutil;
pub mod home;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod p2p;
pub mod rpc;
pub mod status;
pub mod storage;
pub mod telemetry;
pub mod wire;
