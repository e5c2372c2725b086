//! CheckTx in two halves: the expensive, stateless half under no lock, in
//! batches; the stateful half on the mempool view, under the view's own lock
//! (not the app's: CheckTx runs while a block executes).
use std::sync::Arc;

use kawase_primitives::{Delta, StateRead as _};

use super::App;
use crate::exec::{self, BlockInfo};
use crate::tx::DecodedTx;
use crate::{Failure, TxError};

impl App {
    /// CheckTx: runs the full transaction on the mempool view; only
    /// transactions that would succeed enter the mempool.
    pub fn check_tx_bytes(&self, tx: &[u8]) -> Result<[u8; 32], Failure> {
        let pre = self.precheck_tx(tx)?;
        self.check_prechecked_tx(pre)
    }

    /// The expensive, stateless half of CheckTx for one transaction.
    pub fn precheck_tx(&self, tx: &[u8]) -> Result<PrecheckedTx, Failure> {
        self.precheck_txs(&[tx]).pop().unwrap_or_else(|| Err(TxError::Internal("no precheck result".into()).into()))
    }

    /// The expensive, stateless half of CheckTx, run under neither the app
    /// lock nor the mempool view's (block execution and CheckTx need them):
    /// decode (once per node: the cache), and verify each signature against
    /// the committed account's number, in batches on all cores. A flood of
    /// bad signatures costs CPU on the caller's thread, never time under a
    /// lock.
    pub fn precheck_txs<T: AsRef<[u8]> + Sync>(&self, txs: &[T]) -> Vec<Result<PrecheckedTx, Failure>> {
        let Some(chain) = self.chain.get() else {
            return txs.iter().map(|_| Err(TxError::NotInitialised.into())).collect();
        };
        let chain_id = &chain.chain_id;
        let decoded = exec::decode_all(&self.registry, &chain.params, txs, &self.txs);
        let latest = self.storage.latest();
        let committed: Vec<Result<Option<u64>, Failure>> = crate::parallel::par_map(&decoded, 64, |d| match d {
            Ok(tx) => kawase_accounts::StateReadExt::account(&latest, &tx.signer)
                .map(|a| a.map(|a| a.number))
                .map_err(Failure::from),
            Err(_) => Ok(None),
        });
        // Which signatures need a check: a transaction for another chain is
        // refused by the ante phase before its signature matters.
        let mut sigs: Vec<Option<(u64, bool)>> = vec![None; txs.len()];
        let mut to_verify = Vec::new();
        {
            let cache = exec::lock(&self.txs);
            for (i, (d, n)) in decoded.iter().zip(&committed).enumerate() {
                match (d, n) {
                    (Ok(tx), Ok(Some(n))) if tx.chain_id != *chain_id => sigs[i] = Some((*n, false)),
                    (Ok(tx), Ok(Some(n))) if cache.verified(&tx.hash, *n, chain_id) => sigs[i] = Some((*n, true)),
                    (Ok(_), Ok(Some(n))) => to_verify.push((i, *n)),
                    _ => {}
                }
            }
        }
        let valid = exec::verify_signatures(&decoded, &to_verify, chain_id);
        {
            let mut cache = exec::lock(&self.txs);
            for ((i, n), valid) in to_verify.iter().zip(valid) {
                sigs[*i] = Some((*n, valid));
                if let (true, Ok(tx)) = (valid, &decoded[*i]) {
                    cache.record_valid(tx, *n, chain_id);
                }
            }
        }
        decoded
            .into_iter()
            .zip(committed)
            .zip(sigs)
            .map(|((d, committed), sig)| {
                committed?;
                Ok(PrecheckedTx { decoded: d?, sig })
            })
            .collect()
    }

