//! Genesis loading: one test per rule, the pinned hash, and the hash's independence from the
//! JSON's layout.

use keel_crypto::{Address, Keypair};
use keel_genesis::{ConsensusParams, Genesis, GenesisBuilder, GenesisError, GenesisProblem};
use serde_json::{json, Value};

fn key(seed: u8) -> Keypair {
    Keypair::from_secret_bytes(&[seed; 32])
}

fn address(seed: u8) -> Address {
    Address::from_public_key(&key(seed).public())
}

/// A valid genesis as JSON, for tests to break one rule at a time.
fn valid_json() -> Value {
    json!({
        "chain_id": "keel-test",
        "genesis_time": "2026-11-22T00:00:00Z",
        "validators": [
            { "name": "v0", "public_key": key(1).public().to_string(), "network_address": "127.0.0.1:26600", "power": 1 },
            { "name": "v1", "public_key": key(2).public().to_string(), "network_address": "node1.keel.internal:26600", "power": 2 },
            { "name": "v2", "public_key": key(3).public().to_string(), "network_address": "[::1]:26602", "power": 3 },
        ],
        "accounts": [
            { "address": address(10).to_string(), "balance": 1000 },
            { "address": address(11).to_string(), "balance": 2000 },
        ],
        "consensus": { "round_timeout_ms": 500, "round_timeout_ms_max": 8000, "block_bytes_max": 1048576,
                       "block_txs_max": 5000, "transaction_bytes_max": 4096 }
    })
}

fn load(value: &Value) -> Result<Genesis, GenesisError> {
    Genesis::from_json(value.to_string().as_bytes())
}

