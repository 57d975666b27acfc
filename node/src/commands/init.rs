//! `keel init --home DIR`: one node's home, either with a new one-validator genesis (a local
//! development chain) or with an existing genesis (joining a chain).

use anyhow::Result;
use keel_crypto::Keypair;
use keel_genesis::GenesisBuilder;
use rand_core::OsRng;

use crate::cli::InitArgs;
use crate::config::NodeConfig;
use crate::home::{read_genesis, NodeHome};

pub(super) fn run(args: &InitArgs) -> Result<()> {
    let home = NodeHome::new(&args.home);
    if home.is_initialised() {
        anyhow::bail!("{} is already initialised; refusing to overwrite it", args.home.display());
    }
    let keypair = Keypair::generate(&mut OsRng);
    let genesis = match &args.genesis {
        Some(path) => read_genesis(path)?,
        None => {
            let chain_id = args.chain_id.clone().unwrap_or_else(|| "keel-local".to_owned());
            let mut builder = GenesisBuilder::new(chain_id, super::now_unix_ms()?).validator(
                &args.name,
                &keypair.public(),
                args.p2p_address.to_string(),
                1,
            );
            for (address, balance) in super::parse_accounts(&args.accounts)? {
                builder = builder.account(&address, balance);
            }
            builder.build()?
        }
    };
    let mut config = NodeConfig::default();
    config.node.name = args.name.clone();
    config.p2p.listen_address = args.p2p_address;
    config.rpc.listen_address = args.rpc_address;
    config.check()?;
    home.create(&config, &keypair, &genesis)?;

    let is_validator = genesis.validators().iter().any(|v| v.public_key == keypair.public());
    println!("initialised {}", args.home.display());
    println!("  public key   {}", keypair.public());
    println!("  chain id     {}", genesis.chain_id());
    println!("  genesis hash {}", genesis.hash());
    if !is_validator {
        println!("  note: this key is not in the genesis validator set; the node will follow the chain without voting");
    }
    Ok(())
}
