//! The mempool: transactions that passed CheckTx, in arrival order, bounded
//! in count and bytes, without duplicates; rechecked after every block.
//! Newly accepted transactions are handed to the gossip task.
//!
//! Generic over [`Application`] (the node uses `kawase_app::App`, the
//! default), so the driver can be tested with an in-memory application.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use kawase_app::{App, Failure};
use tokio::sync::mpsc;

use crate::application::Application;

#[derive(Clone, Debug)]
pub struct MempoolConfig {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_tx_bytes: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig { max_txs: 50_000, max_bytes: 256 << 20, max_tx_bytes: 32 << 10 }
    }
}

/// Why a transaction did not enter the mempool. Codes are stable and live in
/// the `mempool` codespace (CheckTx failures keep the app's codespace).
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    #[error("mempool is full ({txs} txs, {bytes} bytes): retry later")]
    Full { txs: usize, bytes: usize },
    #[error("tx already in the mempool")]
    Duplicate,
    #[error("tx too large: {size} bytes, max {max}")]
    TooLarge { size: usize, max: usize },
    #[error("{}", .0.log)]
    Rejected(Failure),
}

impl MempoolError {
    pub fn codespace(&self) -> &'static str {
        match self {
            MempoolError::Rejected(f) => f.codespace,
            _ => "mempool",
        }
    }
    pub fn code(&self) -> u32 {
        match self {
            MempoolError::Full { .. } => 2,
            MempoolError::Duplicate => 3,
            MempoolError::TooLarge { .. } => 4,
            MempoolError::Rejected(f) => f.code,
        }
    }

    /// True when the rejection shows the transaction itself is bad (cannot
    /// be decoded, wrong chain, bad signature, too large, unknown message):
    /// a peer forwards only what its own mempool admitted, so relaying such
    /// a transaction counts against the peer. Duplicates, a full pool, wrong
    /// sequences, timeouts and module (state) rejections are ordinary races
    /// between honest nodes and do not. A bad signature can, rarely, be a
    /// race too (the signer's account number in the peer's mempool view),
    /// which is why gossip scores offences instead of banning on the first.
    pub fn is_invalid_tx(&self) -> bool {
        match self {
            MempoolError::TooLarge { .. } => true,
            MempoolError::Full { .. } | MempoolError::Duplicate => false,
            // Codes of kawase_app::TxError (docs/errors.md): 2 too large,
            // 3 malformed, 4 wrong chain id, 5 bad signature, 7 unknown
            // message, 8 signer mismatch, 9 too many messages, 10
            // unsupported signing, 12 no messages.
            MempoolError::Rejected(f) => f.codespace == "tx" && matches!(f.code, 2 | 3 | 4 | 5 | 7 | 8 | 9 | 10 | 12),
        }
    }
}

struct Inner {
    by_seq: BTreeMap<u64, ([u8; 32], Vec<u8>)>,
    by_hash: HashMap<[u8; 32], u64>,
    bytes: usize,
    next_seq: u64,
}

pub struct Mempool<A = App> {
    app: A,
    config: MempoolConfig,
    inner: Mutex<Inner>,
    gossip: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

/// Holds the mempool across Commit and the recheck that follows it.
pub struct CommitGuard<'a, A = App> {
    pool: &'a Mempool<A>,
    inner: std::sync::MutexGuard<'a, Inner>,
}

impl<A: Application> CommitGuard<'_, A> {
    pub fn recheck(mut self, committed: &[[u8; 32]]) {
        let inner = &mut *self.inner;
        let committed: HashSet<&[u8; 32]> = committed.iter().collect();
        let mut keep = BTreeMap::new();
        let mut dropped = 0usize;
        for (seq, (hash, tx)) in std::mem::take(&mut inner.by_seq) {
            if committed.contains(&hash) || self.pool.app.recheck_tx_bytes(&tx).is_err() {
                inner.by_hash.remove(&hash);
                inner.bytes -= tx.len();
                dropped += usize::from(!committed.contains(&hash));
                continue;
            }
            keep.insert(seq, (hash, tx));
        }
        inner.by_seq = keep;
        if dropped > 0 {
            tracing::debug!(dropped, "recheck removed transactions");
        }
    }
}

