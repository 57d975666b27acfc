//! Shared fixtures for the ledger's integration tests.
#![allow(dead_code)]

use keel_crypto::{tagged_hash, Address, Keypair};
use keel_genesis::{ConsensusParams, Genesis, GenesisBuilder};
use keel_ledger::{BlockContext, Height, Payload, Transaction};

pub const CHAIN_ID: &str = "keel-test";

/// Deterministic keys: `key(i)` is the same in every run.
pub fn key(i: u32) -> Keypair {
    Keypair::from_secret_bytes(tagged_hash("keel/test-key/v1", &i.to_le_bytes()).as_bytes())
}

pub fn address(i: u32) -> Address {
    Address::from_public_key(&key(i).public())
}

/// A genesis funding accounts `0..funded.len()` with the given balances.
pub fn genesis_with(balances: &[u64], params: ConsensusParams) -> Genesis {
    let mut builder =
        GenesisBuilder::new(CHAIN_ID, 1_700_000_000_000).validator("v0", &key(10_000).public(), "127.0.0.1:26600", 1);
    for (i, balance) in balances.iter().enumerate() {
        builder = builder.account(&address(i as u32), *balance);
    }
    builder.consensus(params).build().expect("test genesis is valid")
}

pub fn genesis(balances: &[u64]) -> Genesis {
    genesis_with(balances, ConsensusParams::default())
}

pub fn transfer(from: u32, to: u32, nonce: u64, amount: u64, fee: u64) -> Vec<u8> {
    Transaction {
        chain_id: CHAIN_ID.into(),
        sender: key(from).public(),
        nonce,
        fee,
        payload: Payload::Transfer { to: address(to), amount },
    }
    .sign(&key(from))
    .to_bytes()
}

pub fn context(height: u64) -> BlockContext {
    BlockContext { height: Height(height), proposer: key(10_000).public() }
}
