//! `keel-sim`: run one seeded simulation, or sweep over many.
//!
//! ```text
//! keel-sim run --validators 4 --byzantine 1 --behaviour equivocate --seed 7 --duration 60s [--swarm] [--json]
//! keel-sim sweep --seeds 0..100 --validators 4,7,10 --behaviours all [--chart-dir DIR] [--json]
//! ```
//!
//! Exit codes: 0 when every invariant held, 1 when a run violated one, 2 for bad input.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use keel_consensus::SafetyWeakening;
use keel_sims::fastsig::SignatureMode;
use keel_sims::network::{LinkProfile, Partition};
use keel_sims::report::RunReport;
use keel_sims::scenario::{Behaviour, Crash, Scenario};
use keel_sims::sim::{run, RunOptions};
use keel_sims::sweep::{charts, render_table, run_sweep, table, SweepPlan};

#[derive(Parser)]
#[command(name = "keel-sim", version, about = "Deterministic simulation of Keel validators under faults")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one simulation and check every invariant.
    Run(RunArgs),
    /// Run many seeds (swarm faults) across validator counts and behaviours.
    Sweep(SweepArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// How many of them are Byzantine (the highest indices).
    #[arg(long, default_value_t = 0)]
    byzantine: usize,
    /// What the Byzantine validators do: honest, silent, equivocate, double-vote, garbage,
    /// withhold-votes, twins.
    #[arg(long, default_value = "honest")]
    behaviour: Behaviour,
    /// The seed of every random choice in the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Virtual length of the run (e.g. 60s, 2min).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Draw loss, latency, partitions, crashes and skew from the seed (overrides the fault flags).
    #[arg(long)]
    swarm: bool,
    /// Fraction of messages lost before GST, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Fraction of messages duplicated before GST, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    duplicate_rate: f64,
    /// Link latency range in ms, MIN-MAX (reordering comes from the spread).
    #[arg(long, default_value = "5-20")]
    latency: String,
    /// Global stabilisation time: after it links are timely and lossless (e.g. 10s).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    gst: Duration,
    /// A partition START-END:NODES in ms, e.g. 1000-5000:0,1 (heals by GST); repeatable.
    #[arg(long)]
    partition: Vec<String>,
    /// A crash NODE@AT or NODE@AT-RESTART in ms, e.g. 2@3000-8000; repeatable.
    #[arg(long)]
    crash: Vec<String>,
    /// Each validator's clock offset is drawn from ±SKEW ms.
    #[arg(long, default_value_t = 0)]
    skew_ms: i64,
    /// Client transactions per block.
    #[arg(long, default_value_t = 10)]
    txs_per_block: u32,
    /// Consensus only: blocks carry opaque random bytes instead of signed transfers executed
    /// on every validator's ledger (state roots are then not compared).
    #[arg(long)]
    no_ledger: bool,
    /// Signatures: ed25519 (as deployed) or fast (keyed hashes, for large runs).
    #[arg(long, default_value = "ed25519", value_parser = parse_signatures)]
    signatures: SignatureMode,
    /// TEST ONLY: weaken a safety rule (ignore-lock, allow-double-vote) to see the checker fire.
    #[arg(long, value_parser = parse_weakening)]
    test_only_weaken: Option<SafetyWeakening>,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Print every event to stderr as it happens.
    #[arg(long)]
    trace: bool,
}

