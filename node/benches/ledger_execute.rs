//! Ledger execution throughput on the node's RocksDB store (or the in-memory one):
//! `cargo bench -p keel-node --bench ledger_execute`.
//!
//! For each (accounts, block size) it commits a few blocks of transfers and reports, over the
//! last five (after `KEEL_BENCH_WARMUP`, default 3, that fill the caches as a running node's
//! are), each block's `block size` senders sending their next nonce to recipients drawn from all
//! accounts, it reports transfers/s with signature checks (2 threads, fixed 64-entry batches)
//! and with signatures already verified, and the share of time in signature checks, execution
//! rules (state reads), tree updates and store writes (one synced RocksDB batch per block).
//! `KEEL_BENCH_ACCOUNTS=100000,1000000` and `KEEL_BENCH_BLOCKS=1000,10000` choose the sizes,
//! `KEEL_BENCH_SENDERS=repeat|fresh` whether blocks reuse their senders (default) or bring new
//! ones, `KEEL_BENCH_STORE=rocksdb|memory` the store (default rocksdb, in a temporary directory).
//! It lives in node/ because the RocksDB store does; the ledger itself is the same code.
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock; the library never does

use std::cell::Cell;
use std::time::{Duration, Instant};

use keel_crypto::{tagged_hash, Address, Hash, Keypair};
use keel_genesis::{ConsensusParams, GenesisBuilder};
use keel_ledger::{
    check_block, execute_block, BlockContext, Height, KvStore, Ledger, LedgerConfig, LedgerError, MemKv, Payload,
    ReasonCode, StateKey, StateView, StateWrites, Transaction, WriteBatch,
};
use keel_node::storage::{Database, RocksKv};

/// Blocks committed before measuring, so that the state cache holds what a running node's would
/// (`KEEL_BENCH_WARMUP` overrides; 0 measures a node just opened).
const BLOCKS_WARMUP: usize = 3;
/// Blocks measured (`KEEL_BENCH_MEASURED` overrides; more blocks include the flushes and
/// compactions a sustained load brings).
const BLOCKS_MEASURED: usize = 5;

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

#[derive(Default)]
struct Times {
    sig: Duration,
    rules: Duration,
    tree: Duration,
    write: Duration,
}

fn run<K: KvStore>(kv: K, store: &str, accounts: usize, block_len: usize) {
    let setup = Instant::now();
    // Only the senders need keys; the other accounts are funded addresses. By default each block
    // has the same `block_len` senders, each sending its next nonce; with KEEL_BENCH_SENDERS=fresh
    // every block has senders never seen before (nothing about them is cached). Recipients are
    // drawn from all accounts.
    let warmup = sizes("KEEL_BENCH_WARMUP", &[BLOCKS_WARMUP])[0];
    let measured_blocks = sizes("KEEL_BENCH_MEASURED", &[BLOCKS_MEASURED])[0];
    let fresh = std::env::var("KEEL_BENCH_SENDERS").is_ok_and(|mode| mode == "fresh");
    let sender_count = if fresh { block_len * (warmup + measured_blocks) } else { block_len };
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
    let config = LedgerConfig { signature_threads: 2, tree_threads: 2, ..Default::default() };
    let mut ledger = Ledger::open(kv, &genesis, config).expect("open");
    eprintln!("  setup ({} accounts): {:.1}s", addresses.len(), setup.elapsed().as_secs_f64());

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut times = Times::default();
    for block in 0..warmup + measured_blocks {
        let measured = block >= warmup;
        let txs: Vec<Vec<u8>> = (0..block_len)
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
            .collect();
        let context = BlockContext { height: Height(block as u64 + 1), proposer: senders[0].public() };
        let mut warming = Times::default();
        let times = if measured { &mut times } else { &mut warming };

        let start = Instant::now();
        let checked = check_block(&txs, ledger.rules(), 2).expect("block within limits");
        times.sig += start.elapsed();

        let view = ledger.view();
        let timed = TimedView { inner: &view, tree: Cell::new(Duration::ZERO) };
        let start = Instant::now();
        ledger.prefetch(&checked).expect("prefetch");
        let outcome = execute_block(&timed, &checked, &context).expect("execute");
        let exec = start.elapsed();
        times.tree += timed.tree.get();
        times.rules += exec - timed.tree.get();
        assert!(outcome.receipts.iter().all(|r| r.code == ReasonCode::Ok), "every bench transfer applies");

        let start = Instant::now();
        ledger.commit(outcome).expect("commit");
        times.write += start.elapsed();
    }
    let n = (block_len * measured_blocks) as f64;
    let pre = times.rules + times.tree + times.write;
    let all = pre + times.sig;
    let share = |d: Duration| 100.0 * d.as_secs_f64() / all.as_secs_f64();
    let store = if fresh { format!("{store}, fresh senders") } else { store.to_owned() };
    println!(
        "{store:>7} accounts {:>9} block {:>6}: with signatures {:>8.0} tx/s, pre-verified {:>8.0} tx/s | \
         signatures {:>4.1}%, rules+reads {:>4.1}%, tree {:>4.1}%, store write {:>4.1}% (commit incl. pruning)",
        addresses.len(),
        block_len,
        n / all.as_secs_f64(),
        n / pre.as_secs_f64(),
        share(times.sig),
        share(times.rules),
        share(times.tree),
        share(times.write),
    );
    let per_block = |d: Duration| d.as_secs_f64() * 1000.0 / measured_blocks as f64;
    println!(
        "{:>44} per block: signatures {:.1} ms, rules+reads {:.1} ms, tree {:.1} ms, store write {:.1} ms",
        "",
        per_block(times.sig),
        per_block(times.rules),
        per_block(times.tree),
        per_block(times.write),
    );
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
            match store.as_str() {
                "memory" => run(MemKv::new(), "memory", accounts, block_len),
                "rocksdb" => {
                    let dir = tempfile::tempdir().expect("a temporary directory");
                    let database = Database::open(&dir.path().join("db")).expect("open RocksDB");
                    run(RocksKv::new(database), "rocksdb", accounts, block_len);
                }
                other => panic!("KEEL_BENCH_STORE={other}: expected rocksdb or memory"),
            }
        }
    }
}
