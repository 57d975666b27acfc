//! Equivocation detection: one key signing two different proposals, votes or timeouts for one
//! round.
//!
//! Only verified messages are recorded, so evidence is never forged by a third party: each piece
//! holds both signed statements and anyone can re-check them. For each (kind, signer, round)
//! the first statement is remembered; a different second one yields [`Evidence`] once. Memory is
//! bounded: statements are forgotten below a round window, and at most `evidence_max` pieces
//! are kept (the oldest go first).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use borsh::{BorshDeserialize, BorshSerialize};
use keel_crypto::{PublicKey, Signature};

use crate::types::{BlockId, Round};
use crate::vote::Vote;

/// What kind of statement was doubled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub enum StatementKind {
    /// A block proposal.
    Proposal,
    /// A vote.
    Vote,
    /// A timeout.
    Timeout,
}

/// One signed statement, reduced to what its signature covers.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Statement {
    /// A proposal: the proposer signed `(chain_id, block_id, round)`.
    Proposal {
        /// The block.
        block_id: BlockId,
        /// The proposer's signature.
        signature: Signature,
    },
    /// A vote, whole.
    Vote(Vote),
    /// A timeout: the signer signed `(chain_id, round, high_qc_round)`.
    Timeout {
        /// The QC round it reported.
        high_qc_round: Round,
        /// The signature.
        signature: Signature,
    },
}

impl Statement {
    fn kind(&self) -> StatementKind {
        match self {
            Statement::Proposal { .. } => StatementKind::Proposal,
            Statement::Vote(_) => StatementKind::Vote,
            Statement::Timeout { .. } => StatementKind::Timeout,
        }
    }

    /// Whether two statements of one kind say the same thing (a retransmission, not a fault).
    fn same_content(&self, other: &Statement) -> bool {
        match (self, other) {
            (Statement::Proposal { block_id: a, .. }, Statement::Proposal { block_id: b, .. }) => a == b,
            (Statement::Vote(a), Statement::Vote(b)) => a.block_id == b.block_id,
            (Statement::Timeout { high_qc_round: a, .. }, Statement::Timeout { high_qc_round: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// Two conflicting statements signed by one key for one round.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Evidence {
    /// The equivocator.
    pub signer: PublicKey,
    /// The round.
    pub round: Round,
    /// The statement seen first.
    pub first: Statement,
    /// The conflicting statement.
    pub second: Statement,
}

/// Remembers statements per (kind, signer, round) and collects evidence.
#[derive(Debug, Clone)]
pub struct EquivocationDetector {
    seen: BTreeMap<(Round, StatementKind, PublicKey), Statement>,
    reported: BTreeSet<(Round, StatementKind, PublicKey)>,
    kept: VecDeque<Evidence>,
    evidence_max: usize,
}

impl EquivocationDetector {
    /// An empty detector keeping at most `evidence_max` pieces.
    pub fn new(evidence_max: usize) -> Self {
        assert!(evidence_max > 0, "config checked evidence_max");
        EquivocationDetector { seen: BTreeMap::new(), reported: BTreeSet::new(), kept: VecDeque::new(), evidence_max }
    }

    /// Records a verified statement; returns evidence the first time it conflicts with an
    /// earlier one from the same signer for the same round.
    pub fn record(&mut self, signer: PublicKey, round: Round, statement: Statement) -> Option<Evidence> {
        let key = (round, statement.kind(), signer);
        let Some(first) = self.seen.get(&key) else {
            self.seen.insert(key, statement);
            return None;
        };
        if first.same_content(&statement) || self.reported.contains(&key) {
            return None;
        }
        let evidence = Evidence { signer, round, first: first.clone(), second: statement };
        self.reported.insert(key);
        if self.kept.len() == self.evidence_max {
            self.kept.pop_front();
        }
        self.kept.push_back(evidence.clone());
        Some(evidence)
    }

    /// The evidence kept, oldest first.
    pub fn evidence(&self) -> impl Iterator<Item = &Evidence> {
        self.kept.iter()
    }

    /// Forgets statements below `round` (evidence already found is kept).
    pub fn prune_below(&mut self, round: Round) {
        // Keys lead with the round, so the old entries are a prefix: popping them costs what is
        // removed, where a retain would walk every statement of the window on every round.
        while self.seen.first_key_value().is_some_and(|((r, _, _), _)| *r < round) {
            self.seen.pop_first();
        }
        while self.reported.first().is_some_and(|(r, _, _)| *r < round) {
            self.reported.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use keel_crypto::Hash;

    use super::*;
    use crate::testkit::Fixture;

    #[test]
    fn double_statements_are_reported_once_and_retransmissions_never() {
        let fixture = Fixture::new(4);
        let key = fixture.key(0);
        let mut detector = EquivocationDetector::new(2);
        let signature = Signature::from_bytes(&[1; 64]);
        let proposal = |tag: &[u8]| Statement::Proposal { block_id: BlockId(Hash::sha256(tag)), signature };
        assert_eq!(detector.record(key, Round(3), proposal(b"a")), None);
        assert_eq!(detector.record(key, Round(3), proposal(b"a")), None, "a retransmission is no fault");
        let evidence = detector.record(key, Round(3), proposal(b"b")).expect("two blocks in one round");
        assert_eq!((evidence.signer, evidence.round), (key, Round(3)));
        assert_eq!(detector.record(key, Round(3), proposal(b"c")), None, "reported once");
        let timeout = |hqc| Statement::Timeout { high_qc_round: Round(hqc), signature };
        assert_eq!(detector.record(key, Round(3), timeout(1)), None, "kinds are separate");
        assert!(detector.record(key, Round(3), timeout(2)).is_some());
        assert_eq!(detector.record(fixture.key(1), Round(3), timeout(2)), None, "signers are separate");
    }

    #[test]
    fn evidence_kept_is_bounded_and_old_rounds_are_forgotten() {
        let fixture = Fixture::new(4);
        let mut detector = EquivocationDetector::new(2);
        let signature = Signature::from_bytes(&[1; 64]);
        for round in 1..=3 {
            detector.record(fixture.key(0), Round(round), Statement::Timeout { high_qc_round: Round(0), signature });
            detector.record(
                fixture.key(0),
                Round(round),
                Statement::Timeout { high_qc_round: Round(round - 1), signature },
            );
        }
        let rounds: Vec<Round> = detector.evidence().map(|e| e.round).collect();
        assert_eq!(rounds, [Round(2), Round(3)], "at most evidence_max, newest kept");
        detector.prune_below(Round(4));
        assert!(detector.seen.is_empty());
    }
}
