//! Ledger execution throughput on the node's RocksDB store (or the in-memory one):
//! `cargo bench -p keel-node --bench ledger_execute`.
//!
//! For each (accounts, block size) it commits `KEEL_BENCH_WARMUP` blocks (default 3, to fill the
//! caches as a running node's are), then `KEEL_BENCH_MEASURED` blocks (default 30, enough for the
//! memtable flushes a sustained load brings, and at least enough for two runs of the transaction
//! index, which the ledger writes every 65,536 entries: 132 blocks of 1,000 transfers) and reports transfers/s by the wall clock, from the
//! first measured block until the last one is in the store, three times on fresh stores: with
//! each block's signatures checked (2 threads, the fixed 512-entry batches) while the block before
//! executes, as the node runs a run of committed blocks (catching up, re-executing after a
//! restart); checked just before the block executes, as for a commit of a single block; and
//! verified ahead (as the node's mempool does on admission). Each block has `block size` senders
//! sending their next nonce to recipients drawn from all accounts; blocks run as the node runs
//! them: check, execute, commit, the store writing a block while the next one executes. Per block
//! it also prints where the execution thread's time went: signature checks (waiting for them,
//! when they run beside the block before), reading the block's accounts ahead
//! (`Ledger::prefetch`), the transfer rules, the tree update, and the commit; the store writer's
//! time; and the CPU time the whole process used (all threads, RocksDB's flushes and compactions
//! included), which varies less than the wall clock on a shared machine.
//! `KEEL_BENCH_ACCOUNTS=100000,1000000` and `KEEL_BENCH_BLOCKS=1000,10000` choose the sizes,
//! `KEEL_BENCH_CACHES=cold` reopens the ledger after genesis so that its caches start empty, as
//! after a restart (by default they hold the genesis state, as in a node running since genesis),
//! `KEEL_BENCH_SENDERS=repeat|fresh` whether blocks reuse their senders (default) or bring new
//! ones, `KEEL_BENCH_STORE=rocksdb|rocksdb-sync|memory` the store (default rocksdb, write-behind
//! as the node runs it, in a temporary directory; `rocksdb-sync` writes each block before the
//! next executes), `KEEL_BENCH_ONLY=with-signatures|with-signatures-inline|pre-verified` one of
//! the three runs, and `KEEL_BENCH_VERSIONS_KEPT`, `KEEL_BENCH_PRUNE_INTERVAL` and
//! `KEEL_BENCH_VALUES_CACHED` the ledger's `versions_kept_max` (default 1,000: pruning starts
//! after block 1,000), `prune_interval` and `values_cached_max`; `KEEL_BENCH_TREE_THREADS` the
//! ledger's `tree_threads` (default 2, as the node runs it); `KEEL_BENCH_RUNS=n` measures each
//! of the three n times, in turns, and reports the median run and the range (the machine's
//! speed drifts by a fifth within an hour: one run says little).
//! It lives in node/ because the RocksDB store does; the ledger itself is the same code.
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock; the library never does

use std::cell::Cell;
use std::time::{Duration, Instant};

use keel_crypto::{tagged_hash, Address, Hash, Keypair};
use keel_genesis::{ConsensusParams, GenesisBuilder};
use keel_ledger::{
    check_block, execute_block, BlockContext, CheckedBlock, Height, KvStore, Ledger, LedgerConfig, LedgerError, MemKv,
    Payload, ReasonCode, StateKey, StateView, StateWrites, Transaction, WriteBatch,
};
use keel_node::storage::{Database, RocksKv};

/// The node binary's allocator, so that the figures are the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Blocks committed before measuring, so that the state cache holds what a running node's would
/// (`KEEL_BENCH_WARMUP` overrides; 0 measures a node just opened).
const BLOCKS_WARMUP: usize = 3;
/// Fewest blocks measured (`KEEL_BENCH_MEASURED` overrides; more blocks include the flushes and
/// compactions a sustained load brings).
const BLOCKS_MEASURED_MIN: usize = 30;
/// Runs of the transaction index the measured blocks include at least (by default): the ledger
/// writes its index entries together every `tx_index_run_entries`, and a measurement of small
/// blocks that stopped before the first run would leave that work out.
const TX_INDEX_RUNS_MEASURED: usize = 2;

struct TimedView<'a, V> {
    inner: &'a V,
    tree: Cell<Duration>,
}

