//! Account addresses.
//!
//! An address is the 32-byte tagged hash of the account's ed25519 public key:
//!
//! ```text
//! address = SHA-256( "keel/address/v1" ‖ 0x00 ‖ public_key )
//! ```
//!
//! Hashing (rather than using the key itself) leaves room for other kinds of account key later
//! without changing the address width. The text form is bech32m (BIP-350) with the
//! human-readable part `keel`, e.g. `keel1qz…`: its checksum catches any typo of up to four
//! characters, which matters for a string people paste into wallets.

use std::fmt;
use std::str::FromStr;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::CryptoError;
use crate::hash::tagged_hash;
use crate::keys::PublicKey;

/// The human-readable prefix of an address's text form.
pub const ADDRESS_HRP: &str = "keel";
const ADDRESS_TAG: &str = "keel/address/v1";

/// A 32-byte account address. Borsh form: the raw bytes; text form: bech32m `keel1…`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Address([u8; 32]);

impl Address {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// The address of the account controlled by `public_key`.
    pub fn from_public_key(public_key: &PublicKey) -> Self {
        Address(*tagged_hash(ADDRESS_TAG, public_key.as_bytes()).as_bytes())
    }

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Address(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<&PublicKey> for Address {
    fn from(public_key: &PublicKey) -> Self {
        Address::from_public_key(public_key)
    }
}

fn hrp() -> Hrp {
    Hrp::parse(ADDRESS_HRP).expect("the address prefix is a valid bech32 human-readable part")
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = bech32::encode::<Bech32m>(hrp(), &self.0).expect("32 bytes always fit a bech32m string");
        f.write_str(&text)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = CryptoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| CryptoError::Address { reason };
        let checked = CheckedHrpstring::new::<Bech32m>(text)
            .map_err(|e| invalid(format!("{text:?} is not a valid bech32m string: {e}")))?;
        if checked.hrp() != hrp() {
            return Err(invalid(format!("{text:?} must start with \"{ADDRESS_HRP}1\"")));
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| invalid(format!("{text:?} holds {} bytes, expected 32", bytes.len())))?;
        Ok(Address(array))
    }
}

crate::text::serde_via_text!(Address, "a bech32m address starting with keel1");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    fn sample() -> Address {
        Address::from_public_key(&Keypair::from_secret_bytes(&[7; 32]).public())
    }

    #[test]
    fn text_form_round_trips() {
        let address = sample();
        let text = address.to_string();
        assert!(text.starts_with("keel1"), "{text}");
        assert_eq!(text.parse::<Address>().unwrap(), address);
    }

    #[test]
    fn a_typo_is_caught_by_the_checksum() {
        let text = sample().to_string();
        let mut chars: Vec<char> = text.chars().collect();
        let last = chars.len() - 3;
        chars[last] = if chars[last] == 'q' { 'p' } else { 'q' };
        let typo: String = chars.into_iter().collect();
        assert!(typo.parse::<Address>().is_err());
    }

    #[test]
    fn other_prefixes_and_lengths_are_refused() {
        let other = bech32::encode::<Bech32m>(Hrp::parse("cosmos").unwrap(), &[1u8; 32]).unwrap();
        assert!(other.parse::<Address>().unwrap_err().to_string().contains("must start with"));
        let short = bech32::encode::<Bech32m>(hrp(), &[1u8; 20]).unwrap();
        assert!(short.parse::<Address>().unwrap_err().to_string().contains("holds 20 bytes"));
    }

    #[test]
    fn bech32_without_m_is_refused() {
        let legacy = bech32::encode::<bech32::Bech32>(hrp(), &[1u8; 32]).unwrap();
        assert!(legacy.parse::<Address>().is_err());
    }
}
