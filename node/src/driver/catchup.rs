//! Catch-up of a node that fell far behind: whole committed blocks from a peer, checked
//! without trusting the peer, then a fresh core rooted at the newest of them.
//!
//! The core's own block sync walks back from a proposal's parent and buffers what it fetched
//! (`sync_blocks_buffered_max`); a node down for longer than that needs this path. The rules:
//!
//! - **Trigger**: a proposal more than [`CATCH_UP_GAP`] heights above our committed height. At
//!   most one request is outstanding; an unanswered one is retried after [`REQUEST_TIMEOUT`].
//! - **Request**: `SyncRequest { from_height, count }` to the proposer (it has the chain).
//! - **Serve**: consecutive committed records from `from_height`, cut after the last one that
//!   carries commit evidence (see [`CommitEvidence`](crate::storage::CommitEvidence)), so every
//!   response ends in a provable commit.
//! - **Check**: the records form a hash chain starting at our committed block; the last one's
//!   evidence holds a valid QC for it and a valid QC, one round later, for a child whose parent
//!   it is — the 2-chain commit rule, checked with the validators' signatures. So a Byzantine
//!   peer can delay us but never make us commit anything else.
//! - **Apply**: store the records as committed (one synced batch), execute them on the ledger,
//!   and rebuild the core from storage with our unchanged safety state (so nothing we signed is
//!   forgotten), then ask for more if the peer had more.

use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use keel_consensus::{BlockId, Height, SealedBlock, Verifier, VerifyError};
use thiserror::Error;

use crate::storage::CommittedRecord;

/// How far behind a proposal must show us to be before we catch up by committed blocks.
pub const CATCH_UP_GAP: u64 = 32;
/// Most records asked for at once.
pub const RECORDS_PER_REQUEST: u32 = 256;
/// Most bytes of records a response carries (the frame limit is far above).
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// When an unanswered request may be repeated.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks a peer for committed blocks.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SyncRequest {
    /// The first height wanted.
    pub from_height: u64,
    /// How many; the server caps it.
    pub count: u32,
}

/// Committed blocks, consecutive, the last with commit evidence.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SyncResponse {
    /// The records.
    pub records: Vec<CommittedRecord>,
}

/// Why a response was refused.
#[derive(Debug, Error)]
pub enum CatchUpError {
    /// Nothing usable.
    #[error("empty response")]
    Empty,
    /// A block is not the next one of the chain.
    #[error("block at position {position} does not extend the chain (height {height})")]
    Broken {
        /// Its position in the response.
        position: usize,
        /// Its height.
        height: u64,
    },
    /// No record carries commit evidence.
    #[error("no commit evidence")]
    NoEvidence,
    /// The evidence does not show the last block committed.
    #[error("commit evidence does not match: {0}")]
    Mismatch(&'static str),
    /// A certificate failed verification.
    #[error("certificate: {0}")]
    Certificate(String),
}

/// Checks `records` against our committed block (`root_id` at `root_height`); returns how many
/// of them are proven committed (a prefix ending at the last record with valid evidence).
pub fn verify_records(
    records: &[CommittedRecord],
    root_id: BlockId,
    root_height: Height,
    verifier: &mut Verifier,
) -> Result<usize, CatchUpError> {
    if records.is_empty() {
        return Err(CatchUpError::Empty);
    }
    let mut parent = root_id;
    for (position, record) in records.iter().enumerate() {
        let block = &record.block;
        if block.parent != parent || block.height.get() != root_height.get() + 1 + position as u64 {
            return Err(CatchUpError::Broken { position, height: block.height.get() });
        }
        parent = block.id();
    }
    let last = records.iter().rposition(|r| r.commit.is_some()).ok_or(CatchUpError::NoEvidence)?;
    let block = &records[last].block;
    let evidence = records[last].commit.as_ref().expect("found above");
    let (block_qc, child_qc, child) = (&evidence.proof.block_qc, &evidence.proof.child_qc, &evidence.child);
    if block_qc.block_id != block.id() || block_qc.round != block.round {
        return Err(CatchUpError::Mismatch("the block QC does not certify the block"));
    }
    if child.parent != block.id() || child.qc.block_id != block.id() || child.qc.round != block.round {
        return Err(CatchUpError::Mismatch("the child does not extend the block through its QC"));
    }
    if child_qc.block_id != child.id()
        || child_qc.round != child.round
        || Some(child.round) != block.round.checked_add(1)
    {
        return Err(CatchUpError::Mismatch("the child QC is not for the child one round later"));
    }
    let invalid = |e: VerifyError| CatchUpError::Certificate(e.to_string());
    verifier.verify_qc(block_qc).map_err(invalid)?;
    verifier.verify_qc(child_qc).map_err(invalid)?;
    Ok(last + 1)
}

/// The one outstanding request, if any.
#[derive(Debug, Default)]
pub struct CatchUp {
    outstanding: Option<Instant>,
}

impl CatchUp {
    /// Whether a new request may go out now (none outstanding, or the last one timed out).
    pub fn may_request(&self, now: Instant) -> bool {
        self.outstanding.is_none_or(|sent| now.duration_since(sent) >= REQUEST_TIMEOUT)
    }

