//! The published transaction vectors (docs/vectors/transactions.json) match the implementation,
//! field by field, and decode back to their fields.

use keel_crypto::{Address, Keypair, PublicKey, Signature, SigningDomain};
use keel_ledger::{tx_hash, Payload, SignedTransaction};
use serde_json::Value;

fn hex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("hex string")).expect("valid hex")
}

fn number(value: &Value) -> u64 {
    value.as_str().expect("decimal string").parse().expect("a u64")
}

#[test]
fn transaction_vectors_match() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/transactions.json");
    let text = std::fs::read_to_string(path).expect("vectors file exists");
    let vectors: Value = serde_json::from_str(&text).unwrap();
    let list = vectors["transactions"].as_array().unwrap();
    assert!(list.len() >= 3);
    for v in list {
        let secret: [u8; 32] = hex(&v["secret_key"]).try_into().unwrap();
        let keypair = Keypair::from_secret_bytes(&secret);
        assert_eq!(keypair.public().to_string(), v["public_key"].as_str().unwrap());
        let sender: Address = v["sender_address"].as_str().unwrap().parse().unwrap();
        assert_eq!(sender, Address::from_public_key(&keypair.public()));

        let bytes = hex(&v["transaction_hex"]);
        let (tx, body_len) = SignedTransaction::decode(&bytes, 65_536).unwrap();
        assert_eq!(tx.to_bytes(), bytes, "one encoding per transaction");
        assert_eq!(&bytes[..body_len], &hex(&v["unsigned_hex"])[..]);
        assert_eq!(tx.body.chain_id, v["chain_id"].as_str().unwrap());
        assert_eq!(tx.body.sender, v["public_key"].as_str().unwrap().parse::<PublicKey>().unwrap());
        assert_eq!(tx.body.nonce, number(&v["nonce"]));
        assert_eq!(tx.body.fee, number(&v["fee"]));
        let Payload::Transfer { to, amount } = &tx.body.payload;
        assert_eq!(to.to_string(), v["payload"]["to"].as_str().unwrap());
        assert_eq!(hex::encode(to.as_bytes()), v["payload"]["to_hex"].as_str().unwrap());
        assert_eq!(*amount, number(&v["payload"]["amount"]));

        assert_eq!(SigningDomain::Transaction.signed_bytes(&bytes[..body_len]), hex(&v["signed_bytes_hex"]));
        let signature: Signature = v["signature"].as_str().unwrap().parse().unwrap();
        assert_eq!(tx.signature, signature);
        keypair.public().verify(SigningDomain::Transaction, &bytes[..body_len], &signature).unwrap();
        assert_eq!(tx.body.clone().sign(&keypair), tx, "ed25519 signing is deterministic");
        assert_eq!(tx_hash(&bytes).to_string(), v["tx_hash"].as_str().unwrap());
    }
}
