//! The machine's ceiling: signature verifications per second, with nothing
//! else around them, on one thread and on all cores. Every other figure of
//! `scripts/bench-all.sh` is read against these (docs/performance.md).
//!
//! - `ed25519_zebra_single`: ed25519-zebra `VerificationKey::verify` (ZIP-215),
//!   keys already decompressed.
//! - `ed25519_zebra_batch64`, `ed25519_zebra_batch256`: ed25519-zebra
//!   `batch::Verifier`, items queued from the key bytes (the decompression is
//!   in the batch), `verify(OsRng)` per batch; counted per signature.
//! - `ed25519_dalek_verify_strict`: ed25519-dalek `verify_strict`, keys
//!   already decompressed.
//! - `secp256k1_ecdsa`: libsecp256k1 (the `secp256k1` crate) ECDSA verify of
//!   the SHA-256 of a ~150-byte doc: signature parse + hash + verify, keys
//!   already parsed (what `DecodedTx::verify_signature` does).
//!
//! 1,024 keys, each with its own message (~200 bytes, the size of a transfer's
//! sign doc; ~150 for secp256k1). Each measurement runs for a time budget
//! (`KAWASE_CEILING_SECS`, default 1.5 s): on one thread until the budget is
//! spent, then on `available_parallelism` threads each doing the work the one
//! thread did, wall time measured around the whole. Under `cargo test` (no
//! `--bench` argument) a short smoke run only checks that it works.
//!
//! Prints a human line and a `BENCH_JSON {...}` line per measurement.
mod world;

use std::time::{Duration, Instant};

use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};
use world::grouped;

const KEYS: usize = 1024;
const ED25519_MSG_LEN: usize = 200;
const SECP_DOC_LEN: usize = 150;

/// Keys, messages and signatures for every scheme.
struct Corpus {
    msgs: Vec<Vec<u8>>,
    docs: Vec<Vec<u8>>,
    zebra: Vec<(ed25519_zebra::VerificationKey, ed25519_zebra::VerificationKeyBytes, ed25519_zebra::Signature)>,
    dalek: Vec<(ed25519_dalek::VerifyingKey, ed25519_dalek::Signature)>,
    secp: Vec<(secp256k1::PublicKey, [u8; 64])>,
}

/// `len` bytes that differ for every `(tag, i)`: a stand-in for a sign doc.
fn message(tag: &str, i: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = 0u32;
    while out.len() < len {
        out.extend_from_slice(&Sha256::digest(format!("kawase-ceiling/{tag}/{i}/{block}")));
        block += 1;
    }
    out.truncate(len);
    out
}

fn seed(tag: &str, i: usize) -> [u8; 32] {
    Sha256::digest(format!("kawase-ceiling-key/{tag}/{i}")).into()
}

impl Corpus {
    fn new() -> Corpus {
        let msgs: Vec<Vec<u8>> = (0..KEYS).map(|i| message("ed25519", i, ED25519_MSG_LEN)).collect();
        let docs: Vec<Vec<u8>> = (0..KEYS).map(|i| message("secp256k1", i, SECP_DOC_LEN)).collect();
        let zebra = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let sk = ed25519_zebra::SigningKey::from(seed("zebra", i));
                let vk = ed25519_zebra::VerificationKey::from(&sk);
                (vk, ed25519_zebra::VerificationKeyBytes::from(vk), sk.sign(m))
            })
            .collect();
        let dalek = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let sk = ed25519_dalek::SigningKey::from_bytes(&seed("dalek", i));
                (sk.verifying_key(), sk.sign(m))
            })
            .collect();
        let secp = docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let sk = secp256k1::SecretKey::from_secret_bytes(seed("secp256k1", i))
                    .expect("a SHA-256 digest is a valid secret key");
                let digest: [u8; 32] = Sha256::digest(d).into();
                let sig = secp256k1::ecdsa::sign(secp256k1::Message::from_digest(digest), &sk);
                (secp256k1::PublicKey::from_secret_key(&sk), sig.serialize_compact())
            })
            .collect();
        Corpus { msgs, docs, zebra, dalek, secp }
    }
}

/// One kind of verification: `unit(corpus, u)` verifies the `u`-th unit of
/// work (one signature, or one batch) and returns how many signatures it
/// verified; it panics if one does not verify.
struct Kind {
    name: &'static str,
    what: &'static str,
    unit: fn(&Corpus, usize) -> usize,
}

fn zebra_single(c: &Corpus, u: usize) -> usize {
    let i = u % KEYS;
    let (vk, _, sig) = &c.zebra[i];
    assert!(vk.verify(sig, &c.msgs[i]).is_ok(), "ed25519-zebra signature {i} verifies");
    1
}

