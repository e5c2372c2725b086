/// Why a decimal amount string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount must be plain decimal digits without sign, spaces or leading zeros: `{0}`")]
    NotCanonical(String),
    #[error("amount does not fit in 128 bits: `{0}`")]
    Overflow(String),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_non_canonical_forms() {
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        for bad in ["+1", "-1", "01", " 1", "1.0", "1e3", "0x10"] {
            assert!(matches!(parse_amount(bad), Err(AmountError::NotCanonical(_))), "{bad}");
        }
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount(&u128::MAX.to_string()), Ok(u128::MAX));
        assert!(matches!(parse_amount("340282366920938463463374607431768211456"), Err(AmountError::Overflow(_))));
    }

    proptest! {
        #[test]
        fn every_u128_round_trips(v in any::<u128>()) {
            prop_assert_eq!(parse_amount(&v.to_string()), Ok(v));
        }
    }
}
