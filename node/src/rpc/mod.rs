//! The JSON-RPC API for wallets and apps. [`jsonrpc`] implements the protocol, [`methods`] the
//! `keel_*` methods, [`errors`] the application error codes, [`server`] the HTTP endpoints,
//! [`ws`] the WebSocket endpoint and its subscriptions.

pub mod errors;
pub mod jsonrpc;
pub mod limits;
pub mod methods;
pub mod server;
pub mod ws;
