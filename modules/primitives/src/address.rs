use std::fmt;
use std::str::FromStr;

/// Human-readable prefix of Kawase account addresses.
pub const ADDRESS_PREFIX: &str = "kawase";

/// A 20-byte account address (Cosmos derivation from the public key),
/// shown as bech32 with the `kawase` prefix.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 20]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("address must be bech32 with prefix `{ADDRESS_PREFIX}`: {0}")]
    Bech32(String),
    #[error("address must be 20 bytes, got {0}")]
    Length(usize),
}

impl Address {
    pub fn from_slice(b: &[u8]) -> Result<Self, AddressError> {
        let arr: [u8; 20] = b.try_into().map_err(|_| AddressError::Length(b.len()))?;
        Ok(Self(arr))
    }

    /// Lower-case hex, used inside state keys so that key order is byte order.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Self, AddressError> {
        let b = hex::decode(s).map_err(|e| AddressError::Bech32(e.to_string()))?;
        Self::from_slice(&b)
    }

    pub fn to_bech32(&self) -> String {
        cosmrs::AccountId::new(ADDRESS_PREFIX, &self.0)
            .expect("a 20-byte address with a valid constant prefix always encodes")
            .to_string()
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = cosmrs::AccountId::from_str(s).map_err(|e| AddressError::Bech32(e.to_string()))?;
        if id.prefix() != ADDRESS_PREFIX {
            return Err(AddressError::Bech32(format!("wrong prefix `{}`", id.prefix())));
        }
        Self::from_slice(&id.to_bytes())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_bech32())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_bech32())
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_bech32())
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bech32_round_trips_and_rejects_other_prefixes() {
        let a = Address([7u8; 20]);
        let s = a.to_bech32();
        assert!(s.starts_with("kawase1"));
        assert_eq!(s.parse::<Address>(), Ok(a));
        let cosmos = cosmrs::AccountId::new("cosmos", &[7u8; 20]).expect("valid").to_string();
        assert!(cosmos.parse::<Address>().is_err());
        assert!("kawase1xyz".parse::<Address>().is_err());
    }

    #[test]
    fn hex_order_is_byte_order() {
        let a = Address([1u8; 20]);
        let mut b = [1u8; 20];
        b[19] = 0xff;
        let b = Address(b);
        assert!(a < b);
        assert!(a.to_hex() < b.to_hex());
    }
}
