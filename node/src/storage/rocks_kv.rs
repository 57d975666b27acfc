//! The ledger's [`KvStore`] on RocksDB: one column family per [`Column`], one RocksDB
//! `WriteBatch` per [`KvStore::write`] (the ledger writes one per block, so a crash leaves whole
//! blocks only). `get_at_or_before` on `ledger_tree_values` stays within the key's 32-byte hash
//! prefix (prefix bloom filters), which is the only answer the ledger accepts there.
//!
//! Two modes:
//!
//! * [`RocksKv::new`]: each batch goes through RocksDB's log, synced before `write` returns.
//! * **Write-behind, unlogged** ([`RocksKv::write_behind`], what the node runs): `write` hands the
//!   batch to a writer thread and returns, so that the next block executes while this one is
//!   written; until the batch is in RocksDB, reads see it through an in-memory [`Overlay`] that
//!   answers every read as the store will once the batch is in. The next `write` first waits for
//!   the one in flight, so at most one batch is unwritten; a failed write is returned by the next
//!   `write` or [`RocksKv::flush`] (the ledger then refuses to go on). The writer puts the batch
//!   into the memtables without RocksDB's log: the ledger's state is derived, a pure function of
//!   the committed blocks the consensus store keeps (synced), so logging it a second time bought
//!   nothing but a quarter of the writer's time. It becomes durable when RocksDB flushes its
//!   memtables — all column families together (`atomic_flush`, see [`Database::open`]), so the
//!   files on disk always hold the ledger's batches up to some block and none after it — and on
//!   a clean close. After a crash the store reopens at the last flushed block, and the node
//!   re-executes the committed blocks above it (the same roots: execution is deterministic).
//!   RocksDB flushes when a memtable fills, which a lightly loaded node may not do for hours;
//!   so the writer also has RocksDB flush every [`RocksKv::PERSIST_EVERY_BATCHES_DEFAULT`]
//!   batches, which bounds what a restart re-executes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keel_ledger::{Column, Entry, KvStore, StoreError, WriteBatch, WriteOp};
use rocksdb::{ReadOptions, WriteOptions};

use super::database::{Database, TREE_VALUE_PREFIX_BYTES};
use super::overlay::{Overlaid, Overlay};

/// The ledger's view of the node database.
#[derive(Debug, Clone)]
pub struct RocksKv {
    database: Arc<Database>,
    /// Present in write-behind mode; shared by clones.
    behind: Option<Arc<WriteBehind>>,
    /// In write-behind mode, the writer has RocksDB flush after every this many batches (0:
    /// only when RocksDB chooses to).
    persist_every: u64,
    /// Time spent in RocksDB writes (building and writing batches), in nanoseconds, shared by
    /// clones: with write-behind it is spent on the writer thread.
    write_nanos: Arc<AtomicU64>,
}

/// The batch in flight and the writer thread.
///
/// The writer is one thread for the store's life, not one per batch: a thread that ends hands
/// its allocator's pages back (mimalloc collects them at thread exit), which took a fifth of the
/// writer's time when a thread wrote each block.
#[derive(Debug, Default)]
struct WriteBehind {
    /// Held for a whole `write` or `flush`, so that writes start one at a time, in order.
    writing: Mutex<()>,
    state: Mutex<InFlight>,
}

#[derive(Debug, Default)]
struct InFlight {
    /// The last batch handed to the writer (kept after it is written: reading it then gives what
    /// the store gives).
    overlay: Option<Arc<Overlay>>,
    /// The writer thread, started by the first write.
    writer: Option<Writer>,
    /// Where the result of the batch in flight will come, if one is in flight.
    written: Option<Receiver<Result<(), StoreError>>>,
    /// The first failed write; every later write fails with it.
    failed: Option<StoreError>,
    /// Batches handed to the writer so far.
    batches: u64,
}

/// The writer thread and the channel that hands it batches; dropping the channel ends it.
#[derive(Debug)]
struct Writer {
    jobs: Sender<WriteJob>,
    thread: JoinHandle<()>,
}

