//! The consensus driver: runs `keel_consensus::Core` on one thread and carries out its actions,
//! in order, against the real world.
//!
//! | action | what the driver does |
//! |---|---|
//! | `PersistSafety` | writes it with fsync **before** performing any later action, so no vote or timeout leaves before the state that records it is durable |
//! | `PersistBlock` / `PersistQuorumCert` / `PersistTimeoutCert` | stores them (unsynced; see [`crate::storage::ConsensusStore`]) |
//! | `Send` / `Broadcast` | hands a frame to the P2P transport (never blocks: full queues drop) |
//! | `SetTimer` | keeps one deadline; the loop wakes for it |
//! | `RequestPayload` | proposes at once when there is work (pending or uncommitted transactions), else after `empty_block_delay` so an idle chain does not spin |
//! | `Commit` | stores the blocks (one synced batch), then executes each on the ledger, then drops their transactions from the mempool |
//! | `FetchBlocks` | sends the block request to the named peer |
//! | `Evidence` | logs it and counts it; the core keeps it |
//!
//! After executing a height the driver signs the resulting state and gathers the other
//! validators' signatures into a ledger certificate ([`certify`]), which wallets use to check
//! account proofs.
//!
//! Block requests from peers are answered from storage (committed and pending blocks), so a
//! peer can catch up further back than the core's in-memory tree reaches.
//!
//! The thread owns the core; everything else reaches it through [`DriverInput`]s. Time given to
//! the core is milliseconds since the driver started (a monotonic clock; the core only compares
//! its own deadlines). A storage or ledger failure stops the driver with an error: the node
//! exits rather than run on state it could not make durable.

pub mod catchup;
pub mod certify;
mod execution;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use keel_consensus::{
    Action, BlockId, BlockRequest, BlockResponse, Core, Event, Height, Message, Payload, Round, StateCommitment, Time,
};
use keel_crypto::{Hash, PublicKey};
use keel_ledger::{tx_hash, Ledger, LedgerError};
use thiserror::Error;
use tracing::{debug, info, warn};

use crate::mempool::SharedMempool;
use crate::metrics::{DropLabels, DropReason, NodeMetrics};
use crate::status::{ChainStatus, StatusBoard};
use crate::storage::{CertificateStore, ConsensusStore, RocksKv, StorageError};
use crate::wire;

/// What reaches the driver thread. (Messages are moved, not boxed: they are large but short-lived,
/// and boxing would add an allocation per message.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum DriverInput {
    /// A decoded consensus message from an authenticated peer.
    Peer {
        /// The peer's validator key.
        from: PublicKey,
        /// The message.
        message: Message,
    },
    /// The mempool admitted transactions: a leader waiting for work may propose now.
    TransactionsAdded,
    /// Committed blocks a peer sent for us to catch up.
    Records {
        /// The peer.
        from: PublicKey,
        /// Its response.
        response: catchup::SyncResponse,
    },
    /// A validator's signature over the state after a height.
    LedgerSignature {
        /// What it signed.
        info: keel_ledger::LedgerInfo,
        /// The signature.
        signature: keel_ledger::LedgerSignature,
    },
    /// An RPC asks what consensus is doing (`keel_consensusState`).
    ConsensusState(tokio::sync::oneshot::Sender<ConsensusView>),
    /// Stop after the current step.
    Shutdown,
}

/// The core's snapshot with the driver's view of its timer.
#[derive(Debug, Clone)]
pub struct ConsensusView {
    /// The core's state.
    pub snapshot: keel_consensus::ConsensusSnapshot,
    /// Milliseconds until the current round times out (0 if overdue).
    pub ms_until_timeout: u64,
}

/// Where frames go; the P2P transport in the node, a recorder in tests.
pub trait Outbox: Send {
    /// Queues `frame` for `peer`.
    fn send(&self, peer: &PublicKey, frame: Arc<Vec<u8>>);
    /// Queues `frame` for every peer.
    fn broadcast(&self, frame: Arc<Vec<u8>>);
}

