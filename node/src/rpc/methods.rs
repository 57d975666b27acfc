//! Keel's JSON-RPC methods (the `keel_*` namespace). Method names, parameter names and result
//! fields are public API; application error codes are listed in [`app_code`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use keel_consensus::{BlockId, Height as ConsensusHeight};
use keel_crypto::{Address, Hash, PublicKey};
use keel_ledger::{Height, Ledger, LedgerError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::jsonrpc::{code, parse_params, Handler, RpcError};
use crate::driver::DriverInput;
use crate::mempool::{AdmissionError, SharedMempool};
use crate::p2p::P2p;
use crate::status::StatusBoard;
use crate::storage::{CertificateStore, CommittedRecord, ConsensusStore, RocksKv};

pub use super::errors as app_code;

/// Default wait of `keel_sendTransaction` with `wait: "committed"`, in milliseconds.
pub const WAIT_MS_DEFAULT: u64 = 30_000;
/// Longest wait a client may ask for.
pub const WAIT_MS_MAX: u64 = 120_000;
/// Longest wait for the consensus thread's snapshot.
const CONSENSUS_STATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// The OpenRPC description of this API, served by `rpc.discover`.
pub const OPENRPC_DOCUMENT: &str = include_str!("../../../docs/openrpc.json");
/// How often a waiting call looks for the commit.
const WAIT_POLL_MS: u64 = 50;

/// Everything the methods read.
pub struct RpcContext {
    /// The chain id.
    pub chain_id: String,
    /// The genesis hash.
    pub genesis_hash: Hash,
    /// This node's key.
    pub node_key: PublicKey,
    /// The genesis.
    pub genesis: Arc<keel_genesis::Genesis>,
    /// The driver's latest snapshot.
    pub status: Arc<StatusBoard>,
    /// Committed blocks.
    pub store: ConsensusStore,
    /// Ledger certificates.
    pub certificates: CertificateStore,
    /// The ledger.
    pub ledger: Arc<RwLock<Ledger<RocksKv>>>,
    /// The mempool.
    pub mempool: Arc<SharedMempool<RocksKv>>,
    /// The P2P transport, for gossip and peer counts.
    pub p2p: P2p,
    /// Admitted transactions to gossip (batched by [`crate::node`]'s gossip task).
    pub gossip: tokio::sync::mpsc::Sender<Vec<u8>>,
    /// Where call latencies go.
    pub metrics: Arc<crate::metrics::NodeMetrics>,
    /// Wakes a leader waiting for transactions.
    pub driver: std::sync::mpsc::SyncSender<DriverInput>,
}

/// For methods without parameters: absent, `[]` or `{}`; anything else is -32602.
fn no_params(params: Option<Value>) -> Result<(), RpcError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    parse_params::<Nothing>(params, &[]).map(|_| ())
}

/// How long `keel_sendTransaction` waits.
#[derive(Deserialize, Default, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Wait {
    None,
    #[default]
    Checked,
    Committed,
}

/// The checked parameters of `keel_sendTransaction`.
struct SendParams {
    bytes: Vec<u8>,
    wait: Wait,
    timeout_ms: u64,
}

fn parse_send_params(params: Option<Value>) -> Result<SendParams, RpcError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        transaction: String,
        #[serde(default)]
        wait: Wait,
        #[serde(default = "default_wait_ms")]
        timeout_ms: u64,
    }
    fn default_wait_ms() -> u64 {
        WAIT_MS_DEFAULT
    }
    let params: Params = parse_params(params, &["transaction", "wait", "timeout_ms"])?;
    if params.timeout_ms > WAIT_MS_MAX {
        return Err(RpcError::invalid_params(format!("timeout_ms is at most {WAIT_MS_MAX}")));
    }
    let bytes = hex::decode(params.transaction.trim_start_matches("0x")).map_err(|e| {
        RpcError::with_data(
            code::INVALID_PARAMS,
            format!("transaction is not hex: {e}"),
            json!({ "reason": "MalformedHex" }),
        )
    })?;
    Ok(SendParams { bytes, wait: params.wait, timeout_ms: params.timeout_ms })
}

fn internal(error: impl std::fmt::Display) -> RpcError {
    RpcError::new(code::INTERNAL_ERROR, format!("internal error: {error}"))
}

