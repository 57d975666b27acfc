//! Test helpers: a seeded validator set and builders for signed blocks, votes, QCs, timeouts
//! and TCs. Real ed25519 throughout, so tests exercise the production verification.

use std::collections::BTreeMap;

use keel_crypto::{Hash, Keypair, PublicKey, SigningDomain};
use rand::SeedableRng;

use crate::block::{Block, Payload, Proposal, StateCommitment};
use crate::config::Config;
use crate::quorum_cert::QuorumCert;
use crate::recovery::genesis_qc;
use crate::signing::{proposal_bytes, Ed25519Scheme};
use crate::timeout::{Timeout, TimeoutCert};
use crate::types::{Round, VotingPower};
use crate::validators::{Validator, ValidatorSet};
use crate::vote::Vote;

/// n validators of power 1 from a fixed seed, and a chain config.
pub struct Fixture {
    pub keypairs: Vec<Keypair>,
    pub validators: ValidatorSet,
    pub config: Config,
    pub genesis: Block,
}

impl Fixture {
    pub fn new(n: usize) -> Self {
        Self::with_powers(&vec![1; n])
    }

    pub fn with_powers(powers: &[u64]) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let keypairs: Vec<Keypair> = powers.iter().map(|_| Keypair::generate(&mut rng)).collect();
        let members = keypairs
            .iter()
            .zip(powers)
            .map(|(k, p)| Validator { public_key: k.public(), power: VotingPower(*p) })
            .collect();
        let validators = ValidatorSet::new(members).expect("fixture set is valid");
        let mut config = Config::new(Hash::sha256(b"keel test chain"));
        config.round_timeout_ms = 1000;
        config.round_timeout_ms_max = 8000;
        let genesis = Block::genesis(&config.chain_id, &validators);
        Fixture { keypairs, validators, config, genesis }
    }

    pub fn key(&self, index: usize) -> PublicKey {
        self.keypairs[index].public()
    }

    pub fn scheme(&self, index: usize) -> Ed25519Scheme {
        Ed25519Scheme::new(self.keypairs[index].clone())
    }

    fn index_of(&self, key: &PublicKey) -> usize {
        self.keypairs.iter().position(|k| k.public() == *key).expect("a fixture key")
    }

    /// The round-robin leader of `round`.
    pub fn leader(&self, round: Round) -> usize {
        (round.get() % self.keypairs.len() as u64) as usize
    }

    pub fn genesis_qc(&self) -> QuorumCert {
        genesis_qc(&self.genesis)
    }

    /// A block of `round` extending the block certified by `qc`, proposed by the round's leader.
    pub fn block(&self, qc: QuorumCert, round: Round, tc: Option<TimeoutCert>) -> Block {
        Block {
            parent: qc.block_id,
            round,
            height: qc.height.next(),
            proposer: self.key(self.leader(round)),
            payload: Payload { transactions: vec![round.get().to_le_bytes().to_vec()] },
            state: StateCommitment::default(),
            qc,
            tc,
        }
    }

    pub fn child_of_genesis(&self, round: Round) -> Block {
        self.block(self.genesis_qc(), round, None)
    }

    pub fn proposal(&self, block: Block) -> Proposal {
        let index = self.index_of(&block.proposer);
        let signature = self.keypairs[index]
            .sign(SigningDomain::Proposal, &proposal_bytes(&self.config.chain_id, &block.id(), block.round));
        Proposal { block, signature }
    }

    pub fn vote(&self, index: usize, block: &Block) -> Vote {
        Vote::make(&self.scheme(index), &self.config.chain_id, block.id(), block)
    }

    /// A QC for `block` signed by `signers`.
    pub fn qc(&self, block: &Block, signers: &[usize]) -> QuorumCert {
        let votes: BTreeMap<PublicKey, Vote> = signers.iter().map(|&i| (self.key(i), self.vote(i, block))).collect();
        QuorumCert::from_votes(&votes)
    }

    /// A QC for `block` signed by the first 2f+1 validators.
    pub fn full_qc(&self, block: &Block) -> QuorumCert {
        let quorum = self.validators.quorum_power().get() as usize;
        self.qc(block, &(0..quorum).collect::<Vec<_>>())
    }

    pub fn timeout(&self, index: usize, round: Round) -> Timeout {
        self.timeout_with_qc(index, round, self.genesis_qc())
    }

    pub fn timeout_with_qc(&self, index: usize, round: Round, high_qc: QuorumCert) -> Timeout {
        Timeout::make(&self.scheme(index), &self.config.chain_id, round, high_qc)
    }

    /// A TC for `round` from `signers`, each reporting `high_qc`.
    pub fn tc(&self, round: Round, signers: &[usize], high_qc: &QuorumCert) -> TimeoutCert {
        let timeouts: BTreeMap<PublicKey, Timeout> =
            signers.iter().map(|&i| (self.key(i), self.timeout_with_qc(i, round, high_qc.clone()))).collect();
        TimeoutCert::from_timeouts(&timeouts)
    }

    /// `length` blocks on genesis in rounds 1, 2, …, each carrying a full QC of its parent.
    pub fn chain(&self, length: usize) -> Vec<Block> {
        let mut blocks: Vec<Block> = Vec::new();
        for round in 1..=length as u64 {
            let qc = blocks.last().map_or_else(|| self.genesis_qc(), |parent| self.full_qc(parent));
            blocks.push(self.block(qc, Round(round), None));
        }
        blocks
    }
}
