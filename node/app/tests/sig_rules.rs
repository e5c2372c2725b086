//! The ed25519 rules are one rule: a signature checked in a batch gets the
//! same answer as the same signature checked alone, whatever its position in
//! the batch and whatever the encodings of A, R and s. Validators verify a
//! block in batches of [`sigverify::BATCH`] split over their cores, so a
//! disagreement here would be a consensus split between machines with
//! different core counts. The cases are the edge cases of ZIP-215: points of
//! small order, non-canonical point encodings, and s = 0, 1, l and s + l.
use curve25519_dalek::edwards::CompressedEdwardsY;
use kawase_app::sigverify::{self, Item, KeyError, PubKey, SMALL_ORDER_ENCODINGS};

/// The group order l, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// a + b as 256-bit little-endian integers (no overflow for the values used).
fn add(a: [u8; 32], b: [u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "the sums used here fit in 256 bits");
    out
}

fn scalar(n: u8) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[0] = n;
    s
}

fn signer(i: u8) -> ed25519_zebra::SigningKey {
    ed25519_zebra::SigningKey::from([i.wrapping_add(1); 32])
}

fn key(bytes: [u8; 32]) -> Option<PubKey> {
    ed25519_zebra::VerificationKey::try_from(bytes).ok().map(PubKey::Ed25519)
}

/// One case: a key, a message and the 64 signature bytes.
struct Case {
    key: PubKey,
    key_bytes: [u8; 32],
    msg: Vec<u8>,
    sig: [u8; 64],
}

fn sig_bytes(r: [u8; 32], s: [u8; 32]) -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(&s);
    sig
}

/// Every combination of small-order A and R with s in {0, 1, l}, plus valid
/// signatures made non-canonical (s + l) and valid signatures under keys
/// whose encoding is non-canonical where the curve allows it.
fn edge_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for a in SMALL_ORDER_ENCODINGS {
        for r in SMALL_ORDER_ENCODINGS {
            for s in [scalar(0), scalar(1), L] {
                if let Some(key) = key(a) {
                    cases.push(Case { key, key_bytes: a, msg: b"edge".to_vec(), sig: sig_bytes(r, s) });
                }
            }
        }
    }
    for i in 0..8u8 {
        let sk = signer(i);
        let vk = ed25519_zebra::VerificationKey::from(&sk);
        let key_bytes: [u8; 32] = vk.into();
        let msg = vec![i; 40];
        let good: [u8; 64] = sk.sign(&msg).into();
        let mut r = [0u8; 32];
        r.copy_from_slice(&good[..32]);
        let mut s = [0u8; 32];
        s.copy_from_slice(&good[32..]);
        let key = PubKey::Ed25519(vk);
        cases.push(Case { key: key.clone(), key_bytes, msg: msg.clone(), sig: sig_bytes(r, add(s, L)) });
        cases.push(Case { key: key.clone(), key_bytes, msg: msg.clone(), sig: good });
        // The same signature over another message.
        cases.push(Case { key, key_bytes, msg: vec![i ^ 0xff; 40], sig: good });
    }
    cases
}

fn item(case: &Case) -> Item<'_> {
    Item { key: &case.key, msg: &case.msg, sig: &case.sig }
}

fn valid_filler(n: usize) -> Vec<Case> {
    (0..n)
        .map(|i| {
            let sk = signer(100 + (i % 100) as u8);
            let vk = ed25519_zebra::VerificationKey::from(&sk);
            let msg = format!("filler {i}").into_bytes();
            let sig: [u8; 64] = sk.sign(&msg).into();
            Case { key: PubKey::Ed25519(vk), key_bytes: vk.into(), msg, sig }
        })
        .collect()
}

