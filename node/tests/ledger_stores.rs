//! The ledger gives identical results on RocksDB and in memory: random sequences of blocks of
//! random transfers (valid, replayed, out-of-order nonces, overspending, bad signatures, garbage)
//! executed on a `Ledger<RocksKv>` and a `Ledger<MemKv>` yield the same state roots, receipts
//! and accounts at every height, also after the RocksDB ledger is closed and reopened. The RocksDB
//! ledger writes synchronously or behind (as the node runs it): then its reads right after a
//! commit come partly from the batch still in flight.

use keel_crypto::{tagged_hash, Address, Keypair};
use keel_genesis::{Genesis, GenesisBuilder};
use keel_ledger::{BlockContext, Height, KvStore, Ledger, LedgerConfig, MemKv, Payload, Transaction};
use keel_node::storage::{Database, RocksKv};
use proptest::prelude::*;

const ACCOUNTS: u8 = 6;

fn key(i: u8) -> Keypair {
    Keypair::from_secret_bytes(tagged_hash("keel/test-key", &[i]).as_bytes())
}

fn genesis() -> Genesis {
    let mut builder =
        GenesisBuilder::new("stores", 1_700_000_000_000).validator("v", &key(100).public(), "127.0.0.1:1", 1);
    for i in 0..ACCOUNTS {
        builder = builder.account(&Address::from_public_key(&key(i).public()), 1_000);
    }
    builder.build().unwrap()
}

/// (sender, recipient, nonce, amount, corrupt the signature)
type Entry = (u8, u8, u64, u64, bool);

fn encode((from, to, nonce, amount, corrupt): Entry) -> Vec<u8> {
    let sender = key(from % ACCOUNTS);
    let mut bytes = Transaction {
        chain_id: "stores".into(),
        sender: sender.public(),
        nonce,
        fee: 3,
        payload: Payload::Transfer { to: Address::from_public_key(&key(to % (ACCOUNTS + 1)).public()), amount },
    }
    .sign(&sender)
    .to_bytes();
    if corrupt {
        *bytes.last_mut().unwrap() ^= 1;
    }
    bytes
}

fn execute<K: KvStore>(
    ledger: &mut Ledger<K>,
    height: u64,
    txs: &[Vec<u8>],
) -> (keel_crypto::Hash, Vec<keel_ledger::Receipt>) {
    let context = BlockContext { height: Height(height), proposer: key(100).public() };
    let outcome = ledger.execute(txs, &context).unwrap();
    let receipts = outcome.receipts.clone();
    let record = ledger.commit(outcome).unwrap();
    (record.state_root, receipts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rocksdb_and_memory_agree_on_roots_receipts_and_accounts(
        blocks in prop::collection::vec(
            prop::collection::vec((0..ACCOUNTS, 0..ACCOUNTS + 1, 0u64..4, 0u64..700, prop::bool::weighted(0.1)), 0..8),
            1..6,
        ),
        garbage in prop::collection::vec(any::<u8>(), 0..40),
        behind in any::<bool>(),
    ) {
        let genesis = genesis();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let config = LedgerConfig { versions_kept_max: 3, ..LedgerConfig::default() };
        let database = Database::open(&path).unwrap();
        let kv = if behind { RocksKv::write_behind(database) } else { RocksKv::new(database) };
        let mut rocks = Ledger::open(kv, &genesis, config.clone()).unwrap();
        let mut memory = Ledger::open(MemKv::new(), &genesis, config.clone()).unwrap();
        let mut roots = Vec::new();
        for (index, block) in blocks.iter().enumerate() {
            let mut txs: Vec<Vec<u8>> = block.iter().copied().map(encode).collect();
            if index == 0 {
                txs.push(garbage.clone());
            }
            let height = index as u64 + 1;
            let on_rocks = execute(&mut rocks, height, &txs);
            let in_memory = execute(&mut memory, height, &txs);
            prop_assert_eq!(&on_rocks, &in_memory, "height {}", height);
            roots.push(on_rocks.0);
            for at in rocks.oldest_kept().0..=height {
                for i in 0..=ACCOUNTS {
                    let address = Address::from_public_key(&key(i).public());
                    prop_assert_eq!(
                        rocks.prove_account(&address, Height(at)).unwrap(),
                        memory.prove_account(&address, Height(at)).unwrap(),
                        "account {} at height {}", i, at
                    );
                }
            }
        }
        drop(rocks);
        let reopened = Ledger::open(RocksKv::new(Database::open(&path).unwrap()), &genesis, config.clone()).unwrap();
        let last = reopened.last_committed();
        prop_assert_eq!(last.height.0, blocks.len() as u64);
        prop_assert_eq!(last.state_root, *roots.last().unwrap());
        for i in 0..=ACCOUNTS {
            let address = Address::from_public_key(&key(i).public());
            prop_assert_eq!(reopened.account(&address, last.height).unwrap(), memory.account(&address, last.height).unwrap());
        }
    }
}