    /// The stateful half of CheckTx, on the mempool view: the transaction
    /// runs there, reusing the pre-check's signature result only if the
    /// signer's account number in the view is the one it checked.
    pub fn check_prechecked_tx(&self, pre: PrecheckedTx) -> Result<[u8; 32], Failure> {
        let sig = match pre.sig {
            Some((account_number, valid)) => exec::SigCheck::Checked { account_number, valid },
            None => exec::SigCheck::Verify,
        };
        self.check_tx_inner(&pre.decoded, sig)
    }

    /// CheckTx again after a block. The signature is reused only from this
    /// node's record of valid checks, for the same chain id and (compared by
    /// the ante phase) account number; a signature over a number the
    /// account no longer has (its registration committed in another order)
    /// is verified again.
    pub fn recheck_tx_bytes(&self, tx: &[u8]) -> Result<[u8; 32], Failure> {
        let chain = self.chain.get().ok_or(TxError::NotInitialised)?;
        let decoded = exec::decode_all(&self.registry, &chain.params, &[tx], &self.txs)
            .pop()
            .unwrap_or_else(|| Err(TxError::Internal("no decode result".into()).into()))?;
        let sig = match exec::lock(&self.txs).verified_number(&decoded.hash, &chain.chain_id) {
            Some(account_number) => exec::SigCheck::Checked { account_number, valid: true },
            None => exec::SigCheck::Verify,
        };
        self.check_tx_inner(&decoded, sig)
    }

    fn check_tx_inner(&self, decoded: &Arc<DecodedTx>, sig: exec::SigCheck) -> Result<[u8; 32], Failure> {
        let chain = self.chain.get().ok_or(TxError::NotInitialised)?;
        let mut view = self.lock_view();
        let view = &mut *view;
        let height = view.height;
        // Mempool checks run as of the last block's time (IBC timeouts).
        let time_nanos = match view.time_nanos {
            Some(t) => t,
            None => {
                // The app's own record of the last block; a store written
                // before it existed still has the IBC host's header record.
                let own = view
                    .state
                    .get_nonverifiable(crate::state_key::last_block_time())
                    .ok()
                    .flatten()
                    .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                    .map(u64::from_be_bytes);
                let t = own
                    .or_else(|| {
                        kawase_ibc::host_consensus_state(&view.state, height - 1)
                            .ok()
                            .and_then(|cs| u64::try_from(cs.timestamp().unix_timestamp_nanos()).ok())
                    })
                    .unwrap_or(0);
                view.time_nanos = (height > 1).then_some(t);
                t
            }
        };
        let block = BlockInfo {
            chain_id: chain.chain_id.clone(),
            zone: chain.zone,
            height,
            block_time_secs: (time_nanos / 1_000_000_000) as i64,
            block_time_nanos: time_nanos,
        };
        let mut child = Delta::new(&view.state);
        // A storage failure refuses the transaction here (CheckTx results
        // are node-local); block execution is what halts on one.
        let out = exec::run_tx(&self.registry, &mut child, decoded, &block, sig).map_err(|e| {
            tracing::error!(error = %e, "CheckTx");
            Failure::from(TxError::Internal(e.to_string()))
        })?;
        out.result?;
        // The ante phase passed, so the signer exists in the view.
        let number = kawase_accounts::StateReadExt::account(&child, &decoded.signer)
            .map_err(Failure::from)?
            .map(|a| a.number)
            .ok_or_else(|| TxError::Internal("signer vanished after the ante phase".into()))?;
        let changes = child.into_changes();
        exec::lock(&self.txs).record_valid(decoded, number, &chain.chain_id);
        view.state.apply(changes);
        view.state.take_events();
        Ok(decoded.hash)
    }
}

/// A transaction after the lock-free half of CheckTx.
pub struct PrecheckedTx {
    decoded: Arc<DecodedTx>,
    /// The committed signer's account number and whether the signature is
    /// valid for it; `None` when the signer is not committed yet.
    sig: Option<(u64, bool)>,
}

impl PrecheckedTx {
    pub fn hash(&self) -> [u8; 32] {
        self.decoded.hash
    }
}
