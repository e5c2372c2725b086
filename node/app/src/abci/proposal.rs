//! PrepareProposal and ProcessProposal: which transactions a block may carry.
use bytes::Bytes;
use tendermint_proto::v0_38::abci::RequestPrepareProposal;

use super::{fatal, App};
use crate::tx_index::committed_success;

impl App {
    /// Validity of a proposed block: within the limits, every transaction
    /// decodes, none appears twice, and none repeats a committed success
    /// (an honest mempool never holds one: its sequence is used). A tx whose
    /// earlier inclusion failed without effect may come again.
    pub fn proposal_is_valid(&self, txs: &[Bytes]) -> bool {
        let Some(chain) = self.chain.get() else { return false };
        let p = &chain.params;
        let total: u64 = txs.iter().map(|t| t.len() as u64).sum();
        if txs.len() as u64 > p.max_block_txs || total > p.max_block_bytes {
            return false;
        }
        // Decoded once per node (the cache), on all cores, under no lock.
        let decoded = crate::exec::decode_all(&self.registry, p, txs, &self.txs);
        let mut seen = std::collections::HashSet::with_capacity(txs.len());
        let latest = self.storage.latest();
        for d in decoded {
            let Ok(tx) = d else { return false };
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

    /// PrepareProposal on the socket path: CometBFT's candidates, decoded
    /// here (through the cache), taken by [`take_for_proposal`].
    pub fn select_txs(&self, req: &RequestPrepareProposal) -> Vec<Bytes> {
        let Some(chain) = self.chain.get() else { return Vec::new() };
        let p = &chain.params;
        let byte_budget = u64::try_from(req.max_tx_bytes).unwrap_or(0).min(p.max_block_bytes);
        let decodes: std::collections::HashSet<[u8; 32]> =
            crate::exec::decode_all(&self.registry, p, &req.txs, &self.txs)
                .into_iter()
                .filter_map(|d| d.ok().map(|tx| tx.hash))
                .collect();
        let admit = |tx: &[u8]| decodes.contains(&crate::tx::tx_hash(tx));
        take_for_proposal(p.max_block_txs, byte_budget, &req.txs, admit).into_iter().cloned().collect()
    }
}

/// The one rule by which a proposal takes transactions, on both paths (the
/// embedded engine's mempool and a CometBFT socket): oldest first, skipping
/// a transaction `admit` refuses, and stopping at `max_txs` or at the first
/// that does not fit the bytes left. Stopping (not skipping) keeps each
/// sender's transactions in sequence: CheckTx admitted a later one only
/// because the earlier one was pending, so taking it without the earlier
/// one would make it fail on its sequence. The engine's mempool admits
/// everything (each entry passed CheckTx, decode included); the socket path
/// decodes.
pub fn take_for_proposal<'a, T: AsRef<[u8]> + 'a>(
    max_txs: u64,
    byte_budget: u64,
    candidates: impl IntoIterator<Item = &'a T>,
    mut admit: impl FnMut(&[u8]) -> bool,
) -> Vec<&'a T> {
    let mut used = 0u64;
    let mut out = Vec::new();
    for tx in candidates {
        if out.len() as u64 >= max_txs {
            break;
        }
        if !admit(tx.as_ref()) {
            continue;
        }
        let len = tx.as_ref().len() as u64;
        if used.saturating_add(len) > byte_budget {
            break;
        }
        used += len;
        out.push(tx);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_proposal_stops_at_the_first_tx_that_does_not_fit_or_at_the_count() {
        let txs: Vec<Vec<u8>> = vec![vec![1; 4], vec![2; 10], vec![3; 4], vec![4; 1], vec![5; 1]];
        let took = super::take_for_proposal(10, 9, &txs, |_| true);
        assert_eq!(took, vec![&txs[0]], "nothing after the 10-byte tx, which would jump its sender's queue");
        let took = super::take_for_proposal(2, 100, &txs, |_| true);
        assert_eq!(took, vec![&txs[0], &txs[1]], "the count");
        let took = super::take_for_proposal(10, 100, &txs, |t| t[0] != 3);
        assert_eq!(took.len(), 4, "a refused tx is skipped");
    }
}
