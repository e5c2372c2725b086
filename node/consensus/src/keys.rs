//! The validator's ed25519 keys and signatures, in CometBFT's encodings,
//! and Malachite's signing scheme over them.
//!
//! They sit below both `privval` (which signs with a [`PrivateKey`]) and
//! `types::signer` (which signs through `privval`), so neither of those
//! imports the other's module; `types` re-exports them under their old paths.
use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types as mc;

/// Ed25519, with CometBFT's key and signature encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode_upper(self.0))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);
impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode_upper(&self.0[..8]))
    }
}

/// The validator's signing key (from `priv_validator_key.json`).
#[derive(Clone)]
pub struct PrivateKey(pub ed25519_consensus::SigningKey);
impl PrivateKey {
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verification_key().to_bytes())
    }
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl PublicKey {
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        match ed25519_consensus::VerificationKey::try_from(self.0) {
            Ok(vk) => vk.verify(&ed25519_consensus::Signature::from(sig.0), msg).is_ok(),
            Err(_) => false,
        }
    }
    pub fn to_tendermint(self) -> Option<tendermint::PublicKey> {
        tendermint::PublicKey::from_raw_ed25519(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("an ed25519 signature is 64 bytes, got {0}")]
pub struct SignatureLength(usize);

impl mc::SigningScheme for Ed25519 {
    type DecodingError = SignatureLength;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, SignatureLength> {
        <[u8; 64]>::try_from(bytes).map(Signature).map_err(|_| SignatureLength(bytes.len()))
    }
    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }
}
