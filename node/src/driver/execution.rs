//! Executing committed blocks on the ledger, and replaying the ones a crash left unexecuted.
//!
//! A commit is stored (synced) before its blocks execute. Each block's ledger batch is written
//! behind, while the next block executes, and without RocksDB's log: it is on disk once RocksDB
//! flushes its memtables (see `storage::RocksKv`). So after a crash the ledger is behind the
//! committed chain, by the blocks that were not flushed, never ahead, and always at a whole
//! block: on start the driver re-executes the stored committed blocks above the ledger's height.
//! Execution is a pure function of (parent state, block), so the replay yields the roots the
//! first run would have.

use std::collections::BTreeSet;

use keel_consensus::{Block, BlockId};
use keel_crypto::Address;
use keel_ledger::{BlockContext, CheckedBlock, Height, LedgerError, LedgerInfo, LedgerSignature, TxStatus};
use tracing::info;

use std::sync::Arc;

use super::certify::Gathered;
use super::{Driver, DriverError, Outbox};
use crate::metrics::{DropLabels, DropReason};

/// Blocks read from storage at a time when re-executing after a restart.
const REPLAY_RUN_BLOCKS: usize = 32;

impl<O: Outbox> Driver<O> {
    /// Executes committed `blocks` in order (each the ledger's next height) and commits their
    /// outcomes. Each block's transactions are checked (decoded, signatures verified) while the
    /// block before it executes, on other threads: a node catching up or re-executing after a
    /// restart runs through blocks whose transactions its mempool never saw, and their signature
    /// checks would otherwise take as long as the rest of execution. Verdicts do not depend on
    /// when a block is checked, only on the block (see `SharedMempool::checked_block`).
    pub(super) fn execute_run(&mut self, blocks: &[&Block]) -> Result<(), DriverError> {
        let Some((first, _)) = blocks.split_first() else { return Ok(()) };
        let mempool = self.mempool.clone();
        // Transactions this node's mempool verified on admission are not verified again.
        let check = |block: &Block| mempool.checked_block(&block.payload.transactions, 2);
        let mut checked = check(first);
        std::thread::scope(|scope| {
            for (index, block) in blocks.iter().enumerate() {
                let check = &check;
                let next = blocks.get(index + 1).map(|next| scope.spawn(move || check(next)));
                self.execute_checked(block, block.id(), checked.map_err(LedgerError::from)?)?;
                let Some(next) = next else { break };
                checked = next.join().expect("checking a block's transactions never panics");
            }
            Ok(())
        })
    }

    /// Executes committed `block` (the ledger's next height, with id `block_id`), whose
    /// transactions were checked into `checked`, and commits its outcome.
    fn execute_checked(&mut self, block: &Block, block_id: BlockId, checked: CheckedBlock) -> Result<(), DriverError> {
        let context = BlockContext { height: Height(block.height.get()), proposer: block.proposer };
        let (checked, outcome) = {
            let ledger = self.ledger.read().unwrap_or_else(|p| p.into_inner());
            let expected = ledger.last_committed().height.0 + 1;
            if block.height.get() != expected {
                return Err(DriverError::Inconsistent(format!(
                    "committed block at height {} but the ledger expects height {expected}",
                    block.height.get()
                )));
            }
            let outcome = ledger.execute_checked(&checked, &context)?;
            (checked, outcome)
        };
        let applied = outcome.receipts.iter().filter(|r| r.status != TxStatus::Rejected).count() as u64;
        let hashes: Vec<_> = outcome.receipts.iter().map(|r| r.tx_hash).collect();
        let record = {
            let mut ledger = self.ledger.write().unwrap_or_else(|p| p.into_inner());
            ledger.commit(outcome)?;
            *ledger.last_committed()
        };
        self.certify(LedgerInfo {
            chain_id: self.certifier.chain_id().to_owned(),
            height: record.height,
            block_id: block_id.0,
            state_root: record.state_root,
            receipts_hash: record.receipts_hash,
        })?;
        let senders: BTreeSet<Address> =
            checked.txs().iter().filter_map(|tx| tx.verdict.as_ref().ok()).map(|body| body.sender_address()).collect();
        self.mempool.on_committed(&hashes, &senders);
        self.metrics.blocks_committed.inc();
        self.metrics.transactions_committed.inc_by(applied);
        Ok(())
    }

    /// Signs the state after an executed height, sends the signature to every validator and
    /// stores a certificate if ours completed one.
    fn certify(&mut self, info: LedgerInfo) -> Result<(), DriverError> {
        let (signature, certificate) = self.certifier.on_executed(info.clone());
        self.outbox.broadcast(Arc::new(crate::wire::encode_ledger_signature(&info, &signature)));
        if let Some(certificate) = certificate {
            self.certificates.save(&certificate)?;
        }
        Ok(())
    }

    /// A peer's signature over the state after a height.
    pub(super) fn on_ledger_signature(
        &mut self,
        info: LedgerInfo,
        signature: LedgerSignature,
    ) -> Result<(), DriverError> {
        match self.certifier.on_signature(info, signature) {
            Gathered::Certified(certificate) => self.certificates.save(&certificate)?,
            Gathered::Invalid => {
                self.metrics.messages_dropped.get_or_create(&DropLabels { reason: DropReason::BadSignature }).inc();
            }
            Gathered::Pending => {}
        }
        Ok(())
    }

    /// Executes stored committed blocks the ledger has not seen (a crash between the two
    /// writes, or a ledger store wiped by the operator). Only stored commits: restoring may have
    /// committed more blocks in the core (a crash after a certificate was stored but before the
    /// commit it completes), and those are stored and executed by the core's first step.
    pub(super) fn replay_committed_blocks(&mut self) -> Result<(), DriverError> {
        let committed = self.core.committed_height().get().min(self.store.committed_root_height()?);
        let ledger_height = self.ledger.read().unwrap_or_else(|p| p.into_inner()).last_committed().height.0;
        if ledger_height > committed {
            return Err(DriverError::Inconsistent(format!(
                "the ledger is at height {ledger_height}, above the committed chain's {committed}"
            )));
        }
        if ledger_height < committed {
            info!(from = ledger_height + 1, to = committed, "re-executing committed blocks");
        }
        let heights: Vec<u64> = (ledger_height + 1..=committed).collect();
        for run in heights.chunks(REPLAY_RUN_BLOCKS) {
            let mut records = Vec::with_capacity(run.len());
            for &height in run {
                records.push(self.store.committed(keel_consensus::Height(height))?.ok_or_else(|| {
                    DriverError::Inconsistent(format!("committed block at height {height} is missing from storage"))
                })?);
            }
            let blocks: Vec<&Block> = records.iter().map(|record| &record.block).collect();
            self.execute_run(&blocks)?;
        }
        Ok(())
    }
}
