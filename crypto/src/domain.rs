//! Signing domains: one tag per kind of signed message.
//!
//! Keel never signs raw bytes. The bytes an ed25519 signature covers are
//!
//! ```text
//! signed_bytes(domain, message) = domain.tag() ‖ 0x00 ‖ message
//! ```
//!
//! so a signature made over a vote can never verify as a proposal, a timeout, a transaction or a
//! handshake, whatever the message bytes are: the tags differ and contain no NUL byte, so no two
//! (domain, message) pairs yield the same signed bytes.

/// The kind of message a signature is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SigningDomain {
    /// A client transaction (ledger).
    Transaction,
    /// A block proposal (consensus).
    Proposal,
    /// A vote for a block (consensus).
    Vote,
    /// A round timeout (consensus).
    Timeout,
    /// The peer-to-peer handshake challenge (node).
    Handshake,
    /// A validator's statement of the state after a committed height (ledger certificates).
    LedgerInfo,
}

impl SigningDomain {
    /// Every domain, for tests and vectors that must cover them all.
    pub const ALL: [SigningDomain; 6] = [
        SigningDomain::Transaction,
        SigningDomain::Proposal,
        SigningDomain::Vote,
        SigningDomain::Timeout,
        SigningDomain::Handshake,
        SigningDomain::LedgerInfo,
    ];

    /// The ASCII tag prepended to the message. Part of the wire format: changing one changes
    /// every signature of that kind.
    pub const fn tag(self) -> &'static str {
        match self {
            SigningDomain::Transaction => "keel/transaction/v1",
            SigningDomain::Proposal => "keel/proposal/v1",
            SigningDomain::Vote => "keel/vote/v1",
            SigningDomain::Timeout => "keel/timeout/v1",
            SigningDomain::Handshake => "keel/handshake/v1",
            SigningDomain::LedgerInfo => "keel/ledger-info/v1",
        }
    }

    /// The exact bytes that a signature in this domain covers.
    pub fn signed_bytes(self, message: &[u8]) -> Vec<u8> {
        let tag = self.tag().as_bytes();
        let mut bytes = Vec::with_capacity(tag.len() + 1 + message.len());
        bytes.extend_from_slice(tag);
        bytes.push(0);
        bytes.extend_from_slice(message);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_ascii_without_nul() {
        let mut tags: Vec<&str> = SigningDomain::ALL.iter().map(|d| d.tag()).collect();
        for tag in &tags {
            assert!(tag.is_ascii() && !tag.contains('\0'), "{tag}");
        }
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), SigningDomain::ALL.len());
    }

    #[test]
    fn signed_bytes_are_tag_nul_message() {
        assert_eq!(SigningDomain::Vote.signed_bytes(b"m"), b"keel/vote/v1\0m".to_vec());
    }
}
