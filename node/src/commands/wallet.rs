//! The wallet commands: `keel tx transfer`, `keel account`, `keel block`. They talk to a node
//! over JSON-RPC only, as any wallet would.

use anyhow::{bail, Context, Result};
use keel_crypto::Address;
use keel_genesis::Genesis;
use keel_ledger::{
    verify_certified_account, Account, AccountProof, Committee, Height, LedgerCertificate, Payload, Transaction,
};
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
    let mut params = json!({ "address": address.to_string(), "proof": args.proof });
    if let Some(height) = args.height {
        params["height"] = json!(height);
    }
    let answer = rpc.call("keel_getAccount", params)?;
    if !args.proof {
        return print(&answer);
    }
    let genesis_path = args.genesis.as_deref().context("--proof needs --genesis")?;
    let genesis = crate::home::read_genesis(genesis_path)?;
    let account = verify_account_answer(&genesis, &address, &answer)?;
    print(&json!({
        "address": address.to_string(),
        "height": answer["height"],
        "exists": account.is_some(),
        "balance": account.unwrap_or_default().balance,
        "nonce": account.unwrap_or_default().nonce,
        "state_root": answer["state_root"],
        "verified": true,
        "certified_by": answer["certificate"]["signatures"].as_array().map_or(0, Vec::len),
    }))
}

/// Checks a `keel_getAccount` answer with `proof: true` against `genesis`'s validator set: the
/// certificate, the proof against its root, and that the node's plain fields say what the proof
/// says. Returns the proven account.
pub fn verify_account_answer(genesis: &Genesis, address: &Address, answer: &Value) -> Result<Option<Account>> {
    let height = Height(answer["height"].as_u64().context("the answer has no height")?);
    let proof: AccountProof =
        serde_json::from_value(answer["proof"].clone()).context("the answer's proof does not parse")?;
    let certificate: LedgerCertificate =
        serde_json::from_value(answer["certificate"].clone()).context("the answer's certificate does not parse")?;
    let account = verify_certified_account(&Committee::from_genesis(genesis), &certificate, address, height, &proof)
        .context("the node's answer does not verify")?;
    let claimed = (answer["balance"].as_u64(), answer["nonce"].as_u64(), answer["exists"].as_bool());
    let proven = account.unwrap_or_default();
    if claimed != (Some(proven.balance), Some(proven.nonce), Some(account.is_some())) {
        bail!("the node's answer does not verify: its balance, nonce or existence differ from what its proof shows");
    }
    Ok(account)
}

pub(super) fn block(args: &BlockArgs) -> Result<()> {
    let rpc = RpcClient::new(&args.rpc)?;
    let height = match args.height {
        Some(height) => height,
        None => rpc.call("keel_status", json!([]))?["latest_height"].as_u64().context("keel_status gave no height")?,
    };
    print(&rpc.call("keel_getBlock", json!({ "height": height }))?)
}
