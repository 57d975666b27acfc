//! The node's shared mempool: admission of raw transactions (decode, chain id, batched signature
//! check, then the pool's nonce and balance rules against the committed state), selection for
//! proposals, and removal on commit. RPC handlers and the P2P router admit; the consensus driver
//! selects and commits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use keel_crypto::{Address, Hash};
use keel_ledger::{
    check_block, ChainRules, CheckedBlock, CheckedTx, KvStore, Ledger, Payload, ReasonCode, Transaction,
};
use thiserror::Error;

use super::opaque::OpaqueQueue;
use super::pool::{InsertOutcome, Mempool, MempoolError, MempoolLimits, PoolTx, SenderState};

/// A transaction in the pool: its hash, wire bytes and decoded body (signature verified).
#[derive(Debug, Clone)]
pub struct PooledTx {
    hash: Hash,
    bytes: Arc<Vec<u8>>,
    body: Arc<Transaction>,
}

impl PooledTx {
    /// The signed transaction's bytes, as they go into a block.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl PoolTx for PooledTx {
    fn hash(&self) -> Hash {
        self.hash
    }

    fn sender(&self) -> Address {
        self.body.sender_address()
    }

    fn nonce(&self) -> u64 {
        self.body.nonce
    }

    fn fee(&self) -> u64 {
        self.body.fee
    }