impl Outbox for crate::p2p::P2p {
    fn send(&self, peer: &PublicKey, frame: Arc<Vec<u8>>) {
        crate::p2p::P2p::send(self, peer, frame);
    }

    fn broadcast(&self, frame: Arc<Vec<u8>>) {
        crate::p2p::P2p::broadcast(self, frame);
    }
}

/// Why the driver stopped.
#[derive(Debug, Error)]
pub enum DriverError {
    /// The database failed; nothing after the failed write was sent.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The ledger failed or refused a committed block.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// Stored data contradicts itself.
    #[error("inconsistent storage: {0}")]
    Inconsistent(String),
}

/// Settings of the driver.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// How long a leader with nothing to propose waits before proposing an empty block.
    pub empty_block_delay: Duration,
    /// Most blocks in one answer to a peer's block request.
    pub blocks_per_response_max: u32,
}

/// A leader's pending answer to `RequestPayload`.
#[derive(Debug, Clone, Copy)]
struct PayloadWait {
    round: Round,
    due: Instant,
}

/// The consensus driver (see the module docs).
pub struct Driver<O: Outbox> {
    core: Core,
    store: ConsensusStore,
    ledger: Arc<RwLock<Ledger<RocksKv>>>,
    mempool: Arc<SharedMempool<RocksKv>>,
    outbox: O,
    status: Arc<StatusBoard>,
    metrics: Arc<NodeMetrics>,
    config: DriverConfig,
    epoch: Instant,
    timer: Option<(Round, Instant)>,
    payload_wait: Option<PayloadWait>,
    /// Transactions in uncommitted blocks, by block: skipped when proposing.
    in_flight: BTreeMap<BlockId, (Height, Vec<Hash>)>,
    evidence_seen: u64,
    catch_up: catchup::CatchUp,
    rebuild: catchup::Rebuild,
    certifier: certify::Certifier,
    certificates: CertificateStore,
    /// The ledger store's write time already added to the metrics.
    ledger_write_reported: Cell<Duration>,
}

