//! The gate for peer input: every signature and every quorum is checked here before the rest of
//! the core looks at a message.
//!
//! Rules:
//! - a signer must be a validator; a certificate lists each signer once, in ascending key order;
//! - a certificate's signers must hold a quorum of the power (more than two thirds);
//! - every signature must verify over its message's signed bytes, which bind the chain id;
//! - certificate signatures are checked as one batch, and a failing batch names the first bad
//!   signer;
//! - a TC's attached QC must be the highest its signers reported, and every reported round must
//!   be below the TC's round.
//!
//! A QC that verified once is remembered by digest (bounded per round, forgotten below the
//! committed round), because the same QC arrives in every proposal and timeout of a round.

use std::collections::{BTreeMap, BTreeSet};

use keel_crypto::{Hash, PublicKey, Signature, SignedMessage, SigningDomain};

use crate::block::Proposal;
use crate::error::VerifyError;
use crate::quorum_cert::QuorumCert;
use crate::signing::{proposal_bytes, SignatureScheme};
use crate::timeout::{Timeout, TimeoutCert};
use crate::types::{BlockId, Round, VotingPower};
use crate::validators::ValidatorSet;
use crate::vote::Vote;

/// Distinct verified QCs remembered per round. Honest runs see one or two per round; a
/// Byzantine node can mint more from different quorums, which are then verified each time.
pub const VERIFIED_QCS_PER_ROUND_MAX: usize = 4;

/// Checks signatures and quorums for one chain and validator set.
pub struct Verifier {
    chain_id: Hash,
    validators: ValidatorSet,
    scheme: Box<dyn SignatureScheme>,
    genesis_qc: QuorumCert,
    verified_qcs: BTreeMap<Round, BTreeSet<Hash>>,
}

impl Verifier {
    /// A verifier for `chain_id` whose genesis certificate is `genesis_qc`.
    pub fn new(
        chain_id: Hash,
        validators: ValidatorSet,
        scheme: Box<dyn SignatureScheme>,
        genesis_qc: QuorumCert,
    ) -> Self {
        assert!(genesis_qc.round == Round::ZERO && genesis_qc.votes.is_empty(), "the genesis QC is round 0, unsigned");
        Verifier { chain_id, validators, scheme, genesis_qc, verified_qcs: BTreeMap::new() }
    }

    /// The chain id every signature binds.
    pub fn chain_id(&self) -> &Hash {
        &self.chain_id
    }

    /// The validator set.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// This node's signing scheme.
    pub fn scheme(&self) -> &dyn SignatureScheme {
        self.scheme.as_ref()
    }

    /// The genesis QC.
    pub fn genesis_qc(&self) -> &QuorumCert {
        &self.genesis_qc
    }

    /// Checks a quorum certificate (module rules; round 0 only as the genesis QC).
    pub fn verify_qc(&mut self, qc: &QuorumCert) -> Result<(), VerifyError> {
        if qc.round == Round::ZERO {
            return if *qc == self.genesis_qc {
                Ok(())
            } else {
                Err(VerifyError::NotGenesis { block_id: qc.block_id })
            };
        }
        let digest = qc.digest();
        if self.verified_qcs.get(&qc.round).is_some_and(|seen| seen.contains(&digest)) {
            return Ok(());
        }
        self.verify_quorum(qc.votes.iter().map(|v| &v.voter))?;
        let message = crate::signing::vote_bytes(&self.chain_id, &qc.block_id, qc.round, qc.height);
        let items: Vec<SignedMessage<'_>> = qc
            .votes
            .iter()
            .map(|v| SignedMessage {
                domain: SigningDomain::Vote,
                message: &message,
                public_key: &v.voter,
                signature: &v.signature,
            })
            .collect();
        self.scheme
            .verify_batch(&items)
            .map_err(|failure| VerifyError::BadSignature { signer: qc.votes[failure.invalid[0]].voter })?;
        let seen = self.verified_qcs.entry(qc.round).or_default();
        if seen.len() < VERIFIED_QCS_PER_ROUND_MAX {
            seen.insert(digest);
        }
        Ok(())
    }

