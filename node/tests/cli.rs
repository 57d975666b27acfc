//! The `keel` operator commands, run as a real process in a temporary directory: they produce
//! files that load back, refuse to overwrite, and fail with one line and the documented code.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use keel_crypto::{Address, PublicKey};
use keel_node::home::NodeHome;

fn keel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel")).args(args).output().expect("keel runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_one_line_error(output: &Output, code: i32, needle: &str) {
    assert_eq!(output.status.code(), Some(code), "stderr: {}", stderr(output));
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "exactly one line on stderr: {err:?}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err:?} should mention {needle:?}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
}

#[test]
fn keygen_writes_a_private_key_file_and_prints_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.json");
    let output = keel(&["keygen", "--out", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: PublicKey = stdout(&output).trim().parse().unwrap();
    let loaded = keel_node::home::read_key_file(&path).unwrap();
    assert_eq!(loaded.public(), printed);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!stdout(&output).contains(&hex::encode(loaded.secret_bytes())), "the secret is never printed");

    let again = keel(&["keygen", "--out", path.to_str().unwrap()]);
    assert_one_line_error(&again, 1, "already exists");
    assert_eq!(keel_node::home::read_key_file(&path).unwrap().public(), printed, "the key is untouched");
}

#[test]
fn keygen_json_prints_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.json");
    let output = keel(&["keygen", "--out", path.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let public: PublicKey = json["public_key"].as_str().unwrap().parse().unwrap();
    assert_eq!(json["address"].as_str().unwrap(), Address::from_public_key(&public).to_string());
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.json");
    assert!(keel(&["keygen", "--out", path.to_str().unwrap()]).status.success());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = keel_node::home::read_key_file(&path).unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn init_creates_a_home_that_loads_back_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let home_path = dir.path().join("home");
    let funded = Address::from_bytes([7; 32]).to_string();
    let output = keel(&[
        "init",
        "--home",
        home_path.to_str().unwrap(),
        "--name",
        "alice",
        "--account",
        &format!("{funded}=500"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let home = NodeHome::new(&home_path);
    let config = home.load_config().unwrap();
    let key = home.load_key().unwrap();
    let genesis = home.load_genesis().unwrap();
    assert_eq!(config.node.name, "alice");
    assert_eq!(genesis.validators().len(), 1);
    assert_eq!(genesis.validators()[0].public_key, key.public());
    assert_eq!(genesis.total_supply(), 500);
    assert!(home.data_dir().is_dir());
    assert!(stdout(&output).contains(&genesis.hash().to_string()));

    let again = keel(&["init", "--home", home_path.to_str().unwrap()]);
    assert_one_line_error(&again, 1, "already initialised");
    assert_eq!(home.load_key().unwrap().public(), key.public(), "the key survives a second init");
}

#[test]
fn init_can_join_an_existing_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    assert!(keel(&["init", "--home", first.to_str().unwrap()]).status.success());
    let genesis_path = first.join("genesis.json");
    let second = dir.path().join("second");
    let output = keel(&["init", "--home", second.to_str().unwrap(), "--genesis", genesis_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("not in the genesis validator set"));
    assert_eq!(
        NodeHome::new(&second).load_genesis().unwrap().hash(),
        NodeHome::new(&first).load_genesis().unwrap().hash()
    );
}

fn testnet(dir: &Path, validators: &str) -> Output {
    keel(&[
        "testnet",
        "--create-only",
        "--validators",
        validators,
        "--dir",
        dir.to_str().unwrap(),
        "--p2p-port-base",
        "30000",
    ])
}

#[test]
fn testnet_creates_homes_sharing_one_genesis_on_distinct_ports() {
    let dir = tempfile::tempdir().unwrap();
    let output = testnet(dir.path(), "4");
    assert!(output.status.success(), "{}", stderr(&output));
    let homes: Vec<NodeHome> = (0..4).map(|i| NodeHome::new(dir.path().join(format!("node{i}")))).collect();
    let genesis = homes[0].load_genesis().unwrap();
    assert_eq!(genesis.validators().len(), 4);
    let mut ports = std::collections::BTreeSet::new();
    for (i, home) in homes.iter().enumerate() {
        let config = home.load_config().unwrap();
        assert_eq!(home.load_genesis().unwrap().hash(), genesis.hash());
        assert_eq!(genesis.validators()[i].public_key, home.load_key().unwrap().public());
        assert_eq!(genesis.validators()[i].network_address, config.p2p.listen_address.to_string());
        assert!(config.p2p.listen_address.ip().is_loopback());
        assert!(ports.insert(config.p2p.listen_address.port()) && ports.insert(config.rpc.listen_address.port()));
    }
    assert_eq!(config_port(&homes[3]), 30003);

    // Running it again reuses the homes; a different count is refused without touching them.
    let again = testnet(dir.path(), "4");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains(&genesis.hash().to_string()));
    assert_one_line_error(&testnet(dir.path(), "5"), 1, "holds 4 of 5");
}

fn config_port(home: &NodeHome) -> u16 {
    home.load_config().unwrap().p2p.listen_address.port()
}

#[test]
fn genesis_validate_reports_valid_and_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(testnet(dir.path(), "3").status.success());
    let path = dir.path().join("node0/genesis.json");
    let ok = keel(&["genesis", "validate", path.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("3 validators"));

    let text = std::fs::read_to_string(&path).unwrap().replace("\"power\": 1", "\"power\": 0");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, text).unwrap();
    assert_one_line_error(&keel(&["genesis", "validate", bad.to_str().unwrap()]), 2, "3 problems");

    std::fs::write(&bad, "{ not json").unwrap();
    assert_one_line_error(&keel(&["genesis", "validate", bad.to_str().unwrap()]), 2, "not valid JSON");
    assert_one_line_error(&keel(&["genesis", "validate", "/nonexistent/genesis.json"]), 1, "cannot read");
}

#[test]
fn a_corrupt_config_is_refused_naming_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let home_path = dir.path().join("home");
    assert!(keel(&["init", "--home", home_path.to_str().unwrap()]).status.success());
    let home = NodeHome::new(&home_path);
    std::fs::write(home.config_path(), "[p2p]\nlisten_adress = 1").unwrap();
    let err = format!("{:#}", home.load_config().unwrap_err());
    assert!(err.contains("unknown field") && err.contains("config.toml"), "{err}");
}

#[test]
fn start_refuses_a_corrupt_config_or_genesis_with_one_line_and_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let home_path = dir.path().join("home");
    let home_arg = home_path.to_str().unwrap();
    assert!(keel(&["init", "--home", home_arg]).status.success());
    let home = NodeHome::new(&home_path);
    let config = std::fs::read_to_string(home.config_path()).unwrap();

    std::fs::write(home.config_path(), "[p2p]\nlisten_adress = 1").unwrap();
    assert_one_line_error(&keel(&["start", "--home", home_arg]), 2, "unknown field");

    std::fs::write(home.config_path(), config.replace("empty_block_delay_ms = 250", "empty_block_delay_ms = 900"))
        .unwrap();
    assert_one_line_error(&keel(&["start", "--home", home_arg]), 2, "consensus.empty_block_delay_ms");

    std::fs::write(home.config_path(), &config).unwrap();
    std::fs::write(home.genesis_path(), "{\"chain_id\": 5}").unwrap();
    assert_one_line_error(&keel(&["start", "--home", home_arg]), 2, "genesis");
    assert!(!home.data_dir().join("db").exists(), "nothing was written for a refused start");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["keygen", "--help"],
        &["init", "--help"],
        &["testnet", "--help"],
        &["start", "--help"],
        &["bench", "--help"],
        &["tx", "transfer", "--help"],
        &["account", "--help"],
        &["block", "--help"],
        &["genesis", "validate", "--help"],
    ] {
        let output = keel(args);
        assert!(output.status.success() && stdout(&output).contains("Usage"), "{args:?}");
    }
    let usage = keel(&["testnet", "--validators", "0"]);
    assert_eq!(usage.status.code(), Some(2), "clap reports usage errors with code 2");
}
