//! Sweeps: many seeds, across validator counts and behaviours, each seed drawing its own faults
//! (swarm testing). A sweep's table groups runs by (validators, behaviour); its charts plot
//! latency and throughput against the validator count.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::chart::{line_chart_svg, ChartLabels, Series};
use crate::fastsig::SignatureMode;
use crate::queue::VirtualMs;
use crate::report::RunReport;
use crate::scenario::{fault_tolerance, Behaviour, Scenario};
use crate::sim::{run, RunOptions};

/// What a sweep covers.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// Seeds to run, each once per (validators, behaviour).
    pub seeds: Range<u64>,
    /// Validator counts.
    pub validators: Vec<usize>,
    /// Behaviours; `honest` runs with no Byzantine validator, the others with f of them.
    pub behaviours: Vec<Behaviour>,
    /// Length of each run, virtual ms.
    pub duration_ms: VirtualMs,
    /// Signatures.
    pub signatures: SignatureMode,
    /// Draw faults from each seed (swarm); otherwise a calm network.
    pub swarm: bool,
    /// Execute signed transfers on every validator's ledger (see `RunOptions::ledger`).
    pub ledger: bool,
}

impl SweepPlan {
    /// The options of every run, in order: by seed, then validators, then behaviour.
    pub fn runs(&self) -> Vec<RunOptions> {
        let mut runs = Vec::new();
        for seed in self.seeds.clone() {
            for &validators in &self.validators {
                for &behaviour in &self.behaviours {
                    let byzantine = if behaviour == Behaviour::Honest { 0 } else { fault_tolerance(validators).max(1) };
                    let byzantine = byzantine.min(fault_tolerance(validators));
                    let scenario = if self.swarm {
                        Scenario::swarm(seed, validators, byzantine, behaviour, self.duration_ms)
                    } else {
                        Scenario::calm(validators, byzantine, behaviour, self.duration_ms)
                    };
                    let mut options = RunOptions::new(seed, scenario);
                    options.signatures = self.signatures;
                    options.ledger = self.ledger;
                    runs.push(options);
                }
            }
        }
        runs
    }
}

/// Runs every run of `plan`, calling `progress(done, total, report)` after each.
pub fn run_sweep(plan: &SweepPlan, mut progress: impl FnMut(usize, usize, &RunReport)) -> Vec<RunReport> {
    let runs = plan.runs();
    let total = runs.len();
    let mut reports = Vec::with_capacity(total);
    for (index, options) in runs.into_iter().enumerate() {
        let wall = std::time::Instant::now();
        let outcome = run(options.clone());
        let report = RunReport::new(&options, &outcome, wall.elapsed().as_millis() as u64);
        progress(index + 1, total, &report);
        reports.push(report);
    }
    reports
}

/// One row of the sweep table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SweepRow {
    /// Validators.
    pub validators: usize,
    /// Behaviour.
    pub behaviour: String,
    /// Runs.
    pub runs: usize,
    /// Runs with a violation.
    pub failed: usize,
    /// Mean committed blocks per run.
    pub blocks_mean: u64,
    /// Median of the runs' median commit latency, virtual ms.
    pub latency_ms_p50: u64,
    /// Median committed blocks per virtual second, in thousandths.
    pub blocks_per_s_milli: u64,
}

/// Groups `reports` by (validators, behaviour).
pub fn table(reports: &[RunReport]) -> Vec<SweepRow> {
    let mut groups: BTreeMap<(usize, String), Vec<&RunReport>> = BTreeMap::new();
    for report in reports {
        groups.entry((report.validators, report.behaviour.name().to_string())).or_default().push(report);
    }
    groups
        .into_iter()
        .map(|((validators, behaviour), runs)| {
            let mut latencies: Vec<u64> = runs.iter().map(|r| r.commit_latency_ms.p50).collect();
            let mut rates: Vec<u64> =
                runs.iter().map(|r| (r.committed_blocks * 1_000_000).checked_div(r.virtual_ms).unwrap_or(0)).collect();
            latencies.sort_unstable();
            rates.sort_unstable();
            SweepRow {
                validators,
                behaviour,
                runs: runs.len(),
                failed: runs.iter().filter(|r| !r.passed()).count(),
                blocks_mean: runs.iter().map(|r| r.committed_blocks).sum::<u64>() / runs.len() as u64,
                latency_ms_p50: latencies[latencies.len() / 2],
                blocks_per_s_milli: rates[rates.len() / 2],
            }
        })
        .collect()
}

/// The table as aligned text.
pub fn render_table(rows: &[SweepRow]) -> String {
    let mut text = format!(
        "{:>10}  {:<15} {:>5} {:>7} {:>11} {:>15} {:>13}\n",
        "validators", "behaviour", "runs", "failed", "blocks/run", "latency p50 ms", "blocks/s"
    );
    for row in rows {
        text += &format!(
            "{:>10}  {:<15} {:>5} {:>7} {:>11} {:>15} {:>9}.{:03}\n",
            row.validators,
            row.behaviour,
            row.runs,
            row.failed,
            row.blocks_mean,
            row.latency_ms_p50,
            row.blocks_per_s_milli / 1000,
            row.blocks_per_s_milli % 1000
        );
    }
    text
}

/// Two SVG charts against the validator count, one series per behaviour: median commit
/// latency, and committed blocks per virtual second.
pub fn charts(rows: &[SweepRow]) -> (String, String) {
    let mut latency: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    let mut throughput: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for row in rows {
        let x = row.validators as f64;
        latency.entry(&row.behaviour).or_default().push((x, row.latency_ms_p50 as f64));
        throughput.entry(&row.behaviour).or_default().push((x, row.blocks_per_s_milli as f64 / 1000.0));
    }
    let series = |map: BTreeMap<&str, Vec<(f64, f64)>>| -> Vec<Series> {
        map.into_iter().map(|(name, points)| Series { name: name.to_string(), points }).collect()
    };
    let latency_svg = line_chart_svg(
        &ChartLabels {
            title: "Commit latency (median of runs)".into(),
            x: "validators".into(),
            y: "virtual ms, proposal to first commit".into(),
        },
        &series(latency),
    );
    let throughput_svg = line_chart_svg(
        &ChartLabels {
            title: "Throughput (median of runs)".into(),
            x: "validators".into(),
            y: "committed blocks per virtual second".into(),
        },
        &series(throughput),
    );
    (latency_svg, throughput_svg)
}
