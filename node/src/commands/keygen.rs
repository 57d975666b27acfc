//! `keel keygen --out FILE`: a new key file, its public key on stdout.

use anyhow::Result;
use keel_crypto::{Address, Keypair};
use rand_core::OsRng;

use crate::cli::KeygenArgs;
use crate::home::write_key_file;

pub(super) fn run(args: &KeygenArgs) -> Result<()> {
    let keypair = Keypair::generate(&mut OsRng);
    write_key_file(&args.out, &keypair)?;
    let public = keypair.public();
    if args.json {
        let address = Address::from_public_key(&public);
        println!("{}", serde_json::json!({ "public_key": public.to_string(), "address": address.to_string() }));
    } else {
        println!("{public}");
    }
    Ok(())
}
