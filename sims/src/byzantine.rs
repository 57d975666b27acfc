//! Byzantine behaviours. A Byzantine validator runs the honest core (so it follows the chain
//! and knows when it leads) and an [`Adversary`] rewrites what the core sends. One small
//! function per behaviour; the simulator never gives an adversary anything a real attacker
//! would not have: its own key, the messages it receives, and the validator list.
//!
//! | behaviour | what it sends |
//! |---|---|
//! | silent | nothing |
//! | equivocate | as leader, block A to the first half of the validators and a conflicting block B to the second half, then each half the other block too, so that every honest node holds proof of the equivocation |
//! | double-vote | every vote twice: for the block, and for a made-up block of the same round |
//! | garbage | every message with its last byte flipped (a broken signature, for signed messages), plus undecodable noise |
//! | withhold-votes | everything except its votes |
//! | twins | everything (the simulator runs two instances on one key, each seeing part of the network) |

use keel_consensus::{proposal_bytes, vote_bytes, BlockId, Message, SignatureScheme, Vote};
use keel_crypto::{Hash, PublicKey, SigningDomain, TaggedHasher};
use rand::Rng;

use crate::rng::SimRng;
use crate::scenario::Behaviour;

/// Bytes a Byzantine node puts on the wire towards one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The recipient.
    pub to: PublicKey,
    /// The frame (not necessarily a decodable message).
    pub bytes: Vec<u8>,
}

/// Rewrites a Byzantine validator's outgoing messages.
pub struct Adversary {
    behaviour: Behaviour,
    scheme: Box<dyn SignatureScheme>,
    chain_id: Hash,
    /// Every validator, in index order, to split into halves.
    validators: Vec<PublicKey>,
    rng: SimRng,
}

impl Adversary {
    /// An adversary signing with `scheme` (its own key).
    pub fn new(
        behaviour: Behaviour,
        scheme: Box<dyn SignatureScheme>,
        chain_id: Hash,
        validators: Vec<PublicKey>,
        rng: SimRng,
    ) -> Self {
        Adversary { behaviour, scheme, chain_id, validators, rng }
    }

    /// What actually goes out when the honest core sends `message` to `recipients`.
    pub fn rewrite(&mut self, recipients: &[PublicKey], message: &Message) -> Vec<Outgoing> {
        match self.behaviour {
            Behaviour::Silent => Vec::new(),
            Behaviour::Honest | Behaviour::Twins => plain(recipients, message),
            Behaviour::WithholdVotes => match message {
                Message::Vote(_) => Vec::new(),
                _ => plain(recipients, message),
            },
            Behaviour::DoubleVote => self.double_vote(recipients, message),
            Behaviour::Equivocate => self.equivocate(recipients, message),
            Behaviour::Garbage => self.garbage(recipients, message),
        }
    }

    fn double_vote(&mut self, recipients: &[PublicKey], message: &Message) -> Vec<Outgoing> {
        let Message::Vote(vote) = message else { return plain(recipients, message) };
        let fake_block =
            BlockId(TaggedHasher::new("keel/sim-fake-block/v1").chain(vote.block_id.hash().as_bytes()).finish());
        let bytes = vote_bytes(&self.chain_id, &fake_block, vote.round, vote.height);
        let second =
            Vote { block_id: fake_block, signature: self.scheme.sign(SigningDomain::Vote, &bytes), ..vote.clone() };
        let mut out = plain(recipients, message);
        out.extend(plain(recipients, &Message::Vote(second)));
        out
    }

    fn equivocate(&mut self, recipients: &[PublicKey], message: &Message) -> Vec<Outgoing> {
        let Message::Proposal(proposal) = message else { return plain(recipients, message) };
        let mut fork = proposal.clone();
        fork.block.payload.transactions.push(b"equivocation".to_vec());
        let bytes = proposal_bytes(&self.chain_id, &fork.block.id(), fork.block.round);
        fork.signature = self.scheme.sign(SigningDomain::Proposal, &bytes);
        let fork = Message::Proposal(fork);
        let half = self.validators.len() / 2;
        let first_half = |key: &PublicKey| self.validators.iter().position(|v| v == key).is_some_and(|i| i < half);
        let (a_side, b_side): (Vec<PublicKey>, Vec<PublicKey>) = recipients.iter().partition(|key| first_half(key));
        let mut out = plain(&a_side, message);
        out.extend(plain(&b_side, &fork));
        out.extend(plain(&a_side, &fork));
        out.extend(plain(&b_side, message));
        out
    }

