//! The wallet commands: `keel tx transfer`, `keel account`, `keel block`. They talk to a node
//! over JSON-RPC only, as any wallet would.

use anyhow::{Context, Result};
use keel_crypto::Address;
use keel_ledger::{Payload, Transaction};
use serde_json::{json, Value};

use crate::bench::client::RpcClient;
use crate::cli::{AccountArgs, BlockArgs, TransferArgs};

fn print(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(super) fn transfer(args: &TransferArgs) -> Result<()> {
    let keypair = crate::home::read_key_file(&args.key)?;
    let to: Address = args.to.parse().with_context(|| format!("--to {:?}", args.to))?;
    let rpc = RpcClient::new(&args.rpc)?;
    let status = rpc.call("keel_status", json!([]))?;
    let chain_id = status["chain_id"].as_str().context("keel_status gave no chain id")?.to_owned();
    let sender = Address::from_public_key(&keypair.public());
    let nonce = match args.nonce {
        Some(nonce) => nonce,
        None => rpc.call("keel_getAccount", json!([sender.to_string()]))?["nonce"].as_u64().unwrap_or(0),
    };
    let tx = Transaction {
        chain_id,
        sender: keypair.public(),
        nonce,
        fee: args.fee,
        payload: Payload::Transfer { to, amount: args.amount },
    }
    .sign(&keypair);
    let wait = if args.wait { "committed" } else { "checked" };
    let result =
        rpc.call("keel_sendTransaction", json!({ "transaction": hex::encode(tx.to_bytes()), "wait": wait }))?;
    print(&result)
}

pub(super) fn account(args: &AccountArgs) -> Result<()> {
    let address: Address = args.address.parse().with_context(|| format!("address {:?}", args.address))?;
    let rpc = RpcClient::new(&args.rpc)?;
    print(&rpc.call("keel_getAccount", json!([address.to_string()]))?)
}

pub(super) fn block(args: &BlockArgs) -> Result<()> {
    let rpc = RpcClient::new(&args.rpc)?;
    let height = match args.height {
        Some(height) => height,
        None => rpc.call("keel_status", json!([]))?["latest_height"].as_u64().context("keel_status gave no height")?,
    };
    print(&rpc.call("keel_getBlock", json!({ "height": height }))?)
}
