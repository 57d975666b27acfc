//! What a run reports: the `--json` object of `keel-sim run`, and the metrics researchers
//! compare protocols by. Every figure is virtual (rounds, virtual ms, messages) except `wall_ms`,
//! which is kept out of the determinism digest so that identical runs print identical digests.

use serde::Serialize;

use crate::checker::{InvariantKind, Violation};
use crate::scenario::{Behaviour, Scenario};
use crate::sim::{Outcome, RunOptions};

/// Commit latency of one block: from its proposal to its commit at the first honest node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitLatency {
    /// Rounds between the block's round and the round in which it committed.
    pub rounds: u64,
    /// Virtual ms between the proposal and the commit.
    pub virtual_ms: u64,
}

/// Percentiles of a sample, by nearest rank on the sorted values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// Percentiles of `values` (which it sorts); all zero for an empty sample.
    pub fn of(values: &mut [u64]) -> Self {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        let rank = |percent: usize| values[((values.len() * percent).div_ceil(100)).max(1) - 1];
        Percentiles { p50: rank(50), p95: rank(95), p99: rank(99), max: values[values.len() - 1] }
    }
}

/// The result of one run: `keel-sim run --json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// Number of validators.
    pub validators: usize,
    /// How many were Byzantine.
    pub byzantine: usize,
    /// What they did.
    pub behaviour: Behaviour,
    /// Blocks committed by the honest node that committed most.
    pub committed_blocks: u64,
    /// Transactions in those blocks.
    pub committed_txs: u64,
    /// Number of invariant violations.
    pub safety_violations: usize,
    /// Whether the liveness check passed (true also when it did not apply; see
    /// `liveness_checked`).
    pub liveness_ok: bool,
    /// Whether liveness was checked: at most f faulty, and stable for longer than the bound.
    pub liveness_checked: bool,
    /// Virtual length of the run.
    pub virtual_ms: u64,
    /// Wall-clock length of the run (not part of the digest).
    pub wall_ms: u64,
    /// Messages delivered.
    pub messages: u64,
    /// Bytes delivered.
    pub message_bytes: u64,
    /// Highest round any honest node reached.
    pub rounds: u64,
    /// Commit latency in rounds.
    pub commit_latency_rounds: Percentiles,
    /// Commit latency in virtual ms.
    pub commit_latency_ms: Percentiles,
    /// Committed blocks per round reached.
    pub blocks_per_round_permille: u64,
    /// Timeouts signed by honest nodes.
    pub timeouts: u64,
    /// Timeout certificates formed.
    pub timeout_certificates: u64,
    /// Equivocation evidence reported by honest validators.
    pub evidence: u64,
    /// Frames received that did not decode.
    pub undecodable: u64,
    /// Messages delivered per committed block.
    pub messages_per_block: u64,
    /// Bytes delivered per committed block.
    pub bytes_per_block: u64,
    /// Events processed.
    pub events: u64,
    /// Hash of the whole event sequence, hex: equal for equal runs.
    pub event_digest: String,
    /// Every violation found.
    pub violations: Vec<Violation>,
    /// The scenario the seed drew (or the flags gave).
    pub scenario: Scenario,
}

impl RunReport {
    /// The report of a finished run. `wall_ms` is measured by the caller (the only figure that
    /// is not a function of the options).
    pub fn new(options: &RunOptions, outcome: &Outcome, wall_ms: u64) -> Self {
        let counters = &outcome.counters;
        let committed_blocks = outcome.checker.committed_height_max();
        let mut latency_rounds: Vec<u64> = counters.commit_latency.iter().map(|l| l.0).collect();
        let mut latency_ms: Vec<u64> = counters.commit_latency.iter().map(|l| l.1).collect();
        let violations = outcome.violations().to_vec();
        let safety_violations = violations.iter().filter(|v| v.kind != InvariantKind::NoProgress).count();
        let liveness_ok = !violations.iter().any(|v| v.kind == InvariantKind::NoProgress);
        let per_block = |total: u64| total.checked_div(committed_blocks).unwrap_or(0);
        RunReport {
            seed: options.seed,
            validators: options.scenario.validators,
            byzantine: options.scenario.byzantine,
            behaviour: options.scenario.behaviour,
            committed_blocks,
            committed_txs: counters.committed_txs,
            safety_violations,
            liveness_ok,
            liveness_checked: outcome.liveness_checked,
            virtual_ms: outcome.end_ms,
            wall_ms,
            messages: counters.messages,
            message_bytes: counters.message_bytes,
            rounds: counters.round_max,
            commit_latency_rounds: Percentiles::of(&mut latency_rounds),
            commit_latency_ms: Percentiles::of(&mut latency_ms),
            blocks_per_round_permille: (committed_blocks * 1000).checked_div(counters.round_max).unwrap_or(0),
            timeouts: counters.timeouts,
            timeout_certificates: counters.tc_rounds.len() as u64,
            evidence: counters.evidence,
            undecodable: counters.undecodable,
            messages_per_block: per_block(counters.messages),
            bytes_per_block: per_block(counters.message_bytes),
            events: outcome.events,
            event_digest: outcome.digest.to_string(),
            violations,
            scenario: options.scenario.clone(),
        }
    }

    /// Whether the run found nothing wrong.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// A short human-readable summary, a few lines.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "seed {} | {} validators, {} {} | {} blocks, {} txs in {} virtual ms ({} rounds, {} timeouts, {} TCs)\n",
            self.seed,
            self.validators,
            self.byzantine,
            self.behaviour,
            self.committed_blocks,
            self.committed_txs,
            self.virtual_ms,
            self.rounds,
            self.timeouts,
            self.timeout_certificates,
        );
        text += &format!(
            "commit latency p50/p99: {}/{} rounds, {}/{} ms | {} messages, {} per block | wall {} ms\n",
            self.commit_latency_rounds.p50,
            self.commit_latency_rounds.p99,
            self.commit_latency_ms.p50,
            self.commit_latency_ms.p99,
            self.messages,
            self.messages_per_block,
            self.wall_ms,
        );
        text += &format!("events {} digest {}\n", self.events, self.event_digest);
        if self.passed() {
            let liveness = if self.liveness_checked { "checked" } else { "not checked (see docs)" };
            text += &format!("invariants: all held; liveness {liveness}\n");
        }
        for violation in &self.violations {
            text += &format!("VIOLATION {violation}\n");
        }
        text
    }
}
