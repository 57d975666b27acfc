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

mod fuzz {
    //! Every byte a peer sends is adversarial: decoding arbitrary or mutated bytes never
    //! panics, and whatever decodes, fed to a running core, never panics it either.

    use proptest::prelude::*;

    use crate::testkit::Fixture;
    use crate::{BlockRequest, Core, Event, Message, RecoveryData, Round, Time};

    fn valid_messages(fx: &Fixture) -> Vec<Message> {
        let chain = fx.chain(3);
        let qc = fx.full_qc(&chain[1]);
        vec![
            Message::Proposal(fx.proposal(chain[2].clone())),
            Message::Vote(fx.vote(0, &chain[0])),
            Message::Timeout(fx.timeout_with_qc(1, Round(3), qc.clone())),
            Message::TimeoutCert(fx.tc(Round(3), &[0, 1, 2], &qc)),
            Message::BlockRequest(BlockRequest { id: chain[1].id(), count: 9 }),
            Message::BlockResponse(crate::BlockResponse { blocks: chain[..2].to_vec() }),
        ]
    }

    fn core(fx: &Fixture) -> Core {
        let recovery = RecoveryData::genesis(&fx.config.chain_id, &fx.validators);
        let mut core = Core::new(fx.config.clone(), fx.validators.clone(), Box::new(fx.scheme(3)), recovery);
        core.handle(Time::ZERO, Event::Start);
        core
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Message::decode(&bytes, 1 << 20);
        }

        #[test]
        fn mutated_messages_never_panic_decoder_or_core(
            which in 0usize..6,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            truncate in proptest::option::of(any::<usize>()),
        ) {
            let fx = Fixture::new(4);
            let mut bytes = valid_messages(&fx)[which].encode();
            for (position, mask) in flips {
                let index = position % bytes.len();
                bytes[index] ^= mask.max(1);
            }
            if let Some(cut) = truncate {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            if let Ok(message) = Message::decode(&bytes, fx.config.message_bytes_max) {
                let mut core = core(&fx);
                let _ = core.handle(Time(5), Event::Message { from: fx.key(1), message });
                let _ = core.handle(Time(2_000), Event::TimerFired { round: core.round() });
            }
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_decoding() {
        let fx = Fixture::new(4);
        let bytes = valid_messages(&fx)[0].encode();
        let limit = bytes.len() as u64 - 1;
        assert!(matches!(Message::decode(&bytes, limit), Err(crate::DecodeError::TooLarge { .. })));
        assert!(Message::decode(&bytes, limit + 1).is_ok(), "exactly at the limit is fine");
    }
}
