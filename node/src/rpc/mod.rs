//! The JSON-RPC API for wallets and apps. [`jsonrpc`] implements the protocol; the methods come
//! with the node.

pub mod jsonrpc;