    fn cost(&self) -> Option<u64> {
        match self.body.payload {
            Payload::Transfer { amount, .. } => amount.checked_add(self.body.fee),
        }
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdmissionError {
    /// It fails a stateless check (malformed, oversized, wrong chain, bad signature).
    #[error("transaction rejected: {0:?}")]
    Invalid(ReasonCode),
    /// The pool's rules refused it.
    #[error(transparent)]
    Pool(#[from] MempoolError),
    /// The committed state could not be read.
    #[error("state unavailable: {0}")]
    State(String),
}

/// The mempool, shared between the RPC server, the P2P router and the consensus driver.
pub struct SharedMempool<K: KvStore> {
    pool: Mutex<Mempool<PooledTx>>,
    rules: ChainRules,
    ledger: Arc<RwLock<Ledger<K>>>,
    limits: MempoolLimits,
    /// `Some` in the benchmark-only opaque mode (see [`super::opaque`]).
    opaque: Option<Mutex<OpaqueQueue>>,
}

impl<K: KvStore> SharedMempool<K> {
    /// An empty pool admitting by `rules` against `ledger`'s committed state.
    pub fn new(limits: MempoolLimits, rules: ChainRules, ledger: Arc<RwLock<Ledger<K>>>) -> Self {
        SharedMempool { pool: Mutex::new(Mempool::new(limits)), rules, ledger, limits, opaque: None }
    }

    /// Switches to the benchmark-only opaque mode: transactions are admitted as bytes, unchecked.
    pub fn with_opaque_transactions(mut self) -> Self {
        self.opaque = Some(Mutex::new(OpaqueQueue::default()));
        self
    }

    fn opaque(&self) -> Option<MutexGuard<'_, OpaqueQueue>> {
        self.opaque.as_ref().map(|queue| queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn admit_opaque(
        &self,
        queue: &mut OpaqueQueue,
        raw: &[Vec<u8>],
    ) -> Vec<(Hash, Result<InsertOutcome, AdmissionError>)> {
        raw.iter()
            .map(|bytes| {
                let hash = keel_ledger::tx_hash(bytes);
                let result = if bytes.len() > self.rules.transaction_bytes_max {
                    Err(AdmissionError::Invalid(ReasonCode::Oversized))
                } else if queue.contains(&hash) {
                    Ok(InsertOutcome::AlreadyPending)
                } else if queue.size().0 >= self.limits.txs_max || queue.size().1 + bytes.len() > self.limits.bytes_max
                {
                    Err(AdmissionError::Pool(MempoolError::Full { what: "opaque transactions" }))
                } else {
                    queue.insert(hash, bytes.clone());
                    Ok(InsertOutcome::Added)
                };
                (hash, result)
            })
            .collect()
    }

    fn pool(&self) -> MutexGuard<'_, Mempool<PooledTx>> {
        self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks and admits `raw` transactions; one result per entry, in order. Signatures are
    /// verified in batches before the pool lock is taken.
    pub fn admit(&self, raw: &[Vec<u8>]) -> Vec<(Hash, Result<InsertOutcome, AdmissionError>)> {
        if let Some(mut queue) = self.opaque() {
            return self.admit_opaque(&mut queue, raw);
        }
        let checked = match check_block(raw, &self.rules, 1) {
            Ok(checked) => checked,
            // More than a block's worth: check them one by one.
            Err(_) if raw.len() > 1 => return raw.chunks(1).flat_map(|one| self.admit(one)).collect(),
            Err(_) => {
                return vec![(keel_ledger::tx_hash(&raw[0]), Err(AdmissionError::Invalid(ReasonCode::Oversized)))]
            }
        };
        let mut results = Vec::with_capacity(raw.len());
        for (entry, bytes) in checked.txs().iter().zip(raw) {
            let result = match &entry.verdict {
                Err(code) => Err(AdmissionError::Invalid(*code)),
                Ok(body) => self.insert(PooledTx {
                    hash: entry.hash,
                    bytes: Arc::new(bytes.clone()),
                    body: Arc::new(body.clone()),
                }),
            };
            results.push((entry.hash, result));
        }
        results
    }

    fn insert(&self, tx: PooledTx) -> Result<InsertOutcome, AdmissionError> {
        let state = self.sender_state(&tx.sender())?;
        Ok(self.pool().insert(tx, state)?)
    }

    /// The committed nonce and balance of `sender`.
    pub fn sender_state(&self, sender: &Address) -> Result<SenderState, AdmissionError> {
        let ledger = self.ledger.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let height = ledger.last_committed().height;
        let account = ledger.account(sender, height).map_err(|e| AdmissionError::State(e.to_string()))?;
        Ok(account.map_or(SenderState::default(), |a| SenderState { next_nonce: a.nonce, balance: a.balance }))
    }

    /// Transactions (their bytes) for a block, skipping those already in uncommitted blocks.
    pub fn select(&self, txs_max: usize, bytes_max: usize, in_flight: &BTreeSet<Hash>) -> Vec<Arc<Vec<u8>>> {
        if let Some(queue) = self.opaque() {
            return queue.select(txs_max, bytes_max, in_flight);
        }
        self.pool().select(txs_max, bytes_max, in_flight).into_iter().map(|tx| tx.bytes).collect()
    }

    /// A block committed with these transaction hashes, sent by these senders.
    pub fn on_committed(&self, committed: &[Hash], senders: &BTreeSet<Address>) {
        if let Some(mut queue) = self.opaque() {
            queue.remove(committed);
            return;
        }
        let mut states = BTreeMap::new();
        for sender in senders {
            if let Ok(state) = self.sender_state(sender) {
                states.insert(*sender, state);
            }
        }
        self.pool().on_committed(committed, &states);
    }

    /// The stateless verdicts for a committed block's entries: taken from the pool for pending
    /// transactions (checked on admission), computed with batched signature checks for the rest.
    /// Gives exactly what `check_block` would.
    pub fn checked_block(&self, raw: &[Vec<u8>], threads: usize) -> Result<CheckedBlock, keel_ledger::BlockError> {
        let hashes: Vec<Hash> = raw.iter().map(|tx| keel_ledger::tx_hash(tx)).collect();
        let known: Vec<Option<Transaction>> = if self.opaque.is_some() {
            vec![None; raw.len()]
        } else {
            let pool = self.pool();
            hashes.iter().map(|hash| pool.get(hash).map(|tx| tx.body.as_ref().clone())).collect()
        };
        let unknown: Vec<&Vec<u8>> = raw.iter().zip(&known).filter(|(_, k)| k.is_none()).map(|(tx, _)| tx).collect();
        let mut checked_unknown = check_block(&unknown, &self.rules, threads)?.txs().to_vec().into_iter();
        let txs = known
            .into_iter()
            .zip(hashes)
            .map(|(body, hash)| match body {
                Some(body) => CheckedTx { hash, verdict: Ok(body) },
                None => checked_unknown.next().expect("one verdict per unknown entry"),
            })
            .collect();
        Ok(CheckedBlock::from_trusted(txs))
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        if let Some(queue) = self.opaque() {
            return queue.contains(hash);
        }
        self.pool().contains(hash)
    }

    /// Transactions and bytes pending.
    pub fn size(&self) -> (usize, usize) {
        if let Some(queue) = self.opaque() {
            return queue.size();
        }
        let pool = self.pool();
        (pool.len(), pool.bytes())
    }

    /// The chain's transaction rules.
    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use keel_crypto::Keypair;
    use keel_genesis::GenesisBuilder;
    use keel_ledger::{LedgerConfig, MemKv};

    use super::*;

    #[test]
    fn verdicts_for_a_committed_block_match_check_block_whether_pending_or_not() {
        let alice = Keypair::from_secret_bytes(&[1; 32]);
        let validator = Keypair::from_secret_bytes(&[2; 32]);
        let genesis = GenesisBuilder::new("chain", 0)
            .validator("v", &validator.public(), "127.0.0.1:1", 1)
            .account(&Address::from_public_key(&alice.public()), 1_000_000)
            .build()
            .unwrap();
        let ledger = Arc::new(RwLock::new(Ledger::open(MemKv::new(), &genesis, LedgerConfig::default()).unwrap()));
        let rules = ChainRules::from_genesis(&genesis);
        let mempool = SharedMempool::new(MempoolLimits::default(), rules.clone(), ledger);
        let transfer = |nonce: u64, chain: &str| {
            let to = Address::from_public_key(&validator.public());
            Transaction {
                chain_id: chain.into(),
                sender: alice.public(),
                nonce,
                fee: 1,
                payload: Payload::Transfer { to, amount: 5 },
            }
            .sign(&alice)
            .to_bytes()
        };
        let pending = vec![transfer(0, "chain"), transfer(1, "chain")];
        assert!(mempool.admit(&pending).iter().all(|(_, result)| result.is_ok()));
        let mut bad_signature = transfer(2, "chain");
        *bad_signature.last_mut().unwrap() ^= 1;
        let block = vec![
            pending[0].clone(),
            transfer(3, "chain"),
            bad_signature,
            transfer(4, "other"),
            vec![7],
            pending[1].clone(),
        ];
        let expected = check_block(&block, &rules, 1).unwrap();
        assert_eq!(mempool.checked_block(&block, 2).unwrap(), expected);
    }
}