fn zebra_batch(c: &Corpus, u: usize, size: usize) -> usize {
    let mut verifier = ed25519_zebra::batch::Verifier::new();
    for j in 0..size {
        let i = (u * size + j) % KEYS;
        let (_, vk_bytes, sig) = &c.zebra[i];
        verifier.queue(ed25519_zebra::batch::Item::from((*vk_bytes, *sig, &c.msgs[i])));
    }
    assert!(verifier.verify(rand_core::OsRng).is_ok(), "ed25519-zebra batch {u} verifies");
    size
}

fn zebra_batch64(c: &Corpus, u: usize) -> usize {
    zebra_batch(c, u, 64)
}

fn zebra_batch256(c: &Corpus, u: usize) -> usize {
    zebra_batch(c, u, 256)
}

fn dalek_strict(c: &Corpus, u: usize) -> usize {
    let i = u % KEYS;
    let (vk, sig) = &c.dalek[i];
    assert!(vk.verify_strict(&c.msgs[i], sig).is_ok(), "ed25519-dalek signature {i} verifies");
    1
}

fn secp_ecdsa(c: &Corpus, u: usize) -> usize {
    let i = u % KEYS;
    let (pk, compact) = &c.secp[i];
    let sig = secp256k1::ecdsa::Signature::from_compact(compact).expect("a compact signature");
    let digest: [u8; 32] = Sha256::digest(&c.docs[i]).into();
    assert!(
        secp256k1::ecdsa::verify(&sig, secp256k1::Message::from_digest(digest), pk).is_ok(),
        "secp256k1 signature {i} verifies"
    );
    1
}

const KINDS: [Kind; 5] = [
    Kind { name: "ed25519_zebra_single", what: "ed25519-zebra VerificationKey::verify", unit: zebra_single },
    Kind { name: "ed25519_zebra_batch64", what: "ed25519-zebra batch::Verifier, 64/batch", unit: zebra_batch64 },
    Kind { name: "ed25519_zebra_batch256", what: "ed25519-zebra batch::Verifier, 256/batch", unit: zebra_batch256 },
    Kind { name: "ed25519_dalek_verify_strict", what: "ed25519-dalek verify_strict", unit: dalek_strict },
    Kind { name: "secp256k1_ecdsa", what: "libsecp256k1 ECDSA (SHA-256 + verify)", unit: secp_ecdsa },
];

/// What one measurement did.
struct Measured {
    units: usize,
    sigs: usize,
    wall: Duration,
}

impl Measured {
    fn per_sec(&self) -> f64 {
        self.sigs as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// One thread, until `budget` is spent.
fn single(c: &Corpus, kind: &Kind, budget: Duration) -> Measured {
    let start = Instant::now();
    let (mut units, mut sigs) = (0usize, 0usize);
    while units == 0 || start.elapsed() < budget {
        sigs += (kind.unit)(c, units);
        units += 1;
    }
    Measured { units, sigs, wall: start.elapsed() }
}

/// `threads` threads, `units_each` units each (different keys per thread),
/// wall time around spawning and joining them all.
fn parallel(c: &Corpus, kind: &Kind, threads: usize, units_each: usize) -> Measured {
    let start = Instant::now();
    let sigs: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let first = t * units_each;
                    (first..first + units_each).map(|u| (kind.unit)(c, u)).sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("verification threads do not panic")).sum()
    });
    Measured { units: units_each * threads, sigs, wall: start.elapsed() }
}

fn report(kind: &Kind, threads: usize, m: &Measured, budget: Duration, one_thread: Option<f64>) {
    let scaling = one_thread.map(|one| format!(", x{:.2} of 1 thread", m.per_sec() / one)).unwrap_or_default();
    println!(
        "  {:<44} {:>2} thread{} {:>9}/s  ({:.1} us each per thread, {} in {:.2} s{scaling})",
        kind.what,
        threads,
        if threads == 1 { " " } else { "s" },
        grouped(m.per_sec()),
        threads as f64 * 1e6 / m.per_sec(),
        grouped(m.sigs as f64),
        m.wall.as_secs_f64(),
    );
    let line = serde_json::json!({
        "bench": "ceiling",
        "name": kind.name,
        "label": kind.what,
        "threads": threads,
        "per_sec": m.per_sec(),
        "signatures": m.sigs,
        "units": m.units,
        "secs": m.wall.as_secs_f64(),
        "budget_secs": budget.as_secs_f64(),
    });
    println!("BENCH_JSON {line}");
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let secs = std::env::var("KAWASE_CEILING_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(if full { 1.5 } else { 0.02 });
    let budget = Duration::from_secs_f64(secs);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let corpus = Corpus::new();
    println!("ceiling: signature verifications/s, {KEYS} keys and messages, {cores} cores, {secs} s per measurement");
    for kind in &KINDS {
        // Warm up (caches, CPU frequency, the batch verifier's tables).
        single(&corpus, kind, budget / 10);
        let one = single(&corpus, kind, budget);
        report(kind, 1, &one, budget, None);
        let all = parallel(&corpus, kind, cores, one.units);
        report(kind, cores, &all, budget, Some(one.per_sec()));
    }
}