impl RpcContext {
    fn status(&self) -> Value {
        let status = self.status.get();
        json!({
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash.to_string(),
            "node_key": self.node_key.to_string(),
            "latest_height": status.committed_height,
            "latest_block_hash": status.committed_block_id.to_string(),
            "state_root": status.state_root.to_string(),
            "round": status.round,
            "leader": status.leader.map(|key| key.to_string()),
            "high_qc_round": status.high_qc_round,
            "high_tc_round": status.high_tc_round,
            "evidence": status.evidence,
            "syncing": status.syncing,
            "peers": self.p2p.connected_peers().len(),
            "ms_since_progress": self.status.ms_since_progress(),
        })
    }

    /// Where `hash` stands: committed (with its location and receipt), pending, or unknown.
    pub(super) fn transaction_status(&self, hash: &Hash) -> Result<Value, RpcError> {
        let ledger = self.ledger.read().unwrap_or_else(|p| p.into_inner());
        if let Some(location) = ledger.tx_location(hash).map_err(internal)? {
            let receipts = ledger.receipts(location.height).map_err(internal)?;
            let receipt = receipts.get(location.index as usize).map(|r| {
                json!({
                    "status": format!("{:?}", r.status).to_lowercase(),
                    "code": r.code as u16,
                    "reason": format!("{:?}", r.code),
                    "fee_burned": r.fee_burned,
                })
            });
            return Ok(json!({
                "hash": hash.to_string(),
                "status": "committed",
                "height": location.height.0,
                "index": location.index,
                "receipt": receipt,
            }));
        }
        drop(ledger);
        let status = if self.mempool.contains(hash) { "pending" } else { "unknown" };
        Ok(json!({ "hash": hash.to_string(), "status": status }))
    }