impl<V: StateView> StateView for TimedView<'_, V> {
    fn height(&self) -> Height {
        self.inner.height()
    }
    fn root(&self) -> Hash {
        self.inner.root()
    }
    fn read(&self, key: &StateKey) -> Result<Option<Vec<u8>>, LedgerError> {
        self.inner.read(key)
    }
    fn apply(&self, writes: &StateWrites) -> Result<(Hash, WriteBatch), LedgerError> {
        let start = Instant::now();
        let result = self.inner.apply(writes);
        self.tree.set(self.tree.get() + start.elapsed());
        result
    }
}

/// xorshift: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn secret(i: usize) -> Hash {
    tagged_hash("keel/bench-key/v1", &(i as u64).to_le_bytes())
}

#[derive(Default, Clone, Copy)]
struct Times {
    sig: Duration,
    reads: Duration,
    rules: Duration,
    tree: Duration,
    commit: Duration,
    /// Time the store spent writing (on its writer thread when it writes behind).
    store: Duration,
    wall: Duration,
    /// CPU time the whole process used (every thread, RocksDB's included): on a shared machine
    /// it varies less than the wall clock, which makes it the better figure for comparing two
    /// builds.
    cpu: Duration,
}

/// CPU time this process has used so far (user and system, all threads).
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let micros = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// Whether blocks arrive with their signatures unchecked or checked already (a mempool verified
/// them on admission). Unchecked blocks are checked either while the block before executes, as
/// the node does in a run of committed blocks (catching up, re-executing after a restart, a
/// commit of several blocks), or just before the block executes, as for a commit of one block.
#[derive(Clone, Copy, PartialEq)]
enum Signatures {
    Checked,
    Inline,
    PreVerified,
}

/// The bench's blocks: every transfer signed, in block order.
fn blocks(
    senders: &[Keypair],
    addresses: &[Address],
    block_len: usize,
    count: usize,
    fresh: bool,
) -> Vec<Vec<Vec<u8>>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|block| {
            (0..block_len)
                .map(|i| {
                    let sender = if fresh { &senders[block * block_len + i] } else { &senders[i] };
                    let to = addresses[rng.below(addresses.len())];
                    Transaction {
                        chain_id: "keel-bench".into(),
                        sender: sender.public(),
                        nonce: if fresh { 0 } else { block as u64 },
                        fee: 1,
                        payload: Payload::Transfer { to, amount: 10 },
                    }
                    .sign(sender)
                    .to_bytes()
                })
                .collect()
        })
        .collect()
}