impl<O: Outbox> Driver<O> {
    /// A driver for `core`, restored from `store`, executing on `ledger`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: Core,
        store: ConsensusStore,
        ledger: Arc<RwLock<Ledger<RocksKv>>>,
        mempool: Arc<SharedMempool<RocksKv>>,
        outbox: O,
        status: Arc<StatusBoard>,
        metrics: Arc<NodeMetrics>,
        config: DriverConfig,
        rebuild: catchup::Rebuild,
        certifier: certify::Certifier,
        certificates: CertificateStore,
    ) -> Self {
        Driver {
            core,
            store,
            ledger,
            mempool,
            outbox,
            status,
            metrics,
            config,
            epoch: Instant::now(),
            timer: None,
            payload_wait: None,
            in_flight: BTreeMap::new(),
            evidence_seen: 0,
            catch_up: catchup::CatchUp::default(),
            rebuild,
            certifier,
            certificates,
            ledger_write_reported: Cell::new(Duration::ZERO),
        }
    }

    /// Runs until `Shutdown`, the input channel closes, or a fatal error.
    pub fn run(mut self, inputs: Receiver<DriverInput>) -> Result<(), DriverError> {
        self.replay_committed_blocks()?;
        self.step(Event::Start)?;
        loop {
            let input = match self.next_wake() {
                Some(at) => match inputs.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(input) => Some(input),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                },
                None => match inputs.recv() {
                    Ok(input) => Some(input),
                    Err(_) => return Ok(()),
                },
            };
            match input {
                Some(DriverInput::Shutdown) => return Ok(()),
                Some(DriverInput::Peer { from, message }) => self.on_message(from, message)?,
                Some(DriverInput::Records { from, response }) => self.on_records(&from, response.records)?,
                Some(DriverInput::LedgerSignature { info, signature }) => self.on_ledger_signature(info, signature)?,
                Some(DriverInput::ConsensusState(reply)) => {
                    let snapshot = self.core.snapshot();
                    let ms_until_timeout = snapshot.round_deadline.as_ms().saturating_sub(self.now().as_ms());
                    let _ = reply.send(ConsensusView { snapshot, ms_until_timeout });
                }
                Some(DriverInput::TransactionsAdded) => {
                    if let Some(wait) = &mut self.payload_wait {
                        wait.due = Instant::now();
                    }
                }
                None => {}
            }
            self.fire_due()?;
        }
    }

    fn now(&self) -> Time {
        Time(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn next_wake(&self) -> Option<Instant> {
        let timer = self.timer.map(|(_, at)| at);
        let payload = self.payload_wait.map(|wait| wait.due);
        match (timer, payload) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn fire_due(&mut self) -> Result<(), DriverError> {
        let now = Instant::now();
        if let Some((round, at)) = self.timer {
            if at <= now {
                self.timer = None;
                self.step(Event::TimerFired { round })?;
            }
        }
        if let Some(wait) = self.payload_wait {
            if wait.due <= Instant::now() {
                self.payload_wait = None;
                self.propose(wait.round)?;
            }
        }
        Ok(())
    }

    fn on_message(&mut self, from: PublicKey, message: Message) -> Result<(), DriverError> {
        match message {
            Message::BlockRequest(request) => self.serve_blocks(&from, request),
            message => {
                if let Message::Proposal(proposal) = &message {
                    self.maybe_catch_up(&from, proposal.block.height);
                }
                self.step(Event::Message { from, message })
            }
        }
    }

    /// Answers a peer's block request from storage: `request.id` and its ancestors, newest
    /// first, as far as this node has them.
    fn serve_blocks(&mut self, from: &PublicKey, request: BlockRequest) -> Result<(), DriverError> {
        let count = request.count.min(self.config.blocks_per_response_max) as usize;
        let mut blocks = Vec::with_capacity(count);
        let mut next = request.id;
        while blocks.len() < count {
            let Some(block) = self.store.block(&next)? else { break };
            next = block.parent;
            let at_genesis = block.height == Height::ZERO;
            blocks.push(block);
            if at_genesis {
                break;
            }
        }
        if !blocks.is_empty() {
            let message = Message::BlockResponse(BlockResponse { blocks });
            self.outbox.send(from, Arc::new(wire::encode_consensus(&message)));
        }
        Ok(())
    }

    /// The leader's answer to `RequestPayload`.
    fn propose(&mut self, round: Round) -> Result<(), DriverError> {
        let in_flight: BTreeSet<Hash> =
            self.in_flight.values().flat_map(|(_, hashes)| hashes.iter().copied()).collect();
        let config = self.core.config();
        let txs_max = config.block_txs_max as usize;
        let bytes_max = usize::try_from(config.block_payload_bytes_max).unwrap_or(usize::MAX);
        let selected = self.mempool.select(txs_max, bytes_max, &in_flight);
        let transactions: Vec<Vec<u8>> = selected.iter().map(|tx| tx.as_ref().clone()).collect();
        let state = {
            let ledger = self.ledger.read().unwrap_or_else(|p| p.into_inner());
            let record = ledger.last_committed();
            StateCommitment { height: Height(record.height.0), root: record.state_root }
        };
        debug!(round = round.get(), txs = transactions.len(), "proposing");
        self.step(Event::PayloadReady { round, payload: Payload { transactions }, state })
    }

    /// Whether a leader should propose at once rather than wait: transactions are pending or
    /// uncommitted blocks carry some (they commit only when more blocks follow).
    fn has_work(&self) -> bool {
        self.in_flight.values().any(|(_, hashes)| !hashes.is_empty()) || self.mempool.size().0 > 0
    }

    /// Feeds one event to the core and performs its actions in order.
    fn step(&mut self, event: Event) -> Result<(), DriverError> {
        let invalid_before = self.core.invalid_messages();
        let actions = self.core.handle(self.now(), event);
        let invalid = self.core.invalid_messages().saturating_sub(invalid_before);
        if invalid > 0 {
            self.metrics
                .messages_dropped
                .get_or_create(&DropLabels { reason: DropReason::BadSignature })
                .inc_by(invalid);
        }
        for action in actions {
            self.perform(action)?;
        }
        self.publish_status();
        Ok(())
    }

    fn perform(&mut self, action: Action) -> Result<(), DriverError> {
        match action {
            Action::PersistSafety(safety) => self.store.save_safety(&safety)?,
            Action::PersistBlock(block) => {
                self.store.save_block(&block)?;
                let hashes = block.payload.transactions.iter().map(|tx| tx_hash(tx)).collect();
                self.in_flight.insert(block.id(), (block.height, hashes));
            }
            Action::PersistQuorumCert(qc) => self.store.save_high_qc(&qc)?,
            Action::PersistTimeoutCert(tc) => {
                self.metrics.timeout_certificates.inc();
                self.store.save_high_tc(&tc)?
            }
            Action::Send { to, message } => self.outbox.send(&to, Arc::new(wire::encode_consensus(&message))),
            Action::Broadcast { message } => {
                if matches!(message, Message::Timeout(_)) {
                    self.metrics.timeouts.inc();
                }
                self.outbox.broadcast(Arc::new(wire::encode_consensus(&message)));
            }
            Action::SetTimer { round, deadline } => {
                let at = self.epoch + Duration::from_millis(deadline.as_ms());
                self.timer = Some((round, at));
            }
            Action::RequestPayload { round, .. } => {
                let delay = if self.has_work() { Duration::ZERO } else { self.config.empty_block_delay };
                self.payload_wait = Some(PayloadWait { round, due: Instant::now() + delay });
            }
            Action::ValidateBlock { block } => {
                // The node runs with `validate_blocks` off: every committed payload is executed
                // and bad transactions become receipts. Answer anyway, so a core configured
                // otherwise is not left waiting.
                self.step(Event::BlockValidated { block_id: block.id(), valid: true })?;
            }
            Action::Commit { blocks, proof } => {
                self.store.save_commit(&blocks, &proof)?;
                let run: Vec<&keel_consensus::Block> = blocks.iter().map(|block| &**block).collect();
                self.execute_run(&run)?;
                let committed = self.core.committed_height();
                self.in_flight.retain(|_, (height, _)| *height > committed);
            }
            Action::FetchBlocks { from, request } => {
                let message = Message::BlockRequest(request);
                self.outbox.send(&from, Arc::new(wire::encode_consensus(&message)));
            }
            Action::Evidence(evidence) => {
                self.evidence_seen += 1;
                warn!(signer = %evidence.signer, round = evidence.round.get(), "equivocation detected; evidence kept");
            }
        }
        Ok(())
    }

    fn publish_status(&self) {
        let ledger = self.ledger.read().unwrap_or_else(|p| p.into_inner());
        let record = ledger.last_committed();
        let status = ChainStatus {
            committed_height: record.height.0,
            committed_block_id: self.core.committed_block_id().0,
            state_root: record.state_root,
            round: self.core.round().get(),
            leader: Some(self.core.leader(self.core.round())),
            high_qc_round: self.core.high_qc().round.get(),
            high_tc_round: self.core.high_tc().map(|tc| tc.round.get()),
            evidence: self.evidence_seen,
            // Catching up by committed blocks, or fetching a proposal's missing ancestors.
            syncing: !self.catch_up.may_request(Instant::now()) || self.core.sync_blocks_held() > 0,
        };
        self.metrics.round.set(i64::try_from(status.round).unwrap_or(i64::MAX));
        self.metrics.committed_height.set(i64::try_from(status.committed_height).unwrap_or(i64::MAX));
        let (txs, bytes) = self.mempool.size();
        self.metrics.mempool_transactions.set(i64::try_from(txs).unwrap_or(i64::MAX));
        self.metrics.mempool_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        let written = ledger.kv().write_time();
        self.metrics
            .ledger_write_seconds
            .inc_by(written.saturating_sub(self.ledger_write_reported.get()).as_secs_f64());
        self.ledger_write_reported.set(written);
        self.status.update(status);
    }

    /// Logs where the node starts from.
    pub fn log_start(&self) {
        info!(
            committed_height = self.core.committed_height().get(),
            round = self.core.round().get(),
            "consensus driver starting"
        );
    }
}