/// One batch for the writer.
struct WriteJob {
    overlay: Arc<Overlay>,
    /// The batch before, freed by the writer: not work for the thread that executes blocks.
    previous: Option<Arc<Overlay>>,
    /// Whether to have RocksDB flush its memtables after this batch.
    persist: bool,
    written: Sender<Result<(), StoreError>>,
}

impl Writer {
    fn start(database: Arc<Database>, write_nanos: Arc<AtomicU64>) -> std::io::Result<Writer> {
        let (jobs, received) = mpsc::channel::<WriteJob>();
        let thread = std::thread::Builder::new().name("ledger-writer".into()).spawn(move || {
            for job in received {
                // The writer frees the batch before and sorts this one (unless a reader needed
                // it first): neither is work for the thread that executes blocks.
                drop(job.previous);
                let result = write_sorted(&database, &job.overlay, Logging::Unlogged, &write_nanos);
                if result.is_ok() && job.persist {
                    database.persist_memtables();
                }
                // A panic drops `job.written` unanswered, which its waiter reports. Nobody
                // waiting (the store is closing) is not an error of the write.
                let _ = job.written.send(result);
            }
        })?;
        Ok(Writer { jobs, thread })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state consistent; a panic elsewhere does not poison it.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl WriteBehind {
    /// Waits for the write in flight; the first failure, if any write failed.
    fn wait(&self) -> Result<(), StoreError> {
        let written = lock(&self.state).written.take();
        let result = match written.map(|written| written.recv()) {
            None => Ok(()),
            Some(Ok(result)) => result,
            // The writer dropped the job without answering: it panicked mid-write.
            Some(Err(_)) => Err(StoreError::Io { reason: "the ledger writer thread panicked".into() }),
        };
        let mut state = lock(&self.state);
        if let Err(error) = result {
            state.failed.get_or_insert(error);
        }
        state.failed.clone().map_or(Ok(()), Err)
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // The batch in flight reaches the store, and the writer lets go of the database, before
        // the database can close (a reopen right after finds it unlocked).
        let _ = self.wait();
        if let Some(Writer { jobs, thread }) = lock(&self.state).writer.take() {
            drop(jobs);
            let _ = thread.join();
        }
    }
}

fn backend(error: rocksdb::Error) -> StoreError {
    StoreError::Io { reason: error.to_string() }
}

impl RocksKv {
    /// In write-behind mode, how many batches the writer lets pass between the flushes it asks
    /// RocksDB for: after a crash a node re-executes at most about this many blocks (fewer under
    /// load, when full memtables flush first).
    pub const PERSIST_EVERY_BATCHES_DEFAULT: u64 = 1_000;

    /// The ledger columns of `database`, each write logged and synced before it returns.
    pub fn new(database: Arc<Database>) -> Self {
        RocksKv { database, behind: None, persist_every: 0, write_nanos: Arc::default() }
    }

    /// The ledger columns of `database` in write-behind mode (see the module docs).
    pub fn write_behind(database: Arc<Database>) -> Self {
        RocksKv {
            database,
            behind: Some(Arc::new(WriteBehind::default())),
            persist_every: Self::PERSIST_EVERY_BATCHES_DEFAULT,
            write_nanos: Arc::default(),
        }
    }

    /// In write-behind mode, has RocksDB flush after every `batches` batches instead (0: never
    /// asks).
    pub fn persisting_every(mut self, batches: u64) -> Self {
        self.persist_every = batches;
        self
    }

    /// Total time spent writing batches into RocksDB so far (on whichever thread wrote them).
    pub fn write_time(&self) -> Duration {
        Duration::from_nanos(self.write_nanos.load(Ordering::Relaxed))
    }

    /// Waits until every batch written so far is in RocksDB (readable from it; on disk at its next
    /// flush); the first failure if one failed. Returns at once when not in write-behind mode.
    pub fn flush(&self) -> Result<(), StoreError> {
        let Some(behind) = &self.behind else { return Ok(()) };
        let _writing = lock(&behind.writing);
        behind.wait()
    }

    /// The batch in flight (or last written), in write-behind mode.
    fn overlay(&self) -> Option<Arc<Overlay>> {
        self.behind.as_ref().and_then(|behind| lock(&behind.state).overlay.clone())
    }

    /// The store's entry with the greatest key `<= key` for which `skip` is false.
    fn stored_at_or_before(
        &self,
        column: Column,
        key: &[u8],
        skip: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Option<Entry>, StoreError> {
        let cf = self.database.column(column.name());
        let mut read_options = ReadOptions::default();
        if column == Column::TreeValues && key.len() >= TREE_VALUE_PREFIX_BYTES {
            // Only entries of the same key hash can answer (the ledger checks the prefix of what
            // it gets); the prefix bloom then lets RocksDB skip files without that key hash.
            read_options.set_prefix_same_as_start(true);
        }
        let mut iterator = self.database.db().raw_iterator_cf_opt(cf, read_options);
        iterator.seek_for_prev(key);
        let entry = loop {
            match (iterator.key(), iterator.value()) {
                (Some(k), _) if skip(k) => iterator.prev(),
                (Some(k), Some(v)) => break Some((k.to_vec(), v.to_vec())),
                _ => break None,
            }
        };
        iterator.status().map_err(backend)?;
        Ok(entry)
    }

    /// The store's first `limit` entries with `start <= key < end`.
    fn stored_scan(&self, column: Column, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        let cf = self.database.column(column.name());
        let mut read_options = ReadOptions::default();
        read_options.set_iterate_upper_bound(end.to_vec());
        let mut iterator = self.database.db().raw_iterator_cf_opt(cf, read_options);
        iterator.seek(start);
        let mut entries = Vec::new();
        while entries.len() < limit {
            match (iterator.key(), iterator.value()) {
                (Some(k), Some(v)) => entries.push((k.to_vec(), v.to_vec())),
                _ => break,
            }
            iterator.next();
        }
        iterator.status().map_err(backend)?;
        Ok(entries)
    }
}

/// How a batch reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logging {
    /// Through RocksDB's log, synced before the write returns.
    Synced,
    /// Into the memtables only: on disk at the next flush, which takes every column family.
    Unlogged,
}

/// Writes `overlay`'s batch: its range deletes first, as [`WriteBatch`] promises, then its
/// operations sorted by column and key (each memtable is a skip list that remembers where its
/// last insert went, so keys inserted in order skip the search from the top).
fn write_sorted(
    database: &Database,
    overlay: &Overlay,
    logging: Logging,
    write_nanos: &AtomicU64,
) -> Result<(), StoreError> {
    let start = Instant::now();
    // Sized up front: RocksDB's batch is one string, which grew by doubling and copied a block's
    // megabytes of nodes more than once (half the writer's samples were building the batch).
    let mut rocks_batch = rocksdb::WriteBatch::with_capacity_bytes(batch_bytes(overlay));
    for range in overlay.range_deletes() {
        rocks_batch.delete_range_cf(database.column(range.column.name()), &range.start, &range.end);
    }
    for op in overlay.ops() {
        match op {
            WriteOp::Put { column, key, value } => rocks_batch.put_cf(database.column(column.name()), key, value),
            WriteOp::Delete { column, key } => rocks_batch.delete_cf(database.column(column.name()), key),
        }
    }
    let mut options = WriteOptions::default();
    match logging {
        Logging::Synced => options.set_sync(true),
        Logging::Unlogged => options.disable_wal(true),
    }
    let written = database.db().write_opt(rocks_batch, &options).map_err(backend);
    let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    write_nanos.fetch_add(nanos, Ordering::Relaxed);
    written
}

/// About the bytes of `overlay`'s RocksDB batch: the keys and values, and per operation its tag,
/// column id and two length prefixes (the batch's own 12-byte header included).
fn batch_bytes(overlay: &Overlay) -> usize {
    const PER_OP: usize = 1 + 5 + 5 + 5;
    let ranges: usize = overlay.range_deletes().iter().map(|range| range.start.len() + range.end.len() + PER_OP).sum();
    let ops: usize = overlay
        .ops()
        .iter()
        .map(|op| match op {
            WriteOp::Put { key, value, .. } => key.len() + value.len() + PER_OP,
            WriteOp::Delete { key, .. } => key.len() + PER_OP,
        })
        .sum();
    12 + ranges + ops
}

impl KvStore for RocksKv {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(overlay) = self.overlay() {
            match overlay.get(column, key) {
                Overlaid::Put(value) => return Ok(Some(value.to_vec())),
                Overlaid::Deleted => return Ok(None),
                Overlaid::Untouched => {}
            }
        }
        let cf = self.database.column(column.name());
        self.database.db().get_cf(cf, key).map_err(backend)
    }

    fn get_at_or_before(&self, column: Column, key: &[u8]) -> Result<Option<Entry>, StoreError> {
        let found = match self.overlay() {
            Some(overlay) => overlay.at_or_before(column, key, |skip| self.stored_at_or_before(column, key, skip))?,
            None => self.stored_at_or_before(column, key, &|_| false)?,
        };
        if column == Column::TreeValues && key.len() >= TREE_VALUE_PREFIX_BYTES {
            // The store's answer is within the prefix already; the overlay's may not be.
            let prefix = &key[..TREE_VALUE_PREFIX_BYTES];
            return Ok(found.filter(|(found, _)| found.starts_with(prefix)));
        }
        Ok(found)
    }

    fn scan(&self, column: Column, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        match self.overlay() {
            Some(overlay) => {
                overlay.scan(column, start, end, limit, |from, to, limit| self.stored_scan(column, from, to, limit))
            }
            None => self.stored_scan(column, start, end, limit),
        }
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        // A block's batch mixes columns and orders (hashes, versions); the overlay sorts it.
        let overlay = Arc::new(Overlay::new(batch));
        let Some(behind) = &self.behind else {
            return write_sorted(&self.database, &overlay, Logging::Synced, &self.write_nanos);
        };
        let _writing = lock(&behind.writing);
        behind.wait()?;
        // Readable before the writer starts, so that no read sees the store ahead of the overlay.
        let (previous, persist) = {
            let mut state = lock(&behind.state);
            state.batches += 1;
            let persist = self.persist_every > 0 && state.batches % self.persist_every == 0;
            (state.overlay.replace(overlay.clone()), persist)
        };
        let (written, result) = mpsc::channel();
        let job = WriteJob { overlay, previous, persist, written };
        let mut state = lock(&behind.state);
        if state.writer.is_none() {
            match Writer::start(self.database.clone(), self.write_nanos.clone()) {
                Ok(writer) => state.writer = Some(writer),
                Err(error) => {
                    let error = StoreError::Io { reason: format!("starting the ledger writer: {error}") };
                    return Err(state.failed.get_or_insert(error).clone());
                }
            }
        }
        let writer = state.writer.as_ref().expect("started above");
        if writer.jobs.send(job).is_err() {
            // The thread is gone: it panicked in an earlier write, whose waiter was told so.
            let error = StoreError::Io { reason: "the ledger writer thread is gone".into() };
            return Err(state.failed.get_or_insert(error).clone());
        }
        state.written = Some(result);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: u8, version: u64) -> Vec<u8> {
        let mut key = vec![hash; 32];
        key.extend_from_slice(&version.to_be_bytes());
        key
    }

    #[test]
    fn reads_follow_the_kv_contract_and_versioned_values_stay_within_their_key_hash() {
        let dir = tempfile::tempdir().unwrap();
        reads_follow_the_kv_contract(RocksKv::new(Database::open(&dir.path().join("db")).unwrap()));
    }

    #[test]
    fn write_behind_reads_the_batch_in_flight_as_if_written() {
        let dir = tempfile::tempdir().unwrap();
        reads_follow_the_kv_contract(RocksKv::write_behind(Database::open(&dir.path().join("db")).unwrap()));
    }

    #[test]
    fn write_behind_batches_reach_the_store_in_order_and_before_it_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let kv = RocksKv::write_behind(Database::open(&path).unwrap());
            for round in 0..20u8 {
                let mut batch = WriteBatch::new();
                batch.put(Column::Meta, b"last".to_vec(), vec![round]);
                batch.put(Column::Heights, vec![round], vec![round]);
                if round > 0 {
                    batch.delete(Column::Heights, vec![round - 1]);
                }
                kv.write(batch).unwrap();
                assert_eq!(kv.get(Column::Meta, b"last").unwrap(), Some(vec![round]));
                assert_eq!(kv.scan(Column::Heights, &[], &[0xff], 10).unwrap(), vec![(vec![round], vec![round])]);
            }
            // Dropped with the last batch possibly in flight.
        }
        let kv = RocksKv::new(Database::open(&path).unwrap());
        assert_eq!(kv.get(Column::Meta, b"last").unwrap(), Some(vec![19]));
        assert_eq!(kv.scan(Column::Heights, &[], &[0xff], 10).unwrap(), vec![(vec![19], vec![19])]);
    }

    #[test]
    fn range_deletes_remove_their_range_in_flight_on_disk_and_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let keys = |kv: &RocksKv| -> Vec<u8> {
            kv.scan(Column::TreeNodes, &[], &[0xff], 100).unwrap().iter().map(|(key, _)| key[0]).collect()
        };
        {
            let kv = RocksKv::write_behind(Database::open(&path).unwrap());
            let mut batch = WriteBatch::new();
            for k in 0..10u8 {
                batch.put(Column::TreeNodes, vec![k], vec![k]);
            }
            kv.write(batch).unwrap();
            kv.flush().unwrap();
            kv.database.persist_memtables();
            // Nodes 2..6 go in a range delete; the same batch puts 4 (after it) and 12.
            let mut batch = WriteBatch::new();
            batch.put(Column::TreeNodes, vec![4], vec![40]);
            batch.delete_range(Column::TreeNodes, vec![2], vec![6]);
            batch.put(Column::TreeNodes, vec![12], vec![12]);
            kv.write(batch).unwrap();
            // In flight, through the overlay: the scan skips the range without losing its limit.
            assert_eq!(keys(&kv), vec![0, 1, 4, 6, 7, 8, 9, 12]);
            assert_eq!(kv.scan(Column::TreeNodes, &[1], &[0xff], 3).unwrap().len(), 3);
            assert_eq!(kv.get(Column::TreeNodes, &[3]).unwrap(), None);
            assert_eq!(kv.get(Column::TreeNodes, &[4]).unwrap(), Some(vec![40]));
            kv.flush().unwrap();
            assert_eq!(keys(&kv), vec![0, 1, 4, 6, 7, 8, 9, 12], "in RocksDB");
            kv.database.persist_memtables();
        }
        let kv = RocksKv::new(Database::open(&path).unwrap());
        assert_eq!(keys(&kv), vec![0, 1, 4, 6, 7, 8, 9, 12], "after a reopen");
        assert_eq!(kv.get(Column::TreeNodes, &[5]).unwrap(), None);
    }

    /// Where a crashing child writes, and how (see `crash_child`).
    const CRASH_CHILD_DIR: &str = "KEEL_TEST_CRASH_CHILD_DIR";
    const CRASH_CHILD_MODE: &str = "KEEL_TEST_CRASH_CHILD_MODE";
    /// Transaction-index entries per batch in the "fill" mode: 150 batches fill the index's
    /// 8 MiB memtable partway, so that RocksDB flushes on its own.
    const CRASH_INDEX_ENTRIES: u32 = 1_000;

    /// Batch `n` of the crash tests: `index_entries` index entries, a tree node and a height, and
    /// `last` = n.
    fn crash_batch(n: u32, index_entries: u32) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for entry in 0..index_entries {
            // Random-looking keys, as transaction hashes are.
            let hash = keel_crypto::tagged_hash("keel/test/crash", &[n.to_be_bytes(), entry.to_be_bytes()].concat());
            batch.put(Column::TxIndex, hash.as_bytes().to_vec(), n.to_be_bytes().to_vec());
        }
        batch.put(Column::TreeNodes, u64::from(n).to_be_bytes().to_vec(), vec![7; 600]);
        batch.put(Column::Heights, u64::from(n).to_be_bytes().to_vec(), n.to_be_bytes().to_vec());
        batch.put(Column::Meta, b"last".to_vec(), n.to_be_bytes().to_vec());
        batch
    }

    /// The crash tests' two runs: "fill" writes 150 large batches and leaves flushing to RocksDB;
    /// "persist" writes 8 small ones, asking for a flush after every 5th.
    fn crash_plan(mode: &str) -> (u32, u32, u64) {
        match mode {
            "fill" => (150, CRASH_INDEX_ENTRIES, 0),
            _ => (8, 10, 5),
        }
    }

    /// In the child: writes the batches behind, waits until RocksDB has no flush pending or
    /// running, and dies as `kill -9` would (no destructor runs, nothing is flushed on close).
    fn crash_child(path: &std::path::Path, mode: &str) -> ! {
        let (batches, index_entries, persist_every) = crash_plan(mode);
        let database = Database::open(path).unwrap();
        let kv = RocksKv::write_behind(database.clone()).persisting_every(persist_every);
        for n in 1..=batches {
            kv.write(crash_batch(n, index_entries)).unwrap();
        }
        kv.flush().unwrap();
        let db = database.db();
        let busy = || {
            let pending = Column::ALL.iter().any(|column| {
                let cf = database.column(column.name());
                db.property_int_value_cf(cf, "rocksdb.mem-table-flush-pending").unwrap() != Some(0)
            });
            pending || db.property_int_value("rocksdb.num-running-flushes").unwrap() != Some(0)
        };
        for _ in 0..1_000 {
            if !busy() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::process::abort();
    }

    /// Runs `test` again in a child process in `mode`, which crashes; reopens what it wrote and
    /// checks that every column holds the same whole batches, the first ones; returns the last.
    fn crash_and_reopen(test: &str, mode: &str) -> u32 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &format!("storage::rocks_kv::tests::{test}")])
            .env(CRASH_CHILD_DIR, &path)
            .env(CRASH_CHILD_MODE, mode)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the child crashed");

        let (batches, index_entries, _) = crash_plan(mode);
        let kv = RocksKv::new(Database::open(&path).unwrap());
        let last =
            kv.get(Column::Meta, b"last").unwrap().map_or(0, |bytes| u32::from_be_bytes(bytes.try_into().unwrap()));
        for n in 1..=batches {
            let kept = n <= last;
            let height = kv.get(Column::Heights, &u64::from(n).to_be_bytes()).unwrap();
            assert_eq!(height.is_some(), kept, "batch {n}'s height, store at {last}");
            let node = kv.get(Column::TreeNodes, &u64::from(n).to_be_bytes()).unwrap();
            assert_eq!(node.is_some(), kept, "batch {n}'s tree node, store at {last}");
            for op in crash_batch(n, index_entries).ops().iter().filter(|op| op.column() == Column::TxIndex) {
                assert_eq!(
                    kv.get(Column::TxIndex, op.key()).unwrap().is_some(),
                    kept,
                    "batch {n}'s index, store at {last}"
                );
            }
        }
        last
    }

    /// In the child run of a crash test, becomes the child.
    fn be_the_crashing_child() {
        if let (Some(path), Ok(mode)) = (std::env::var_os(CRASH_CHILD_DIR), std::env::var(CRASH_CHILD_MODE)) {
            crash_child(std::path::Path::new(&path), &mode);
        }
    }

    #[test]
    fn a_crash_keeps_a_prefix_of_whole_unlogged_batches() {
        be_the_crashing_child();
        let last = crash_and_reopen("a_crash_keeps_a_prefix_of_whole_unlogged_batches", "fill");
        // The index filled its memtable partway, and the flush took every column with it.
        assert!(last > 0 && last < 150, "reopened at batch {last} of 150");
    }

    #[test]
    fn the_writers_periodic_flush_bounds_what_a_crash_loses() {
        be_the_crashing_child();
        let last = crash_and_reopen("the_writers_periodic_flush_bounds_what_a_crash_loses", "persist");
        assert_eq!(last, 5, "the flush after the fifth batch kept it; the three after were lost");
    }

    fn reads_follow_the_kv_contract(kv: RocksKv) {
        let mut batch = WriteBatch::new();
        for (hash, version) in [(1, 1), (1, 5), (3, 2)] {
            batch.put(Column::TreeValues, key(hash, version), vec![hash, version as u8]);
        }
        batch.put(Column::Meta, b"b".to_vec(), b"2".to_vec());
        batch.put(Column::Meta, b"d".to_vec(), b"4".to_vec());
        kv.write(batch).unwrap();

        let at = |hash, version| kv.get_at_or_before(Column::TreeValues, &key(hash, version)).unwrap();
        assert_eq!(at(1, 4), Some((key(1, 1), vec![1, 1])));
        assert_eq!(at(1, 9), Some((key(1, 5), vec![1, 5])));
        assert_eq!(at(1, 0), None);
        assert_eq!(at(2, 9), None, "another key hash's entry is never the answer");
        assert_eq!(at(3, 2), Some((key(3, 2), vec![3, 2])));

        assert_eq!(kv.get(Column::Meta, b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(kv.get(Column::Meta, b"c").unwrap(), None);
        assert_eq!(kv.get_at_or_before(Column::Meta, b"c").unwrap(), Some((b"b".to_vec(), b"2".to_vec())));
        assert_eq!(kv.scan(Column::Meta, b"a", b"d", 10).unwrap(), vec![(b"b".to_vec(), b"2".to_vec())]);
        assert_eq!(kv.scan(Column::Meta, b"a", b"z", 1).unwrap().len(), 1);
        let mut delete = WriteBatch::new();
        delete.delete(Column::Meta, b"b".to_vec());
        kv.write(delete).unwrap();
        assert_eq!(kv.get(Column::Meta, b"b").unwrap(), None);
        assert_eq!(kv.get_at_or_before(Column::Meta, b"c").unwrap(), None);
        assert_eq!(kv.scan(Column::Meta, b"a", b"z", 1).unwrap(), vec![(b"d".to_vec(), b"4".to_vec())]);
        kv.flush().unwrap();
        assert_eq!(kv.get(Column::Meta, b"d").unwrap(), Some(b"4".to_vec()));
        assert_eq!(kv.get_at_or_before(Column::Meta, b"c").unwrap(), None);

        // The transaction index, with its own memtable size, in memory and after a flush.
        let hashes: Vec<Vec<u8>> = [[9u8; 32], [1; 32], [5; 32]].iter().map(|h| h.to_vec()).collect();
        let mut batch = WriteBatch::new();
        for hash in &hashes {
            batch.put(Column::TxIndex, hash.clone(), vec![hash[0]]);
        }
        kv.write(batch).unwrap();
        for flushed in [false, true] {
            if flushed {
                kv.flush().unwrap();
            }
            let all = kv.scan(Column::TxIndex, &[], &[0xff; 33], 10).unwrap();
            assert_eq!(all.iter().map(|(k, _)| k[0]).collect::<Vec<_>>(), vec![1, 5, 9]);
            assert_eq!(kv.get(Column::TxIndex, &[5; 32]).unwrap(), Some(vec![5]));
            assert_eq!(kv.get(Column::TxIndex, &[6; 32]).unwrap(), None);
            assert_eq!(kv.get_at_or_before(Column::TxIndex, &[8; 32]).unwrap(), Some((vec![5; 32], vec![5])));
        }
    }
}
