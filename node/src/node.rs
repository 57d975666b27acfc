//! `keel start`: assembles a validator from its home and runs it until SIGINT or SIGTERM.
//!
//! ```text
//!  P2P (tokio) ──frames──▶ router thread ──consensus msgs──▶ driver thread (Core, RocksDB, ledger)
//!      ▲                        │ transactions                    │ sends
//!      │                        ▼                                 │
//!      └──────────────── mempool ◀── JSON-RPC (axum) ◀── clients  │
//!      └──────────────────────────────────────────────────────────┘
//! ```
//!
//! The driver has its own OS thread, so fsyncs and block execution never stall the async
//! runtime, and the runtime's tasks never delay a consensus step.

use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use keel_consensus::{Config, Core, Ed25519Scheme, RecoveryData, Validator, ValidatorSet, Verifier, VotingPower};
use keel_genesis::Genesis;
use keel_ledger::{ChainRules, Committee, Ledger, LedgerConfig};
use tokio::sync::mpsc::Receiver;
use tracing::{error, info, warn};

use crate::config::{ConfigError, NodeConfig};
use crate::driver::catchup::{Rebuild, SyncRequest, RECORDS_PER_REQUEST, RESPONSE_BYTES_MAX};
use crate::driver::certify::Certifier;
use crate::driver::{Driver, DriverConfig, DriverInput};
use crate::home::NodeHome;
use crate::mempool::{MempoolLimits, SharedMempool};
use crate::metrics::{DropLabels, DropReason, NodeMetrics};
use crate::p2p::{P2p, P2pConfig, PeerInfo};
use crate::rpc::methods::RpcContext;
use crate::status::{ChainStatus, StatusBoard};
use crate::storage::{CertificateStore, ConsensusStore, Database, RocksKv};
use crate::wire::{self, WireMessage};

/// Inputs queued for the driver before the router waits.
const DRIVER_QUEUE_LEN: usize = 8192;
/// Transactions waiting to be gossiped before new ones are not gossiped.
const GOSSIP_QUEUE_LEN: usize = 65_536;
/// Most transactions in one gossip frame.
const GOSSIP_BATCH_MAX: usize = 256;
/// Longest a transaction waits for others to share its gossip frame.
const GOSSIP_BATCH_WAIT: Duration = Duration::from_millis(5);

/// The consensus parameters every validator of `genesis` runs with.
pub fn consensus_config(genesis: &Genesis) -> Config {
    let params = genesis.consensus();
    let mut config = Config::new(genesis.hash());
    config.round_timeout_ms = params.round_timeout_ms;
    config.round_timeout_ms_max = params.round_timeout_ms_max;
    config.block_payload_bytes_max = u64::from(params.block_bytes_max);
    config.block_txs_max = params.block_txs_max;
    config.message_bytes_max = config.block_payload_bytes_max + keel_consensus::MESSAGE_OVERHEAD_BYTES;
    // Payloads are executed as committed; invalid transactions become receipts.
    config.validate_blocks = false;
    config
}

/// The validator set of `genesis`.
pub fn validator_set(genesis: &Genesis) -> Result<ValidatorSet> {
    let members = genesis
        .validators()
        .iter()
        .map(|v| Validator { public_key: v.public_key, power: VotingPower(v.power) })
        .collect();
    ValidatorSet::new(members).context("genesis validator set")
}

