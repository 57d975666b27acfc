//! Block heights, which are also the versions of the Merkle state.
//!
//! Height 0 is the genesis state; the block at height h turns the state at h - 1 into the state
//! at h. The tree version of a state is its height, so "the state at height h" and "tree version
//! h" name the same thing.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// A block height (and the version of the state after that block).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Height(pub u64);

impl Height {
    /// The genesis state.
    pub const GENESIS: Height = Height(0);

    /// The next height, or `None` at `u64::MAX` (a chain that long is a bug, never input).
    pub fn next(self) -> Option<Height> {
        self.0.checked_add(1).map(Height)
    }

    /// The previous height, or `None` at genesis.
    pub fn prev(self) -> Option<Height> {
        self.0.checked_sub(1).map(Height)
    }

    /// The 8-byte big-endian form used in storage keys, so that keys sort by height.
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_prev_are_checked() {
        assert_eq!(Height(u64::MAX).next(), None);
        assert_eq!(Height::GENESIS.prev(), None);
        assert_eq!(Height(4).next(), Some(Height(5)));
        assert!(Height(1).to_be_bytes() < Height(256).to_be_bytes());
    }
}
