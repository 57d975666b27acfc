//! Why peer input was refused. Every variant is a property of bytes a peer sent, so every one is
//! permanent: the same input is refused again. Bugs are assertions, never these.

use keel_crypto::PublicKey;
use thiserror::Error;

use crate::types::{BlockId, Height, Round, VotingPower};

/// A message, block or certificate that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// A signer is not in the validator set.
    #[error("signer {signer} is not a validator")]
    UnknownSigner {
        /// The stranger.
        signer: PublicKey,
    },
    /// A certificate lists a signer twice, or out of ascending key order (the canonical form).
    #[error("signer {signer} repeated or out of order")]
    DuplicateSigner {
        /// The signer at the fault.
        signer: PublicKey,
    },
    /// A certificate's signers hold too little power.
    #[error("signers hold {have} voting power, a quorum needs {need}")]
    InsufficientPower {
        /// Power of the signers.
        have: VotingPower,
        /// The quorum power.
        need: VotingPower,
    },
    /// A signature does not verify.
    #[error("bad signature by {signer}")]
    BadSignature {
        /// Whose signature it claims to be.
        signer: PublicKey,
    },
    /// A round-0 certificate that is not the genesis certificate.
    #[error("round-0 certificate for {block_id:?} is not the genesis certificate")]
    NotGenesis {
        /// The block it claims to certify.
        block_id: BlockId,
    },
    /// A round that contradicts what the message is attached to.
    #[error("{what}: round {round}, expected {expected}")]
    WrongRound {
        /// Which relation failed.
        what: &'static str,
        /// The round found.
        round: Round,
        /// The round required (or the bound it must be above).
        expected: Round,
    },
    /// A block's height is not its parent's plus one.
    #[error("height {height}, expected {expected}")]
    WrongHeight {
        /// Height found.
        height: Height,
        /// Height required.
        expected: Height,
    },
    /// A block's parent is not the block its QC certifies.
    #[error("parent {parent:?} is not the certified block {certified:?}")]
    WrongParent {
        /// The parent named.
        parent: BlockId,
        /// The block the QC certifies.
        certified: BlockId,
    },
    /// A proposal from a validator that does not lead its round.
    #[error("{proposer} proposed in round {round}, whose leader is {leader}")]
    NotLeader {
        /// Who proposed.
        proposer: PublicKey,
        /// The round.
        round: Round,
        /// Who leads it.
        leader: PublicKey,
    },
    /// A timeout certificate whose high QC is not the highest its signers reported.
    #[error("TC high QC is round {high_qc_round}, signers reported up to {reported_max}")]
    HighQcMismatch {
        /// Round of the attached QC.
        high_qc_round: Round,
        /// Highest round in the signatures.
        reported_max: Round,
    },
    /// A payload over a limit.
    #[error("payload of {transactions} transactions, {bytes} bytes exceeds {transactions_max} / {bytes_max}")]
    PayloadTooLarge {
        /// Transactions in it.
        transactions: u64,
        /// Bytes of transactions in it.
        bytes: u64,
        /// Transaction limit.
        transactions_max: u32,
        /// Byte limit.
        bytes_max: u64,
    },
    /// A block whose state commitment is not below its own height.
    #[error("state commitment at height {state_height} is not below block height {height}")]
    StateAhead {
        /// Height of the state commitment.
        state_height: Height,
        /// Height of the block.
        height: Height,
    },
    /// A block-sync response that does not answer the request.
    #[error("block response: {reason}")]
    BadResponse {
        /// What is wrong.
        reason: &'static str,
    },
}
