//! The mempool's data structure (see the module docs for the rules).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use keel_crypto::{Address, Hash};
use thiserror::Error;

/// What the mempool needs to know about a transaction.
pub trait PoolTx: Clone {
    /// The transaction hash.
    fn hash(&self) -> Hash;
    /// Who pays.
    fn sender(&self) -> Address;
    /// The sender's sequence number.
    fn nonce(&self) -> u64;
    /// The fee offered.
    fn fee(&self) -> u64;
    /// Everything it can take from the sender (amount plus fee); `None` if that overflows.
    fn cost(&self) -> Option<u64>;
    /// Encoded size in bytes.
    fn encoded_len(&self) -> usize;
}

/// A sender's committed state: the nonce its next transaction must carry, and its balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderState {
    /// The next nonce.
    pub next_nonce: u64,
    /// The balance.
    pub balance: u64,
}

/// The mempool's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Most transactions in the pool.
    pub txs_max: usize,
    /// Most bytes of encoded transactions in the pool.
    pub bytes_max: usize,
    /// Most transactions of one sender.
    pub sender_txs_max: usize,
    /// Furthest a nonce may run ahead of the sender's next nonce.
    pub sender_nonce_gap_max: u64,
    /// Least fee increase, in percent, for a replacement.
    pub fee_bump_percent_min: u64,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            txs_max: 100_000,
            bytes_max: 64 * 1024 * 1024,
            sender_txs_max: 256,
            sender_nonce_gap_max: 256,
            fee_bump_percent_min: 10,
        }
    }
}

/// What happened to an admitted transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// New in the pool; the caller should gossip it.
    Added,
    /// It was pending already: nothing changed.
    AlreadyPending,
    /// It replaced a pending transaction with the same sender and nonce (whose hash is given).
    Replaced(Hash),
}

/// Why a transaction was refused. Each maps to a documented RPC error code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MempoolError {
    /// Its nonce was used already.
    #[error("nonce {nonce} is stale: the sender's next nonce is {next_nonce}")]
    NonceStale {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's next nonce.
        next_nonce: u64,
    },
    /// Its nonce is too far ahead.
    #[error("nonce {nonce} is too far ahead: the sender's next nonce is {next_nonce} and the pool accepts up to {gap_max} ahead")]
    NonceTooFarAhead {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's next nonce.
        next_nonce: u64,
        /// The allowed gap.
        gap_max: u64,
    },
    /// Another transaction holds this nonce and the fee bump is too small.
    #[error("nonce {nonce} already has a pending transaction with fee {pending_fee}; a replacement needs a fee of at least {fee_min}")]
    ReplacementUnderpriced {
        /// The nonce.
        nonce: u64,
        /// The pending transaction's fee.
        pending_fee: u64,
        /// The least acceptable fee.
        fee_min: u64,
    },
    /// The sender cannot pay for all its pending transactions.
    #[error("insufficient balance: pending transactions would cost {needed} but the balance is {balance}")]
    InsufficientBalance {
        /// Total cost with this transaction.
        needed: u64,
        /// The committed balance.
        balance: u64,
    },
    /// The pool, or this sender's share of it, is full.
    #[error("mempool is full ({what})")]
    Full {
        /// Which limit.
        what: &'static str,
    },
}

#[derive(Debug, Clone)]
struct Pending<T> {
    tx: T,
    arrival: u64,
}

#[derive(Debug, Clone)]
struct SenderQueue<T> {
    state: SenderState,
    by_nonce: BTreeMap<u64, Pending<T>>,
}

/// A sender's lowest pending nonce from `from` on that is not in flight, skipping in-flight ones
/// (they will have executed by the time this block does); `None` at the first gap.
fn head_of<'a, T: PoolTx>(
    queue: &'a SenderQueue<T>,
    from: u64,
    in_flight: &BTreeSet<Hash>,
) -> Option<(u64, &'a Pending<T>)> {
    let mut nonce = from;
    loop {
        let pending = queue.by_nonce.get(&nonce)?;
        if !in_flight.contains(&pending.tx.hash()) {
            return Some((nonce, pending));
        }
        nonce += 1;
    }
}

