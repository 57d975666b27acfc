//! Versioned state values in the `TreeValues` column, shared by both tree implementations.
//!
//! Layout: `key hash (32) ‖ version (8, BE)` → `0x01 ‖ value`, or `0x00` for a deletion. The
//! value of a key at version v is the newest entry at or before v: one `seek_for_prev`, or a hit
//! in the [`StateCache`].

use crate::kv::{Column, KvStore, StoreError};
use crate::state_cache::StateCache;

/// A value entry: the version it was written at, and the value (`None`: deleted).
pub(crate) type ValueEntry = (u64, Option<Vec<u8>>);

/// The stored key of `key_hash`'s entry at `version`.
pub(crate) fn value_key(key_hash: &[u8; 32], version: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(40);
    bytes.extend_from_slice(key_hash);
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes
}

/// The stored form of a value.
pub(crate) fn stored_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(value) => [&[1u8][..], value].concat(),
        None => vec![0u8],
    }
}

fn corrupt(reason: &str) -> StoreError {
    StoreError::Corrupt { column: Column::TreeValues.name(), reason: reason.into() }
}

/// The newest entry of `key_hash` at or before `version`, from the store.
pub(crate) fn stored_entry<K: KvStore>(
    kv: &K,
    key_hash: &[u8; 32],
    version: u64,
) -> Result<Option<ValueEntry>, StoreError> {
    let Some((key, stored)) = kv.get_at_or_before(Column::TreeValues, &value_key(key_hash, version))? else {
        return Ok(None);
    };
    if key.len() != 40 || &key[..32] != key_hash {
        return Ok(None);
    }
    let found_version = u64::from_be_bytes(key[32..].try_into().expect("checked length"));
    let value = match stored.split_first() {
        Some((1, value)) => Some(value.to_vec()),
        Some((0, [])) => None,
        _ => return Err(corrupt("bad value tag")),
    };
    Ok(Some((found_version, value)))
}

/// The newest entry of `key_hash` at or before `version`, through `cache`.
pub(crate) fn entry<K: KvStore>(
    kv: &K,
    cache: &StateCache,
    key_hash: &[u8; 32],
    version: u64,
) -> Result<Option<ValueEntry>, StoreError> {
    if let Some(cached) = cache.value(key_hash, version) {
        return Ok(cached);
    }
    let found = stored_entry(kv, key_hash, version)?;
    cache.remember_value(key_hash, version, &found);
    Ok(found)
}
