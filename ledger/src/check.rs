//! The stateless half of execution: limits, decoding, chain id and signatures.
//!
//! Everything here depends on the block alone, never on the state, so it can run before the
//! parent state is known (for example while the block is being voted on) and in parallel.
//!
//! Signatures are batch-verified in chunks of [`SIGNATURE_CHUNK_LEN`] consecutive block
//! positions. The chunks are fixed by the block, not by the number of threads: the crypto crate's
//! batch equation can, in one contrived case that only a key's owner can produce, judge a
//! signature differently from single verification, and fixing the batches makes every node judge
//! every transaction the same way whatever its core count. Threads take contiguous runs of
//! chunks, and results are put back in block order.

use borsh::BorshSerialize;
use std::sync::OnceLock;

use keel_crypto::{verify_batch, Address, Hash, SignedMessage, SigningDomain};
use keel_genesis::Genesis;

use crate::error::BlockError;
use crate::receipt::ReasonCode;
use crate::transaction::{tx_hash, SignedTransaction, Transaction, TxDecodeError};

/// Transactions per signature batch. Part of the consensus rules (see the module docs).
pub const SIGNATURE_CHUNK_LEN: usize = 512;
/// Most threads [`check_block`] will use.
pub const SIGNATURE_THREADS_MAX: usize = 64;

/// The limits and identity a block is checked against, from genesis.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize)]
pub struct ChainRules {
    /// Transactions must carry this chain id.
    pub chain_id: String,
    /// Largest encoded transaction, in bytes.
    pub transaction_bytes_max: usize,
    /// Most transactions in a block.
    pub block_txs_max: usize,
    /// Largest sum of encoded transaction sizes in a block, in bytes.
    pub block_bytes_max: usize,
}

impl ChainRules {
    /// The rules of the chain that `genesis` starts.
    pub fn from_genesis(genesis: &Genesis) -> ChainRules {
        let params = genesis.consensus();
        ChainRules {
            chain_id: genesis.chain_id().to_owned(),
            transaction_bytes_max: params.transaction_bytes_max as usize,
            block_txs_max: params.block_txs_max as usize,
            block_bytes_max: params.block_bytes_max as usize,
        }
    }
}

/// One block entry after the stateless checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTx {
    /// The transaction hash of the entry's bytes.
    pub hash: Hash,
    /// The body if it decoded, is for this chain and is signed by its sender; else why not.
    pub verdict: Result<Transaction, ReasonCode>,
}

/// A block whose entries have been through the stateless checks, in block order.
#[derive(Debug, Clone)]
pub struct CheckedBlock {
    txs: Vec<CheckedTx>,
    /// Each entry's sender address (a hash of its key), computed once for reading ahead and
    /// executing.
    senders: OnceLock<Vec<Option<Address>>>,
}

impl PartialEq for CheckedBlock {
    fn eq(&self, other: &Self) -> bool {
        self.txs == other.txs
    }
}

impl Eq for CheckedBlock {}

impl CheckedBlock {
    fn new(txs: Vec<CheckedTx>) -> CheckedBlock {
        CheckedBlock { txs, senders: OnceLock::new() }
    }

    /// The entries, in block order.
    pub fn txs(&self) -> &[CheckedTx] {
        &self.txs
    }

    /// The sender address of each entry that passed the checks, in block order.
    pub fn senders(&self) -> &[Option<Address>] {
        self.senders.get_or_init(|| self.txs.iter().map(sender_of).collect())
    }

    /// Builds a block from entries whose signatures were already verified by some other means
    /// (benchmarks, or a block replayed from a source that is trusted). Consensus code must use
    /// [`check_block`].
    pub fn from_trusted(txs: Vec<CheckedTx>) -> CheckedBlock {
        CheckedBlock::new(txs)
    }
}

/// The sender address of an entry that passed the checks.
fn sender_of(tx: &CheckedTx) -> Option<Address> {
    tx.verdict.as_ref().ok().map(Transaction::sender_address)
}