#[test]
fn a_batch_gives_every_edge_case_signature_the_answer_it_gets_alone() {
    let cases = edge_cases();
    let alone: Vec<bool> = cases.iter().map(|c| sigverify::verify(&item(c))).collect();
    assert!(alone.iter().any(|ok| *ok), "some edge cases verify (s = 0 with small-order A and R)");
    assert!(alone.iter().any(|ok| !*ok), "some edge cases fail");

    // All edge cases in one run of batches.
    let items: Vec<Item<'_>> = cases.iter().map(item).collect();
    assert_eq!(sigverify::verify_all(&items), alone);

    // Each edge case at the start, the middle and the end of a batch of
    // valid signatures.
    let filler = valid_filler(sigverify::BATCH - 1);
    for (case, expected) in cases.iter().zip(&alone) {
        for at in [0, sigverify::BATCH / 2, sigverify::BATCH - 1] {
            let mut items: Vec<Item<'_>> = filler.iter().map(item).collect();
            items.insert(at, item(case));
            let got = sigverify::verify_all(&items);
            assert_eq!(got[at], *expected, "position {at}");
            assert!(got.iter().enumerate().all(|(i, ok)| i == at || *ok), "the valid filler stays valid");
        }
    }
}

#[test]
fn the_rules_are_the_ones_the_consensus_keys_follow() {
    // ed25519-consensus (the ZIP-215 crate behind the validators' vote
    // signatures) gives the same answer on every edge case.
    for case in edge_cases() {
        let ours = sigverify::verify(&item(&case));
        let theirs = ed25519_consensus::VerificationKey::try_from(case.key_bytes)
            .map(|vk| vk.verify(&ed25519_consensus::Signature::from(case.sig), &case.msg).is_ok())
            .unwrap_or(false);
        assert_eq!(ours, theirs, "key {:02x?} sig {:02x?}", case.key_bytes, case.sig);
    }
}

#[test]
fn the_small_order_list_is_every_encoding_of_every_point_of_small_order() {
    // Every point of small order has a y in {1, -1, 0, y8, -y8}; its
    // encodings are y and y + p (where that fits in 255 bits), each with
    // either sign bit. Keep those that decompress to a point of small order.
    let mut found = std::collections::BTreeSet::new();
    for point in curve25519_dalek::constants::EIGHT_TORSION {
        let canonical = point.compress().to_bytes();
        let mut y = canonical;
        y[31] &= 0x7f;
        let p: [u8; 32] = {
            let mut p = [0xffu8; 32];
            p[0] = 0xed;
            p[31] = 0x7f;
            p
        };
        // y + p fits below 2^255 only for y < 19.
        let small_y = y[1..].iter().all(|b| *b == 0) && y[0] < 19;
        let mut ys = vec![y];
        if small_y {
            ys.push(add(y, p));
        }
        for y in ys {
            for sign in [0x00, 0x80] {
                let mut enc = y;
                enc[31] |= sign;
                if CompressedEdwardsY(enc).decompress().is_some_and(|pt| pt.is_small_order()) {
                    found.insert(enc);
                }
            }
        }
    }
    let listed: std::collections::BTreeSet<[u8; 32]> = SMALL_ORDER_ENCODINGS.into_iter().collect();
    assert_eq!(listed.len(), SMALL_ORDER_ENCODINGS.len(), "no duplicates in the list");
    assert_eq!(found, listed);
}

#[test]
fn a_key_of_small_order_is_refused_and_a_real_key_is_accepted() {
    for enc in SMALL_ORDER_ENCODINGS {
        assert_eq!(sigverify::ed25519_key(&enc).err(), Some(KeyError::SmallOrder), "{enc:02x?}");
    }
    let real: [u8; 32] = ed25519_zebra::VerificationKey::from(&signer(7)).into();
    assert!(sigverify::ed25519_key(&real).is_ok());
    // The first small y that is not on the curve.
    let off = (2..=255u8)
        .map(scalar)
        .find(|enc| CompressedEdwardsY(*enc).decompress().is_none())
        .expect("about half of all y are off the curve");
    assert_eq!(sigverify::ed25519_key(&off).err(), Some(KeyError::NotAPoint));
}
