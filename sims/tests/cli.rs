//! The `keel-sim` command line: JSON fields, reproducible output, exit codes.

use std::process::Command;

fn keel_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keel-sim")).args(args).output().expect("keel-sim runs")
}

#[test]
fn run_json_has_the_documented_fields_and_repeats_byte_for_byte_but_wall_time() {
    let args = [
        "run",
        "--validators",
        "4",
        "--byzantine",
        "1",
        "--behaviour",
        "double-vote",
        "--seed",
        "9",
        "--duration",
        "10s",
        "--swarm",
        "--json",
        "--signatures",
        "fast",
    ];
    let first = keel_sim(&args);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let mut a: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    for field in [
        "seed",
        "validators",
        "byzantine",
        "behaviour",
        "committed_blocks",
        "committed_txs",
        "safety_violations",
        "liveness_ok",
        "virtual_ms",
        "wall_ms",
        "messages",
        "event_digest",
    ] {
        assert!(a.get(field).is_some(), "missing {field}");
    }
    let mut b: serde_json::Value = serde_json::from_slice(&keel_sim(&args).stdout).unwrap();
    a["wall_ms"] = 0.into();
    b["wall_ms"] = 0.into();
    assert_eq!(a, b);
}

#[test]
fn a_violation_exits_1_with_the_seed_a_trace_and_the_replay_command() {
    let output = keel_sim(&[
        "run",
        "--validators",
        "4",
        "--byzantine",
        "1",
        "--behaviour",
        "equivocate",
        "--seed",
        "2",
        "--duration",
        "20s",
        "--signatures",
        "fast",
        "--test-only-weaken",
        "allow-double-vote",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("VIOLATION DoubleVote"), "{stdout}");
    assert!(stderr.contains("replay with a full trace: keel-sim run --validators 4"), "{stderr}");
    assert!(stderr.contains("--seed 2"));
    assert!(stderr.contains("--test-only-weaken allow-double-vote --trace"), "the replay keeps every flag: {stderr}");
    assert!(stderr.contains("seed 2: the run stopped at event #"), "{stderr}");
    assert!(stderr.contains("proposal of round"), "the trace names the events: {stderr}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    for args in [
        &["run", "--behaviour", "nonsense"][..],
        &["run", "--byzantine", "1"][..],
        &["run", "--crash", "9@100"][..],
        &["sweep", "--seeds", "10"][..],
    ] {
        let output = keel_sim(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
    }
}

#[test]
fn sweep_prints_a_table_and_writes_charts() {
    let dir = tempfile::tempdir().unwrap();
    let output = keel_sim(&[
        "sweep",
        "--seeds",
        "0..2",
        "--validators",
        "4,7",
        "--behaviours",
        "honest,silent",
        "--duration",
        "5s",
        "--signatures",
        "fast",
        "--chart-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(table.lines().count(), 5, "a header and four rows: {table}");
    for chart in ["latency.svg", "throughput.svg"] {
        let svg = std::fs::read_to_string(dir.path().join(chart)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("silent"));
    }
}
