//! The node home directory: where a node's files live, and how they are loaded.
//!
//! ```text
//! <home>/
//!   config.toml      node configuration (see config.rs)
//!   node_key.json    the validator's ed25519 key, mode 0600
//!   genesis.json     the chain's genesis
//!   data/            databases (consensus and ledger state)
//! ```

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use keel_crypto::{decode_key_file, encode_key_file, Keypair};
use keel_genesis::Genesis;

use crate::config::NodeConfig;
use crate::fsutil::{create_dir_durable, write_new_file, PUBLIC_FILE_MODE, SECRET_FILE_MODE};

/// Paths inside one node home.
#[derive(Debug, Clone)]
pub struct NodeHome {
    root: PathBuf,
}

impl NodeHome {
    /// A home rooted at `root` (which may not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NodeHome { root: root.into() }
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `node_key.json`.
    pub fn key_path(&self) -> PathBuf {
        self.root.join("node_key.json")
    }

    /// `genesis.json`.
    pub fn genesis_path(&self) -> PathBuf {
        self.root.join("genesis.json")
    }

    /// `data/`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Whether any of the home's files exist already.
    pub fn is_initialised(&self) -> bool {
        [self.config_path(), self.key_path(), self.genesis_path()].iter().any(|p| p.exists())
    }

    /// Writes a fresh home. Refuses to touch a home that has any of its files: a second `init`
    /// must never replace a validator's key.
    pub fn create(&self, config: &NodeConfig, keypair: &Keypair, genesis: &Genesis) -> Result<()> {
        if self.is_initialised() {
            bail!("{} is already initialised; refusing to overwrite it", self.root.display());
        }
        create_dir_durable(&self.root).with_context(|| format!("cannot create {}", self.root.display()))?;
        create_dir_durable(&self.data_dir()).with_context(|| format!("cannot create {}", self.data_dir().display()))?;
        write_key_file(&self.key_path(), keypair)?;
        write_new_file(&self.genesis_path(), &genesis.to_json_pretty(), PUBLIC_FILE_MODE)
            .with_context(|| format!("cannot write {}", self.genesis_path().display()))?;
        // config.toml last: its presence marks a complete home.
        write_new_file(&self.config_path(), config.to_commented_toml().as_bytes(), PUBLIC_FILE_MODE)
            .with_context(|| format!("cannot write {}", self.config_path().display()))
    }

    /// Loads and checks `config.toml`.
    pub fn load_config(&self) -> Result<NodeConfig> {
        let path = self.config_path();
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        NodeConfig::load(&text).with_context(|| format!("{}", path.display()))
    }

    /// Loads the node key, refusing a key file that others can read.
    pub fn load_key(&self) -> Result<Keypair> {
        read_key_file(&self.key_path())
    }

    /// Loads and validates `genesis.json`.
    pub fn load_genesis(&self) -> Result<Genesis> {
        read_genesis(&self.genesis_path())
    }
}

/// Writes a new key file with mode 0600.
pub fn write_key_file(path: &Path, keypair: &Keypair) -> Result<()> {
    write_new_file(path, &encode_key_file(keypair), SECRET_FILE_MODE)
        .with_context(|| format!("cannot write key file {}", path.display()))
}

/// Reads a key file; refuses one readable by group or others, as ssh does.
pub fn read_key_file(path: &Path) -> Result<Keypair> {
    let metadata = fs::metadata(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!("key file {} has mode {mode:o}; it must be readable by its owner only (chmod 600)", path.display());
    }
    let bytes =
        zeroize::Zeroizing::new(fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?);
    decode_key_file(&bytes).with_context(|| format!("{}", path.display()))
}

/// Reads and validates a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let bytes = fs::read(path).with_context(|| format!("cannot read genesis {}", path.display()))?;
    Genesis::from_json(&bytes).with_context(|| format!("{}", path.display()))
}
