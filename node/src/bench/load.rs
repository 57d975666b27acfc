//! The load generator: signed transfers between benchmark accounts at a fixed rate, submitted
//! over JSON-RPC in batches, with commit times read from the committed blocks.
//!
//! - **Sending**: every 10 ms the generator signs what the rate says is due (round-robin over
//!   the accounts, each with its own nonce sequence read from the chain at the start), and hands
//!   batches of at most [`BATCH_LEN`] to sender threads, which post them to the RPC endpoints in
//!   turn. A transaction's submit time is taken when it is handed over.
//! - **Watching**: a thread follows the first endpoint's committed height and reads every new
//!   block's transaction hashes; a submitted hash found there is committed, and its latency is
//!   commit-seen time minus submit time (the 50 ms poll adds up to 50 ms).
//! - **Report**: submitted, accepted and refused (by error code), committed, committed tx/s over
//!   the span from the first submission to the last commit, and latency percentiles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_crypto::{Address, Hash, Keypair};
use keel_ledger::{Payload, Transaction};
use serde::Serialize;
use serde_json::{json, Value};

use super::accounts::{bench_address, bench_keypair};
use super::client::{ClientError, RpcClient};

/// Transactions per JSON-RPC batch (the server's batch limit is 100).
pub const BATCH_LEN: usize = 100;
/// Threads posting batches.
const SENDER_THREADS: usize = 4;
/// Fee each transfer offers.
const FEE: u64 = 1;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The endpoints; batches go to them in turn, the first is watched for commits.
    pub rpcs: Vec<RpcClient>,
    /// Benchmark accounts to send from.
    pub accounts: u32,
    /// Transactions per second.
    pub rate: u64,
    /// How long to send.
    pub duration: Duration,
    /// How long to wait for outstanding commits after sending stops.
    pub drain: Duration,
    /// Send opaque transactions of this size instead of signed transfers (consensus-only
    /// benchmark; the network must run with `[mempool] opaque_transactions`).
    pub opaque_bytes: Option<usize>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Transactions signed and handed to senders.
    pub submitted: u64,
    /// Accepted by a node's mempool.
    pub accepted: u64,
    /// Refused by the RPC, by error code.
    pub refused: BTreeMap<i64, u64>,
    /// Batches that could not be delivered at all.
    pub failed_batches: u64,
    /// Seen in a committed block.
    pub committed: u64,
    /// Seconds from the first submission to the last commit seen.
    pub span_s: f64,
    /// `committed / span_s`.
    pub committed_tps: f64,
    /// Submit-to-commit latency percentiles, milliseconds.
    pub latency_ms_p50: u64,
    /// 95th percentile.
    pub latency_ms_p95: u64,
    /// 99th percentile.
    pub latency_ms_p99: u64,
    /// Committed height when sending started and when the run ended.
    pub heights: (u64, u64),
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Signed and handed over.
    pub submitted: AtomicU64,
    /// Seen committed.
    pub committed: AtomicU64,
}

struct Account {
    keypair: Keypair,
    next_nonce: u64,
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    refused: BTreeMap<i64, u64>,
    failed_batches: u64,
}

fn status_height(status: &Value) -> u64 {
    status.get("latest_height").and_then(Value::as_u64).unwrap_or(0)
}

