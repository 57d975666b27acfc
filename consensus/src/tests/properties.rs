//! Random schedules: proptest draws a seed, a network size, loss and duplication rates and a
//! crash schedule; the in-memory network delivers in a seeded random order. Whatever the
//! schedule, the harness's checks (agreement, in-order commits, one vote per round across
//! restarts, monotone locks, persist-before-send) must hold; after the chaos ends the nodes
//! must commit again.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::harness::{Chaos, Net};

const STEPS_MAX: u64 = 60_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn safety_holds_and_liveness_returns_under_random_schedules(
        seed in any::<u64>(),
        seven in any::<bool>(),
        drop_ppm in 0u32..150_000,
        duplicate_ppm in 0u32..100_000,
        crash_node in proptest::option::of(0usize..4),
        chaos_steps in 500u64..5_000,
    ) {
        let n = if seven { 7 } else { 4 };
        let mut net = Net::new(n, |_| {});
        net.chaos = Some(Chaos { rng: ChaCha8Rng::seed_from_u64(seed), drop_ppm, duplicate_ppm });
        for _ in 0..chaos_steps {
            if !net.step() {
                break;
            }
        }
        if let Some(node) = crash_node {
            net.crash(node);
            for _ in 0..chaos_steps {
                if !net.step() {
                    break;
                }
            }
            net.start(node);
        }
        prop_assert!(net.violations.is_empty(), "{:?}", net.violations);

        // The network heals: in-order delivery, no loss. Everyone must commit more.
        net.chaos = None;
        let before: Vec<usize> = (0..n).map(|node| net.commits[node].len()).collect();
        let progressed = net.run_until(STEPS_MAX, |net| (0..n).all(|node| net.commits[node].len() >= before[node] + 3));
        prop_assert!(progressed, "no progress after healing; commits {:?} -> {:?}",
            before, (0..n).map(|node| net.commits[node].len()).collect::<Vec<_>>());
        prop_assert!(net.violations.is_empty(), "{:?}", net.violations);
        for node in 1..n {
            let shared = net.commits[0].len().min(net.commits[node].len());
            prop_assert_eq!(&net.commits[0][..shared], &net.commits[node][..shared]);
        }
    }
}