/// Commits `blocks` on a new ledger in `kv` and times the measured ones (after `warmup`): each
/// block's signature checks (when `signatures` is `Checked`), execution and commit one after the
/// other, as the node runs them; `flush` waits for the store's writes (write-behind) and tells
/// how long the store has spent writing so far, and the wall time runs until the last block is
/// in the store.
fn run<K: KvStore + Clone>(
    kv: K,
    flush: impl Fn(&K) -> Duration,
    genesis: &keel_genesis::Genesis,
    proposer: &Keypair,
    blocks: &[Vec<Vec<u8>>],
    warmup: usize,
    signatures: Signatures,
) -> Times {
    let tree_threads = std::env::var("KEEL_BENCH_TREE_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let mut config = LedgerConfig { signature_threads: 2, tree_threads, ..Default::default() };
    if let Some(&kept) = sizes("KEEL_BENCH_VERSIONS_KEPT", &[]).first() {
        config.versions_kept_max = kept as u64;
    }
    if let Some(&interval) = sizes("KEEL_BENCH_PRUNE_INTERVAL", &[]).first() {
        config.prune_interval = interval as u64;
    }
    if let Some(&values) = sizes("KEEL_BENCH_VALUES_CACHED", &[]).first() {
        config.values_cached_max = values;
    }
    let mut ledger = Ledger::open(kv, genesis, config.clone()).expect("open");
    if std::env::var("KEEL_BENCH_CACHES").is_ok_and(|caches| caches == "cold") {
        // Opened again on the same store: the caches start empty, as after a restart.
        flush(ledger.kv());
        let kv = ledger.kv().clone();
        drop(ledger);
        ledger = Ledger::open(kv, genesis, config).expect("reopen");
    }
    let rules = ledger.rules().clone();
    let check = |txs: &Vec<Vec<u8>>| check_block(txs, &rules, 2).expect("block within limits");
    let checked_ahead: Vec<Option<CheckedBlock>> =
        blocks.iter().map(|txs| (signatures == Signatures::PreVerified).then(|| check(txs))).collect();
    let mut times = Times::default();
    let mut measuring_since = Instant::now();
    let mut store_before = Duration::ZERO;
    let mut cpu_before = Duration::ZERO;
    std::thread::scope(|scope| {
        // With `Checked` each block is checked while the one before executes, as the node runs a
        // run of committed blocks; `Inline` checks it just before it executes.
        let mut next = None;
        for (index, (txs, checked_ahead)) in blocks.iter().zip(checked_ahead).enumerate() {
            if index == warmup {
                store_before = flush(ledger.kv());
                cpu_before = process_cpu();
                times = Times::default();
                measuring_since = Instant::now();
            }
            let context = BlockContext { height: Height(index as u64 + 1), proposer: proposer.public() };
            let start = Instant::now();
            let checked = match (checked_ahead, next.take()) {
                (Some(checked), _) => checked,
                (None, Some(checking)) => {
                    std::thread::ScopedJoinHandle::join(checking).expect("checking a block never panics")
                }
                (None, None) => check(txs),
            };
            times.sig += start.elapsed();
            if signatures == Signatures::Checked {
                let check = &check;
                next = blocks.get(index + 1).map(|txs| scope.spawn(move || check(txs)));
            }

            let start = Instant::now();
            let prefetched = ledger.prefetch(&checked).expect("prefetch");
            times.reads += start.elapsed();

            let start = Instant::now();
            let view = ledger.view_prefetched(&prefetched);
            let timed = TimedView { inner: &view, tree: Cell::new(Duration::ZERO) };
            let outcome = execute_block(&timed, &checked, &context).expect("execute");
            let exec = start.elapsed();
            times.tree += timed.tree.get();
            times.rules += exec - timed.tree.get();
            assert!(outcome.receipts.iter().all(|r| r.code == ReasonCode::Ok), "every bench transfer applies");

            let start = Instant::now();
            ledger.commit(outcome).expect("commit");
            times.commit += start.elapsed();
        }
    });
    let written = flush(ledger.kv());
    times.wall = measuring_since.elapsed();
    times.store = written.saturating_sub(store_before);
    times.cpu = process_cpu().saturating_sub(cpu_before);
    times
}

fn bench<K: KvStore + Clone>(
    new_store: impl Fn() -> K,
    flush: impl Fn(&K) -> Duration + Copy,
    store: &str,
    accounts: usize,
    block_len: usize,
) {
    let setup = Instant::now();
    // Only the senders need keys; the other accounts are funded addresses. By default each block
    // has the same `block_len` senders, each sending its next nonce; with KEEL_BENCH_SENDERS=fresh
    // every block has senders never seen before (nothing about them is cached). Recipients are
    // drawn from all accounts.
    let warmup = sizes("KEEL_BENCH_WARMUP", &[BLOCKS_WARMUP])[0];
    let index_runs = (TX_INDEX_RUNS_MEASURED * LedgerConfig::default().tx_index_run_entries).div_ceil(block_len);
    let measured = sizes("KEEL_BENCH_MEASURED", &[BLOCKS_MEASURED_MIN.max(index_runs)])[0];
    let fresh = std::env::var("KEEL_BENCH_SENDERS").is_ok_and(|mode| mode == "fresh");
    let sender_count = if fresh { block_len * (warmup + measured) } else { block_len };
    let senders: Vec<Keypair> = (0..sender_count).map(|i| Keypair::from_secret_bytes(secret(i).as_bytes())).collect();
    let mut addresses: Vec<Address> = senders.iter().map(|k| Address::from_public_key(&k.public())).collect();
    addresses.extend((senders.len()..accounts).map(|i| Address::from_bytes(*secret(i).as_bytes())));
    addresses.truncate(accounts.max(senders.len()));
    let params = ConsensusParams { block_txs_max: 100_000, block_bytes_max: 64 << 20, ..Default::default() };
    let mut builder = GenesisBuilder::new("keel-bench", 1_700_000_000_000)
        .validator("v0", &senders[0].public(), "127.0.0.1:1", 1)
        .consensus(params);
    for address in &addresses {
        builder = builder.account(address, 1_000_000);
    }
    let genesis = builder.build().expect("bench genesis is valid");
    let blocks = blocks(&senders, &addresses, block_len, warmup + measured, fresh);
    eprintln!("  setup ({} accounts, {} blocks): {:.1}s", addresses.len(), blocks.len(), setup.elapsed().as_secs_f64());

    // KEEL_BENCH_ONLY=with-signatures, with-signatures-inline or pre-verified runs one of the
    // three (for profiling). KEEL_BENCH_RUNS=n measures each n times, in turns (with, inline,
    // pre-verified, with, ...: the machine's drift falls on all three alike), and reports the
    // median run (by wall time; of an even count, the slower of the two middle ones) and the range.
    let only = std::env::var("KEEL_BENCH_ONLY").unwrap_or_default();
    let runs = sizes("KEEL_BENCH_RUNS", &[1])[0].max(1);
    let modes = [
        (Signatures::Checked, "with-signatures"),
        (Signatures::Inline, "with-signatures-inline"),
        (Signatures::PreVerified, "pre-verified"),
    ];
    let mut measured_runs: [Vec<Times>; 3] = Default::default();
    for _ in 0..runs {
        for ((signatures, name), times) in modes.iter().zip(&mut measured_runs) {
            if only.is_empty() || only == *name {
                times.push(run(new_store(), flush, &genesis, &senders[0], &blocks, warmup, *signatures));
            }
        }
    }
    for times in &mut measured_runs {
        times.sort_by_key(|t| t.wall);
    }
    let median = |times: &[Times]| times.get(times.len() / 2).copied();
    let [with, inline, pre] = [0, 1, 2].map(|mode| median(&measured_runs[mode]));
    let n = (block_len * measured) as f64;
    // A run left out (KEEL_BENCH_ONLY) prints as "-".
    let rate =
        |times: &Option<Times>| times.as_ref().map_or("-".to_owned(), |t| format!("{:.0}", n / t.wall.as_secs_f64()));
    let store = if fresh { format!("{store}, fresh senders") } else { store.to_owned() };
    println!(
        "{store:>7} accounts {:>9} block {:>6}: with signatures {:>8} tx/s (checked inline {:>6}), \
         pre-verified {:>8} tx/s",
        addresses.len(),
        block_len,
        rate(&with),
        rate(&inline),
        rate(&pre),
    );
    if runs > 1 {
        // Sorted by wall time: the first run is the fastest.
        let range = |times: &[Times]| match (times.first(), times.last()) {
            (Some(fastest), Some(slowest)) => {
                format!("{:.0}-{:.0}", n / slowest.wall.as_secs_f64(), n / fastest.wall.as_secs_f64())
            }
            _ => "-".to_owned(),
        };
        println!(
            "{:>44} median of {runs} runs; range with signatures {}, checked inline {}, pre-verified {} tx/s",
            "",
            range(&measured_runs[0]),
            range(&measured_runs[1]),
            range(&measured_runs[2]),
        );
    }
    let per_block = |d: Duration| d.as_secs_f64() * 1000.0 / measured as f64;
    for (label, times) in [("with signatures", &with), ("checked inline", &inline), ("pre-verified", &pre)] {
        let Some(times) = times else { continue };
        println!(
            "{:>44} {label}, ms per block: wall {:.1} = signatures {:.1} + reads {:.1} + rules {:.1} + tree {:.1} + \
             commit {:.1} (+ waiting for the store at the end); the store wrote for {:.1}; CPU {:.1}",
            "",
            per_block(times.wall),
            per_block(times.sig),
            per_block(times.reads),
            per_block(times.rules),
            per_block(times.tree),
            per_block(times.commit),
            per_block(times.store),
            per_block(times.cpu),
        );
    }
}

fn sizes(var: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(var) {
        Ok(text) => text.split(',').map(|s| s.trim().parse().expect("a number")).collect(),
        Err(_) => default.to_vec(),
    }
}

fn main() {
    // `cargo bench` passes "--bench". Test runners (cargo test --all-targets, nextest) run
    // this binary to list or run tests instead: it has none, and must not start measuring.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|arg| arg == "--bench") {
        return;
    }
    let store = std::env::var("KEEL_BENCH_STORE").unwrap_or_else(|_| "rocksdb".to_owned());
    for accounts in sizes("KEEL_BENCH_ACCOUNTS", &[100_000]) {
        for block_len in sizes("KEEL_BENCH_BLOCKS", &[1_000, 10_000]) {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let runs = std::cell::Cell::new(0);
            let rocks = |behind: bool| {
                move || {
                    runs.set(runs.get() + 1);
                    let database = Database::open(&dir.path().join(format!("db{}", runs.get()))).expect("open RocksDB");
                    if behind {
                        RocksKv::write_behind(database)
                    } else {
                        RocksKv::new(database)
                    }
                }
            };
            let flush = |kv: &RocksKv| {
                kv.flush().expect("the store writes");
                kv.write_time()
            };
            match store.as_str() {
                "memory" => bench(MemKv::new, |_| Duration::ZERO, "memory", accounts, block_len),
                "rocksdb" => bench(rocks(true), flush, "rocksdb", accounts, block_len),
                "rocksdb-sync" => bench(rocks(false), flush, "rocksdb, synchronous writes", accounts, block_len),
                other => panic!("KEEL_BENCH_STORE={other}: expected rocksdb, rocksdb-sync or memory"),
            }
        }
    }
}
