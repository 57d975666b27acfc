//! Block sync: fetching missing blocks, taking them in, and answering peers.

use keel_crypto::PublicKey;
use tracing::debug;

use super::Core;
use crate::block::{Block, SealedBlock};
use crate::block_tree::Inserted;
use crate::event::Action;
use crate::message::{BlockRequest, BlockResponse, Message};
use crate::types::{BlockId, Height};

impl Core {
    /// Asks `from` for block `id` (at `height`) and the ancestors between it and the committed
    /// root, up to `blocks_per_response_max`.
    pub(super) fn fetch(&mut self, from: PublicKey, id: BlockId, height: Height) {
        if from == self.me || !self.sync.try_start_fetch(id, self.pacemaker.round()) {
            return;
        }
        let missing = height.get().saturating_sub(self.tree.committed_height().get()).max(1);
        let count = u32::try_from(missing).unwrap_or(u32::MAX).min(self.config.blocks_per_response_max);
        debug!(block = %id, %from, count, "fetching blocks");
        self.emit(Action::FetchBlocks { from, request: BlockRequest { id, count } });
    }

    /// Sync rule (responder): send the requested block and its ancestors, newest first, as
    /// many as known up to `blocks_per_response_max`.
    pub(super) fn on_block_request(&mut self, from: PublicKey, request: BlockRequest) {
        let count = request.count.min(self.config.blocks_per_response_max) as usize;
        let blocks = self.tree.ancestors(&request.id, count);
        if blocks.is_empty() {
            debug!(block = %request.id, %from, "block request ignored: unknown block");
            return;
        }
        self.emit(Action::Send { to: from, message: Message::BlockResponse(BlockResponse { blocks }) });
    }

    /// Sync rule (requester): a response must answer an outstanding fetch with a parent chain of
    /// well-shaped blocks whose certificates verify; then each joins the tree, oldest first.
    pub(super) fn on_blocks(&mut self, from: PublicKey, blocks: Vec<Block>) {
        let chain = match self.sync.try_accept_response(blocks, self.config.blocks_per_response_max) {
            Ok(chain) => chain,
            Err(error) => {
                debug!(%from, %error, "blocks ignored");
                return;
            }
        };
        for (_, block) in &chain {
            let checked = block.verify_shape(&self.config).and_then(|()| self.verifier.verify_qc(&block.qc));
            let checked = checked.and_then(|()| block.tc.as_ref().map_or(Ok(()), |tc| self.verifier.verify_tc(tc)));
            if let Err(error) = checked {
                debug!(%from, %error, "blocks ignored: a block does not verify");
                return;
            }
        }
        for (id, block) in chain {
            self.insert_block(Some(from), SealedBlock::from_parts(id, block));
        }
    }

    /// Inserts a verified block and then every held block and waiting proposal that it
    /// unblocks. Returns whether the block is in the tree afterwards.
    pub(super) fn insert_block(&mut self, from: Option<PublicKey>, block: SealedBlock) -> bool {
        let inserted = block.id();
        let mut queue = vec![block];
        let mut unblocked = Vec::new();
        while let Some(block) = queue.pop() {
            let id = block.id();
            self.process_qc(block.qc.clone(), None);
            match self.tree.insert(block.clone()) {
                Inserted::New(commits) => {
                    self.emit(Action::PersistBlock(block));
                    self.emit_commits(commits);
                    let children = self.sync.take_children(&id);
                    queue.extend(children.into_iter().map(|(id, child)| SealedBlock::from_parts(id, child)));
                    unblocked.extend(self.pending_parents.remove(&id).unwrap_or_default());
                }
                Inserted::Known | Inserted::Stale => {}
                Inserted::MissingParent => {
                    let (parent, parent_height) = (block.parent, block.qc.height);
                    if !self.sync.try_hold(id, block.into_block()) {
                        debug!(block = %id, "fetched block dropped: sync buffer full");
                        continue;
                    }
                    if let Some(peer) = from {
                        self.fetch(peer, parent, parent_height);
                    }
                }
            }
        }
        for (peer, proposal) in unblocked {
            let child = proposal.block.id();
            self.accept_proposal(peer, child, proposal);
        }
        self.tree.contains(&inserted)
    }
}
