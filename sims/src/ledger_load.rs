//! The ledger in the simulator: client load of real signed transfers, and each honest
//! validator executing the blocks it commits on its own in-memory ledger, so the checker can
//! compare state roots at every height.
//!
//! Load: `txs_per_block × ACCOUNT_GROUPS` funded accounts. The leader of round r fills its
//! block with one transfer from each account of group `r mod ACCOUNT_GROUPS`, each carrying
//! the nonce the leader's own committed state expects. A group comes round again only after
//! `ACCOUNT_GROUPS` rounds, by when its previous transfers have normally committed (2-chain
//! commits take two rounds); under faults a transfer can carry a stale nonce and is refused
//! with its reason code, deterministically, like any client's mistake. Only transfers that took
//! effect count as committed transactions.

use keel_consensus::{Block, Payload};
use keel_crypto::{tagged_hash, Address, Hash, Keypair, PublicKey};
use keel_genesis::{Genesis, GenesisBuilder};
use keel_ledger::{BlockContext, Height, Ledger, LedgerConfig, MemKv, Transaction, TxStatus};

/// The chain id the simulated ledger's transactions carry.
pub const LEDGER_CHAIN_ID: &str = "keel-sim";

/// How many rounds pass before an account sends again.
pub const ACCOUNT_GROUPS: u64 = 8;

/// Balance of each funded account: enough for every transfer of any run.
const BALANCE: u64 = 1 << 40;

/// The simulated clients: funded accounts and the transfers they send.
#[derive(Debug)]
pub struct ClientLoad {
    keys: Vec<Keypair>,
    addresses: Vec<Address>,
    txs_per_block: u32,
}

impl ClientLoad {
    /// Clients for blocks of `txs_per_block` transfers; keys follow from `seed`.
    pub fn new(seed: u64, txs_per_block: u32) -> Self {
        let count = u64::from(txs_per_block) * ACCOUNT_GROUPS;
        let keys: Vec<Keypair> = (0..count)
            .map(|i| {
                let secret = tagged_hash("keel/sim-client-key/v1", &[seed.to_le_bytes(), i.to_le_bytes()].concat());
                Keypair::from_secret_bytes(secret.as_bytes())
            })
            .collect();
        let addresses = keys.iter().map(|k| Address::from_public_key(&k.public())).collect();
        ClientLoad { keys, addresses, txs_per_block }
    }

    /// The genesis every validator's ledger starts from: the validators and funded clients.
    pub fn genesis(&self, validators: &[PublicKey]) -> Genesis {
        let mut builder = GenesisBuilder::new(LEDGER_CHAIN_ID, 0);
        for (index, key) in validators.iter().enumerate() {
            builder = builder.validator(format!("v{index}"), key, format!("127.0.0.1:{}", 26_000 + index), 1);
        }
        for address in &self.addresses {
            builder = builder.account(address, BALANCE);
        }
        builder.build().expect("the simulator's genesis is valid")
    }

    /// The transfers of the block for `round`, nonces taken from `ledger`'s committed state.
    pub fn payload(&self, round: u64, ledger: &SimLedger) -> Payload {
        let group = (round % ACCOUNT_GROUPS) as usize;
        let per = self.txs_per_block as usize;
        let transactions = (group * per..(group + 1) * per)
            .map(|sender| {
                let nonce = ledger.nonce(&self.addresses[sender]);
                let to = self.addresses[(sender + 1) % self.addresses.len()];
                Transaction {
                    chain_id: LEDGER_CHAIN_ID.into(),
                    sender: self.keys[sender].public(),
                    nonce,
                    fee: 1,
                    payload: keel_ledger::Payload::Transfer { to, amount: 1 + round % 100 },
                }
                .sign(&self.keys[sender])
                .to_bytes()
            })
            .collect();
        Payload { transactions }
    }
}

/// One validator's ledger, in memory; it is storage, so it survives the validator's crashes.
#[derive(Debug)]
pub struct SimLedger {
    ledger: Ledger<MemKv>,
}

impl SimLedger {
    /// A ledger at genesis.
    pub fn new(genesis: &Genesis) -> Self {
        let config = LedgerConfig { versions_kept_max: 16, ..LedgerConfig::default() };
        SimLedger { ledger: Ledger::open(MemKv::default(), genesis, config).expect("an empty store opens at genesis") }
    }

    /// The committed height and state root.
    pub fn last(&self) -> (u64, Hash) {
        let record = self.ledger.last_committed();
        (record.height.0, record.state_root)
    }

    /// The nonce `address`'s next transaction must carry, by the committed state.
    pub fn nonce(&self, address: &Address) -> u64 {
        let height = self.ledger.last_committed().height;
        self.ledger.account(address, height).expect("the last height is readable").map_or(0, |account| account.nonce)
    }

    /// Executes and commits `block`, the next height; returns the new state root and how many
    /// of its transactions took effect.
    pub fn execute(&mut self, block: &Block) -> (Hash, u64) {
        let context = BlockContext { height: Height(block.height.get()), proposer: block.proposer };
        let outcome = self
            .ledger
            .execute(&block.payload.transactions, &context)
            .expect("a committed block is within the ledger's limits (the core enforces them)");
        let applied = outcome.receipts.iter().filter(|r| r.status == TxStatus::Applied).count() as u64;
        let record = self.ledger.commit(outcome).expect("the in-memory store never fails a write");
        (record.state_root, applied)
    }
}