    async fn send_transaction(
        &self,
        params: Option<Value>,
        preadmitted: Option<&Preadmitted>,
    ) -> Result<Value, RpcError> {
        let SendParams { bytes, wait, timeout_ms } = parse_send_params(params)?;
        let hash = keel_ledger::tx_hash(&bytes);
        let early = preadmitted.and_then(|batch| batch.lock().unwrap_or_else(|p| p.into_inner()).remove(&hash));
        let result = match early {
            Some(result) => result,
            None => self.mempool.admit(std::slice::from_ref(&bytes)).remove(0).1,
        };
        match result {
            Ok(outcome) => {
                if !matches!(outcome, crate::mempool::InsertOutcome::AlreadyPending) {
                    // A full gossip queue drops the broadcast, not the transaction: it is in this
                    // node's pool and reaches a block when this node leads.
                    let _ = self.gossip.try_send(bytes);
                    let _ = self.driver.try_send(DriverInput::TransactionsAdded);
                }
            }
            Err(AdmissionError::Invalid(reason)) => return Err(app_code::invalid_transaction(&hash, reason)),
            Err(AdmissionError::Pool(error)) => {
                // Idempotent: a transaction that already committed fails the pool's nonce check;
                // it is reported as committed, never as a stale nonce. (Looking it up only here
                // keeps a store read off the path of every new transaction.)
                let now = self.transaction_status(&hash)?;
                if now["status"] == "committed" {
                    return Ok(now);
                }
                return Err(app_code::refused_transaction(&hash, &error));
            }
            Err(AdmissionError::State(error)) => return Err(internal(error)),
        }
        if wait != Wait::Committed {
            return self.transaction_status(&hash);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
        loop {
            let status = self.transaction_status(&hash)?;
            if status["status"] != "pending" || std::time::Instant::now() >= deadline {
                return Ok(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(WAIT_POLL_MS)).await;
        }
    }

    fn get_transaction(&self, params: Option<Value>) -> Result<Value, RpcError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Params {
            hash: String,
        }
        let params: Params = parse_params(params, &["hash"])?;
        let hash: Hash = params.hash.parse().map_err(|e| RpcError::invalid_params(format!("hash: {e}")))?;
        self.transaction_status(&hash)
    }

    fn validators(&self) -> Value {
        let validators: Vec<Value> = self
            .genesis
            .validators()
            .iter()
            .map(|v| {
                json!({
                    "name": v.name,
                    "public_key": v.public_key.to_string(),
                    "network_address": v.network_address,
                    "power": v.power,
                })
            })
            .collect();
        json!({ "validators": validators, "total_power": self.genesis.total_power() })
    }

    fn genesis_document(&self) -> Result<Value, RpcError> {
        let mut document: Value = serde_json::from_slice(&self.genesis.to_json_pretty()).map_err(internal)?;
        document["genesis_hash"] = json!(self.genesis.hash().to_string());
        Ok(document)
    }

    /// The committed record named by `height` or `hash` (exactly one of them).
    fn committed_record(&self, height: Option<u64>, hash: Option<&str>) -> Result<CommittedRecord, RpcError> {
        let height = match (height, hash) {
            (Some(height), None) => height,
            (None, Some(hash)) => {
                let id = BlockId(hash.parse().map_err(|e| RpcError::invalid_params(format!("hash: {e}")))?);
                let not_found = || RpcError::new(app_code::NOT_FOUND, format!("no committed block with hash {hash}"));
                self.store.committed_height_of(&id).map_err(internal)?.ok_or_else(not_found)?.get()
            }
            _ => return Err(RpcError::invalid_params("give exactly one of height and hash")),
        };
        self.store
            .committed(ConsensusHeight(height))
            .map_err(internal)?
            .ok_or_else(|| RpcError::new(app_code::NOT_FOUND, format!("no committed block at height {height}")))
    }

    /// A committed block's header: its consensus fields, the state root and receipts hash after
    /// it, and the ledger certificate of that height when this node has one.
    fn header_of(&self, record: &CommittedRecord) -> Result<Value, RpcError> {
        let block = &record.block;
        let height = block.height.get();
        let executed = {
            let ledger = self.ledger.read().unwrap_or_else(|p| p.into_inner());
            ledger.height_record(Height(height)).map_err(internal)?
        };
        let executed = executed.ok_or_else(|| {
            RpcError::new(app_code::NOT_FOUND, format!("block at height {height} is committed but not executed yet"))
        })?;
        let certificate = self.certificates.get(Height(height)).map_err(internal)?;
        Ok(json!({
            "height": height,
            "hash": block.id().0.to_string(),
            "parent": block.parent.0.to_string(),
            "round": block.round.get(),
            "proposer": block.proposer.to_string(),
            "transactions": block.payload.transactions.len(),
            "state_root": executed.state_root.to_string(),
            "receipts_hash": executed.receipts_hash.to_string(),
            "qc_round": block.qc.round.get(),
            "certificate": certificate,
        }))
    }

    /// The header at `height` (for subscriptions).
    pub(super) fn header_at(&self, height: u64) -> Result<Value, RpcError> {
        let record = self.committed_record(Some(height), None)?;
        self.header_of(&record)
    }

    fn block_header(&self, params: Option<Value>) -> Result<Value, RpcError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Params {
            height: Option<u64>,
            hash: Option<String>,
        }
        let params: Params = parse_params(params, &["height", "hash"])?;
        let record = self.committed_record(params.height, params.hash.as_deref())?;
        self.header_of(&record)
    }

