//! The stateful half of execution: the transaction rules, applied in block order.
//!
//! [`execute_block`] is a pure function of (parent state, checked block, context): it reads the
//! parent state through a [`StateView`], writes nothing, and returns the new root, the receipts
//! and the writes. For each entry whose stateless checks passed (see [`crate::check`]):
//!
//! 1. `nonce < account.nonce` → Rejected `NonceTooLow`; `nonce > account.nonce` → Rejected
//!    `NonceTooHigh`.
//! 2. `balance < fee` → Rejected `FeeNotCovered`.
//! 3. `amount + fee` overflows → Failed `AmountOverflow`; `balance < amount + fee` → Failed
//!    `InsufficientBalance`; the recipient's balance would overflow → Failed `RecipientOverflow`.
//! 4. Otherwise Applied: sender pays `amount + fee`, recipient (created if absent) gets `amount`.
//!
//! Failed burns the fee and uses the nonce; Rejected changes nothing; see [`crate::receipt`] for
//! why. Fees are burned: the chain record's `burned_total` grows by the fees of the block, so the
//! sum of balances stays `supply_genesis - burned_total`. A transfer to oneself is allowed and
//! costs just the fee.

use keel_crypto::{Address, Hash, PublicKey};
use rustc_hash::FxHashMap;

use crate::account::{decode_value, encode_value, Account, ChainState, StateKey};
use crate::check::CheckedBlock;
use crate::commitment::StateWrites;
use crate::error::{corrupt, BlockError, LedgerError};
use crate::height::Height;
use crate::kv::{Column, WriteBatch};
use crate::receipt::{receipts_hash, ReasonCode, Receipt, TxStatus};
use crate::transaction::{Payload, Transaction};

/// Read access to the parent state of a block, and root computation on top of it.
pub trait StateView {
    /// The height of the state.
    fn height(&self) -> Height;
    /// Its root.
    fn root(&self) -> Hash;
    /// The encoded value of `key`, if present.
    fn read(&self, key: &StateKey) -> Result<Option<Vec<u8>>, LedgerError>;
    /// The root of this state plus `writes` (at `height() + 1`) and the batch that would store
    /// it. Writes nothing.
    fn apply(&self, writes: &StateWrites) -> Result<(Hash, WriteBatch), LedgerError>;
}

/// What the block is executed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    /// The block's height: the parent state's height plus one.
    pub height: Height,
    /// The validator that proposed the block (recorded; fees are burned, not paid to it).
    pub proposer: PublicKey,
}

/// The result of executing a block: everything the ledger commits for it.
#[derive(Debug, Clone)]
pub struct BlockOutcome {
    /// The block's height.
    pub height: Height,
    /// The proposer from the context.
    pub proposer: PublicKey,
    /// The root of the state the block was executed on.
    pub parent_root: Hash,
    /// The root after the block.
    pub state_root: Hash,
    /// One receipt per block entry, in block order.
    pub receipts: Vec<Receipt>,
    /// [`receipts_hash`] of the receipts.
    pub receipts_hash: Hash,
    /// The chain record after the block.
    pub chain: ChainState,
    /// Every state key the block changed, with its new value.
    pub writes: StateWrites,
    /// Tree nodes and values to store for the new version.
    pub tree_batch: WriteBatch,
}