/// Runs the node in `home` until a signal or a fatal error.
pub fn start(home: &NodeHome, config: NodeConfig) -> Result<()> {
    let keypair = home.load_key()?;
    let genesis = home.load_genesis()?;
    let validators = validator_set(&genesis)?;
    let me = keypair.public();
    if !validators.contains(&me) {
        bail!("this node's key {me} is not a validator in the genesis; only validators can run (no full nodes yet)");
    }
    let consensus = consensus_config(&genesis);
    consensus.check().context("consensus parameters from genesis")?;
    if u64::from(config.p2p.frame_bytes_max) < consensus.message_bytes_max + 1 {
        return Err(ConfigError::Invalid {
            field: "p2p.frame_bytes_max",
            reason: format!("below {}, the largest consensus message of this genesis", consensus.message_bytes_max + 1),
        }
        .into());
    }
    if config.consensus.empty_block_delay_ms * 2 >= consensus.round_timeout_ms {
        return Err(ConfigError::Invalid {
            field: "consensus.empty_block_delay_ms",
            reason: format!("must be below half the round timeout ({} ms)", consensus.round_timeout_ms),
        }
        .into());
    }

    std::fs::create_dir_all(home.data_dir()).with_context(|| format!("creating {}", home.data_dir().display()))?;
    let database = Database::open(&home.data_dir().join("db"))?;
    let ledger_config = LedgerConfig { signature_threads: 2, tree_threads: 2, ..LedgerConfig::default() };
    // Write-behind: a block's ledger batch is written while the next block executes; a crash
    // loses at most that batch, which the driver re-executes from the committed blocks on start.
    let ledger =
        Ledger::open(RocksKv::write_behind(database.clone()), &genesis, ledger_config).context("opening the ledger")?;
    let ledger = Arc::new(RwLock::new(ledger));
    let store = ConsensusStore::open(database.clone())?;
    let certificates = CertificateStore::new(database.clone());
    let certifier = Certifier::new(
        keypair.clone(),
        Committee::from_genesis(&genesis),
        ledger.read().unwrap_or_else(|p| p.into_inner()).last_committed().height,
    );
    let recovery = store.load_recovery(RecoveryData::genesis(&consensus.chain_id, &validators))?;
    info!(
        node = %config.node.name,
        key = %me,
        chain = genesis.chain_id(),
        committed_height = recovery.root.height.get(),
        last_voted_round = recovery.safety.last_voted_round.get(),
        "starting"
    );
    let genesis_recovery = RecoveryData::genesis(&consensus.chain_id, &validators);
    let rebuild = {
        let (config, set, key) = (consensus.clone(), validators.clone(), keypair.clone());
        let (verifier_set, verifier_key) = (validators.clone(), keypair.clone());
        let (chain_id, genesis_qc) = (consensus.chain_id, genesis_recovery.root_qc.clone());
        Rebuild {
            genesis: genesis_recovery,
            core: Box::new(move |recovery| {
                Core::new(config.clone(), set.clone(), Box::new(Ed25519Scheme::new(key.clone())), recovery)
            }),
            verifier: Box::new(move || {
                Verifier::new(
                    chain_id,
                    verifier_set.clone(),
                    Box::new(Ed25519Scheme::new(verifier_key.clone())),
                    genesis_qc.clone(),
                )
            }),
        }
    };
    let core = (rebuild.core)(recovery);

    let metrics = Arc::new(NodeMetrics::new());
    let status = Arc::new(StatusBoard::new(initial_status(&ledger)));
    let rules = ChainRules::from_genesis(&genesis);
    let mut mempool = SharedMempool::new(MempoolLimits::default(), rules, ledger.clone());
    if config.mempool.opaque_transactions {
        warn!("mempool.opaque_transactions is on: transactions are admitted unchecked (benchmark mode)");
        mempool = mempool.with_opaque_transactions();
    }
    let mempool = Arc::new(mempool);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("keel-io")
        .build()
        .context("starting the async runtime")?;
    let _entered = runtime.enter();

    let p2p_listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.p2p.listen_address))
        .with_context(|| format!("binding the P2P listener on {}", config.p2p.listen_address))?;
    let peers = genesis
        .validators()
        .iter()
        .filter(|v| v.public_key != me)
        .map(|v| PeerInfo { public_key: v.public_key, address: v.network_address.clone() })
        .collect();
    let (p2p, inbound) = P2p::start(
        p2p_listener,
        P2pConfig {
            keypair,
            genesis_hash: genesis.hash(),
            peers,
            frame_bytes_max: config.p2p.frame_bytes_max as usize,
            peer_queue_len_max: 1024,
            inbound_queue_len_max: 4096,
            reconnect_backoff_ms_min: 100,
            reconnect_backoff_ms_max: config.p2p.reconnect_backoff_ms_max,
            handshake_timeout_ms: 5_000,
        },
    );

    let (driver_tx, driver_rx) = sync_channel(DRIVER_QUEUE_LEN);
    let driver = Driver::new(
        core,
        store.clone(),
        ledger.clone(),
        mempool.clone(),
        p2p.clone(),
        status.clone(),
        metrics.clone(),
        DriverConfig {
            empty_block_delay: Duration::from_millis(config.consensus.empty_block_delay_ms),
            blocks_per_response_max: consensus.blocks_per_response_max,
        },
        rebuild,
        certifier,
        certificates.clone(),
    );
    driver.log_start();
    let driver_thread = std::thread::Builder::new()
        .name("keel-consensus".into())
        .spawn(move || driver.run(driver_rx))
        .context("starting the consensus thread")?;

    let router = Router {
        driver: driver_tx.clone(),
        store: store.clone(),
        p2p: p2p.clone(),
        mempool: mempool.clone(),
        metrics: metrics.clone(),
        message_bytes_max: consensus.message_bytes_max,
        txs_max: consensus.block_txs_max as usize,
    };
    std::thread::Builder::new().name("keel-router".into()).spawn(move || router.run(inbound))?;

    let (gossip, gossip_queue) = tokio::sync::mpsc::channel(GOSSIP_QUEUE_LEN);
    runtime.spawn(gossip_batches(gossip_queue, p2p.clone()));
    let context = Arc::new(RpcContext {
        genesis: Arc::new(genesis.clone()),
        gossip,
        metrics: metrics.clone(),
        chain_id: genesis.chain_id().to_owned(),
        genesis_hash: genesis.hash(),
        node_key: me,
        status: status.clone(),
        store,
        certificates,
        ledger,
        mempool,
        p2p: p2p.clone(),
        driver: driver_tx.clone(),
    });
    let rpc_address: SocketAddr = config.rpc.listen_address;
    let rpc_listener = runtime
        .block_on(tokio::net::TcpListener::bind(rpc_address))
        .with_context(|| format!("binding the RPC listener on {rpc_address}"))?;
    let limits = crate::rpc::limits::LimitSettings {
        rate: config.rpc.requests_per_second_per_client,
        burst: config.rpc.request_burst_per_client,
        concurrency: config.rpc.concurrent_requests_per_client,
    };
    runtime.spawn(crate::rpc::server::serve(rpc_listener, context, metrics.clone(), limits));
    runtime.spawn(peer_gauge(p2p.clone(), metrics.clone()));
    info!(p2p = %config.p2p.listen_address, rpc = %rpc_address, "listening");

    // Wait for a signal, or for the driver to stop on its own (a fatal error).
    let driver_thread = runtime.block_on(async move {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let watcher = std::thread::spawn(move || {
            let result = driver_thread.join();
            let _ = done_tx.send(());
            result
        });
        tokio::select! {
            signal = shutdown_signal() => {
                info!(signal, "shutting down");
                let _ = driver_tx.send(DriverInput::Shutdown);
            }
            _ = done_rx => {}
        }
        watcher
    });
    let outcome = driver_thread.join().expect("the watcher thread does not panic");
    p2p.shutdown();
    match outcome {
        Ok(Ok(())) => {
            info!("stopped");
            Ok(())
        }
        Ok(Err(fatal)) => {
            error!(%fatal, "consensus driver stopped");
            Err(fatal).context("consensus driver stopped")
        }
        Err(_) => bail!("the consensus thread panicked"),
    }
}