/// Checks a block's limits, then decodes and verifies every entry using `threads` threads
/// (1 = the caller's thread only). The result does not depend on `threads`.
pub fn check_block<T: AsRef<[u8]> + Sync>(
    txs: &[T],
    rules: &ChainRules,
    threads: usize,
) -> Result<CheckedBlock, BlockError> {
    if txs.len() > rules.block_txs_max {
        return Err(BlockError::TooManyTransactions { txs: txs.len(), txs_max: rules.block_txs_max });
    }
    let bytes: usize = txs.iter().map(|tx| tx.as_ref().len()).sum();
    if bytes > rules.block_bytes_max {
        return Err(BlockError::TooManyBytes { bytes, bytes_max: rules.block_bytes_max });
    }
    let chunks: Vec<&[T]> = txs.chunks(SIGNATURE_CHUNK_LEN).collect();
    let threads = threads.clamp(1, SIGNATURE_THREADS_MAX).min(chunks.len().max(1));
    // Each entry's verdict and, for those that passed, its sender's address (a hash of its key,
    // which reading ahead and executing need): both on the checking threads.
    let check_run = |run: &[&[T]]| -> (Vec<CheckedTx>, Vec<Option<Address>>) {
        let checked: Vec<CheckedTx> = run.iter().flat_map(|chunk| check_chunk(chunk, rules)).collect();
        let senders = checked.iter().map(sender_of).collect();
        (checked, senders)
    };
    let (checked, senders): (Vec<CheckedTx>, Vec<Option<Address>>) = if threads == 1 {
        check_run(&chunks)
    } else {
        let per_thread = chunks.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks.chunks(per_thread).map(|run| scope.spawn(move || check_run(run))).collect();
            let (mut checked, mut senders) = (Vec::with_capacity(txs.len()), Vec::with_capacity(txs.len()));
            for handle in handles {
                let (run_checked, run_senders) = handle.join().expect("checking a chunk never panics");
                checked.extend(run_checked);
                senders.extend(run_senders);
            }
            (checked, senders)
        })
    };
    assert_eq!(checked.len(), txs.len(), "one verdict per entry, in order");
    let block = CheckedBlock::new(checked);
    block.senders.set(senders).expect("a new block has no senders yet");
    Ok(block)
}

/// Decodes and checks one signature chunk; signatures in it are verified as one batch.
fn check_chunk<T: AsRef<[u8]>>(chunk: &[T], rules: &ChainRules) -> Vec<CheckedTx> {
    assert!(chunk.len() <= SIGNATURE_CHUNK_LEN);
    let mut out = Vec::with_capacity(chunk.len());
    let mut decoded: Vec<(usize, SignedTransaction, usize)> = Vec::with_capacity(chunk.len());
    for (position, raw) in chunk.iter().enumerate() {
        let raw = raw.as_ref();
        let hash = tx_hash(raw);
        let verdict = match SignedTransaction::decode(raw, rules.transaction_bytes_max) {
            Err(TxDecodeError::Oversized { .. }) => Err(ReasonCode::Oversized),
            Err(TxDecodeError::Malformed { .. }) => Err(ReasonCode::Malformed),
            Ok((tx, _)) if tx.body.chain_id != rules.chain_id => Err(ReasonCode::WrongChain),
            Ok((tx, body_len)) => {
                decoded.push((position, tx, body_len));
                Err(ReasonCode::BadSignature) // replaced below once the signature verifies
            }
        };
        out.push(CheckedTx { hash, verdict });
    }
    let messages: Vec<SignedMessage<'_>> = decoded
        .iter()
        .map(|(position, tx, body_len)| SignedMessage {
            domain: SigningDomain::Transaction,
            message: &chunk[*position].as_ref()[..*body_len],
            public_key: &tx.body.sender,
            signature: &tx.signature,
        })
        .collect();
    let invalid = verify_batch(&messages).err().map(|failure| failure.invalid).unwrap_or_default();
    for (index, (position, tx, _)) in decoded.into_iter().enumerate() {
        if invalid.binary_search(&index).is_err() {
            out[position].verdict = Ok(tx.body);
        }
    }
    out
}
