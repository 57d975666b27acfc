//! The node's latest state as the consensus driver last saw it, for RPC, health and logs.
//! The driver writes it after every step; readers copy it out.

use std::sync::RwLock;
use std::time::Instant;

use keel_crypto::Hash;

/// A snapshot of the chain as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStatus {
    /// Height of the last committed (and executed) block.
    pub committed_height: u64,
    /// Its block id.
    pub committed_block_id: Hash,
    /// The ledger's state root after it.
    pub state_root: Hash,
    /// The current consensus round.
    pub round: u64,
    /// The current round's leader.
    pub leader: Option<keel_crypto::PublicKey>,
    /// Rounds of the highest QC and TC seen.
    pub high_qc_round: u64,
    /// The highest TC's round, if any.
    pub high_tc_round: Option<u64>,
    /// Equivocations seen (each kept as evidence).
    pub evidence: u64,
    /// Whether peers propose blocks well above this node's committed height (it is catching up).
    pub syncing: bool,
}

/// The shared snapshot plus when the committed height last moved, and a channel announcing each
/// new committed height (for WebSocket subscribers).
#[derive(Debug)]
pub struct StatusBoard {
    status: RwLock<(ChainStatus, Instant)>,
    heights: tokio::sync::watch::Sender<u64>,
}

impl StatusBoard {
    /// A board starting at `status`.
    pub fn new(status: ChainStatus) -> Self {
        let heights = tokio::sync::watch::Sender::new(status.committed_height);
        StatusBoard { status: RwLock::new((status, Instant::now())), heights }
    }

    /// Replaces the snapshot; the progress clock restarts when the height moved.
    pub fn update(&self, status: ChainStatus) {
        let mut guard = self.status.write().unwrap_or_else(|p| p.into_inner());
        let progressed = status.committed_height != guard.0.committed_height;
        let height = status.committed_height;
        guard.0 = status;
        if progressed {
            guard.1 = Instant::now();
            drop(guard);
            self.heights.send_replace(height);
        }
    }

    /// A receiver that sees the committed (and executed) height each time it moves.
    pub fn watch_heights(&self) -> tokio::sync::watch::Receiver<u64> {
        self.heights.subscribe()
    }

    /// The latest snapshot.
    pub fn get(&self) -> ChainStatus {
        self.status.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Milliseconds since the committed height last moved.
    pub fn ms_since_progress(&self) -> u64 {
        let guard = self.status.read().unwrap_or_else(|p| p.into_inner());
        u64::try_from(guard.1.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