/// Executes a checked block on `view` (see the module docs for the rules).
pub fn execute_block<V: StateView>(
    view: &V,
    block: &CheckedBlock,
    context: &BlockContext,
) -> Result<BlockOutcome, LedgerError> {
    if view.height().next() != Some(context.height) {
        return Err(BlockError::WrongHeight { height: context.height, parent: view.height() }.into());
    }
    let chain_before: ChainState =
        read_decoded(view, &StateKey::Chain)?.ok_or_else(|| corrupt(Column::TreeValues, "no chain record"))?;
    assert_eq!(chain_before.height, view.height(), "the chain record names its own height");

    let mut accounts = Accounts { view, loaded: FxHashMap::default() };
    let mut receipts = Vec::with_capacity(block.txs().len());
    let mut burned: u64 = 0;
    for (checked, sender) in block.txs().iter().zip(block.senders()) {
        let receipt = match (&checked.verdict, sender) {
            (Ok(tx), Some(sender)) => apply_transaction(&mut accounts, checked.hash, tx, *sender)?,
            (Err(code), _) => Receipt::rejected(checked.hash, *code),
            (Ok(_), None) => unreachable!("every entry that passed the checks has a sender"),
        };
        burned = burned.checked_add(receipt.fee_burned).expect("fees are bounded by the supply, which fits a u64");
        receipts.push(receipt);
    }

    let chain = ChainState {
        height: context.height,
        supply_genesis: chain_before.supply_genesis,
        burned_total: chain_before.burned_total.checked_add(burned).expect("burned fees never exceed the supply"),
    };
    assert!(chain.burned_total <= chain.supply_genesis, "cannot burn more than exists");
    // Collected into the sorted map of writes: the order of the hash map changes nothing.
    let mut writes: StateWrites = accounts
        .loaded
        .into_iter()
        .filter(|(_, (_, dirty))| *dirty)
        .map(|(address, (account, _))| (StateKey::Account(address), encode_value(&account)))
        .collect();
    writes.insert(StateKey::Chain, encode_value(&chain));
    let (state_root, tree_batch) = view.apply(&writes)?;
    Ok(BlockOutcome {
        height: context.height,
        proposer: context.proposer,
        parent_root: view.root(),
        state_root,
        receipts_hash: receipts_hash(&receipts),
        receipts,
        chain,
        writes,
        tree_batch,
    })
}

/// Accounts read from the parent state, with the block's changes so far (`true` = changed).
struct Accounts<'a, V> {
    view: &'a V,
    /// Each account read so far, with whether the block changed it.
    loaded: FxHashMap<Address, (Account, bool)>,
}

impl<V: StateView> Accounts<'_, V> {
    fn get(&mut self, address: Address) -> Result<Account, LedgerError> {
        if let Some((account, _)) = self.loaded.get(&address) {
            return Ok(*account);
        }
        let account = read_decoded(self.view, &StateKey::Account(address))?.unwrap_or_default();
        self.loaded.insert(address, (account, false));
        Ok(account)
    }

    fn set(&mut self, address: Address, account: Account) {
        self.loaded.insert(address, (account, true));
    }
}

fn read_decoded<V: StateView, T: borsh::BorshDeserialize>(view: &V, key: &StateKey) -> Result<Option<T>, LedgerError> {
    match view.read(key)? {
        None => Ok(None),
        Some(bytes) => decode_value(&bytes).map(Some).map_err(|reason| corrupt(Column::TreeValues, reason)),
    }
}

/// Applies one transaction that passed the stateless checks.
fn apply_transaction<V: StateView>(
    accounts: &mut Accounts<'_, V>,
    tx_hash: Hash,
    tx: &Transaction,
    sender_address: Address,
) -> Result<Receipt, LedgerError> {
    debug_assert_eq!(sender_address, tx.sender_address());
    let sender = accounts.get(sender_address)?;
    if tx.nonce < sender.nonce {
        return Ok(Receipt::rejected(tx_hash, ReasonCode::NonceTooLow));
    }
    if tx.nonce > sender.nonce {
        return Ok(Receipt::rejected(tx_hash, ReasonCode::NonceTooHigh));
    }
    if sender.balance < tx.fee {
        return Ok(Receipt::rejected(tx_hash, ReasonCode::FeeNotCovered));
    }
    // From here on the transaction is final: it pays its fee and uses its nonce.
    let nonce = sender.nonce.checked_add(1).expect("2^64 transactions from one account cannot happen");
    let charged = Account { balance: sender.balance - tx.fee, nonce };
    let code = match &tx.payload {
        Payload::Transfer { to, amount } => transfer(accounts, sender_address, charged, *to, *amount, tx.fee)?,
    };
    if code != ReasonCode::Ok {
        accounts.set(sender_address, charged);
    }
    let status = code.status();
    debug_assert!(status != TxStatus::Rejected);
    Ok(Receipt { tx_hash, status, code, fee_burned: tx.fee })
}

