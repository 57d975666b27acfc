//! Simulator speed, reported (never asserted):
//! 1. committed rounds per wall-second for n = 4 on a calm network with real ed25519;
//! 2. wall time of a 100-validator run of 1,000 rounds, with real ed25519 and with the fast
//!    keyed-hash signatures.
//!
//! `cargo bench -p keel-sims --bench sim_speed`. Test runners start this binary without
//! `--bench`; it then does nothing.

use std::time::Instant;

use keel_sims::fastsig::SignatureMode;
use keel_sims::report::RunReport;
use keel_sims::scenario::{Behaviour, Scenario};
use keel_sims::sim::{run, RunOptions};

fn measure(label: &str, options: RunOptions) -> RunReport {
    let wall = Instant::now();
    let outcome = run(options.clone());
    let report = RunReport::new(&options, &outcome, wall.elapsed().as_millis() as u64);
    let seconds = report.wall_ms.max(1) as f64 / 1000.0;
    println!(
        "{label:<44} {:>6} rounds {:>6} blocks in {:>8.2} s wall: {:>8.0} rounds/s ({} messages, violations {})",
        report.rounds,
        report.committed_blocks,
        seconds,
        report.rounds as f64 / seconds,
        report.messages,
        report.violations.len()
    );
    report
}

/// A calm run long enough for at least `rounds` rounds at LAN latency (5–20 ms links give
/// about 27.7 ms a round: 1,009 rounds in 28 s).
fn calm(validators: usize, rounds: u64, signatures: SignatureMode) -> RunOptions {
    let mut scenario = Scenario::calm(validators, 0, Behaviour::Honest, rounds * 28);
    scenario.network.before_gst = keel_sims::network::LinkProfile::timely(5, 20);
    let mut options = RunOptions::new(1, scenario);
    options.signatures = signatures;
    // Consensus speed: blocks carry opaque transactions, not executed transfers.
    options.ledger = false;
    options
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    measure("n=4, ed25519, calm", calm(4, 4_000, SignatureMode::Ed25519));
    measure("n=4, fast signatures, calm", calm(4, 4_000, SignatureMode::Fast));
    measure("n=100, ed25519, calm, ~1000 rounds", calm(100, 1_000, SignatureMode::Ed25519));
    measure("n=100, fast signatures, calm, ~1000 rounds", calm(100, 1_000, SignatureMode::Fast));
}