/// Runs the load; `progress` is updated as it goes.
pub fn run(config: &LoadConfig, progress: Arc<Progress>) -> Result<LoadReport, ClientError> {
    let watcher_rpc = config.rpcs[0].clone();
    let status = watcher_rpc.call("keel_status", json!([]))?;
    let chain_id = status.get("chain_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let start_height = status_height(&status);
    let mut accounts = match config.opaque_bytes {
        Some(_) => Vec::new(),
        None => load_accounts(&watcher_rpc, &chain_id, config.accounts)?,
    };
    let recipients: Vec<Address> = (0..config.accounts).map(|i| bench_address(&chain_id, i)).collect();

    let submitted_at: Arc<Mutex<BTreeMap<Hash, Instant>>> = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let (batches, batch_receiver) = mpsc::sync_channel::<(Vec<Hash>, Vec<String>)>(64);
    let batch_receiver = Arc::new(Mutex::new(batch_receiver));
    let mut senders = Vec::new();
    for worker in 0..SENDER_THREADS {
        let (receiver, tally, submitted_at) = (batch_receiver.clone(), tally.clone(), submitted_at.clone());
        let rpcs = config.rpcs.clone();
        senders.push(std::thread::spawn(move || {
            let mut turn = worker;
            loop {
                let next = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((hashes, encoded)) = next else { return };
                let rpc = &rpcs[turn % rpcs.len()];
                turn += 1;
                let calls: Vec<(&str, Value)> =
                    encoded.iter().map(|tx| ("keel_sendTransaction", json!([tx]))).collect();
                let results = rpc.batch(&calls);
                let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
                let mut map = submitted_at.lock().unwrap_or_else(|p| p.into_inner());
                match results {
                    Ok(results) => {
                        for (hash, result) in hashes.iter().zip(results) {
                            match result {
                                Ok(_) => tally.accepted += 1,
                                Err(error) => {
                                    let code = if let ClientError::Rpc { code, .. } = error { code } else { 0 };
                                    *tally.refused.entry(code).or_default() += 1;
                                    map.remove(hash);
                                }
                            }
                        }
                    }
                    Err(_) => {
                        tally.failed_batches += 1;
                        for hash in &hashes {
                            map.remove(hash);
                        }
                    }
                }
            }
        }));
    }

    let sending = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (sending, submitted_at, progress) = (sending.clone(), submitted_at.clone(), progress.clone());
        let drain = config.drain;
        std::thread::spawn(move || watch_commits(&watcher_rpc, start_height, &sending, &submitted_at, &progress, drain))
    };

    let start = Instant::now();
    let mut generated: u64 = 0;
    let mut next_account = 0usize;
    while start.elapsed() < config.duration {
        let due = (config.rate as f64 * start.elapsed().as_secs_f64()) as u64;
        while generated < due {
            let count = (due - generated).min(BATCH_LEN as u64) as usize;
            let mut hashes = Vec::with_capacity(count);
            let mut encoded = Vec::with_capacity(count);
            let now = Instant::now();
            for _ in 0..count {
                if let Some(size) = config.opaque_bytes {
                    let bytes = opaque_transaction(generated + hashes.len() as u64, start_height, size);
                    hashes.push(keel_ledger::tx_hash(&bytes));
                    encoded.push(hex::encode(bytes));
                    continue;
                }
                let to = recipients[(next_account + 1) % recipients.len()];
                let account_count = accounts.len();
                let account = &mut accounts[next_account];
                next_account = (next_account + 1) % account_count;
                let tx = Transaction {
                    chain_id: chain_id.clone(),
                    sender: account.keypair.public(),
                    nonce: account.next_nonce,
                    fee: FEE,
                    payload: Payload::Transfer { to, amount: 1 },
                }
                .sign(&account.keypair);
                account.next_nonce += 1;
                hashes.push(tx.hash());
                encoded.push(hex::encode(tx.to_bytes()));
            }
            {
                let mut map = submitted_at.lock().unwrap_or_else(|p| p.into_inner());
                for hash in &hashes {
                    map.insert(*hash, now);
                }
            }
            generated += count as u64;
            progress.submitted.store(generated, Ordering::Relaxed);
            if batches.send((hashes, encoded)).is_err() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(batches);
    for sender in senders {
        let _ = sender.join();
    }
    sending.store(false, Ordering::Relaxed);
    let (latencies, last_commit, end_height) = watcher.join().expect("the watcher does not panic");

    let tally =
        Arc::try_unwrap(tally).ok().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).unwrap_or_default();
    let committed = latencies.len() as u64;
    let span_s = last_commit.map_or(0.0, |at| at.duration_since(start).as_secs_f64());
    let mut sorted = latencies;
    sorted.sort_unstable();
    let percentile = |p: f64| -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index]
    };
    Ok(LoadReport {
        submitted: generated,
        accepted: tally.accepted,
        refused: tally.refused,
        failed_batches: tally.failed_batches,
        committed,
        span_s,
        committed_tps: if span_s > 0.0 { committed as f64 / span_s } else { 0.0 },
        latency_ms_p50: percentile(0.50),
        latency_ms_p95: percentile(0.95),
        latency_ms_p99: percentile(0.99),
        heights: (start_height, end_height),
    })
}