/// Loads `value` expecting exactly the problems that `expected` matches, one each.
fn problems(value: &Value) -> Vec<GenesisProblem> {
    match load(value) {
        Err(GenesisError::Invalid(problems)) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

fn with(mut value: Value, path: &[&str], new: Value) -> Value {
    let mut target = &mut value;
    for segment in path {
        target = match segment.parse::<usize>() {
            Ok(i) => &mut target[i],
            Err(_) => &mut target[*segment],
        };
    }
    *target = new;
    value
}

#[test]
fn the_valid_genesis_loads_with_its_fields() {
    let genesis = load(&valid_json()).unwrap();
    assert_eq!(genesis.chain_id(), "keel-test");
    assert_eq!(genesis.genesis_time_unix_ms(), 1_795_305_600_000);
    assert_eq!(genesis.validators().len(), 3);
    assert_eq!(genesis.validators()[1].name, "v1", "validator order is kept");
    assert_eq!(genesis.total_power(), 6);
    assert_eq!(genesis.total_supply(), 3000);
    assert_eq!(genesis.consensus().block_txs_max, 5000);
}

#[test]
fn no_validators() {
    assert_eq!(problems(&with(valid_json(), &["validators"], json!([]))), vec![GenesisProblem::NoValidators]);
}

#[test]
fn duplicate_validator_keys() {
    let value = with(valid_json(), &["validators", "1", "public_key"], json!(key(1).public().to_string()));
    assert!(matches!(&problems(&value)[..], [GenesisProblem::DuplicateValidatorKey { first, second, .. }]
        if first == "v0" && second == "v1"));
}

#[test]
fn duplicate_validator_names() {
    let value = with(valid_json(), &["validators", "2", "name"], json!("v0"));
    assert_eq!(problems(&value), vec![GenesisProblem::DuplicateValidatorName { name: "v0".into() }]);
}

#[test]
fn duplicate_network_addresses() {
    let value = with(valid_json(), &["validators", "1", "network_address"], json!("127.0.0.1:26600"));
    assert!(
        matches!(&problems(&value)[..], [GenesisProblem::DuplicateNetworkAddress { second, .. }] if second == "v1")
    );
}

#[test]
fn zero_power() {
    let value = with(valid_json(), &["validators", "2", "power"], json!(0));
    assert_eq!(problems(&value), vec![GenesisProblem::ZeroPower { name: "v2".into() }]);
}

#[test]
fn total_power_overflow() {
    let value = with(valid_json(), &["validators", "0", "power"], json!(u64::MAX));
    assert!(matches!(&problems(&value)[..], [GenesisProblem::TotalPowerOverflow { .. }]));
}

#[test]
fn malformed_validator_keys() {
    for bad in ["abcd", &"zz".repeat(32), &"00".repeat(32)] {
        let value = with(valid_json(), &["validators", "0", "public_key"], json!(bad));
        assert!(
            matches!(&problems(&value)[..], [GenesisProblem::MalformedValidatorKey { name, .. }] if name == "v0"),
            "{bad}"
        );
    }
}

#[test]
fn malformed_network_addresses() {
    for bad in ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":26600", "bad host:1", "[nope]:1", "-x.com:1"] {
        let value = with(valid_json(), &["validators", "0", "network_address"], json!(bad));
        assert!(matches!(&problems(&value)[..], [GenesisProblem::MalformedNetworkAddress { .. }]), "{bad}");
    }
}

#[test]
fn malformed_account_addresses() {
    for bad in ["keel1notanaddress", "cosmos1qqqq", ""] {
        let value = with(valid_json(), &["accounts", "1", "address"], json!(bad));
        assert!(matches!(&problems(&value)[..], [GenesisProblem::MalformedAccountAddress { index: 1, .. }]), "{bad}");
    }
}

#[test]
fn duplicate_accounts() {
    let value = with(valid_json(), &["accounts", "1", "address"], json!(address(10).to_string()));
    assert!(matches!(&problems(&value)[..], [GenesisProblem::DuplicateAccount { .. }]));
}

#[test]
fn balance_overflow() {
    let value = with(valid_json(), &["accounts", "0", "balance"], json!(u64::MAX));
    assert_eq!(problems(&value), vec![GenesisProblem::BalanceOverflow]);
}

#[test]
fn bad_chain_id_and_time() {
    for bad in ["", "has space", &"x".repeat(65)] {
        let value = with(valid_json(), &["chain_id"], json!(bad));
        assert!(matches!(&problems(&value)[..], [GenesisProblem::ChainId { .. }]), "{bad:?}");
    }
    for bad in ["yesterday", "2026-11-22", "2026-11-22T00:00:00+02:00", "1960-01-01T00:00:00Z"] {
        let value = with(valid_json(), &["genesis_time"], json!(bad));
        assert!(matches!(&problems(&value)[..], [GenesisProblem::GenesisTime { .. }]), "{bad:?}");
    }
}

#[test]
fn consensus_parameters_out_of_range() {
    let cases = [
        ("round_timeout_ms", json!(0)),
        ("round_timeout_ms_max", json!(100)),
        ("block_txs_max", json!(0)),
        ("block_bytes_max", json!(10)),
        ("transaction_bytes_max", json!(2_000_000)),
    ];
    for (field, bad) in cases {
        let value = with(valid_json(), &["consensus", field], bad);
        let found = problems(&value);
        assert!(
            found.iter().any(|p| matches!(p, GenesisProblem::ConsensusParam { field: f, .. } if *f == field)),
            "{field}: {found:?}"
        );
    }
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    for path in [&["extra"][..], &["validators", "0", "extra"], &["accounts", "0", "extra"], &["consensus", "extra"]] {
        let value = with(valid_json(), path, json!(1));
        match load(&value) {
            Err(GenesisError::Parse(message)) => assert!(message.contains("unknown field"), "{message}"),
            other => panic!("{path:?}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut value = with(valid_json(), &["validators", "0", "power"], json!(0));
    value = with(value, &["accounts", "1", "address"], json!("nope"));
    value = with(value, &["chain_id"], json!(""));
    assert_eq!(problems(&value).len(), 3);
    let message = load(&value).unwrap_err().to_string();
    assert!(message.starts_with("genesis is invalid (3 problems)"), "{message}");
}

#[test]
fn missing_consensus_section_takes_defaults() {
    let mut value = valid_json();
    value.as_object_mut().unwrap().remove("consensus");
    assert_eq!(load(&value).unwrap().consensus(), &ConsensusParams::default());
}

/// The hash is part of the protocol: peers compare it. This pins it, so that an accidental
/// change to the canonical encoding fails here rather than splitting a network.
#[test]
fn genesis_hash_is_pinned() {
    let genesis = load(&valid_json()).unwrap();
    assert_eq!(genesis.hash().to_string(), PINNED_HASH);
}
const PINNED_HASH: &str = "b22ad22a2b811801f90030fa1ea3f1efd4a882fc811bce73f4994465c827d620";

#[test]
fn hash_ignores_field_order_whitespace_account_order_and_network_addresses() {
    let original = load(&valid_json()).unwrap().hash();

    // Reverse every object's keys and pretty-print.
    fn reversed(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let fields: Vec<String> =
                    map.iter().rev().map(|(k, v)| format!("{}: {}", Value::String(k.clone()), reversed(v))).collect();
                format!("{{\n  {}\n}}", fields.join(",\n  "))
            }
            Value::Array(items) => format!("[{}]", items.iter().map(reversed).collect::<Vec<_>>().join(", ")),
            other => other.to_string(),
        }
    }
    let reordered = Genesis::from_json(reversed(&valid_json()).as_bytes()).unwrap();
    assert_eq!(reordered.hash(), original);

    let mut swapped = valid_json();
    swapped["accounts"].as_array_mut().unwrap().reverse();
    assert_eq!(load(&swapped).unwrap().hash(), original);

    let moved = with(valid_json(), &["validators", "0", "network_address"], json!("10.0.0.5:1"));
    assert_eq!(load(&moved).unwrap().hash(), original);
}

#[test]
fn hash_changes_with_anything_that_defines_the_chain() {
    let original = load(&valid_json()).unwrap().hash();
    let changes = [
        with(valid_json(), &["chain_id"], json!("keel-other")),
        with(valid_json(), &["genesis_time"], json!("2026-11-22T00:00:01Z")),
        with(valid_json(), &["validators", "0", "power"], json!(5)),
        with(valid_json(), &["validators", "0", "name"], json!("renamed")),
        with(valid_json(), &["accounts", "0", "balance"], json!(1001)),
        with(valid_json(), &["consensus", "block_txs_max"], json!(5001)),
    ];
    for changed in &changes {
        assert_ne!(load(changed).unwrap().hash(), original, "{changed}");
    }
    let mut swapped_validators = valid_json();
    swapped_validators["validators"].as_array_mut().unwrap().swap(0, 1);
    assert_ne!(load(&swapped_validators).unwrap().hash(), original, "validator order is leader order");
}

#[test]
fn builder_output_round_trips_through_json() {
    let genesis = GenesisBuilder::new("keel-built", 1_795_305_600_123)
        .validator("a", &key(1).public(), "127.0.0.1:1", 1)
        .validator("b", &key(2).public(), "127.0.0.1:2", 1)
        .account(&address(5), 77)
        .build()
        .unwrap();
    assert_eq!(genesis.genesis_time(), "2026-11-22T00:00:00.123Z");
    let reloaded = Genesis::from_json(&genesis.to_json_pretty()).unwrap();
    assert_eq!(reloaded, genesis);
    assert_eq!(reloaded.hash(), genesis.hash());
}

#[test]
fn builder_validates() {
    let err = GenesisBuilder::new("keel-built", 0).build().unwrap_err();
    assert_eq!(err, GenesisError::Invalid(vec![GenesisProblem::NoValidators]));
}
