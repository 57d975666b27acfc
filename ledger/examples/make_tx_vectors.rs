//! Prints Keel's published transaction test vectors as JSON:
//! `cargo run -p keel-ledger --example make_tx_vectors > docs/vectors/transactions.json`.
//! The test `tests/vectors.rs` checks the committed file against the implementation.

use keel_crypto::{tagged_hash, Address, Keypair, SigningDomain};
use keel_ledger::{Payload, Transaction};
use serde_json::{json, Value};

fn vector(index: u8, chain_id: &str, nonce: u64, fee: u64, amount: u64) -> Value {
    // Fixed, public secrets: these keys are for vectors only.
    let secret = tagged_hash("keel/test-vector-key/v1", &[100 + index]);
    let keypair = Keypair::from_secret_bytes(secret.as_bytes());
    let recipient = Keypair::from_secret_bytes(tagged_hash("keel/test-vector-key/v1", &[200 + index]).as_bytes());
    let to = Address::from_public_key(&recipient.public());
    let body = Transaction {
        chain_id: chain_id.into(),
        sender: keypair.public(),
        nonce,
        fee,
        payload: Payload::Transfer { to, amount },
    };
    let unsigned = body.to_bytes();
    let signed = body.clone().sign(&keypair);
    json!({
        "secret_key": hex::encode(secret.as_bytes()),
        "public_key": keypair.public().to_string(),
        "sender_address": Address::from_public_key(&keypair.public()).to_string(),
        "sender_address_hex": hex::encode(Address::from_public_key(&keypair.public()).as_bytes()),
        "chain_id": chain_id,
        "nonce": nonce.to_string(),
        "fee": fee.to_string(),
        "payload": { "kind": "transfer", "to": to.to_string(), "to_hex": hex::encode(to.as_bytes()), "amount": amount.to_string() },
        "unsigned_hex": hex::encode(&unsigned),
        "signed_bytes_hex": hex::encode(SigningDomain::Transaction.signed_bytes(&unsigned)),
        "signature": signed.signature.to_string(),
        "transaction_hex": hex::encode(signed.to_bytes()),
        "tx_hash": signed.hash().to_string(),
    })
}

fn main() {
    let vectors = json!({
        "description": "Keel transaction vectors (docs/transactions.md). unsigned_hex = borsh(Transaction); signed_bytes_hex = \"keel/transaction/v1\" || 0x00 || unsigned, what ed25519 (RFC 8032) signs; transaction_hex = unsigned || signature; tx_hash = SHA-256(\"keel/tx/v1\" || 0x00 || transaction). u64 values are decimal strings.",
        "transactions": [
            vector(0, "keel-local", 0, 10, 1_000),
            vector(1, "keel-testnet-7", 41, 0, 1),
            vector(2, "k", u64::MAX, u64::MAX, u64::MAX),
        ],
    });
    println!("{}", serde_json::to_string_pretty(&vectors).expect("vectors serialise"));
}
