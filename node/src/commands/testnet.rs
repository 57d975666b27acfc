//! `keel testnet --validators N --dir DIR`: the homes of a local network, `DIR/node0` …
//! `DIR/node{N-1}`, sharing one genesis, each listening on its own loopback ports.
//!
//! Existing homes are reused, never overwritten: running the command again on the same
//! directory checks that every home is there and agrees on one genesis.
//!
//! Unless `--create-only`, it then runs every validator as its own `keel start` process (logs in
//! `<home>/keel.log`), reports any that exits, and on SIGINT or SIGTERM stops them all: SIGTERM
//! first, SIGKILL for any still running after ten seconds.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use keel_crypto::Keypair;
use keel_genesis::{ConsensusParams, Genesis, GenesisBuilder};
use rand_core::OsRng;

use crate::bench::accounts::{bench_address, BENCH_ACCOUNT_BALANCE};
use crate::cli::TestnetArgs;
use crate::config::{LogFormat, NodeConfig};
use crate::home::NodeHome;

/// One node of the local network, as planned or found.
struct TestnetNode {
    home: NodeHome,
    config: NodeConfig,
}

pub(super) fn run(args: &TestnetArgs, log_format: Option<LogFormat>) -> Result<()> {
    let count = usize::from(args.validators);
    let homes: Vec<NodeHome> = (0..count).map(|i| NodeHome::new(args.dir.join(format!("node{i}")))).collect();
    let existing = homes.iter().filter(|h| h.is_initialised()).count();
    let (nodes, genesis) = match existing {
        0 => create(args, homes)?,
        n if n == count => reuse(homes)?,
        n => bail!(
            "{} holds {n} of {count} node homes; remove it or pass the --validators it was made with",
            args.dir.display()
        ),
    };
    println!("testnet in {}: chain id {}, genesis hash {}", args.dir.display(), genesis.chain_id(), genesis.hash());
    for node in &nodes {
        println!(
            "  {:<14} home {}  p2p {}  rpc http://{}",
            node.config.node.name,
            node.home.root().display(),
            node.config.p2p.listen_address,
            node.config.rpc.listen_address
        );
    }
    if args.create_only {
        return Ok(());
    }
    supervise(&nodes, log_format)
}

/// Runs one `keel start` per home until a signal; see the module docs.
fn supervise(nodes: &[TestnetNode], log_format: Option<LogFormat>) -> Result<()> {
    let keel = std::env::current_exe().context("locating the keel binary")?;
    let mut children = Vec::with_capacity(nodes.len());
    for node in nodes {
        let log_path = node.home.root().join("keel.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut command = Command::new(&keel);
        command.arg("start").arg("--home").arg(node.home.root());
        if let Some(format) = log_format {
            command.arg("--log-format").arg(match format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            });
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", node.config.node.name))?;
        children.push((node.config.node.name.clone(), Some(child)));
    }
    println!("running {} validators (logs in <home>/keel.log); Ctrl-C stops them", children.len());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut poll = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
                _ = poll.tick() => {
                    for (name, slot) in children.iter_mut() {
                        if let Some(child) = slot {
                            if let Some(status) = child.try_wait()? {
                                eprintln!("{name} exited ({status}); see its keel.log");
                                *slot = None;
                            }
                        }
                    }
                    if children.iter().all(|(_, slot)| slot.is_none()) {
                        bail!("every validator exited");
                    }
                }
            }
        }
        anyhow::Ok(())
    })?;
    stop_all(&mut children);
    Ok(())
}

fn stop_all(children: &mut [(String, Option<Child>)]) {
    for (_, child) in children.iter().filter_map(|(n, c)| c.as_ref().map(|c| (n, c))) {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with a pid we spawned and have not reaped; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (name, slot) in children.iter_mut() {
        let Some(child) = slot else { continue };
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    eprintln!("{name} did not stop within 10 s; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
    println!("testnet stopped");
}

fn create(args: &TestnetArgs, homes: Vec<NodeHome>) -> Result<(Vec<TestnetNode>, Genesis)> {
    let count = homes.len();
    if !args.hosts.is_empty() && args.hosts.len() != count {
        bail!("--hosts names {} addresses for {count} validators", args.hosts.len());
    }
    let last_port = |base: u16, what: &str| {
        base.checked_add(u16::try_from(count - 1).expect("at most 256 validators"))
            .with_context(|| format!("--{what}-port-base {base} + {count} validators passes port 65535"))
    };
    last_port(args.p2p_port_base, "p2p")?;
    last_port(args.rpc_port_base, "rpc")?;

    let keypairs: Vec<Keypair> = (0..count).map(|_| Keypair::generate(&mut OsRng)).collect();
    let params = ConsensusParams { round_timeout_ms: args.round_timeout_ms, ..ConsensusParams::default() };
    let mut builder = GenesisBuilder::new(&args.chain_id, super::now_unix_ms()?).consensus(params);
    let mut nodes = Vec::with_capacity(count);
    for (i, (home, keypair)) in homes.into_iter().zip(&keypairs).enumerate() {
        let offset = u16::try_from(i).expect("at most 256 validators");
        let mut config = NodeConfig::default();
        config.node.name = format!("node{i}");
        config.mempool.opaque_transactions = args.opaque_transactions;
        config.consensus.empty_block_delay_ms = config.consensus.empty_block_delay_ms.min(args.round_timeout_ms / 4);
        let (host, offset) = match args.hosts.get(i) {
            Some(host) => (*host, 0),
            None => (args.host, offset),
        };
        config.p2p.listen_address = SocketAddr::new(host, args.p2p_port_base + offset);
        config.rpc.listen_address = SocketAddr::new(host, args.rpc_port_base + offset);
        builder = builder.validator(&config.node.name, &keypair.public(), config.p2p.listen_address.to_string(), 1);
        nodes.push(TestnetNode { home, config });
    }
    for (address, balance) in super::parse_accounts(&args.accounts)? {
        builder = builder.account(&address, balance);
    }
    for index in 0..args.bench_accounts {
        builder = builder.account(&bench_address(&args.chain_id, index), BENCH_ACCOUNT_BALANCE);
    }
    let genesis = builder.build()?;
    for (node, keypair) in nodes.iter().zip(&keypairs) {
        node.home.create(&node.config, keypair, &genesis)?;
    }
    Ok((nodes, genesis))
}

fn reuse(homes: Vec<NodeHome>) -> Result<(Vec<TestnetNode>, Genesis)> {
    let mut genesis: Option<Genesis> = None;
    let mut nodes = Vec::with_capacity(homes.len());
    for home in homes {
        let config = home.load_config()?;
        home.load_key()?;
        let this = home.load_genesis()?;
        if let Some(first) = &genesis {
            if first.hash() != this.hash() {
                bail!(
                    "{} has a different genesis (hash {}) from node0 ({})",
                    home.root().display(),
                    this.hash(),
                    first.hash()
                );
            }
        } else {
            genesis = Some(this);
        }
        nodes.push(TestnetNode { home, config });
    }
    Ok((nodes, genesis.expect("a testnet has at least one node")))
}
