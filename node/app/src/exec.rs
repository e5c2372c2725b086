//! Executing transactions against state: the ante phase and message
//! dispatch in module order. Shared by CheckTx, FinalizeBlock and tests.
use kawase_accounts::{StateReadExt as _, StateWriteExt as _};

use kawase_primitives::{Delta, Event, ExecError, StateRead, TxContext};

use crate::registry::Registry;
use crate::tx::DecodedTx;
use crate::{Failure, Params, TxError};

/// Outcome of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    pub result: Result<(), Failure>,
    pub events: Vec<Event>,
}

impl TxOutcome {
    fn failed(f: Failure) -> Self {
        TxOutcome { result: Err(f), events: Vec::new() }
    }
}

/// Where a transaction runs (consensus data only).
pub use kawase_primitives::BlockInfo;

/// What is already known about a transaction's signature when the ante
/// phase runs. The sign doc covers the chain id and the account number, so a
/// result is reused only for the exact account number it was checked against
/// (and, for the cache, the chain id): a cache or a pre-check skips work but
/// can never change a result.
#[derive(Clone, Copy)]
pub enum SigCheck<'a> {
    /// Verify against the account found in state.
    Verify,
    /// Verified against `account_number` (the committed account's, outside
    /// the app lock or on all cores); reused only if the signer still has
    /// that number, verified again otherwise.
    Checked { account_number: u64, valid: bool },
    /// This node's record of signatures it verified, each with the account
    /// number and chain id it was verified against.
    Cached(&'a SigCache),
}

/// Ante checks in an order that reveals account status only to the key
/// holder: account exists, sequence, signature, then active.
fn ante<S: StateRead>(state: &S, tx: &DecodedTx, block: &BlockInfo, sig: SigCheck<'_>) -> Result<(), Failure> {
    if tx.chain_id != block.chain_id {
        return Err(TxError::WrongChainId {
            expected: block.chain_id.clone(),
            got: tx.chain_id.chars().take(64).collect(),
        }
        .into());
    }
    if tx.timeout_height != 0 && block.height > tx.timeout_height {
        return Err(TxError::TimedOut { timeout: tx.timeout_height, height: block.height }.into());
    }
    let account = state.existing_account(&tx.signer)?;
    if tx.sequence != account.sequence {
        return Err(TxError::WrongSequence { expected: account.sequence, got: tx.sequence }.into());
    }
    let ok = match sig {
        SigCheck::Checked { account_number, valid } if account_number == account.number => valid,
        SigCheck::Cached(cache) if cache.contains(&tx.hash, account.number, &block.chain_id) => true,
        _ => tx.verify_signature(&block.chain_id, account.number),
    };
    if !ok {
        return Err(TxError::InvalidSignature { account_number: account.number }.into());
    }
    account.ensure_active()?;
    Ok(())
}

/// A storage failure met while running a transaction. It is never a
/// transaction result: another node's store may not fail the same way, so
/// recording it would fork the chain. Block execution halts on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("storage failure while executing a transaction: {0}")]
pub struct StorageFault(pub String);

/// Fails with the fault if `f` is a storage failure.
fn no_fault(f: Failure) -> Result<Failure, StorageFault> {
    if f.storage_fault {
        Err(StorageFault(f.log))
    } else {
        Ok(f)
    }
}

/// Runs one decoded transaction on `state`.
///
/// A transaction that fails the ante phase changes nothing. One that passes
/// it consumes its sequence number even if a message then fails, so a
/// failed payment can never be replayed later; the failing messages'
/// writes are dropped with their overlay.
///
/// A storage failure anywhere underneath (a failed read latched by an
/// overlay, or a module's storage error) is returned as `Err`, whatever the
/// handler made of it.
pub fn run_tx<B: StateRead>(
    registry: &Registry,
    state: &mut Delta<B>,
    tx: &DecodedTx,
    block: &BlockInfo,
    sig: SigCheck<'_>,
) -> Result<TxOutcome, StorageFault> {
    let outcome = run_tx_unchecked(registry, state, tx, block, sig)?;
    match state.fault() {
        Some(e) => Err(StorageFault(e.to_string())),
        None => Ok(outcome),
    }
}

