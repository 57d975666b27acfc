//! Batch verification that names the bad signatures.
//!
//! ed25519-dalek's `verify_batch` checks n signatures in one multi-scalar multiplication, about
//! twice as fast per signature as one-by-one checks, and derives its random coefficients from the
//! inputs (a Merlin transcript), so it needs no RNG and gives the same answer on every node.
//!
//! When a batch fails, [`verify_batch`] bisects: each half is checked as a batch, and halves of
//! at most [`BISECT_LEAF_LEN`] signatures are checked one by one. A batch with k bad signatures
//! costs O(k log n) batch checks instead of n single ones, so one bad signature cannot make a
//! peer pay for verifying a whole batch singly.
//!
//! ## Agreement with single verification
//!
//! Single verification ([`PublicKey::verify`](crate::PublicKey::verify)) uses `verify_strict`,
//! which rejects a nonce point `R` that is non-canonically encoded or of small order; dalek's
//! batch equation does not check either. So that both agree, this module screens every `R` first
//! (two cheap byte comparisons) and treats a failing one as invalid without batching it. Weak
//! public keys never reach here: [`PublicKey`](crate::PublicKey) refuses them when parsed.
//!
//! One gap remains, inherent to cofactorless batch equations: a *signer* who deliberately adds a
//! torsion component to its own `R` makes a signature that `verify_strict` rejects but that a
//! batch accepts with probability 1/8. It cannot be made by anyone without the secret key, so it
//! is no forgery; consensus-critical callers that batch must fix the batch composition from the
//! block itself (the same chunks on every node) so that every honest node reaches the same verdict.

use std::sync::OnceLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::VerifyingKey;

use crate::domain::SigningDomain;
use crate::keys::{PublicKey, Signature};

/// Sub-batches of at most this many signatures are checked one by one while bisecting: below it
/// a batch check saves less than the extra batch it would add.
pub const BISECT_LEAF_LEN: usize = 4;

/// One signature to check: the signer's key, the signing domain, the message and the signature.
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    /// The domain the signature was made in.
    pub domain: SigningDomain,
    /// The message, without the domain tag.
    pub message: &'a [u8],
    /// Who signed.
    pub public_key: &'a PublicKey,
    /// The signature to check.
    pub signature: &'a Signature,
}

/// A batch that did not verify: the positions of every bad signature, ascending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of the batch's signatures do not verify (first at index {})", invalid.len(), invalid[0])]
pub struct BatchFailure {
    /// Indices into the input slice, ascending, never empty.
    pub invalid: Vec<usize>,
}

/// Verifies every signature in `items`; on failure names exactly the ones that
/// [`PublicKey::verify`](crate::PublicKey::verify) would reject (see the module docs for the one
/// deliberate exception).
pub fn verify_batch(items: &[SignedMessage<'_>]) -> Result<(), BatchFailure> {
    let mut invalid = Vec::new();
    let mut candidates = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if nonce_is_acceptable(item.signature.r_bytes()) {
            candidates.push(index);
        } else {
            invalid.push(index);
        }
    }

    let signed: Vec<Vec<u8>> = candidates.iter().map(|&i| items[i].domain.signed_bytes(items[i].message)).collect();
    let batch = Batch {
        messages: signed.iter().map(Vec::as_slice).collect(),
        signatures: candidates.iter().map(|&i| *items[i].signature.dalek()).collect(),
        keys: candidates.iter().map(|&i| *items[i].public_key.dalek()).collect(),
    };
    let mut bad_candidates = Vec::new();
    // The common case is an all-good certificate: one batch check settles it, even for two to
    // four signatures (a batch of three costs about two single checks). Only a failed batch is
    // bisected, with small halves checked one by one.
    let all_good = candidates.len() >= 2 && batch.verify(0, candidates.len());
    if !all_good {
        batch.find_invalid(0, candidates.len(), &mut bad_candidates);
    }
    invalid.extend(bad_candidates.into_iter().map(|c| candidates[c]));

    if invalid.is_empty() {
        return Ok(());
    }
    invalid.sort_unstable();
    Err(BatchFailure { invalid })
}

/// The screened signatures, laid out as dalek's `verify_batch` wants them.
struct Batch<'a> {
    messages: Vec<&'a [u8]>,
    signatures: Vec<ed25519_dalek::Signature>,
    keys: Vec<VerifyingKey>,
}

impl Batch<'_> {
    /// Whether every signature in `start..end` is good, by one batch equation.
    fn verify(&self, start: usize, end: usize) -> bool {
        ed25519_dalek::verify_batch(&self.messages[start..end], &self.signatures[start..end], &self.keys[start..end])
            .is_ok()
    }

    /// Pushes the positions in `start..end` whose signature is bad onto `out`, in order.
    fn find_invalid(&self, start: usize, end: usize, out: &mut Vec<usize>) {
        if start == end {
            return;
        }
        if end - start <= BISECT_LEAF_LEN {
            for i in start..end {
                if self.keys[i].verify_strict(self.messages[i], &self.signatures[i]).is_err() {
                    out.push(i);
                }
            }
            return;
        }
        if self.verify(start, end) {
            return;
        }
        let middle = start + (end - start) / 2;
        self.find_invalid(start, middle, out);
        self.find_invalid(middle, end, out);
    }
}

/// Whether `R` passes the checks that `verify_strict` makes and the batch equation does not: a
/// canonical encoding (y < 2^255 - 19) of a point not of small order.
fn nonce_is_acceptable(r: &[u8; 32]) -> bool {
    is_canonical_y(r) && !small_order_encodings().contains(r)
}

/// y, the low 255 bits little-endian, is below p = 2^255 - 19.
fn is_canonical_y(encoding: &[u8; 32]) -> bool {
    let top_is_max = encoding[31] & 0x7f == 0x7f;
    let middle_is_max = encoding[1..31].iter().all(|&b| b == 0xff);
    !(top_is_max && middle_is_max && encoding[0] >= 0xed)
}

/// The canonical encodings of the eight small-order points, plus the two that set the sign bit
/// on a point with x = 0 (which decode to the same point).
fn small_order_encodings() -> &'static [[u8; 32]] {
    static ENCODINGS: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    ENCODINGS.get_or_init(|| {
        let mut encodings: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|p| p.compress().to_bytes()).collect();
        let x_is_zero: Vec<[u8; 32]> = encodings
            .iter()
            .filter(|e| e[0] == 0x01 || e[0] == 0xec)
            .filter(|e| e[1..31].iter().all(|&b| b == if e[0] == 0x01 { 0 } else { 0xff }))
            .map(|e| {
                let mut flipped = *e;
                flipped[31] |= 0x80;
                flipped
            })
            .collect();
        encodings.extend(x_is_zero);
        encodings
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_list_has_ten_distinct_entries() {
        let mut list = small_order_encodings().to_vec();
        list.sort();
        list.dedup();
        assert_eq!(list.len(), 10, "8 torsion points + 2 sign-flipped encodings of x = 0 points");
    }

    #[test]
    fn canonical_check_matches_the_field_modulus() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical_y(&p), "p itself is not canonical");
        let mut below = p;
        below[0] = 0xec;
        assert!(is_canonical_y(&below), "p - 1 is canonical");
        assert!(is_canonical_y(&[0u8; 32]));
    }

    #[test]
    fn empty_batch_verifies() {
        assert_eq!(verify_batch(&[]), Ok(()));
    }
}