    /// Checks a timeout certificate, its attached QC included.
    pub fn verify_tc(&mut self, tc: &TimeoutCert) -> Result<(), VerifyError> {
        self.verify_quorum(tc.timeouts.iter().map(|t| &t.signer))?;
        let reported_max = tc.timeouts.iter().map(|t| t.high_qc_round).max().expect("a quorum is not empty");
        if reported_max >= tc.round {
            return Err(VerifyError::WrongRound {
                what: "TC signer's QC below the TC",
                round: reported_max,
                expected: tc.round,
            });
        }
        if tc.high_qc.round != reported_max {
            return Err(VerifyError::HighQcMismatch { high_qc_round: tc.high_qc.round, reported_max });
        }
        let messages: Vec<Vec<u8>> = tc
            .timeouts
            .iter()
            .map(|t| crate::signing::timeout_bytes(&self.chain_id, tc.round, t.high_qc_round))
            .collect();
        let items: Vec<SignedMessage<'_>> = tc
            .timeouts
            .iter()
            .zip(&messages)
            .map(|(t, m)| SignedMessage {
                domain: SigningDomain::Timeout,
                message: m,
                public_key: &t.signer,
                signature: &t.signature,
            })
            .collect();
        self.scheme
            .verify_batch(&items)
            .map_err(|failure| VerifyError::BadSignature { signer: tc.timeouts[failure.invalid[0]].signer })?;
        self.verify_qc(&tc.high_qc)
    }

    /// Checks a vote's signer and signature.
    pub fn verify_vote(&self, vote: &Vote) -> Result<(), VerifyError> {
        self.verify_single(&vote.voter, SigningDomain::Vote, &vote.signed_bytes(&self.chain_id), &vote.signature)
    }

    /// Checks a timeout's round relation, signer, signature and QC.
    pub fn verify_timeout(&mut self, timeout: &Timeout) -> Result<(), VerifyError> {
        if timeout.high_qc.round >= timeout.round {
            return Err(VerifyError::WrongRound {
                what: "timeout QC below the timeout",
                round: timeout.high_qc.round,
                expected: timeout.round,
            });
        }
        self.verify_single(
            &timeout.signer,
            SigningDomain::Timeout,
            &timeout.signed_bytes(&self.chain_id),
            &timeout.signature,
        )?;
        self.verify_qc(&timeout.high_qc)
    }

    /// Checks a proposal's signature and its certificates; `block_id` is `proposal.block.id()`,
    /// which the caller has computed (hashing a block is the costliest step of handling it).
    /// Its shape and leader are checked by the caller, which knows the configuration and the
    /// leader election.
    pub fn verify_proposal(&mut self, proposal: &Proposal, block_id: &BlockId) -> Result<(), VerifyError> {
        let block = &proposal.block;
        let bytes = proposal_bytes(&self.chain_id, block_id, block.round);
        self.verify_single(&block.proposer, SigningDomain::Proposal, &bytes, &proposal.signature)?;
        self.verify_qc(&block.qc)?;
        match &block.tc {
            Some(tc) => self.verify_tc(tc),
            None => Ok(()),
        }
    }

    /// Forgets verified QCs below `round`.
    pub fn prune_below(&mut self, round: Round) {
        self.verified_qcs = self.verified_qcs.split_off(&round);
    }

    fn verify_single(
        &self,
        signer: &PublicKey,
        domain: SigningDomain,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), VerifyError> {
        if !self.validators.contains(signer) {
            return Err(VerifyError::UnknownSigner { signer: *signer });
        }
        if !self.scheme.verify(signer, domain, message, signature) {
            return Err(VerifyError::BadSignature { signer: *signer });
        }
        Ok(())
    }

    /// Checks that `signers` are known, strictly ascending and a quorum.
    fn verify_quorum<'a>(&self, signers: impl Iterator<Item = &'a PublicKey>) -> Result<(), VerifyError> {
        let mut power = VotingPower::ZERO;
        let mut previous: Option<&PublicKey> = None;
        for signer in signers {
            if previous.is_some_and(|p| p >= signer) {
                return Err(VerifyError::DuplicateSigner { signer: *signer });
            }
            power = power.plus(self.validators.power_of(signer).ok_or(VerifyError::UnknownSigner { signer: *signer })?);
            previous = Some(signer);
        }
        if !self.validators.is_quorum(power) {
            return Err(VerifyError::InsufficientPower { have: power, need: self.validators.quorum_power() });
        }
        Ok(())
    }
}