/// Moves `amount` from the sender (already charged `fee`) to `to`, writing both accounts, or
/// returns the failure code and writes nothing.
fn transfer<V: StateView>(
    accounts: &mut Accounts<'_, V>,
    from: Address,
    charged: Account,
    to: Address,
    amount: u64,
    fee: u64,
) -> Result<ReasonCode, LedgerError> {
    if amount.checked_add(fee).is_none() {
        return Ok(ReasonCode::AmountOverflow);
    }
    if charged.balance < amount {
        return Ok(ReasonCode::InsufficientBalance);
    }
    let sender = Account { balance: charged.balance - amount, nonce: charged.nonce };
    if to == from {
        accounts.set(from, charged);
        return Ok(ReasonCode::Ok);
    }
    let recipient = accounts.get(to)?;
    let Some(balance) = recipient.balance.checked_add(amount) else {
        return Ok(ReasonCode::RecipientOverflow);
    };
    accounts.set(from, sender);
    accounts.set(to, Account { balance, nonce: recipient.nonce });
    Ok(ReasonCode::Ok)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::check::{CheckedBlock, CheckedTx};
    use keel_crypto::Keypair;

    /// A state that breaks the supply invariant on purpose, to reach the defensive overflow check.
    struct FakeView(BTreeMap<StateKey, Vec<u8>>);

    impl StateView for FakeView {
        fn height(&self) -> Height {
            Height(0)
        }
        fn root(&self) -> Hash {
            Hash::ZERO
        }
        fn read(&self, key: &StateKey) -> Result<Option<Vec<u8>>, LedgerError> {
            Ok(self.0.get(key).cloned())
        }
        fn apply(&self, _: &StateWrites) -> Result<(Hash, WriteBatch), LedgerError> {
            Ok((Hash::ZERO, WriteBatch::new()))
        }
    }

    #[test]
    fn recipient_overflow_fails_and_charges_the_fee() {
        let sender = Keypair::from_secret_bytes(&[1; 32]);
        let to = Address::from_bytes([2; 32]);
        let from = Address::from_public_key(&sender.public());
        let chain = ChainState { height: Height(0), supply_genesis: u64::MAX, burned_total: 0 };
        let view = FakeView(BTreeMap::from([
            (StateKey::Chain, encode_value(&chain)),
            (StateKey::Account(from), encode_value(&Account { balance: 100, nonce: 0 })),
            (StateKey::Account(to), encode_value(&Account { balance: u64::MAX - 5, nonce: 0 })),
        ]));
        let tx = Transaction {
            chain_id: "c".into(),
            sender: sender.public(),
            nonce: 0,
            fee: 3,
            payload: Payload::Transfer { to, amount: 10 },
        };
        let block = CheckedBlock::from_trusted(vec![CheckedTx { hash: Hash::ZERO, verdict: Ok(tx) }]);
        let context = BlockContext { height: Height(1), proposer: sender.public() };
        let outcome = execute_block(&view, &block, &context).unwrap();
        assert_eq!(outcome.receipts[0].code, ReasonCode::RecipientOverflow);
        assert_eq!(outcome.receipts[0].fee_burned, 3);
        assert_eq!(outcome.writes[&StateKey::Account(from)], encode_value(&Account { balance: 97, nonce: 1 }));
        assert!(!outcome.writes.contains_key(&StateKey::Account(to)));
        assert_eq!(outcome.chain.burned_total, 3);
    }
}
