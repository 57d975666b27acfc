//! Checks the published vectors in docs/vectors/crypto.json against the implementation, and the
//! SHA-256 ones also against the FIPS 180-2 values, so that the file is both a regression guard
//! and evidence that the primitives are the standard ones.

use keel_crypto::{tagged_hash, Address, Hash, Keypair, PublicKey, Signature, SigningDomain};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../docs/vectors/crypto.json")).expect("vectors file is JSON")
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("vector field {field} missing"))
}

#[test]
fn sha256_vectors_match_the_standard_and_the_implementation() {
    let v = vectors();
    let entries = v["sha256"].as_array().unwrap();
    assert!(entries.len() >= 2);
    for entry in entries {
        let message = hex::decode(text(entry, "message_hex")).unwrap();
        assert_eq!(Hash::sha256(&message).to_string(), text(entry, "hash"));
    }
    // FIPS 180-2 appendix B.1, independent of the file.
    let abc = entries.iter().find(|e| text(e, "message_hex") == "616263").unwrap();
    assert_eq!(text(abc, "hash"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[test]
fn tagged_hash_vectors() {
    let v = vectors();
    for entry in v["tagged_hash"].as_array().unwrap() {
        let message = hex::decode(text(entry, "message_hex")).unwrap();
        let preimage = hex::decode(text(entry, "preimage_hex")).unwrap();
        let expected = text(entry, "hash");
        assert_eq!(tagged_hash(text(entry, "tag"), &message).to_string(), expected);
        assert_eq!(Hash::sha256(&preimage).to_string(), expected, "hash is plain SHA-256 of the preimage");
    }
}

#[test]
fn signing_vectors() {
    let v = vectors();
    let entries = v["signing"].as_array().unwrap();
    assert_eq!(entries.len(), SigningDomain::ALL.len(), "one vector per domain");
    for entry in entries {
        let secret: [u8; 32] = hex::decode(text(entry, "secret_key")).unwrap().try_into().unwrap();
        let keypair = Keypair::from_secret_bytes(&secret);
        let public: PublicKey = text(entry, "public_key").parse().unwrap();
        assert_eq!(keypair.public(), public);
        assert_eq!(Address::from_public_key(&public).to_string(), text(entry, "address"));
        let domain = *SigningDomain::ALL.iter().find(|d| d.tag() == text(entry, "domain")).unwrap();
        let message = hex::decode(text(entry, "message_hex")).unwrap();
        assert_eq!(hex::encode(domain.signed_bytes(&message)), text(entry, "signed_bytes_hex"));
        let signature: Signature = text(entry, "signature").parse().unwrap();
        assert_eq!(keypair.sign(domain, &message), signature, "ed25519 signatures are deterministic");
        assert!(public.verify(domain, &message, &signature).is_ok());
    }
}
