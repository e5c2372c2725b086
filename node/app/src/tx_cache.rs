//! Decode once, verify once: the transactions this node decoded (in
//! CheckTx, a proposal check or a block), by hash, with the signature
//! checks that passed.
//!
//! What a cached result depended on, and why the key covers it:
//! - the decode depends on the bytes, the chain's parameters and its module
//!   registry; the hash is of the bytes, and parameters and registry are
//!   fixed for the life of the `App` that owns the cache;
//! - a signature check depends on the sign doc: the bytes, the chain id and
//!   the signer's account number. A valid check is recorded with the number
//!   and a digest of the chain id, and reused only for both (`ante` compares
//!   the number with the account it reads).
//!
//! Bounded: the oldest entries are forgotten first; committed transactions
//! are removed (they will not come again).
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::tx::DecodedTx;

struct Entry {
    tx: Arc<DecodedTx>,
    valid_sig: Option<Checked>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Checked {
    account_number: u64,
    chain: [u8; 32],
}

fn chain_digest(chain_id: &str) -> [u8; 32] {
    Sha256::digest(chain_id.as_bytes()).into()
}

#[derive(Default)]
pub struct TxCache {
    entries: HashMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
}

impl TxCache {
    /// About two full mempools' worth of CheckTx'd transactions (~1 KiB each).
    pub const CAPACITY: usize = 100_000;

    pub fn get(&self, hash: &[u8; 32]) -> Option<Arc<DecodedTx>> {
        self.entries.get(hash).map(|e| e.tx.clone())
    }

    /// Remembers a decoded transaction (keeps an existing entry's record).
    pub fn insert(&mut self, tx: Arc<DecodedTx>) {
        let hash = tx.hash;
        if self.entries.contains_key(&hash) {
            return;
        }
        self.entries.insert(hash, Entry { tx, valid_sig: None });
        self.order.push_back(hash);
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }

    /// Records that the signature of `tx` is valid for this account number
    /// and chain id.
    pub fn record_valid(&mut self, tx: &Arc<DecodedTx>, account_number: u64, chain_id: &str) {
        self.insert(tx.clone());
        if let Some(e) = self.entries.get_mut(&tx.hash) {
            e.valid_sig = Some(Checked { account_number, chain: chain_digest(chain_id) });
        }
    }

    /// Whether the signature of `hash` was verified valid for exactly this
    /// account number and chain id.
    pub fn verified(&self, hash: &[u8; 32], account_number: u64, chain_id: &str) -> bool {
        self.verified_number(hash, chain_id) == Some(account_number)
    }

    /// The account number the signature of `hash` was verified valid
    /// against on this chain, if any.
    pub fn verified_number(&self, hash: &[u8; 32], chain_id: &str) -> Option<u64> {
        let c = self.entries.get(hash)?.valid_sig?;
        (c.chain == chain_digest(chain_id)).then_some(c.account_number)
    }

    /// Forgets a committed transaction. Its place in the eviction order is
    /// dropped lazily.
    pub fn remove(&mut self, hash: &[u8; 32]) {
        self.entries.remove(hash);
        if self.order.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.order.retain(|h| entries.contains_key(h));
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Params;
    use kawase_client::{build_tx, msgs, Key, KeyKind, TxParams};
    use kawase_primitives::Address;

    fn tx(seq: u64) -> Arc<DecodedTx> {
        let key = Key::generate(KeyKind::Ed25519);
        let p = TxParams {
            chain_id: "fz".into(),
            account_number: 7,
            sequence: seq,
            memo: String::new(),
            timeout_height: 0,
        };
        let raw = build_tx(&key, &p, vec![msgs::transfer(key.address(), Address([9; 20]), 1)]).unwrap();
        Arc::new(DecodedTx::decode(&raw, &Params::standard()).unwrap())
    }

    #[test]
    fn a_signature_record_hits_only_for_the_same_account_number_and_chain() {
        let mut c = TxCache::default();
        let t = tx(0);
        c.insert(t.clone());
        assert!(c.get(&t.hash).is_some());
        assert!(!c.verified(&t.hash, 7, "fz"), "decoded is not verified");
        c.record_valid(&t, 7, "fz");
        assert!(c.verified(&t.hash, 7, "fz"));
        assert!(!c.verified(&t.hash, 8, "fz"), "another account number");
        assert!(!c.verified(&t.hash, 7, "bz"), "another chain");
        assert!(!c.verified(&[2; 32], 7, "fz"), "another transaction");
        c.remove(&t.hash);
        assert!(c.get(&t.hash).is_none() && !c.verified(&t.hash, 7, "fz"));
    }

    #[test]
    fn the_cache_forgets_its_oldest_entries_beyond_its_capacity() {
        let mut c = TxCache::default();
        let first = tx(0);
        c.insert(first.clone());
        let other = tx(1);
        for i in 0..TxCache::CAPACITY as u64 {
            let mut t = (*other).clone();
            t.hash[..8].copy_from_slice(&i.to_be_bytes());
            t.hash[8] = 1;
            c.insert(Arc::new(t));
        }
        assert_eq!(c.len(), TxCache::CAPACITY);
        assert!(c.get(&first.hash).is_none(), "the oldest went first");
    }
}
