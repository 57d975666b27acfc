//! Prints Keel's published crypto test vectors as JSON:
//! `cargo run -p keel-crypto --example make_vectors > docs/vectors/crypto.json`.
//! The test `tests/vectors.rs` checks the committed file against the implementation.

use keel_crypto::{tagged_hash, Address, Hash, Keypair, SigningDomain};
use serde_json::{json, Value};

fn main() {
    let sha256: Vec<Value> = [&b""[..], b"abc", b"keel"]
        .iter()
        .map(|m| json!({ "message_hex": hex::encode(m), "hash": Hash::sha256(m).to_string() }))
        .collect();
    let tagged: Vec<Value> =
        [("keel/block/v1", &b""[..]), ("keel/address/v1", b"\x00\x01\x02"), ("keel/genesis/v1", b"abc")]
            .iter()
            .map(|(tag, m)| {
                let mut preimage = tag.as_bytes().to_vec();
                preimage.push(0);
                preimage.extend_from_slice(m);
                json!({ "tag": tag, "message_hex": hex::encode(m), "preimage_hex": hex::encode(&preimage),
                    "hash": tagged_hash(tag, m).to_string() })
            })
            .collect();
    let signing: Vec<Value> = SigningDomain::ALL
        .iter()
        .enumerate()
        .map(|(i, domain)| {
            // Fixed, public secrets: these keys are for vectors only.
            let secret = tagged_hash("keel/test-vector-key/v1", &[i as u8]);
            let keypair = Keypair::from_secret_bytes(secret.as_bytes());
            let message = format!("keel test vector {i}").into_bytes();
            json!({
                "secret_key": hex::encode(secret.as_bytes()),
                "public_key": keypair.public().to_string(),
                "address": Address::from_public_key(&keypair.public()).to_string(),
                "domain": domain.tag(),
                "message_hex": hex::encode(&message),
                "signed_bytes_hex": hex::encode(domain.signed_bytes(&message)),
                "signature": keypair.sign(*domain, &message).to_string(),
            })
        })
        .collect();
    let vectors = json!({
        "description": "Keel crypto test vectors. sha256: plain SHA-256. tagged_hash: SHA-256(tag || 0x00 || message). signing: ed25519 (RFC 8032) over signed_bytes = domain || 0x00 || message; address = tagged_hash(\"keel/address/v1\", public_key) in bech32m with prefix keel.",
        "sha256": sha256,
        "tagged_hash": tagged,
        "signing": signing,
    });
    println!("{}", serde_json::to_string_pretty(&vectors).expect("vectors serialise"));
}
