//! BIP-39 recovery phrases and the HD paths account keys are derived on, so
//! a key can be rebuilt from its words alone (and matches other Cosmos
//! wallets for secp256k1).
use std::str::FromStr;

use bip39::{Language, Mnemonic};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha512;
use zeroize::Zeroizing;

use crate::{Key, KeyKind};

/// BIP-44 path of secp256k1 keys: the Cosmos SDK default (coin type 118).
pub const SECP256K1_HD_PATH: &str = "m/44'/118'/0'/0/0";
/// BIP-44 path of ed25519 keys, every level hardened because SLIP-10
/// ed25519 has no unhardened derivation.
pub const ED25519_HD_PATH: &str = "m/44'/118'/0'/0'/0'";
/// [`ED25519_HD_PATH`] as indexes (each one hardened when derived).
const ED25519_PATH: [u32; 5] = [44, 118, 0, 0, 0];
const HARDENED: u32 = 1 << 31;
/// 256 bits of entropy: a 24-word phrase.
const ENTROPY_BYTES: usize = 32;

/// Why a phrase gave no key. Codes are stable: never renumber. Messages never
/// quote the words, which are secret.
#[derive(Debug, thiserror::Error)]
pub enum MnemonicError {
    #[error("the mnemonic has {0} words; a BIP-39 phrase has 12, 15, 18, 21 or 24")]
    WordCount(usize),
    #[error("word {0} of the mnemonic is not in the English BIP-39 word list: check its spelling")]
    UnknownWord(usize),
    #[error("the mnemonic's checksum does not match: a word is wrong or words are out of order")]
    BadChecksum,
    #[error("invalid mnemonic: {0}")]
    Invalid(String),
    #[error("deriving the key from the mnemonic failed: {0}")]
    Derivation(String),
}

impl MnemonicError {
    /// Stable numeric code, for scripts and logs.
    pub fn code(&self) -> u32 {
        match self {
            MnemonicError::WordCount(_) => 1,
            MnemonicError::UnknownWord(_) => 2,
            MnemonicError::BadChecksum => 3,
            MnemonicError::Invalid(_) => 4,
            MnemonicError::Derivation(_) => 5,
        }
    }
}

impl From<bip39::Error> for MnemonicError {
    fn from(e: bip39::Error) -> Self {
        match e {
            bip39::Error::BadWordCount(n) => MnemonicError::WordCount(n),
            // bip39 counts from 0; people count from 1.
            bip39::Error::UnknownWord(i) => MnemonicError::UnknownWord(i + 1),
            bip39::Error::InvalidChecksum => MnemonicError::BadChecksum,
            other => MnemonicError::Invalid(other.to_string()),
        }
    }
}

/// A fresh 24-word English BIP-39 phrase from the OS random generator.
pub fn generate_mnemonic() -> String {
    let mut entropy = Zeroizing::new([0u8; ENTROPY_BYTES]);
    OsRng.fill_bytes(&mut entropy[..]);
    Mnemonic::from_entropy_in(Language::English, &entropy[..])
        .expect("32 bytes is a valid BIP-39 entropy length")
        .to_string()
}

/// The account key of an English BIP-39 phrase and optional BIP-39
/// passphrase ("" for none): secp256k1 by BIP-32 on [`SECP256K1_HD_PATH`],
/// ed25519 by SLIP-10 on [`ED25519_HD_PATH`].
pub fn key_from_mnemonic(kind: KeyKind, phrase: &str, bip39_passphrase: &str) -> Result<Key, MnemonicError> {
    let mnemonic = Mnemonic::parse_in(Language::English, phrase)?;
    let seed = Zeroizing::new(mnemonic.to_seed(bip39_passphrase));
    match kind {
        KeyKind::Secp256k1 => {
            let path = bip32::DerivationPath::from_str(SECP256K1_HD_PATH).expect("the constant path parses");
            let xprv = bip32::XPrv::derive_from_path(&seed[..], &path)
                .map_err(|e| MnemonicError::Derivation(e.to_string()))?;
            Ok(Key::Secp256k1(xprv.private_key().clone()))
        }
        KeyKind::Ed25519 => {
            let secret = slip10_ed25519(&seed[..], &ED25519_PATH);
            Ok(Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&secret)))
        }
    }
}

