//! `keel testnet --validators N --dir DIR`: the homes of a local network, `DIR/node0` …
//! `DIR/node{N-1}`, sharing one genesis, each listening on its own loopback ports.
//!
//! Existing homes are reused, never overwritten: running the command again on the same
//! directory checks that every home is there and agrees on one genesis.

use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use keel_crypto::Keypair;
use keel_genesis::{Genesis, GenesisBuilder};
use rand_core::OsRng;

use crate::cli::TestnetArgs;
use crate::config::NodeConfig;
use crate::home::NodeHome;

/// One node of the local network, as planned or found.
struct TestnetNode {
    home: NodeHome,
    config: NodeConfig,
}

pub(super) fn run(args: &TestnetArgs) -> Result<()> {
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
    Ok(())
}

fn create(args: &TestnetArgs, homes: Vec<NodeHome>) -> Result<(Vec<TestnetNode>, Genesis)> {
    let count = homes.len();
    let last_port = |base: u16, what: &str| {
        base.checked_add(u16::try_from(count - 1).expect("at most 256 validators"))
            .with_context(|| format!("--{what}-port-base {base} + {count} validators passes port 65535"))
    };
    last_port(args.p2p_port_base, "p2p")?;
    last_port(args.rpc_port_base, "rpc")?;

    let keypairs: Vec<Keypair> = (0..count).map(|_| Keypair::generate(&mut OsRng)).collect();
    let mut builder = GenesisBuilder::new(&args.chain_id, super::now_unix_ms()?);
    let mut nodes = Vec::with_capacity(count);
    for (i, (home, keypair)) in homes.into_iter().zip(&keypairs).enumerate() {
        let offset = u16::try_from(i).expect("at most 256 validators");
        let mut config = NodeConfig::default();
        config.node.name = format!("node{i}");
        config.p2p.listen_address = SocketAddr::new(args.host, args.p2p_port_base + offset);
        config.rpc.listen_address = SocketAddr::new(args.host, args.rpc_port_base + offset);
        builder = builder.validator(&config.node.name, &keypair.public(), config.p2p.listen_address.to_string(), 1);
        nodes.push(TestnetNode { home, config });
    }
    for (address, balance) in super::parse_accounts(&args.accounts)? {
        builder = builder.account(&address, balance);
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