    fn block(&self, params: Option<Value>) -> Result<Value, RpcError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Params {
            height: Option<u64>,
            hash: Option<String>,
            #[serde(default)]
            full: bool,
        }
        let params: Params = parse_params(params, &["height", "full", "hash"])?;
        let record = self.committed_record(params.height, params.hash.as_deref())?;
        let mut block = self.header_of(&record)?;
        let transactions = &record.block.payload.transactions;
        block["transaction_hashes"] = transactions.iter().map(|tx| keel_ledger::tx_hash(tx).to_string()).collect();
        if params.full {
            block["transactions_hex"] = transactions.iter().map(hex::encode).collect();
        }
        Ok(block)
    }

    fn account(&self, params: Option<Value>) -> Result<Value, RpcError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Params {
            address: String,
            height: Option<u64>,
            #[serde(default)]
            proof: bool,
        }
        let params: Params = parse_params(params, &["address", "height", "proof"])?;
        let address: Address = params.address.parse().map_err(|e| RpcError::invalid_params(format!("address: {e}")))?;
        let ledger = self.ledger.read().unwrap_or_else(|p| p.into_inner());
        let executed = ledger.last_committed().height;
        let unavailable = |error: LedgerError| match error {
            LedgerError::HeightUnavailable { height, oldest_kept, last_committed } => RpcError::with_data(
                app_code::NOT_FOUND,
                format!("state at height {} is not available", height.0),
                json!({ "oldest_kept": oldest_kept.0, "latest": last_committed.0 }),
            ),
            other => internal(other),
        };
        if !params.proof {
            let height = params.height.map_or(executed, Height);
            let account = ledger.account(&address, height).map_err(unavailable)?;
            return Ok(json!({
                "address": address.to_string(),
                "height": height.0,
                "exists": account.is_some(),
                "balance": account.unwrap_or_default().balance,
                "nonce": account.unwrap_or_default().nonce,
            }));
        }
        // A proof comes with the certificate of its height, so the answer is checkable against
        // the validator set alone. By default: the newest certified height this node executed.
        let certificate = match params.height {
            Some(height) => self.certificates.get(Height(height)).map_err(internal)?,
            None => self.certificates.latest_at_or_below(executed).map_err(internal)?,
        };
        let certificate = certificate.ok_or_else(|| {
            let which = params.height.map_or("any height".to_owned(), |h| format!("height {h}"));
            RpcError::new(app_code::NOT_CERTIFIED, format!("this node holds no ledger certificate for {which} yet"))
        })?;
        let height = certificate.info.height;
        let proof = ledger.prove_account(&address, height).map_err(unavailable)?;
        let account = proof.account.unwrap_or_default();
        Ok(json!({
            "address": address.to_string(),
            "height": height.0,
            "exists": proof.account.is_some(),
            "balance": account.balance,
            "nonce": account.nonce,
            "state_root": certificate.info.state_root.to_string(),
            "proof": proof,
            "certificate": certificate,
        }))
    }
}

impl RpcContext {
    /// Why the chain is or is not moving: asks the consensus thread for its snapshot.
    async fn consensus_state(&self) -> Result<Value, RpcError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let mut request = DriverInput::ConsensusState(reply);
        let deadline = std::time::Instant::now() + CONSENSUS_STATE_WAIT;
        loop {
            match self.driver.try_send(request) {
                Ok(()) => break,
                Err(std::sync::mpsc::TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                    request = back;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(_) => return Err(internal("the consensus thread is busy or stopped")),
            }
        }
        let view = tokio::time::timeout(CONSENSUS_STATE_WAIT, answer)
            .await
            .map_err(|_| internal("the consensus thread did not answer in time"))?
            .map_err(|_| internal("the consensus thread stopped"))?;
        let snapshot = view.snapshot;
        let connected: std::collections::BTreeSet<PublicKey> = self.p2p.connected_peers().into_iter().collect();
        let others = self.genesis.validators().iter().map(|v| v.public_key).filter(|key| *key != self.node_key);
        let (connected, missing): (Vec<PublicKey>, Vec<PublicKey>) = others.partition(|key| connected.contains(key));
        let keys = |keys: &[PublicKey]| keys.iter().map(ToString::to_string).collect::<Vec<_>>();
        Ok(json!({
            "round": snapshot.round.get(),
            "leader": snapshot.leader.to_string(),
            "ms_until_timeout": view.ms_until_timeout,
            "round_timeout_ms": snapshot.round_timeout_ms,
            "last_voted_round": snapshot.last_voted_round.get(),
            "locked_round": snapshot.locked_round.get(),
            "high_qc": { "round": snapshot.high_qc.0.get(), "block_id": snapshot.high_qc.1 .0.to_string() },
            "high_tc": snapshot.high_tc_round.map(|round| json!({ "round": round.get() })),
            "votes": snapshot.votes.iter().map(|v| json!({
                "round": v.round.get(),
                "block_id": v.block_id.0.to_string(),
                "power": v.power.get(),
                "voters": keys(&v.voters),
            })).collect::<Vec<_>>(),
            "timeouts": snapshot.timeouts.iter().map(|t| json!({
                "round": t.round.get(),
                "power": t.power.get(),
                "signers": keys(&t.signers),
            })).collect::<Vec<_>>(),
            "last_commit": { "height": snapshot.committed.0.get(), "block_id": snapshot.committed.1 .0.to_string() },
            "ms_since_progress": self.status.ms_since_progress(),
            "validators_connected": keys(&connected),
            "validators_missing": keys(&missing),
        }))
    }
}

/// Admission results of a batch's transactions, by hash, taken by their calls.
pub type Preadmitted = Mutex<BTreeMap<Hash, Result<crate::mempool::InsertOutcome, AdmissionError>>>;