fn run_tx_unchecked<B: StateRead>(
    registry: &Registry,
    state: &mut Delta<B>,
    tx: &DecodedTx,
    block: &BlockInfo,
    sig: SigCheck<'_>,
) -> Result<TxOutcome, StorageFault> {
    if let Err(f) = ante(&*state, tx, block, sig) {
        return Ok(TxOutcome::failed(no_fault(f)?));
    }
    if let Err(e) = state.bump_sequence(&tx.signer) {
        return Ok(TxOutcome::failed(no_fault(e.into())?));
    }
    let ctx = TxContext { block, signer: tx.signer, holdings: registry };
    // Who sent it, for indexers (`tx_search "message.sender='…'"`), also on
    // a transaction whose messages then fail.
    let sender = Event::new("message").attr("sender", tx.signer.to_string());
    let mut overlay = Delta::new(&*state);
    for msg in &tx.msgs {
        let result = msg.execute(&mut overlay, &ctx);
        if let Some(e) = overlay.fault() {
            return Err(StorageFault(e.to_string()));
        }
        match result {
            Ok(()) => {}
            Err(ExecError::Halt(e)) => return Err(StorageFault(e.0)),
            Err(ExecError::Rejected(r)) => return Ok(TxOutcome { result: Err(r.into()), events: vec![sender] }),
        }
    }
    let mut changes = overlay.into_changes();
    let mut events = vec![sender];
    events.extend(changes.take_events());
    state.apply(changes);
    Ok(TxOutcome { result: Ok(()), events })
}

/// A block transaction after the parallel stateless pass.
pub struct Prepared<'a> {
    pub decoded: Result<DecodedTx, Failure>,
    /// What the parallel pass learnt about the signature.
    pub sig: SigCheck<'a>,
}

/// Decodes a block's transactions and verifies their signatures on all
/// cores before the sequential pass. Account numbers never change once
/// assigned, so a check against the committed account holds for the
/// whole block (and `ante` still compares the number); accounts created in
/// this block are checked inline.
///
/// `verified` holds the signatures this node already checked in CheckTx,
/// each with the account number and chain id it was checked against; a
/// signature is skipped only when both match the committed account.
pub fn prepare_block<'c, S: StateRead + Sync, T: AsRef<[u8]> + Sync>(
    registry: &Registry,
    state: &S,
    chain_id: &str,
    params: &Params,
    txs: &[T],
    verified: &'c SigCache,
) -> Vec<Prepared<'c>> {
    let work = |raw: &T| -> Prepared<'c> {
        let decoded = DecodedTx::decode_with(raw.as_ref(), params, registry);
        let sig = match decoded.as_ref().map(|tx| (tx, state.account(&tx.signer))) {
            Ok((tx, Ok(Some(acct)))) => SigCheck::Checked {
                account_number: acct.number,
                valid: verified.contains(&tx.hash, acct.number, chain_id) || tx.verify_signature(chain_id, acct.number),
            },
            // Created in this block (or unreadable: the sequential pass
            // reads it again and reports): checked inline.
            _ => SigCheck::Cached(verified),
        };
        Prepared { decoded, sig }
    };
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if workers <= 1 || txs.len() < 64 {
        return txs.iter().map(work).collect();
    }
    let chunk = txs.len().div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            txs.chunks(chunk).map(|c| s.spawn(move || c.iter().map(work).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("decode workers do not panic")).collect()
    })
}

/// Signatures this node verified in CheckTx, bounded (oldest forgotten
/// first), so a block of mempool transactions skips its most expensive
/// check. Each entry records what the signature was checked against (the
/// account number and the chain id, both in the sign doc): a lookup hits
/// only for the same transaction, number and chain, so the cache changes
/// the work, never a result.
#[derive(Default)]
pub struct SigCache {
    checked: std::collections::HashMap<[u8; 32], Checked>,
    order: std::collections::VecDeque<[u8; 32]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Checked {
    account_number: u64,
    chain: [u8; 32],
}

fn chain_digest(chain_id: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(chain_id.as_bytes()).into()
}

impl SigCache {
    const CAPACITY: usize = 200_000;

    /// Whether the signature of `tx_hash` was verified valid against this
    /// account number and chain id.
    pub fn contains(&self, tx_hash: &[u8; 32], account_number: u64, chain_id: &str) -> bool {
        self.checked.get(tx_hash) == Some(&Checked { account_number, chain: chain_digest(chain_id) })
    }

    /// Records a valid signature and what it was verified against.
    pub fn insert(&mut self, tx_hash: [u8; 32], account_number: u64, chain_id: &str) {
        let entry = Checked { account_number, chain: chain_digest(chain_id) };
        if self.checked.insert(tx_hash, entry).is_none() {
            self.order.push_back(tx_hash);
            while self.order.len() > Self::CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.checked.remove(&old);
                }
            }
        }
    }

    /// Forgets committed transactions (they will not be seen again).
    pub fn remove(&mut self, tx_hash: &[u8; 32]) {
        self.checked.remove(tx_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::SigCache;

    #[test]
    fn the_signature_cache_hits_only_for_the_same_account_number_and_chain() {
        let mut c = SigCache::default();
        c.insert([1; 32], 7, "fz");
        assert!(c.contains(&[1; 32], 7, "fz"));
        assert!(!c.contains(&[1; 32], 8, "fz"), "another account number");
        assert!(!c.contains(&[1; 32], 7, "bz"), "another chain");
        assert!(!c.contains(&[2; 32], 7, "fz"), "another transaction");
        c.remove(&[1; 32]);
        assert!(!c.contains(&[1; 32], 7, "fz"));
    }
}
