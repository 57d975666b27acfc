//! Benchmark accounts: keys derived from the chain id and an index, so that `keel testnet`
//! can fund them and `keel bench` can sign for them without sharing files.
//!
//! The secret key of account `i` is `tagged_hash("keel/bench-account/v1", chain_id ‖ i as u32 BE)`.
//! Anyone who knows the chain id knows these keys: they exist for local benchmarks only and must
//! never be funded on a network that matters.

use keel_crypto::{tagged_hash, Address, Keypair};

/// Balance `keel testnet --bench-accounts` gives each account.
pub const BENCH_ACCOUNT_BALANCE: u64 = 1_000_000_000_000;

/// The keypair of benchmark account `index` on `chain_id`.
pub fn bench_keypair(chain_id: &str, index: u32) -> Keypair {
    let mut seed = chain_id.as_bytes().to_vec();
    seed.extend_from_slice(&index.to_be_bytes());
    Keypair::from_secret_bytes(tagged_hash("keel/bench-account/v1", &seed).as_bytes())
}

/// The address of benchmark account `index` on `chain_id`.
pub fn bench_address(chain_id: &str, index: u32) -> Address {
    Address::from_public_key(&bench_keypair(chain_id, index).public())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_by_chain_and_index() {
        assert_eq!(bench_address("a", 0), bench_address("a", 0));
        assert_ne!(bench_address("a", 0), bench_address("a", 1));
        assert_ne!(bench_address("a", 0), bench_address("b", 0));
    }
}
