//! Block sync bookkeeping: which fetches are outstanding, and fetched blocks whose own parent
//! is still missing.
//!
//! Rules:
//! - a block is fetched only because a verified certificate (or a verified proposal's QC)
//!   names it, so the first block of a response is authenticated by its id, and each next one
//!   by being the `parent` of the one before: a response is accepted only when it answers an
//!   outstanding fetch and forms such a hash chain;
//! - at most `fetches_in_flight_max` fetches are outstanding; one that got no answer may be
//!   repeated once the node is in a later round;
//! - fetched blocks wait for their ancestors in a buffer of at most `sync_blocks_buffered_max`,
//!   newest arrivals refused when it is full; a node further behind than that needs the
//!   driver's state sync.

use std::collections::BTreeMap;

use crate::block::Block;
use crate::error::VerifyError;
use crate::types::{BlockId, Height, Round};

/// Outstanding fetches and blocks waiting for their ancestors.
#[derive(Debug, Clone)]
pub struct SyncState {
    in_flight: BTreeMap<BlockId, Round>,
    orphans: BTreeMap<BlockId, Block>,
    fetches_in_flight_max: usize,
    sync_blocks_buffered_max: usize,
}

impl SyncState {
    /// Empty bookkeeping with the given limits.
    pub fn new(fetches_in_flight_max: usize, sync_blocks_buffered_max: usize) -> Self {
        SyncState {
            in_flight: BTreeMap::new(),
            orphans: BTreeMap::new(),
            fetches_in_flight_max,
            sync_blocks_buffered_max,
        }
    }

    /// Whether to fetch `id` now (in `round`); records the fetch when so.
    pub fn try_start_fetch(&mut self, id: BlockId, round: Round) -> bool {
        if self.in_flight.get(&id).is_some_and(|&asked| asked >= round) {
            return false;
        }
        if self.in_flight.len() >= self.fetches_in_flight_max {
            // Fetches from earlier rounds went unanswered; make room rather than stall sync.
            self.in_flight.retain(|_, asked| *asked >= round);
        }
        if self.in_flight.len() >= self.fetches_in_flight_max {
            return false;
        }
        self.in_flight.insert(id, round);
        true
    }

    /// Checks that `blocks` (newest first) answer an outstanding fetch and form a hash chain;
    /// returns them with their ids, oldest first.
    pub fn try_accept_response(
        &mut self,
        blocks: Vec<Block>,
        blocks_max: u32,
    ) -> Result<Vec<(BlockId, Block)>, VerifyError> {
        if blocks.is_empty() {
            return Err(VerifyError::BadResponse { reason: "no blocks" });
        }
        if blocks.len() > blocks_max as usize {
            return Err(VerifyError::BadResponse { reason: "more blocks than blocks_per_response_max" });
        }
        let ids: Vec<BlockId> = blocks.iter().map(Block::id).collect();
        if !self.in_flight.contains_key(&ids[0]) {
            return Err(VerifyError::BadResponse { reason: "not a block this node asked for" });
        }
        if blocks.windows(2).zip(&ids[1..]).any(|(pair, older_id)| pair[0].parent != *older_id) {
            return Err(VerifyError::BadResponse { reason: "blocks do not form a parent chain" });
        }
        self.in_flight.remove(&ids[0]);
        let mut chain: Vec<(BlockId, Block)> = ids.into_iter().zip(blocks).collect();
        chain.reverse();
        Ok(chain)
    }

    /// Keeps a verified block whose parent is missing; false when the buffer is full.
    pub fn try_hold(&mut self, id: BlockId, block: Block) -> bool {
        if self.orphans.len() >= self.sync_blocks_buffered_max && !self.orphans.contains_key(&id) {
            return false;
        }
        self.orphans.insert(id, block);
        true
    }

    /// Removes and returns the held blocks whose parent is `parent`.
    pub fn take_children(&mut self, parent: &BlockId) -> Vec<(BlockId, Block)> {
        let ids: Vec<BlockId> = self.orphans.iter().filter(|(_, b)| b.parent == *parent).map(|(id, _)| *id).collect();
        ids.into_iter().map(|id| (id, self.orphans.remove(&id).expect("listed from the map"))).collect()
    }

    /// Forgets held blocks at or below the committed height.
    pub fn prune(&mut self, committed_height: Height) {
        self.orphans.retain(|_, block| block.height > committed_height);
    }

    /// Blocks held, for tests.
    pub fn held(&self) -> usize {
        self.orphans.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Fixture;

    #[test]
    fn responses_must_be_solicited_chained_and_within_the_limit() {
        let fixture = Fixture::new(4);
        let chain = fixture.chain(3);
        let newest_first: Vec<Block> = chain.iter().rev().cloned().collect();
        let mut sync = SyncState::new(4, 8);
        assert!(sync.try_accept_response(newest_first.clone(), 8).is_err(), "unsolicited");
        assert!(sync.try_start_fetch(chain[2].id(), Round(1)));
        assert!(!sync.try_start_fetch(chain[2].id(), Round(1)), "already in flight this round");
        assert!(sync.try_accept_response(newest_first.clone(), 2).is_err(), "over the limit");
        let mut broken = newest_first.clone();
        broken.swap(1, 2);
        assert!(sync.try_accept_response(broken, 8).is_err(), "not a parent chain");
        let accepted = sync.try_accept_response(newest_first, 8).expect("answers the fetch");
        assert_eq!(
            accepted.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            chain.iter().map(Block::id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn in_flight_and_buffer_are_bounded() {
        let fixture = Fixture::new(4);
        let chain = fixture.chain(4);
        let mut sync = SyncState::new(2, 2);
        assert!(sync.try_start_fetch(chain[0].id(), Round(1)));
        assert!(sync.try_start_fetch(chain[1].id(), Round(1)));
        assert!(!sync.try_start_fetch(chain[2].id(), Round(1)), "full");
        assert!(sync.try_start_fetch(chain[2].id(), Round(2)), "a later round retires unanswered fetches");
        assert!(sync.try_hold(chain[1].id(), chain[1].clone()));
        assert!(sync.try_hold(chain[2].id(), chain[2].clone()));
        assert!(!sync.try_hold(chain[3].id(), chain[3].clone()), "buffer full");
        assert_eq!(sync.take_children(&chain[0].id()).len(), 1);
        sync.prune(Height(3));
        assert_eq!(sync.held(), 0);
    }
}
