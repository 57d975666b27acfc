//! A local network of real `keel` processes on loopback, for the multi-process tests.
//!
//! Each test gets its own loopback address (127.0.x.y, derived from its name), so tests running
//! in parallel never compete for ports. Nodes log to `<home>/keel.log`; a failed test prints the
//! tail of every log.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const P2P_PORT_BASE: u16 = 26600;
pub const RPC_PORT_BASE: u16 = 28500;

/// The network: its directory, its host, and one process slot per node.
pub struct Testnet {
    pub dir: tempfile::TempDir,
    pub host: IpAddr,
    pub nodes: Vec<Option<Child>>,
}

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

/// A loopback address of its own for `test_name`.
pub fn host_for(test_name: &str) -> IpAddr {
    let digest = keel_crypto::Hash::sha256(test_name.as_bytes());
    let bytes = digest.as_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 1 + bytes[0] % 200, bytes[1], 1 + bytes[2] % 250))
}

impl Testnet {
    /// Creates the homes of `count` validators; `accounts` are funded at genesis.
    pub fn create(test_name: &str, count: usize, accounts: &[(String, u64)]) -> Testnet {
        Self::create_with(test_name, count, accounts, &[])
    }

    /// As [`Testnet::create`], with extra `keel testnet` arguments.
    pub fn create_with(test_name: &str, count: usize, accounts: &[(String, u64)], extra: &[&str]) -> Testnet {
        let dir = tempfile::tempdir().expect("temp dir");
        let host = host_for(test_name);
        let mut command = keel();
        command
            .args(["testnet", "--create-only", "--validators", &count.to_string(), "--dir"])
            .arg(dir.path())
            .args(["--host", &host.to_string()])
            .args(["--p2p-port-base", &P2P_PORT_BASE.to_string(), "--rpc-port-base", &RPC_PORT_BASE.to_string()]);
        command.args(extra);
        for (address, balance) in accounts {
            command.args(["--account", &format!("{address}={balance}")]);
        }
        let output = command.output().expect("run keel testnet");
        assert!(output.status.success(), "keel testnet failed: {}", String::from_utf8_lossy(&output.stderr));
        Testnet { dir, host, nodes: (0..count).map(|_| None).collect() }
    }

    /// Rewrites one line of every node's config.toml (`key = value` under its section).
    pub fn set_config(&self, key: &str, value: &str) {
        for node in 0..self.nodes.len() {
            let path = self.home(node).join("config.toml");
            let text = std::fs::read_to_string(&path).unwrap();
            let edited: Vec<String> =
                text.lines()
                    .map(|line| {
                        if line.starts_with(&format!("{key} =")) {
                            format!("{key} = {value}")
                        } else {
                            line.to_owned()
                        }
                    })
                    .collect();
            assert_ne!(text.lines().collect::<Vec<_>>(), edited, "{key} not in config.toml");
            std::fs::write(&path, edited.join("\n") + "\n").unwrap();
        }
    }

    pub fn home(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("node{node}"))
    }

    pub fn rpc(&self, node: usize) -> SocketAddr {
        SocketAddr::new(self.host, RPC_PORT_BASE + node as u16)
    }

    /// Starts `keel start` for `node`.
    pub fn start(&mut self, node: usize) {
        assert!(self.nodes[node].is_none(), "node{node} is running already");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.home(node).join("keel.log")).unwrap();
        let child = keel()
            .args(["start", "--home"])
            .arg(self.home(node))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn keel start");
        self.nodes[node] = Some(child);
    }

    pub fn start_all(&mut self) {
        for node in 0..self.nodes.len() {
            self.start(node);
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self, node: usize) {
        let mut child = self.nodes[node].take().expect("node is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|n| self.nodes[*n].is_some()).collect()
    }

    /// `keel_status` of `node`, or None while it does not answer.
    pub fn status(&self, node: usize) -> Option<Value> {
        rpc_call(self.rpc(node), "keel_status", json!([])).ok()?.get("result").cloned()
    }

    pub fn height(&self, node: usize) -> Option<u64> {
        self.status(node)?.get("latest_height")?.as_u64()
    }

    /// Waits until every node in `nodes` reports a height of at least `height`.
    pub fn wait_for_height(&self, nodes: &[usize], height: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let heights: Vec<Option<u64>> = nodes.iter().map(|n| self.height(*n)).collect();
            if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
                return;
            }
            if Instant::now() > deadline {
                self.dump_logs();
                panic!("nodes {nodes:?} did not reach height {height} within {within:?}: {heights:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The committed header at `height` as `node` reports it.
    pub fn header(&self, node: usize, height: u64) -> Value {
        let answer = rpc_call(self.rpc(node), "keel_getBlockHeader", json!({ "height": height })).expect("rpc");
        answer.get("result").cloned().unwrap_or_else(|| panic!("node{node} header {height}: {answer}"))
    }

    /// Asserts that `nodes` agree on block hash and state root at every height from 1 to `to`.
    pub fn assert_agreement(&self, nodes: &[usize], to: u64) {
        for height in 1..=to {
            let first = self.header(nodes[0], height);
            for node in &nodes[1..] {
                let other = self.header(*node, height);
                assert_eq!(first["hash"], other["hash"], "block hash at {height}: node{} vs node{node}", nodes[0]);
                assert_eq!(first["state_root"], other["state_root"], "state root at {height}");
            }
        }
    }

    pub fn dump_logs(&self) {
        for node in 0..self.nodes.len() {
            let log = std::fs::read_to_string(self.home(node).join("keel.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("----- node{node} keel.log (last lines) -----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        for mut child in self.nodes.iter_mut().filter_map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One JSON-RPC call over HTTP/1.1 (a fresh connection each time).
pub fn rpc_call(address: SocketAddr, method: &str, params: Value) -> std::io::Result<Value> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let response = http(address, "POST", "/", &body)?;
    serde_json::from_str(&response.1).map_err(|e| std::io::Error::other(format!("{e}: {}", response.1)))
}

/// A raw HTTP request; returns the status code and body.
pub fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no HTTP header end"))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_owned()))
}

pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn read_log(home: &Path) -> String {
    std::fs::read_to_string(home.join("keel.log")).unwrap_or_default()
}