    /// A request went out.
    pub fn requested(&mut self, now: Instant) {
        self.outstanding = Some(now);
    }

    /// The answer came (or was refused).
    pub fn answered(&mut self) {
        self.outstanding = None;
    }
}

/// What the driver needs to check a peer's records and rebuild its core after catching up.
pub struct Rebuild {
    /// The state of a node that never ran (the base of [`ConsensusStore::load_recovery`](crate::storage::ConsensusStore::load_recovery)).
    pub genesis: keel_consensus::RecoveryData,
    /// A core for the given recovery data (same config, validators and key as the first).
    pub core: Box<dyn Fn(keel_consensus::RecoveryData) -> keel_consensus::Core + Send>,
    /// A verifier of this chain's certificates.
    pub verifier: Box<dyn Fn() -> Verifier + Send>,
}

impl<O: super::Outbox> super::Driver<O> {
    /// A proposal from `from` at `height`: if it shows us far behind, ask `from` for committed
    /// blocks.
    pub(super) fn maybe_catch_up(&mut self, from: &keel_crypto::PublicKey, height: Height) {
        let committed = self.core.committed_height();
        let now = Instant::now();
        if height.get() <= committed.get() + CATCH_UP_GAP || !self.catch_up.may_request(now) {
            return;
        }
        tracing::info!(committed = committed.get(), seen = height.get(), peer = %from, "behind: catching up by committed blocks");
        self.request_records(from, now);
    }

    fn request_records(&mut self, from: &keel_crypto::PublicKey, now: Instant) {
        let request = SyncRequest { from_height: self.core.committed_height().get() + 1, count: RECORDS_PER_REQUEST };
        self.outbox.send(from, std::sync::Arc::new(crate::wire::encode_sync_request(&request)));
        self.catch_up.requested(now);
    }

    /// A peer's committed records: checked, stored, executed; then the core restarts on them.
    pub(super) fn on_records(
        &mut self,
        from: &keel_crypto::PublicKey,
        mut records: Vec<CommittedRecord>,
    ) -> Result<(), super::DriverError> {
        self.catch_up.answered();
        let root_id = self.core.committed_block_id();
        let root_height = self.core.committed_height();
        let proven = match verify_records(&records, root_id, root_height, &mut (self.rebuild.verifier)()) {
            Ok(proven) => proven,
            Err(problem) => {
                tracing::warn!(peer = %from, %problem, "refusing committed blocks from a peer");
                return Ok(());
            }
        };
        let asked_for_all = records.len() as u32 >= RECORDS_PER_REQUEST;
        records.truncate(proven);
        let evidence = records.last().and_then(|r| r.commit.clone()).expect("the proven prefix ends with evidence");
        self.store.save_committed(&records, &evidence.proof.block_qc)?;
        if evidence.proof.child_qc.round > self.core.high_qc().round {
            self.store.save_high_qc(&evidence.proof.child_qc)?;
        }
        self.store.save_block(&SealedBlock::seal(evidence.child))?;
        let blocks: Vec<&keel_consensus::Block> = records.iter().map(|record| &record.block).collect();
        self.execute_run(&blocks)?;
        let mut recovery = self.store.load_recovery(self.rebuild.genesis.clone())?;
        recovery.safety = self.core.safety_state().clone();
        self.core = (self.rebuild.core)(recovery);
        self.in_flight.clear();
        self.timer = None;
        self.payload_wait = None;
        tracing::info!(height = self.core.committed_height().get(), blocks = records.len(), "caught up to");
        if asked_for_all {
            self.request_records(from, Instant::now());
        }
        self.step(keel_consensus::Event::Start)
    }
}

#[cfg(test)]
mod tests {
    use keel_consensus::{
        genesis_qc, Block, CommitProof, Ed25519Scheme, QuorumCert, RecoveryData, Round, ValidatorSet,
    };
    use keel_crypto::{Hash, Keypair};
    use rand_core::OsRng;