/// Opaque transaction number `index` of a run: distinct bytes (the index and the run's start
/// height, then filler), so none is a duplicate of another run's.
fn opaque_transaction(index: u64, run: u64, size: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(size.max(16));
    bytes.extend_from_slice(&index.to_be_bytes());
    bytes.extend_from_slice(&run.to_be_bytes());
    bytes.resize(size.max(16), 0xA5);
    bytes
}

/// Reads each account's next nonce from the chain.
fn load_accounts(rpc: &RpcClient, chain_id: &str, count: u32) -> Result<Vec<Account>, ClientError> {
    let keypairs: Vec<Keypair> = (0..count).map(|i| bench_keypair(chain_id, i)).collect();
    let mut accounts = Vec::with_capacity(keypairs.len());
    for chunk in keypairs.chunks(BATCH_LEN) {
        let calls: Vec<(&str, Value)> = chunk
            .iter()
            .map(|k| ("keel_getAccount", json!([Address::from_public_key(&k.public()).to_string()])))
            .collect();
        for (keypair, result) in chunk.iter().zip(rpc.batch(&calls)?) {
            let account = result?;
            let balance = account.get("balance").and_then(Value::as_u64).unwrap_or(0);
            if balance == 0 {
                return Err(ClientError::Rpc {
                    code: 0,
                    message: format!(
                        "benchmark account {} has no balance: start the network with `keel testnet --bench-accounts {count}`",
                        Address::from_public_key(&keypair.public())
                    ),
                });
            }
            let next_nonce = account.get("nonce").and_then(Value::as_u64).unwrap_or(0);
            accounts.push(Account { keypair: keypair.clone(), next_nonce });
        }
    }
    Ok(accounts)
}

/// Follows committed blocks until sending stopped and every submission committed or the drain
/// time ran out. Returns the latencies (ms), when the last commit was seen, and the end height.
fn watch_commits(
    rpc: &RpcClient,
    start_height: u64,
    sending: &AtomicBool,
    submitted_at: &Mutex<BTreeMap<Hash, Instant>>,
    progress: &Progress,
    drain: Duration,
) -> (Vec<u64>, Option<Instant>, u64) {
    let mut latencies = Vec::new();
    let mut last_commit = None;
    let mut height = start_height;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        if !sending.load(Ordering::Relaxed) {
            let deadline = *drain_deadline.get_or_insert_with(|| Instant::now() + drain);
            let outstanding = submitted_at.lock().unwrap_or_else(|p| p.into_inner()).len();
            if outstanding == 0 || Instant::now() > deadline {
                return (latencies, last_commit, height);
            }
        }
        let latest = rpc.call("keel_status", json!([])).map(|s| status_height(&s)).unwrap_or(height);
        while height < latest {
            let Ok(block) = rpc.call("keel_getBlock", json!({ "height": height + 1 })) else { break };
            height += 1;
            let seen = Instant::now();
            let hashes = block.get("transaction_hashes").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut map = submitted_at.lock().unwrap_or_else(|p| p.into_inner());
            for hash in hashes.iter().filter_map(Value::as_str).filter_map(|h| h.parse::<Hash>().ok()) {
                if let Some(submitted) = map.remove(&hash) {
                    latencies.push(u64::try_from(seen.duration_since(submitted).as_millis()).unwrap_or(u64::MAX));
                    last_commit = Some(seen);
                }
            }
            progress.committed.store(latencies.len() as u64, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