/// The pool (see the module docs).
#[derive(Debug, Clone)]
pub struct Mempool<T: PoolTx> {
    limits: MempoolLimits,
    senders: BTreeMap<Address, SenderQueue<T>>,
    by_hash: BTreeMap<Hash, (Address, u64)>,
    bytes: usize,
    next_arrival: u64,
}

impl<T: PoolTx> Mempool<T> {
    /// An empty pool.
    pub fn new(limits: MempoolLimits) -> Self {
        assert!(limits.txs_max > 0 && limits.bytes_max > 0 && limits.sender_txs_max > 0, "limits admit something");
        Mempool { limits, senders: BTreeMap::new(), by_hash: BTreeMap::new(), bytes: 0, next_arrival: 0 }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Bytes of pending transactions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The pending transaction `hash`, if any.
    pub fn get(&self, hash: &Hash) -> Option<&T> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.senders.get(sender)?.by_nonce.get(nonce).map(|pending| &pending.tx)
    }

    /// Admits `tx`, given its sender's committed state (see the module docs).
    pub fn insert(&mut self, tx: T, state: SenderState) -> Result<InsertOutcome, MempoolError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Ok(InsertOutcome::AlreadyPending);
        }
        let (sender, nonce) = (tx.sender(), tx.nonce());
        if nonce < state.next_nonce {
            return Err(MempoolError::NonceStale { nonce, next_nonce: state.next_nonce });
        }
        let gap_max = self.limits.sender_nonce_gap_max;
        if nonce - state.next_nonce > gap_max {
            return Err(MempoolError::NonceTooFarAhead { nonce, next_nonce: state.next_nonce, gap_max });
        }
        // Transactions the new committed state made stale go first, so they neither count
        // against limits nor block a replacement. No queue is made for a sender until one of
        // its transactions is admitted: refused ones leave nothing behind.
        if let Some(queue) = self.senders.get_mut(&sender) {
            queue.state = state;
            let stale: Vec<Hash> = queue.by_nonce.range(..state.next_nonce).map(|(_, p)| p.tx.hash()).collect();
            for stale_hash in stale {
                self.remove(&stale_hash);
            }
        }
        let replaced = self.check_replacement(&tx)?;
        self.check_balance(&tx, state)?;
        self.check_limits(&tx, replaced.is_some())?;
        if let Some(old) = replaced {
            self.remove(&old);
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.bytes += tx.encoded_len();
        self.by_hash.insert(hash, (sender, nonce));
        let queue = self.senders.entry(sender).or_insert_with(|| SenderQueue { state, by_nonce: BTreeMap::new() });
        queue.state = state;
        queue.by_nonce.insert(nonce, Pending { tx, arrival });
        Ok(replaced.map_or(InsertOutcome::Added, InsertOutcome::Replaced))
    }

    fn check_replacement(&self, tx: &T) -> Result<Option<Hash>, MempoolError> {
        let Some(pending) = self.senders.get(&tx.sender()).and_then(|q| q.by_nonce.get(&tx.nonce())) else {
            return Ok(None);
        };
        let pending_fee = pending.tx.fee();
        let bump = pending_fee.saturating_mul(self.limits.fee_bump_percent_min) / 100;
        let fee_min = pending_fee.saturating_add(bump.max(1));
        if tx.fee() < fee_min {
            return Err(MempoolError::ReplacementUnderpriced { nonce: tx.nonce(), pending_fee, fee_min });
        }
        Ok(Some(pending.tx.hash()))
    }

    fn check_balance(&self, tx: &T, state: SenderState) -> Result<(), MempoolError> {
        let others = self.senders.get(&tx.sender()).into_iter().flat_map(|q| q.by_nonce.values());
        let needed = others
            .filter(|p| p.tx.nonce() != tx.nonce())
            .map(|p| p.tx.cost())
            .chain([tx.cost()])
            .try_fold(0u64, |sum, cost| cost.and_then(|c| sum.checked_add(c)));
        match needed {
            Some(needed) if needed <= state.balance => Ok(()),
            Some(needed) => Err(MempoolError::InsufficientBalance { needed, balance: state.balance }),
            None => Err(MempoolError::InsufficientBalance { needed: u64::MAX, balance: state.balance }),
        }
    }

    fn check_limits(&self, tx: &T, replacing: bool) -> Result<(), MempoolError> {
        let sender_count = self.senders.get(&tx.sender()).map_or(0, |q| q.by_nonce.len());
        if !replacing && sender_count >= self.limits.sender_txs_max {
            return Err(MempoolError::Full { what: "sender_txs_max" });
        }
        if !replacing && self.by_hash.len() >= self.limits.txs_max {
            return Err(MempoolError::Full { what: "txs_max" });
        }
        if self.bytes + tx.encoded_len() > self.limits.bytes_max {
            return Err(MempoolError::Full { what: "bytes_max" });
        }
        Ok(())
    }

    fn remove(&mut self, hash: &Hash) -> Option<T> {
        let (sender, nonce) = self.by_hash.remove(hash)?;
        let queue = self.senders.get_mut(&sender).expect("an indexed transaction's sender has a queue");
        let pending = queue.by_nonce.remove(&nonce).expect("an indexed transaction is in its sender's queue");
        self.bytes -= pending.tx.encoded_len();
        if queue.by_nonce.is_empty() {
            self.senders.remove(&sender);
        }
        Some(pending.tx)
    }

    /// Picks transactions for a block: at most `txs_max` of them and `bytes_max` bytes, each
    /// sender's in nonce order starting at its next nonce, skipping (as already taken) those in
    /// `in_flight`, best fee first and then first come.
    pub fn select(&self, txs_max: usize, bytes_max: usize, in_flight: &BTreeSet<Hash>) -> Vec<T> {
        let mut heads: BTreeSet<(Reverse<u64>, u64, Address, u64)> = BTreeSet::new();
        for (sender, queue) in &self.senders {
            if let Some((nonce, pending)) = head_of(queue, queue.state.next_nonce, in_flight) {
                heads.insert((Reverse(pending.tx.fee()), pending.arrival, *sender, nonce));
            }
        }
        let (mut chosen, mut bytes) = (Vec::new(), 0usize);
        while let Some((_, _, sender, nonce)) = heads.pop_first() {
            if chosen.len() >= txs_max {
                break;
            }
            let queue = &self.senders[&sender];
            let tx = &queue.by_nonce[&nonce].tx;
            if bytes + tx.encoded_len() > bytes_max {
                // This sender's later transactions must wait for this one; others may still fit.
                continue;
            }
            bytes += tx.encoded_len();
            chosen.push(tx.clone());
            // head_of skips only in-flight transactions, so `next` continues this sender's run.
            if let Some((next, pending)) = head_of(queue, nonce + 1, in_flight) {
                heads.insert((Reverse(pending.tx.fee()), pending.arrival, sender, next));
            }
        }
        chosen
    }

    /// A block committed: drop its transactions, and whatever the senders' new committed states
    /// (`states`, for every sender the block touched) make stale.
    pub fn on_committed(&mut self, committed: &[Hash], states: &BTreeMap<Address, SenderState>) {
        for hash in committed {
            self.remove(hash);
        }
        for (sender, state) in states {
            let Some(queue) = self.senders.get_mut(sender) else {
                continue;
            };
            queue.state = *state;
            let stale: Vec<Hash> = queue.by_nonce.range(..state.next_nonce).map(|(_, p)| p.tx.hash()).collect();
            for hash in stale {
                self.remove(&hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_crypto::tagged_hash;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct TestTx {
        sender: u8,
        nonce: u64,
        fee: u64,
        amount: u64,
        size: usize,
    }

    impl PoolTx for TestTx {
        fn hash(&self) -> Hash {
            tagged_hash("keel/test/v1", format!("{self:?}").as_bytes())
        }
        fn sender(&self) -> Address {
            Address::from_bytes([self.sender; 32])
        }
        fn nonce(&self) -> u64 {
            self.nonce
        }
        fn fee(&self) -> u64 {
            self.fee
        }
        fn cost(&self) -> Option<u64> {
            self.amount.checked_add(self.fee)
        }
        fn encoded_len(&self) -> usize {
            self.size
        }
    }

    fn tx(sender: u8, nonce: u64, fee: u64) -> TestTx {
        TestTx { sender, nonce, fee, amount: 10, size: 100 }
    }

    const RICH: SenderState = SenderState { next_nonce: 0, balance: 1_000_000 };

    fn pool() -> Mempool<TestTx> {
        Mempool::new(MempoolLimits::default())
    }

    fn picked(txs: &[TestTx]) -> Vec<(u8, u64)> {
        txs.iter().map(|t| (t.sender, t.nonce)).collect()
    }

    #[test]
    fn a_repeated_transaction_is_reported_as_pending() {
        let mut pool = pool();
        assert_eq!(pool.insert(tx(1, 0, 5), RICH), Ok(InsertOutcome::Added));
        assert_eq!(pool.insert(tx(1, 0, 5), RICH), Ok(InsertOutcome::AlreadyPending));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn stale_and_far_future_nonces_are_refused() {
        let mut pool = pool();
        let state = SenderState { next_nonce: 5, balance: 1_000 };
        assert_eq!(pool.insert(tx(1, 4, 1), state), Err(MempoolError::NonceStale { nonce: 4, next_nonce: 5 }));
        assert!(matches!(pool.insert(tx(1, 5 + 257, 1), state), Err(MempoolError::NonceTooFarAhead { .. })));
        assert_eq!(pool.insert(tx(1, 5 + 256, 1), state), Ok(InsertOutcome::Added), "exactly at the gap limit");
    }

    #[test]
    fn replacement_needs_a_fee_bump() {
        let mut pool = pool();
        let original = tx(1, 0, 100);
        pool.insert(original.clone(), RICH).unwrap();
        assert_eq!(
            pool.insert(tx(1, 0, 109), RICH),
            Err(MempoolError::ReplacementUnderpriced { nonce: 0, pending_fee: 100, fee_min: 110 })
        );
        assert_eq!(pool.insert(tx(1, 0, 110), RICH), Ok(InsertOutcome::Replaced(original.hash())));
        assert_eq!(pool.len(), 1);
        assert!(!pool.contains(&original.hash()));
        assert_eq!(pool.select(10, 10_000, &BTreeSet::new())[0].fee, 110);
    }

    #[test]
    fn pending_costs_together_must_fit_the_balance() {
        let mut pool = pool();
        let state = SenderState { next_nonce: 0, balance: 35 };
        pool.insert(tx(1, 0, 5), state).unwrap();
        pool.insert(tx(1, 1, 5), state).unwrap();
        assert_eq!(pool.insert(tx(1, 2, 5), state), Err(MempoolError::InsufficientBalance { needed: 45, balance: 35 }));
        let overflowing = TestTx { amount: u64::MAX, ..tx(2, 0, 1) };
        assert!(matches!(pool.insert(overflowing, RICH), Err(MempoolError::InsufficientBalance { .. })));
    }

    #[test]
    fn refused_transactions_leave_nothing_behind() {
        let mut pool = pool();
        let broke = SenderState { next_nonce: 0, balance: 0 };
        for sender in 0..50 {
            assert!(pool.insert(tx(sender, 0, 5), broke).is_err());
        }
        assert!(pool.is_empty() && pool.senders.is_empty() && pool.bytes() == 0);
    }

    #[test]
    fn every_limit_refuses_at_its_bound() {
        let limits = MempoolLimits { txs_max: 3, bytes_max: 1_000, sender_txs_max: 2, ..MempoolLimits::default() };
        let mut pool = Mempool::new(limits);
        pool.insert(tx(1, 0, 1), RICH).unwrap();
        pool.insert(tx(1, 1, 1), RICH).unwrap();
        assert_eq!(pool.insert(tx(1, 2, 1), RICH), Err(MempoolError::Full { what: "sender_txs_max" }));
        pool.insert(tx(2, 0, 1), RICH).unwrap();
        assert_eq!(pool.insert(tx(3, 0, 1), RICH), Err(MempoolError::Full { what: "txs_max" }));

        let mut small = Mempool::new(MempoolLimits { bytes_max: 250, ..MempoolLimits::default() });
        small.insert(tx(1, 0, 1), RICH).unwrap();
        small.insert(tx(2, 0, 1), RICH).unwrap();
        assert_eq!(small.insert(tx(3, 0, 1), RICH), Err(MempoolError::Full { what: "bytes_max" }));
        assert_eq!(small.bytes(), 200);
    }

    #[test]
    fn selection_keeps_nonce_order_and_prefers_fee_then_arrival() {
        let mut pool = pool();
        pool.insert(tx(1, 1, 50), RICH).unwrap();
        pool.insert(tx(1, 0, 1), RICH).unwrap();
        pool.insert(tx(2, 0, 10), RICH).unwrap();
        pool.insert(tx(3, 0, 10), RICH).unwrap();
        pool.insert(tx(4, 1, 99), RICH).unwrap(); // nonce 0 missing: not ready
        let chosen = pool.select(10, 10_000, &BTreeSet::new());
        // 2 and 3 tie on fee; 2 arrived first. Sender 1's nonce 0 (fee 1) gates its nonce 1.
        assert_eq!(picked(&chosen), vec![(2, 0), (3, 0), (1, 0), (1, 1)]);
        assert_eq!(picked(&pool.select(2, 10_000, &BTreeSet::new())), vec![(2, 0), (3, 0)]);
    }

    #[test]
    fn selection_skips_in_flight_transactions_and_respects_bytes() {
        let mut pool = pool();
        for nonce in 0..3 {
            pool.insert(tx(1, nonce, 5), RICH).unwrap();
        }
        pool.insert(TestTx { size: 900, ..tx(2, 0, 9) }, RICH).unwrap();
        let in_flight: BTreeSet<Hash> = [tx(1, 0, 5).hash()].into();
        let chosen = pool.select(10, 1_000, &in_flight);
        assert_eq!(picked(&chosen), vec![(2, 0), (1, 1)], "900 + 100 bytes fit, the third does not");
        let chosen = pool.select(10, 500, &in_flight);
        assert_eq!(picked(&chosen), vec![(1, 1), (1, 2)], "the big one is skipped, others still fit");
    }

    #[test]
    fn commit_removes_taken_and_stale_transactions() {
        let mut pool = pool();
        for nonce in 0..4 {
            pool.insert(tx(1, nonce, 5), RICH).unwrap();
        }
        pool.insert(tx(2, 0, 5), RICH).unwrap();
        let states = BTreeMap::from([(tx(1, 0, 0).sender(), SenderState { next_nonce: 2, balance: 1_000 })]);
        pool.on_committed(&[tx(2, 0, 5).hash()], &states);
        assert_eq!(pool.len(), 2);
        assert_eq!(picked(&pool.select(10, 10_000, &BTreeSet::new())), vec![(1, 2), (1, 3)]);
        assert_eq!(pool.bytes(), 200);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever is inserted, the pool's indexes agree, its limits hold, and a selection gives
        /// each sender consecutive nonces from its next nonce without repeating anything.
        #[test]
        fn pool_invariants_hold(ops in prop::collection::vec((0u8..4, 0u64..6, 1u64..30, 0u64..200), 1..80)) {
            let limits = MempoolLimits { txs_max: 12, bytes_max: 1_500, sender_txs_max: 5, sender_nonce_gap_max: 4, fee_bump_percent_min: 10 };
            let mut pool = Mempool::new(limits);
            let state = SenderState { next_nonce: 0, balance: 600 };
            for (sender, nonce, fee, amount) in ops {
                let _ = pool.insert(TestTx { sender, nonce, fee, amount, size: 100 }, state);
                prop_assert!(pool.len() <= limits.txs_max && pool.bytes() <= limits.bytes_max);
                let counted: usize = pool.senders.values().map(|q| q.by_nonce.len()).sum();
                prop_assert_eq!(counted, pool.len());
                prop_assert!(pool.senders.values().all(|q| q.by_nonce.len() <= limits.sender_txs_max));
                let bytes: usize = pool.senders.values().flat_map(|q| q.by_nonce.values()).map(|p| p.tx.size).sum();
                prop_assert_eq!(bytes, pool.bytes());
            }
            let chosen = pool.select(100, 100_000, &BTreeSet::new());
            let mut next: BTreeMap<u8, u64> = BTreeMap::new();
            for t in &chosen {
                let expected = next.entry(t.sender).or_insert(0);
                prop_assert_eq!(t.nonce, *expected, "sender {} out of order", t.sender);
                *expected += 1;
            }
            let hashes: BTreeSet<Hash> = chosen.iter().map(PoolTx::hash).collect();
            prop_assert_eq!(hashes.len(), chosen.len());
        }
    }
}