    fn garbage(&mut self, recipients: &[PublicKey], message: &Message) -> Vec<Outgoing> {
        let mut corrupted = message.encode();
        let last = corrupted.len() - 1;
        corrupted[last] ^= 0x01;
        let mut out = Vec::new();
        for &to in recipients {
            out.push(Outgoing { to, bytes: corrupted.clone() });
            let length = self.rng.gen_range(0..256);
            let noise: Vec<u8> = (0..length).map(|_| self.rng.gen()).collect();
            out.push(Outgoing { to, bytes: noise });
        }
        out
    }
}

fn plain(recipients: &[PublicKey], message: &Message) -> Vec<Outgoing> {
    let bytes = message.encode();
    recipients.iter().map(|&to| Outgoing { to, bytes: bytes.clone() }).collect()
}

#[cfg(test)]
mod tests {
    use keel_consensus::{Ed25519Scheme, Round};
    use keel_crypto::Keypair;
    use rand::SeedableRng;

    use super::*;
    use crate::rng::stream;

    fn adversary(behaviour: Behaviour) -> (Adversary, Vec<PublicKey>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let keys: Vec<Keypair> = (0..4).map(|_| Keypair::generate(&mut rng)).collect();
        let validators: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let scheme = Box::new(Ed25519Scheme::new(keys[3].clone()));
        (Adversary::new(behaviour, scheme, Hash::ZERO, validators.clone(), stream(1, "adv", 0)), validators)
    }

    fn a_vote(scheme: &dyn SignatureScheme) -> Vote {
        let block_id = BlockId(Hash::sha256(b"b"));
        let bytes = vote_bytes(&Hash::ZERO, &block_id, Round(3), keel_consensus::Height(2));
        Vote {
            block_id,
            round: Round(3),
            height: keel_consensus::Height(2),
            voter: scheme.public_key(),
            signature: scheme.sign(SigningDomain::Vote, &bytes),
        }
    }

    #[test]
    fn withholding_drops_only_votes_and_silence_drops_everything() {
        let (mut withhold, validators) = adversary(Behaviour::WithholdVotes);
        let vote = Message::Vote(a_vote(withhold.scheme.as_ref()));
        assert!(withhold.rewrite(&validators[..1], &vote).is_empty());
        let request = Message::BlockRequest(keel_consensus::BlockRequest { id: BlockId(Hash::ZERO), count: 1 });
        assert_eq!(withhold.rewrite(&validators[..2], &request).len(), 2);
        let (mut silent, _) = adversary(Behaviour::Silent);
        assert!(silent.rewrite(&validators, &request).is_empty());
    }

    #[test]
    fn a_double_voter_signs_two_valid_votes_for_one_round() {
        let (mut adv, validators) = adversary(Behaviour::DoubleVote);
        let vote = a_vote(adv.scheme.as_ref());
        let out = adv.rewrite(&validators[..1], &Message::Vote(vote.clone()));
        assert_eq!(out.len(), 2);
        let votes: Vec<Vote> = out
            .iter()
            .map(|o| match Message::decode(&o.bytes, 1 << 20).unwrap() {
                Message::Vote(v) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(votes[0], vote);
        assert_ne!(votes[1].block_id, vote.block_id);
        assert_eq!(votes[1].round, vote.round);
        let bytes = votes[1].signed_bytes(&Hash::ZERO);
        assert!(
            votes[1].voter.verify(SigningDomain::Vote, &bytes, &votes[1].signature).is_ok(),
            "the second vote is validly signed"
        );
    }

    #[test]
    fn garbage_never_sends_the_real_message() {
        let (mut adv, validators) = adversary(Behaviour::Garbage);
        let vote = Message::Vote(a_vote(adv.scheme.as_ref()));
        let out = adv.rewrite(&validators[..2], &vote);
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|o| o.bytes != vote.encode()));
    }
}
