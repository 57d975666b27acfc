//! The tree's worker threads: started once, on first use, and shared by every clone of the
//! tree, so that a block's parallel steps (hashing its keys, updating the subtrees below the
//! root, reading the accounts the value cache does not hold) do not each start and end threads.
//! Filling the caches is not one of them: a new node takes its cache entry on the thread that
//! built it, and the value cache is filled on the committing thread (see `NodeCache`).
//!
//! Why it matters: a block's new nodes are allocated on the threads that build them. A thread
//! that ends hands its allocator's pages back, and the next block's fresh threads start from
//! cold pages (at a million accounts, allocation was an eighth of the tree threads' samples).
//! Long-lived workers keep their heaps (and most replaced nodes are rebuilt in their own memory,
//! see `Node::into_parts`).
//!
//! Results never depend on the workers: every step splits its work into contiguous runs and
//! gathers the results in the runs' order, so the whole is what one thread would produce. If the
//! pool cannot start, the work runs on the caller's thread.

use std::sync::OnceLock;

use rayon::prelude::*;

/// Up to `threads` long-lived worker threads (none for 1).
#[derive(Debug)]
pub(super) struct Workers {
    threads: usize,
    /// The pool, once started; `None` inside when it could not be started.
    pool: OnceLock<Option<rayon::ThreadPool>>,
}

impl Workers {
    pub(super) fn new(threads: usize) -> Self {
        Workers { threads: threads.max(1), pool: OnceLock::new() }
    }

    /// How many threads the work is split over.
    pub(super) fn threads(&self) -> usize {
        self.threads
    }

    fn pool(&self) -> Option<&rayon::ThreadPool> {
        if self.threads <= 1 {
            return None;
        }
        self.pool
            .get_or_init(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(self.threads)
                    .thread_name(|index| format!("ledger-tree-{index}"))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// `work` of each item, in the items' order; on the workers when there are several, each
    /// item taken by whichever worker is free (a worker the machine preempts holds up only the
    /// item it is on).
    pub(super) fn map<T: Send, R: Send>(&self, items: Vec<T>, work: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
        match self.pool() {
            Some(pool) if items.len() > 1 => pool.install(|| items.into_par_iter().with_max_len(1).map(work).collect()),
            _ => items.into_iter().map(work).collect(),
        }
    }
}