    use super::*;
    use crate::storage::CommitEvidence;

    use crate::storage::test_child as child;

    fn setup() -> (Verifier, Block, Vec<CommittedRecord>) {
        let keypair = Keypair::generate(&mut OsRng);
        let validators = ValidatorSet::equal_power([keypair.public()]).unwrap();
        let chain = Hash::sha256(b"chain");
        let genesis = RecoveryData::genesis(&chain, &validators).root;
        let verifier = Verifier::new(chain, validators, Box::new(Ed25519Scheme::new(keypair)), genesis_qc(&genesis));
        let b1 = child(&genesis, 1);
        let b2 = child(&b1, 2);
        let b3 = child(&b2, 3);
        // Unsigned QCs: the structure checks pass, the signature check must not.
        let evidence = CommitEvidence {
            proof: CommitProof {
                block_qc: b3.qc.clone(),
                child_qc: QuorumCert::unsigned(b3.id(), b3.round, b3.height),
            },
            child: b3,
        };
        let records =
            vec![CommittedRecord { block: b1, commit: None }, CommittedRecord { block: b2, commit: Some(evidence) }];
        (verifier, genesis, records)
    }

    #[test]
    fn records_must_chain_from_our_root_and_end_in_valid_evidence() {
        let (mut verifier, genesis, records) = setup();
        let root = (genesis.id(), genesis.height);
        assert!(matches!(verify_records(&[], root.0, root.1, &mut verifier), Err(CatchUpError::Empty)));
        assert!(matches!(
            verify_records(&records[1..], root.0, root.1, &mut verifier),
            Err(CatchUpError::Broken { position: 0, .. })
        ));
        assert!(matches!(verify_records(&records[..1], root.0, root.1, &mut verifier), Err(CatchUpError::NoEvidence)));
        let mut wrong_child = records.clone();
        wrong_child[1].commit.as_mut().unwrap().child.parent = genesis.id();
        assert!(matches!(verify_records(&wrong_child, root.0, root.1, &mut verifier), Err(CatchUpError::Mismatch(_))));
        let mut wrong_round = records.clone();
        wrong_round[1].commit.as_mut().unwrap().proof.child_qc.round = Round(9);
        assert!(matches!(verify_records(&wrong_round, root.0, root.1, &mut verifier), Err(CatchUpError::Mismatch(_))));
        // Everything lines up, but nobody signed the certificates.
        assert!(matches!(verify_records(&records, root.0, root.1, &mut verifier), Err(CatchUpError::Certificate(_))));
    }

    #[test]
    fn one_request_is_outstanding_until_answered_or_timed_out() {
        let mut catch_up = CatchUp::default();
        let start = Instant::now();
        assert!(catch_up.may_request(start));
        catch_up.requested(start);
        assert!(!catch_up.may_request(start + Duration::from_millis(10)));
        assert!(catch_up.may_request(start + REQUEST_TIMEOUT));
        catch_up.answered();
        assert!(catch_up.may_request(start));
    }
}