/// SLIP-10 ed25519 private key at `path` (every index hardened).
fn slip10_ed25519(seed: &[u8], path: &[u32]) -> Zeroizing<[u8; 32]> {
    let mut node = hmac_sha512(b"ed25519 seed", &[seed]);
    for &index in path {
        // Child = HMAC(chain code, 0x00 || key || ser32(index | 2^31)).
        let (key, chain_code) = node.split_at(32);
        let child = hmac_sha512(chain_code, &[&[0], key, &(index | HARDENED).to_be_bytes()]);
        node = child;
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&node[..32]);
    secret
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON_ABOUT: &str =
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn secp256k1_matches_the_published_cosmos_address_of_the_abandon_phrase() {
        // The all-`abandon` test phrase at m/44'/118'/0'/0/0 is
        // cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4 in Cosmos wallets' test suites.
        let expected = cosmrs::AccountId::from_str("cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4").expect("bech32");
        let key = key_from_mnemonic(KeyKind::Secp256k1, ABANDON_ABOUT, "").expect("valid phrase");
        assert_eq!(key.address().0.as_slice(), expected.to_bytes().as_slice());
        // The BIP-39 passphrase is part of the seed.
        let other = key_from_mnemonic(KeyKind::Secp256k1, ABANDON_ABOUT, "TREZOR").expect("valid phrase");
        assert_ne!(other.address(), key.address());
    }

    #[test]
    fn slip10_ed25519_test_vector_1() {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").expect("hex");
        // SLIP-0010, "Test vector 1 for ed25519": chain m/0'/1'/2'/2'/1000000000'.
        let chain: [(&[u32], &str); 6] = [
            (&[], "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7"),
            (&[0], "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3"),
            (&[0, 1], "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2"),
            (&[0, 1, 2], "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9"),
            (&[0, 1, 2, 2], "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662"),
            (&[0, 1, 2, 2, 1_000_000_000], "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793"),
        ];
        for (path, private) in chain {
            assert_eq!(hex::encode(&slip10_ed25519(&seed, path)[..]), private, "path {path:?}");
        }
    }

    #[test]
    fn generated_phrases_have_24_words_and_derive_both_kinds() {
        let phrase = generate_mnemonic();
        assert_eq!(phrase.split_whitespace().count(), 24);
        for kind in [KeyKind::Ed25519, KeyKind::Secp256k1] {
            let a = key_from_mnemonic(kind, &phrase, "").expect("own phrase");
            let b = key_from_mnemonic(kind, &phrase, "").expect("own phrase");
            assert_eq!((a.kind(), a.address()), (kind, b.address()));
        }
    }

    #[test]
    fn bad_phrases_are_refused_with_their_own_codes() {
        let twelve_abandons = ["abandon"; 12].join(" ");
        let err = key_from_mnemonic(KeyKind::Ed25519, &twelve_abandons, "").expect_err("bad checksum");
        assert!(matches!(err, MnemonicError::BadChecksum), "{err}");
        let typo = ABANDON_ABOUT.replacen("abandon", "abandonn", 1);
        let err = key_from_mnemonic(KeyKind::Ed25519, &typo, "").expect_err("unknown word");
        assert!(matches!(err, MnemonicError::UnknownWord(1)), "{err}");
        assert!(!err.to_string().contains("abandonn"), "messages must not echo the words");
        let err = key_from_mnemonic(KeyKind::Secp256k1, "abandon about", "").expect_err("too short");
        assert!(matches!(err, MnemonicError::WordCount(2)), "{err}");
        let codes = [
            MnemonicError::WordCount(0).code(),
            MnemonicError::UnknownWord(0).code(),
            MnemonicError::BadChecksum.code(),
            MnemonicError::Invalid(String::new()).code(),
            MnemonicError::Derivation(String::new()).code(),
        ];
        assert_eq!(codes, [1, 2, 3, 4, 5]);
    }
}
