//! Whole simulations: determinism, every Byzantine behaviour within fault tolerance, and proof
//! that the checker fires when safety is really broken.

use keel_consensus::SafetyWeakening;
use keel_sims::checker::InvariantKind;
use keel_sims::fastsig::SignatureMode;
use keel_sims::network::Partition;
use keel_sims::report::RunReport;
use keel_sims::scenario::{Behaviour, Crash, Scenario};
use keel_sims::sim::{run, RunOptions};

fn report(options: &RunOptions) -> RunReport {
    RunReport::new(options, &run(options.clone()), 0)
}

/// Fast signatures, consensus only: most tests here are about the protocol.
fn fast(seed: u64, scenario: Scenario) -> RunOptions {
    let mut options = RunOptions::new(seed, scenario);
    options.signatures = SignatureMode::Fast;
    options.ledger = false;
    options
}

#[test]
fn the_same_seed_gives_byte_identical_output_and_another_seed_does_not() {
    let options = RunOptions::new(11, Scenario::swarm(11, 4, 1, Behaviour::Equivocate, 20_000));
    let first = serde_json::to_string(&report(&options)).unwrap();
    let second = serde_json::to_string(&report(&options)).unwrap();
    assert_eq!(first, second, "wall_ms is passed as 0, so every byte must match");
    let other = RunOptions::new(12, Scenario::swarm(12, 4, 1, Behaviour::Equivocate, 20_000));
    assert_ne!(report(&options).event_digest, report(&other).event_digest);
}

#[test]
fn a_calm_honest_network_commits_about_one_block_per_round_with_two_round_latency() {
    let report = report(&RunOptions::new(1, Scenario::calm(4, 0, Behaviour::Honest, 10_000)));
    assert!(report.passed(), "{}", report.summary());
    assert!(report.committed_blocks > 100, "{}", report.summary());
    assert_eq!(report.timeouts, 0);
    assert_eq!(report.commit_latency_rounds.p50, 2, "2-chain: a block commits two rounds after it is proposed");
    assert_eq!(report.committed_txs, report.committed_blocks * 10);
}

#[test]
fn every_behaviour_within_fault_tolerance_is_survived() {
    for behaviour in Behaviour::ALL.into_iter().filter(|b| *b != Behaviour::Honest) {
        for (n, f) in [(4, 1), (7, 2)] {
            let report = report(&fast(5, Scenario::calm(n, f, behaviour, 30_000)));
            assert!(report.passed(), "{behaviour} n={n}: {}", report.summary());
            assert!(report.liveness_checked && report.liveness_ok, "{behaviour} n={n}: 30 s outlasts the bound");
            assert!(report.committed_blocks >= 5, "{behaviour} n={n}: {}", report.summary());
            match behaviour {
                Behaviour::Equivocate | Behaviour::DoubleVote => {
                    assert!(report.evidence > 0, "{behaviour} n={n} must be caught: {}", report.summary())
                }
                Behaviour::Garbage => assert!(report.undecodable > 0),
                _ => {}
            }
        }
    }
}

#[test]
fn crashes_partitions_and_loss_before_gst_are_survived() {
    let mut scenario = Scenario::calm(7, 0, Behaviour::Honest, 40_000);
    scenario.network.before_gst.drop_ppm = 200_000;
    scenario.network.before_gst.duplicate_ppm = 50_000;
    scenario.network.before_gst.latency_ms_max = 200;
    scenario.network.gst_ms = 15_000;
    scenario.network.partitions.push(Partition { start_ms: 2_000, end_ms: 9_000, isolated: [0, 1, 2].into() });
    scenario.crashes.push(Crash { node: 4, at_ms: 1_000, restart_ms: Some(12_000) });
    scenario.crashes.push(Crash { node: 5, at_ms: 3_000, restart_ms: Some(5_000) });
    scenario.clock_skew_ms = vec![0, 300, -300, 1_000, -1_000, 0, 50];
    let report = report(&fast(3, scenario));
    assert!(report.passed(), "{}", report.summary());
    assert!(report.liveness_checked, "stable from 15 s of 40 s: longer than the 24 s bound");
    assert!(report.committed_blocks > 50, "{}", report.summary());
}

#[test]
fn validators_executing_real_transfers_agree_on_every_state_root_through_crashes_and_loss() {
    let mut scenario = Scenario::calm(4, 1, Behaviour::Equivocate, 15_000);
    scenario.network.before_gst.drop_ppm = 100_000;
    scenario.network.gst_ms = 6_000;
    scenario.crashes.push(Crash { node: 2, at_ms: 1_000, restart_ms: Some(5_000) });
    let mut options = RunOptions::new(8, scenario);
    options.ledger = true;
    let report = report(&options);
    assert!(report.passed(), "{}", report.summary());
    assert!(report.committed_txs > 100, "transfers took effect: {}", report.summary());
    assert!(
        report.committed_txs <= report.committed_blocks * 10,
        "only transfers that took effect count: {}",
        report.summary()
    );
}

#[test]
fn two_colluding_equivocators_of_four_are_caught_breaking_agreement() {
    // More than f: validators 2 and 3 each run two instances (one per fork) and so propose and
    // vote on both sides, while honest 0 and 1 cannot hear each other. Each side is a quorum.
    let mut scenario = Scenario::calm(4, 2, Behaviour::Twins, 20_000);
    scenario.network.gst_ms = 20_000;
    scenario.network.partitions.push(Partition { start_ms: 0, end_ms: 20_000, isolated: [0].into() });
    let report = report(&fast(1, scenario));
    assert!(!report.passed());
    assert!(report.violations.iter().any(|v| v.kind == InvariantKind::ConflictingCommit), "{}", report.summary());
}

#[test]
fn a_weakened_vote_rule_is_caught_as_a_double_vote() {
    let mut options = fast(2, Scenario::calm(4, 1, Behaviour::Equivocate, 20_000));
    options.weakening = Some(SafetyWeakening::AllowDoubleVote);
    let weakened = report(&options);
    assert!(weakened.violations.iter().any(|v| v.kind == InvariantKind::DoubleVote), "{}", weakened.summary());
    // The same run with the real rules holds.
    options.weakening = None;
    assert!(report(&options).passed());
}

#[test]
fn ed25519_and_fast_signatures_run_the_same_protocol() {
    let scenario = Scenario::calm(4, 1, Behaviour::Garbage, 10_000);
    let real = report(&RunOptions::new(4, scenario.clone()));
    let quick = report(&fast(4, scenario));
    assert!(real.passed() && quick.passed());
    assert_eq!(real.committed_blocks, quick.committed_blocks, "signatures never change the schedule");
}
