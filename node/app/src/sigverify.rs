//! Signature rules and verification, one place for both key types.
//!
//! ed25519 follows ZIP-215 (ed25519-zebra): the single and the batch check
//! accept exactly the same signatures, whatever the encodings of A and R, so
//! a block verified in batches on one validator and one by one on another
//! gives the same results. (`ed25519_dalek::verify_strict` and a batch
//! equation disagree on some small-order and non-canonical encodings: that
//! would be a consensus split.) Keys of small order are refused when a
//! transaction is decoded, so no signature can be valid for every message.
//!
//! secp256k1 is ECDSA over SHA-256 of the sign doc by libsecp256k1, which
//! refuses high-S signatures (no malleability); it has no batch form.
use rand_core::OsRng;
use sha2::{Digest, Sha256};

/// A signer's public key, decoded (and, for ed25519, decompressed) once.
#[derive(Clone, Debug)]
pub enum PubKey {
    Ed25519(ed25519_zebra::VerificationKey),
    Secp256k1(secp256k1::PublicKey),
}

/// Why a public key is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("ed25519 key is not a curve point")]
    NotAPoint,
    #[error("ed25519 key has small order")]
    SmallOrder,
}

/// The 14 encodings (canonical and not) of the 8 points of small order.
/// A signature under such a key verifies for many messages under the
/// cofactored equation, so such a key never signs here.
pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 14] = small_order_encodings();

const fn small_order_encodings() -> [[u8; 32]; 14] {
    // y coordinates (little-endian) of the small-order points, then their
    // non-canonical twins (y + p, and the sign bit on a zero x).
    const fn with(first: u8, rest: u8, last: u8) -> [u8; 32] {
        let mut b = [rest; 32];
        b[0] = first;
        b[31] = last;
        b
    }
    const fn from(bytes: [u8; 32]) -> [u8; 32] {
        bytes
    }
    [
        // identity (y = 1), and with the sign bit set
        with(0x01, 0x00, 0x00),
        with(0x01, 0x00, 0x80),
        // order 2 (y = -1 = p - 1), and with the sign bit
        with(0xec, 0xff, 0x7f),
        with(0xec, 0xff, 0xff),
        // order 4 (y = 0), both signs
        with(0x00, 0x00, 0x00),
        with(0x00, 0x00, 0x80),
        // order 8: y and its negation y' = p - y, each with both signs
        from([
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
            0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
        ]),
        from([
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
            0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x85,
        ]),
        from([
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
            0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
        ]),
        from([
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
            0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0xfa,
        ]),
        // non-canonical y = p + 1 (identity) and y = p (order 4), both signs
        with(0xee, 0xff, 0x7f),
        with(0xee, 0xff, 0xff),
        with(0xed, 0xff, 0x7f),
        with(0xed, 0xff, 0xff),
    ]
}

/// Decodes an ed25519 key by ZIP-215 rules, refusing small-order keys.
/// The small-order check compares bytes with [`SMALL_ORDER_ENCODINGS`]
/// (`tests/sig_rules.rs` checks that the list is every such encoding), so
/// the point is decompressed once, by zebra, not a second time to ask its
/// order (decompression is a field exponentiation, the costliest step of
/// decoding a key).
pub fn ed25519_key(bytes: &[u8; 32]) -> Result<ed25519_zebra::VerificationKey, KeyError> {
    if SMALL_ORDER_ENCODINGS.contains(bytes) {
        return Err(KeyError::SmallOrder);
    }
    ed25519_zebra::VerificationKey::try_from(*bytes).map_err(|_| KeyError::NotAPoint)
}

/// One signature to check: a key, the signed message, the signature bytes.
pub struct Item<'a> {
    pub key: &'a PubKey,
    pub msg: &'a [u8],
    pub sig: &'a [u8],
}

/// Verifies one signature.
pub fn verify(item: &Item<'_>) -> bool {
    match item.key {
        PubKey::Ed25519(vk) => match <[u8; 64]>::try_from(item.sig) {
            Ok(sig) => vk.verify(&ed25519_zebra::Signature::from_bytes(&sig), item.msg).is_ok(),
            Err(_) => false,
        },
        PubKey::Secp256k1(pk) => {
            let Ok(sig) = secp256k1::ecdsa::Signature::from_compact(item.sig) else { return false };
            let digest: [u8; 32] = Sha256::digest(item.msg).into();
            secp256k1::ecdsa::verify(&sig, secp256k1::Message::from_digest(digest), pk).is_ok()
        }
    }
}

/// How many ed25519 signatures one batch equation checks. Measured
/// (`cargo bench --bench ceiling`, per thread): 64 gives 2.3x a single
/// check's rate, 256 gives 2.35x; larger batches gain nothing and lose more
/// work when one signature in the batch is bad.
pub const BATCH: usize = 256;

/// Verifies every item, on all cores: ed25519 signatures in batches, each
/// batch that fails re-checked one by one so that exactly the bad
/// signatures are reported. Gives the same answers as [`verify`] on each
/// item (ZIP-215: the batch equation accepts what the single one accepts).
pub fn verify_all(items: &[Item<'_>]) -> Vec<bool> {
    crate::parallel::par_chunks(items, BATCH, verify_chunk)
}

fn verify_chunk(items: &[Item<'_>]) -> Vec<bool> {
    let mut out = vec![false; items.len()];
    let mut batch = ed25519_zebra::batch::Verifier::new();
    let mut in_batch = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match (item.key, <[u8; 64]>::try_from(item.sig)) {
            (PubKey::Ed25519(vk), Ok(sig)) => {
                let bytes = ed25519_zebra::VerificationKeyBytes::from(*vk);
                batch.queue((bytes, ed25519_zebra::Signature::from_bytes(&sig), item.msg));
                in_batch.push(i);
            }
            (PubKey::Ed25519(_), Err(_)) => {}
            (PubKey::Secp256k1(_), _) => out[i] = verify(item),
        }
    }
    match in_batch.len() {
        0 => {}
        1 => out[in_batch[0]] = verify(&items[in_batch[0]]),
        _ if batch.verify(OsRng).is_ok() => in_batch.iter().for_each(|&i| out[i] = true),
        _ => in_batch.iter().for_each(|&i| out[i] = verify(&items[i])),
    }
    out
}
