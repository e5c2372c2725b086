//! Executing transactions against state: the ante phase and message
//! dispatch in module order. Shared by CheckTx, FinalizeBlock and tests.
use kawase_accounts::{StateReadExt as _, StateWriteExt as _};

use kawase_primitives::{Delta, Event, ExecError, StateRead, TxContext};

use std::sync::{Arc, Mutex};

use crate::registry::Registry;
use crate::tx::DecodedTx;
use crate::tx_cache::TxCache;
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
/// result is reused only for the exact account number it was checked
/// against: a cache or a pre-check skips work but never changes a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigCheck {
    /// Verify against the account found in state.
    Verify,
    /// Verified against `account_number` (the committed account's, on all
    /// cores, or this node's record of a valid check); reused only if the
    /// signer still has that number, verified again otherwise.
    Checked { account_number: u64, valid: bool },
}

/// Ante checks in an order that reveals account status only to the key
/// holder: account exists, sequence, signature, then active.
fn ante<S: StateRead>(state: &S, tx: &DecodedTx, block: &BlockInfo, sig: SigCheck) -> Result<(), Failure> {
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
    sig: SigCheck,
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
    sig: SigCheck,
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
pub struct Prepared {
    pub decoded: Result<Arc<DecodedTx>, Failure>,
    /// What the parallel pass learnt about the signature.
    pub sig: SigCheck,
}

/// Decodes a block's transactions (or takes them from this node's cache of
/// decoded transactions) and verifies their signatures on all cores, in
/// batches, before the sequential pass. Account numbers never change once
/// assigned, so a check against the committed account holds for the whole
/// block (and `ante` still compares the number); accounts created in this
/// block are checked inline.
///
/// A signature is skipped only when `cache` records a valid check for the
/// same transaction, account number and chain id.
pub fn prepare_block<S: StateRead + Sync, T: AsRef<[u8]> + Sync>(
    registry: &Registry,
    state: &S,
    chain_id: &str,
    params: &Params,
    txs: &[T],
    cache: &Mutex<TxCache>,
) -> Vec<Prepared> {
    let decoded = decode_all(registry, params, txs, cache);
    // The committed signer of each transaction, on all cores (RocksDB reads).
    let numbers: Vec<Option<u64>> = crate::parallel::par_map(&decoded, 64, |d| match d {
        Ok(tx) if tx.chain_id == chain_id => state.account(&tx.signer).ok().flatten().map(|a| a.number),
        // Another chain's transaction fails the ante phase before its
        // signature matters; an undecodable one never runs.
        _ => None,
    });
    let mut sigs: Vec<SigCheck> = vec![SigCheck::Verify; txs.len()];
    let mut to_verify = Vec::new();
    {
        let cache = lock(cache);
        for (i, (d, n)) in decoded.iter().zip(&numbers).enumerate() {
            if let (Ok(tx), Some(n)) = (d, n) {
                if cache.verified(&tx.hash, *n, chain_id) {
                    sigs[i] = SigCheck::Checked { account_number: *n, valid: true };
                } else {
                    to_verify.push((i, *n));
                }
            }
        }
    }
    let valid = verify_signatures(&decoded, &to_verify, chain_id);
    for ((i, n), valid) in to_verify.iter().zip(valid) {
        sigs[*i] = SigCheck::Checked { account_number: *n, valid };
    }
    decoded.into_iter().zip(sigs).map(|(decoded, sig)| Prepared { decoded, sig }).collect()
}

/// Whether each of `to_verify` (an index into `decoded` of a decoded
/// transaction, and its signer's account number) carries a valid signature:
/// sign docs built on all cores, then one batched verification. Every index
/// must name a decoded transaction, so the answers line up with `to_verify`.
pub(crate) fn verify_signatures(
    decoded: &[Result<Arc<DecodedTx>, Failure>],
    to_verify: &[(usize, u64)],
    chain_id: &str,
) -> Vec<bool> {
    let docs: Vec<Option<Vec<u8>>> =
        crate::parallel::par_map(to_verify, 64, |(i, n)| decoded[*i].as_ref().ok().map(|tx| tx.sign_doc(chain_id, *n)));
    let items: Vec<_> = to_verify
        .iter()
        .zip(&docs)
        .filter_map(|((i, _), doc)| Some(decoded[*i].as_ref().ok()?.sig_item(doc.as_ref()?)))
        .collect();
    debug_assert_eq!(items.len(), to_verify.len(), "every index names a decoded transaction");
    crate::sigverify::verify_all(&items)
}

/// Decodes transactions on all cores, each once per node: a hit in the cache
/// is reused, a miss is decoded and remembered.
pub fn decode_all<T: AsRef<[u8]> + Sync>(
    registry: &Registry,
    params: &Params,
    txs: &[T],
    cache: &Mutex<TxCache>,
) -> Vec<Result<Arc<DecodedTx>, Failure>> {
    let hashes = crate::parallel::par_map(txs, 64, |t| {
        (t.as_ref().len() as u64 <= params.max_tx_bytes).then(|| crate::tx::tx_hash(t.as_ref()))
    });
    let hits: Vec<Option<Arc<DecodedTx>>> = {
        let cache = lock(cache);
        hashes.iter().map(|h| h.as_ref().and_then(|h| cache.get(h))).collect()
    };
    let indices: Vec<usize> = (0..txs.len()).collect();
    let out = crate::parallel::par_map(&indices, 64, |&i| match &hits[i] {
        Some(tx) => Ok(tx.clone()),
        None => DecodedTx::decode_with(txs[i].as_ref(), params, registry).map(Arc::new),
    });
    let mut cache = lock(cache);
    for (hit, d) in hits.iter().zip(&out) {
        if let (None, Ok(tx)) = (hit, d) {
            cache.insert(tx.clone());
        }
    }
    out
}

/// The cache holds no invariant a panicking holder could break halfway
/// (each method leaves it consistent), so a poisoned lock is still usable.
pub fn lock(cache: &Mutex<TxCache>) -> std::sync::MutexGuard<'_, TxCache> {
    cache.lock().unwrap_or_else(|p| p.into_inner())
}
