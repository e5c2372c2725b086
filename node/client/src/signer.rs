//! The signing seam: transactions are built against [`Signer`] rather than a
//! concrete key, so a hardware or remote signer can stand in for [`Key`].
use cosmrs::crypto::PublicKey;
use kawase_primitives::Address;

use crate::{address_of, Key};

/// Why a signer produced no signature. Codes are stable: never renumber.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signing device or service cannot be reached.
    #[error("signer unavailable: {0}; check that the signing device or service is running and reachable")]
    Unavailable(String),
    /// The signer was reached but declined (user rejected, policy, locked).
    #[error("signer refused to sign: {0}")]
    Refused(String),
    /// The signer answered with something that is not a 64-byte signature.
    #[error("signer returned a malformed signature: {0}")]
    Malformed(String),
}

impl SignError {
    /// Stable numeric code, for scripts and logs.
    pub fn code(&self) -> u32 {
        match self {
            SignError::Unavailable(_) => 1,
            SignError::Refused(_) => 2,
            SignError::Malformed(_) => 3,
        }
    }
}

/// Something that holds an account key and signs sign docs with it.
pub trait Signer: Send + Sync {
    /// The public key that goes into the transaction's signer info.
    fn public_key(&self) -> PublicKey;

    /// The account address of [`Signer::public_key`].
    fn address(&self) -> Address {
        address_of(&self.public_key())
    }

    /// Signs SIGN_MODE_DIRECT sign-doc bytes (ed25519 over the bytes,
    /// secp256k1 over SHA-256, 64-byte low-S r||s).
    fn sign(&self, sign_doc: &[u8]) -> Result<Vec<u8>, SignError>;
}

impl Signer for Key {
    fn public_key(&self) -> PublicKey {
        Key::public_key(self)
    }

    fn address(&self) -> Address {
        Key::address(self)
    }

    fn sign(&self, sign_doc: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(Key::sign(self, sign_doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyKind;

    #[test]
    fn key_signs_through_the_trait_as_it_does_directly() {
        for kind in [KeyKind::Ed25519, KeyKind::Secp256k1] {
            let key = Key::from_seed(kind, [3; 32]).expect("valid seed");
            let dyn_signer: &dyn Signer = &key;
            assert_eq!(dyn_signer.address(), key.address());
            assert_eq!(dyn_signer.public_key(), key.public_key());
            // Both schemes are deterministic (RFC 6979 for secp256k1).
            assert_eq!(dyn_signer.sign(b"doc").expect("local keys always sign"), key.sign(b"doc"));
        }
    }
}
