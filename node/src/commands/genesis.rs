//! `keel genesis validate FILE`.

use std::path::Path;

use anyhow::Result;

use crate::home::read_genesis;

pub(super) fn validate(path: &Path) -> Result<()> {
    let genesis = read_genesis(path)?;
    println!(
        "{}: valid; chain id {}, {} validators (total power {}), {} accounts (supply {}), hash {}",
        path.display(),
        genesis.chain_id(),
        genesis.validators().len(),
        genesis.total_power(),
        genesis.accounts().len(),
        genesis.total_supply(),
        genesis.hash()
    );
    Ok(())
}