/// CometBFT's transaction hash (SHA-256), as the app computes it.
pub use kawase_app::tx::tx_hash;

impl<A: Application> Mempool<A> {
    pub fn new(app: A, config: MempoolConfig, gossip: Option<mpsc::UnboundedSender<Vec<u8>>>) -> Mempool<A> {
        Mempool {
            app,
            config,
            inner: Mutex::new(Inner { by_seq: BTreeMap::new(), by_hash: HashMap::new(), bytes: 0, next_seq: 0 }),
            gossip,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// CheckTx and admit one transaction (see [`Self::add_all`]).
    pub fn add(&self, tx: Vec<u8>) -> Result<[u8; 32], MempoolError> {
        self.add_all(vec![tx]).pop().unwrap_or(Err(MempoolError::Duplicate))
    }

    /// CheckTx and admit, one result per transaction in order. Decoding and
    /// the signature checks run first, for the whole batch and under no lock
    /// (the app verifies signatures in batches on all cores; a flood of bad
    /// signatures must not hold up Commit, which takes the mempool lock);
    /// the stateful half holds the mempool lock so that the app's mempool
    /// view and the pool agree on order.
    pub fn add_all(&self, txs: Vec<Vec<u8>>) -> Vec<Result<[u8; 32], MempoolError>> {
        let mut out: Vec<Option<Result<[u8; 32], MempoolError>>> = Vec::with_capacity(txs.len());
        let mut fresh = Vec::with_capacity(txs.len());
        let mut fresh_at = Vec::with_capacity(txs.len());
        for tx in txs {
            if tx.len() > self.config.max_tx_bytes {
                out.push(Some(Err(MempoolError::TooLarge { size: tx.len(), max: self.config.max_tx_bytes })));
            } else if self.contains(&tx_hash(&tx)) {
                out.push(Some(Err(MempoolError::Duplicate)));
            } else {
                fresh_at.push(out.len());
                out.push(None);
                fresh.push(tx);
            }
        }
        let prechecked = self.app.precheck_txs(&fresh);
        let mut inner = self.lock();
        for ((at, tx), pre) in fresh_at.into_iter().zip(fresh).zip(prechecked) {
            out[at] = Some(pre.map_err(MempoolError::Rejected).and_then(|pre| self.admit(&mut inner, tx, pre)));
        }
        out.into_iter().map(|r| r.unwrap_or(Err(MempoolError::Duplicate))).collect()
    }

    /// The stateful half of CheckTx and the admission, under the pool lock.
    fn admit(&self, inner: &mut Inner, tx: Vec<u8>, pre: A::Prechecked) -> Result<[u8; 32], MempoolError> {
        let hash = tx_hash(&tx);
        if inner.by_hash.contains_key(&hash) {
            return Err(MempoolError::Duplicate);
        }
        if inner.by_seq.len() >= self.config.max_txs || inner.bytes + tx.len() > self.config.max_bytes {
            return Err(MempoolError::Full { txs: inner.by_seq.len(), bytes: inner.bytes });
        }
        self.app.check_prechecked_tx(pre).map_err(MempoolError::Rejected)?;
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.bytes += tx.len();
        inner.by_hash.insert(hash, seq);
        if let Some(g) = &self.gossip {
            // The gossip task may be gone at shutdown; nothing to do then.
            let _ = g.send(tx.clone());
        }
        inner.by_seq.insert(seq, (hash, tx));
        Ok(hash)
    }

    /// Transactions for a proposal, by the app's one selection rule
    /// (`kawase_app::take_for_proposal`; every entry passed CheckTx).
    pub fn reap(&self, max_txs: usize, max_bytes: usize) -> Vec<Vec<u8>> {
        let inner = self.lock();
        let candidates = inner.by_seq.values().map(|(_, tx)| tx);
        kawase_app::take_for_proposal(max_txs as u64, max_bytes as u64, candidates, |_| true)
            .into_iter()
            .cloned()
            .collect()
    }

    /// After a commit: drop the block's transactions, then recheck the rest
    /// against the new state (the app reset its mempool view on Commit).
    pub fn update(&self, committed: &[[u8; 32]]) {
        self.begin_commit().recheck(committed);
    }

    /// Locks the pool for a Commit: no CheckTx runs until `recheck` has
    /// rebuilt the app's mempool view from the transactions still pending.
    pub fn begin_commit(&self) -> CommitGuard<'_, A> {
        CommitGuard { pool: self, inner: self.lock() }
    }

    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.by_seq.len(), inner.bytes)
    }

    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.lock().by_hash.contains_key(hash)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use kawase_accounts::Role;
    use kawase_client::msgs;
    use kawase_devkit::{Demo, TestChain};

    use super::*;

    const CHAIN: &str = "kawase-mempool-test";

    fn chain(dir: &std::path::Path) -> (TestChain, Demo) {
        let (mut chain, d) = TestChain::demo_fz(dir, CHAIN).unwrap();
        chain.block(vec![]).unwrap();
        (chain, d)
    }

    #[test]
    fn the_mempool_is_bounded_refuses_duplicates_and_bad_txs_and_forgets_committed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (mut chain, mut d) = chain(dir.path());
        let pool =
            Mempool::new(chain.app.clone(), MempoolConfig { max_txs: 2, max_bytes: 1 << 20, max_tx_bytes: 4096 }, None);
        let (a, b) = (d.alice.address(), d.bob.address());
        let bank_a = d.bank_a.address();
        let t1 = d.bank_a.sign(CHAIN, vec![msgs::register_account(bank_a, a, Role::Customer, "A-1")]);
        let t2 = d.bank_a.sign(CHAIN, vec![msgs::register_account(bank_a, b, Role::Customer, "A-2")]);
        let t3 = d.bank_a.sign(CHAIN, vec![msgs::issue(bank_a, b, 9, "r3")]);
        pool.add(t1.clone()).unwrap();
        assert!(matches!(pool.add(t1.clone()), Err(MempoolError::Duplicate)));
        pool.add(t2.clone()).unwrap();
        let full = pool.add(t3.clone()).unwrap_err();
        assert!(matches!(full, MempoolError::Full { .. }));
        assert_eq!((full.codespace(), full.code()), ("mempool", 2));
        assert!(full.to_string().contains("mempool is full"));
        assert!(matches!(pool.add(vec![0u8; 5000]), Err(MempoolError::TooLarge { .. })));
        assert_eq!(pool.reap(10, 1 << 20), vec![t1.clone(), t2.clone()]);
        assert_eq!(pool.reap(1, 1 << 20), vec![t1.clone()]);

        // Block 2 commits t1 only; t2 stays (it still passes), room for t3.
        chain.block(vec![t1.clone()]).unwrap();
        pool.update(&[tx_hash(&t1)]);
        assert_eq!(pool.size().0, 1);
        // Garbage is refused by CheckTx with the app's code.
        let bad = pool.add(vec![1, 2, 3]).unwrap_err();
        assert!(matches!(bad, MempoolError::Rejected(_)));
        assert_eq!(bad.codespace(), "tx");
        pool.add(t3.clone()).unwrap();
    }

    #[test]
    fn recheck_drops_transactions_a_block_made_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let (mut chain, mut d) = chain(dir.path());
        let pool = Mempool::new(chain.app.clone(), MempoolConfig::default(), None);
        let bank_a = d.bank_a.address();
        let a = d.alice.address();
        let in_pool = d.bank_a.sign(CHAIN, vec![msgs::register_account(bank_a, a, Role::Customer, "A-1")]);
        pool.add(in_pool.clone()).unwrap();
        // Another node's block uses the same sequence number first.
        let mut other = Demo::new();
        other.set_genesis_numbers();
        let b = other.bob.address();
        let competing = other.bank_a.sign(CHAIN, vec![msgs::register_account(bank_a, b, Role::Customer, "A-2")]);
        chain.block(vec![competing.clone()]).unwrap();
        pool.update(&[tx_hash(&competing)]);
        assert_eq!(pool.size(), (0, 0));
    }
}
