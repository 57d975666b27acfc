//! The JSON-RPC API against a live 4-validator testnet: every method and error case, JSON-RPC
//! conformance, rate limits, WebSocket subscriptions and certified account proofs.

mod common;

use std::time::Duration;

use common::{rpc_call, Testnet};
use keel_crypto::{Address, Hash, Keypair};
use keel_ledger::{Committee, Payload, Transaction};
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

fn transfer_tx(from: &Keypair, chain_id: &str, nonce: u64, fee: u64, to: &Address, amount: u64) -> String {
    let tx = Transaction {
        chain_id: chain_id.to_owned(),
        sender: from.public(),
        nonce,
        fee,
        payload: Payload::Transfer { to: *to, amount },
    };
    hex::encode(tx.sign(from).to_bytes())
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"].as_i64().unwrap_or_else(|| panic!("expected an error: {answer}"))
}

#[test]
fn every_method_and_error_case_answers_as_documented() {
    let alice = Keypair::generate(&mut OsRng);
    let poor = Keypair::generate(&mut OsRng);
    let bob = Address::from_public_key(&Keypair::generate(&mut OsRng).public());
    let alice_address = Address::from_public_key(&alice.public());
    let poor_address = Address::from_public_key(&poor.public());
    let mut net = Testnet::create(
        "rpc_every_method",
        4,
        &[(alice_address.to_string(), 1_000_000), (poor_address.to_string(), 15)],
    );
    net.start_all();
    net.wait_for_height(&[0, 1, 2, 3], 2, PROGRESS);
    let rpc = net.rpc(1);
    let call = |method: &str, params: Value| rpc_call(rpc, method, params).unwrap();

    // keel_status, keel_getValidators, keel_getGenesis.
    let status = result(call("keel_status", json!([])));
    for field in [
        "chain_id",
        "genesis_hash",
        "node_key",
        "latest_height",
        "latest_block_hash",
        "state_root",
        "round",
        "syncing",
        "peers",
    ] {
        assert!(status.get(field).is_some(), "keel_status lacks {field}: {status}");
    }
    let chain_id = status["chain_id"].as_str().unwrap().to_owned();
    assert_eq!(result(call("keel_getValidators", json!([])))["validators"].as_array().unwrap().len(), 4);
    assert_eq!(result(call("keel_getGenesis", json!({})))["genesis_hash"], status["genesis_hash"]);

    // A committed transfer, then the transaction, block and header methods.
    let sent = result(call(
        "keel_sendTransaction",
        json!({ "transaction": transfer_tx(&alice, &chain_id, 0, 10, &bob, 7), "wait": "committed" }),
    ));
    assert_eq!(sent["status"], "committed", "{sent}");
    let hash = sent["hash"].as_str().unwrap().to_owned();
    let height = sent["height"].as_u64().unwrap();
    assert_eq!(result(call("keel_getTransaction", json!([hash])))["status"], "committed");
    let unknown = Hash::sha256(b"never sent").to_string();
    assert_eq!(result(call("keel_getTransaction", json!({ "hash": unknown })))["status"], "unknown");
    let block = result(call("keel_getBlock", json!({ "height": height, "full": true })));
    assert_eq!(block["transaction_hashes"][0], json!(hash));
    assert_eq!(block["transactions_hex"].as_array().unwrap().len(), block["transactions"].as_u64().unwrap() as usize);
    let by_hash = result(call("keel_getBlockHeader", json!({ "hash": block["hash"] })));
    assert_eq!(by_hash["height"], height);
    assert_eq!(result(call("keel_getBlock", json!({ "hash": block["hash"] })))["hash"], block["hash"]);
    assert_eq!(error_code(&call("keel_getBlock", json!({}))), -32602, "neither height nor hash");
    assert_eq!(error_code(&call("keel_getBlock", json!({ "height": 1, "hash": block["hash"] }))), -32602);
    assert_eq!(error_code(&call("keel_getBlockHeader", json!({ "height": 9_999_999 }))), -32020);
    assert_eq!(error_code(&call("keel_getBlockHeader", json!({ "hash": unknown }))), -32020);
    assert_eq!(error_code(&call("keel_getTransaction", json!({ "hash": "xyz" }))), -32602);
    let account = result(call("keel_getAccount", json!({ "address": bob.to_string(), "height": height })));
    assert_eq!((account["balance"].as_u64(), account["exists"].as_bool()), (Some(7), Some(true)));
    let before = result(call("keel_getAccount", json!({ "address": bob.to_string(), "height": height - 1 })));
    assert_eq!(before["exists"], false, "the state before the transfer: {before}");
    assert_eq!(
        error_code(&call("keel_getAccount", json!({ "address": bob.to_string(), "height": 9_999_999 }))),
        -32020
    );
    assert_eq!(error_code(&call("keel_getAccount", json!({ "address": "keel1nope" }))), -32602);

    // keel_consensusState explains the round.
    let consensus = result(call("keel_consensusState", json!([])));
    assert!(consensus["round"].as_u64().unwrap() >= 1, "{consensus}");
    assert!(consensus["leader"].is_string() && consensus["high_qc"]["round"].is_u64(), "{consensus}");
    assert_eq!(consensus["validators_connected"].as_array().unwrap().len(), 3, "{consensus}");
    assert!(consensus["votes"].is_array() && consensus["timeouts"].is_array());

    // rpc.discover documents every method this test calls, and the subscription methods.
    let document = result(call("rpc.discover", json!([])));
    let documented: Vec<&str> =
        document["methods"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    for method in [
        "keel_status",
        "keel_sendTransaction",
        "keel_getTransaction",
        "keel_getAccount",
        "keel_getBlock",
        "keel_getBlockHeader",
        "keel_getValidators",
        "keel_getGenesis",
        "keel_consensusState",
        "keel_subscribe",
        "keel_unsubscribe",
        "rpc.discover",
    ] {
        assert!(documented.contains(&method), "{method} is not in the OpenRPC document");
    }
    let on_disk: Value =
        serde_json::from_str(include_str!("../../docs/openrpc.json")).expect("docs/openrpc.json is JSON");
    assert_eq!(document, on_disk, "rpc.discover serves docs/openrpc.json");

    // Every refusal of a transaction has its own code.
    let send = |tx: String| call("keel_sendTransaction", json!({ "transaction": tx }));
    let not_hex = call("keel_sendTransaction", json!({ "transaction": "zz" }));
    assert_eq!((error_code(&not_hex), not_hex["error"]["data"]["reason"].as_str()), (-32602, Some("MalformedHex")));
    assert_eq!(error_code(&send("00ff".into())), -32010, "malformed");
    assert_eq!(error_code(&send(hex::encode(vec![0u8; 64 * 1024 + 1]))), -32011, "oversized");
    assert_eq!(error_code(&send(transfer_tx(&alice, "another-chain", 1, 10, &bob, 1))), -32012, "wrong chain");
    let mut forged = hex::decode(transfer_tx(&alice, &chain_id, 1, 10, &bob, 1)).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(error_code(&send(hex::encode(forged))), -32013, "bad signature");
    let stale = send(transfer_tx(&alice, &chain_id, 0, 11, &bob, 2));
    assert_eq!((error_code(&stale), stale["error"]["data"]["next_nonce"].as_u64()), (-32014, Some(1)), "{stale}");
    assert_eq!(error_code(&send(transfer_tx(&alice, &chain_id, 100_000, 10, &bob, 1))), -32015, "future nonce");
    assert_eq!(error_code(&send(transfer_tx(&poor, &chain_id, 0, 10, &bob, 100))), -32016, "insufficient balance");
    // A gap keeps nonce 5 pending, so a same-fee replacement of it is refused.
    assert_eq!(result(send(transfer_tx(&alice, &chain_id, 5, 10, &bob, 1)))["status"], "pending");
    assert_eq!(error_code(&send(transfer_tx(&alice, &chain_id, 5, 10, &bob, 2))), -32017, "underpriced replacement");
    // In a batch the transactions are admitted together, but only those of calls that run:
    // a call with bad parameters or a malformed request admits nothing.
    let good = transfer_tx(&alice, &chain_id, 1, 10, &bob, 1);
    let bad_params = transfer_tx(&alice, &chain_id, 2, 10, &bob, 1);
    let bad_request = transfer_tx(&alice, &chain_id, 2, 10, &bob, 2);
    let batch = json!([
        { "jsonrpc": "2.0", "id": 1, "method": "keel_sendTransaction", "params": [good] },
        { "jsonrpc": "2.0", "id": 2, "method": "keel_sendTransaction", "params": { "transaction": bad_params, "timeout_ms": 999_999_999 } },
        { "jsonrpc": "1.0", "id": 3, "method": "keel_sendTransaction", "params": [bad_request] },
        { "jsonrpc": "2.0", "id": 4, "method": "keel_sendTransaction", "params": [good] },
    ]);
    let (_, answers) = common::http(rpc, "POST", "/", &batch.to_string()).unwrap();
    let answers: Value = serde_json::from_str(&answers).unwrap();
    assert!(answers[0]["result"]["status"] == "pending" || answers[0]["result"]["status"] == "committed", "{answers}");
    assert_eq!(error_code(&answers[1]), -32602, "{answers}");
    assert_eq!(error_code(&answers[2]), -32600, "{answers}");
    assert_eq!(answers[3]["result"]["hash"], answers[0]["result"]["hash"], "the same transaction twice: {answers}");
    for tx in [bad_params, bad_request] {
        let hash = keel_ledger::tx_hash(&hex::decode(tx).unwrap()).to_string();
        assert_eq!(result(call("keel_getTransaction", json!([hash])))["status"], "unknown");
    }

    // Subscriptions need a WebSocket.
    assert_eq!(error_code(&call("keel_subscribe", json!(["newHeads"]))), -32601);
}

#[test]
fn json_rpc_conformance_over_http() {
    let mut net = Testnet::create("rpc_conformance", 4, &[]);
    net.start_all();
    net.wait_for_height(&[0, 1, 2, 3], 1, PROGRESS);
    let post = |body: &str| {
        let (status, text) = common::http(net.rpc(0), "POST", "/", body).unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    };
    let (_, parse) = post("{not json");
    assert_eq!((error_code(&parse), parse["id"].clone()), (-32700, Value::Null));
    assert_eq!(error_code(&post(r#"{"jsonrpc":"1.0","id":1,"method":"keel_status"}"#).1), -32600);
    assert_eq!(error_code(&post(r#"{"jsonrpc":"2.0","id":1,"method":7}"#).1), -32600);
    assert_eq!(error_code(&post(r#"{"jsonrpc":"2.0","id":1,"method":"keel_nope"}"#).1), -32601);
    assert_eq!(
        error_code(&post(r#"{"jsonrpc":"2.0","id":1,"method":"keel_getBlock","params":{"height":"one"}}"#).1),
        -32602
    );
    assert_eq!(error_code(&post(r#"{"jsonrpc":"2.0","id":1,"method":"keel_status","params":{"extra":1}}"#).1), -32602);
    let (_, by_id) = post(r#"{"jsonrpc":"2.0","id":"abc","method":"keel_status"}"#);
    assert_eq!(by_id["id"], "abc");
    // A notification gets no response body, even when it fails.
    assert_eq!(post(r#"{"jsonrpc":"2.0","method":"keel_nope"}"#), (204, Value::Null));
    // A batch answers each call with an id, in order; notifications inside it are silent.
    let (_, batch) = post(
        r#"[{"jsonrpc":"2.0","id":1,"method":"keel_status"},{"jsonrpc":"2.0","method":"keel_status"},
            {"jsonrpc":"2.0","id":2,"method":"keel_nope"},5]"#,
    );
    let batch = batch.as_array().unwrap().clone();
    assert_eq!(batch.len(), 3, "{batch:?}");
    assert!(batch[0]["result"].is_object());
    assert_eq!((batch[1]["id"].clone(), error_code(&batch[1])), (json!(2), -32601));
    assert_eq!(error_code(&batch[2]), -32600);
    assert_eq!(error_code(&post("[]").1), -32600);
    let too_many = format!("[{}]", vec![r#"{"jsonrpc":"2.0","id":1,"method":"keel_status"}"#; 101].join(","));
    assert_eq!(error_code(&post(&too_many).1), -32600);
    let (status, _) = common::http(net.rpc(0), "POST", "/", &"x".repeat(5 * 1024 * 1024)).unwrap();
    assert_eq!(status, 413);
    // The node is still serving.
    assert!(net.status(0).is_some());
}

#[test]
fn a_client_over_its_rate_gets_429_and_is_served_again_once_tokens_refill() {
    let mut net = Testnet::create("rpc_rate_limit", 4, &[]);
    net.set_config("requests_per_second_per_client", "5");
    net.set_config("request_burst_per_client", "5");
    net.start_all();
    net.wait_for_height(&[0, 1, 2, 3], 1, PROGRESS);
    let statuses: Vec<(u16, String)> = (0..20)
        .map(|_| common::http(net.rpc(0), "POST", "/", r#"{"jsonrpc":"2.0","id":1,"method":"keel_status"}"#).unwrap())
        .collect();
    let limited: Vec<&(u16, String)> = statuses.iter().filter(|(status, _)| *status == 429).collect();
    assert!(!limited.is_empty(), "20 requests at once exceed a burst of 5");
    let body: Value = serde_json::from_str(&limited[0].1).unwrap();
    assert_eq!(error_code(&body), -32029);
    std::thread::sleep(Duration::from_millis(1_200));
    assert!(rpc_call(net.rpc(0), "keel_status", json!([])).unwrap().get("result").is_some(), "tokens refill");
}

mod websocket {
    use std::net::TcpStream;

    use tungstenite::stream::MaybeTlsStream;
    use tungstenite::{Message, WebSocket};

    use super::*;

    pub struct Client {
        socket: WebSocket<MaybeTlsStream<TcpStream>>,
        next_id: u64,
        /// Notifications read while waiting for an answer.
        pub notifications: Vec<Value>,
    }

    impl Client {
        pub fn connect(address: std::net::SocketAddr) -> Client {
            let (mut socket, _) = tungstenite::connect(format!("ws://{address}/ws")).expect("websocket connects");
            if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
                stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            }
            Client { socket, next_id: 0, notifications: Vec::new() }
        }

        fn read(&mut self) -> Value {
            loop {
                match self.socket.read().expect("a message within 30 s") {
                    Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                    Message::Close(frame) => panic!("closed: {frame:?}"),
                    _ => continue,
                }
            }
        }

        pub fn call(&mut self, method: &str, params: Value) -> Value {
            self.next_id += 1;
            let id = self.next_id;
            let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
            self.socket.send(Message::Text(request.to_string().into())).unwrap();
            loop {
                let message = self.read();
                if message["id"] == json!(id) {
                    return message;
                }
                self.notifications.push(message);
            }
        }

        /// The next notification of `subscription`.
        pub fn next_notification(&mut self, subscription: &Value) -> Value {
            if let Some(at) = self.notifications.iter().position(|n| n["params"]["subscription"] == *subscription) {
                return self.notifications.remove(at)["params"]["result"].clone();
            }
            loop {
                let message = self.read();
                if message["params"]["subscription"] == *subscription {
                    return message["params"]["result"].clone();
                }
                self.notifications.push(message);
            }
        }
    }
}

#[test]
fn websocket_subscriptions_replay_heads_follow_live_and_report_a_transaction_commit() {
    let alice = Keypair::generate(&mut OsRng);
    let bob = Address::from_public_key(&Keypair::generate(&mut OsRng).public());
    let alice_address = Address::from_public_key(&alice.public());
    let mut net = Testnet::create("rpc_websocket", 4, &[(alice_address.to_string(), 1_000)]);
    net.start_all();
    net.wait_for_height(&[0, 1, 2, 3], 4, PROGRESS);
    let mut client = websocket::Client::connect(net.rpc(2));

    // Every HTTP method works over the socket too.
    let status = result(client.call("keel_status", json!([])));
    let chain_id = status["chain_id"].as_str().unwrap().to_owned();

    // Heads from height 1: the missed ones are replayed, then live ones follow, without gaps.
    let heads = result(client.call("keel_subscribe", json!(["newHeads", { "from_height": 1 }])));
    let live_from = status["latest_height"].as_u64().unwrap() + 2;
    let mut expected = 1;
    while expected <= live_from {
        let head = client.next_notification(&heads);
        assert_eq!(head["height"], expected, "{head}");
        assert!(head["hash"].is_string() && head["state_root"].is_string());
        expected += 1;
    }

    // A transaction subscription sees the commit (with the receipt).
    let tx = transfer_tx(&alice, &chain_id, 0, 10, &bob, 5);
    let hash = keel_ledger::tx_hash(&hex::decode(&tx).unwrap()).to_string();
    let watch = result(client.call("keel_subscribe", json!(["transaction", { "hash": hash }])));
    assert_eq!(client.next_notification(&watch)["status"], "unknown");
    let sent = rpc_call(net.rpc(0), "keel_sendTransaction", json!([tx])).unwrap();
    assert!(sent.get("result").is_some(), "{sent}");
    let mut last = client.next_notification(&watch);
    while last["status"] != "committed" {
        last = client.next_notification(&watch);
    }
    assert_eq!(last["receipt"]["status"], "applied", "{last}");

    assert_eq!(result(client.call("keel_unsubscribe", json!([heads]))), true);
    assert_eq!(result(client.call("keel_unsubscribe", json!([heads]))), false);
    assert_eq!(error_code(&client.call("keel_subscribe", json!(["nonsense"]))), -32602);
    assert_eq!(error_code(&client.call("keel_subscribe", json!(["transaction", { "hash": "xyz" }]))), -32602);
}
