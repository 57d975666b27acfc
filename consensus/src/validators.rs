//! The validator set: an ordered list of public keys with voting power, fixed at genesis.
//!
//! Quorum rule: a set of distinct validators is a **quorum** when its power is more than two
//! thirds of the total (`3 * power > 2 * total`), which with n = 3f+1 equal validators is 2f+1 of
//! them. Any two quorums then share more than a third of the power, so at least one honest
//! validator when the Byzantine ones hold less than a third. A set holds a **third** when its
//! power is more than a third of the total (f+1 validators): at least one of them is honest.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{tagged_hash, Hash, PublicKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::types::VotingPower;

/// No validator set is larger than this; it bounds every certificate's signature list.
pub const VALIDATORS_MAX: usize = 1024;

/// One member of the validator set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Validator {
    /// Its consensus key.
    pub public_key: PublicKey,
    /// Its voting power, at least 1.
    pub power: VotingPower,
}

/// Why a list of validators cannot be a validator set.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidatorSetError {
    /// The list is empty.
    #[error("validator set is empty")]
    Empty,
    /// The list is longer than [`VALIDATORS_MAX`].
    #[error("{count} validators exceed the limit of {max}")]
    TooMany {
        /// Validators given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// One key appears twice.
    #[error("validator {key} appears twice")]
    DuplicateKey {
        /// The repeated key.
        key: PublicKey,
    },
    /// A validator has no power.
    #[error("validator {key} has zero voting power")]
    ZeroPower {
        /// The powerless validator.
        key: PublicKey,
    },
    /// The powers do not sum within `u64`.
    #[error("total voting power overflows u64")]
    PowerOverflow,
}

/// The ordered validator set with its key index and total power.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    members: Vec<Validator>,
    positions: BTreeMap<PublicKey, usize>,
    total: VotingPower,
}

impl ValidatorSet {
    /// Checks and indexes `members`, keeping their order (the genesis order; leader election
    /// uses it).
    pub fn new(members: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        if members.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if members.len() > VALIDATORS_MAX {
            return Err(ValidatorSetError::TooMany { count: members.len(), max: VALIDATORS_MAX });
        }
        let mut positions = BTreeMap::new();
        let mut total = VotingPower::ZERO;
        for (position, member) in members.iter().enumerate() {
            if member.power == VotingPower::ZERO {
                return Err(ValidatorSetError::ZeroPower { key: member.public_key });
            }
            if positions.insert(member.public_key, position).is_some() {
                return Err(ValidatorSetError::DuplicateKey { key: member.public_key });
            }
            total = total.checked_add(member.power.get()).ok_or(ValidatorSetError::PowerOverflow)?;
        }
        Ok(ValidatorSet { members, positions, total })
    }

    /// A set of equal-power validators, in the given order.
    pub fn equal_power(keys: impl IntoIterator<Item = PublicKey>) -> Result<Self, ValidatorSetError> {
        Self::new(keys.into_iter().map(|public_key| Validator { public_key, power: VotingPower(1) }).collect())
    }

    /// The members in genesis order.
    pub fn members(&self) -> &[Validator] {
        &self.members
    }

    /// How many validators there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: a validator set has at least one member.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Total voting power.
    pub fn total_power(&self) -> VotingPower {
        self.total
    }

    /// The power of `key`, or `None` when it is not a validator.
    pub fn power_of(&self, key: &PublicKey) -> Option<VotingPower> {
        self.positions.get(key).map(|&position| self.members[position].power)
    }

    /// Whether `key` is a validator.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.positions.contains_key(key)
    }

    /// The smallest power that is a quorum: more than two thirds of the total.
    pub fn quorum_power(&self) -> VotingPower {
        VotingPower(mul_div(self.total.get(), 2, 3) + 1)
    }

    /// Whether `power` is a quorum (see the module docs).
    pub fn is_quorum(&self, power: VotingPower) -> bool {
        power >= self.quorum_power()
    }

    /// Whether `power` is more than a third of the total, so includes an honest validator.
    pub fn is_third(&self, power: VotingPower) -> bool {
        power.get() > mul_div(self.total.get(), 1, 3)
    }

    /// A digest of the ordered set, bound into the genesis block.
    pub fn digest(&self) -> Hash {
        tagged_hash("keel/validators/v1", &borsh::to_vec(&self.members).expect("borsh encoding into a Vec cannot fail"))
    }
}

/// `floor(value * numerator / denominator)` without overflow.
fn mul_div(value: u64, numerator: u64, denominator: u64) -> u64 {
    let result = u128::from(value) * u128::from(numerator) / u128::from(denominator);
    u64::try_from(result).expect("a fraction below one of a u64 fits in a u64")
}

#[cfg(test)]
mod tests {
    use keel_crypto::Keypair;
    use rand::SeedableRng;

    use super::*;

    fn keys(count: usize) -> Vec<PublicKey> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        (0..count).map(|_| Keypair::generate(&mut rng).public()).collect()
    }

    #[test]
    fn quorum_is_two_f_plus_one_of_equal_validators() {
        for (n, quorum, third) in [(1, 1, 1), (4, 3, 2), (7, 5, 3), (10, 7, 4), (100, 67, 34)] {
            let set = ValidatorSet::equal_power(keys(n)).unwrap();
            assert_eq!(set.quorum_power(), VotingPower(quorum), "n = {n}");
            assert!(!set.is_quorum(VotingPower(quorum - 1)));
            assert!(set.is_third(VotingPower(third)) && !set.is_third(VotingPower(third - 1)), "n = {n}");
        }
    }

    #[test]
    fn quorum_counts_power_not_heads() {
        let k = keys(3);
        let set = ValidatorSet::new(vec![
            Validator { public_key: k[0], power: VotingPower(10) },
            Validator { public_key: k[1], power: VotingPower(1) },
            Validator { public_key: k[2], power: VotingPower(1) },
        ])
        .unwrap();
        assert!(set.is_quorum(set.power_of(&k[0]).unwrap()), "10 of 12 is more than two thirds");
        assert!(!set.is_quorum(VotingPower(2)));
    }

    #[test]
    fn malformed_sets_are_refused() {
        let k = keys(2);
        assert_eq!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty));
        assert_eq!(ValidatorSet::equal_power([k[0], k[0]]), Err(ValidatorSetError::DuplicateKey { key: k[0] }));
        let zero = vec![Validator { public_key: k[1], power: VotingPower(0) }];
        assert_eq!(ValidatorSet::new(zero), Err(ValidatorSetError::ZeroPower { key: k[1] }));
        let huge = vec![
            Validator { public_key: k[0], power: VotingPower(u64::MAX) },
            Validator { public_key: k[1], power: VotingPower(1) },
        ];
        assert_eq!(ValidatorSet::new(huge), Err(ValidatorSetError::PowerOverflow));
    }
}