impl RpcContext {
    /// Admits the transactions of a batch's `keel_sendTransaction` calls together, so their
    /// signatures are checked in one batch (about half the cost of one-by-one checks). Each call
    /// then reports its own transaction's result exactly as if it had admitted it alone.
    pub fn preadmit(&self, body: &[u8]) -> Preadmitted {
        // Only batches: a single call (the common case) is not parsed twice.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
            return Preadmitted::default();
        }
        let Ok(Value::Array(calls)) = serde_json::from_slice::<Value>(body) else {
            return Preadmitted::default();
        };
        if calls.len() > super::server::BATCH_LEN_MAX {
            return Preadmitted::default();
        }
        // Only calls that will run: well-formed requests with valid parameters, in batch order
        // (nonces of one sender arrive in order), each transaction once.
        let mut seen = std::collections::BTreeSet::new();
        let transactions: Vec<Vec<u8>> = calls
            .into_iter()
            .filter_map(|call| {
                let Value::Object(mut call) = call else { return None };
                let well_formed = call.remove("jsonrpc") == Some(json!("2.0"))
                    && call.remove("method") == Some(json!("keel_sendTransaction"))
                    && matches!(call.remove("id"), None | Some(Value::String(_) | Value::Number(_) | Value::Null))
                    && matches!(call.get("params"), Some(Value::Array(_) | Value::Object(_)));
                let params = call.remove("params");
                (well_formed && call.is_empty()).then_some(params)?
            })
            .filter_map(|params| parse_send_params(Some(params)).ok())
            .map(|params| params.bytes)
            .filter(|bytes| seen.insert(keel_ledger::tx_hash(bytes)))
            .collect();
        if transactions.len() < 2 {
            return Preadmitted::default();
        }
        Mutex::new(self.mempool.admit(&transactions).into_iter().collect())
    }

    /// Runs one call, with the batch's admission results if it is part of one.
    pub async fn call_in_batch(
        &self,
        method: &str,
        params: Option<Value>,
        preadmitted: Option<&Preadmitted>,
    ) -> Result<Value, RpcError> {
        let started = std::time::Instant::now();
        let (known, result) = self.dispatch(method, params, preadmitted).await;
        // Unknown names share one label, so a client cannot grow the metric without bound.
        let label = if known { method } else { "unknown" };
        self.metrics
            .rpc_latency_seconds
            .get_or_create(&crate::metrics::RpcLabels { method: label.to_owned() })
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

impl Handler for RpcContext {
    async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, RpcError> {
        self.call_in_batch(method, params, None).await
    }
}

/// The handler of one HTTP request: the node's methods plus the request's batch admissions.
pub struct RequestHandler<'a> {
    /// The methods.
    pub context: &'a RpcContext,
    /// Results of [`RpcContext::preadmit`] for this request's body.
    pub preadmitted: Preadmitted,
}

impl Handler for RequestHandler<'_> {
    async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, RpcError> {
        self.context.call_in_batch(method, params, Some(&self.preadmitted)).await
    }
}

impl RpcContext {
    /// Runs `method`; also says whether the method exists.
    async fn dispatch(
        &self,
        method: &str,
        params: Option<Value>,
        preadmitted: Option<&Preadmitted>,
    ) -> (bool, Result<Value, RpcError>) {
        let result = match method {
            "keel_status" => no_params(params).map(|_| self.status()),
            "keel_sendTransaction" => return (true, self.send_transaction(params, preadmitted).await),
            "keel_getTransaction" => self.get_transaction(params),
            "keel_getValidators" => no_params(params).map(|_| self.validators()),
            "keel_getGenesis" => no_params(params).and_then(|_| self.genesis_document()),
            "keel_getBlockHeader" => self.block_header(params),
            "keel_getAccount" => self.account(params),
            "keel_getBlock" => self.block(params),
            "keel_consensusState" => {
                if let Err(error) = no_params(params) {
                    return (true, Err(error));
                }
                return (true, self.consensus_state().await);
            }
            "keel_subscribe" | "keel_unsubscribe" => Err(super::ws::websocket_only(method)),
            "rpc.discover" => no_params(params).and_then(|_| serde_json::from_str(OPENRPC_DOCUMENT).map_err(internal)),
            other => {
                return (false, Err(RpcError::new(code::METHOD_NOT_FOUND, format!("method {other:?} does not exist"))))
            }
        };
        (true, result)
    }
}