fn initial_status(ledger: &RwLock<Ledger<RocksKv>>) -> ChainStatus {
    let ledger = ledger.read().unwrap_or_else(|p| p.into_inner());
    let record = ledger.last_committed();
    ChainStatus {
        committed_height: record.height.0,
        committed_block_id: keel_crypto::Hash::ZERO,
        state_root: record.state_root,
        round: 0,
        leader: None,
        high_qc_round: 0,
        high_tc_round: None,
        evidence: 0,
        syncing: false,
    }
}

async fn shutdown_signal() -> &'static str {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

/// Broadcasts admitted transactions in frames of up to [`GOSSIP_BATCH_MAX`], so that peers
/// verify their signatures in batches.
async fn gossip_batches(mut queue: tokio::sync::mpsc::Receiver<Vec<u8>>, p2p: P2p) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GOSSIP_BATCH_WAIT;
        while batch.len() < GOSSIP_BATCH_MAX {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(tx)) => batch.push(tx),
                _ => break,
            }
        }
        p2p.broadcast(Arc::new(wire::encode_transactions(&batch)));
    }
}

async fn peer_gauge(p2p: P2p, metrics: Arc<NodeMetrics>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        metrics.peers_connected.set(i64::try_from(p2p.connected_peers().len()).unwrap_or(i64::MAX));
    }
}

