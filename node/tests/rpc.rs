//! The JSON-RPC API against a live 4-validator testnet: certified account proofs.

mod common;

use std::time::Duration;

use common::{rpc_call, Testnet};
use keel_crypto::{Address, Hash, Keypair};
use keel_ledger::Committee;
use keel_node::commands::wallet::verify_account_answer;
use rand_core::OsRng;
use serde_json::{json, Value};

const PROGRESS: Duration = Duration::from_secs(40);

fn result(answer: Value) -> Value {
    answer.get("result").cloned().unwrap_or_else(|| panic!("expected a result: {answer}"))
}

#[test]
fn account_proofs_verify_against_the_genesis_validators_and_tampered_ones_do_not() {
    let alice = Address::from_public_key(&Keypair::generate(&mut OsRng).public());
    let nobody = Address::from_public_key(&Keypair::generate(&mut OsRng).public());
    let mut net = Testnet::create("rpc_account_proofs", 4, &[(alice.to_string(), 5_000)]);
    net.start_all();
    net.wait_for_height(&[0, 1, 2, 3], 3, PROGRESS);
    let genesis = keel_node::home::read_genesis(&net.home(0).join("genesis.json")).unwrap();

    // Certificates gather on every node.
    let mut answer = Value::Null;
    common::wait_until("a certified height on node 2", PROGRESS, || {
        answer =
            rpc_call(net.rpc(2), "keel_getAccount", json!({ "address": alice.to_string(), "proof": true })).unwrap();
        answer.get("result").is_some()
    });
    let answer = result(answer);
    let proven = verify_account_answer(&genesis, &alice, &answer).expect("a genuine answer verifies");
    assert_eq!(proven.map(|a| a.balance), Some(5_000));
    let signers = answer["certificate"]["signatures"].as_array().unwrap().len();
    assert!(signers >= 3, "a quorum of 4 equal validators is 3: {answer}");

    // The header of the certified height carries the same certificate and root.
    let height = answer["height"].as_u64().unwrap();
    let header = result(rpc_call(net.rpc(2), "keel_getBlockHeader", json!({ "height": height })).unwrap());
    assert_eq!(header["state_root"], answer["state_root"]);
    assert_eq!(header["certificate"]["info"]["block_id"], header["hash"]);

    // Absence is proven too.
    let absent = result(
        rpc_call(net.rpc(1), "keel_getAccount", json!({ "address": nobody.to_string(), "proof": true })).unwrap(),
    );
    assert_eq!(verify_account_answer(&genesis, &nobody, &absent).expect("absence verifies"), None);
    assert_eq!(absent["exists"], false);

    // Tampering with any part is caught.
    let tamper = |edit: &dyn Fn(&mut Value)| {
        let mut forged = answer.clone();
        edit(&mut forged);
        verify_account_answer(&genesis, &alice, &forged).expect_err("a tampered answer must not verify")
    };
    tamper(&|a| a["balance"] = json!(1_000_000));
    tamper(&|a| a["proof"]["account"]["balance"] = json!(1_000_000));
    tamper(&|a| a["proof"]["merkle"]["siblings"][0] = json!(Hash::sha256(b"x").to_string()));
    tamper(&|a| a["certificate"]["info"]["state_root"] = json!(Hash::sha256(b"x").to_string()));
    tamper(&|a| {
        a["certificate"]["signatures"].as_array_mut().unwrap().truncate(2);
    });
    tamper(&|a| a["height"] = json!(height + 1));
    // Another chain's validators do not certify this one.
    let stranger = Keypair::generate(&mut OsRng);
    let other_genesis = keel_genesis::GenesisBuilder::new(genesis.chain_id(), 1)
        .validator("x", &stranger.public(), "127.0.0.1:1", 1)
        .build()
        .unwrap();
    assert!(verify_account_answer(&other_genesis, &alice, &answer).is_err());
    assert_eq!(Committee::from_genesis(&genesis).quorum_power(), 3);

    // A height without a certificate is a clear error, not an unverifiable answer.
    let uncertified = rpc_call(
        net.rpc(0),
        "keel_getAccount",
        json!({ "address": alice.to_string(), "proof": true, "height": 1_000_000 }),
    )
    .unwrap();
    assert_eq!(uncertified["error"]["code"], -32021, "{uncertified}");
}
