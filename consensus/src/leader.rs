//! Leader election: who proposes in each round. Every validator must use the same election, so
//! it is a pure function of the round and the validator set.

use keel_crypto::PublicKey;

use crate::types::Round;
use crate::validators::ValidatorSet;

/// Chooses the leader of a round.
pub trait LeaderElection: Send {
    /// The leader of `round`; always a member of the set.
    fn leader(&self, round: Round) -> PublicKey;
}

/// Round-robin over the validators in genesis order: round r is led by validator `r mod n`.
/// Voting power does not weigh in (a weighted election can replace it behind the trait).
#[derive(Debug, Clone)]
pub struct RoundRobin {
    keys: Vec<PublicKey>,
}

impl RoundRobin {
    /// Round-robin over `validators`.
    pub fn new(validators: &ValidatorSet) -> Self {
        RoundRobin { keys: validators.members().iter().map(|v| v.public_key).collect() }
    }
}

impl LeaderElection for RoundRobin {
    fn leader(&self, round: Round) -> PublicKey {
        let count = self.keys.len() as u64;
        let index = usize::try_from(round.get() % count).expect("an index below the validator count fits in usize");
        self.keys[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Fixture;

    #[test]
    fn round_robin_cycles_in_genesis_order() {
        let fixture = Fixture::new(4);
        let election = RoundRobin::new(&fixture.validators);
        let leaders: Vec<PublicKey> = (0..8).map(|r| election.leader(Round(r))).collect();
        let keys: Vec<PublicKey> = fixture.validators.members().iter().map(|v| v.public_key).collect();
        assert_eq!(leaders[..4], keys[..]);
        assert_eq!(leaders[4..], keys[..]);
    }
}
