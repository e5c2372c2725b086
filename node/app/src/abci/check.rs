//! CheckTx in two halves: the expensive, stateless half without the app
//! lock, the stateful half on the mempool view under it.
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

    /// The expensive, stateless half of CheckTx, run without the app lock
    /// (block execution needs it): decode, and verify the signature against
    /// the committed account's number. A flood of bad signatures costs CPU
    /// on the caller's thread, never time under the lock.
    pub fn precheck_tx(&self, tx: &[u8]) -> Result<PrecheckedTx, Failure> {
        let chain = self.chain.get().ok_or(TxError::NotInitialised)?;
        let chain_id = &chain.chain_id;
        let decoded = DecodedTx::decode_with(tx, &chain.params, &self.registry)?;
        let committed =
            kawase_accounts::StateReadExt::account(&self.storage.latest(), &decoded.signer).map_err(Failure::from)?;
        // A transaction for another chain is refused by the ante phase before
        // its signature matters: no need to verify it.
        let sig = committed
            .map(|a| (a.number, decoded.chain_id == *chain_id && decoded.verify_signature(chain_id, a.number)));
        Ok(PrecheckedTx { decoded, sig })
    }

    /// The stateful half of CheckTx, under the app lock: the transaction on
    /// the mempool view, reusing the pre-check's signature result only if
    /// the signer's account number in the view is the one it checked.
    pub fn check_prechecked_tx(&self, pre: PrecheckedTx) -> Result<[u8; 32], Failure> {
        let sig = match pre.sig {
            Some((account_number, valid)) => exec::SigCheck::Checked { account_number, valid },
            None => exec::SigCheck::Verify,
        };
        self.check_tx_inner(&pre.decoded, Some(sig))
    }

    /// CheckTx again after a block. The signature is reused only from the
    /// cache of signatures this node verified, for the same account number
    /// and chain id; a signature over a number the account no longer has
    /// (its registration committed in another order) is verified again.
    pub fn recheck_tx_bytes(&self, tx: &[u8]) -> Result<[u8; 32], Failure> {
        let chain = self.chain.get().ok_or(TxError::NotInitialised)?;
        let decoded = DecodedTx::decode_with(tx, &chain.params, &self.registry)?;
        self.check_tx_inner(&decoded, None)
    }

    /// `sig` is `None` for a recheck (use the cache).
    fn check_tx_inner(&self, decoded: &DecodedTx, sig: Option<exec::SigCheck<'_>>) -> Result<[u8; 32], Failure> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let chain = inner.chain.clone().ok_or(TxError::NotInitialised)?;
        let height = inner.storage.latest_version().unwrap_or(0) + 1;
        // Mempool checks run as of the last block's time (IBC timeouts).
        let time_nanos = match inner.check_time_nanos {
            Some(t) => t,
            None => {
                // The app's own record of the last block; a store written
                // before it existed still has the IBC host's header record.
                let own = inner
                    .check
                    .get_nonverifiable(crate::state_key::last_block_time())
                    .ok()
                    .flatten()
                    .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                    .map(u64::from_be_bytes);
                let t = own
                    .or_else(|| {
                        kawase_ibc::host_consensus_state(&inner.check, height - 1)
                            .ok()
                            .and_then(|cs| u64::try_from(cs.timestamp().unix_timestamp_nanos()).ok())
                    })
                    .unwrap_or(0);
                inner.check_time_nanos = (height > 1).then_some(t);
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
        let mut child = Delta::new(&inner.check);
        let sig = sig.unwrap_or(exec::SigCheck::Cached(&inner.sig_cache));
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
        inner.sig_cache.insert(decoded.hash, number, &chain.chain_id);
        inner.check.apply(changes);
        inner.check.take_events();
        Ok(decoded.hash)
    }
}

/// A transaction after the lock-free half of CheckTx.
pub struct PrecheckedTx {
    decoded: DecodedTx,
    /// The committed signer's account number and whether the signature is
    /// valid for it; `None` when the signer is not committed yet.
    sig: Option<(u64, bool)>,
}

impl PrecheckedTx {
    pub fn hash(&self) -> [u8; 32] {
        self.decoded.hash
    }
}
