//! `keel bench`: runs the load generator (see [`crate::bench::load`]) with a progress line on
//! stderr, then prints the report.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bench::client::RpcClient;
use crate::bench::load::{self, LoadConfig, Progress};
use crate::cli::BenchArgs;

pub(super) fn run(args: &BenchArgs) -> Result<()> {
    let rpcs = args.rpc.iter().map(|url| RpcClient::new(url)).collect::<Result<Vec<_>, _>>()?;
    let config = LoadConfig {
        rpcs,
        accounts: args.accounts,
        rate: args.rate,
        duration: args.duration,
        drain: args.drain,
        opaque_bytes: args.opaque_bytes,
    };
    let progress = Arc::new(Progress::default());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let display = {
        let (progress, done, duration) = (progress.clone(), done.clone(), args.duration);
        std::thread::spawn(move || draw_progress(&progress, &done, duration))
    };
    let report = load::run(&config, progress);
    done.store(true, Ordering::Relaxed);
    let _ = display.join();
    let report = report.context("benchmark")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("submitted      {}", report.submitted);
    println!("accepted       {}", report.accepted);
    if !report.refused.is_empty() {
        println!("refused        {:?} (by RPC error code)", report.refused);
    }
    if report.failed_batches > 0 {
        println!("failed batches {}", report.failed_batches);
    }
    println!("committed      {} in {:.1} s = {:.0} tx/s", report.committed, report.span_s, report.committed_tps);
    println!(
        "latency        p50 {} ms  p95 {} ms  p99 {} ms (submit to commit seen)",
        report.latency_ms_p50, report.latency_ms_p95, report.latency_ms_p99
    );
    println!("heights        {} -> {}", report.heights.0, report.heights.1);
    Ok(())
}

fn draw_progress(progress: &Progress, done: &std::sync::atomic::AtomicBool, duration: Duration) {
    let start = Instant::now();
    let width = 30;
    while !done.load(Ordering::Relaxed) {
        let elapsed = start.elapsed();
        let filled = ((elapsed.as_secs_f64() / duration.as_secs_f64()).min(1.0) * width as f64) as usize;
        let submitted = progress.submitted.load(Ordering::Relaxed);
        let committed = progress.committed.load(Ordering::Relaxed);
        eprint!(
            "\r[{}{}] {:>4}s  submitted {submitted:>8}  committed {committed:>8}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            elapsed.as_secs()
        );
        let _ = std::io::stderr().flush();
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!();
}
