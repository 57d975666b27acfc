//! Property tests of signing, verification and batch verification.

use keel_crypto::{tagged_hash, verify_batch, Keypair, PublicKey, Signature, SignedMessage, SigningDomain};
use proptest::prelude::*;

fn domain() -> impl Strategy<Value = SigningDomain> {
    prop::sample::select(SigningDomain::ALL.to_vec())
}

fn flip_bit(bytes: &mut [u8], bit: usize) {
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sign_then_verify_round_trips(secret in any::<[u8; 32]>(), domain in domain(), message in prop::collection::vec(any::<u8>(), 0..300)) {
        let keypair = Keypair::from_secret_bytes(&secret);
        let signature = keypair.sign(domain, &message);
        prop_assert!(keypair.public().verify(domain, &message, &signature).is_ok());
    }

    #[test]
    fn any_flipped_message_bit_fails(secret in any::<[u8; 32]>(), domain in domain(), message in prop::collection::vec(any::<u8>(), 1..300), bit in any::<usize>()) {
        let keypair = Keypair::from_secret_bytes(&secret);
        let signature = keypair.sign(domain, &message);
        let mut tampered = message.clone();
        flip_bit(&mut tampered, bit);
        prop_assert!(keypair.public().verify(domain, &tampered, &signature).is_err());
    }

    #[test]
    fn any_flipped_signature_bit_fails(secret in any::<[u8; 32]>(), domain in domain(), message in prop::collection::vec(any::<u8>(), 0..300), bit in 0usize..512) {
        let keypair = Keypair::from_secret_bytes(&secret);
        let mut bytes = keypair.sign(domain, &message).to_bytes();
        flip_bit(&mut bytes, bit);
        prop_assert!(keypair.public().verify(domain, &message, &Signature::from_bytes(&bytes)).is_err());
    }

    #[test]
    fn any_flipped_key_bit_fails(secret in any::<[u8; 32]>(), domain in domain(), message in prop::collection::vec(any::<u8>(), 0..300), bit in 0usize..256) {
        let keypair = Keypair::from_secret_bytes(&secret);
        let signature = keypair.sign(domain, &message);
        let mut key_bytes = *keypair.public().as_bytes();
        flip_bit(&mut key_bytes, bit);
        // A flipped key is either not a valid point at all or a different key that must refuse.
        if let Ok(other) = PublicKey::from_bytes(&key_bytes) {
            prop_assert!(other.verify(domain, &message, &signature).is_err());
        }
    }

    #[test]
    fn domains_never_cross(secret in any::<[u8; 32]>(), signed_in in domain(), checked_in in domain(), message in prop::collection::vec(any::<u8>(), 0..100)) {
        prop_assume!(signed_in != checked_in);
        let keypair = Keypair::from_secret_bytes(&secret);
        let signature = keypair.sign(signed_in, &message);
        prop_assert!(keypair.public().verify(checked_in, &message, &signature).is_err());
    }

    #[test]
    fn tagged_hash_changes_with_any_bit(tag_index in 0usize..5, message in prop::collection::vec(any::<u8>(), 1..200), bit in any::<usize>()) {
        let tag = SigningDomain::ALL[tag_index].tag();
        let mut tampered = message.clone();
        flip_bit(&mut tampered, bit);
        prop_assert_ne!(tagged_hash(tag, &message), tagged_hash(tag, &tampered));
    }
}

/// How one entry of a random batch is spoiled, if at all.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    None,
    Message(usize),
    Signature(usize),
    WrongKey,
    WrongDomain,
}

fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        6 => Just(Spoil::None),
        1 => any::<usize>().prop_map(Spoil::Message),
        1 => (0usize..512).prop_map(Spoil::Signature),
        1 => Just(Spoil::WrongKey),
        1 => Just(Spoil::WrongDomain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn batch_names_exactly_the_signatures_single_verification_rejects(
        entries in prop::collection::vec((any::<[u8; 32]>(), domain(), prop::collection::vec(any::<u8>(), 1..64), spoil()), 0..40)
    ) {
        let mut keys = Vec::new();
        let mut messages = Vec::new();
        let mut signatures = Vec::new();
        let mut domains = Vec::new();
        for (secret, domain, message, spoil) in &entries {
            let keypair = Keypair::from_secret_bytes(secret);
            let mut signature = keypair.sign(*domain, message).to_bytes();
            let mut message = message.clone();
            let mut public = keypair.public();
            let mut domain = *domain;
            match *spoil {
                Spoil::None => {}
                Spoil::Message(bit) => flip_bit(&mut message, bit),
                Spoil::Signature(bit) => flip_bit(&mut signature, bit),
                Spoil::WrongKey => public = Keypair::from_secret_bytes(tagged_hash("other", secret).as_bytes()).public(),
                Spoil::WrongDomain => domain = if domain == SigningDomain::Vote { SigningDomain::Timeout } else { SigningDomain::Vote },
            }
            keys.push(public);
            messages.push(message);
            signatures.push(Signature::from_bytes(&signature));
            domains.push(domain);
        }
        let items: Vec<SignedMessage<'_>> = (0..entries.len())
            .map(|i| SignedMessage { domain: domains[i], message: &messages[i], public_key: &keys[i], signature: &signatures[i] })
            .collect();
        let expected: Vec<usize> = (0..items.len())
            .filter(|&i| keys[i].verify(domains[i], &messages[i], &signatures[i]).is_err())
            .collect();
        match verify_batch(&items) {
            Ok(()) => prop_assert!(expected.is_empty(), "batch passed but {:?} fail singly", expected),
            Err(failure) => prop_assert_eq!(failure.invalid, expected),
        }
    }
}

#[test]
fn batch_refuses_small_order_and_non_canonical_nonces_like_single_verification() {
    let keypair = Keypair::from_secret_bytes(&[5; 32]);
    let good = keypair.sign(SigningDomain::Vote, b"m");
    let mut identity_r = good.to_bytes();
    identity_r[..32].copy_from_slice(&{
        let mut r = [0u8; 32];
        r[0] = 1;
        r
    });
    let mut non_canonical_r = good.to_bytes();
    non_canonical_r[..32].copy_from_slice(&[0xff; 32]);
    let public = keypair.public();
    let signatures = [good, Signature::from_bytes(&identity_r), Signature::from_bytes(&non_canonical_r)];
    let items: Vec<SignedMessage<'_>> = signatures
        .iter()
        .map(|s| SignedMessage { domain: SigningDomain::Vote, message: b"m", public_key: &public, signature: s })
        .collect();
    for (i, signature) in signatures.iter().enumerate() {
        assert_eq!(public.verify(SigningDomain::Vote, b"m", signature).is_ok(), i == 0);
    }
    assert_eq!(verify_batch(&items).unwrap_err().invalid, vec![1, 2]);
}

#[test]
fn a_large_batch_with_one_bad_signature_names_it() {
    let keypairs: Vec<Keypair> = (0..64u8).map(|i| Keypair::from_secret_bytes(&[i; 32])).collect();
    let publics: Vec<PublicKey> = keypairs.iter().map(Keypair::public).collect();
    let messages: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 10]).collect();
    let mut signatures: Vec<Signature> =
        keypairs.iter().zip(&messages).map(|(k, m)| k.sign(SigningDomain::Transaction, m)).collect();
    signatures[37] = keypairs[36].sign(SigningDomain::Transaction, &messages[37]);
    let items: Vec<SignedMessage<'_>> = (0..64)
        .map(|i| SignedMessage {
            domain: SigningDomain::Transaction,
            message: &messages[i],
            public_key: &publics[i],
            signature: &signatures[i],
        })
        .collect();
    assert_eq!(verify_batch(&items).unwrap_err().invalid, vec![37]);
    assert!(verify_batch(&items[..37]).is_ok());
}
