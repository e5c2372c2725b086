//! A decision: the decided block stored durably, executed and committed
//! (in the crash order of `commit.rs`), the driver's bookkeeping moved to
//! the next height, and decided blocks served to syncing peers.
use std::sync::Arc;

use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::Next;
use malachitebft_app_channel::app::types::core::CommitCertificate;
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use tendermint_proto::v0_38::abci::ResponseFinalizeBlock;

use super::driver::Driver;
use super::{CommittedBlock, NodeError};
use crate::application::Application;
use crate::block::{self, Tip};
use crate::metrics::Phase;
use crate::types::{Height, ZoneContext};

impl<A: Application> Driver<A> {
    /// Commits a decision and says how consensus goes on: the next height
    /// (after `timeout_commit`), or this height again after a failure that
    /// left nothing half-written. A failure of the app or the disk
    /// mid-commit stops the driver instead: continuing could fork.
    pub(super) async fn finish_height(
        &mut self,
        certificate: CommitCertificate<ZoneContext>,
    ) -> Result<Next<ZoneContext>, NodeError> {
        let height = certificate.height;
        match self.decided(certificate).await {
            Ok(()) => {
                if !self.timeout_commit.is_zero() {
                    tokio::time::sleep(self.timeout_commit).await;
                }
                Ok(Next::Start(Height(self.tip.height + 1), self.shared.validators.clone()))
            }
            Err(e @ (NodeError::Store(_) | NodeError::App(_) | NodeError::Inconsistent(_))) => {
                tracing::error!(%height, error = %e, "commit failed; stopping");
                Err(e)
            }
            Err(e) => {
                tracing::warn!(%height, error = %e, "commit failed; restarting the height");
                Ok(Next::Restart(height, self.shared.validators.clone()))
            }
        }
    }

    /// Stores the decided block durably, executes and commits it, indexes
    /// its results and tells the mempool and subscribers.
    pub(super) async fn decided(&mut self, cert: CommitCertificate<ZoneContext>) -> Result<(), NodeError> {
        let height = cert.height.0;
        if height != self.tip.height + 1 {
            return Err(NodeError::Inconsistent(format!("decided height {height} after {}", self.tip.height)));
        }
        let id = cert.value_id;
        let encoded = self
            .shared
            .store
            .pending(height, &id)?
            .ok_or_else(|| NodeError::Engine(format!("decided block {id:?} at {height} is unknown here")))?;
        let blk = block::decode_block(&encoded).map_err(NodeError::Inconsistent)?;
        let phases = &self.shared.metrics.phases;
        if let Some((h, started)) = self.height_started {
            if h == height {
                phases.record(Phase::Consensus, started.elapsed());
            }
        }
        let stored = std::time::Instant::now();
        // Crash order (commit.rs, steps 3-6): decided block (fsync), app
        // commit, block-store results, recheck, then subscribers.
        self.shared.store.put_decided(height, &encoded, &id, &cert)?;
        phases.record(Phase::StoreDecided, stored.elapsed());
        crate::crash::point("after-decided", height);
        let shared = self.shared.clone();
        let blk = Arc::new(blk);
        let blk2 = blk.clone();
        let results = tokio::task::spawn_blocking(move || -> Result<ResponseFinalizeBlock, NodeError> {
            crate::commit::execute(
                &shared.app,
                &shared.store,
                &blk2,
                &id,
                Some(&shared.mempool),
                Some(&shared.metrics.phases),
            )
        })
        .await
        .map_err(|e| NodeError::Engine(e.to_string()))??;

        let prev_time = self.tip.time;
        self.tip = Tip {
            height,
            block_id: Some(id.block_id()),
            time: Some(blk.header.time),
            app_hash: results.app_hash.to_vec(),
            results_hash: block::results_hash(&results.tx_results),
            last_commit: Some(block::commit_from_certificate(&cert, &self.shared.validators)),
        };
        self.undecided = self.undecided.split_off(&(height + 1, i64::MIN));
        self.streams.set_tip(height);
        self.shared.update_status(|s| {
            s.height = height;
            s.block_hash = Some(id.block_id().hash);
            s.app_hash = results.app_hash.to_vec();
            s.block_time = Some(blk.header.time);
            s.working_height = height + 1;
            s.catching_up = false;
        });
        self.shared.metrics.record_block(height, blk.data.len(), encoded.len(), prev_time, blk.header.time);
        tracing::info!(height, txs = blk.data.len(), round = %cert.round, app_hash = %hex::encode_upper(&results.app_hash), "committed");
        let _ =
            self.shared.events.send(CommittedBlock { block: blk, block_id: id.block_id(), results: Arc::new(results) });
        Ok(())
    }

    /// A decided block and its certificate, for a peer syncing from us.
    pub(super) fn decided_value(&self, height: Height) -> Result<Option<RawDecidedValue<ZoneContext>>, NodeError> {
        let raw = match (self.shared.store.certificate(height.0)?, self.shared.store.block_bytes(height.0)?) {
            (Some(certificate), Some(bytes)) => Some(RawDecidedValue { certificate, value_bytes: Bytes::from(bytes) }),
            _ => None,
        };
        Ok(raw)
    }
}
