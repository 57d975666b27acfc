//! The CI sweep: 210 runs of 60 virtual seconds (10 seeds x 3 sizes x 7 behaviours), long
//! enough that liveness is checked in every one (faults end by 30 s; the bound is at most
//! 28 s), plus 70 shorter runs executing transfers (safety and state roots only), each drawing
//! its own faults, with fast consensus signatures (the protocol and schedule are the same as
//! with ed25519; see the simulation tests). Every run must hold every invariant, and a sample of
//! runs is repeated to audit determinism.

use keel_sims::fastsig::SignatureMode;
use keel_sims::report::RunReport;
use keel_sims::scenario::Behaviour;
use keel_sims::sim::run;
use keel_sims::sweep::{run_sweep, table, SweepPlan};

// One test per size, so that the test runner spreads them over the cores.
#[test]
fn swarm_sweep_of_four_validators() {
    sweep(4, 0..10, 60_000, false);
}

/// Executing transfers costs ten signature checks per block per validator, so the sweep that
/// also compares state roots is shorter: 70 more runs of 10 s, four validators, too short for
/// the liveness bound (they check safety and state roots).
#[test]
fn swarm_sweep_of_four_validators_executing_transfers() {
    sweep(4, 100..110, 10_000, true);
}

#[test]
fn swarm_sweep_of_seven_validators() {
    sweep(7, 0..10, 60_000, false);
}

#[test]
fn swarm_sweep_of_ten_validators() {
    sweep(10, 0..10, 60_000, false);
}

fn sweep(validators: usize, seeds: std::ops::Range<u64>, duration_ms: u64, ledger: bool) {
    let runs = (seeds.end - seeds.start) as usize * Behaviour::ALL.len();
    let plan = SweepPlan {
        seeds,
        validators: vec![validators],
        behaviours: Behaviour::ALL.to_vec(),
        duration_ms,
        signatures: SignatureMode::Fast,
        swarm: true,
        ledger,
    };
    let reports = run_sweep(&plan, |_, _, _| {});
    assert_eq!(reports.len(), runs);
    let failures: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("seed {} n={} {}: {:?}", r.seed, r.validators, r.behaviour, r.violations))
        .collect();
    assert!(failures.is_empty(), "{} failing runs:\n{}", failures.len(), failures.join("\n"));
    if duration_ms >= 60_000 {
        let unchecked: Vec<u64> = reports.iter().filter(|r| !r.liveness_checked).map(|r| r.seed).collect();
        assert!(unchecked.is_empty(), "liveness went unchecked for seeds {unchecked:?}");
    }
    let rows = table(&reports);
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|row| row.blocks_mean > 0), "{rows:?}");

    // Determinism audit: every 20th run again, byte for byte.
    for (options, first) in plan.runs().into_iter().zip(&reports).step_by(20) {
        let again = RunReport::new(&options, &run(options.clone()), first.wall_ms);
        assert_eq!(again.event_digest, first.event_digest, "seed {} is not deterministic", options.seed);
        assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(first).unwrap());
    }
}