#[derive(Args)]
struct SweepArgs {
    /// Seeds, START..END (end exclusive).
    #[arg(long, default_value = "0..100")]
    seeds: String,
    /// Validator counts, comma-separated.
    #[arg(long, default_value = "4", value_delimiter = ',')]
    validators: Vec<usize>,
    /// Behaviours, comma-separated, or `all`.
    #[arg(long, default_value = "all")]
    behaviours: String,
    /// Virtual length of each run.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// A calm network instead of faults drawn from each seed.
    #[arg(long)]
    calm: bool,
    /// Consensus only: no ledger execution (faster; state roots not compared).
    #[arg(long)]
    no_ledger: bool,
    /// Signatures: ed25519 or fast.
    #[arg(long, default_value = "ed25519", value_parser = parse_signatures)]
    signatures: SignatureMode,
    /// Write latency.svg and throughput.svg into this directory.
    #[arg(long)]
    chart_dir: Option<std::path::PathBuf>,
    /// Print every report as one JSON line, and the table as JSON at the end.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_one(args),
        Command::Sweep(args) => sweep(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("keel-sim: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_one(args: RunArgs) -> Result<ExitCode, String> {
    let duration_ms = millis(args.duration);
    let scenario = if args.swarm {
        Scenario::swarm(args.seed, args.validators, args.byzantine, args.behaviour, duration_ms)
    } else {
        scenario_from_flags(&args, duration_ms)?
    };
    check_scenario(&scenario)?;
    let mut options = RunOptions::new(args.seed, scenario);
    options.signatures = args.signatures;
    options.txs_per_block = args.txs_per_block;
    options.weakening = args.test_only_weaken;
    options.trace_live = args.trace;
    options.ledger = !args.no_ledger;
    let wall = Instant::now();
    let outcome = run(options.clone());
    let report = RunReport::new(&options, &outcome, wall.elapsed().as_millis() as u64);
    if args.json {
        println!("{}", serde_json::to_string(&report).expect("reports serialise"));
    } else {
        print!("{}", report.summary());
    }
    if report.passed() {
        return Ok(ExitCode::SUCCESS);
    }
    if report.safety_violations > 0 {
        let index = outcome.events.saturating_sub(1);
        eprintln!("seed {}: the run stopped at event #{index}, the last one below", args.seed);
    } else {
        eprintln!("seed {}: liveness failed; the last events of the run:", args.seed);
    }
    eprintln!("the events before the end of the run:");
    for line in &outcome.trace {
        eprintln!("  {line}");
    }
    eprintln!("scenario: {}", serde_json::to_string(&report.scenario).expect("scenarios serialise"));
    eprintln!("replay with a full trace: {}", own_command_with_trace());
    Ok(ExitCode::from(1))
}

fn sweep(args: SweepArgs) -> Result<ExitCode, String> {
    let (start, end) = args.seeds.split_once("..").ok_or("--seeds takes START..END")?;
    let seeds = start.parse::<u64>().map_err(|e| format!("--seeds start: {e}"))?
        ..end.parse::<u64>().map_err(|e| format!("--seeds end: {e}"))?;
    let behaviours = if args.behaviours == "all" {
        Behaviour::ALL.to_vec()
    } else {
        args.behaviours.split(',').map(str::parse).collect::<Result<Vec<Behaviour>, String>>()?
    };
    if args.validators.iter().any(|&n| n == 0 || n > keel_consensus::VALIDATORS_MAX) {
        return Err(format!("--validators must be between 1 and {}", keel_consensus::VALIDATORS_MAX));
    }
    let plan = SweepPlan {
        seeds,
        validators: args.validators,
        behaviours,
        duration_ms: millis(args.duration),
        signatures: args.signatures,
        swarm: !args.calm,
        ledger: !args.no_ledger,
    };
    let interactive = std::io::stderr().is_terminal();
    let mut failures = Vec::new();
    let reports = run_sweep(&plan, |done, total, report| {
        if args.json {
            println!("{}", serde_json::to_string(report).expect("reports serialise"));
        }
        if !report.passed() {
            failures.push(report.clone());
        }
        progress_bar(done, total, failures.len(), interactive);
    });
    let rows = table(&reports);
    if args.json {
        println!("{}", serde_json::to_string(&rows).expect("rows serialise"));
    } else {
        print!("{}", render_table(&rows));
    }
    if let Some(dir) = &args.chart_dir {
        let (latency, throughput) = charts(&rows);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, svg) in [("latency.svg", latency), ("throughput.svg", throughput)] {
            let path = dir.join(name);
            std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    for report in &failures {
        eprintln!("seed {} FAILED: {}", report.seed, report.violations[0]);
        let mut options = RunOptions::new(report.seed, report.scenario.clone());
        options.signatures = plan.signatures;
        options.ledger = plan.ledger;
        eprintln!("  replay: {}", replay_command(&options, plan.swarm));
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn progress_bar(done: usize, total: usize, failed: usize, interactive: bool) {
    const WIDTH: usize = 30;
    let filled = done * WIDTH / total.max(1);
    let line = format!("[{}{}] {done}/{total} runs, {failed} failed", "#".repeat(filled), " ".repeat(WIDTH - filled));
    let mut stderr = std::io::stderr();
    if interactive {
        let _ = write!(stderr, "\r{line}");
        if done == total {
            let _ = writeln!(stderr);
        }
    } else if done == total || done % (total / 10).max(1) == 0 {
        let _ = writeln!(stderr, "{line}");
    }
}

/// This process's own command line (every flag of the run), with `--trace` added.
fn own_command_with_trace() -> String {
    let mut words: Vec<String> = std::env::args().skip(1).map(|word| shell_word(&word)).collect();
    if !words.iter().any(|word| word == "--trace") {
        words.push("--trace".into());
    }
    format!("keel-sim {}", words.join(" "))
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,:@/=".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The command line that replays one run of a sweep, with a full trace.
fn replay_command(options: &RunOptions, swarm: bool) -> String {
    let s = &options.scenario;
    let mut command = format!(
        "keel-sim run --validators {} --byzantine {} --behaviour {} --seed {} --duration {}ms --signatures {}",
        s.validators,
        s.byzantine,
        s.behaviour,
        options.seed,
        s.duration_ms,
        match options.signatures {
            SignatureMode::Ed25519 => "ed25519",
            SignatureMode::Fast => "fast",
        }
    );
    if swarm {
        command += " --swarm";
    }
    if !options.ledger {
        command += " --no-ledger";
    }
    command + " --trace"
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn check_scenario(scenario: &Scenario) -> Result<(), String> {
    if scenario.validators == 0 || scenario.validators > keel_consensus::VALIDATORS_MAX {
        return Err(format!("--validators must be between 1 and {}", keel_consensus::VALIDATORS_MAX));
    }
    if scenario.byzantine > scenario.validators {
        return Err("--byzantine cannot exceed --validators".into());
    }
    if (scenario.byzantine == 0) != (scenario.behaviour == Behaviour::Honest) {
        return Err("--behaviour honest goes with --byzantine 0, and every other behaviour with at least 1".into());
    }
    Ok(())
}

fn scenario_from_flags(args: &RunArgs, duration_ms: u64) -> Result<Scenario, String> {
    let mut scenario = Scenario::calm(args.validators, args.byzantine, args.behaviour, duration_ms);
    let (min, max) = args.latency.split_once('-').ok_or("--latency takes MIN-MAX in ms")?;
    let latency_ms_min: u64 = min.parse().map_err(|e| format!("--latency: {e}"))?;
    let latency_ms_max: u64 = max.parse().map_err(|e| format!("--latency: {e}"))?;
    if latency_ms_min > latency_ms_max {
        return Err("--latency: MIN is above MAX".into());
    }
    let gst_ms = millis(args.gst);
    let before_gst = LinkProfile {
        latency_ms_min,
        latency_ms_max,
        tail_ppm: 0,
        tail_ms_max: 0,
        drop_ppm: rate_ppm(args.drop_rate, "--drop-rate")?,
        duplicate_ppm: rate_ppm(args.duplicate_rate, "--duplicate-rate")?,
    };
    scenario.network.before_gst = before_gst;
    scenario.network.after_gst = LinkProfile::timely(latency_ms_min, latency_ms_max);
    scenario.network.gst_ms = gst_ms;
    for text in &args.partition {
        let partition = parse_partition(text, args.validators)?;
        if partition.end_ms > gst_ms {
            return Err(format!("--partition {text}: must heal by --gst ({gst_ms} ms)"));
        }
        scenario.network.partitions.push(partition);
    }
    for text in &args.crash {
        let crash = parse_crash(text, args.validators)?;
        scenario.crashes.push(crash);
    }
    let mut skew_rng = keel_sims::rng::stream(args.seed, "skew", 0);
    let skew = args.skew_ms.abs();
    scenario.clock_skew_ms = (0..args.validators).map(|_| rand::Rng::gen_range(&mut skew_rng, -skew..=skew)).collect();
    Ok(scenario)
}

fn rate_ppm(rate: f64, flag: &str) -> Result<u32, String> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{flag} must be between 0 and 1"));
    }
    Ok((rate * 1_000_000.0).round() as u32)
}

fn parse_partition(text: &str, validators: usize) -> Result<Partition, String> {
    let error = || format!("--partition {text}: expected START-END:NODE,NODE (ms)");
    let (times, nodes) = text.split_once(':').ok_or_else(error)?;
    let (start, end) = times.split_once('-').ok_or_else(error)?;
    let start_ms = start.parse().map_err(|_| error())?;
    let end_ms = end.parse().map_err(|_| error())?;
    let isolated = nodes.split(',').map(|n| n.parse::<usize>().map_err(|_| error())).collect::<Result<_, _>>()?;
    let partition = Partition { start_ms, end_ms, isolated };
    if partition.start_ms > partition.end_ms || partition.isolated.iter().any(|&n| n >= validators) {
        return Err(error());
    }
    Ok(partition)
}

fn parse_crash(text: &str, validators: usize) -> Result<Crash, String> {
    let error = || format!("--crash {text}: expected NODE@AT or NODE@AT-RESTART (ms)");
    let (node, times) = text.split_once('@').ok_or_else(error)?;
    let node: usize = node.parse().map_err(|_| error())?;
    let (at_ms, restart_ms) = match times.split_once('-') {
        Some((at, restart)) => (at.parse().map_err(|_| error())?, Some(restart.parse().map_err(|_| error())?)),
        None => (times.parse().map_err(|_| error())?, None),
    };
    if node >= validators || restart_ms.is_some_and(|r| r < at_ms) {
        return Err(error());
    }
    Ok(Crash { node, at_ms, restart_ms })
}

fn parse_signatures(text: &str) -> Result<SignatureMode, String> {
    match text {
        "ed25519" => Ok(SignatureMode::Ed25519),
        "fast" => Ok(SignatureMode::Fast),
        other => Err(format!("unknown signature mode {other:?}; expected ed25519 or fast")),
    }
}

fn parse_weakening(text: &str) -> Result<SafetyWeakening, String> {
    match text {
        "ignore-lock" => Ok(SafetyWeakening::IgnoreLock),
        "allow-double-vote" => Ok(SafetyWeakening::AllowDoubleVote),
        other => Err(format!("unknown weakening {other:?}; expected ignore-lock or allow-double-vote")),
    }
}
