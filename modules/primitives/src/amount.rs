use std::fmt;
use std::str::FromStr;

/// Why a decimal amount string was refused, or an amount sum or difference
/// has no value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount must be plain decimal digits without sign, spaces or leading zeros: `{0}`")]
    NotCanonical(String),
    #[error("amount does not fit in 128 bits: `{0}`")]
    Overflow(String),
    /// [`Amount::checked_add`]: the sum does not fit in 128 bits.
    #[error("amount sum does not fit in 128 bits: {lhs} + {rhs}")]
    AddOverflow { lhs: Amount, rhs: Amount },
    /// [`Amount::checked_sub`]: the difference would be negative.
    #[error("amount would go negative: {lhs} - {rhs}")]
    Underflow { lhs: Amount, rhs: Amount },
}

/// Parses a canonical decimal u128 (the Cosmos convention of carrying big
/// integers as strings). Canonical means one spelling per number, so the same
/// amount always hashes the same.
pub fn parse_amount(s: &str) -> Result<u128, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(AmountError::NotCanonical(s.chars().take(64).collect()));
    }
    s.parse::<u128>().map_err(|_| AmountError::Overflow(s.chars().take(64).collect()))
}

/// An exact amount of money in the smallest unit (1 token = 1 yen): a
/// non-negative 128-bit integer with no panicking or wrapping arithmetic,
/// only [`Amount::checked_add`] and [`Amount::checked_sub`].
///
/// Its one text form is plain decimal (what `u128` prints, parsed back by
/// [`parse_amount`]'s canonical rules): `Display`/`FromStr`, the JSON string
/// of its serde codec and what protobuf `string` fields carry. In state it
/// is 16 big-endian bytes ([`Amount::to_be_bytes`], `get_amount`/`put_amount`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u128);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const MAX: Amount = Amount(u128::MAX);

    pub const fn new(v: u128) -> Amount {
        Amount(v)
    }

    pub const fn get(self) -> u128 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + rhs`, or [`AmountError::AddOverflow`] past 2^128 - 1.
    pub const fn checked_add(self, rhs: Amount) -> Result<Amount, AmountError> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Ok(Amount(v)),
            None => Err(AmountError::AddOverflow { lhs: self, rhs }),
        }
    }

    /// `self - rhs`, or [`AmountError::Underflow`] below zero.
    pub const fn checked_sub(self, rhs: Amount) -> Result<Amount, AmountError> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Ok(Amount(v)),
            None => Err(AmountError::Underflow { lhs: self, rhs }),
        }
    }

    /// The state encoding: 16 bytes, big-endian.
    pub const fn to_be_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub const fn from_be_bytes(b: [u8; 16]) -> Amount {
        Amount(u128::from_be_bytes(b))
    }
}

/// Prints exactly what the `u128` prints (so error texts and test failures
/// read as before).
impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Plain decimal, exactly what the `u128` prints.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The canonical decimal form only (see [`parse_amount`]).
impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Amount, AmountError> {
        parse_amount(s).map(Amount)
    }
}

impl PartialEq<u128> for Amount {
    fn eq(&self, other: &u128) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Amount> for u128 {
    fn eq(&self, other: &Amount) -> bool {
        *self == other.0
    }
}

/// A decimal JSON string (JavaScript numbers lose yen).
impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// Only the canonical decimal string of [`Amount`]'s `Serialize`.
impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount as a decimal string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Amount, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_non_canonical_forms() {
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        for bad in ["+1", "-1", "01", " 1", "1.0", "1e3", "0x10"] {
            assert!(matches!(parse_amount(bad), Err(AmountError::NotCanonical(_))), "{bad}");
            assert!(matches!(bad.parse::<Amount>(), Err(AmountError::NotCanonical(_))), "{bad}");
        }
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount(&u128::MAX.to_string()), Ok(u128::MAX));
        assert!(matches!(parse_amount("340282366920938463463374607431768211456"), Err(AmountError::Overflow(_))));
        assert_eq!("".parse::<Amount>(), Err(AmountError::Empty));
        assert!(matches!("340282366920938463463374607431768211456".parse::<Amount>(), Err(AmountError::Overflow(_))));
    }

    #[test]
    fn basics() {
        assert!(Amount::ZERO.is_zero() && Amount::default().is_zero());
        assert!(!Amount::new(1).is_zero());
        assert_eq!(Amount::new(7).get(), 7);
        assert_eq!(Amount::new(100), 100);
        assert_eq!(100, Amount::new(100));
        assert!(Amount::new(1) < Amount::new(2));
        assert_eq!(Amount::MAX.to_string(), u128::MAX.to_string());
        assert_eq!(format!("{:?}", Amount::new(42)), "42");
        assert_eq!(Amount::from_be_bytes(Amount::new(258).to_be_bytes()), 258);
        assert_eq!(Amount::new(258).to_be_bytes(), 258u128.to_be_bytes());
    }

    #[test]
    fn checked_arithmetic_errors_instead_of_wrapping() {
        assert_eq!(Amount::new(2).checked_add(Amount::new(3)), Ok(Amount::new(5)));
        assert_eq!(
            Amount::MAX.checked_add(Amount::new(1)),
            Err(AmountError::AddOverflow { lhs: Amount::MAX, rhs: Amount::new(1) })
        );
        assert_eq!(Amount::new(3).checked_sub(Amount::new(3)), Ok(Amount::ZERO));
        assert_eq!(
            Amount::new(2).checked_sub(Amount::new(3)),
            Err(AmountError::Underflow { lhs: Amount::new(2), rhs: Amount::new(3) })
        );
    }

    #[test]
    fn json_is_a_decimal_string_only() {
        assert_eq!(serde_json::to_string(&Amount::new(1_000)).ok().as_deref(), Some(r#""1000""#));
        assert_eq!(serde_json::to_string(&Amount::MAX).ok(), Some(format!("\"{}\"", u128::MAX)));
        assert_eq!(serde_json::from_str::<Amount>(r#""1000""#).ok(), Some(Amount::new(1_000)));
        for bad in ["1000", r#""01""#, r#""-1""#, r#""""#, "null", r#""1 ""#] {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_u128_round_trips(v in any::<u128>()) {
            prop_assert_eq!(parse_amount(&v.to_string()), Ok(v));
            let a = Amount::new(v);
            prop_assert_eq!(a.to_string(), v.to_string());
            prop_assert_eq!(a.to_string().parse::<Amount>(), Ok(a));
            let json = serde_json::to_string(&a).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&json, &format!("\"{v}\""));
            prop_assert_eq!(serde_json::from_str::<Amount>(&json).ok(), Some(a));
            prop_assert_eq!(Amount::from_be_bytes(a.to_be_bytes()), a);
        }

        #[test]
        fn checked_ops_agree_with_u128(a in any::<u128>(), b in any::<u128>()) {
            // Small values too, so sums and differences that succeed show.
            for (a, b) in [(a, b), (a >> 1, b >> 1), (a >> 64, b >> 64), (a.max(b), a.min(b))] {
                let (x, y) = (Amount::new(a), Amount::new(b));
                prop_assert_eq!(x.checked_add(y).ok().map(Amount::get), a.checked_add(b));
                prop_assert_eq!(x.checked_sub(y).ok().map(Amount::get), a.checked_sub(b));
                prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            }
        }
    }
}
