//! `keel bench`: a load generator of signed transfers against a running network, and the
//! benchmark accounts `keel testnet --bench-accounts K` funds at genesis.

pub mod accounts;
pub mod client;
pub mod load;
