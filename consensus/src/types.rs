//! Protocol numbers as newtypes: [`Round`], [`Height`], [`VotingPower`], and the driver's clock
//! reading [`Time`].
//!
//! Each wraps a `u64` and offers only checked arithmetic: a round or height that would overflow
//! is a bug (2^64 rounds never happen), so the `next` helpers panic with a message rather than
//! wrap. Nothing here is a bare `usize` on the wire.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::Hash;
use serde::{Deserialize, Serialize};

/// Defines a `u64` newtype with the derives and helpers every protocol number shares.
macro_rules! protocol_number {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            BorshSerialize, BorshDeserialize, Serialize, Deserialize,
        )]
        pub struct $name(pub u64);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(0);

            /// The raw number.
            pub const fn get(self) -> u64 {
                self.0
            }

            /// `self + by`, or `None` on overflow.
            pub fn checked_add(self, by: u64) -> Option<$name> {
                self.0.checked_add(by).map($name)
            }

            /// `self - by`, or `None` below zero.
            pub fn checked_sub(self, by: u64) -> Option<$name> {
                self.0.checked_sub(by).map($name)
            }

            /// `self - by`, stopping at zero.
            pub fn saturating_sub(self, by: u64) -> $name {
                $name(self.0.saturating_sub(by))
            }

            /// The successor.
            ///
            /// # Panics
            /// At `u64::MAX`: no protocol run reaches it, so reaching it is a bug.
            pub fn next(self) -> $name {
                self.checked_add(1).expect(concat!(stringify!($name), " overflowed u64"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

protocol_number!(
    /// A consensus round. Round 0 belongs to the genesis block; every later round has one leader.
    Round
);
protocol_number!(
    /// A block's distance from genesis (genesis is height 0). Heights of committed blocks are
    /// consecutive; rounds need not be.
    Height
);
protocol_number!(
    /// A validator's voting weight. Quorums are counted in power, never in heads.
    VotingPower
);

impl VotingPower {
    /// `self + other`.
    ///
    /// # Panics
    /// On overflow: the validator set checks at construction that its total fits, so any sum of
    /// distinct members fits too.
    pub fn plus(self, other: VotingPower) -> VotingPower {
        self.checked_add(other.0).expect("a sum of distinct validators' power is at most the checked total")
    }
}

/// Milliseconds on the driver's clock. The core never reads a clock: every call to
/// `Core::handle` says what time it is, and timers are deadlines on this same clock.
///
/// The origin is the driver's choice (the simulator starts at 0, the node may use a monotonic
/// clock's reading); only differences and comparisons matter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub u64);

impl Time {
    /// The driver's clock origin.
    pub const ZERO: Time = Time(0);

    /// Milliseconds since the origin.
    pub const fn as_ms(self) -> u64 {
        self.0
    }

    /// `self + ms`, saturating: a deadline beyond the end of time never fires, which is the
    /// right meaning for it.
    pub fn plus_ms(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// The identifier of a block: `tagged_hash("keel/block/v1", borsh(block))`.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct BlockId(pub Hash);

impl BlockId {
    /// The digest.
    pub const fn hash(&self) -> &Hash {
        &self.0
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits identify a block in logs and test output.
        write!(f, "Block({})", &self.0.to_string()[..8])
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.0.to_string()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic_refuses_overflow_and_underflow() {
        assert_eq!(Round(u64::MAX).checked_add(1), None);
        assert_eq!(Height(0).checked_sub(1), None);
        assert_eq!(Round(3).saturating_sub(5), Round(0));
        assert_eq!(Round(7).next(), Round(8));
    }

    #[test]
    #[should_panic(expected = "Round overflowed")]
    fn next_round_at_the_end_is_a_bug() {
        let _ = Round(u64::MAX).next();
    }

    #[test]
    fn time_saturates_instead_of_wrapping() {
        assert_eq!(Time(u64::MAX - 1).plus_ms(10), Time(u64::MAX));
    }
}