/// Moves inbound frames to where they belong: consensus messages to the driver, gossiped
/// transactions into the mempool (signatures checked here, off the consensus thread).
struct Router {
    driver: SyncSender<DriverInput>,
    store: ConsensusStore,
    p2p: P2p,
    mempool: Arc<SharedMempool<RocksKv>>,
    metrics: Arc<NodeMetrics>,
    message_bytes_max: u64,
    txs_max: usize,
}

impl Router {
    fn run(self, mut inbound: Receiver<crate::p2p::network::Inbound>) {
        while let Some((from, frame)) = inbound.blocking_recv() {
            match wire::decode(&frame, self.message_bytes_max, self.txs_max) {
                Ok(WireMessage::Consensus(message)) => {
                    if self.driver.send(DriverInput::Peer { from, message }).is_err() {
                        return;
                    }
                }
                Ok(WireMessage::Transactions(transactions)) => {
                    let added = self.mempool.admit(&transactions).iter().filter(|(_, result)| result.is_ok()).count();
                    if added > 0 {
                        let _ = self.driver.try_send(DriverInput::TransactionsAdded);
                    }
                }
                Ok(WireMessage::LedgerSignature(info, signature)) => {
                    if self.driver.send(DriverInput::LedgerSignature { info, signature }).is_err() {
                        return;
                    }
                }
                Ok(WireMessage::SyncRequest(request)) => self.serve_records(&from, &request),
                Ok(WireMessage::SyncResponse(response)) => {
                    if self.driver.send(DriverInput::Records { from, response }).is_err() {
                        return;
                    }
                }
                Err(problem) => {
                    warn!(peer = %from, %problem, "malformed frame: closing the connection");
                    self.metrics.messages_dropped.get_or_create(&DropLabels { reason: DropReason::Malformed }).inc();
                    self.p2p.disconnect(&from);
                }
            }
        }
    }

    /// Answers a catch-up request from storage (off the consensus thread): consecutive
    /// committed records, cut after the last one with commit evidence.
    fn serve_records(&self, from: &keel_crypto::PublicKey, request: &SyncRequest) {
        let count = request.count.min(RECORDS_PER_REQUEST) as usize;
        let from_height = keel_consensus::Height(request.from_height);
        let mut records = match self.store.committed_range(from_height, count, RESPONSE_BYTES_MAX) {
            Ok(records) => records,
            Err(problem) => {
                warn!(%problem, "cannot read committed blocks for a peer");
                return;
            }
        };
        let Some(last) = records.iter().rposition(|r| r.commit.is_some()) else { return };
        records.truncate(last + 1);
        let frame = wire::encode_sync_response(&wire::SyncResponse { records });
        self.p2p.send(from, Arc::new(frame));
    }
}
