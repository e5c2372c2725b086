use cosmrs::crypto::PublicKey;
use ed25519_dalek::Signer as _;
use kawase_primitives::Address;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid key: {0}")]
    Invalid(String),
}

impl KeyError {
    /// Stable numeric code, for scripts and logs.
    pub fn code(&self) -> u32 {
        match self {
            KeyError::Invalid(_) => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Ed25519,
    Secp256k1,
}

impl KeyKind {
    /// The lower-case name used in files and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "ed25519",
            KeyKind::Secp256k1 => "secp256k1",
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account signing key.
#[derive(Clone)]
pub enum Key {
    Ed25519(ed25519_dalek::SigningKey),
    Secp256k1(k256::ecdsa::SigningKey),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?}, {})", self.kind(), self.address())
    }
}

impl Key {
    pub fn generate(kind: KeyKind) -> Self {
        let mut rng = rand_core::OsRng;
        match kind {
            KeyKind::Ed25519 => Key::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
            KeyKind::Secp256k1 => Key::Secp256k1(k256::ecdsa::SigningKey::random(&mut rng)),
        }
    }

    /// Deterministic key from a 32-byte seed (tests, demo accounts).
    pub fn from_seed(kind: KeyKind, seed: [u8; 32]) -> Result<Self, KeyError> {
        Ok(match kind {
            KeyKind::Ed25519 => Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)),
            KeyKind::Secp256k1 => Key::Secp256k1(
                k256::ecdsa::SigningKey::from_bytes((&seed).into()).map_err(|e| KeyError::Invalid(e.to_string()))?,
            ),
        })
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Key::Ed25519(_) => KeyKind::Ed25519,
            Key::Secp256k1(_) => KeyKind::Secp256k1,
        }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        match self {
            Key::Ed25519(k) => k.to_bytes(),
            Key::Secp256k1(k) => k.to_bytes().into(),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            Key::Ed25519(k) => {
                let tm = tendermint::PublicKey::from_raw_ed25519(k.verifying_key().as_bytes())
                    .expect("a dalek verifying key is always 32 valid bytes");
                PublicKey::from(tm)
            }
            Key::Secp256k1(k) => PublicKey::from(k.verifying_key()),
        }
    }

    /// The Cosmos address of the public key.
    pub fn address(&self) -> Address {
        address_of(&self.public_key())
    }

    /// Signs sign-doc bytes: ed25519 over the bytes, secp256k1 ECDSA over
    /// their SHA-256 (64-byte r||s, low-S), as the Cosmos SDK does.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Key::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Key::Secp256k1(k) => {
                let sig: k256::ecdsa::Signature = k.sign(msg);
                let sig = sig.normalize_s().unwrap_or(sig);
                sig.to_bytes().to_vec()
            }
        }
    }
}

/// The Cosmos address of a public key (one derivation, in
/// `kawase_primitives`, shared with the app that verifies it).
pub fn address_of(pk: &PublicKey) -> Address {
    let bytes = pk.to_bytes();
    if let Ok(k) = <[u8; 32]>::try_from(bytes.as_slice()) {
        kawase_primitives::ed25519_address(&k)
    } else if let Ok(k) = <[u8; 33]>::try_from(bytes.as_slice()) {
        kawase_primitives::secp256k1_address(&k)
    } else {
        let id = tendermint::account::Id::from(tendermint::PublicKey::from(*pk));
        Address::from_slice(id.as_bytes()).expect("account ids are 20 bytes")
    }
}
