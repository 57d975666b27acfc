//! Seeded randomness. One run seed is split into independent named streams (network, faults,
//! workload, each Byzantine node…), so that adding a draw in one component never shifts the
//! numbers another component sees: a seed keeps meaning the same scenario as the code evolves.

use keel_crypto::TaggedHasher;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The RNG every simulation component uses: ChaCha8, fast and identical on every platform.
pub type SimRng = ChaCha8Rng;

/// The stream named `name` (and `index`, for per-node streams) of run `seed`.
pub fn stream(seed: u64, name: &str, index: u64) -> SimRng {
    let digest = TaggedHasher::new("keel/sim-rng/v1")
        .chain(&seed.to_le_bytes())
        .chain(&index.to_le_bytes())
        .chain(name.as_bytes())
        .finish();
    SimRng::from_seed(*digest.as_bytes())
}

/// True with probability `ppm` parts per million. Integer arithmetic, so the same on every
/// platform.
pub fn chance_ppm(rng: &mut SimRng, ppm: u32) -> bool {
    debug_assert!(ppm <= 1_000_000, "a probability above one million ppm is a bug");
    ppm > 0 && rng.gen_range(0..1_000_000) < ppm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4).map(|_| stream(7, "network", 0).gen()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]), "same seed and name, same numbers");
        let x: u64 = stream(7, "network", 0).gen();
        assert_ne!(x, stream(7, "faults", 0).gen::<u64>());
        assert_ne!(x, stream(7, "network", 1).gen::<u64>());
        assert_ne!(x, stream(8, "network", 0).gen::<u64>());
    }

    #[test]
    fn chance_ppm_edges() {
        let mut rng = stream(1, "t", 0);
        assert!((0..1000).all(|_| !chance_ppm(&mut rng, 0)));
        assert!((0..1000).all(|_| chance_ppm(&mut rng, 1_000_000)));
        let hits = (0..100_000).filter(|_| chance_ppm(&mut rng, 100_000)).count();
        assert!((9_000..11_000).contains(&hits), "10% of 100k draws, got {hits}");
    }
}
