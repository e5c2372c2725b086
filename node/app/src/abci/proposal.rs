//! PrepareProposal and ProcessProposal: which transactions a block may carry.
use bytes::Bytes;
use tendermint_proto::v0_38::abci::RequestPrepareProposal;

use super::{fatal, App};
use crate::tx::DecodedTx;
use crate::tx_index::committed_success;

impl App {
    /// Validity of a proposed block: within the limits, every transaction
    /// decodes, none appears twice, and none repeats a committed success
    /// (an honest mempool never holds one: its sequence is used). A tx whose
    /// earlier inclusion failed without effect may come again.
    pub fn proposal_is_valid(&self, txs: &[Bytes]) -> bool {
        let inner = self.lock();
        let Some(chain) = inner.chain.as_ref() else { return false };
        let p = &chain.params;
        let total: u64 = txs.iter().map(|t| t.len() as u64).sum();
        if txs.len() as u64 > p.max_block_txs || total > p.max_block_bytes {
            return false;
        }
        let mut seen = std::collections::HashSet::with_capacity(txs.len());
        let latest = inner.storage.latest();
        for t in txs {
            let Ok(tx) = DecodedTx::decode_with(t, p, &self.registry) else { return false };
            if !seen.insert(tx.hash) {
                return false;
            }
            match committed_success(&latest, &tx.hash) {
                Ok(false) => {}
                Ok(true) => return false,
                Err(e) => fatal("ProcessProposal", e),
            }
        }
        true
    }

    /// Picks mempool transactions for a proposal within the block limits.
    pub fn select_txs(&self, req: &RequestPrepareProposal) -> Vec<Bytes> {
        let inner = self.lock();
        let Some(chain) = inner.chain.as_ref() else { return Vec::new() };
        let p = &chain.params;
        let byte_budget = u64::try_from(req.max_tx_bytes).unwrap_or(0).min(p.max_block_bytes);
        let mut used = 0u64;
        let mut out = Vec::new();
        for tx in &req.txs {
            if out.len() as u64 >= p.max_block_txs {
                break;
            }
            let len = tx.len() as u64;
            if used + len > byte_budget || DecodedTx::decode_with(tx, p, &self.registry).is_err() {
                continue;
            }
            used += len;
            out.push(tx.clone());
        }
        out
    }
}
