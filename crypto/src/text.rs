//! Text forms shared by the crypto types: strict hex decoding and a serde adapter that
//! (de)serialises a type through its `Display` / `FromStr` text form.

use crate::error::CryptoError;

/// Decodes exactly `N` bytes of hex (either case). `what` names the value in the error.
pub(crate) fn decode_hex_array<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], CryptoError> {
    if text.len() != 2 * N {
        return Err(CryptoError::Length { what, expected: N, got: text.len() / 2 });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| CryptoError::Hex { what })?;
    Ok(out)
}

/// Implements serde's `Serialize` and `Deserialize` for `$ty` through its text form.
/// `$expecting` completes the sentence "invalid value, expected ...".
macro_rules! serde_via_text {
    ($ty:ty, $expecting:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct TextVisitor;
                impl serde::de::Visitor<'_> for TextVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$ty, E> {
                        text.parse::<$ty>().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(TextVisitor)
            }
        }
    };
}
pub(crate) use serde_via_text;
