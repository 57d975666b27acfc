//! The JSON-RPC API for wallets and apps. [`jsonrpc`] implements the protocol, [`methods`] the
//! `keel_*` methods, [`server`] the HTTP endpoints.

pub mod jsonrpc;
pub mod methods;
pub mod server;
